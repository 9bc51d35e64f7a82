//! The launcher side: cgroup, clone3, id maps, "go", then wait on the
//! pidfd and a signalfd (never `pause()`), relaying the terminal and
//! forwarding signals, and clean up on every way out.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::cgroup::{Cgroup, Hierarchies, Options};
use super::child::{self, ChildPlan};
use super::error::SetupError;
use super::proto::{self, EXIT_SETUP, Message};
use super::sys::{self, Cloned};
use super::terminal::{self, RawMode};
use super::watcher::Watcher;
use crate::compile::extension::Extension;

/// The sandbox's end: its exit code, or a failure with the code to exit with.
pub type Outcome = Result<i32, (i32, SetupError)>;

fn fail(e: SetupError) -> (i32, SetupError) {
    (EXIT_SETUP, e)
}

pub fn run(spec: &Spec, ext: &Extension, name: &str) -> Outcome {
    let ops = super::plan::plan(spec).map_err(fail)?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| fail(SetupError::new("read the spec").detail("no linux section")))?;
    let seccomp = match linux.seccomp() {
        Some(s) => super::seccomp::compile(s).map_err(fail)?,
        None => Vec::new(),
    };
    let has = |t: LinuxNamespaceType| linux.namespaces().iter().flatten().any(|n| n.typ() == t);
    let terminal = ext.terminal == "always" || (ext.terminal == "auto" && std::io::stdin().is_terminal());
    let (cgroup, watcher) = make_cgroup(linux, ext, name, has(LinuxNamespaceType::Pid)).map_err(fail)?;
    let userns = has(LinuxNamespaceType::User);
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
    let plan = ChildPlan {
        spec,
        ext,
        ops: &ops,
        seccomp: &seccomp,
        new_cgroup_ns: has(LinuxNamespaceType::Cgroup),
        cgroups_first: child::joins_cgroups_first(spec),
        new_net_ns: has(LinuxNamespaceType::Network),
        userns,
        single_map: userns && !ext.subids,
        terminal,
    };
    // Block what we forward before the clone, so nothing is lost; the child
    // resets its mask first thing.
    let forwarded = super::init::signal_set();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None)
        .map_err(|e| fail(SetupError::sys("block signals", e)))?;
    let (ours, theirs) = proto::pair().map_err(fail)?;
    // Only we hold the write end: the sandbox's init sees EOF when we are gone.
    let (lifeline, held) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| fail(SetupError::sys("create the lifeline pipe", e)))?;
    // Our init, pid 1 of its own namespace, with no cgroup to remove after
    // it: it reports the status as soon as nothing of the sandbox runs any
    // more, and we need not wait for the kernel to tear the namespaces down.
    let verdict = if ext.init && has(LinuxNamespaceType::Pid) && cgroup.is_none() {
        Some(
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| fail(SetupError::sys("create the status pipe", e)))?,
        )
    } else {
        None
    };
    let (verdict_in, verdict_out) = verdict.unzip();
    let cloned = sys::clone3(
        u64::try_from(flags.bits()).expect("clone flags are positive"),
        cgroup.as_ref().and_then(Cgroup::v2_fd),
    );
    let (pid, pidfd) = match cloned {
        Ok(Cloned::Child) => {
            child::reset_signal_mask();
            drop(ours);
            drop(watcher);
            drop(held);
            drop(verdict_in);
            child::main(theirs, &lifeline, verdict_out, &plan)
        }
        Ok(Cloned::Parent { pid, pidfd }) => (pid, pidfd),
        Err(e) => {
            let err = SetupError::sys("clone3", e).fix(clone_fix(e, userns));
            return Err(fail(err));
        }
    };
    drop(theirs);
    drop(lifeline);
    drop(verdict_out);
    let sandbox = Sandbox { pid, pidfd, cgroup, verdict: verdict_in, reported: std::cell::Cell::new(false) };
    let result = supervise(&sandbox, spec, ext, &ours, &plan);
    sandbox.finish(result)
}

/// The sandbox's cgroup and the watcher that removes it if we die. Neither
/// when nothing needs them: no limits, no chosen `cgroupsPath`, a pid
/// namespace of its own, whose end the kernel makes final (every process in
/// it is killed when its init dies, as the cgroup's kill would do), and our
/// init as its pid 1, which kills the command when we die (its lifeline; a
/// command that is pid 1 itself has only PDEATHSIG, which the kernel clears
/// when the ids change).
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
    let early = if planned.is_empty() { None } else { Some(super::watcher::spawn(&planned)?) };
    opts.companions.extend(early.as_ref().map(|w| w.pid.as_raw()));
    let (cgroup, skipped) = Cgroup::create_in(&hierarchies, resources, &opts)?;
    if let (Some(w), Some(moved)) = (&early, cgroup.as_ref().and_then(Cgroup::self_move)) {
        w.undo_too(moved);
    }
    for line in skipped {
        eprintln!("sandbox: limits (best effort): skipped {line}");
    }
    let watcher = match (early, &cgroup) {
        (Some(w), _) => Some(w),
        (None, Some(cg)) => Some(super::watcher::spawn(&cg.dirs())?),
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

/// The running sandbox; killed and its cgroup removed when finished.
struct Sandbox {
    pid: Pid,
    pidfd: OwnedFd,
    cgroup: Option<Cgroup>,
    /// Where init reports the status early ([`super::init::report`]).
    verdict: Option<OwnedFd>,
    /// Init reported it: only its own exit is left, nothing to wait for.
    reported: std::cell::Cell<bool>,
}

impl Sandbox {
    fn finish(self, result: Outcome) -> Outcome {
        let _ = kill(self.pid, Signal::SIGKILL);
        if !self.reported.get() {
            let _ = waitid(Id::PIDFd(self.pidfd.as_fd()), WaitPidFlag::WEXITED);
        }
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

fn supervise(sb: &Sandbox, spec: &Spec, ext: &Extension, sock: &OwnedFd, plan: &ChildPlan) -> Outcome {
    let (userns, cgroups_first) = (plan.userns, plan.cgroups_first);
    if userns {
        super::idmap::write(sb.pid, spec, ext.subids).map_err(|e| {
            let e = if apparmor_restricts_userns() { e.fix(APPARMOR_FIX) } else { e };
            fail(e)
        })?;
    }
    // Joining a v1 cgroup (clone3 placed the child in the v2 one) waits for
    // an RCU grace period, often several milliseconds, so it overlaps the
    // child building its root: the child waits for the second "go" before
    // it makes its cgroup namespace, restricts itself and starts the
    // command. Not when the root mounts a cgroupfs (it must see the new
    // namespace), nor without root (the write to a v1 cgroup.procs must
    // come before the child changes its ids).
    let join = || sb.cgroup.as_ref().map_or(Ok(()), |cg| cg.add(sb.pid.as_raw(), cg.v2_fd().is_some()));
    let overlap = !cgroups_first;
    if !overlap {
        join().map_err(fail)?;
    }
    proto::send(sock.as_fd(), &Message::Go, None)
        .map_err(|e| fail(SetupError::sys("start the sandbox", e)))?;
    if overlap {
        join().map_err(fail)?;
    }
    // A child that failed meanwhile has closed its end; its report is read below.
    let _ = proto::send(sock.as_fd(), &Message::Go, None);
    let mut master = None;
    loop {
        match proto::recv(sock.as_fd()) {
            Ok(Some((Message::Note(text), _))) => eprintln!("sandbox: {text}"),
            Ok(Some((Message::Terminal, fd))) => master = fd,
            Ok(Some((Message::Failed { code, error }, _))) => return Err((code, error)),
            // EOF: the command was executed. A child never sends Go; and if
            // it died before saying anything, its status tells.
            Ok(None | Some((Message::Go, _))) | Err(_) => break,
        }
    }
    let deadline = ext.timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
    wait(sb, master.as_ref(), deadline)
}

/// Wait for the sandbox to end, relaying the terminal and forwarding signals.
fn wait(sb: &Sandbox, master: Option<&OwnedFd>, deadline: Option<Instant>) -> Outcome {
    let sfd =
        SignalFd::with_flags(&super::init::signal_set(), SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| fail(SetupError::sys("signalfd", e)))?;
    let stdin = std::io::stdin();
    let _raw = match &master {
        Some(m) if stdin.is_terminal() => {
            terminal::copy_size(stdin.as_fd(), m.as_fd());
            Some(RawMode::enter(stdin.as_fd()).map_err(fail)?)
        }
        _ => None,
    };
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut verdict = sb.verdict.as_ref();
    loop {
        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    eprintln!("\r\nsandbox: wall-clock timeout: killing the sandbox");
                    return Ok(124);
                }
                PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let m = master.map(AsFd::as_fd);
        let mut fds = vec![
            PollFd::new(sb.pidfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        // Each optional fd's place in `fds`, when it is polled.
        let optional = [
            verdict.map(AsFd::as_fd),
            m.filter(|_| master_open),
            m.filter(|_| stdin_open).map(|_| stdin.as_fd()),
        ];
        let mut at = [None; 3];
        for (slot, fd) in at.iter_mut().zip(optional) {
            if let Some(fd) = fd {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                *slot = Some(fds.len() - 1);
            }
        }
        let [at_verdict, at_master, at_stdin] = at;
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(fail(SetupError::sys("poll", e))),
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds.get(i)).and_then(PollFd::revents).is_some_and(|r| !r.is_empty())
        };
        let (exited, signalled) = (ready(Some(0)), ready(Some(1)));
        let (verdict_ready, master_ready, stdin_ready) =
            (ready(at_verdict), ready(at_master), ready(at_stdin));
        drop(fds);
        let mut reported = None;
        if let (Some(v), true) = (verdict, verdict_ready) {
            let mut code = [0u8; 4];
            match nix::unistd::read(v, &mut code) {
                Ok(4) => reported = Some(i32::from_ne_bytes(code)),
                // EOF: init ended without a verdict; its exit status tells.
                _ => verdict = None,
            }
        }
        if signalled {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = Signal::try_from(i32::try_from(info.ssi_signo).unwrap_or(0));
                match (sig, m) {
                    (Ok(Signal::SIGWINCH), Some(m)) => terminal::copy_size(stdin.as_fd(), m),
                    (Ok(Signal::SIGCHLD) | Err(_), _) => {}
                    (Ok(sig), _) => {
                        let _ = kill(sb.pid, sig);
                    }
                }
            }
        }
        if let Some(m) = m {
            if master_ready {
                master_open = copy(m, &mut std::io::stdout());
            }
            if stdin_ready {
                stdin_open = copy_in(m);
            }
        }
        if exited || reported.is_some() {
            if let Some(m) = m {
                // Drain what the command printed last.
                while master_open
                    && poll(&mut [PollFd::new(m, PollFlags::POLLIN)], PollTimeout::ZERO).unwrap_or(0) > 0
                {
                    master_open = copy(m, &mut std::io::stdout());
                }
            }
            if let Some(code) = reported {
                sb.reported.set(true);
                return Ok(code);
            }
            return status(sb);
        }
    }
}

fn status(sb: &Sandbox) -> Outcome {
    match waitid(Id::PIDFd(sb.pidfd.as_fd()), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
        Ok(WaitStatus::Exited(_, code)) => Ok(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Ok(128 + sig as i32),
        Ok(_) => Ok(EXIT_SETUP),
        Err(e) => Err(fail(SetupError::sys("wait for the sandbox", e))),
    }
}

/// master → stdout; false at EOF/EIO (the terminal's other side closed).
fn copy(from: BorrowedFd<'_>, to: &mut impl Write) -> bool {
    let mut buf = [0u8; 16 * 1024];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => to.write_all(&buf[..n]).and_then(|()| to.flush()).is_ok(),
    }
}

/// stdin → master; false at EOF.
fn copy_in(master: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 16 * 1024];
    match std::io::stdin().lock().read(&mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => nix::unistd::write(master, &buf[..n]).is_ok(),
    }
}
