//! What the launcher holds before the clone: the persistent upper's lock,
//! the cgroup and the watcher that removes it if we die.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;

use crate::error::SetupError;
use crate::net::plan::NatPlan;
use crate::net::resolve;
use crate::net::stack::{Namespaces, Programs, Stack};
use crate::runtime::cgroup::{Cgroup, Hierarchies, Options};
use crate::runtime::exit::{Note, Notes};
use crate::runtime::process::watcher::{self, Watcher};
use crate::spec::extension::{Extension, NetMode, WritableSpec};

/// The persistent upper directory, opened and locked for as long as the
/// sandbox runs: overlayfs must not have one upper in two mounts ("upperdir
/// is in-use ... undefined behavior"). The lock is the directory's own
/// (flock), held by us and by the sandbox's init, so it is released only
/// when both are gone; a second sandbox is refused at once. The directory
/// itself may not be a symlink (the repository a profile lives in could
/// point it anywhere).
pub fn lock_upper(ext: &Extension) -> Result<Option<Flock<OwnedFd>>, SetupError> {
    let WritableSpec::Dir { path } = &ext.writable else { return Ok(None) };
    let dir = Path::new(path);
    std::fs::create_dir_all(dir).map_err(|e| SetupError::io(format!("create {path}"), &e))?;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(dir, flags, Mode::empty()).map_err(|e| {
        let err = SetupError::sys(format!("open the upper directory {path}"), e);
        if e == nix::errno::Errno::ELOOP {
            err.fix("it is a symlink: name the directory itself")
        } else {
            err
        }
    })?;
    Flock::lock(fd, FlockArg::LockExclusiveNonblock).map(Some).map_err(|(_, e)| {
        SetupError::sys(format!("lock the upper directory {path}"), e)
            .detail("it is in use by another sandbox")
            .fix("wait for that sandbox to end, or give this one a directory of its own")
    })
}

/// The sandbox's cgroup and the watcher that removes it if we die (see
/// `LaunchPlan::cgroup` for when there is none).
pub fn cgroup(
    spec: &Spec,
    ext: &Extension,
    name: &str,
    notes: Notes,
) -> Result<(Option<Cgroup>, Option<Watcher>), SetupError> {
    let linux = spec.linux().as_ref().expect("checked by the plan");
    let resources = linux.resources().as_ref();
    let hierarchies = Hierarchies::discover()?;
    let mut opts = Options {
        name: name.to_owned(),
        cgroups_path: linux.cgroups_path().clone(),
        required: ext.limits_required,
        companions: Vec::new(),
    };
    // The watcher starts before the cgroup exists, so a launcher killed
    // at any moment leaves nothing; with an explicit cgroupsPath the
    // directories are known only once made.
    let planned = Cgroup::planned_dirs_in(&hierarchies, &opts);
    let early = if planned.is_empty() { None } else { Some(watcher::spawn(&planned)?) };
    opts.companions.extend(early.as_ref().map(|w| w.pid().as_raw()));
    let (cgroup, skipped) = match Cgroup::create_in(&hierarchies, resources, &opts) {
        Ok(made) => made,
        Err(e) => {
            if let Some(w) = early {
                w.dismiss();
            }
            return Err(e);
        }
    };
    if let (Some(w), Some(moved)) = (&early, cgroup.as_ref().and_then(Cgroup::self_move)) {
        w.undo_too(moved);
    }
    for line in skipped {
        notes(Note::LimitSkipped(line));
    }
    let watcher = match (early, &cgroup) {
        (Some(w), _) => Some(w),
        (None, Some(cg)) => Some(watcher::spawn(&cg.dirs())?),
        (None, None) => None,
    };
    Ok((cgroup, watcher))
}

/// The cgroup directories `run` makes for `bundle` when called from this
/// process (none with an explicit cgroupsPath, or without limits): for a
/// record from which `rm -f` removes them should this process and its
/// watcher both be killed before the sandbox's start is recorded.
pub fn planned_cgroup_dirs(bundle: &crate::spec::Bundle) -> Vec<std::path::PathBuf> {
    let Ok(plan) = super::LaunchPlan::new(&bundle.spec, &bundle.ext, super::Caller::current()) else {
        return Vec::new();
    };
    let Some(linux) = bundle.spec.linux().as_ref().filter(|_| plan.cgroup) else { return Vec::new() };
    let Ok(hierarchies) = Hierarchies::discover() else { return Vec::new() };
    let opts = Options {
        name: bundle.name.clone(),
        cgroups_path: linux.cgroups_path().clone(),
        required: bundle.ext.limits_required,
        companions: Vec::new(),
    };
    Cgroup::planned_dirs_in(&hierarchies, &opts)
}

/// A command that is pid 1 itself (no init of ours) is tied to us only by
/// its parent-death signal, which it may clear: the watcher kills it
/// through its pidfd if we die. Forked after clone3 when no cgroup needed
/// one before, and before "go", so no command runs unwatched.
pub fn guard_pid_1(watcher: &mut Option<Watcher>, pidfd: &OwnedFd) -> Result<(), SetupError> {
    if watcher.is_none() {
        *watcher = Some(watcher::spawn(&[])?);
    }
    watcher.as_ref().expect("just made").kill_too(pidfd.as_fd())
}

pub fn clone_fix(e: nix::errno::Errno, userns: bool) -> &'static str {
    match e {
        _ if userns && apparmor_restricts_userns() => APPARMOR_FIX,
        nix::errno::Errno::EPERM | nix::errno::Errno::ENOSPC if userns => {
            "user namespaces are disabled or exhausted: raise them with `sysctl -w user.max_user_namespaces=15000`"
        }
        nix::errno::Errno::EPERM => "creating namespaces needs root or a user namespace",
        _ => "the kernel refused the namespaces this profile asks for",
    }
}

pub const APPARMOR_FIX: &str = "AppArmor restricts unprivileged user namespaces \
     (kernel.apparmor_restrict_unprivileged_userns = 1): allow sandbox with an AppArmor profile granting `userns`, \
     or set the sysctl to 0";

/// Ubuntu's `AppArmor` switch that lets the clone succeed and then denies
/// what the namespace is for.
pub fn apparmor_restricts_userns() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
        .is_ok_and(|v| v.trim() == "1")
}

/// A `nat` network, ready to start: its plan, with the egress rules' names
/// resolved now, and its programs found. Made before the clone, so a
/// missing pasta or an unknown name stops the run before anything starts.
pub struct Nat {
    pub plan: NatPlan,
    programs: Programs,
}

pub fn nat(ext: &Extension) -> Result<Option<Nat>, SetupError> {
    if ext.network.mode != NetMode::Nat {
        return Ok(None);
    }
    let spec = ext.network.nat.as_ref().ok_or_else(|| {
        SetupError::new("check the bundle's network")
            .detail("dev.sandbox.network asks for nat, but carries no nat settings (ports, egress)")
            .fix("export the bundle again with `sandbox bundle`")
    })?;
    recheck(spec)?;
    let routes = resolve::host_routes();
    if routes.gateway4.is_none() && !routes.default6 {
        // pasta would exit, and the command run with no network at all.
        return Err(SetupError::new("connect the sandbox's network (network.mode = \"nat\")")
            .detail("the host has no default route, so pasta has no interface to go out through")
            .fix("give the host a default route, or use network.mode = \"none\""));
    }
    if spec.host_loopback && routes.gateway4.is_none() {
        return Err(SetupError::new("reach the host's loopback from the sandbox (network.host_loopback)")
            .detail("the host has no IPv4 default route, which pasta maps to its loopback")
            .fix("give the host a default route, or set network.host_loopback = false"));
    }
    let pinned = resolve::pin(spec.egress.as_deref().unwrap_or_default())?;
    let resolvers = resolve::resolvers(&ext.network)?;
    let plan = NatPlan::new(spec, &resolvers, &pinned, &routes, nix::unistd::geteuid().is_root());
    let programs = Programs::find(&plan)?;
    Ok(Some(Nat { plan, programs }))
}

/// A bundle's nat settings come from anywhere (`run --bundle`): each rule
/// and port must read back as itself through the profile's parser, which
/// holds names to RFC 1123, prefixes to their family and ports to their
/// protocol.
fn recheck(spec: &crate::spec::extension::NatSpec) -> Result<(), SetupError> {
    use crate::net::rule::{parse_allow, parse_publish};
    let bad = |what: String, e: String| {
        SetupError::new("check the bundle's network")
            .detail(format!("dev.sandbox.network: {what}: {e}"))
            .fix("export the bundle again with `sandbox bundle`")
    };
    for a in spec.egress.iter().flatten() {
        if parse_allow(&a.to_string()).as_ref() != Ok(a) {
            return Err(bad(format!("egress rule {:?}", a.to_string()), "not a valid rule".into()));
        }
    }
    for p in &spec.publish {
        if parse_publish(&p.to_string()).as_ref() != Ok(p) {
            return Err(bad(
                format!("published port {:?}", p.to_string()),
                "not a valid published port".into(),
            ));
        }
    }
    Ok(())
}

/// Start the sandbox's network on its namespaces; the watcher kills pasta
/// too if we die (its parent-death signal already does; this holds even
/// if pasta ever cleared it).
pub fn start_nat(nat: &Nat, ns: &Namespaces, watcher: &mut Option<Watcher>) -> Result<Stack, SetupError> {
    if watcher.is_none() {
        *watcher = Some(watcher::spawn(&[])?);
    }
    let watcher = watcher.as_ref().expect("just made");
    Stack::start(&nat.plan, &nat.programs, ns, &mut |pidfd| watcher.kill_too(pidfd))
}

#[cfg(test)]
mod tests {
    use crate::net::rule::{Allow, Dest, PortRange, Proto, Publish};
    use crate::spec::extension::NatSpec;

    #[test]
    fn a_bundles_nat_settings_must_read_back_as_themselves() {
        let ok = Allow { dest: Dest::Name("registry.test".into()), proto: Proto::Tcp, ports: None };
        let port = PortRange { first: 80, last: 80 };
        let publish = Publish {
            host_addr: "127.0.0.1".parse().unwrap(),
            host_ports: port,
            sandbox_ports: port,
            proto: Proto::Tcp,
        };
        let spec = |egress: Vec<Allow>, publish: Vec<Publish>| NatSpec {
            publish,
            host_loopback: false,
            egress: Some(egress),
        };
        assert!(super::recheck(&spec(vec![ok.clone()], vec![publish.clone()])).is_ok());
        let injected = Allow { dest: Dest::Name("evil\nname".into()), ..ok.clone() };
        let wide = Allow { dest: Dest::Net { addr: "10.0.0.1".parse().unwrap(), prefix: 99 }, ..ok };
        let icmp = Publish { proto: Proto::Icmp, ..publish };
        for bad in [spec(vec![injected], vec![]), spec(vec![wide], vec![]), spec(vec![], vec![icmp])] {
            let err = super::recheck(&bad).expect_err("refused");
            assert!(err.to_string().contains("dev.sandbox.network"), "{err}");
        }
    }
}
