//! Writing the sandbox's uid and gid maps, from the launcher. Root writes
//! any maps itself (a root caller's sandbox maps a whole unprivileged
//! range), leaving setgroups allowed: the sandbox then sets its own groups
//! and drops root's. Without root, a single mapping (the caller's own ids)
//! is written directly after denying setgroups, as the kernel requires of
//! an unprivileged writer; subordinate ids go through the setuid helpers
//! newuidmap and newgidmap, after checking /etc/subuid and /etc/subgid.

use std::fmt::Write as _;
use std::process::Command;

use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, Spec};

use crate::error::{Result, SetupError};

pub fn write(pid: Pid, spec: &Spec, subids: bool) -> Result<()> {
    let linux =
        spec.linux().as_ref().ok_or_else(|| SetupError::new("write id maps").detail("no linux section"))?;
    let uids = linux.uid_mappings().clone().unwrap_or_default();
    let gids = linux.gid_mappings().clone().unwrap_or_default();
    let proc = format!("/proc/{pid}");
    let direct = |file: &str, text: &str| {
        std::fs::write(format!("{proc}/{file}"), text)
            .map_err(|e| SetupError::io(format!("write {proc}/{file}"), &e))
    };
    if nix::unistd::geteuid().is_root() {
        direct("uid_map", &lines(&uids))?;
        return direct("gid_map", &lines(&gids));
    }
    if !subids {
        direct("setgroups", "deny")?;
        direct("uid_map", &lines(&uids))?;
        return direct("gid_map", &lines(&gids));
    }
    if uids.len() < 2 || gids.len() < 2 {
        let who = nix::unistd::geteuid();
        return Err(SetupError::new("map subordinate ids")
            .detail(format!("uid {who} has no range in /etc/subuid or /etc/subgid"))
            .fix(format!(
                "add one: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 <user of uid {who}>"
            )));
    }
    helper("newuidmap", pid, &uids)?;
    helper("newgidmap", pid, &gids)
}

fn lines(maps: &[LinuxIdMapping]) -> String {
    maps.iter().fold(String::new(), |mut text, m| {
        let _ = writeln!(text, "{} {} {}", m.container_id(), m.host_id(), m.size());
        text
    })
}

/// `newuidmap PID inside outside count ...`.
fn helper(name: &str, pid: Pid, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = Command::new(name);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container_id().to_string(), m.host_id().to_string(), m.size().to_string()]);
    }
    let out = cmd.output().map_err(|e| {
        let err = SetupError::io(format!("run {name}"), &e);
        if e.kind() == std::io::ErrorKind::NotFound {
            err.fix(format!("{name} is missing: install the uidmap package (apt-get install uidmap)"))
        } else {
            err
        }
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(SetupError::new(format!("run {name}"))
        .detail(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        .fix("check the caller's ranges in /etc/subuid and /etc/subgid"))
}
