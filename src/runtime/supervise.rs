//! The foreground loop: wait on the sandbox's pidfd and a signalfd (never
//! `pause()`), forward signals, enforce the wall-clock timeout, and relay
//! the terminal. It never blocks on anything but `poll`: the relay writes
//! only what the other side takes (non-blocking descriptors of our own,
//! bounded buffers), so a reader that stops reading cannot stop the
//! timeout or the signals, and one that goes away ends the run as it ends
//! a pipeline (SIGPIPE's status, 141).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::{SFlag, fstat};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

use crate::error::SetupError;
use crate::runtime::exit::{Exit, Failure};
use crate::runtime::terminal::{self, Restore};
use crate::sys;

/// What the loop watches.
pub struct Running<'a> {
    pub pid: Pid,
    pub pidfd: BorrowedFd<'a>,
    /// No init of ours: signals for the command go to pid 1 directly.
    pub command_is_pid_1: bool,
}

/// `si_code` of a signal the kernel sent, as the terminal does for ^C.
const SI_KERNEL: i32 = 0x80;
/// How much output may wait for a slow reader before we stop reading the command's.
const BUFFERED: usize = 64 << 10;

/// Wait for the sandbox to end, relaying the terminal (`master`) and
/// forwarding signals, or until `deadline`.
pub fn wait(run: &Running, master: Option<OwnedFd>, deadline: Option<Instant>) -> Result<Exit, Failure> {
    let sfd = SignalFd::with_flags(
        &crate::runtime::process::init::signal_set(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(|e| SetupError::sys("signalfd", e))?;
    let _restore = master.as_ref().map(raw_terminal).transpose()?.flatten();
    let mut relay = master.map(Relay::new).transpose()?;
    let mut exited = false;
    // A terminating signal was forwarded: once the command has gone, the
    // launcher goes too, without waiting for a reader to take the rest of
    // the output (a pipeline's member killed by it would not either).
    let mut stopping = false;
    loop {
        let Some(timeout) = poll_timeout(deadline) else { return Ok(Exit::TimedOut) };
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if !exited {
            fds.push(PollFd::new(run.pidfd, PollFlags::POLLIN));
        }
        let first_relay = fds.len();
        if let Some(r) = &relay {
            fds.extend(r.interest(!exited));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(SetupError::sys("poll", e).into()),
        }
        let ready: Vec<PollFlags> = fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect();
        drop(fds);
        if !ready[0].is_empty() {
            stopping |= signals(run, &sfd, relay.as_ref());
        }
        exited = exited || ready.get(1).is_some_and(|r| !r.is_empty() && !exited);
        if let Some(r) = relay.as_mut().filter(|_| !(exited && stopping)) {
            match r.step(&ready[first_relay..], exited) {
                Flow::Flushing => continue,
                Flow::ReaderGone => return Ok(Exit::ReaderGone),
                Flow::Idle => {}
            }
        }
        if exited {
            return status(run);
        }
    }
}

/// With a pty, the caller's terminal (when stdin is one) goes raw, at the
/// pty's size, until the returned guard drops: keys reach the command as
/// typed.
fn raw_terminal(master: &OwnedFd) -> Result<Option<Restore>, SetupError> {
    let stdin = std::io::stdin();
    if !nix::unistd::isatty(stdin.as_fd()).unwrap_or(false) {
        return Ok(None);
    }
    terminal::copy_size(stdin.as_fd(), master.as_fd());
    Restore::raw(stdin.as_fd()).map(Some)
}

/// How long poll may wait: until the deadline (at most a minute at a
/// time), or for ever; `None` once the deadline has passed.
fn poll_timeout(deadline: Option<Instant>) -> Option<PollTimeout> {
    let Some(d) = deadline else { return Some(PollTimeout::NONE) };
    let left = d.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return None;
    }
    let ms = i32::try_from(left.as_millis().min(60_000)).expect("a minute fits");
    Some(PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX))
}

/// Forward what the signalfd holds. A signal the kernel sent (the terminal's
/// ^C, ^\ or a resize) goes to the command's whole process group, as the
/// terminal would have sent it; one from a process (kill) to the command.
/// True when one of them asks the command to end.
fn signals(run: &Running, sfd: &SignalFd, relay: Option<&Relay>) -> bool {
    let mut stopping = false;
    while let Ok(Some(info)) = sfd.read_signal() {
        let Ok(sig) = Signal::try_from(i32::try_from(info.ssi_signo).unwrap_or(0)) else { continue };
        if sig == Signal::SIGCHLD {
            continue;
        }
        if let (Signal::SIGWINCH, Some(r)) = (sig, relay) {
            terminal::copy_size(std::io::stdin().as_fd(), r.master.as_fd());
            continue;
        }
        let from_terminal = info.ssi_code == SI_KERNEL;
        let _ = match (from_terminal, run.command_is_pid_1) {
            (true, true) => kill(Pid::from_raw(-run.pid.as_raw()), sig),
            (true, false) => sys::signal::pidfd_queue_signal(
                run.pidfd,
                sig as i32,
                crate::runtime::process::init::TO_GROUP,
            ),
            (false, _) => kill(run.pid, sig),
        };
        stopping |= matches!(sig, Signal::SIGINT | Signal::SIGTERM | Signal::SIGHUP | Signal::SIGQUIT);
    }
    stopping
}

fn status(run: &Running) -> Result<Exit, Failure> {
    match waitid(Id::PIDFd(run.pidfd), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
        Ok(WaitStatus::Exited(_, code)) => Ok(Exit::Code(code)),
        Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Exit::Code(128 + sig as i32)),
        Ok(other) => {
            Err(SetupError::new("wait for the sandbox").detail(format!("unexpected status {other:?}")).into())
        }
        Err(e) => Err(SetupError::sys("wait for the sandbox", e).into()),
    }
}

enum Flow {
    /// Nothing that keeps the loop going after the command's exit.
    Idle,
    /// The command has exited but its output is not all written yet.
    Flushing,
    /// Our stdout's reader is gone.
    ReaderGone,
}

/// What one read gave.
enum Got {
    Data,
    Nothing,
    Closed,
}

/// The terminal relay: stdin → master and master → stdout, each through a
/// bounded buffer and descriptors that never block.
struct Relay {
    master: OwnedFd,
    stdin: std::io::Stdin,
    out: Output,
    to_out: Vec<u8>,
    to_master: Vec<u8>,
    stdin_open: bool,
    master_open: bool,
}

impl Relay {
    fn new(master: OwnedFd) -> Result<Relay, SetupError> {
        nonblocking(master.as_fd()).map_err(|e| SetupError::sys("make the terminal non-blocking", e))?;
        Ok(Relay {
            master,
            stdin: std::io::stdin(),
            out: Output::stdout(),
            to_out: Vec::new(),
            to_master: Vec::new(),
            stdin_open: true,
            master_open: true,
        })
    }

    /// What to poll, in the order `step` reads it: master, stdout, stdin.
    /// (Reading stdin once poll says so never blocks; we do not make the
    /// caller's stdin non-blocking, which other processes share.)
    fn interest(&self, running: bool) -> [PollFd<'_>; 3] {
        let mut m = PollFlags::empty();
        if self.master_open && self.to_out.len() < BUFFERED {
            m |= PollFlags::POLLIN;
        }
        if self.master_open && !self.to_master.is_empty() {
            m |= PollFlags::POLLOUT;
        }
        let out = if self.to_out.is_empty() { PollFlags::empty() } else { PollFlags::POLLOUT };
        let input = self.stdin_open && running && self.to_master.len() < BUFFERED;
        [
            PollFd::new(self.master.as_fd(), m),
            PollFd::new(self.out.fd(), out),
            PollFd::new(self.stdin.as_fd(), if input { PollFlags::POLLIN } else { PollFlags::empty() }),
        ]
    }

    fn step(&mut self, ready: &[PollFlags], exited: bool) -> Flow {
        let any = |i: usize| ready.get(i).is_some_and(|r| !r.is_empty());
        // After the command's exit, read what it left in the terminal
        // whatever poll said (its output comes before its status), until
        // nothing is left.
        if self.master_open && (any(0) || exited) {
            match fill(self.master.as_fd(), &mut self.to_out) {
                Got::Closed => self.master_open = false,
                Got::Nothing if exited => self.master_open = false,
                Got::Data | Got::Nothing => {}
            }
        }
        if any(0) && !self.to_master.is_empty() {
            let _ = write_now(self.master.as_fd(), &mut self.to_master, false);
        }
        if !self.to_out.is_empty() && (any(1) || exited) {
            if let Err(Errno::EPIPE) = self.out.write(&mut self.to_out) {
                return Flow::ReaderGone;
            }
        }
        if any(2) {
            self.stdin_open = !matches!(fill(self.stdin.as_fd(), &mut self.to_master), Got::Closed);
        }
        if exited && (self.master_open || !self.to_out.is_empty()) { Flow::Flushing } else { Flow::Idle }
    }
}

fn nonblocking(fd: BorrowedFd<'_>) -> nix::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

/// Read what `from` has into `buf`, up to the bound. EOF and EIO (the
/// terminal's other side closed) are `Closed`.
fn fill(from: BorrowedFd<'_>, buf: &mut Vec<u8>) -> Got {
    let mut chunk = [0u8; 16 << 10];
    let room = BUFFERED.saturating_sub(buf.len()).min(chunk.len());
    if room == 0 {
        return Got::Nothing;
    }
    match nix::unistd::read(from, &mut chunk[..room]) {
        Ok(0) => Got::Closed,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Got::Data
        }
        Err(Errno::EAGAIN | Errno::EINTR) => Got::Nothing,
        Err(_) => Got::Closed,
    }
}

/// Write what `to` takes of `buf` now; the written part leaves `buf`. An
/// error other than "try again" drops the rest, which can never be written.
fn write_now(to: BorrowedFd<'_>, buf: &mut Vec<u8>, socket: bool) -> nix::Result<()> {
    use nix::sys::socket::{MsgFlags, send};
    let written = if socket {
        send(to.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL)
    } else {
        nix::unistd::write(to, buf)
    };
    match written {
        Ok(n) => {
            buf.drain(..n);
            Ok(())
        }
        Err(Errno::EAGAIN | Errno::EINTR) => Ok(()),
        Err(e) => {
            buf.clear();
            Err(e)
        }
    }
}

/// Our stdout, written without ever blocking: a description of our own,
/// non-blocking, for pipes and terminals (opened again through
/// `/proc/self/fd/1`: setting `O_NONBLOCK` on the one we inherited would change
/// it for every process sharing it); `send` with `MSG_DONTWAIT` for a
/// socket; plain writes for a regular file, which never block.
enum Output {
    Plain(std::io::Stdout),
    Own(OwnedFd),
    Socket(std::io::Stdout),
    /// A pipe we may not open again (another user's: a rootless launcher
    /// under a root caller): `RWF_NOWAIT` writes, or plain ones where the
    /// kernel refuses those.
    NoWait(std::io::Stdout),
}

impl Output {
    fn stdout() -> Output {
        let stdout = std::io::stdout();
        let Ok(st) = fstat(stdout.as_fd()) else { return Output::Plain(stdout) };
        match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFREG => Output::Plain(stdout),
            SFlag::S_IFSOCK => Output::Socket(stdout),
            _ => {
                let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
                match nix::fcntl::open("/proc/self/fd/1", flags, nix::sys::stat::Mode::empty()) {
                    Ok(fd) => Output::Own(fd),
                    Err(_) => Output::NoWait(stdout),
                }
            }
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Output::Own(fd) => fd.as_fd(),
            Output::Plain(out) | Output::Socket(out) | Output::NoWait(out) => out.as_fd(),
        }
    }

    fn write(&self, buf: &mut Vec<u8>) -> nix::Result<()> {
        if let Output::NoWait(out) = self {
            match crate::sys::fd::write_nowait(out.as_fd(), buf) {
                Ok(n) => {
                    buf.drain(..n);
                    return Ok(());
                }
                Err(Errno::EAGAIN | Errno::EINTR) => return Ok(()),
                Err(Errno::EOPNOTSUPP) => {}
                Err(e) => {
                    buf.clear();
                    return Err(e);
                }
            }
        }
        write_now(self.fd(), buf, matches!(self, Output::Socket(_)))
    }
}
