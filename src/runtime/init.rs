//! The sandbox's tiny init (pid 1): forwards signals to the command, reaps
//! every zombie, and exits with the command's status.

use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Signals forwarded from the launcher (and the kernel) to the command.
pub const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// The signals init handles through its signalfd: the forwarded ones and
/// SIGCHLD. Blocked before the fork so none is lost in between.
pub fn signal_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// Run as init until `command` exits; returns its exit code (128+N for signal N).
/// `lifeline` is the read end of a pipe only the launcher writes to: when it
/// reads EOF the launcher is gone, however it died, and the command is
/// killed (PDEATHSIG alone is not enough: the kernel clears it on some
/// credential changes, and it does nothing without a pid namespace).
pub fn run(command: Pid, lifeline: &OwnedFd) -> i32 {
    let Ok(sfd) = SignalFd::with_flags(&signal_set(), SfdFlags::SFD_CLOEXEC) else { return 125 };
    let mut launcher_alive = true;
    loop {
        let mut fds =
            [PollFd::new(sfd.as_fd(), PollFlags::POLLIN), PollFd::new(lifeline.as_fd(), PollFlags::POLLIN)];
        let nfds = if launcher_alive { 2 } else { 1 };
        if poll(&mut fds[..nfds], PollTimeout::NONE).is_err() {
            continue;
        }
        if launcher_alive && fds[1].revents().is_some_and(|r| !r.is_empty()) {
            launcher_alive = false;
            let _ = kill(command, Signal::SIGKILL);
        }
        if !fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
            continue;
        }
        let Ok(Some(info)) = sfd.read_signal() else { continue };
        let Ok(sig) = Signal::try_from(i32::try_from(info.ssi_signo).unwrap_or(0)) else { continue };
        if sig != Signal::SIGCHLD {
            let _ = kill(command, sig);
            continue;
        }
        // Reap everything that exited; one SIGCHLD may stand for many.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == command => return code,
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == command => return 128 + s as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

/// Tell the launcher the command's status early, through `verdict`, when
/// that is final: this init is pid 1 of its own pid namespace and has no
/// children left, so no process of the sandbox runs any more and what is
/// left is the kernel tearing the namespaces down, which the launcher need
/// not wait for. With stragglers (daemons the command left behind) it says
/// nothing: the launcher then waits for our exit, at which the kernel kills
/// them all.
pub fn report(verdict: &OwnedFd, code: i32) {
    if nix::unistd::getpid().as_raw() != 1 {
        return;
    }
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Err(nix::errno::Errno::ECHILD) => break,
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
    let _ = nix::unistd::write(verdict, &code.to_ne_bytes());
}
