//! The one socketpair between the launcher and the sandbox (`SOCK_SEQPACKET`,
//! close-on-exec): the launcher says "go" once the child is in its cgroup
//! and its id maps are written; the child reports notes, hands over the
//! terminal, or reports its failure as (step, errno, detail, fix). EOF with
//! no failure means the command was executed.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, sendmsg, socketpair};

use crate::error::SetupError;

/// Exit codes, as docker and podman use them.
pub const EXIT_SETUP: i32 = 125;
pub const EXIT_CANNOT_EXEC: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

#[derive(Debug, PartialEq)]
pub enum Message {
    /// Parent → child: proceed.
    Go,
    /// Parent → child, before the first `Go`: an id-mapped mount tree
    /// follows as `SCM_RIGHTS`, for what the key names (see `idmapped`).
    Idmapped(String),
    /// Child → parent: something the user should know (what best-effort skipped).
    Note(String),
    /// Child → parent: the terminal's master side follows as `SCM_RIGHTS`.
    Terminal,
    /// Child → parent: setup failed; exit with `code`.
    Failed { code: i32, error: SetupError },
    /// Child → parent (`create`): everything is set up; the child waits at
    /// its start gate and no longer listens here.
    Ready,
    /// Joiner → launcher (`exec`): the new process's pid, as the launcher sees it.
    Pid(i32),
}

pub fn pair() -> Result<(OwnedFd, OwnedFd), SetupError> {
    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| SetupError::sys("create the launcher socketpair", e))
}

fn encode(msg: &Message) -> Vec<u8> {
    let fields: Vec<String> = match msg {
        Message::Go => vec!["G".into()],
        Message::Idmapped(key) => vec!["I".into(), key.clone()],
        Message::Note(text) => vec!["N".into(), text.clone()],
        Message::Terminal => vec!["T".into()],
        Message::Ready => vec!["R".into()],
        Message::Pid(pid) => vec!["P".into(), pid.to_string()],
        Message::Failed { code, error } => vec![
            "F".into(),
            code.to_string(),
            error.step.clone(),
            error.errno.map_or_else(String::new, |e| (e as i32).to_string()),
            error.detail.clone().unwrap_or_default(),
            error.fix.clone().unwrap_or_default(),
        ],
    };
    fields.join("\0").into_bytes()
}

fn decode(bytes: &[u8]) -> Option<Message> {
    let text = String::from_utf8_lossy(bytes);
    let f: Vec<&str> = text.split('\0').collect();
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Some(match *f.first()? {
        "G" => Message::Go,
        "I" => Message::Idmapped((*f.get(1)?).to_owned()),
        "N" => Message::Note((*f.get(1)?).to_owned()),
        "T" => Message::Terminal,
        "R" => Message::Ready,
        "P" => Message::Pid(f.get(1)?.parse().ok()?),
        "F" => Message::Failed {
            code: f.get(1)?.parse().ok()?,
            error: SetupError {
                step: (*f.get(2)?).to_owned(),
                errno: f.get(3)?.parse().ok().map(Errno::from_raw),
                detail: opt(f.get(4)?),
                fix: opt(f.get(5)?),
            },
        },
        _ => return None,
    })
}

/// Send a message, with an fd attached when given.
pub fn send(sock: BorrowedFd<'_>, msg: &Message, fd: Option<BorrowedFd<'_>>) -> nix::Result<()> {
    let bytes = encode(msg);
    let iov = [IoSlice::new(&bytes)];
    let raw = fd.map(|f| [f.as_raw_fd()]);
    let cmsg: Vec<ControlMessage> =
        raw.as_ref().map(|r| vec![ControlMessage::ScmRights(r)]).unwrap_or_default();
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None).map(drop)
}

/// Receive one message; `None` at EOF. A received fd comes with it.
pub fn recv(sock: BorrowedFd<'_>) -> nix::Result<Option<(Message, Option<OwnedFd>)>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut resets = 0;
    let (n, fd) = loop {
        match crate::sys::fd::recv_with_fd(sock, &mut buf) {
            // A peer that closed with something of ours unread (the child
            // failing before it waited for our second "go") makes the
            // kernel report ECONNRESET once, ahead of what the peer sent
            // before closing, which is still queued: its failure report.
            // Taken for the end, that report was lost and the run ended
            // 125 with nothing said.
            Err(Errno::ECONNRESET) if resets < 2 => resets += 1,
            Err(Errno::EINTR) => {}
            other => break other?,
        }
    };
    if n == 0 {
        return Ok(None);
    }
    Ok(decode(&buf[..n]).map(|m| (m, fd)))
}

/// Wait for "go" from the launcher, keeping the id-mapped mounts it sends
/// before; false when the launcher went away.
pub fn wait_go(sock: impl AsFd, idmapped: &mut Vec<(String, OwnedFd)>) -> bool {
    loop {
        match recv(sock.as_fd()) {
            Ok(Some((Message::Go, _))) => return true,
            Ok(Some((Message::Idmapped(key), Some(fd)))) => idmapped.push((key, fd)),
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let err = SetupError::sys("mount overlay on /", Errno::EINVAL).fix("check the layers");
        for msg in [
            Message::Go,
            Message::Idmapped("layer:/srv/root".into()),
            Message::Note("skipped x".into()),
            Message::Terminal,
            Message::Ready,
            Message::Pid(4242),
            Message::Failed { code: 125, error: err },
        ] {
            assert_eq!(decode(&encode(&msg)), Some(msg));
        }
    }

    #[test]
    fn fds_cross_the_socket() {
        let (a, b) = pair().unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        send(a.as_fd(), &Message::Terminal, Some(file.as_fd())).unwrap();
        let (msg, fd) = recv(b.as_fd()).unwrap().unwrap();
        assert_eq!(msg, Message::Terminal);
        assert!(fd.is_some());
        drop(a);
        assert!(recv(b.as_fd()).unwrap().is_none(), "EOF after the peer closes");
    }

    #[test]
    fn a_report_sent_before_closing_with_unread_data_is_still_read() {
        let (launcher, child) = pair().unwrap();
        send(launcher.as_fd(), &Message::Go, None).unwrap();
        let failed = Message::Failed { code: 125, error: SetupError::new("open the upper directory") };
        send(child.as_fd(), &failed, None).unwrap();
        // The child exits without reading the "go": the kernel resets.
        drop(child);
        assert_eq!(recv(launcher.as_fd()).unwrap().map(|(m, _)| m), Some(failed));
        assert!(recv(launcher.as_fd()).unwrap().is_none(), "then EOF");
    }
}
