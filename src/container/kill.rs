//! `kill ID [SIGNAL] [--all]`: signal the container's process, or with
//! `--all` every process in its cgroups (runtime-spec "Kill").

use std::os::fd::AsFd;
use std::str::FromStr;

use nix::sys::signal::Signal;

use super::Container;
use super::state::Status;
use crate::error::{Result, SetupError};
use crate::sys;

/// A signal as runc takes it: `TERM`, `SIGTERM`, `sigterm` or `15`.
pub fn parse_signal(text: &str) -> Result<i32> {
    let bad = || {
        SetupError::new("read the signal")
            .detail(format!("{text:?} is not a signal"))
            .fix("give a name such as TERM or SIGKILL, or a number from 1 to 64")
    };
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(bad()) };
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    Signal::from_str(&name).map(|s| s as i32).map_err(|_| bad())
}

pub fn kill(c: &Container, signal: i32, all: bool) -> Result<()> {
    let id = &c.record.id;
    let status = c.record.current_status();
    if all && status == Status::Stopped {
        // Its pid 1 is gone, but a joined or the host's pid namespace can
        // leave others in its cgroups: containerd's cleanup asks for them.
        crate::runtime::cgroup::reopen::signal_all(&c.record.cgroup_dirs, signal);
        return Ok(());
    }
    if matches!(status, Status::Stopped | Status::Creating) {
        return Err(SetupError::new(format!("signal container {id}"))
            .detail(format!("it is {}", status.name()))
            .fix("only a created, running or paused container can be signalled"));
    }
    if all {
        if c.record.cgroup_dirs.is_empty() {
            signal_proc(c.record.process.pid, Some(c.record.process.start), signal);
        } else {
            crate::runtime::cgroup::reopen::signal_all(&c.record.cgroup_dirs, signal);
        }
        return Ok(());
    }
    if !signal_proc(c.record.process.pid, Some(c.record.process.start), signal) {
        return Err(SetupError::new(format!("signal container {id}")).detail("its process has ended"));
    }
    Ok(())
}

/// Every process in the container's cgroups (its process alone without one).
pub fn members(c: &Container) -> Vec<i32> {
    let pids = crate::runtime::cgroup::reopen::members(&c.record.cgroup_dirs);
    if pids.is_empty() && c.record.process.alive() {
        return vec![c.record.process.pid];
    }
    pids
}

/// Signal `pid` through a pidfd, checking first (when `start` is given)
/// that the pid still names the same process. False when it is gone.
fn signal_proc(pid: i32, start: Option<u64>, signal: i32) -> bool {
    let Ok(pidfd) = sys::process::pidfd_open(nix::unistd::Pid::from_raw(pid)) else { return false };
    // Opened first, checked second: the pidfd cannot move to a new process.
    if let Some(start) = start {
        if super::state::Proc::of(pid).is_none_or(|p| p.start != start) {
            return false;
        }
    }
    sys::signal::pidfd_signal(pidfd.as_fd(), signal).is_ok()
}

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn signals_are_read_as_runc_reads_them() {
        assert_eq!(parse_signal("TERM").unwrap(), 15);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("sigusr1").unwrap(), 10);
        assert_eq!(parse_signal("2").unwrap(), 2);
        assert_eq!(parse_signal("64").unwrap(), 64);
        for bad in ["0", "65", "-9", "NOPE", "SIG", ""] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
