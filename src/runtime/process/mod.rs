//! The sandbox's processes: the setup child (from clone3 to execve), the
//! init it becomes, and the watcher beside the launcher.

pub mod child;
pub mod gate;
pub mod init;
pub mod watcher;
