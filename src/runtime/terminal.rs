//! The terminal: a pty from the sandbox's own devpts, the caller's terminal
//! in raw mode while we relay, and its settings restored on every way out.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

use crate::error::{Result, SetupError};
use crate::sys;

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

/// A terminal's master side handed over by the sandbox, which controls
/// its own /dev: it must be a pty master (the devpts `ptmx`, 5:2), not a
/// pipe or file of the sandbox's choosing for us to relay or pass on.
pub fn check_master(fd: BorrowedFd<'_>) -> Result<()> {
    let st = nix::sys::stat::fstat(fd).map_err(|e| SetupError::sys("check the sandbox's terminal", e))?;
    let is_char = nix::sys::stat::SFlag::from_bits_truncate(st.st_mode) & nix::sys::stat::SFlag::S_IFMT
        == nix::sys::stat::SFlag::S_IFCHR;
    let rdev = st.st_rdev;
    if is_char && nix::sys::stat::major(rdev) == 5 && nix::sys::stat::minor(rdev) == 2 {
        return Ok(());
    }
    Err(SetupError::new("check the sandbox's terminal")
        .detail("what it handed over is not a pty master (/dev/ptmx)")
        .fix("the container's /dev/ptmx must be the devpts ptmx (a /dev/pts mount with newinstance)"))
}

/// In the process about to exec: a new session with `slave` as its
/// controlling terminal and standard streams.
pub fn attach(slave: &OwnedFd) -> Result<()> {
    nix::unistd::setsid().map_err(|e| SetupError::sys("setsid", e))?;
    sys::term::set_controlling_tty(slave.as_fd()).map_err(|e| SetupError::sys("ioctl(TIOCSCTTY)", e))?;
    take_streams(slave)
}

/// Make `slave` the standard streams, closing what they were.
pub fn take_streams(slave: &OwnedFd) -> Result<()> {
    nix::unistd::dup2_stdin(slave).map_err(|e| SetupError::sys("dup2 the terminal to stdin", e))?;
    nix::unistd::dup2_stdout(slave).map_err(|e| SetupError::sys("dup2 the terminal to stdout", e))?;
    nix::unistd::dup2_stderr(slave).map_err(|e| SetupError::sys("dup2 the terminal to stderr", e))?;
    Ok(())
}

/// The caller's terminal settings, put back when dropped: after the raw
/// mode of the relay, and after a command that shared the terminal
/// (`terminal = "never"` with a terminal on stdin) and changed them
/// (`stty -echo`, say) on its way out.
pub struct Restore {
    fd: OwnedFd,
    saved: Termios,
}

impl Restore {
    /// Remember the settings of `tty`; `None` when it is not a terminal.
    pub fn save(tty: BorrowedFd<'_>) -> Option<Restore> {
        let saved = tcgetattr(tty).ok()?;
        let fd = tty.try_clone_to_owned().ok()?;
        Some(Restore { fd, saved })
    }

    /// Remember the settings, then put the terminal in raw mode.
    pub fn raw(tty: BorrowedFd<'_>) -> Result<Restore> {
        let restore = Restore::save(tty).ok_or_else(|| SetupError::new("tcgetattr on stdin"))?;
        let mut raw = restore.saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&restore.fd, SetArg::TCSANOW, &raw)
            .map_err(|e| SetupError::sys("tcsetattr on stdin", e))?;
        Ok(restore)
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        // TCSADRAIN: let relayed output reach the screen first.
        let _ = tcsetattr(&self.fd, SetArg::TCSADRAIN, &self.saved);
    }
}

/// Copy the caller's window size to the pty.
pub fn copy_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(ws) = sys::term::window_size(from) {
        let _ = sys::term::set_window_size(to, &ws);
    }
}
