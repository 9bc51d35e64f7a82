//! The running half of a `nat` network: pasta, started by the launcher on
//! the sandbox's network namespace, and a short-lived helper that enters
//! that namespace, waits until pasta has configured it and installs the
//! egress ruleset with `nft`, all before the command may start.
//!
//! Both are the launcher's children with a parent-death signal (pasta runs
//! in the foreground and keeps its credentials, so the signal holds), and
//! pasta's pidfd goes to the watcher too; dropping the [`Stack`] kills and reaps it.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};

use crate::error::SetupError;
use crate::net::plan::NatPlan;
use crate::sys;

/// The device pasta makes the sandbox's interface with.
const TUN: &str = "/dev/net/tun";

/// How long pasta may take to configure the namespace (it takes ~10 ms).
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where pasta and nft are looked for besides $PATH: a rootless caller's
/// PATH often lacks the sbin directories.
const SEARCH: &[&str] = &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// The namespaces pasta and the helper join: the sandbox's network
/// namespace and, when it has one, its user namespace (opened by the
/// launcher while it still may: see `start.rs`).
pub struct Namespaces {
    pub net: OwnedFd,
    pub user: Option<OwnedFd>,
    /// The command's group, as the user namespace sees it: it may open
    /// ICMP echo sockets.
    pub ping_gid: Option<u32>,
}

/// A running pasta; dropped, it is killed and reaped, and the ports it
/// published close with it.
pub struct Stack {
    pasta: Child,
}

/// The programs a `nat` network runs, found before anything starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Programs {
    pasta: PathBuf,
    nft: Option<PathBuf>,
}

impl Programs {
    /// Find pasta, and nft when there are egress rules; a missing one is
    /// an error that names its package.
    pub fn find(plan: &NatPlan) -> Result<Programs, SetupError> {
        let pasta = find("pasta", "passt")?;
        // What pasta opens in the sandbox's namespaces, with our rights
        // there: say so now rather than through pasta's own words.
        if let Err(e) =
            nix::unistd::access(TUN, nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK)
        {
            return Err(SetupError::sys(format!("open {TUN} for network.mode = \"nat\""), e).fix(format!(
                "pasta needs {TUN} read-write for this user (distributions ship it 0666), or run as root"
            )));
        }
        let nft = plan.ruleset.is_some().then(|| find("nft", "nftables")).transpose()?;
        Ok(Programs { pasta, nft })
    }
}

fn find(program: &str, package: &str) -> Result<PathBuf, SetupError> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .chain(SEARCH.iter().copied())
        .map(|d| PathBuf::from(d).join(program))
        .find(|p| nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok())
        .ok_or_else(|| {
            SetupError::new(format!("find {program} for network.mode = \"nat\""))
                .detail("not in $PATH nor in /usr/sbin, /usr/bin, /sbin, /bin")
                .fix(format!("install it: apt-get install {package} (or dnf install {package})"))
        })
}

impl Stack {
    /// Start pasta on `ns`, then wait (bounded) until the helper has seen
    /// the default routes and installed the ruleset. On failure nothing
    /// of it is left running.
    pub fn start(
        plan: &NatPlan,
        programs: &Programs,
        ns: &Namespaces,
        watch: &mut dyn FnMut(BorrowedFd<'_>) -> Result<(), SetupError>,
    ) -> Result<Stack, SetupError> {
        let pasta = Child::spawn("start pasta", |err| exec_pasta(plan, &programs.pasta, ns, err))?;
        watch(pasta.pidfd.as_fd())?;
        let helper = Child::spawn("start the network setup helper", |err| {
            configure(plan, programs.nft.as_deref(), ns, err)
        })?;
        wait_ready(&pasta, &helper)?;
        Ok(Stack { pasta })
    }

    /// SIGKILL pasta now; it is reaped when dropped. Its exit is slow (the
    /// kernel tears down its tap device and waits for RCU there): started
    /// early, it overlaps the rest of the clean-up.
    pub fn kill(&self) {
        let _ = sys::signal::pidfd_kill(self.pasta.pidfd.as_fd());
    }
}

/// A forked child of the launcher: its pidfd and a memfd with its stderr.
/// Dropped, it is killed and reaped.
struct Child {
    pidfd: OwnedFd,
    stderr: OwnedFd,
    step: &'static str,
}

impl Child {
    /// Fork; the child runs `body` (which execs or exits) with `stderr`.
    fn spawn(
        step: &'static str,
        body: impl FnOnce(&OwnedFd) -> (&'static str, Errno),
    ) -> Result<Child, SetupError> {
        let launcher = nix::unistd::getpid();
        let stderr =
            nix::sys::memfd::memfd_create(c"sandbox-net-stderr", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
                .map_err(|e| SetupError::sys(format!("{step}: memfd_create"), e))?;
        #[allow(unsafe_code)]
        // SAFETY: the launcher is single-threaded (checked by `launch`).
        let forked =
            unsafe { sys::process::fork() }.map_err(|e| SetupError::sys(format!("{step}: fork"), e))?;
        let Some(pid) = forked else {
            // Dies with the launcher, however it dies; if it died before
            // the signal was set, now.
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            if nix::unistd::getppid() != launcher {
                sys::process::exit_now(127);
            }
            // Not the launcher's: its blocked signals, its ignored SIGPIPE
            // (which pasta takes for a failure to install its own).
            crate::runtime::process::child::reset_signal_mask();
            sys::signal::default_signal_dispositions();
            // From here our stderr is the memfd, whatever fails.
            let _ = sys::fd::dup_to(stderr.as_raw_fd(), 2);
            let (what, errno) = body(&stderr);
            if let Ok(mut fd2) = std::fs::OpenOptions::new().append(true).open("/proc/self/fd/2") {
                let _ = std::io::Write::write_all(&mut fd2, format!("{what}: {errno}\n").as_bytes());
            }
            sys::process::exit_now(127)
        };
        let pidfd = sys::process::pidfd_open(pid).map_err(|e| {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            SetupError::sys(format!("{step}: pidfd_open"), e)
        })?;
        Ok(Child { pidfd, stderr, step })
    }

    /// What it wrote to stderr, without pasta's complaints about syslog.
    fn output(&self) -> String {
        let mut text = String::new();
        let _ = nix::unistd::lseek(&self.stderr, 0, nix::unistd::Whence::SeekSet);
        let Ok(fd) = self.stderr.try_clone() else { return text };
        let mut file = std::fs::File::from(fd);
        let _ = std::io::Read::read_to_string(&mut std::io::Read::take(&mut file, 16 << 10), &mut text);
        let lines: Vec<&str> =
            text.lines().filter(|l| !l.starts_with("Failed to send") && !l.is_empty()).collect();
        lines.join("; ")
    }

    /// Its exit, if it has exited.
    fn reap(&self, flags: WaitPidFlag) -> Option<WaitStatus> {
        match waitid(Id::PIDFd(self.pidfd.as_fd()), WaitPidFlag::WEXITED | flags) {
            Ok(WaitStatus::StillAlive) | Err(_) => None,
            Ok(status) => Some(status),
        }
    }

    fn failure(&self, status: &WaitStatus) -> SetupError {
        let detail = match (self.output(), status) {
            (text, _) if !text.is_empty() => text,
            (_, WaitStatus::Exited(_, code)) => format!("exit status {code}"),
            (_, other) => format!("{other:?}"),
        };
        SetupError::new(self.step).detail(detail)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = sys::signal::pidfd_kill(self.pidfd.as_fd());
        let _ = self.reap(WaitPidFlag::empty());
    }
}

/// Wait for the helper to finish (ready) while pasta keeps running.
fn wait_ready(pasta: &Child, helper: &Child) -> Result<(), SetupError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        // pasta first: a helper that found the routes is no proof that
        // pasta still runs.
        if let Some(status) = pasta.reap(WaitPidFlag::WNOHANG) {
            let error = pasta.failure(&status);
            let tun = error
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("/dev/net/tun") || d.contains("tun socket"));
            return Err(error.fix(if tun {
                "pasta needs /dev/net/tun read-write for this user (distributions ship it 0666), or run as root"
            } else {
                "pasta could not connect the sandbox's network namespace"
            }));
        }
        if let Some(status) = helper.reap(WaitPidFlag::WNOHANG) {
            return match status {
                WaitStatus::Exited(_, 0) => Ok(()),
                other => Err(helper.failure(&other)),
            };
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SetupError::new("wait for pasta to configure the sandbox's network")
                .detail(format!("no default route in the sandbox after {} s", READY_TIMEOUT.as_secs()))
                .fix("check that the interface of the host's default route has an address pasta can copy"));
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [
            PollFd::new(helper.pidfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(pasta.pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(SetupError::sys("wait for the network setup (poll)", e)),
        }
    }
}

/// In pasta's child: its descriptors in place, then exec. The namespaces
/// are passed as descriptors 3 and 4 (`/proc/self/fd/N`): once the
/// sandbox is set up it is not dumpable and its /proc/PID/ns cannot be
/// opened by an unprivileged pasta.
fn exec_pasta(
    plan: &NatPlan,
    program: &std::path::Path,
    ns: &Namespaces,
    stderr: &OwnedFd,
) -> (&'static str, Errno) {
    let mut args = vec![program.to_string_lossy().into_owned()];
    args.extend(plan.pasta_args.iter().cloned());
    if ns.user.is_some() {
        args.extend(["--userns".into(), "/proc/self/fd/4".into()]);
    }
    args.extend(["--netns".into(), "/proc/self/fd/3".into()]);
    let fds: Vec<BorrowedFd<'_>> =
        std::iter::once(ns.net.as_fd()).chain(ns.user.as_ref().map(AsFd::as_fd)).collect();
    if let Err(e) = place_fds(&fds, stderr, None) {
        return ("place pasta's descriptors", e);
    }
    ("execute pasta", exec(program, &args))
}

/// Stdin (`stdin`, or /dev/null), stderr, and `fds` at 3, 4, ...; every
/// other descriptor closed.
fn place_fds(fds: &[BorrowedFd<'_>], stderr: &OwnedFd, stdin: Option<BorrowedFd<'_>>) -> Result<(), Errno> {
    // Out of the way first, so placing one cannot overwrite another.
    let away = |fd: BorrowedFd<'_>| nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD(100));
    let moved = fds.iter().map(|fd| away(*fd)).collect::<Result<Vec<RawFd>, Errno>>()?;
    // Raw from here: close_all_but closes them, and an OwnedFd dropped
    // after that would close a number twice.
    let null = nix::fcntl::open("/dev/null", nix::fcntl::OFlag::O_RDWR, nix::sys::stat::Mode::empty())?
        .into_raw_fd();
    sys::fd::dup_to(stdin.map_or(Ok(null), away)?, 0)?;
    sys::fd::dup_to(null, 1)?;
    sys::fd::dup_to(stderr.as_raw_fd(), 2)?;
    let mut keep = Vec::new();
    for (i, fd) in moved.into_iter().enumerate() {
        let target = 3 + i32::try_from(i).unwrap_or(0);
        sys::fd::dup_to(fd, target)?;
        keep.push(target);
    }
    sys::fd::close_all_but(&keep)
}

fn exec(program: &std::path::Path, args: &[String]) -> Errno {
    let Ok(path) = CString::new(program.as_os_str().as_encoded_bytes()) else { return Errno::EINVAL };
    // A NUL cannot be passed; dropping the argument would shift the others.
    let Ok(args) = args.iter().map(|a| CString::new(a.as_str())).collect::<Result<Vec<_>, _>>() else {
        return Errno::EINVAL;
    };
    nix::unistd::execv(&path, &args).unwrap_err()
}

/// In the helper: enter the sandbox's namespaces, wait for pasta's
/// default routes, then exec `nft -f -` on the ruleset (or exit: ready).
fn configure(
    plan: &NatPlan,
    nft: Option<&std::path::Path>,
    ns: &Namespaces,
    stderr: &OwnedFd,
) -> (&'static str, Errno) {
    if let Some(user) = &ns.user {
        if let Err(e) = nix::sched::setns(user, nix::sched::CloneFlags::CLONE_NEWUSER) {
            return ("join the sandbox's user namespace", e);
        }
    }
    if let Err(e) = nix::sched::setns(&ns.net, nix::sched::CloneFlags::CLONE_NEWNET) {
        return ("join the sandbox's network namespace", e);
    }
    // ICMP echo without raw sockets (CAP_NET_RAW is refused with egress
    // denied): the command's group may open ping sockets. Where the
    // namespace's sysctls are read-only to us, ping just needs NET_RAW.
    if let Some(gid) = ns.ping_gid {
        let _ = std::fs::write("/proc/sys/net/ipv4/ping_group_range", format!("{gid} {gid}"));
    }
    // /proc/self/net is the namespace of the reading thread: ours now.
    let (want4, want6) = plan.routes;
    loop {
        let v4 = !want4 || crate::net::resolve::gateway4(&read("/proc/self/net/route")).is_some();
        let v6 = !want6 || crate::net::resolve::default6(&read("/proc/self/net/ipv6_route"));
        if v4 && v6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let (Some(nft), Some(ruleset)) = (nft, &plan.ruleset) else { sys::process::exit_now(0) };
    let input = match ruleset_fd(ruleset) {
        Ok(fd) => fd,
        Err(e) => return ("write the ruleset to a memfd", e),
    };
    if let Err(e) = keep_net_admin() {
        return ("keep CAP_NET_ADMIN for nft", e);
    }
    let placed = place_fds(&[], stderr, Some(input.as_fd()));
    // place_fds closed it (it is stdin now): forget the number rather
    // than close it twice.
    let _ = input.into_raw_fd();
    if let Err(e) = placed {
        return ("place nft's descriptors", e);
    }
    ("execute nft", exec(nft, &[nft.to_string_lossy().into_owned(), "-f".into(), "-".into()]))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn ruleset_fd(ruleset: &str) -> Result<OwnedFd, Errno> {
    let fd = nix::sys::memfd::memfd_create(c"sandbox-egress", nix::sys::memfd::MFdFlags::empty())?;
    nix::unistd::write(&fd, ruleset.as_bytes())?;
    nix::unistd::lseek(&fd, 0, nix::unistd::Whence::SeekSet)?;
    Ok(fd)
}

/// nft needs `CAP_NET_ADMIN` over the namespace; when our id in the
/// sandbox's user namespace is not its root, execve would drop it: keep
/// it as an ambient capability.
fn keep_net_admin() -> Result<(), Errno> {
    use caps::{CapSet, Capability};
    let raise = |set| caps::raise(None, set, Capability::CAP_NET_ADMIN).map_err(|_| Errno::EPERM);
    raise(CapSet::Inheritable)?;
    raise(CapSet::Ambient)
}
