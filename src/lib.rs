//! `sandbox`: declarative Linux sandbox profiles, compiled to OCI runtime specs
//! and run by our own clone3 / `pivot_root` / cgroup core.
//!
//! Data flows one way, and each arrow is a type:
//!
//! ```text
//! profile/  files → spanned trees → merged → raw → validated model (or every diagnostic)
//!     ↓ the model's image layers
//! image/    sources → verified, unpacked layers in the store + configs (loaded below the profile)
//!     ↓ model::Profile + host facts + unpacked images
//! compile/  pure: model → spec::Bundle
//!     ↓ spec::Bundle (OCI spec + typed extension)   ← or a bundle directory, via spec::dir
//! runtime/  Bundle → processes (launch, supervise) → runtime::Exit
//! ```
//!
//! `linux/` holds kernel facts both halves use (capability names, syscall
//! tables, the default seccomp profile). `runtime/` never imports `profile/`
//! or `compile/`; tests/layout.rs checks it.

pub mod compile;
pub mod container;
pub mod error;
pub mod fsroot;
pub mod image;
pub mod linux;
pub mod mountinfo;
pub mod net;
pub mod profile;
pub mod runtime;
pub mod spec;
mod sys;
