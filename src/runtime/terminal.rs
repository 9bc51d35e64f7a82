//! The terminal: a pty from the sandbox's own devpts, the caller's terminal
//! in raw mode while we relay, and its settings restored on every way out.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

use super::error::{Result, SetupError};

/// In the sandbox (after `pivot_root)`: open a pty pair from its devpts.
pub fn open_pty() -> Result<(PtyMaster, OwnedFd)> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| SetupError::sys("open /dev/ptmx", e).fix("is system_mounts.dev_pts on?"))?;
    grantpt(&master).map_err(|e| SetupError::sys("grantpt", e))?;
    unlockpt(&master).map_err(|e| SetupError::sys("unlockpt", e))?;
    let name = ptsname_r(&master).map_err(|e| SetupError::sys("ptsname", e))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| SetupError::sys(format!("open {name}"), e))?;
    Ok((master, slave))
}

/// In the process about to exec: a new session with `slave` as its
/// controlling terminal and standard streams.
pub fn attach(slave: &OwnedFd) -> Result<()> {
    nix::unistd::setsid().map_err(|e| SetupError::sys("setsid", e))?;
    super::sys::set_controlling_tty(slave.as_fd()).map_err(|e| SetupError::sys("ioctl(TIOCSCTTY)", e))?;
    nix::unistd::dup2_stdin(slave).map_err(|e| SetupError::sys("dup2 the terminal to stdin", e))?;
    nix::unistd::dup2_stdout(slave).map_err(|e| SetupError::sys("dup2 the terminal to stdout", e))?;
    nix::unistd::dup2_stderr(slave).map_err(|e| SetupError::sys("dup2 the terminal to stderr", e))?;
    Ok(())
}

/// The caller's terminal in raw mode; restored when dropped.
pub struct RawMode {
    fd: OwnedFd,
    saved: Termios,
}

impl RawMode {
    pub fn enter(tty: BorrowedFd<'_>) -> Result<RawMode> {
        let fd = tty.try_clone_to_owned().map_err(|e| SetupError::io("dup the terminal", &e))?;
        let saved = tcgetattr(&fd).map_err(|e| SetupError::sys("tcgetattr on stdin", e))?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&fd, SetArg::TCSANOW, &raw).map_err(|e| SetupError::sys("tcsetattr on stdin", e))?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // TCSADRAIN: let relayed output reach the screen first.
        let _ = tcsetattr(&self.fd, SetArg::TCSADRAIN, &self.saved);
    }
}

/// Copy the caller's window size to the pty.
pub fn copy_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(ws) = super::sys::window_size(from) {
        let _ = super::sys::set_window_size(to, &ws);
    }
}
