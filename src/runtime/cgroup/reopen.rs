//! A container's cgroups found again from their directories, by a process
//! other than the one that made them (`sandbox delete`, `kill --all`,
//! `pause`, `resume`, `ps`, `update`): the directories are the record.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::files;
use crate::error::{Result, SetupError};

/// The pids in these cgroups and in any made below them, sorted.
pub fn members(dirs: &[PathBuf]) -> Vec<i32> {
    let mut pids: Vec<i32> = dirs
        .iter()
        .flat_map(|d| std::iter::once(d.clone()).chain(files::descendants(d)))
        .flat_map(|d| files::pids(&d))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Send `signal` to every process in these cgroups (`kill --all`):
/// SIGKILL through v2's `cgroup.kill`, which no fork outruns; any other
/// signal to each member while the container is frozen, so none is born
/// unsignalled meanwhile (thawed again after, unless it was paused).
pub fn signal_all(dirs: &[PathBuf], signal: i32) {
    let v2_kill = dirs.iter().find(|d| files::exists(d, "cgroup.kill"));
    if let (libc::SIGKILL, Some(dir)) = (signal, v2_kill) {
        let _ = files::write(dir, "cgroup.kill", "1");
        return;
    }
    let was_frozen = frozen(dirs);
    let froze = !was_frozen && set_frozen(dirs, true).is_ok();
    for pid in members(dirs) {
        // Through a pidfd: any signal number (real-time ones included).
        if let Ok(fd) = crate::sys::process::pidfd_open(nix::unistd::Pid::from_raw(pid)) {
            let _ = crate::sys::signal::pidfd_signal(std::os::fd::AsFd::as_fd(&fd), signal);
        }
    }
    if froze {
        let _ = set_frozen(dirs, false);
    }
}

/// Freeze (or thaw) the container: the v2 cgroup's `cgroup.freeze` when it
/// has one, else the v1 freezer's `freezer.state`; waits up to a second
/// for the kernel to say it is done.
pub fn set_frozen(dirs: &[PathBuf], frozen: bool) -> Result<()> {
    let what = if frozen { "freeze" } else { "thaw" };
    if let Some(dir) = dirs.iter().find(|d| files::exists(d, "cgroup.freeze")) {
        files::write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        return settle(dir, "cgroup.events", |t| t.lines().any(|l| l == want), what);
    }
    if let Some(dir) = dirs.iter().find(|d| files::exists(d, "freezer.state")) {
        files::write(dir, "freezer.state", if frozen { "FROZEN" } else { "THAWED" })?;
        let want = if frozen { "FROZEN" } else { "THAWED" };
        return settle(dir, "freezer.state", |t| t.trim() == want, what);
    }
    Err(SetupError::new(format!("{what} the container"))
        .detail("it has no freezer: no v2 cgroup and no v1 freezer hierarchy")
        .fix("run it where a cgroup v2 or a v1 freezer is available"))
}

fn settle(dir: &Path, file: &str, done: impl Fn(&str) -> bool, what: &str) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        if files::read(dir, file).is_ok_and(|t| done(&t)) {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(SetupError::new(format!("{what} the container"))
                .detail(format!("{} did not change within a second", dir.join(file).display())));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether it is frozen now.
pub fn frozen(dirs: &[PathBuf]) -> bool {
    dirs.iter().any(|d| {
        files::read(d, "cgroup.events").is_ok_and(|t| t.lines().any(|l| l == "frozen 1"))
            || files::read(d, "freezer.state").is_ok_and(|t| t.trim() == "FROZEN")
    })
}

/// Kill everything in them and remove them. A frozen container is thawed
/// first: a frozen task dies only once thawed.
pub fn destroy(dirs: &[PathBuf]) -> Result<()> {
    let live: Vec<PathBuf> = dirs.iter().filter(|d| d.exists()).cloned().collect();
    if frozen(&live) {
        let _ = set_frozen(&live, false);
    }
    super::destroy_dirs(&live)
}

/// Apply new limits (`sandbox update`): each setting in the first of the
/// container's cgroups that takes it (the v2 cgroup when its controller is
/// enabled there, else the v1 hierarchy of that controller). A limit none
/// of them can take is an error naming it; what was written stays.
pub fn update(dirs: &[PathBuf], resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
    let request = super::limits::request(Some(resources))?;
    if !request.unsupported.is_empty() {
        return Err(SetupError::new("update the container's limits")
            .detail(format!("not supported: {}", request.unsupported.join("; "))));
    }
    for setting in request.settings {
        let v2 = dirs.iter().find(|d| files::exists(d, "cgroup.controllers")).filter(|d| {
            files::words(d, "cgroup.controllers")
                .is_ok_and(|c| c.iter().any(|n| n == setting.controller().v2_name()))
        });
        let applied = match v2 {
            Some(dir) => files::apply(dir, &setting.v2_writes()),
            None => dirs
                .iter()
                .filter(|d| !files::exists(d, "cgroup.controllers"))
                .map(|d| files::apply(d, &setting.v1_writes()))
                .find(std::result::Result::is_ok)
                .unwrap_or_else(|| Err("no cgroup of the container has that controller".to_owned())),
        };
        applied.map_err(|why| SetupError::new(format!("update {}", setting.describe())).detail(why))?;
    }
    Ok(())
}
