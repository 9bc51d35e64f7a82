//! What a launch does, decided from the spec and two facts about the
//! caller before anything is made: a pure value, so each choice is tested
//! without a kernel.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::SetupError;
use crate::runtime::cgroup::Cgroup;
use crate::spec::extension::{Extension, NetMode, Terminal};

/// The facts about the caller the plan depends on.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub root: bool,
    pub stdin_is_terminal: bool,
}

impl Caller {
    pub fn current() -> Caller {
        Caller {
            root: nix::unistd::geteuid().is_root(),
            stdin_is_terminal: std::io::stdin().as_fd().is_terminal(),
        }
    }
}

#[allow(clippy::struct_excessive_bools)] // one flag per independent choice
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchPlan {
    /// The namespaces clone3 makes (a mount namespace always).
    pub clone_flags: u64,
    /// The sandbox has its own user namespace.
    pub userns: bool,
    /// ... mapping only the caller's own ids (so setgroups is denied).
    pub single_map: bool,
    /// The launcher is root and the sandbox has a user namespace: the child
    /// starts with root's host ids, which the namespace does not map, and
    /// becomes the namespace's root once "go" says the maps are written.
    /// Only root may also give it id-mapped views of the host's files.
    pub become_root: bool,
    pub new_cgroup_ns: bool,
    pub new_net_ns: bool,
    /// The child waits in its cgroups before building its root (see
    /// [`cgroups_first`]).
    pub cgroups_first: bool,
    /// The command gets a pty of its own.
    pub terminal: bool,
    /// Our init is pid 1 and forks the command.
    pub init: bool,
    /// A cgroup, and the watcher that removes it (see [`needs_cgroup`]).
    pub cgroup: bool,
    /// Namespaces to join (`linux.namespaces[].path`), by clone flag: the
    /// pid namespace by the launcher around clone3 (it applies to
    /// children), the others by the child first thing.
    pub joins: Vec<(CloneFlags, std::path::PathBuf)>,
}

/// The spec asks for a new namespace of type `t` (one without a path).
fn new_namespace(linux: &Linux, t: LinuxNamespaceType) -> bool {
    linux.namespaces().iter().flatten().any(|n| n.typ() == t && n.path().is_none())
}

/// The namespaces the spec joins by path; user and mount ones are refused
/// before this (`refuse.rs`).
fn joins(linux: &Linux) -> Vec<(CloneFlags, std::path::PathBuf)> {
    linux
        .namespaces()
        .iter()
        .flatten()
        .filter_map(|n| {
            let flag = match n.typ() {
                LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
                LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
                LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
                LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
                LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
                LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
                LinuxNamespaceType::User | LinuxNamespaceType::Mount => return None,
            };
            Some((flag, n.path().clone()?))
        })
        .collect()
}

impl LaunchPlan {
    pub fn new(spec: &Spec, ext: &Extension, caller: Caller) -> Result<LaunchPlan, SetupError> {
        let linux = spec
            .linux()
            .as_ref()
            .ok_or_else(|| SetupError::new("read the spec").detail("no linux section"))?;
        // A namespace with a path is joined, not made (see `joins`).
        let has = |t: LinuxNamespaceType| new_namespace(linux, t);
        let userns = has(LinuxNamespaceType::User);
        if ext.network.mode != NetMode::Host && !has(LinuxNamespaceType::Network) {
            // The extension says what the profile asked; a spec edited to
            // share the host's network must not run as if it did not.
            let asked =
                if ext.network.mode == NetMode::Nat { "a nat network of its own" } else { "no network" };
            return Err(SetupError::new("check the bundle's network")
                .detail(format!("dev.sandbox.network asks for {asked}, but the spec has no network namespace"))
                .fix("add {\"type\": \"network\"} to linux.namespaces, or set the annotation's mode to \"host\""));
        }
        Ok(LaunchPlan {
            clone_flags: clone_flags(linux),
            userns,
            single_map: userns && single_id(linux),
            become_root: userns && caller.root,
            new_cgroup_ns: has(LinuxNamespaceType::Cgroup),
            new_net_ns: has(LinuxNamespaceType::Network),
            cgroups_first: cgroups_first(spec, caller),
            terminal: match ext.terminal {
                Terminal::Always => true,
                Terminal::Auto => caller.stdin_is_terminal,
                Terminal::Never => false,
            },
            init: ext.init,
            cgroup: needs_cgroup(linux, ext.init && has(LinuxNamespaceType::Pid)),
            joins: joins(linux),
        })
    }
}

fn clone_flags(linux: &Linux) -> u64 {
    let has = |t: LinuxNamespaceType| new_namespace(linux, t);
    let mut flags = CloneFlags::CLONE_NEWNS;
    for (t, f) in [
        (LinuxNamespaceType::User, CloneFlags::CLONE_NEWUSER),
        (LinuxNamespaceType::Pid, CloneFlags::CLONE_NEWPID),
        (LinuxNamespaceType::Network, CloneFlags::CLONE_NEWNET),
        (LinuxNamespaceType::Ipc, CloneFlags::CLONE_NEWIPC),
        (LinuxNamespaceType::Uts, CloneFlags::CLONE_NEWUTS),
        (LinuxNamespaceType::Time, CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
    ] {
        if has(t) {
            flags |= f;
        }
    }
    u64::try_from(flags.bits()).expect("clone flags are positive")
}

/// Whether the user namespace maps one id only (the caller's own): then
/// setgroups is denied and the sandbox keeps the caller's groups.
fn single_id(linux: &Linux) -> bool {
    let one = |maps: &Option<Vec<LinuxIdMapping>>| matches!(maps.as_deref(), Some([m]) if m.size() == 1);
    one(linux.uid_mappings()) && one(linux.gid_mappings())
}

/// Joining a v1 cgroup (clone3 placed the child in the v2 one) waits for an
/// RCU grace period, often several milliseconds, so it overlaps the child
/// building its root. Not when the root mounts a cgroupfs (it must see the
/// new namespace), nor without root (the write to a v1 cgroup.procs must
/// come before the child changes its ids): then the child is in all its
/// cgroups before it starts.
fn cgroups_first(spec: &Spec, caller: Caller) -> bool {
    let cgroupfs =
        spec.mounts().iter().flatten().any(|m| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")));
    cgroupfs || !caller.root
}

/// No cgroup (and no watcher) when nothing needs one: no limits, no chosen
/// `cgroupsPath`, and our init as pid 1 of a pid namespace of its own. The
/// end of that namespace is final (the kernel kills every process in it
/// when its init dies, as the cgroup's kill would), and init kills the
/// command when we die (its lifeline).
fn needs_cgroup(linux: &Linux, init_owns_pid_ns: bool) -> bool {
    !init_owns_pid_ns || linux.cgroups_path().is_some() || Cgroup::wanted(linux.resources().as_ref())
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::{
        LinuxBuilder, LinuxIdMappingBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder,
        LinuxResourcesBuilder, MountBuilder, SpecBuilder,
    };

    use super::*;

    const ROOT: Caller = Caller { root: true, stdin_is_terminal: false };
    const USER: Caller = Caller { root: false, stdin_is_terminal: true };

    fn spec(namespaces: &[LinuxNamespaceType], change: impl FnOnce(&mut Linux)) -> Spec {
        let ns: Vec<_> =
            namespaces.iter().map(|&t| LinuxNamespaceBuilder::default().typ(t).build().unwrap()).collect();
        let mut linux = LinuxBuilder::default().namespaces(ns).build().unwrap();
        change(&mut linux);
        SpecBuilder::default().mounts(Vec::new()).linux(linux).build().unwrap()
    }

    fn ext(init: bool, terminal: Terminal) -> Extension {
        let mut ext = Extension { init, terminal, ..Extension::for_tests() };
        ext.network.mode = NetMode::Host;
        ext
    }

    #[test]
    fn clone_flags_follow_the_namespaces_and_always_include_a_mount_namespace() {
        let plan = LaunchPlan::new(&spec(&[], |_| {}), &ext(true, Terminal::Never), ROOT).unwrap();
        assert_eq!(plan.clone_flags, u64::try_from(libc::CLONE_NEWNS).unwrap());
        let all = [LinuxNamespaceType::User, LinuxNamespaceType::Pid, LinuxNamespaceType::Network];
        let plan = LaunchPlan::new(&spec(&all, |_| {}), &ext(true, Terminal::Never), ROOT).unwrap();
        let want = libc::CLONE_NEWNS | libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::CLONE_NEWNET;
        assert_eq!(plan.clone_flags, u64::try_from(want).unwrap());
        assert!(plan.userns && plan.become_root && plan.new_net_ns && !plan.new_cgroup_ns);
    }

    #[test]
    fn only_root_becomes_root_and_a_one_id_map_keeps_the_callers_groups() {
        let map = |size: u32| {
            vec![
                LinuxIdMappingBuilder::default()
                    .container_id(0u32)
                    .host_id(1000u32)
                    .size(size)
                    .build()
                    .unwrap(),
            ]
        };
        let s = spec(&[LinuxNamespaceType::User], |l| {
            l.set_uid_mappings(Some(map(1))).set_gid_mappings(Some(map(1)));
        });
        let plan = LaunchPlan::new(&s, &ext(true, Terminal::Never), USER).unwrap();
        assert!(plan.userns && plan.single_map && !plan.become_root);
        let s = spec(&[LinuxNamespaceType::User], |l| {
            l.set_uid_mappings(Some(map(65536))).set_gid_mappings(Some(map(1)));
        });
        assert!(!LaunchPlan::new(&s, &ext(true, Terminal::Never), USER).unwrap().single_map);
    }

    #[test]
    fn a_cgroup_is_made_only_when_something_needs_it() {
        let pid = [LinuxNamespaceType::Pid];
        let none = LaunchPlan::new(&spec(&pid, |_| {}), &ext(true, Terminal::Never), ROOT).unwrap();
        assert!(!none.cgroup, "init in its own pid namespace, no limits");
        let no_init = LaunchPlan::new(&spec(&pid, |_| {}), &ext(false, Terminal::Never), ROOT).unwrap();
        assert!(no_init.cgroup, "the command as pid 1 may outlive us");
        let host_pid = LaunchPlan::new(&spec(&[], |_| {}), &ext(true, Terminal::Never), ROOT).unwrap();
        assert!(host_pid.cgroup, "the host's pid namespace does not end with init");
        let limited = spec(&pid, |l| {
            let memory = LinuxMemoryBuilder::default().limit(1 << 30).build().unwrap();
            l.set_resources(Some(LinuxResourcesBuilder::default().memory(memory).build().unwrap()));
        });
        assert!(LaunchPlan::new(&limited, &ext(true, Terminal::Never), ROOT).unwrap().cgroup);
        let named = spec(&pid, |l| {
            l.set_cgroups_path(Some("/team/x".into()));
        });
        assert!(LaunchPlan::new(&named, &ext(true, Terminal::Never), ROOT).unwrap().cgroup);
    }

    #[test]
    fn the_child_joins_its_cgroups_first_without_root_or_with_a_cgroupfs() {
        let plain = spec(&[], |_| {});
        assert!(!LaunchPlan::new(&plain, &ext(true, Terminal::Never), ROOT).unwrap().cgroups_first);
        assert!(LaunchPlan::new(&plain, &ext(true, Terminal::Never), USER).unwrap().cgroups_first);
        let mut with_fs = plain.clone();
        with_fs.set_mounts(Some(vec![
            MountBuilder::default().destination("/sys/fs/cgroup").typ("cgroup2").build().unwrap(),
        ]));
        assert!(LaunchPlan::new(&with_fs, &ext(true, Terminal::Never), ROOT).unwrap().cgroups_first);
    }

    #[test]
    fn a_terminal_is_given_as_asked_or_when_stdin_is_one() {
        let s = spec(&[], |_| {});
        let term = |t, caller| LaunchPlan::new(&s, &ext(true, t), caller).unwrap().terminal;
        assert!(term(Terminal::Always, ROOT));
        assert!(!term(Terminal::Never, USER));
        assert!(term(Terminal::Auto, USER));
        assert!(!term(Terminal::Auto, ROOT));
    }

    #[test]
    fn no_network_asked_needs_a_network_namespace_in_the_spec() {
        let isolated = Extension::for_tests();
        let err = LaunchPlan::new(&spec(&[], |_| {}), &isolated, ROOT).unwrap_err();
        assert!(err.to_string().contains("no network namespace"), "{err}");
        let plan = LaunchPlan::new(&spec(&[LinuxNamespaceType::Network], |_| {}), &isolated, ROOT).unwrap();
        assert!(plan.new_net_ns);
    }

    #[test]
    fn a_spec_without_a_linux_section_is_an_error() {
        let s = SpecBuilder::default().build().unwrap();
        let mut s = s;
        s.set_linux(None);
        let err = LaunchPlan::new(&s, &ext(true, Terminal::Never), ROOT).unwrap_err();
        assert!(err.to_string().contains("no linux section"), "{err}");
    }
}
