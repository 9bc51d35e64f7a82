//! The launcher side: cgroup and watcher, clone3, id maps, "go", then the
//! foreground loop ([`crate::runtime::supervise`]), and clean up on every way out.
//! `run` returns only once every process it started has ended: the
//! sandbox's init (whose exit means the kernel has ended its pid namespace)
//! and the watcher.

use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::stat::Mode;
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::SetupError;
use crate::runtime::cgroup::{Cgroup, Hierarchies, Options};
use crate::runtime::process::child::{self, ChildPlan};
use crate::runtime::process::watcher::Watcher;
use crate::runtime::supervise::{self, Running};
use crate::runtime::sync::{self, EXIT_SETUP, Message};
use crate::spec::Bundle;
use crate::spec::extension::{Extension, Terminal, WritableSpec};
use crate::sys::{self, process::Cloned};

/// The sandbox's end: its exit code, or a failure with the code to exit with.
pub type Outcome = Result<i32, (i32, SetupError)>;

fn fail(e: SetupError) -> (i32, SetupError) {
    (EXIT_SETUP, e)
}

/// Run the bundle's sandbox in the foreground, to its end.
///
/// The calling process must be single-threaded (the sandbox and the watcher
/// are forked from it); a library caller with threads gets an error.
pub fn run(bundle: &Bundle) -> Outcome {
    let (spec, ext, name) = (&bundle.spec, &bundle.ext, bundle.name.as_str());
    single_threaded().map_err(fail)?;
    crate::runtime::refuse::check(spec).map_err(fail)?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| fail(SetupError::new("read the spec").detail("no linux section")))?;
    let has = |t: LinuxNamespaceType| linux.namespaces().iter().flatten().any(|n| n.typ() == t);
    let upper = lock_upper(ext).map_err(fail)?;
    let (cgroup, mut watcher) = make_cgroup(linux, ext, name, has(LinuxNamespaceType::Pid)).map_err(fail)?;
    let result = launch(spec, ext, cgroup, &mut watcher, upper.as_deref().map(AsFd::as_fd));
    if let Some(w) = watcher {
        w.dismiss();
    }
    result
}

/// clone3 the sandbox, start it, supervise it, and end it.
fn launch(
    spec: &Spec,
    ext: &Extension,
    cgroup: Option<Cgroup>,
    watcher: &mut Option<Watcher>,
    upper_dir: Option<BorrowedFd<'_>>,
) -> Outcome {
    let ops = crate::runtime::rootfs::plan::plan(spec).map_err(fail)?;
    let linux = spec.linux().as_ref().expect("checked by run");
    let seccomp = match linux.seccomp() {
        Some(s) => crate::runtime::security::seccomp::compile(s).map_err(fail)?,
        None => Vec::new(),
    };
    let has = |t: LinuxNamespaceType| linux.namespaces().iter().flatten().any(|n| n.typ() == t);
    let userns = has(LinuxNamespaceType::User);
    let plan = ChildPlan {
        spec,
        ext,
        ops: &ops,
        seccomp: &seccomp,
        new_cgroup_ns: has(LinuxNamespaceType::Cgroup),
        cgroups_first: child::joins_cgroups_first(spec),
        new_net_ns: has(LinuxNamespaceType::Network),
        userns,
        single_map: userns && single_id(linux),
        become_root: userns && nix::unistd::geteuid().is_root(),
        user_limits: if userns {
            crate::runtime::security::ucounts::halves(linux.seccomp().as_ref())
        } else {
            Vec::new()
        },
        terminal: match ext.terminal {
            Terminal::Always => true,
            Terminal::Auto => std::io::stdin().is_terminal(),
            Terminal::Never => false,
        },
        args: ext.init.then(sys::memory::ArgsRegion::of_self).flatten(),
        upper_dir,
    };
    // Without a pty the command shares the caller's terminal, and may change
    // its settings on its way out (`stty -echo`): they are put back when we
    // return. Saved before the command can run.
    let _terminal =
        if plan.terminal { None } else { crate::runtime::terminal::Restore::save(std::io::stdin().as_fd()) };
    // Block what we forward before the clone, so nothing is lost; the child
    // resets its mask first thing.
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&crate::runtime::process::init::signal_set()), None)
        .map_err(|e| fail(SetupError::sys("block signals", e)))?;
    let (ours, theirs) = sync::pair().map_err(fail)?;
    // Only we hold the write end: the sandbox's init sees EOF when we are gone.
    let (lifeline, held) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| fail(SetupError::sys("create the lifeline pipe", e)))?;
    // A new user namespace is bounded, in the caller's accounting, by the
    // soft per-user rlimits at its making: half of ours (see `ucounts`).
    let saved = if userns { crate::runtime::security::ucounts::lower_rlimits() } else { Vec::new() };
    #[allow(unsafe_code)]
    // SAFETY: `run` checked that this process has one thread.
    let cloned = unsafe { sys::process::clone3(clone_flags(linux), cgroup.as_ref().and_then(Cgroup::v2_fd)) };
    let (pid, pidfd) = match cloned {
        Ok(Cloned::Child) => {
            child::reset_signal_mask();
            child::main(theirs, &lifeline, &plan)
        }
        Ok(Cloned::Parent { pid, pidfd }) => {
            crate::runtime::security::ucounts::restore_rlimits(&saved);
            (pid, pidfd)
        }
        Err(e) => {
            crate::runtime::security::ucounts::restore_rlimits(&saved);
            let err = SetupError::sys("clone3", e).fix(clone_fix(e, userns));
            return Err(fail(err));
        }
    };
    drop((theirs, lifeline));
    let sandbox = Sandbox { pid, pidfd, cgroup };
    let result = guard_pid_1(ext, &sandbox, watcher)
        .map_err(fail)
        .and_then(|()| start(&sandbox, spec, ext, &ours, &plan));
    let result = result.and_then(|master| {
        let deadline = ext.timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
        let running = Running { pid: sandbox.pid, pidfd: sandbox.pidfd.as_fd(), command_is_pid_1: !ext.init };
        supervise::wait(&running, master, deadline)
    });
    drop(held);
    sandbox.finish(result)
}

/// Whether the user namespace maps one id only (the caller's own): then
/// setgroups is denied and the sandbox keeps the caller's groups.
fn single_id(linux: &oci_spec::runtime::Linux) -> bool {
    let one = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| matches!(maps.as_deref(), Some([m]) if m.size() == 1);
    one(linux.uid_mappings()) && one(linux.gid_mappings())
}

/// clone3 and fork copy only the calling thread: a lock another thread held
/// (the allocator's) would never be released in the copy. /proc/self/stat's
/// 20th field is the thread count.
fn single_threaded() -> Result<(), SetupError> {
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

/// The namespaces clone3 makes (a mount namespace always).
fn clone_flags(linux: &oci_spec::runtime::Linux) -> u64 {
    let has = |t: LinuxNamespaceType| linux.namespaces().iter().flatten().any(|n| n.typ() == t);
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

/// A command that is pid 1 itself (no init of ours) is tied to us only by
/// its parent-death signal, which it may clear: the watcher kills it
/// through its pidfd if we die. Forked after clone3 when no cgroup needed
/// one before, and before "go", so no command runs unwatched.
fn guard_pid_1(ext: &Extension, sandbox: &Sandbox, watcher: &mut Option<Watcher>) -> Result<(), SetupError> {
    if ext.init {
        return Ok(());
    }
    if watcher.is_none() {
        *watcher = Some(crate::runtime::process::watcher::spawn(&[])?);
    }
    watcher.as_ref().expect("just made").kill_too(sandbox.pidfd.as_fd())
}

/// The persistent upper directory, opened and locked for as long as the
/// sandbox runs: overlayfs must not have one upper in two mounts ("upperdir
/// is in-use ... undefined behavior"). The lock is the directory's own
/// (flock), held by us and by the sandbox's init, so it is released only
/// when both are gone; a second sandbox is refused at once. The directory
/// itself may not be a symlink (the repository a profile lives in could
/// point it anywhere).
fn lock_upper(ext: &Extension) -> Result<Option<Flock<OwnedFd>>, SetupError> {
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

/// The sandbox's cgroup and the watcher that removes it if we die. Neither
/// when nothing needs them: no limits, no chosen `cgroupsPath`, a pid
/// namespace of its own, whose end the kernel makes final (every process in
/// it is killed when its init dies, as the cgroup's kill would do), and our
/// init as its pid 1, which kills the command when we die (its lifeline).
fn make_cgroup(
    linux: &oci_spec::runtime::Linux,
    ext: &Extension,
    name: &str,
    own_pid_ns: bool,
) -> Result<(Option<Cgroup>, Option<Watcher>), SetupError> {
    let resources = linux.resources().as_ref();
    if ext.init && own_pid_ns && linux.cgroups_path().is_none() && !Cgroup::wanted(resources) {
        return Ok((None, None));
    }
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
    let early =
        if planned.is_empty() { None } else { Some(crate::runtime::process::watcher::spawn(&planned)?) };
    opts.companions.extend(early.as_ref().map(|w| w.pid().as_raw()));
    let created = Cgroup::create_in(&hierarchies, resources, &opts);
    let (cgroup, skipped) = match created {
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
        eprintln!("sandbox: limits (best effort): skipped {line}");
    }
    let watcher = match (early, &cgroup) {
        (Some(w), _) => Some(w),
        (None, Some(cg)) => Some(crate::runtime::process::watcher::spawn(&cg.dirs())?),
        (None, None) => None,
    };
    Ok((cgroup, watcher))
}

fn clone_fix(e: nix::errno::Errno, userns: bool) -> &'static str {
    match e {
        _ if userns && apparmor_restricts_userns() => APPARMOR_FIX,
        nix::errno::Errno::EPERM | nix::errno::Errno::ENOSPC if userns => {
            "user namespaces are disabled or exhausted: raise them with `sysctl -w user.max_user_namespaces=15000`"
        }
        nix::errno::Errno::EPERM => "creating namespaces needs root or a user namespace",
        _ => "the kernel refused the namespaces this profile asks for",
    }
}

const APPARMOR_FIX: &str = "AppArmor restricts unprivileged user namespaces \
     (kernel.apparmor_restrict_unprivileged_userns = 1): allow sandbox with an AppArmor profile granting `userns`, \
     or set the sysctl to 0";

/// Ubuntu's `AppArmor` switch that lets the clone succeed and then denies
/// what the namespace is for.
fn apparmor_restricts_userns() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
        .is_ok_and(|v| v.trim() == "1")
}

/// The running sandbox; killed, waited for, and its cgroup removed when finished.
struct Sandbox {
    pid: Pid,
    pidfd: OwnedFd,
    cgroup: Option<Cgroup>,
}

impl Sandbox {
    fn finish(self, result: Outcome) -> Outcome {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitid(Id::PIDFd(self.pidfd.as_fd()), WaitPidFlag::WEXITED);
        let oom = self.cgroup.as_ref().is_some_and(Cgroup::oom_killed);
        if let Some(cg) = self.cgroup {
            if let Err(e) = cg.remove() {
                eprintln!("sandbox: {e}");
            }
        }
        match result {
            Ok(code) if oom => {
                eprintln!(
                    "sandbox: out of memory: the sandbox hit its memory limit and the kernel killed it"
                );
                Ok(if code == 0 { 137 } else { code })
            }
            other => other,
        }
    }
}

/// Write the id maps, join the cgroups, say "go" (twice), and read the
/// child's reports until it executes the command; returns the terminal's
/// master side when the sandbox has one.
fn start(
    sb: &Sandbox,
    spec: &Spec,
    ext: &Extension,
    sock: &OwnedFd,
    plan: &ChildPlan,
) -> Result<Option<OwnedFd>, (i32, SetupError)> {
    if plan.userns {
        crate::runtime::security::idmap::write(sb.pid, spec, ext.subids).map_err(|e| {
            let e = if apparmor_restricts_userns() { e.fix(APPARMOR_FIX) } else { e };
            fail(e)
        })?;
    }
    // A root caller's sandbox sees the caller's directories through its id
    // mapping (only root may make such mounts).
    if plan.userns && nix::unistd::geteuid().is_root() {
        let linux = spec.linux().as_ref().expect("checked by run");
        let ids = linux
            .uid_mappings()
            .iter()
            .flatten()
            .find(|m| m.container_id() == 0)
            .map_or(0..0, |m| m.host_id()..m.host_id().saturating_add(m.size()));
        let (trees, notes) =
            crate::runtime::rootfs::idmapped::make(sb.pid, ext, plan.ops, plan.upper_dir, ids)
                .map_err(fail)?;
        for note in notes {
            eprintln!("sandbox: {note}");
        }
        for (key, tree) in trees {
            sync::send(sock.as_fd(), &Message::Idmapped(key), Some(tree.as_fd()))
                .map_err(|e| fail(SetupError::sys("hand an id-mapped mount to the sandbox", e)))?;
        }
    }
    // Joining a v1 cgroup (clone3 placed the child in the v2 one) waits for
    // an RCU grace period, often several milliseconds, so it overlaps the
    // child building its root: the child waits for the second "go" before
    // it makes its cgroup namespace, restricts itself and starts the
    // command. Not when the root mounts a cgroupfs (it must see the new
    // namespace), nor without root (the write to a v1 cgroup.procs must
    // come before the child changes its ids).
    let join = || sb.cgroup.as_ref().map_or(Ok(()), |cg| cg.add(sb.pid.as_raw(), cg.v2_fd().is_some()));
    let overlap = !plan.cgroups_first;
    if !overlap {
        join().map_err(fail)?;
    }
    sync::send(sock.as_fd(), &Message::Go, None)
        .map_err(|e| fail(SetupError::sys("start the sandbox", e)))?;
    if overlap {
        join().map_err(fail)?;
    }
    // A child that failed meanwhile has closed its end; its report is read below.
    let _ = sync::send(sock.as_fd(), &Message::Go, None);
    let mut master = None;
    loop {
        match sync::recv(sock.as_fd()) {
            Ok(Some((Message::Note(text), _))) => eprintln!("sandbox: {text}"),
            Ok(Some((Message::Terminal, fd))) => master = fd,
            Ok(Some((Message::Failed { code, error }, _))) => return Err((code, error)),
            // EOF: the command was executed. A child never sends Go or
            // mounts; and if it died before saying anything, its status tells.
            Ok(None | Some((Message::Go | Message::Idmapped(_), _))) | Err(_) => return Ok(master),
        }
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
