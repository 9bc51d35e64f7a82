//! A launcher killed with SIGKILL cannot remove its cgroup. A small watcher
//! process, forked before the sandbox, waits for the launcher's end of a
//! pipe to close (the launcher exiting, however it exits) and then kills
//! and removes the cgroup. After a normal exit it finds nothing left to do.
//!
//! The pipe also carries what only the launcher learns later: when it
//! stepped into a leaf of its own cgroup to enable controllers (taking the
//! watcher along), that record, so the watcher can step back and remove the
//! leaf too.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::unistd::{Pid, pipe2};

use super::cgroup::SelfMove;
use super::error::{Result, SetupError};
use super::sys;

/// The launcher's side of a running watcher: keep it for as long as the
/// sandbox runs; dropping it (or dying) sets the watcher off.
pub struct Watcher {
    pipe: OwnedFd,
    pub pid: Pid,
}

impl Watcher {
    /// Tell the watcher to undo this step into a leaf as well. One write of
    /// a few hundred bytes: atomic on a pipe, so never seen half-written.
    pub fn undo_too(&self, moved: &SelfMove) {
        let _ = nix::unistd::write(&self.pipe, &moved.encode());
    }
}

/// Start the watcher for these cgroup directories.
pub fn spawn(dirs: &[PathBuf]) -> Result<Watcher> {
    let (read_end, write_end) =
        pipe2(OFlag::O_CLOEXEC).map_err(|e| SetupError::sys("create the watcher pipe", e))?;
    if let Some(pid) = sys::fork().map_err(|e| SetupError::sys("fork the cgroup watcher", e))? {
        drop(read_end);
        return Ok(Watcher { pipe: write_end, pid });
    }
    drop(write_end);
    // Out of the caller's session (no ^C from its terminal) and off
    // its pipes (a test reading our stdout must see EOF when we exit).
    let _ = nix::unistd::setsid();
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    let mut record = Vec::new();
    let mut buf = [0u8; 512];
    // read returns 0 (EOF) once every copy of the write end is closed.
    loop {
        match nix::unistd::read(&read_end, &mut buf) {
            Ok(n) if n > 0 => record.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => {}
            _ => break,
        }
        record.truncate(64 << 10);
    }
    let _ = super::cgroup::destroy_dirs(dirs);
    // After a normal exit the launcher has undone it already; this finds
    // the leaf gone and does nothing.
    if let Some(moved) = SelfMove::decode(&record) {
        let _ = moved.undo();
    }
    sys::exit_now(0)
}
