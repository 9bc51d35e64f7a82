//! `sandbox`: declarative Linux sandbox profiles, compiled to OCI runtime specs.
//!
//! Data flows one way: `load` (files → span-carrying trees) → `merge`
//! (`extends`, variables) → `raw` (typed, still spanned) → `validate`
//! (the [`model`], or every diagnostic) → `compile` (an OCI spec plus
//! our extension).

pub mod caps;
pub mod compile;
pub mod diag;
pub mod explain;
pub mod export;
pub mod host;
pub mod load;
pub mod merge;
pub mod model;
pub mod pipeline;
pub mod raw;
pub mod runtime;
pub mod schema;
pub mod seccomp;
pub mod source;
pub mod suggest;
pub mod units;
pub mod validate;
pub mod vars;
