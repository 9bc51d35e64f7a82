//! From clone3 to the command: write the id maps, hand over the id-mapped
//! mounts, join the cgroups, say "go" (twice), and read the child's reports
//! until it executes the command. The order is sync.rs's.

use std::os::fd::{AsFd, OwnedFd};

use nix::unistd::Pid;

use crate::error::SetupError;
use crate::runtime::cgroup::Cgroup;
use crate::runtime::exit::{Failure, Note, Notes};
use crate::runtime::launch::LaunchPlan;
use crate::runtime::launch::prepare::{APPARMOR_FIX, apparmor_restricts_userns};
use crate::runtime::process::child::ChildPlan;
use crate::runtime::sync::{self, Message};

/// The sandbox just cloned, as `start` needs it.
pub struct Cloned<'a> {
    pub pid: Pid,
    pub cgroup: Option<&'a Cgroup>,
    pub sock: &'a OwnedFd,
}

/// How far the child got: it executed the command (or, created, waits at
/// its start gate: `ready`), with the terminal's master side when it has one.
pub struct Started {
    pub terminal: Option<OwnedFd>,
    pub ready: bool,
    /// Its namespaces, read while it could still be read (see
    /// [`crate::runtime::join::Namespaces`]).
    pub namespaces: crate::runtime::join::Namespaces,
}

/// What starts the sandbox's network (`nat`) on its namespaces, between
/// the two "go"s: while the child builds its root, before its command.
pub type Network<'a> = &'a mut dyn FnMut(crate::net::stack::Namespaces) -> Result<(), SetupError>;

pub fn start(
    sb: &Cloned,
    plan: &LaunchPlan,
    child: &ChildPlan,
    network: Option<Network<'_>>,
    notes: Notes,
) -> Result<Started, Failure> {
    if plan.userns {
        crate::runtime::security::idmap::write(sb.pid, child.spec, child.ext.subids)
            .map_err(|e| if apparmor_restricts_userns() { e.fix(APPARMOR_FIX) } else { e })?;
    }
    if plan.become_root {
        idmapped_mounts(sb, child, notes)?;
    }
    // Before "go": from then on it is not dumpable, and only root can read
    // its /proc/PID/ns.
    let namespaces = crate::runtime::join::Namespaces::of(sb.pid);
    let net_ns =
        if network.is_some() { Some(open_namespaces(sb.pid, plan.userns, child.spec)?) } else { None };
    let join = || sb.cgroup.map_or(Ok(()), |cg| cg.add(sb.pid.as_raw(), cg.v2_fd().is_some()));
    if plan.cgroups_first {
        join()?;
    }
    sync::send(sb.sock.as_fd(), &Message::Go, None).map_err(|e| SetupError::sys("start the sandbox", e))?;
    if !plan.cgroups_first {
        // Overlapped with the child building its root (see `cgroups_first`).
        join()?;
    }
    if let (Some(network), Some(ns)) = (network, net_ns) {
        network(ns)?;
    }
    // A child that failed meanwhile has closed its end; its report is read below.
    let _ = sync::send(sb.sock.as_fd(), &Message::Go, None);
    reports(sb.sock, notes).map(|started| Started { namespaces, ..started })
}

/// The sandbox's network (and user) namespace, for pasta and nft to join.
fn open_namespaces(
    pid: nix::unistd::Pid,
    userns: bool,
    spec: &oci_spec::runtime::Spec,
) -> Result<crate::net::stack::Namespaces, SetupError> {
    let open = |name: &str| {
        let path = format!("/proc/{pid}/ns/{name}");
        std::fs::File::open(&path).map(OwnedFd::from).map_err(|e| SetupError::io(format!("open {path}"), &e))
    };
    Ok(crate::net::stack::Namespaces {
        net: open("net")?,
        user: if userns { Some(open("user")?) } else { None },
        ping_gid: spec.process().as_ref().map(|p| p.user().gid()),
    })
}

/// A root caller's sandbox sees the caller's directories through its id
/// mapping (only root may make such mounts).
fn idmapped_mounts(sb: &Cloned, child: &ChildPlan, notes: Notes) -> Result<(), SetupError> {
    let linux = child.spec.linux().as_ref().expect("checked by the plan");
    let ids = linux
        .uid_mappings()
        .iter()
        .flatten()
        .find(|m| m.container_id() == 0)
        .map_or(0..0, |m| m.host_id()..m.host_id().saturating_add(m.size()));
    let (trees, made_notes) =
        crate::runtime::rootfs::idmapped::make(sb.pid, &child.root, child.upper_dir, ids)?;
    for note in made_notes {
        notes(Note::Setup(note));
    }
    for (key, tree) in trees {
        sync::send(sb.sock.as_fd(), &Message::Idmapped(key), Some(tree.as_fd()))
            .map_err(|e| SetupError::sys("hand an id-mapped mount to the sandbox", e))?;
    }
    Ok(())
}

/// The child's notes, its terminal, or its failure, until EOF (the command
/// was executed) or "ready" (it waits at its start gate). A child never
/// sends Go or mounts; and if it died before saying anything, its status
/// tells.
fn reports(sock: &OwnedFd, notes: Notes) -> Result<Started, Failure> {
    let mut terminal = None;
    loop {
        match sync::recv(sock.as_fd()) {
            Ok(Some((Message::Note(text), _))) => notes(Note::Setup(text)),
            Ok(Some((Message::Terminal, fd))) => {
                if let Some(fd) = &fd {
                    crate::runtime::terminal::check_master(fd.as_fd())?;
                }
                terminal = fd;
            }
            Ok(Some((Message::Failed { code, error }, _))) => return Err(Failure::from_code(code, error)),
            Ok(Some((Message::Ready, _))) => {
                return Ok(Started {
                    terminal,
                    ready: true,
                    namespaces: crate::runtime::join::Namespaces::default(),
                });
            }
            Ok(None | Some((Message::Go | Message::Idmapped(_) | Message::Pid(_), _))) | Err(_) => {
                return Ok(Started {
                    terminal,
                    ready: false,
                    namespaces: crate::runtime::join::Namespaces::default(),
                });
            }
        }
    }
}
