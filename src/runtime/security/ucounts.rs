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
//! does. Only the limits the sandbox's seccomp filter lets it consume are
//! written (with the default filter, the inotify ones). Without a user
//! namespace (`namespaces.user = "host"` as root) nothing of this can be
//! contained.

use std::os::fd::AsFd;

use nix::fcntl::{OFlag, open, openat};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

use crate::error::{Result, SetupError};

/// The per-namespace limits under /proc/sys/user, each with the system
/// calls that consume it (clone counts for the namespace limits only when
/// it may create namespaces: see [`reachable`]).
const LIMITS: &[(&str, &[&str])] = &[
    ("max_inotify_instances", &["inotify_init", "inotify_init1"]),
    ("max_inotify_watches", &["inotify_add_watch"]),
    ("max_fanotify_groups", &["fanotify_init"]),
    // Marks need a group, which only fanotify_init makes.
    ("max_fanotify_marks", &["fanotify_init"]),
    ("max_user_namespaces", NAMESPACES),
    ("max_mnt_namespaces", NAMESPACES),
    ("max_pid_namespaces", NAMESPACES),
    ("max_net_namespaces", NAMESPACES),
    ("max_ipc_namespaces", NAMESPACES),
    ("max_uts_namespaces", NAMESPACES),
    ("max_cgroup_namespaces", NAMESPACES),
    ("max_time_namespaces", NAMESPACES),
];
const NAMESPACES: &[&str] = &["unshare", "setns", "clone", "clone3"];

/// The rlimits the kernel counts per user across namespaces.
const PER_USER: &[Resource] = [
    Resource::RLIMIT_NPROC,
    Resource::RLIMIT_SIGPENDING,
    Resource::RLIMIT_MSGQUEUE,
    Resource::RLIMIT_MEMLOCK,
]
.as_slice();

/// Half of each of the caller's limits that the sandbox can reach through
/// its seccomp filter (each write costs, at every start: the default
/// filter leaves the inotify ones only), read by the launcher (the
/// sandbox's namespace cannot see its parent's).
pub fn halves(seccomp: Option<&LinuxSeccomp>) -> Vec<(&'static str, u64)> {
    let Ok(dir) =
        open("/proc/sys/user", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
    else {
        return Vec::new();
    };
    LIMITS
        .iter()
        .filter(|(_, calls)| reachable(seccomp, calls))
        .filter_map(|(name, _)| {
            let fd = openat(dir.as_fd(), *name, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
            let mut buf = [0u8; 32];
            let n = nix::unistd::read(&fd, &mut buf).ok()?;
            let value: u64 = std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()?;
            Some((*name, value / 2))
        })
        .collect()
}

/// Whether a process under `seccomp` may make any of `calls`: no filter,
/// one that allows by default, or an entry allowing one of them — but a
/// `clone` allowed only with every `CLONE_NEW*` flag masked off (as the
/// default filter has it) creates no namespace.
fn reachable(seccomp: Option<&LinuxSeccomp>, calls: &[&str]) -> bool {
    let Some(s) = seccomp else { return true };
    if s.default_action() == LinuxSeccompAction::ScmpActAllow {
        return true;
    }
    s.syscalls().iter().flatten().filter(|e| e.action() == LinuxSeccompAction::ScmpActAllow).any(|e| {
        e.names().iter().any(|n| calls.contains(&n.as_str()) && !(n == "clone" && masks_namespaces(e)))
    })
}

/// An entry whose conditions keep every `CLONE_NEW*` flag of clone's flags clear.
fn masks_namespaces(entry: &oci_spec::runtime::LinuxSyscall) -> bool {
    use crate::linux::seccomp::default_profile::CLONE_NAMESPACE_FLAGS as NS;
    entry.args().iter().flatten().any(|a| {
        a.index() == 0
            && a.op() == oci_spec::runtime::LinuxSeccompOperator::ScmpCmpMaskedEq
            && a.value() & NS == NS
            && a.value_two().unwrap_or(0) & NS == 0
    })
}

/// Write `limits` as the sandbox's own, from inside its user namespace
/// (its root may; the host's /proc is still mounted).
pub fn apply(limits: &[(&'static str, u64)]) -> Result<()> {
    if limits.is_empty() {
        return Ok(());
    }
    let dir = open("/proc/sys/user", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| SetupError::sys("open /proc/sys/user", e))?;
    for (name, value) in limits {
        let step = || format!("limit the sandbox's {name} to {value} (/proc/sys/user/{name})");
        let fd = openat(dir.as_fd(), *name, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| SetupError::sys(step(), e))?;
        nix::unistd::write(&fd, value.to_string().as_bytes()).map_err(|e| SetupError::sys(step(), e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).expect("a linux.seccomp")
    }

    #[test]
    fn only_what_the_filter_lets_through_is_limited() {
        let default_filter = crate::compile::compile(
            crate::profile::load_profile_text(
                std::path::Path::new("/p.toml"),
                String::new(),
                &crate::profile::host::HostContext::fixed(),
            )
            .model
            .as_ref()
            .unwrap(),
            &crate::profile::host::HostContext::fixed(),
        )
        .spec
        .linux()
        .clone()
        .unwrap()
        .seccomp()
        .clone();
        let reached = |s: Option<&LinuxSeccomp>| -> Vec<&str> {
            LIMITS.iter().filter(|(_, calls)| reachable(s, calls)).map(|(n, _)| *n).collect()
        };
        assert_eq!(reached(default_filter.as_ref()), ["max_inotify_instances", "max_inotify_watches"]);
        assert_eq!(reached(None).len(), LIMITS.len(), "unconfined: every limit");
        let clone_free = filter(serde_json::json!({ "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{ "names": ["clone"], "action": "SCMP_ACT_ALLOW" }] }));
        assert!(reached(Some(&clone_free)).contains(&"max_user_namespaces"), "clone without a mask");
        let allow_all = filter(serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW" }));
        assert_eq!(reached(Some(&allow_all)).len(), LIMITS.len());
    }
}
