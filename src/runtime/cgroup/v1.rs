//! The cgroup v1 driver: one directory per hierarchy used, limits written
//! there, and the freezer for a race-free kill.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::files;
use super::hierarchy::Hierarchy;
use super::kill;
use super::limits::Setting;
use crate::error::Result;

/// The sandbox's cgroup in one v1 hierarchy.
#[derive(Debug)]
pub struct V1 {
    /// The hierarchy's controllers (`memory`; `cpu`, `cpuacct` when co-mounted).
    pub controllers: Vec<String>,
    pub dir: PathBuf,
    /// What we created, outermost first (new parents of a cgroupsPath, then `dir`).
    created: Vec<PathBuf>,
}

impl V1 {
    /// Create the cgroup in `h` and write `settings` (all for controllers of
    /// `h`). Returns the cgroup (none if it could not be made) and one line per
    /// setting not applied.
    pub fn create(h: &Hierarchy, cgroup: &Path, settings: &[Setting]) -> (Option<V1>, Vec<String>) {
        let fail_all = |why: &str| settings.iter().map(|s| format!("{}: {why}", s.describe())).collect();
        let Some(dir) = h.dir_of(cgroup) else {
            let why = format!(
                "{} is outside the part of the hierarchy mounted at {}",
                cgroup.display(),
                h.mount.display()
            );
            return (None, fail_all(&why));
        };
        let cpuset = h.has("cpuset");
        let created =
            match files::create_chain(&h.mount, &dir, |d, _| if cpuset { inherit_cpuset(d) } else { Ok(()) })
            {
                Ok(created) => created,
                Err(e) => return (None, fail_all(&e.to_string())),
            };
        let mut failures = Vec::new();
        for s in settings {
            if let Err(why) = files::apply(&dir, &s.v1_writes()) {
                failures.push(format!("{}: {why}", s.describe()));
            }
        }
        (Some(V1 { controllers: h.controllers.clone(), dir, created }), failures)
    }

    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// `memory.oom_control` counts `oom_kill` (kernel 4.13 and later).
    pub fn oom_killed(&self) -> bool {
        self.has("memory")
            && files::read(&self.dir, "memory.oom_control").is_ok_and(|t| super::counter(&t, "oom_kill") > 0)
    }

    /// Freeze the cgroup (freezer hierarchy only), waiting briefly for the
    /// kernel to report FROZEN. Frozen tasks cannot fork while we kill them.
    pub fn freeze(&self) {
        if !self.has("freezer") || files::write(&self.dir, "freezer.state", "FROZEN").is_err() {
            return;
        }
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            if files::read(&self.dir, "freezer.state").is_ok_and(|s| s.trim() != "FREEZING") {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Thaw it again: a task sent SIGKILL only dies once thawed.
    pub fn thaw(&self) {
        if self.has("freezer") {
            let _ = files::write(&self.dir, "freezer.state", "THAWED");
        }
    }

    /// Remove what we created, deepest first; parents others now use stay.
    pub fn teardown(&mut self, deadline: Instant) -> Result<()> {
        kill::remove_created(&mut self.created, deadline)
    }
}

/// A new cpuset cgroup starts with no cpus and no mems, and refuses tasks
/// (ENOSPC) until given some: copy the parent's.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    let parent = dir.parent().unwrap_or(dir);
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if files::read(dir, file)?.trim().is_empty() {
            files::write(dir, file, files::read(parent, file)?.trim())?;
        }
    }
    Ok(())
}
