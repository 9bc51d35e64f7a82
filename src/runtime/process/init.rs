//! The sandbox's tiny init (pid 1): forwards signals to the command, reaps
//! every zombie, and exits with the command's status. The launcher waits
//! for this exit: once init is gone, the kernel has ended every other
//! process of the sandbox's pid namespace, so nothing of the run is left.
//!
//! Init is a copy of the launcher that never executes anything, so before
//! it forks the command it makes itself opaque to it (see [`conceal`]): not
//! dumpable (its memory, descriptors and environment are out of reach of
//! /proc and ptrace for the command's uid), and its argument and
//! environment strings overwritten (/proc/1/cmdline is readable by all).
//! It holds only the lifeline, its signalfd and stdio.

use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::error::{Result, SetupError};
use crate::sys::{self, memory::ArgsRegion};

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

/// The `si_value` with which the launcher marks a signal that came from
/// its terminal: it is for the command's whole process group, as the
/// terminal would have sent it without the sandbox in between.
pub const TO_GROUP: i32 = 0x5347_5250; // "SGRP"

/// What /proc/1/cmdline of the sandbox shows.
const NAME: &[u8] = b"sandbox-init";

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

/// Make this process, the future init, opaque to the command it is about to
/// fork: not dumpable, its name and its copy of the launcher's arguments and
/// environment overwritten. Before seccomp, which may refuse prctl.
pub fn conceal(args: Option<ArgsRegion>) -> Result<()> {
    nix::sys::prctl::set_dumpable(false).map_err(|e| SetupError::sys("prctl(PR_SET_DUMPABLE, 0)", e))?;
    let name = std::ffi::CString::new(NAME).expect("no NUL in the name");
    nix::sys::prctl::set_name(&name).map_err(|e| SetupError::sys("prctl(PR_SET_NAME)", e))?;
    if let Some(region) = args {
        #[allow(unsafe_code)]
        // SAFETY: the setup child (a clone3 child) has one thread, and it
        // never reads argv or environ: the launcher parsed them before.
        unsafe {
            region.scrub(NAME);
        }
    }
    Ok(())
}

/// Run as init until `command` exits; returns its exit code (128+N for signal N).
/// `lifeline` is the read end of a pipe only the launcher writes to: when it
/// reads EOF the launcher is gone, however it died, and the command is
/// killed (PDEATHSIG alone is not enough: the kernel clears it on some
/// credential changes, and the command may clear it itself). A created
/// container (`sandbox create`) has none: its launcher exits by design.
pub fn run(command: Pid, lifeline: Option<&OwnedFd>) -> i32 {
    let Ok(sfd) = SignalFd::with_flags(&signal_set(), SfdFlags::SFD_CLOEXEC) else { return 125 };
    let mut watched = lifeline;
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        fds.extend(watched.map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN)));
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        if fds.get(1).and_then(PollFd::revents).is_some_and(|r| !r.is_empty()) {
            watched = None;
            let _ = kill(command, Signal::SIGKILL);
        }
        if !fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
            continue;
        }
        let Ok(Some(info)) = sfd.read_signal() else { continue };
        let Ok(sig) = Signal::try_from(i32::try_from(info.ssi_signo).unwrap_or(0)) else { continue };
        if sig != Signal::SIGCHLD {
            // The command called setsid, so its pid is its process group.
            let to_group = info.ssi_code == sys::signal::SI_QUEUE && info.ssi_int == TO_GROUP;
            let target = if to_group { Pid::from_raw(-command.as_raw()) } else { command };
            let _ = kill(target, sig);
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
