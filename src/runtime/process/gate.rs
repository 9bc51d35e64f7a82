//! The start gate of a created container (`sandbox create`, then `start`
//! from another process). The launcher binds a listening unix socket in
//! the container's state directory and hands it to the child. Set up and
//! stopped before Landlock and seccomp, the child tells the launcher
//! "ready" (the launcher records the state and exits) and waits in
//! accept(2). `start` connects and says "go"; from then on the child
//! reports to that connection exactly as it did to the launcher: a
//! failure, or EOF when the command was executed (the connection is
//! close-on-exec).
//!
//! A socket rather than runc's exec fifo: accept works on the descriptor
//! after `pivot_root` without a /proc in the container, and the connection
//! carries the command's exec error back to `start`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use crate::error::{Result, SetupError};
use crate::runtime::sync::{self, Message};
use crate::sys;

/// Say "ready" on `sock`, then wait for a `start`; returns its connection.
/// A connection that closes or says anything but "go" is dropped and the
/// gate waits on.
pub fn wait(sock: &OwnedFd, listener: BorrowedFd<'_>) -> Result<OwnedFd> {
    // The launcher exits once it has our "ready": we must not die with it.
    nix::sys::prctl::set_pdeathsig(None).map_err(|e| SetupError::sys("prctl(PR_SET_PDEATHSIG, 0)", e))?;
    sync::send(sock.as_fd(), &Message::Ready, None).map_err(|e| SetupError::sys("report ready", e))?;
    loop {
        let conn = match sys::fd::accept(listener) {
            Ok(conn) => conn,
            Err(Errno::EINTR | Errno::ECONNABORTED) => continue,
            Err(e) => return Err(SetupError::sys("wait at the start gate (accept)", e)),
        };
        if let Ok(Some((Message::Go, _))) = sync::recv(conn.as_fd()) {
            // Spent: the command (or init) keeps no listener.
            let _ = nix::unistd::close(listener.as_raw_fd());
            return Ok(conn);
        }
    }
}
