//! A launcher killed with SIGKILL cannot clean up after itself. A small
//! watcher process, forked from it, waits for the launcher's end of a
//! socket to close (the launcher exiting, however it exits) and then kills
//! what is left: the sandbox's cgroup, and the sandbox's pid 1 through its
//! pidfd when that is the command itself (`init = false`), which may have
//! cleared its parent-death signal and, rootless without a delegated
//! cgroup, has no cgroup to be killed with. After a normal exit the
//! launcher has done all that; it closes the socket and waits for the
//! watcher to find nothing to do and exit, so no process of the run
//! outlives `sandbox run`.
//!
//! The socket also carries what only the launcher learns later: the
//! pidfds of the sandbox's pid 1 and of its network stack (pasta), and when it stepped into a leaf of its own cgroup to
//! enable controllers (taking the watcher along), that record, so the
//! watcher can step back and remove the leaf too. One message each, tagged.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::sys::socket::{AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, sendmsg, socketpair};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::error::{Result, SetupError};
use crate::runtime::cgroup::SelfMove;
use crate::sys;

/// The launcher's side of a running watcher. Dropping it (or dying) sets
/// the watcher off; [`Watcher::dismiss`] also waits for it to end.
pub struct Watcher {
    sock: OwnedFd,
    pid: Pid,
}

const MOVED: u8 = b'M';
const PIDFD: u8 = b'K';
const RELEASE: u8 = b'R';

impl Watcher {
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Tell the watcher to undo this step into a leaf as well.
    pub fn undo_too(&self, moved: &SelfMove) {
        let mut msg = vec![MOVED];
        msg.extend(moved.encode());
        let _ =
            sendmsg::<()>(self.sock.as_raw_fd(), &[IoSlice::new(&msg)], &[], MsgFlags::MSG_NOSIGNAL, None);
    }

    /// Tell the watcher to kill this process too (the sandbox's pid 1,
    /// pasta) through its pidfd.
    pub fn kill_too(&self, pidfd: BorrowedFd<'_>) -> Result<()> {
        let fds = [pidfd.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(self.sock.as_raw_fd(), &[IoSlice::new(&[PIDFD])], &cmsg, MsgFlags::MSG_NOSIGNAL, None)
            .map(drop)
            .map_err(|e| SetupError::sys("hand a pidfd to the watcher", e))
    }

    /// The sandbox now lives without us (a created container): the watcher
    /// exits without touching it. Reaps it.
    pub fn release(self) {
        let _ = sendmsg::<()>(
            self.sock.as_raw_fd(),
            &[IoSlice::new(&[RELEASE])],
            &[],
            MsgFlags::MSG_NOSIGNAL,
            None,
        );
        self.dismiss();
    }

    /// Set the watcher off (it finds nothing left after a normal exit) and
    /// reap it.
    pub fn dismiss(self) {
        let Watcher { sock, pid } = self;
        drop(sock);
        let _ = waitpid(pid, None);
    }
}

/// Start a watcher for these cgroup directories (none: only a pidfd to come).
pub fn spawn(dirs: &[PathBuf]) -> Result<Watcher> {
    let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| SetupError::sys("create the watcher socket", e))?;
    #[allow(unsafe_code)]
    // SAFETY: called only by `launch::run`, which checked that the
    // launcher has one thread.
    let forked = unsafe { sys::process::fork() };
    if let Some(pid) = forked.map_err(|e| SetupError::sys("fork the watcher", e))? {
        return Ok(Watcher { sock: ours, pid });
    }
    // Hold nothing of the launcher's: not its end of the lifeline (init
    // would never see it close), not the caller's descriptors.
    let _ = sys::fd::close_all_but(&[theirs.as_raw_fd()]);
    // Out of the caller's session (no ^C from its terminal) and off
    // its pipes (a test reading our stdout must see EOF when we exit).
    let _ = nix::unistd::setsid();
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    let Some((moved, pidfds)) = listen(theirs.as_fd()) else { sys::process::exit_now(0) };
    for pidfd in &pidfds {
        let _ = sys::signal::pidfd_kill(pidfd.as_fd());
    }
    let _ = crate::runtime::cgroup::destroy_dirs(dirs);
    // After a normal exit the launcher has undone it already; this finds
    // the leaf gone and does nothing.
    if let Some(moved) = moved {
        let _ = moved.undo();
    }
    sys::process::exit_now(0)
}

/// Read the launcher's messages until it closes its end; `None` when it
/// released the sandbox.
fn listen(sock: BorrowedFd<'_>) -> Option<(Option<SelfMove>, Vec<OwnedFd>)> {
    let (mut moved, mut pidfds) = (None, Vec::new());
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let (n, fd) = match sys::fd::recv_with_fd(sock, &mut buf) {
            Ok(got) => got,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        };
        pidfds.extend(fd);
        match buf.first() {
            _ if n == 0 => break,
            Some(&MOVED) => moved = SelfMove::decode(&buf[1..n]).or(moved),
            Some(&RELEASE) => return None,
            _ => {}
        }
    }
    Some((moved, pidfds))
}
