//! Kernel facts both halves share: capability names, the system call
//! tables of each architecture, and the default seccomp allowlist as data.
//! No I/O, nothing of profiles or of the runtime.

pub mod caps;
pub mod seccomp;
