//! The back half: a [`crate::spec::Bundle`] → processes, with our own
//! clone3 / `pivot_root` / cgroup core.

pub mod cgroup;
pub mod launch;
pub mod process;
mod refuse;
pub mod rootfs;
pub mod security;
mod supervise;
mod sync;

mod terminal;

pub use sync::EXIT_SETUP;
