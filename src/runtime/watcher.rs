//! A launcher killed with SIGKILL cannot remove its cgroup. A small watcher
//! process, forked before the sandbox, waits for the launcher's end of a
//! pipe to close (the launcher exiting, however it exits) and then kills
//! and removes the cgroup. After a normal exit it finds nothing left to do.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::unistd::pipe2;

use super::error::{Result, SetupError};
use super::sys;

/// Start the watcher for these cgroup directories. The returned fd is the
/// launcher's end: keep it open for as long as the sandbox runs.
pub fn spawn(dirs: &[PathBuf]) -> Result<OwnedFd> {
    let (read_end, write_end) =
        pipe2(OFlag::O_CLOEXEC).map_err(|e| SetupError::sys("create the watcher pipe", e))?;
    if sys::fork().map_err(|e| SetupError::sys("fork the cgroup watcher", e))?.is_some() {
        drop(read_end);
        Ok(write_end)
    } else {
        drop(write_end);
        // Out of the caller's session (no ^C from its terminal) and off
        // its pipes (a test reading our stdout must see EOF when we exit).
        let _ = nix::unistd::setsid();
        if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
            let _ = nix::unistd::dup2_stdin(&null);
            let _ = nix::unistd::dup2_stdout(&null);
            let _ = nix::unistd::dup2_stderr(&null);
        }
        let mut byte = [0u8; 1];
        // read returns 0 (EOF) once every copy of the write end is closed.
        loop {
            match nix::unistd::read(&read_end, &mut byte) {
                Ok(n) if n > 0 => {}
                Err(nix::errno::Errno::EINTR) => {}
                _ => break,
            }
        }
        let _ = super::cgroup::destroy_dirs(dirs);
        sys::exit_now(0)
    }
}
