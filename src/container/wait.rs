//! `run ID` in the foreground: the container's process is the caller's
//! child (its create ran in this process), waited for to its exit status.

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::error::{Result, SetupError};

/// The exit status of our child `pid`, 128+N when killed by signal N.
pub fn wait(pid: i32) -> Result<i32> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(SetupError::sys(format!("wait for process {pid}"), e)),
        }
    }
}
