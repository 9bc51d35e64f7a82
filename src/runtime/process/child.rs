//! The sandbox side, from clone3 to execve. Each line is a named step; the
//! first failure is sent to the launcher as (step, errno, detail, fix) and
//! the process exits.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::error::{Result, SetupError};
use crate::runtime::exit::Failure;
use crate::runtime::launch::LaunchPlan;
use crate::runtime::process::init;
use crate::runtime::rootfs::plan::RootPlan;
use crate::runtime::security::identity;
use crate::runtime::sync::{self, EXIT_SETUP, Message};
use crate::runtime::{rootfs, terminal};
use crate::spec::extension::{Extension, LandlockRules};
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
    /// `create`: the listening socket of the start gate (see `gate.rs`);
    /// `None`: the command starts as soon as it is set up.
    pub gate: Option<BorrowedFd<'a>>,
    /// Descriptors 3 .. 3+N of the launcher cross into the sandbox (runc's
    /// `--preserve-fds`, for socket activation).
    pub preserve_fds: u32,
    /// `linux.sysctl`, checked: (/proc/sys path, value).
    pub sysctl: Vec<(String, String)>,
    /// The namespaces to join (`LaunchPlan::joins`), opened by the
    /// launcher; the pid one it joined itself around clone3.
    pub joins: Vec<(CloneFlags, OwnedFd)>,
}

/// Never returns: execs the command (or becomes its init), or reports and
/// exits. `lifeline`: see `init::run`.
pub fn main(sock: OwnedFd, lifeline: Option<&OwnedFd>, plan: &ChildPlan) -> ! {
    // Only what the sandbox needs crosses: the caller's other descriptors
    // (a directory is a way back to the host root) and every one the
    // launcher holds are closed before anything else.
    let upper = plan.upper_dir.map(|fd| fd.as_raw_fd());
    let gate = plan.gate.map(|fd| fd.as_raw_fd());
    let keep = [Some(sock.as_raw_fd()), lifeline.map(AsRawFd::as_raw_fd), upper, gate];
    let preserved = (3..3 + i32::try_from(plan.preserve_fds).unwrap_or(0)).map(Some);
    let joins = plan.joins.iter().map(|(_, fd)| Some(fd.as_raw_fd()));
    let keep: Vec<_> = keep.into_iter().chain(preserved).chain(joins).flatten().collect();
    if let Err(e) = sys::fd::close_all_but(&keep) {
        let error = SetupError::sys("close the launcher's descriptors (close_range)", e);
        let _ = sync::send(sock.as_fd(), &Message::Failed { code: EXIT_SETUP, error }, None);
        sys::process::exit_now(EXIT_SETUP);
    }
    // After the start gate, reports go to the `start` that opened it.
    let mut sock = sock;
    match setup(&mut sock, plan) {
        Ok(command) => {
            // Init keeps no copy of the socket: its EOF tells the launcher
            // that the command was executed.
            drop(sock);
            sys::process::exit_now(init::run(command, lifeline))
        }
        Err(failure) => {
            let code = failure.code();
            let error = failure.error().clone();
            let _ = sync::send(sock.as_fd(), &Message::Failed { code, error }, None);
            sys::process::exit_now(code)
        }
    }
}

/// The child's script, in three acts. `Ok(pid)`: this process is init and
/// `pid` the command; otherwise it never returns (the command runs in its
/// place) or fails. A created container stops at its start gate between
/// acts two and three, before Landlock and seccomp (which could refuse the
/// gate's system calls).
fn setup(sock: &mut OwnedFd, plan: &ChildPlan) -> std::result::Result<Pid, Failure> {
    build(sock, plan)?;
    // The second "go": we are in all our cgroups now (see the launcher's
    // `start`). Still privileged: the cgroup namespace needs it.
    if !sync::wait_go(&*sock, &mut Vec::new()) {
        sys::process::exit_now(EXIT_SETUP);
    }
    let terminal = become_sandboxed(sock, plan)?;
    if let Some(listener) = plan.gate {
        let process = plan.spec.process().as_ref().expect("checked by the launcher");
        program_path(process)?;
        if let Some(slave) = &terminal {
            // The command's streams are its terminal: let go of create's
            // own (a caller reading them to EOF waits for us otherwise).
            terminal::take_streams(slave)?;
        }
        *sock = super::gate::wait(sock, listener)?;
    }
    let landlock = restrict(sock, plan)?;
    if plan.ext.init {
        if let Some(command) = fork_command()? {
            return Ok(command);
        }
    }
    Err(exec(plan.spec.process().as_ref().expect("checked by the launcher"), terminal, landlock))
}

/// Act one, on the first "go" (the id maps are written, the id-mapped
/// mounts sent): become the namespace's root, set its budgets, build the
/// root.
fn build(sock: &OwnedFd, plan: &ChildPlan) -> Result<()> {
    for (flag, fd) in plan.joins.iter().filter(|(f, _)| *f != CloneFlags::CLONE_NEWPID) {
        nix::sched::setns(fd, *flag).map_err(|e| {
            SetupError::sys(format!("join the namespace {flag:?} (setns)"), e)
                .fix("a namespace the host owns cannot be joined from a new user namespace")
        })?;
    }
    // Init keeps none of them (the launcher's copies, never used again here).
    for (_, fd) in &plan.joins {
        let _ = nix::unistd::close(fd.as_raw_fd());
    }
    // Die with the launcher. If it died before this line, its end of the
    // socket is closed and the wait below sees EOF (getppid() cannot tell:
    // in a new pid namespace it is always 0).
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| SetupError::sys("prctl(PR_SET_PDEATHSIG)", e))?;
    let mut idmapped = Vec::new();
    if !sync::wait_go(sock, &mut idmapped) {
        sys::process::exit_now(EXIT_SETUP);
    }
    // The maps are written: from here until execve (which resets it) no
    // process of the container's (an exec'd one, a pod's neighbour) may
    // read or ptrace this one, which holds the launcher's descriptors and
    // is not yet under Landlock or seccomp.
    nix::sys::prctl::set_dumpable(false).map_err(|e| SetupError::sys("prctl(PR_SET_DUMPABLE, 0)", e))?;
    if plan.launch.become_root {
        identity::become_root()?;
    }
    if let Err(e) = crate::runtime::security::ucounts::apply(&plan.user_limits) {
        // A read-only /proc/sys (inside a container, say): say what is not contained.
        let note = format!("{e}: the sandbox can use all of its caller's per-user budgets");
        let _ = sync::send(sock.as_fd(), &Message::Note(note), None);
    }
    crate::runtime::security::sysctl::apply(&plan.sysctl)?;
    prepare_root(plan, idmapped)
}

/// Act two: the cgroup namespace, the ids and capabilities, the terminal
/// (returned: the command's), init's disguise. Landlock and seccomp follow.
fn become_sandboxed(sock: &OwnedFd, plan: &ChildPlan) -> Result<Option<OwnedFd>> {
    if !plan.launch.cgroups_first {
        cgroup_namespace(plan)?;
    }
    identity::hostname(plan.spec)?;
    if let Some(note) = identity::apply(plan.spec, plan.launch.single_map)? {
        let _ = sync::send(sock.as_fd(), &Message::Note(note), None);
    }
    let terminal = if plan.launch.terminal { Some(open_terminal(sock)?) } else { None };
    if plan.ext.init {
        init::conceal(plan.args)?;
    }
    Ok(terminal)
}

/// Act three, with an init: fork the command. `Some(pid)` in init, `None`
/// in the command, which goes on to exec.
fn fork_command() -> Result<Option<Pid>> {
    // Out of the caller's session: the terminal's ^C reaches the
    // launcher, which sends it on to the command's process group.
    let _ = nix::unistd::setsid();
    // Block init's signals before the fork so none arrives unhandled.
    let blocked = init::signal_set();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), None)
        .map_err(|e| SetupError::sys("block signals", e))?;
    #[allow(unsafe_code)]
    // SAFETY: a clone3 child (no CLONE_THREAD) has exactly one thread.
    let forked = unsafe { sys::process::fork() };
    let command = forked.map_err(|e| SetupError::sys("fork the command", e))?;
    if command.is_none() {
        sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&blocked), None)
            .map_err(|e| SetupError::sys("unblock signals", e))?;
    }
    Ok(command)
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

pub fn open_terminal(sock: &OwnedFd) -> Result<OwnedFd> {
    let (master, slave) = terminal::open_pty()?;
    sync::send(sock.as_fd(), &Message::Terminal, Some(master.as_fd()))
        .map_err(|e| SetupError::sys("hand the terminal to the launcher", e))?;
    Ok(slave)
}

/// Landlock, then seccomp: the last steps before execve.
fn restrict<'a>(sock: &OwnedFd, plan: &ChildPlan<'a>) -> Result<Option<&'a LandlockRules>> {
    confine(sock, plan.ext.landlock.as_ref(), &plan.seccomp)
}

/// Landlock's rules, then the seccomp filters. Returns the rules when
/// their filesystem part is in force: an EACCES from here on may be theirs.
pub fn confine<'a>(
    sock: &OwnedFd,
    landlock: Option<&'a LandlockRules>,
    seccomp: &[seccompiler::BpfProgram],
) -> Result<Option<&'a LandlockRules>> {
    let mut enforced = None;
    if let Some(rules) = landlock {
        let report = crate::runtime::security::landlock::apply(rules)?;
        if !report.skipped.is_empty() {
            let note =
                format!("landlock (best effort, ABI {}): skipped {}", report.abi, report.skipped.join("; "));
            let _ = sync::send(sock.as_fd(), &Message::Note(note), None);
        }
        enforced = Some(rules).filter(|_| report.enforced());
    }
    crate::runtime::security::seccomp::install(seccomp)?;
    Ok(enforced)
}

/// The command's terminal (or a session of its own), default signal
/// dispositions, then execve with the spec's environment; returns only on
/// failure. `landlock`: the rules in force, to tell an EACCES that is theirs.
pub fn exec(
    process: &oci_spec::runtime::Process,
    terminal: Option<OwnedFd>,
    landlock: Option<&LandlockRules>,
) -> Failure {
    match &terminal {
        Some(slave) => {
            if let Err(e) = terminal::attach(slave) {
                return e.into();
            }
        }
        // No terminal: a new session, so TIOCSTI cannot reach the caller's.
        None => {
            let _ = nix::unistd::setsid();
        }
    }
    drop(terminal);
    sys::signal::default_signal_dispositions();
    let (full, args, env) = match program_path(process) {
        Ok(found) => found,
        Err(failure) => return failure,
    };
    let errno = nix::unistd::execve(&full, &args, &env).unwrap_err();
    let failure = exec_failure(&args[0], errno);
    match (failure, landlock) {
        (Failure::CannotExecute(e), Some(rules)) if errno == Errno::EACCES => {
            Failure::CannotExecute(landlock_denied(e, rules, &full))
        }
        (failure, _) => failure,
    }
}

/// An EACCES from execve, with the Landlock list that lacks the program
/// (or its interpreter) when that is the cause.
fn landlock_denied(error: SetupError, rules: &LandlockRules, program: &CString) -> SetupError {
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(program.as_bytes()));
    match crate::runtime::security::landlock::hint::execute(rules, path) {
        Some(denied) => error.detail(denied.detail).fix(denied.fix),
        None => error,
    }
}

/// The command's program, found in the sandbox's PATH, with its arguments
/// and environment as C strings. Also checked by a created container
/// before it waits at its gate, so a missing program fails `create`, as
/// runc's does (clients map that error to 127).
fn program_path(
    process: &oci_spec::runtime::Process,
) -> std::result::Result<(CString, Vec<CString>, Vec<CString>), Failure> {
    let args = c_strings("args", process.args().as_deref())?;
    let env = c_strings("env", process.env().as_deref())?;
    let Some(program) = args.first() else {
        return Err(SetupError::new("execute the command").detail("the spec has no args").into());
    };
    // The command's PATH is the sandbox's, not the launcher's.
    let path = env.iter().find_map(|e| e.to_str().ok()?.strip_prefix("PATH=").map(str::to_owned));
    match resolve_program(program, path.as_deref()) {
        Ok(full) => Ok((full, args, env)),
        Err(errno) => Err(exec_failure(program, errno)),
    }
}

fn exec_failure(program: &CString, errno: Errno) -> Failure {
    let error = SetupError::sys(format!("execute {}", program.to_string_lossy()), errno);
    match errno {
        // runc's words, which podman and containerd recognise.
        Errno::ENOENT => Failure::NotFound(
            error.detail("executable file not found in $PATH").fix("command not found in the sandbox"),
        ),
        _ => Failure::CannotExecute(error),
    }
}

/// A NUL would end the string early: refused, never dropped (dropping an
/// argument shifts the others).
fn c_strings(what: &str, list: Option<&[String]>) -> Result<Vec<CString>> {
    let each = |(i, s): (usize, &String)| {
        CString::new(s.as_str()).map_err(|_| {
            SetupError::new("execute the command").detail(format!("process.{what}[{i}] contains a NUL byte"))
        })
    };
    list.unwrap_or_default().iter().enumerate().map(each).collect()
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
