//! Joining a running sandbox (`sandbox exec`): a new process in all of its
//! namespaces and cgroups, confined as its first process is (ids,
//! capabilities, rlimits, `no_new_privs`, Landlock, seccomp).
//!
//! ```text
//! launcher (single-threaded)
//!  └─ joiner (fork): closes every descriptor but its two, undumpable;
//!     │  writes itself into the sandbox's cgroups, setns(pidfd, all of
//!     │  the sandbox's namespaces) — a new pid namespace applies only to
//!     │  children, so:
//!     └─ process (clone3 with CLONE_PARENT: the launcher's child, so the
//!        launcher can wait for it, or its caller's subreaper reap it):
//!        terminal, ids and capabilities, Landlock, seccomp, execve
//! ```
//!
//! The joiner reports the process's pid; the process reports a failure or
//! closes the socket by executing (close-on-exec), as the setup child does.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::error::SetupError;
use crate::runtime::exit::{Failure, Note, Notes};
use crate::runtime::launch::{Caller, LaunchPlan};
use crate::runtime::process::child;
use crate::runtime::sync::{self, EXIT_SETUP, Message};
use crate::spec::extension::Extension;
use crate::sys;

/// The sandbox to join and the process to run there (`spec.process`).
pub struct Target<'a> {
    pub pid: Pid,
    pub pidfd: BorrowedFd<'a>,
    pub cgroup_dirs: &'a [PathBuf],
    pub spec: &'a Spec,
    pub ext: &'a Extension,
    /// Descriptors 3 .. 3+N of the caller pass into the process.
    pub preserve_fds: u32,
}

/// The new process: the launcher's child, running.
pub struct Joined {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub terminal: Option<OwnedFd>,
}

pub fn spawn(t: &Target, notes: Notes) -> Result<Joined, Failure> {
    crate::runtime::launch::single_threaded()?;
    crate::runtime::refuse::check(t.spec, crate::runtime::refuse::Runner::Container)?;
    let plan = LaunchPlan::new(t.spec, t.ext, Caller::current())?;
    let seccomp = t.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let filters = seccomp.map(crate::runtime::security::seccomp::compile).transpose()?.unwrap_or_default();
    let flags = namespaces_to_join(t.pid)?;
    let (ours, theirs) = sync::pair()?;
    #[allow(unsafe_code)]
    // SAFETY: `single_threaded` checked above that we have one thread.
    let forked = unsafe { sys::process::fork() }.map_err(|e| SetupError::sys("fork the joiner", e))?;
    let Some(joiner) = forked else {
        let preserved = 3..3 + i32::try_from(t.preserve_fds).unwrap_or(0);
        let keep: Vec<i32> = [t.pidfd.as_raw_fd(), theirs.as_raw_fd()].into_iter().chain(preserved).collect();
        if sys::fd::close_all_but(&keep).is_err() {
            sys::process::exit_now(EXIT_SETUP);
        }
        let failure = match join(t, flags, &theirs) {
            Ok(()) => confine_and_exec(&theirs, t, &plan, &filters),
            Err(e) => Failure::Setup(e),
        };
        let code = failure.code();
        let _ = sync::send(theirs.as_fd(), &Message::Failed { code, error: failure.error().clone() }, None);
        sys::process::exit_now(code)
    };
    drop(theirs);
    let reported = reports(&ours, notes);
    let _ = waitpid(joiner, None);
    let (pid, terminal) = reported?;
    let pidfd =
        sys::process::pidfd_open(pid).map_err(|e| SetupError::sys("open the new process's pidfd", e))?;
    Ok(Joined { pid, pidfd, terminal })
}

/// The namespaces of `pid` that differ from ours, by inode.
/// A sandbox's namespaces by inode number, read by its launcher before
/// its pid 1 became undumpable. A caller without `CAP_SYS_PTRACE` can
/// neither read that pid 1's /proc/PID/ns nor setns through its pidfd
/// (both need ptrace access); it joins through another process of the
/// sandbox that has these same namespaces ([`Namespaces::find_member`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Namespaces(pub std::collections::BTreeMap<String, u64>);

/// The namespaces a sandbox has from its clone (its cgroup namespace is
/// made later, by the sandbox itself).
const IDENTIFYING: [&str; 6] = ["user", "mnt", "pid", "net", "ipc", "uts"];

impl Namespaces {
    pub fn of(pid: Pid) -> Namespaces {
        let ino = |name: &str| {
            std::fs::metadata(format!("/proc/{pid}/ns/{name}"))
                .ok()
                .map(|m| (name.to_owned(), std::os::unix::fs::MetadataExt::ino(&m)))
        };
        Namespaces(IDENTIFYING.iter().filter_map(|n| ino(n)).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A process (other than `not`) whose namespaces are all these, and a
    /// pidfd that pins it, checked again once pinned. Which one does not
    /// matter: joining takes only its namespaces. A sandbox process that
    /// makes new namespaces of its own between this check and the setns
    /// could have the joined process land in those, which are nested in
    /// the sandbox's: it is confined as it would have been.
    pub fn find_member(&self, not: Pid) -> Option<(Pid, OwnedFd)> {
        let entries = std::fs::read_dir("/proc").ok()?;
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
            let pid = Pid::from_raw(pid);
            if pid == not || Namespaces::of(pid) != *self {
                continue;
            }
            let Ok(pidfd) = sys::process::pidfd_open(pid) else { continue };
            if Namespaces::of(pid) == *self {
                return Some((pid, pidfd));
            }
        }
        None
    }
}

fn namespaces_to_join(pid: Pid) -> Result<CloneFlags, SetupError> {
    let mut flags = CloneFlags::empty();
    for (name, flag) in [
        ("user", CloneFlags::CLONE_NEWUSER),
        ("mnt", CloneFlags::CLONE_NEWNS),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("net", CloneFlags::CLONE_NEWNET),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("time", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
    ] {
        let theirs = match std::fs::metadata(format!("/proc/{pid}/ns/{name}")) {
            Ok(m) => m,
            // Kernels before 5.6 have no time namespaces.
            Err(_) if name == "time" => continue,
            Err(e) => return Err(SetupError::io(format!("read the sandbox's {name} namespace"), &e)),
        };
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}"))
            .map_err(|e| SetupError::io(format!("read our {name} namespace"), &e))?;
        if std::os::unix::fs::MetadataExt::ino(&theirs) != std::os::unix::fs::MetadataExt::ino(&ours) {
            flags |= flag;
        }
    }
    Ok(flags)
}

/// The joiner: into the cgroups (while their host paths are visible),
/// then every namespace at once through the pidfd, then clone the process
/// and report its pid. Returns only in the process.
fn join(t: &Target, flags: CloneFlags, sock: &OwnedFd) -> Result<(), SetupError> {
    // Nothing of the container may ptrace or read us while we are
    // between the host and it.
    nix::sys::prctl::set_dumpable(false).map_err(|e| SetupError::sys("prctl(PR_SET_DUMPABLE, 0)", e))?;
    for dir in t.cgroup_dirs.iter().filter(|d| d.join("cgroup.procs").exists()) {
        std::fs::write(dir.join("cgroup.procs"), "0")
            .map_err(|e| SetupError::io(format!("join the cgroup {}", dir.display()), &e))?;
    }
    nix::sched::setns(t.pidfd, flags)
        .map_err(|e| SetupError::sys("join the sandbox's namespaces (setns)", e))?;
    #[allow(unsafe_code)]
    // SAFETY: the joiner is a fork of a single-threaded launcher.
    let cloned = unsafe { sys::process::clone3(libc::CLONE_PARENT as u64, None) }
        .map_err(|e| SetupError::sys("clone the process in the sandbox", e))?;
    match cloned {
        sys::process::Cloned::Child => Ok(()),
        sys::process::Cloned::Parent { pid, .. } => {
            let _ = sync::send(sock.as_fd(), &Message::Pid(pid.as_raw()), None);
            sys::process::exit_now(0)
        }
    }
}

/// The process: its terminal, ids, capabilities, Landlock and seccomp, cwd,
/// then execve. Returns only on failure.
fn confine_and_exec(
    sock: &OwnedFd,
    t: &Target,
    plan: &LaunchPlan,
    filters: &[seccompiler::BpfProgram],
) -> Failure {
    child::reset_signal_mask();
    let process = t.spec.process().as_ref().expect("checked by the plan");
    let confined = (|| {
        let terminal = if plan.terminal { Some(child::open_terminal(sock)?) } else { None };
        if let Some(note) = crate::runtime::security::identity::apply(t.spec, plan.single_map)? {
            let _ = sync::send(sock.as_fd(), &Message::Note(note), None);
        }
        nix::unistd::chdir(process.cwd())
            .map_err(|e| SetupError::sys(format!("chdir {}", process.cwd().display()), e))?;
        let landlock = child::confine(sock, t.ext.landlock.as_ref(), filters)?;
        Ok::<_, SetupError>((terminal, landlock))
    })();
    match confined {
        Ok((terminal, landlock)) => child::exec(process, terminal, landlock),
        Err(e) => Failure::Setup(e),
    }
}

/// The process's pid and terminal, or the failure of the joiner or the process.
fn reports(sock: &OwnedFd, notes: Notes) -> Result<(Pid, Option<OwnedFd>), Failure> {
    let (mut pid, mut terminal) = (None, None);
    loop {
        match sync::recv(sock.as_fd()) {
            Ok(Some((Message::Pid(n), _))) => pid = Some(Pid::from_raw(n)),
            Ok(Some((Message::Terminal, fd))) => {
                if let Some(fd) = &fd {
                    crate::runtime::terminal::check_master(fd.as_fd())?;
                }
                terminal = fd;
            }
            Ok(Some((Message::Note(text), _))) => notes(Note::Setup(text)),
            Ok(Some((Message::Failed { code, error }, _))) => return Err(Failure::from_code(code, error)),
            _ => break,
        }
    }
    let pid =
        pid.ok_or_else(|| SetupError::new("join the sandbox").detail("the joiner ended without a report"))?;
    Ok((pid, terminal))
}

/// Wait for a joined process in the foreground (`exec` without
/// `--detach`), relaying its terminal and forwarding signals.
pub fn wait(joined: Joined) -> Result<crate::runtime::exit::Exit, Failure> {
    let running = crate::runtime::supervise::Running {
        pid: joined.pid,
        pidfd: joined.pidfd.as_fd(),
        command_is_pid_1: true,
    };
    let exit = crate::runtime::supervise::wait(&running, joined.terminal, None);
    // Reaped here: a zombie left to whoever adopts it next would hold a
    // pid of the container's cgroup (and its pids.max) until then.
    let _ = nix::sys::wait::waitid(
        nix::sys::wait::Id::PIDFd(joined.pidfd.as_fd()),
        nix::sys::wait::WaitPidFlag::WEXITED,
    );
    exit
}
