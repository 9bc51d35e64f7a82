//! The sandbox side, from clone3 to execve. Each line is a named step; the
//! first failure is sent to the launcher as (step, errno, detail, fix) and
//! the process exits.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::error::{Result, SetupError};
use crate::runtime::launch::LaunchPlan;
use crate::runtime::process::init;
use crate::runtime::rootfs::plan::RootPlan;
use crate::runtime::security::identity;
use crate::runtime::sync::{self, EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, EXIT_SETUP, Message};
use crate::runtime::{rootfs, terminal};
use crate::spec::extension::Extension;
use crate::sys;

/// Everything the child needs, prepared by the launcher before clone3.
pub struct ChildPlan<'a> {
    pub spec: &'a Spec,
    pub ext: &'a Extension,
    /// The launch's choices (namespaces, terminal, cgroup order).
    pub launch: &'a LaunchPlan,
    pub root: RootPlan,
    pub seccomp: Vec<seccompiler::BpfProgram>,
    /// The launcher's argument and environment strings, which init overwrites.
    pub args: Option<sys::memory::ArgsRegion>,
    /// The sandbox's own per-user budgets (`ucounts`), set from inside its
    /// user namespace; empty without one.
    pub user_limits: Vec<(&'static str, u64)>,
    /// The persistent upper directory, opened and locked by the launcher.
    pub upper_dir: Option<BorrowedFd<'a>>,
}

/// Never returns: execs the command (or becomes its init), or reports and exits.
pub fn main(sock: OwnedFd, lifeline: &OwnedFd, plan: &ChildPlan) -> ! {
    // Only what the sandbox needs crosses: the caller's other descriptors
    // (a directory is a way back to the host root) and every one the
    // launcher holds are closed before anything else.
    let upper = plan.upper_dir.map(|fd| fd.as_raw_fd());
    let keep = [Some(sock.as_raw_fd()), Some(lifeline.as_raw_fd()), upper];
    if let Err(e) = sys::fd::close_all_but(&keep.into_iter().flatten().collect::<Vec<_>>()) {
        let error = SetupError::sys("close the launcher's descriptors (close_range)", e);
        let _ = sync::send(sock.as_fd(), &Message::Failed { code: EXIT_SETUP, error }, None);
        sys::process::exit_now(EXIT_SETUP);
    }
    match setup(&sock, plan) {
        Ok(command) => {
            // Init keeps no copy of the socket: its EOF tells the launcher
            // that the command was executed.
            drop(sock);
            sys::process::exit_now(init::run(command, lifeline))
        }
        Err((code, error)) => {
            let _ = sync::send(sock.as_fd(), &Message::Failed { code, error }, None);
            sys::process::exit_now(code)
        }
    }
}

fn setup_error(e: SetupError) -> (i32, SetupError) {
    (EXIT_SETUP, e)
}

/// `Ok(pid)`: this process is init and `pid` the command. Exec failures
/// come back as `Err` with their exit code.
fn setup(sock: &OwnedFd, plan: &ChildPlan) -> Result<Pid, (i32, SetupError)> {
    // Die with the launcher. If it died before this line, its end of the
    // socket is closed and the wait below sees EOF (getppid() cannot tell:
    // in a new pid namespace it is always 0).
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| setup_error(SetupError::sys("prctl(PR_SET_PDEATHSIG)", e)))?;
    let mut idmapped = Vec::new();
    if !sync::wait_go(sock, &mut idmapped) {
        sys::process::exit_now(EXIT_SETUP);
    }
    if plan.launch.become_root {
        identity::become_root().map_err(setup_error)?;
    }
    if let Err(e) = crate::runtime::security::ucounts::apply(&plan.user_limits) {
        // A read-only /proc/sys (inside a container, say): say what is not contained.
        let note = format!("{e}: the sandbox can use all of its caller's per-user budgets");
        let _ = sync::send(sock.as_fd(), &Message::Note(note), None);
    }
    prepare_root(plan, idmapped).map_err(setup_error)?;
    // The second "go": we are in all our cgroups now (see the launcher's
    // `start`). Still privileged: the cgroup namespace needs it.
    if !sync::wait_go(sock, &mut Vec::new()) {
        sys::process::exit_now(EXIT_SETUP);
    }
    if !plan.launch.cgroups_first {
        cgroup_namespace(plan).map_err(setup_error)?;
    }
    identity::hostname(plan.spec).map_err(setup_error)?;
    identity::apply(plan.spec, plan.launch.single_map).map_err(setup_error)?;
    let slave = if plan.launch.terminal { Some(open_terminal(sock).map_err(setup_error)?) } else { None };
    if plan.ext.init {
        init::conceal(plan.args).map_err(setup_error)?;
    }
    restrict(sock, plan).map_err(setup_error)?;
    let process = plan.spec.process().as_ref().expect("checked by the launcher");
    let blocked = init::signal_set();
    if plan.ext.init {
        // Out of the caller's session: the terminal's ^C reaches the
        // launcher, which sends it on to the command's process group.
        let _ = nix::unistd::setsid();
        // Block init's signals before the fork so none arrives unhandled.
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), None)
            .map_err(|e| setup_error(SetupError::sys("block signals", e)))?;
        #[allow(unsafe_code)]
        // SAFETY: a clone3 child (no CLONE_THREAD) has exactly one thread.
        let forked = unsafe { sys::process::fork() };
        match forked.map_err(|e| setup_error(SetupError::sys("fork the command", e)))? {
            Some(command) => return Ok(command),
            None => {
                sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&blocked), None)
                    .map_err(|e| setup_error(SetupError::sys("unblock signals", e)))?;
            }
        }
    }
    match &slave {
        Some(slave) => terminal::attach(slave).map_err(setup_error)?,
        // No terminal: a new session, so TIOCSTI cannot reach the caller's.
        None => {
            let _ = nix::unistd::setsid();
        }
    }
    drop(slave);
    sys::signal::default_signal_dispositions();
    Err(exec(process))
}

/// A cgroup namespace whose root is our cgroup: only once the launcher has
/// put us in every cgroup of the sandbox.
fn cgroup_namespace(plan: &ChildPlan) -> Result<()> {
    if plan.launch.new_cgroup_ns {
        unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|e| SetupError::sys("unshare(CLONE_NEWCGROUP)", e))?;
    }
    Ok(())
}

fn prepare_root(plan: &ChildPlan, idmapped: Vec<(String, OwnedFd)>) -> Result<()> {
    if plan.launch.cgroups_first {
        cgroup_namespace(plan)?;
    }
    let cwd = plan.spec.process().as_ref().map_or_else(|| "/".into(), |p| p.cwd().clone());
    let prepared = rootfs::prepare(&plan.root, plan.ext, plan.upper_dir, idmapped)?;
    let caps = plan.spec.process().as_ref().and_then(|p| p.capabilities().as_ref());
    let may_remount = caps.is_some_and(|c| {
        c.bounding().iter().flatten().any(|cap| *cap == oci_spec::runtime::Capability::SysAdmin)
    });
    rootfs::build(&prepared, &plan.root, plan.ext, &cwd, plan.launch.userns, may_remount)?;
    if plan.launch.new_net_ns {
        sys::net::loopback_up().map_err(|e| SetupError::sys("bring up lo", e))?;
    }
    nix::unistd::chdir(&cwd).map_err(|e| SetupError::sys(format!("chdir {}", cwd.display()), e))
}

fn open_terminal(sock: &OwnedFd) -> Result<OwnedFd> {
    let (master, slave) = terminal::open_pty()?;
    sync::send(sock.as_fd(), &Message::Terminal, Some(master.as_fd()))
        .map_err(|e| SetupError::sys("hand the terminal to the launcher", e))?;
    Ok(slave)
}

/// Landlock, then seccomp: the last steps before execve.
fn restrict(sock: &OwnedFd, plan: &ChildPlan) -> Result<()> {
    if let Some(rules) = &plan.ext.landlock {
        let report = crate::runtime::security::landlock::apply(rules)?;
        if !report.skipped.is_empty() {
            let note =
                format!("landlock (best effort, ABI {}): skipped {}", report.abi, report.skipped.join("; "));
            let _ = sync::send(sock.as_fd(), &Message::Note(note), None);
        }
    }
    crate::runtime::security::seccomp::install(&plan.seccomp)
}

/// execvpe with the spec's environment; returns only on failure.
fn exec(process: &oci_spec::runtime::Process) -> (i32, SetupError) {
    // A NUL would end the string early: refused, never dropped (dropping
    // an argument shifts the others).
    let c_strings =
        |what: &str, list: &Option<Vec<String>>| -> std::result::Result<Vec<CString>, (i32, SetupError)> {
            list.iter()
                .flatten()
                .enumerate()
                .map(|(i, s)| {
                    CString::new(s.as_str()).map_err(|_| {
                        let err = SetupError::new("execute the command")
                            .detail(format!("process.{what}[{i}] contains a NUL byte"));
                        (EXIT_SETUP, err)
                    })
                })
                .collect()
        };
    let args = match c_strings("args", process.args()) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let env = match c_strings("env", process.env()) {
        Ok(e) => e,
        Err(e) => return e,
    };
    let Some(program) = args.first() else {
        return (EXIT_SETUP, SetupError::new("execute the command").detail("the spec has no args"));
    };
    // The command's PATH is the sandbox's, not the launcher's.
    let path = env.iter().find_map(|e| e.to_str().ok()?.strip_prefix("PATH=").map(str::to_owned));
    let errno = match resolve_program(program, path.as_deref()) {
        Ok(full) => nix::unistd::execve(&full, &args, &env).unwrap_err(),
        Err(e) => e,
    };
    let name = program.to_string_lossy();
    match errno {
        Errno::ENOENT => (
            EXIT_NOT_FOUND,
            SetupError::sys(format!("execute {name}"), errno).fix("command not found in the sandbox"),
        ),
        _ => (EXIT_CANNOT_EXEC, SetupError::sys(format!("execute {name}"), errno)),
    }
}

/// The program's path: as given when it contains a `/`, else the first
/// executable match in `path`.
fn resolve_program(program: &CString, path: Option<&str>) -> std::result::Result<CString, Errno> {
    let name = program.to_str().map_err(|_| Errno::EINVAL)?;
    if name.contains('/') {
        return Ok(program.clone());
    }
    let mut last = Errno::ENOENT;
    for dir in path.unwrap_or(crate::spec::DEFAULT_PATH).split(':').filter(|d| !d.is_empty()) {
        let candidate = format!("{dir}/{name}");
        match nix::unistd::access(candidate.as_str(), nix::unistd::AccessFlags::X_OK) {
            Ok(()) => return CString::new(candidate).map_err(|_| Errno::EINVAL),
            Err(Errno::ENOENT | Errno::ENOTDIR) => {}
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Unblock everything the launcher blocked (the child inherits its mask).
pub fn reset_signal_mask() {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}
