//! The back half: run a compiled spec with our own clone / `pivot_root` /
//! cgroup core.

pub mod cgroup;
pub mod landlock;
pub mod seccomp;
mod seccomp_bpf;

pub use proto::EXIT_SETUP;
mod child;
mod hostroot;
mod identity;
mod idmap;
mod idmapped;
mod init;
mod mountinfo;
mod mounts;
pub mod parent;
pub mod plan;
mod proto;
mod refuse;
mod resolve;
mod rootfs;
mod supervise;
mod sys;
mod terminal;
mod ucounts;
mod upper;
mod watcher;
