//! `exec`: run another process in a created or running container, joined
//! to its namespaces and cgroups and confined as its first process is
//! (runtime/join.rs). The process is runc's: `--process FILE` whole, or
//! the container's own process with new args, `--env` added, `--cwd`,
//! `--user` and `--tty` replacing its values.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use super::Container;
use super::state::Status;
use crate::error::{Result, SetupError};
use crate::runtime::exit::{Failure, Notes};
use crate::runtime::join::{self, Joined, Target};
use crate::spec::extension::Terminal;

/// The largest process.json read.
const MAX_PROCESS: u64 = 1 << 20;

/// How the process differs from the container's own (runc's flags).
#[derive(Debug, Default)]
pub struct ProcessArgs {
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub tty: bool,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// `UID[:GID]`.
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    /// Set `no_new_privs` even when the container's process has not.
    pub no_new_privs: bool,
    /// Descriptors 3 .. 3+N pass into the process.
    pub preserve_fds: u32,
    /// Capabilities added to every set (runc's `--cap`).
    pub caps: Vec<String>,
}

/// Start the process in container `c`; it runs as the caller's child.
/// The container's lock is let go before the process is started: the
/// container could stop it short of its exec (SIGSTOP), and `state`,
/// `kill` and `delete` must still work then. The pidfd pins its process.
pub fn exec(c: Container, how: &ProcessArgs, notes: Notes) -> std::result::Result<Joined, Failure> {
    let status = c.record.current_status();
    if !matches!(status, Status::Created | Status::Running) {
        return Err(SetupError::new(format!("exec in container {}", c.record.id))
            .detail(format!("it is {}", status.name()))
            .into());
    }
    let mut spec = c.spec()?;
    let base = spec.process().clone().unwrap_or_default();
    let process = process_for(&base, how)?;
    let mut ext = crate::spec::dir::extension_of(&spec)
        .map_err(|e| SetupError::new("read the container's annotations").detail(e))?;
    ext.terminal = if process.terminal().unwrap_or(false) { Terminal::Always } else { Terminal::Never };
    ext.init = false;
    spec.set_process(Some(process));
    let (pid, pidfd) = join_through(&c)?;
    if !c.record.process.alive() {
        return Err(SetupError::new(format!("exec in container {}", c.record.id))
            .detail("it has stopped")
            .into());
    }
    let cgroup_dirs = c.record.cgroup_dirs.clone();
    drop(c);
    let target = Target {
        pid,
        pidfd: pidfd.as_fd(),
        cgroup_dirs: &cgroup_dirs,
        spec: &spec,
        ext: &ext,
        preserve_fds: how.preserve_fds,
    };
    join::spawn(&target, notes)
}

/// The process whose namespaces to join, pinned: the container's pid 1,
/// or, when we may not read it (rootless: it is not dumpable), a process
/// of the container with the namespaces it was started with.
fn join_through(c: &Container) -> Result<(nix::unistd::Pid, std::os::fd::OwnedFd)> {
    let id = &c.record.id;
    let pid = nix::unistd::Pid::from_raw(c.record.process.pid);
    let readable = std::fs::metadata(format!("/proc/{pid}/ns/user")).is_ok();
    if readable || c.record.namespaces.is_empty() {
        let pidfd = crate::sys::process::pidfd_open(pid)
            .map_err(|e| SetupError::sys(format!("open the process of container {id}"), e))?;
        return Ok((pid, pidfd));
    }
    c.record.namespaces.find_member(pid).ok_or_else(|| {
        SetupError::new(format!("exec in container {id}"))
            .detail("its pid 1 cannot be joined without CAP_SYS_PTRACE, and no other process of it can be")
            .fix("run `sandbox exec` as root, or keep a process of the sandbox's own running in it")
    })
}

fn process_for(base: &Process, how: &ProcessArgs) -> Result<Process> {
    let mut p = match &how.process_file {
        Some(path) => read_process(path)?,
        None => with_args(base, how)?,
    };
    if how.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    add_caps(&mut p, &how.caps)?;
    Ok(p)
}

/// The container's process with runc's flags applied.
fn with_args(base: &Process, how: &ProcessArgs) -> Result<Process> {
    let mut p = base.clone();
    if how.args.is_empty() {
        return Err(SetupError::new("exec")
            .detail("no command given")
            .fix("give the command after the id, or --process FILE"));
    }
    p.set_args(Some(how.args.clone()));
    p.set_terminal(Some(how.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for pair in &how.env {
        let key = pair.split_once('=').map_or(pair.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(pair.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &how.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(user) = &how.user {
        let (uid, gid) = parse_user(user)?;
        let mut u = p.user().clone();
        u.set_uid(uid);
        u.set_gid(gid.unwrap_or(uid));
        if !how.additional_gids.is_empty() {
            u.set_additional_gids(Some(how.additional_gids.clone()));
        }
        p.set_user(u);
    }
    Ok(p)
}

/// `UID` or `UID:GID`, numbers only: names would be looked up in the
/// container's /etc/passwd, which the container controls.
pub fn parse_user(text: &str) -> Result<(u32, Option<u32>)> {
    let bad = || {
        SetupError::new("read --user")
            .detail(format!("{text:?} is not UID[:GID]"))
            .fix("give numeric ids, e.g. --user 1000:1000")
    };
    let (u, g) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    let uid = u.parse().map_err(|_| bad())?;
    let gid = g.map(str::parse).transpose().map_err(|_| bad())?;
    Ok((uid, gid))
}

/// `--cap NAME`: into the bounding, effective, permitted, inheritable and
/// ambient sets.
fn add_caps(p: &mut Process, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let mut caps = p.capabilities().clone().unwrap_or_default();
    for name in names {
        let full = if name.to_ascii_uppercase().starts_with("CAP_") {
            name.to_ascii_uppercase()
        } else {
            format!("CAP_{}", name.to_ascii_uppercase())
        };
        let cap: oci_spec::runtime::Capability = serde_json::from_value(serde_json::Value::String(full))
            .map_err(|_| {
                SetupError::new("read --cap")
                    .detail(format!("{name:?} is not a capability"))
                    .fix("give a name such as CAP_NET_ADMIN")
            })?;
        let add = |set: Option<&std::collections::HashSet<oci_spec::runtime::Capability>>| {
            let mut set = set.cloned().unwrap_or_default();
            set.insert(cap);
            Some(set)
        };
        caps.set_bounding(add(caps.bounding().as_ref()));
        caps.set_effective(add(caps.effective().as_ref()));
        caps.set_permitted(add(caps.permitted().as_ref()));
        caps.set_inheritable(add(caps.inheritable().as_ref()));
        caps.set_ambient(add(caps.ambient().as_ref()));
    }
    p.set_capabilities(Some(caps));
    Ok(())
}

fn read_process(path: &Path) -> Result<Process> {
    let step = || format!("read {}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| SetupError::io(step(), &e))?;
    if meta.len() > MAX_PROCESS {
        return Err(SetupError::new(step()).detail("larger than 1 MiB"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| SetupError::io(step(), &e))?;
    serde_json::from_str(&text).map_err(|e| SetupError::new(step()).detail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_takes_the_containers_process_and_changes_what_it_is_told() {
        let mut base = Process::default();
        base.set_env(Some(vec!["PATH=/bin".into(), "A=1".into()]));
        let how = ProcessArgs {
            args: vec!["sh".into()],
            env: vec!["A=2".into(), "B=3".into()],
            user: Some("1000:100".into()),
            cwd: Some("/tmp".into()),
            tty: true,
            ..ProcessArgs::default()
        };
        let p = process_for(&base, &how).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["sh".to_owned()][..]));
        assert_eq!(p.env().as_deref().unwrap(), &["PATH=/bin", "A=2", "B=3"]);
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 100));
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!(p.terminal(), Some(true));
        assert!(process_for(&base, &ProcessArgs::default()).is_err(), "no command");
    }

    #[test]
    fn users_are_numbers() {
        assert_eq!(parse_user("0").unwrap(), (0, None));
        assert_eq!(parse_user("1000:100").unwrap(), (1000, Some(100)));
        for bad in ["root", "1000:", ":1", "-1", "1:2:3"] {
            assert!(parse_user(bad).is_err(), "{bad}");
        }
    }
}
