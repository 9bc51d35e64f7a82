//! Identity and privileges, in the child, after the mounts: hostname, ids,
//! rlimits, capabilities, `no_new_privs` — in that order.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use nix::sys::resource::{Resource, setrlimit};
use nix::unistd::{Gid, Uid, setgroups, sethostname, setresgid, setresuid};
use oci_spec::runtime::{PosixRlimitType, Process, Spec};

use crate::error::{Result, SetupError};
use crate::sys;

pub fn hostname(spec: &Spec) -> Result<()> {
    if let Some(name) = spec.hostname().as_deref().filter(|n| !n.is_empty()) {
        sethostname(name).map_err(|e| SetupError::sys(format!("set hostname {name}"), e))?;
    }
    if let Some(name) = spec.domainname().as_deref().filter(|n| !n.is_empty()) {
        sys::net::set_domainname(name).map_err(|e| SetupError::sys(format!("set domain name {name}"), e))?;
    }
    Ok(())
}

/// The five capability sets the spec gives the process (ours are one list
/// five times; a bundle's may differ, and each is applied as it says).
struct Sets {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

fn sets(process: &Process) -> Result<Sets> {
    let parse = |list: &Option<oci_spec::runtime::Capabilities>| -> Result<CapsHashSet> {
        let names = list.iter().flatten().map(|cap| serde_json::to_value(cap).expect("serializes"));
        names
            .map(|v| {
                let name = v.as_str().unwrap_or_default().to_owned();
                Capability::from_str(&name).map_err(|_| {
                    SetupError::new(format!("keep capability {name}")).detail("unknown to this launcher")
                })
            })
            .collect()
    };
    let Some(c) = process.capabilities() else {
        let none = CapsHashSet::new;
        return Ok(Sets {
            bounding: none(),
            effective: none(),
            permitted: none(),
            inheritable: none(),
            ambient: none(),
        });
    };
    Ok(Sets {
        bounding: parse(c.bounding())?,
        effective: parse(c.effective())?,
        permitted: parse(c.permitted())?,
        inheritable: parse(c.inheritable())?,
        ambient: parse(c.ambient())?,
    })
}

/// Become root of the user namespace (ids 0, no supplementary groups): a
/// root launcher's child starts with host root's ids, which the sandbox's
/// namespace does not map, and could not create a file until it does.
pub fn become_root() -> Result<()> {
    let root = (Uid::from_raw(0), Gid::from_raw(0));
    setgroups(&[]).map_err(|e| SetupError::sys("setgroups [] in the user namespace", e))?;
    setresgid(root.1, root.1, root.1).map_err(|e| SetupError::sys("setresgid 0 in the user namespace", e))?;
    setresuid(root.0, root.0, root.0).map_err(|e| SetupError::sys("setresuid 0 in the user namespace", e))
}

/// Switch to the spec's user, apply rlimits, reduce the capability sets
/// and set `no_new_privs`. Returns a note when an ambient capability could
/// not be raised (see `capabilities`).
pub fn apply(spec: &Spec, userns_single_map: bool) -> Result<Option<String>> {
    let process =
        spec.process().as_ref().ok_or_else(|| SetupError::new("read the spec").detail("no process"))?;
    let user = process.user();
    let (uid, gid) = (Uid::from_raw(user.uid()), Gid::from_raw(user.gid()));
    let keep = sets(process)?;
    if let Some(adj) = process.oom_score_adj() {
        // Before the ids change: lowering it needs CAP_SYS_RESOURCE.
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| SetupError::io(format!("set oom_score_adj {adj}"), &e))?;
    }
    if let Some(mask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    // Capabilities survive the uid change only with keepcaps.
    nix::sys::prctl::set_keepcaps(true).map_err(|e| SetupError::sys("prctl(PR_SET_KEEPCAPS)", e))?;
    let groups: Vec<Gid> = user.additional_gids().iter().flatten().map(|g| Gid::from_raw(*g)).collect();
    if userns_single_map {
        if !groups.is_empty() {
            return Err(SetupError::new("set supplementary groups")
                .detail("a user namespace with a single id mapping cannot have supplementary groups")
                .fix("remove `groups` from the profile's user"));
        }
    } else {
        setgroups(&groups).map_err(|e| SetupError::sys(format!("setgroups {groups:?}"), e))?;
    }
    setresgid(gid, gid, gid).map_err(|e| SetupError::sys(format!("setresgid {gid}"), e))?;
    setresuid(uid, uid, uid).map_err(|e| SetupError::sys(format!("setresuid {uid}"), e))?;
    // A non-zero uid lost its effective set; take it back from permitted
    // for the rlimits and capability calls below.
    let permitted = caps::read(None, CapSet::Permitted)
        .map_err(|e| SetupError::new("read capabilities").detail(e.to_string()))?;
    caps::set(None, CapSet::Effective, &permitted)
        .map_err(|e| SetupError::new("raise effective capabilities").detail(e.to_string()))?;
    rlimits(process)?;
    let note = capabilities(&keep, &permitted)?;
    if process.no_new_privileges().unwrap_or(false) {
        nix::sys::prctl::set_no_new_privs().map_err(|e| SetupError::sys("prctl(PR_SET_NO_NEW_PRIVS)", e))?;
    }
    Ok(note)
}

fn rlimits(process: &Process) -> Result<()> {
    for r in process.rlimits().iter().flatten() {
        let resource = match r.typ() {
            PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
            PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
            PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
            PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
            PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
            PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
            PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
            PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
            PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
            PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
            PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
            PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
            PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
            PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
            PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
            PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
        };
        setrlimit(resource, r.soft(), r.hard()).map_err(|e| {
            SetupError::sys(format!("setrlimit {:?} {}/{}", r.typ(), r.soft(), r.hard()), e)
                .fix("raising a hard limit needs CAP_SYS_RESOURCE, which the launcher may not hold")
        })?;
    }
    Ok(())
}

/// Set the five sets. The kernel raises an ambient capability only when it
/// is permitted and inheritable; a spec asking for others (`runc spec`
/// writes one since inheritable was emptied for CVE-2022-29162) gets them
/// skipped with a note, as runc warns: the process holds less than asked,
/// never more.
fn capabilities(keep: &Sets, held: &CapsHashSet) -> Result<Option<String>> {
    let wanted = keep.permitted.iter().chain(&keep.bounding).chain(&keep.effective);
    if let Some(missing) = wanted.clone().find(|c| !held.contains(c)) {
        return Err(SetupError::new(format!("keep capability {missing}"))
            .detail("the launcher does not hold it")
            .fix("remove it from `security.capabilities`, or run the launcher with it"));
    }
    let fail = |what: &str, e: caps::errors::CapsError| {
        SetupError::new(format!("{what} capabilities")).detail(e.to_string())
    };
    for cap in caps::runtime::thread_all_supported() {
        if !keep.bounding.contains(&cap) {
            // Bounding-set drops need CAP_SETPCAP, still effective here.
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| fail("drop bounding", e))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| fail("clear ambient", e))?;
    caps::set(None, CapSet::Inheritable, &keep.inheritable).map_err(|e| fail("set inheritable", e))?;
    caps::set(None, CapSet::Effective, &keep.effective).map_err(|e| fail("set effective", e))?;
    caps::set(None, CapSet::Permitted, &keep.permitted).map_err(|e| fail("set permitted", e))?;
    let mut skipped = Vec::new();
    for cap in &keep.ambient {
        if !keep.inheritable.contains(cap) || !keep.permitted.contains(cap) {
            skipped.push(cap.to_string());
            continue;
        }
        caps::raise(None, CapSet::Ambient, *cap).map_err(|e| fail(&format!("raise ambient {cap} in"), e))?;
    }
    Ok((!skipped.is_empty()).then(|| {
        format!(
            "ambient capabilities not raised (not both permitted and inheritable): {}",
            skipped.join(", ")
        )
    }))
}
