//! The only unsafe code in `sandbox`: system calls that neither std nor nix
//! wraps safely, split by domain. Each block says why it is sound.
//!
//! Where soundness depends on the caller (a fork in a process that must be
//! single-threaded), the function is an `unsafe fn` and its `# Safety`
//! section names the condition; the caller states at the call why it holds.
#![allow(unsafe_code)]

pub mod fd;
pub mod memory;
pub mod mount;
pub mod net;
pub mod process;
pub mod signal;
pub mod term;
pub mod xattr;
