//! cgroup drivers: put the sandbox in cgroups of its own, apply its limits,
//! kill it as a whole, tell whether the OOM killer struck, and leave no
//! directory behind.
//!
//! # Drivers and routing
//!
//! Hierarchies are found in /proc/self/mountinfo and paired with the
//! caller's place in each from /proc/self/cgroup ([`Hierarchies`]). Each limit
//! goes to the driver that has its controller: cgroup v2 when the v2 parent
//! offers it (`cgroup.controllers`), else the v1 hierarchy it is bound to (on
//! a hybrid host a controller lives in exactly one of them). A limit neither
//! can take, or whose file the kernel lacks (`memory.memsw.limit_in_bytes`
//! without swap accounting, `blkio.weight` without a weighted I/O scheduler),
//! fails the run naming the limit and the reason, or with `required` off is
//! skipped and reported, one line each.
//!
//! A v2 cgroup is made whenever v2 is mounted, even with no controller (the
//! hybrid host's `/sys/fs/cgroup/unified`): it still gives atomic placement
//! by `clone3(CLONE_INTO_CGROUP)` and a kill of the whole tree by
//! `cgroup.kill`. v1 cgroups are made in the hierarchies holding limits, plus
//! the freezer when there is no v2 cgroup (so a kill cannot race a fork).
//!
//! # Placement
//!
//! The sandbox's cgroup is `sandbox-<name>-<pid>` under the caller's own
//! cgroup in each hierarchy, unless `linux.cgroupsPath` is set: absolute,
//! from the hierarchy root; relative, under the caller's cgroup; ".." and
//! systemd's `slice:prefix:name` form are refused. Missing parents are created
//! and removed again when empty. An existing cgroup is never adopted: we only
//! remove what we made.
//!
//! # cgroup v2 and the no-internal-processes rule
//!
//! A non-root v2 cgroup with processes cannot enable controllers for its
//! children (writing `cgroup.subtree_control` gives EBUSY), and the launcher
//! sits in its own cgroup. So, with P the parent of the sandbox's cgroup (the
//! caller's cgroup, or the deepest existing ancestor of a cgroupsPath):
//! 1. P already hands the controllers down (`cgroup.subtree_control`): create
//!    the child directly (a configured, delegated parent; the root cgroup).
//! 2. Else enable them in P. This works when P has no processes (a
//!    cgroupsPath under an empty delegated cgroup) or is a root.
//! 3. If P has processes (never write `+` then: domain controllers give
//!    EBUSY, and threaded ones like cpu and pids are accepted but make P a
//!    thread root, whose domain children then refuse clone3 with EOPNOTSUPP)
//!    and P is the launcher's own cgroup holding only the launcher and its
//!    watcher ([`Options::companions`]), they step into
//!    `P/sandbox-launcher-<pid>` and the controllers are enabled. This is what a delegated unit needs: under `systemd-run --user
//!    --scope -p Delegate=yes sandbox run …` the scope holds just the
//!    launcher. [`Cgroup::remove`] undoes it (disables what it enabled, moves
//!    the launcher back, removes the leaf).
//! 4. Otherwise (P holds other processes, e.g. the user's shell in a terminal
//!    scope), fail naming that fix, or skip the v2 limits when not required.
//!    The cgroup is still made, without controllers, to hold the sandbox.
//!
//! # Use by the runtime
//!
//! `create_in` before the clone; `clone3` with [`Cgroup::v2_fd`] when it is
//! `Some`; then always [`Cgroup::add`] with the child's pid before letting
//! it proceed (v1 hierarchies need it; rewriting the v2 membership is a
//! no-op); `kill_all` on the way out; `oom_killed` for the exit report;
//! `remove`. The value must not be dropped in a cloned child: `Drop` does
//! nothing in a process other than the one that created it. A launcher killed
//! by SIGKILL runs no destructor: a watcher process started before `create_in`
//! with [`Cgroup::planned_dirs_in`] (or after it with [`Cgroup::dirs`]) cleans
//! up with [`destroy_dirs`].

mod delegation;
mod files;
mod hierarchy;
mod kill;
mod limits;
pub mod reopen;
mod v1;
mod v2;

/// Which driver takes each setting: v2 where its controller is offered, else
/// the v1 hierarchy that has it; the rest, with the reason, is unapplied
/// (after what the spec asks that no driver implements).
fn route(
    h: &Hierarchies,
    v2_plan: Option<&Result<v2::Plan>>,
    request: limits::Request,
) -> (Vec<Setting>, Vec<Vec<Setting>>, Vec<String>) {
    let mut unapplied = request.unsupported;
    let mut on_v2 = Vec::new();
    let mut on_v1: Vec<Vec<Setting>> = vec![Vec::new(); h.v1.len()];
    for s in request.settings {
        let c = s.controller();
        if matches!(v2_plan, Some(Ok(plan)) if plan.offers(c.v2_name())) {
            on_v2.push(s);
        } else if let Some(i) = h.v1.iter().position(|x| x.has(c.v1_name())) {
            on_v1[i].push(s);
        } else {
            let v2 = match v2_plan {
                None => "cgroup v2 is not mounted".to_owned(),
                Some(Ok(plan)) => plan.lacking(),
                Some(Err(e)) => format!("cgroup v2: {e}"),
            };
            let (v2_name, v1_name) = (c.v2_name(), c.v1_name());
            unapplied
                .push(format!("{}: no {v2_name} controller ({v2}; no v1 {v1_name} hierarchy)", s.describe()));
        }
    }
    (on_v2, on_v1, unapplied)
}

#[cfg(test)]
mod tests;

use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

pub use hierarchy::{Hierarchies, Hierarchy, systemd_path};
pub use limits::{blkio_to_io_weight, shares_to_weight};
pub use v2::SelfMove;

use crate::error::{Result, SetupError};
use delegation::Undelegated;
use limits::Setting;
use v1::V1;
use v2::V2;

/// How long killing, then removing, may each take before we give up.
const PATIENCE: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The sandbox's name, for the default cgroup name `sandbox-<name>-<pid>`.
    pub name: String,
    /// The spec's `linux.cgroupsPath`.
    pub cgroups_path: Option<PathBuf>,
    /// Fail when a limit cannot be applied (else skip it and say so).
    pub required: bool,
    /// The launcher's own helper processes (its watcher), which may share
    /// its cgroup and then move with it (see "Placement" above).
    pub companions: Vec<i32>,
}

/// The sandbox's cgroups: one per hierarchy used.
#[derive(Debug)]
pub struct Cgroup {
    v2: Option<V2>,
    v1: Vec<V1>,
    /// The process that created it: the only one whose `Drop` cleans up.
    owner: u32,
    removed: bool,
}

impl Cgroup {
    /// Whether `resources` asks for anything a cgroup would enforce (a spec
    /// whose limits cannot even be read counts: `create_in` reports it).
    pub fn wanted(resources: Option<&LinuxResources>) -> bool {
        limits::request(resources).map_or(true, |r| !r.settings.is_empty() || !r.unsupported.is_empty())
    }

    /// Create the sandbox's cgroup in the hierarchies `h` (see
    /// [`Hierarchies::discover`]) and write the limits in `resources`. A limit
    /// no available driver can apply is an error naming the limit and the
    /// reason, unless `!opts.required`: then it is in the returned skip list.
    /// Always creates a cgroup when a usable hierarchy exists, so the sandbox
    /// can be killed as a whole; `Ok((None, skipped))` when none does.
    pub fn create_in(
        h: &Hierarchies,
        resources: Option<&LinuxResources>,
        opts: &Options,
    ) -> Result<(Option<Cgroup>, Vec<String>)> {
        let request = limits::request(resources)?;
        let leaf = free_leaf(h, opts);
        let place = |hier: &Hierarchy| hierarchy::placement(hier, opts.cgroups_path.as_deref(), &leaf);
        // A bad cgroupsPath is the spec's error, whatever the hierarchies.
        let v2_path = h.v2.as_ref().map(place).transpose()?;
        let v1_paths = h.v1.iter().map(place).collect::<Result<Vec<PathBuf>>>()?;
        let v2_plan = h.v2.as_ref().zip(v2_path).map(|(v, p)| v2::plan(v, &p));
        let (on_v2, on_v1, mut unapplied) = route(h, v2_plan.as_ref(), request);
        if opts.required && !unapplied.is_empty() {
            return Err(refuse(&unapplied, None));
        }
        let mut cg = Cgroup { v2: None, v1: Vec::new(), owner: std::process::id(), removed: false };
        if let Some(Ok(plan)) = &v2_plan {
            let (v2, failed) = V2::create(plan, &on_v2, &opts.companions);
            cg.v2 = v2;
            unapplied.extend(failed);
        }
        for ((hier, path), settings) in h.v1.iter().zip(&v1_paths).zip(&on_v1).filter(|(_, s)| !s.is_empty())
        {
            let (v1, failed) = V1::create(hier, path, settings);
            cg.v1.extend(v1);
            unapplied.extend(failed);
        }
        if cg.v2.is_none() && !cg.v1.iter().any(|v| v.has("freezer")) {
            if let Some(i) = tracking_hierarchy(h, cg.v1.is_empty()) {
                cg.v1.extend(V1::create(&h.v1[i], &v1_paths[i], &[]).0);
            }
        }
        if opts.required && !unapplied.is_empty() {
            // `cg` drops: what was made is removed.
            let v2 = v2_plan.as_ref().and_then(|p| p.as_ref().ok()).filter(|_| !on_v2.is_empty());
            let v1 = h.v1.iter().zip(&v1_paths).zip(&on_v1).filter(|(_, s)| !s.is_empty());
            let v1: Vec<_> = v1.filter_map(|((x, path), _)| Some((x, x.dir_of(path)?))).collect();
            let denied = Undelegated::find(v2.map(|p| (p.mount.as_path(), p.dir.as_path())), &v1);
            return Err(refuse(&unapplied, denied.fix(nix::unistd::geteuid().as_raw())));
        }
        if cg.v2.is_none() && cg.v1.is_empty() {
            return Ok((None, unapplied));
        }
        Ok((Some(cg), unapplied))
    }

    /// What the watcher must undo if the launcher dies: the step into a leaf
    /// (rule 3 above), when it was taken.
    pub fn self_move(&self) -> Option<&SelfMove> {
        self.v2.as_ref().and_then(V2::self_move)
    }

    /// For `clone3(CLONE_INTO_CGROUP)`: an `O_DIRECTORY` fd of the v2 cgroup.
    /// `Some` whenever there is a v2 cgroup, also on a hybrid host where it
    /// holds no limits (placement is atomic and `cgroup.kill` covers it).
    pub fn v2_fd(&self) -> Option<BorrowedFd<'_>> {
        self.v2.as_ref().and_then(V2::fd)
    }

    /// Put a process in every cgroup of the sandbox. Call it after every
    /// clone: v1 hierarchies need it. `placed_on_v2`: clone3 already put it
    /// in the v2 cgroup (`CLONE_INTO_CGROUP`); writing it there again would
    /// change nothing but costs a cgroup migration (an RCU grace period,
    /// milliseconds).
    pub fn add(&self, pid: i32, placed_on_v2: bool) -> Result<()> {
        let v2 = self.v2.iter().filter(|_| !placed_on_v2).map(|v| &v.dir);
        let dirs = v2.chain(self.v1.iter().map(|v| &v.dir));
        for dir in dirs {
            files::write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Kill every process in it: `cgroup.kill` on v2, then on every hierarchy
    /// freeze (v1 freezer), SIGKILL each member, thaw, until empty. Bounded
    /// by [`PATIENCE`]; never hangs.
    pub fn kill_all(&self) {
        kill::kill_all(self.v2.as_ref(), &self.v1, Instant::now() + PATIENCE);
    }

    /// Whether the OOM killer fired in it (v2 `memory.events`, v1
    /// `memory.oom_control`: `oom_kill` above zero).
    pub fn oom_killed(&self) -> bool {
        self.v2.as_ref().is_some_and(V2::oom_killed) || self.v1.iter().any(V1::oom_killed)
    }

    /// The cgroup directories, in removal order, for a watcher that cleans
    /// up with [`destroy_dirs`] if the launcher dies without running `remove`.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.v2.iter().map(|v| v.dir.clone()).chain(self.v1.iter().map(|v| v.dir.clone())).collect()
    }

    /// The directories [`Cgroup::create_in`] may make for `opts`, known before it
    /// runs: for a watcher started first, so that a launcher killed in the
    /// middle of `create_in` leaves nothing (those never made are skipped by
    /// [`destroy_dirs`]). Only for the default, pid-unique name: empty when
    /// `opts.cgroups_path` is set, since a chosen path may belong to someone
    /// else until `create_in` has made it (use [`Cgroup::dirs`] after it).
    pub fn planned_dirs_in(h: &Hierarchies, opts: &Options) -> Vec<PathBuf> {
        if opts.cgroups_path.is_some() {
            return Vec::new();
        }
        let leaf = free_leaf(h, opts);
        h.v2.iter()
            .chain(&h.v1)
            .filter(|x| !x.controllers.iter().any(|c| c.starts_with("name=")))
            .filter_map(|x| x.dir_of(&x.current.join(&leaf)))
            .collect()
    }

    /// Leave the cgroups in place for a container that outlives its
    /// launcher; their directories, for whoever removes them later
    /// ([`destroy_dirs`]).
    pub fn keep(mut self) -> Vec<PathBuf> {
        self.removed = true;
        self.dirs()
    }

    /// Kill what is left and remove the directories (retrying rmdir briefly
    /// while the kernel reaps: EBUSY). Reports the first failure after
    /// trying everything.
    pub fn remove(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        self.kill_all();
        let deadline = Instant::now() + PATIENCE;
        let mut first = Ok(());
        for v in &mut self.v1 {
            first = first.and(v.teardown(deadline));
        }
        if let Some(v) = &mut self.v2 {
            first = first.and(v.teardown(deadline));
        }
        first
    }
}

impl Drop for Cgroup {
    /// Best effort: the launcher must never leave a cgroup behind.
    fn drop(&mut self) {
        if self.owner == std::process::id() {
            let _ = self.teardown();
        }
    }
}

/// Kill the members of these cgroups (`cgroup.kill` where there is one, else
/// SIGKILL each member between rmdir retries, cgroups below them included)
/// and remove them: for a watcher that outlives a launcher killed by SIGKILL.
pub fn destroy_dirs(dirs: &[PathBuf]) -> Result<()> {
    for dir in dirs.iter().filter(|d| files::exists(d, "cgroup.kill")) {
        let _ = files::write(dir, "cgroup.kill", "1");
    }
    let deadline = Instant::now() + PATIENCE;
    // Try every directory; report the first failure.
    let mut first = Ok(());
    for dir in dirs {
        first = first.and(kill::remove_tree(dir, deadline));
    }
    first
}

/// `sandbox-<name>-<pid>`, or with a `-2`.. suffix if a stale cgroup of that
/// name exists in some hierarchy (a launcher killed before it could clean up
/// whose pid came round again).
fn free_leaf(h: &Hierarchies, opts: &Options) -> String {
    let base = hierarchy::default_leaf(&opts.name, std::process::id());
    let taken = |leaf: &str| {
        h.v2.iter().chain(&h.v1).any(|x| x.dir_of(&x.current.join(leaf)).is_some_and(|d| d.exists()))
    };
    std::iter::once(base.clone())
        .chain((2..10).map(|n| format!("{base}-{n}")))
        .find(|leaf| !taken(leaf))
        .unwrap_or(base)
}

/// A v1 hierarchy to hold the processes when nothing else does: the freezer
/// (race-free kills); if `any`, failing that, the first controller hierarchy.
fn tracking_hierarchy(h: &Hierarchies, any: bool) -> Option<usize> {
    let plain = |x: &Hierarchy| x.controllers.iter().all(|c| !c.starts_with("name=") && c != "cpuset");
    h.v1.iter()
        .position(|x| x.has("freezer"))
        .or_else(|| if any { h.v1.iter().position(plain) } else { None })
}

/// The refusal of limits that could not be applied: each with its reason,
/// and how to get a cgroup when the caller has none of its own
/// (`delegation`), else how to get the controllers.
fn refuse(reasons: &[String], delegation: Option<String>) -> SetupError {
    SetupError::new("apply the sandbox's cgroup limits")
        .detail(reasons.join("; "))
        .fix(delegation.unwrap_or_else(|| {
        "give the launcher the controllers named above, or set `enforce = \"best-effort\"` under [limits] \
             to run without these limits"
            .to_owned()
    }))
}

/// The value of `key` in a `key value` per line file (`memory.events`).
fn counter(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}
