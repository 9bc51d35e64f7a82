//! Ending every process in the sandbox's cgroups, bounded in time: v2's
//! `cgroup.kill` when there is one, else (and for v1) freeze, SIGKILL each
//! member, thaw, and repeat until the cgroups are empty or time is up.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::files;
use super::v1::V1;
use super::v2::V2;
use crate::error::Result;

pub fn kill_all(v2: Option<&V2>, v1: &[V1], deadline: Instant) {
    if let Some(v) = v2.filter(|v| files::exists(&v.dir, "cgroup.kill")) {
        let _ = files::write(&v.dir, "cgroup.kill", "1");
    }
    let dirs: Vec<&Path> =
        v2.map(|v| v.dir.as_path()).into_iter().chain(v1.iter().map(|v| v.dir.as_path())).collect();
    let freezer = v1.iter().find(|v| v.has("freezer"));
    if let Some(f) = freezer {
        f.freeze();
    }
    let mut pause = Duration::from_micros(200);
    loop {
        let pids: Vec<i32> = dirs.iter().flat_map(|d| members(d)).collect();
        if pids.is_empty() {
            break;
        }
        signal_each(&pids);
        // A frozen task dies of its SIGKILL only once thawed; as every member
        // was signalled while frozen, none can have forked a new one meanwhile.
        if let Some(f) = freezer {
            f.thaw();
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    if let Some(f) = freezer {
        f.thaw();
    }
}

/// SIGKILL the members of one cgroup and its descendants (between rmdir retries).
pub fn kill_members(dir: &Path) {
    signal_each(&members(dir));
}

/// The pids in a cgroup and in the cgroups made below it.
fn members(dir: &Path) -> Vec<i32> {
    let mut pids = files::pids(dir);
    for inner in files::descendants(dir) {
        pids.extend(files::pids(&inner));
    }
    pids
}

fn signal_each(pids: &[i32]) {
    let me = i32::try_from(std::process::id()).unwrap_or(-1);
    for &pid in pids.iter().filter(|p| **p > 0 && **p != me) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Remove `dir` and every cgroup below it, deepest first, killing what is
/// still in each (rmdir fails with EBUSY while a cgroup has members).
pub fn remove_tree(dir: &Path, deadline: Instant) -> Result<()> {
    let mut first = Ok(());
    for inner in files::descendants(dir).iter().map(PathBuf::as_path).chain([dir]) {
        first = first.and(files::rmdir_patiently(inner, deadline, || kill_members(inner)));
    }
    first
}

/// Remove what a driver created (the leaf last in `created`), then the
/// parents it made on the way, if no one else uses them now.
pub fn remove_created(created: &mut Vec<PathBuf>, deadline: Instant) -> Result<()> {
    let first = created.pop().map_or(Ok(()), |dir| remove_tree(&dir, deadline));
    while let Some(parent) = created.pop() {
        let _ = files::rmdir(&parent);
    }
    first
}
