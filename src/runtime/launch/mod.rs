//! The launcher side: plan, cgroup and watcher, clone3, then `start` (id
//! maps, "go") and the foreground loop ([`crate::runtime::supervise`]),
//! and clean up on every way out. `run` returns only once every process
//! it started has ended: the sandbox's init (whose exit means the kernel
//! has ended its pid namespace) and the watcher.

mod plan;
mod prepare;
mod start;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, OFlag};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

pub use self::plan::{Caller, LaunchPlan};
pub use self::prepare::planned_cgroup_dirs;
use crate::error::SetupError;
use crate::runtime::cgroup::Cgroup;
use crate::runtime::exit::{Exit, Failure, Note, Notes};
use crate::runtime::process::child::{self, ChildPlan};
use crate::runtime::process::watcher::Watcher;
use crate::runtime::refuse::Runner;
use crate::runtime::rootfs::plan::RootPlan;
use crate::runtime::supervise::{self, Running};
use crate::runtime::{process, security, sync};
use crate::spec::Bundle;
use crate::sys::{self, process::Cloned};

/// The sandbox once its command runs, for whoever records it (a named
/// sandbox's state, which `exec`, `kill` and `ps` read).
pub struct Launched {
    pub pid: Pid,
    pub cgroup_dirs: Vec<PathBuf>,
    pub namespaces: crate::runtime::join::Namespaces,
}

/// What `run` calls once the command runs; an error ends the run.
pub type OnStart<'a> = &'a mut dyn FnMut(&Launched) -> Result<(), SetupError>;

/// Run the bundle's sandbox in the foreground, to its end; `notes` hears
/// what best effort skipped and what could not be cleaned up, `on_start`
/// learns its pid 1 and cgroups once the command runs.
///
/// The calling process must be single-threaded (the sandbox and the watcher
/// are forked from it); a library caller with threads gets an error.
pub fn run(bundle: &Bundle, notes: Notes, on_start: OnStart<'_>) -> Result<Exit, Failure> {
    let Held { plan, upper, cgroup, mut watcher, nat } = hold(bundle, Runner::Foreground, notes)?;
    let upper_dir = upper.as_deref().map(AsFd::as_fd);
    let started = Start { cgroup, nat: nat.as_ref() };
    let result = launch(bundle, &plan, started, &mut watcher, upper_dir, notes, on_start);
    if let Some(w) = watcher {
        w.dismiss();
    }
    result
}

/// What the launcher holds before the clone, whichever way it starts the
/// sandbox: the plan, the persistent upper's lock, the cgroup and its
/// watcher, the `nat` network's plan.
struct Held {
    plan: LaunchPlan,
    upper: Option<Flock<OwnedFd>>,
    cgroup: Option<Cgroup>,
    watcher: Option<Watcher>,
    nat: Option<prepare::Nat>,
}

/// What `spawn` starts the sandbox with.
struct Start<'a> {
    cgroup: Option<Cgroup>,
    nat: Option<&'a prepare::Nat>,
}

fn hold(bundle: &Bundle, runner: Runner, notes: Notes) -> Result<Held, Failure> {
    single_threaded()?;
    crate::runtime::refuse::check(&bundle.spec, runner)?;
    if runner == Runner::Container && bundle.ext.network.mode == crate::spec::extension::NetMode::Nat {
        return Err(SetupError::new("create the container")
            .detail("network.mode = \"nat\" needs its user-mode stack for the container's whole life, and `create` leaves no process of ours to hold it")
            .fix("let the OCI client give the container its network, or start it with `sandbox run -d`")
            .into());
    }
    let plan = LaunchPlan::new(&bundle.spec, &bundle.ext, Caller::current())?;
    let nat = prepare::nat(&bundle.ext)?;
    let upper = prepare::lock_upper(&bundle.ext)?;
    let (cgroup, watcher) = if plan.cgroup {
        prepare::cgroup(&bundle.spec, &bundle.ext, &bundle.name, notes)?
    } else {
        (None, None)
    };
    Ok(Held { plan, upper, cgroup, watcher, nat })
}

/// clone3 the sandbox, start it, supervise it, and end it.
fn launch(
    bundle: &Bundle,
    plan: &LaunchPlan,
    start: Start<'_>,
    watcher: &mut Option<Watcher>,
    upper_dir: Option<BorrowedFd<'_>>,
    notes: Notes,
    on_start: OnStart<'_>,
) -> Result<Exit, Failure> {
    let child = child_plan(bundle, plan, upper_dir, None, start.nat)?;
    // Without a pty the command shares the caller's terminal, and may change
    // its settings on its way out (`stty -echo`): they are put back when we
    // return. Saved before the command can run.
    let _terminal =
        if plan.terminal { None } else { crate::runtime::terminal::Restore::save(std::io::stdin().as_fd()) };
    // Block what we forward before the clone, so nothing is lost; the child
    // resets its mask first thing.
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&process::init::signal_set()), None)
        .map_err(|e| SetupError::sys("block signals", e))?;
    // Only we hold the write end: the sandbox's init sees EOF when we are gone.
    let (lifeline, held) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| SetupError::sys("create the lifeline pipe", e))?;
    let (sandbox, started) = spawn(plan, start, watcher, &child, Some(lifeline), notes)?;
    let result = started.and_then(|started| {
        let dirs = sandbox.cgroup.as_ref().map(Cgroup::dirs).unwrap_or_default();
        on_start(&Launched { pid: sandbox.pid, cgroup_dirs: dirs, namespaces: started.namespaces.clone() })?;
        let deadline = bundle.ext.timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
        let running =
            Running { pid: sandbox.pid, pidfd: sandbox.pidfd.as_fd(), command_is_pid_1: !plan.init };
        supervise::wait(&running, started.terminal, deadline)
    });
    drop(held);
    sandbox.finish(result, notes)
}

/// A created container: set up, waiting at its start gate; its launcher
/// may exit. Its cgroups are no longer removed by anyone but `delete`.
pub struct Created {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub cgroup_dirs: Vec<PathBuf>,
    /// The terminal's master side, for the console socket.
    pub terminal: Option<OwnedFd>,
}

/// Create the bundle's sandbox (`sandbox create`): everything `run` does up
/// to the command's exec, which waits for a `start` on `gate`, a listening
/// `SOCK_SEQPACKET` socket (see `process/gate.rs`). `ready` records it
/// before the watcher lets go, so a launcher killed at any moment leaves a
/// record or nothing. Descriptors 3 .. 3+`preserve_fds` cross into it. On
/// failure (`ready`'s too) nothing is left: the sandbox is killed and its
/// cgroups removed.
pub fn create(
    bundle: &Bundle,
    gate: BorrowedFd<'_>,
    preserve_fds: u32,
    notes: Notes,
    ready: &mut dyn FnMut(&Created) -> Result<(), SetupError>,
) -> Result<Created, Failure> {
    let Held { plan, upper, cgroup, mut watcher, nat: _ } = hold(bundle, Runner::Container, notes)?;
    let mut child = child_plan(bundle, &plan, upper.as_deref().map(AsFd::as_fd), Some(gate), None)?;
    child.preserve_fds = preserve_fds;
    let spawned = spawn(&plan, Start { cgroup, nat: None }, &mut watcher, &child, None, notes);
    let (sandbox, started) = match spawned {
        Ok(spawned) => spawned,
        Err(failure) => {
            if let Some(w) = watcher {
                w.dismiss();
            }
            return Err(failure);
        }
    };
    let failure = match started {
        Ok(started) if started.ready => {
            let created = sandbox.keep(started.terminal);
            match ready(&created) {
                Ok(()) => {
                    // From here the container lives on its own: the
                    // watcher must not undo it when we exit.
                    if let Some(w) = watcher {
                        w.release();
                    }
                    return Ok(created);
                }
                Err(e) => {
                    created.destroy();
                    e.into()
                }
            }
        }
        Ok(_) => {
            sandbox.end(notes);
            SetupError::new("create the container").detail("its process ended during setup").into()
        }
        Err(failure) => {
            sandbox.end(notes);
            failure
        }
    };
    if let Some(w) = watcher {
        w.dismiss();
    }
    Err(failure)
}

impl Created {
    /// Undo it: kill its process and remove its cgroups.
    fn destroy(self) {
        let _ = sys::signal::pidfd_kill(self.pidfd.as_fd());
        let _ = waitid(Id::PIDFd(self.pidfd.as_fd()), WaitPidFlag::WEXITED);
        let _ = crate::runtime::cgroup::reopen::destroy(&self.cgroup_dirs);
    }
}

/// clone3 the sandbox and take it through the launcher's side of its setup
/// (`start::start`): to the command's exec, or to its start gate.
fn spawn(
    plan: &LaunchPlan,
    start: Start<'_>,
    watcher: &mut Option<Watcher>,
    child: &ChildPlan,
    lifeline: Option<OwnedFd>,
    notes: Notes,
) -> Result<(Sandbox, Result<start::Started, Failure>), Failure> {
    let (ours, theirs) = sync::pair()?;
    let (pid, pidfd) = clone(plan, start.cgroup.as_ref(), theirs, lifeline.as_ref(), child)?;
    drop(lifeline);
    let mut sandbox = Sandbox { pid, pidfd, cgroup: start.cgroup, stack: None };
    let cloned = start::Cloned { pid, cgroup: sandbox.cgroup.as_ref(), sock: &ours };
    let guarded = if plan.init { Ok(()) } else { prepare::guard_pid_1(watcher, &sandbox.pidfd) };
    let mut stack = None;
    let mut network = |ns| {
        let nat = start.nat.expect("called only with a nat plan");
        stack = Some(prepare::start_nat(nat, &ns, watcher)?);
        Ok(())
    };
    let network: Option<start::Network<'_>> = if start.nat.is_some() { Some(&mut network) } else { None };
    let started =
        guarded.map_err(Failure::from).and_then(|()| start::start(&cloned, plan, child, network, notes));
    sandbox.stack = stack;
    Ok((sandbox, started))
}

/// What the child needs beyond the plan: the root plan and the seccomp
/// filters, made before the clone so a bad spec fails here, in the
/// launcher; the budgets its user namespace gets; the strings init hides.
fn child_plan<'a>(
    bundle: &'a Bundle,
    plan: &'a LaunchPlan,
    upper_dir: Option<BorrowedFd<'a>>,
    gate: Option<BorrowedFd<'a>>,
    nat: Option<&prepare::Nat>,
) -> Result<ChildPlan<'a>, SetupError> {
    let (spec, ext) = (&bundle.spec, &bundle.ext);
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    Ok(ChildPlan {
        spec,
        ext,
        launch: plan,
        root: RootPlan::new(spec, ext, plan.userns, nat.map(|n| &n.plan))?,
        seccomp: seccomp.map(security::seccomp::compile).transpose()?.unwrap_or_default(),
        user_limits: if plan.userns { security::ucounts::halves(seccomp) } else { Vec::new() },
        args: ext.init.then(sys::memory::ArgsRegion::of_self).flatten(),
        upper_dir,
        gate,
        preserve_fds: 0,
        sysctl: security::sysctl::plan(spec)?,
        joins: open_joins(plan)?,
    })
}

/// The namespaces the spec names by path, opened now (a path that is not a
/// namespace of that type is refused by setns later, by name).
fn open_joins(plan: &LaunchPlan) -> Result<Vec<(CloneFlags, OwnedFd)>, SetupError> {
    let open = |(flag, path): &(CloneFlags, PathBuf)| {
        // Non-blocking: a FIFO at that path must not hang the launcher.
        let fd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| SetupError::io(format!("open the namespace {}", path.display()), &e))?;
        Ok((*flag, OwnedFd::from(fd)))
    };
    plan.joins.iter().map(open).collect()
}

/// clone3 into the sandbox's namespaces (and v2 cgroup). The child never
/// returns from here: it becomes the sandbox.
fn clone(
    plan: &LaunchPlan,
    cgroup: Option<&Cgroup>,
    theirs: OwnedFd,
    lifeline: Option<&OwnedFd>,
    child: &ChildPlan,
) -> Result<(Pid, OwnedFd), SetupError> {
    // A new user namespace is bounded, in the caller's accounting, by the
    // soft per-user rlimits at its making: half of ours (see `ucounts`).
    let saved = if plan.userns { security::ucounts::lower_rlimits() } else { Vec::new() };
    // A pid namespace is joined for children only: ours, around clone3.
    let pid_ns = child.joins.iter().find(|(f, _)| *f == CloneFlags::CLONE_NEWPID).map(|(_, fd)| fd);
    let ours = match pid_ns {
        Some(fd) => Some(join_pid_namespace(fd)?),
        None => None,
    };
    #[allow(unsafe_code)]
    // SAFETY: `run` checked that this process has one thread.
    let cloned = unsafe { sys::process::clone3(plan.clone_flags, cgroup.and_then(Cgroup::v2_fd)) };
    if let Ok(Cloned::Child) = cloned {
        child::reset_signal_mask();
        child::main(theirs, lifeline, child)
    }
    security::ucounts::restore_rlimits(&saved);
    if let Some(ours) = ours {
        nix::sched::setns(ours, CloneFlags::CLONE_NEWPID)
            .map_err(|e| SetupError::sys("return to our pid namespace (setns)", e))?;
    }
    match cloned {
        Ok(Cloned::Parent { pid, pidfd }) => Ok((pid, pidfd)),
        Ok(Cloned::Child) => unreachable!("the child became the sandbox above"),
        Err(e) => Err(SetupError::sys("clone3", e).fix(prepare::clone_fix(e, plan.userns))),
    }
}

/// Make our children's pid namespace `target`; returns our own, to go back to.
fn join_pid_namespace(target: &OwnedFd) -> Result<OwnedFd, SetupError> {
    let ours = std::fs::File::open("/proc/self/ns/pid_for_children")
        .map_err(|e| SetupError::io("open our pid namespace", &e))?;
    nix::sched::setns(target, CloneFlags::CLONE_NEWPID)
        .map_err(|e| SetupError::sys("join the spec's pid namespace (setns)", e))?;
    Ok(OwnedFd::from(ours))
}

/// clone3 and fork copy only the calling thread: a lock another thread held
/// (the allocator's) would never be released in the copy. /proc/self/stat's
/// 20th field is the thread count.
pub(crate) fn single_threaded() -> Result<(), SetupError> {
    let step = "check that the launcher is single-threaded";
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| SetupError::io(step, &e))?;
    let threads = stat
        .rfind(')')
        .and_then(|end| stat[end + 2..].split(' ').nth(17))
        .and_then(|n| n.parse::<u32>().ok());
    match threads {
        Some(1) => Ok(()),
        Some(n) => Err(SetupError::new(step)
            .detail(format!("{n} threads"))
            .fix("start sandboxes from a single-threaded process (fork one first)")),
        None => Err(SetupError::new(step).detail("no thread count in /proc/self/stat")),
    }
}

/// The running sandbox; killed, waited for, and its cgroup removed when
/// finished, then its network stack stopped.
struct Sandbox {
    pid: Pid,
    pidfd: OwnedFd,
    cgroup: Option<Cgroup>,
    stack: Option<crate::net::stack::Stack>,
}

impl Sandbox {
    fn finish(self, result: Result<Exit, Failure>, notes: Notes) -> Result<Exit, Failure> {
        let oom = self.end(notes);
        match result {
            Ok(Exit::Code(code)) if oom => Ok(Exit::OutOfMemory(code)),
            other => other,
        }
    }

    /// Kill it, wait for it, remove its cgroup; whether it ran out of memory.
    fn end(self, notes: Notes) -> bool {
        if let Some(stack) = &self.stack {
            stack.kill();
        }
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitid(Id::PIDFd(self.pidfd.as_fd()), WaitPidFlag::WEXITED);
        let oom = self.cgroup.as_ref().is_some_and(Cgroup::oom_killed);
        if let Some(cg) = self.cgroup {
            if let Err(e) = cg.remove() {
                notes(Note::Cleanup(e));
            }
        }
        drop(self.stack);
        oom
    }

    /// Leave it running, its cgroups in place.
    fn keep(self, terminal: Option<OwnedFd>) -> Created {
        let cgroup_dirs = self.cgroup.map(Cgroup::keep).unwrap_or_default();
        Created { pid: self.pid, pidfd: self.pidfd, cgroup_dirs, terminal }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_launcher_with_threads_is_refused() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        let err = super::single_threaded().expect_err("two threads at least");
        assert!(err.to_string().contains("threads"), "{err}");
        drop(tx);
        let _ = other.join();
    }
}
