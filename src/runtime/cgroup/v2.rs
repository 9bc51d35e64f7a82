//! The cgroup v2 driver: placement under the no-internal-processes rule,
//! controller delegation, limits, and the fd for `CLONE_INTO_CGROUP`.

use std::collections::BTreeSet;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::files;
use super::hierarchy::Hierarchy;
use super::kill;
use super::limits::Setting;
use crate::error::{Result, SetupError};

/// Where a v2 cgroup would go, and what its parent can give it.
#[derive(Debug)]
pub struct Plan {
    pub mount: PathBuf,
    /// The sandbox's cgroup directory.
    pub dir: PathBuf,
    /// Its deepest existing ancestor: where controllers must be enabled.
    pub anchor: PathBuf,
    /// Whether the anchor is the launcher's own cgroup.
    pub own: bool,
    /// The anchor's `cgroup.controllers`: what it can hand down.
    pub offered: BTreeSet<String>,
    /// The anchor's `cgroup.subtree_control`: what it already hands down.
    pub delegated: BTreeSet<String>,
}

pub fn plan(h: &Hierarchy, cgroup: &Path) -> Result<Plan> {
    let dir = h.dir_of(cgroup).ok_or_else(|| outside(h, cgroup))?;
    let mut anchor = dir.parent().unwrap_or(&dir).to_path_buf();
    while !anchor.exists() && anchor.starts_with(&h.mount) && anchor != h.mount {
        anchor.pop();
    }
    let own = h.dir_of(&h.current).is_some_and(|c| c == anchor);
    let set = |file| files::words(&anchor, file).map(|w| w.into_iter().collect::<BTreeSet<_>>());
    Ok(Plan {
        offered: set("cgroup.controllers")?,
        delegated: set("cgroup.subtree_control")?,
        mount: h.mount.clone(),
        dir,
        anchor,
        own,
    })
}

fn outside(h: &Hierarchy, cgroup: &Path) -> SetupError {
    SetupError::new(format!("place a cgroup at {}", cgroup.display())).detail(format!(
        "only {} of the hierarchy is mounted, at {}",
        h.root.display(),
        h.mount.display()
    ))
}

impl Plan {
    pub fn offers(&self, controller: &str) -> bool {
        self.offered.contains(controller)
    }

    /// Why a controller cannot be had here: `cgroup v2 at /sys/fs/cgroup/unified offers only hugetlb`.
    pub fn lacking(&self) -> String {
        let offered: Vec<&str> = self.offered.iter().map(String::as_str).collect();
        let what = if offered.is_empty() {
            "no controllers".to_owned()
        } else {
            format!("only {}", offered.join(" "))
        };
        format!("cgroup v2 at {} offers {what}", self.anchor.display())
    }
}

/// The sandbox's v2 cgroup.
#[derive(Debug)]
pub struct V2 {
    pub dir: PathBuf,
    /// What we created, outermost first (new parents of a cgroupsPath, then `dir`).
    created: Vec<PathBuf>,
    fd: Option<OwnedFd>,
    /// Whether the memory controller is enabled in it (memory.events exists).
    pub memory: bool,
    moved: Option<SelfMove>,
}

/// The launcher (with its watcher) moved from its own cgroup (`home`) into
/// `leaf` so that `home` could enable `enabled` for its children; undone at
/// teardown, or by the watcher when the launcher was killed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfMove {
    home: PathBuf,
    leaf: PathBuf,
    enabled: Vec<String>,
}

impl V2 {
    /// Create the cgroup and write `settings` (all offered by the plan). Returns
    /// the cgroup (none if it could not be made) and one line per setting not applied.
    pub fn create(plan: &Plan, settings: &[Setting], ours: &[i32]) -> (Option<V2>, Vec<String>) {
        let fail_all = |why: &str| settings.iter().map(|s| format!("{}: {why}", s.describe())).collect();
        let wanted: BTreeSet<String> = settings.iter().map(|s| s.controller().v2_name().to_owned()).collect();
        let (enabled, moved, mut failures) = match enable(plan, &wanted, ours) {
            Ok(moved) => (wanted, moved, Vec::new()),
            Err(e) => (BTreeSet::new(), None, fail_all(&e.to_string())),
        };
        let plus: Vec<String> = enabled.iter().map(|c| format!("+{c}")).collect();
        let made = files::create_chain(&plan.mount, &plan.dir, |d, last| {
            if last || plus.is_empty() {
                Ok(())
            } else {
                files::write(d, "cgroup.subtree_control", &plus.join(" "))
            }
        });
        let mut v2 = V2 { dir: plan.dir.clone(), created: Vec::new(), fd: None, memory: false, moved };
        match made.and_then(|created| {
            v2.created = created;
            open_dir(&plan.dir)
        }) {
            Ok(fd) => v2.fd = Some(fd),
            Err(e) => {
                let _ = v2.teardown(Instant::now());
                return (None, fail_all(&e.to_string()));
            }
        }
        if failures.is_empty() {
            v2.memory = enabled.contains("memory");
            for s in settings {
                if let Err(why) = files::apply(&v2.dir, &s.v2_writes()) {
                    failures.push(format!("{}: {why}", s.describe()));
                }
            }
        }
        (Some(v2), failures)
    }

    pub fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.fd.as_ref().map(AsFd::as_fd)
    }

    /// `memory.events` counts `oom_kill`.
    pub fn oom_killed(&self) -> bool {
        self.memory
            && files::read(&self.dir, "memory.events").is_ok_and(|t| super::counter(&t, "oom_kill") > 0)
    }

    /// Remove what we created (deepest first), killing stragglers between
    /// rmdir retries, and undo a self-move. Parents of a cgroupsPath that
    /// others now use stay.
    /// The self-move made for this cgroup, if any.
    pub fn self_move(&self) -> Option<&SelfMove> {
        self.moved.as_ref()
    }

    pub fn teardown(&mut self, deadline: Instant) -> Result<()> {
        self.fd = None;
        let mut first = kill::remove_created(&mut self.created, deadline);
        if let Some(m) = self.moved.take() {
            first = first.and(m.undo());
        }
        first
    }
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map(OwnedFd::from)
        .map_err(|e| SetupError::io(format!("open cgroup {}", dir.display()), &e))
}

/// Make the anchor hand `wanted` down to its children. A populated cgroup
/// must not (the no-internal-processes rule): domain controllers give EBUSY,
/// and threaded ones (cpu, pids) are let through but turn the anchor into a
/// thread root, whose domain children then refuse processes (EOPNOTSUPP at
/// clone3). So when the anchor has members, and they are all ours (the
/// launcher and `ours`, its watcher), they step into a leaf of their own
/// first; otherwise this fails naming the fix. The hierarchy's root is
/// exempt from the rule (it has no `cgroup.type`).
fn enable(plan: &Plan, wanted: &BTreeSet<String>, ours: &[i32]) -> Result<Option<SelfMove>> {
    let missing: Vec<String> = wanted.difference(&plan.delegated).cloned().collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let value = missing.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(" ");
    let members = files::pids(&plan.anchor);
    let is_root = !files::exists(&plan.anchor, "cgroup.type");
    if is_root || members.is_empty() {
        return files::write(&plan.anchor, "cgroup.subtree_control", &value).map(|()| None).map_err(|e| {
            e.fix(format!(
                "delegate {} to the launcher: run it under `systemd-run --user --scope -p Delegate=yes`",
                missing.join(" ")
            ))
        });
    }
    let me = i32::try_from(std::process::id()).unwrap_or(-1);
    let all_ours = members.iter().all(|p| *p == me || ours.contains(p));
    if !plan.own || !all_ours {
        return Err(SetupError::new(format!(
            "enable {} in {}/cgroup.subtree_control",
            missing.join(" "),
            plan.anchor.display()
        ))
        .detail(format!(
            "{} holds other processes (cgroup v2's no-internal-processes rule)",
            plan.anchor.display()
        ))
        .fix(format!(
            "run the launcher in a cgroup of its own with the controllers delegated: \
             `systemd-run --user --scope -p Delegate=yes sandbox run …` (as root, without --user), \
             or set linux.cgroupsPath under a cgroup whose cgroup.subtree_control has {}",
            missing.join(" ")
        )));
    }
    let moved = SelfMove {
        home: plan.anchor.clone(),
        leaf: plan.anchor.join(format!("sandbox-launcher-{me}")),
        enabled: missing,
    };
    files::mkdir(&moved.leaf)?;
    let retried = members
        .iter()
        .try_for_each(|pid| files::write(&moved.leaf, "cgroup.procs", &pid.to_string()))
        .and_then(|()| files::write(&plan.anchor, "cgroup.subtree_control", &value));
    match retried {
        Ok(()) => Ok(Some(moved)),
        Err(e) => {
            for pid in files::pids(&moved.leaf) {
                let _ = files::write(&moved.home, "cgroup.procs", &pid.to_string());
            }
            let _ = files::rmdir(&moved.leaf);
            Err(e)
        }
    }
}

impl SelfMove {
    /// For the watcher, through its pipe: `home NUL leaf NUL controllers NUL`.
    pub fn encode(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let mut out = self.home.as_os_str().as_bytes().to_vec();
        out.push(0);
        out.extend_from_slice(self.leaf.as_os_str().as_bytes());
        out.push(0);
        out.extend_from_slice(self.enabled.join(" ").as_bytes());
        out.push(0);
        out
    }

    /// The inverse of [`SelfMove::encode`]; `None` for anything else (a
    /// record cut short by the launcher's death).
    pub fn decode(bytes: &[u8]) -> Option<SelfMove> {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let mut parts = bytes.split(|b| *b == 0);
        let (home, leaf, enabled) = (parts.next()?, parts.next()?, parts.next()?);
        let leaf = PathBuf::from(OsStr::from_bytes(leaf));
        let home = PathBuf::from(OsStr::from_bytes(home));
        let complete = parts.next() == Some(&[]) && parts.next().is_none();
        if !complete || leaf.parent() != Some(home.as_path()) {
            return None;
        }
        let enabled = std::str::from_utf8(enabled).ok()?.split_whitespace().map(str::to_owned).collect();
        Some(SelfMove { home, leaf, enabled })
    }

    /// Stop handing the controllers down (a populated cgroup may not), move
    /// the launcher (and anything it started) home, remove the leaf.
    pub fn undo(self) -> Result<()> {
        let minus: Vec<String> = self.enabled.iter().map(|c| format!("-{c}")).collect();
        let mut first = files::write(&self.home, "cgroup.subtree_control", &minus.join(" "));
        for pid in files::pids(&self.leaf) {
            first = first.and(files::write(&self.home, "cgroup.procs", &pid.to_string()));
        }
        first.and(files::rmdir(&self.leaf))
    }
}
