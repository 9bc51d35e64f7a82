//! `sandbox`: declarative Linux sandbox profiles, compiled to OCI runtime specs.
//!
//! Data flows one way: `load` (files → span-carrying trees) → `merge`
//! (`extends`, variables) → `raw` (typed, still spanned) → `validate`
//! (the [`model`], or every diagnostic) → `compile` (an OCI spec plus
//! our extension).

pub mod compile;
pub mod error;
pub mod linux;
pub mod profile;
pub mod runtime;
pub mod spec;
