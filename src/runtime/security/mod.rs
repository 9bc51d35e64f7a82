//! What the process becomes before it runs the command: its ids, rlimits
//! and capabilities, its user namespace's maps and budgets, Landlock and
//! seccomp.

pub mod identity;
pub mod idmap;
pub mod landlock;
pub mod seccomp;
mod seccomp_bpf;
pub mod ucounts;
