//! The back half: a [`crate::spec::Bundle`] → processes, with our own
//! clone3 / `pivot_root` / cgroup core.
//!
//! The process model of a foreground run (`sandbox run`):
//!
//! ```text
//! launcher (the CLI, single-threaded)      launch::run → supervise::wait → Exit
//!  ├─ watcher (fork, own session)          removes the cgroup and kills the sandbox
//!  │                                       if the launcher dies (process/watcher.rs)
//!  └─ setup child (clone3 into the         builds the root, restricts itself, and
//!     namespaces and the v2 cgroup)        reports over sync.rs's socket (process/child.rs)
//!       = init, pid 1 (with `init`)        forwards signals, reaps, dies with the
//!          └─ command (fork, execve)       launcher's lifeline pipe (process/init.rs)
//! ```
//!
//! Without `init` the setup child executes the command itself, as pid 1,
//! and the watcher holds its pidfd. Only fds 0–2 cross into the sandbox.

pub mod cgroup;
pub mod exit;
pub mod join;
pub mod launch;
pub mod process;
mod refuse;
pub mod rootfs;
pub mod security;
mod supervise;
pub(crate) mod sync;
pub mod terminal;
