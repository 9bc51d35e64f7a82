//! Per-user kernel budgets. Some kernel objects are counted per user, not
//! per process tree: inotify instances and watches, fanotify groups and
//! marks, namespaces, and (as rlimits) processes, pending signals, POSIX
//! message queue bytes and locked memory. A sandbox that took them all
//! would leave its caller's uid none on the host: 128 inotify instances
//! are quickly gone.
//!
//! A user namespace is charged at every level of its chain: the sandbox's
//! own count against its namespace's limit, and, to its owner (the caller),
//! against the caller's. So the sandbox's namespace gets half of the
//! caller's budget as its own limits (`/proc/sys/user/max_*`, written from
//! inside, where its root may), and for the rlimit-counted ones, which the
//! kernel bounds in the parent by the creator's soft limits when the
//! namespace is made, the launcher halves its own soft limits around
//! clone3. The caller keeps at least half of each, whatever the sandbox
//! does. Without a user namespace (`namespaces.user = "host"` as root)
//! nothing of this can be contained.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use super::error::{Result, SetupError};

/// The per-namespace limits under /proc/sys/user.
const LIMITS: &[&str] = &[
    "max_inotify_instances",
    "max_inotify_watches",
    "max_fanotify_groups",
    "max_fanotify_marks",
    "max_user_namespaces",
    "max_mnt_namespaces",
    "max_pid_namespaces",
    "max_net_namespaces",
    "max_ipc_namespaces",
    "max_uts_namespaces",
    "max_cgroup_namespaces",
    "max_time_namespaces",
];

/// The rlimits the kernel counts per user across namespaces.
const PER_USER: &[Resource] = [
    Resource::RLIMIT_NPROC,
    Resource::RLIMIT_SIGPENDING,
    Resource::RLIMIT_MSGQUEUE,
    Resource::RLIMIT_MEMLOCK,
]
.as_slice();

/// Half of each of the caller's limits, read by the launcher (the sandbox's
/// namespace cannot see its parent's).
pub fn halves() -> Vec<(&'static str, u64)> {
    LIMITS
        .iter()
        .filter_map(|name| {
            let text = std::fs::read_to_string(format!("/proc/sys/user/{name}")).ok()?;
            Some((*name, text.trim().parse::<u64>().ok()? / 2))
        })
        .collect()
}

/// Write `limits` as the sandbox's own, from inside its user namespace
/// (its root may; the host's /proc is still mounted).
pub fn apply(limits: &[(&'static str, u64)]) -> Result<()> {
    for (name, value) in limits {
        let path = format!("/proc/sys/user/{name}");
        std::fs::write(&path, value.to_string())
            .map_err(|e| SetupError::io(format!("limit the sandbox's {name} to {value} ({path})"), &e))?;
    }
    Ok(())
}

/// Halve the launcher's soft per-user rlimits, so that the user namespace
/// clone3 makes next is bounded by them; returns what to restore.
pub fn lower_rlimits() -> Vec<(Resource, u64, u64)> {
    let mut saved = Vec::new();
    for &r in PER_USER {
        let Ok((soft, hard)) = getrlimit(r) else { continue };
        if soft == nix::sys::resource::RLIM_INFINITY {
            continue;
        }
        if setrlimit(r, soft / 2, hard).is_ok() {
            saved.push((r, soft, hard));
        }
    }
    saved
}

/// Put back what [`lower_rlimits`] changed (raising a soft limit up to the
/// hard one needs no privilege).
pub fn restore_rlimits(saved: &[(Resource, u64, u64)]) {
    for (r, soft, hard) in saved {
        let _ = setrlimit(*r, *soft, *hard);
    }
}
