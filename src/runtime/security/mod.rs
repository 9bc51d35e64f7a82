//! What the process becomes before it runs the command: its ids, rlimits
//! and capabilities, its user namespace's maps and budgets, its namespaces' sysctls,
//! Landlock and seccomp.

pub mod identity;
pub mod idmap;
pub mod landlock;
pub mod seccomp;
mod seccomp_bpf;
pub mod sysctl;
pub mod ucounts;
