//! A detached sandbox's output: the log keeper, and reading what it kept.
//!
//! The keeper is a process of its own (`sandbox monitor --keep-log NAME`,
//! started by the monitor) so the log outlives the monitor: it reads the
//! sandbox's output from its stdin until every writer has gone, appends it
//! to `log` (renamed `log.1` at [`LOG_MAX`], so at most twice that is kept),
//! and copies it to the clients of `attach.sock`, whose keystrokes it
//! writes to its stdout, the sandbox's stdin. It never blocks on a client:
//! one that falls [`CLIENT_MAX`] behind is dropped.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, Backlog, MsgFlags, SockFlag, SockType, UnixAddr, bind, listen, socket,
};

use crate::error::{Result, SetupError};

/// Where `log` is rotated.
pub const LOG_MAX: u64 = 1 << 20;
/// How far an attached client may fall behind before it is dropped.
const CLIENT_MAX: usize = 256 << 10;
/// How much typed input may wait for the sandbox to read it.
const INPUT_MAX: usize = 64 << 10;

pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("log")
}

pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("attach.sock")
}

/// Keep the log of the sandbox whose directory is `dir`: `output` is what
/// it writes, `input` (when it reads) its stdin. Returns when `output`
/// ends.
pub fn keep(dir: &Path, output: BorrowedFd<'_>, input: Option<BorrowedFd<'_>>) -> Result<()> {
    let mut log = Log::open(dir)?;
    let listener = listen_at(&socket_path(dir))?;
    let mut clients: Vec<Client> = Vec::new();
    let mut typed: Vec<u8> = Vec::new();
    let result = loop {
        let mut fds =
            vec![PollFd::new(output, PollFlags::POLLIN), PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        let want_in = if typed.len() < INPUT_MAX { PollFlags::POLLIN } else { PollFlags::empty() };
        for c in &clients {
            let out = if c.pending.is_empty() { PollFlags::empty() } else { PollFlags::POLLOUT };
            fds.push(PollFd::new(c.sock.as_fd(), want_in | out));
        }
        if let (Some(fd), false) = (input, typed.is_empty()) {
            fds.push(PollFd::new(fd, PollFlags::POLLOUT));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => break Err(SetupError::sys("poll the sandbox's output", e)),
        }
        let ready: Vec<PollFlags> = fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect();
        drop(fds);
        if !ready[1].is_empty() {
            if let Ok(sock) = crate::sys::fd::accept(listener.as_fd()) {
                clients.push(Client { sock, pending: Vec::new(), gone: false });
            }
        }
        for (c, r) in clients.iter_mut().zip(&ready[2..]) {
            c.step(*r, &mut typed);
        }
        clients.retain(Client::open);
        if let Some(fd) = input.filter(|_| !typed.is_empty()) {
            write_some(fd, &mut typed);
        }
        if !ready[0].is_empty() {
            let mut chunk = [0u8; 16 << 10];
            match nix::unistd::read(output, &mut chunk) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    log.append(&chunk[..n])?;
                    for c in &mut clients {
                        c.queue(&chunk[..n]);
                    }
                }
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(e) => break Err(SetupError::sys("read the sandbox's output", e)),
            }
        }
    };
    let _ = std::fs::remove_file(socket_path(dir));
    for c in &mut clients {
        c.flush();
    }
    result
}

/// The log file, rotated at [`LOG_MAX`].
struct Log {
    path: PathBuf,
    file: File,
    size: u64,
}

impl Log {
    fn open(dir: &Path) -> Result<Log> {
        let path = log_path(dir);
        let file = open_append(&path)?;
        let size = file.metadata().map_or(0, |m| m.len());
        Ok(Log { path, file, size })
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        if self.size + bytes.len() as u64 > LOG_MAX && self.size > 0 {
            let old = self.path.with_file_name("log.1");
            std::fs::rename(&self.path, &old)
                .map_err(|e| SetupError::io(format!("rotate {}", self.path.display()), &e))?;
            self.file = open_append(&self.path)?;
            self.size = 0;
        }
        self.file
            .write_all(bytes)
            .map_err(|e| SetupError::io(format!("write {}", self.path.display()), &e))?;
        self.size += bytes.len() as u64;
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| SetupError::io(format!("open {}", path.display()), &e))
}

/// One `attach`: output queued for it, its keystrokes read into `typed`.
struct Client {
    sock: OwnedFd,
    pending: Vec<u8>,
    /// It hung up, or fell too far behind.
    gone: bool,
}

impl Client {
    fn open(&self) -> bool {
        !self.gone && self.pending.len() <= CLIENT_MAX
    }

    fn queue(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.flush();
    }

    fn flush(&mut self) {
        while !self.pending.is_empty() && !self.gone {
            match nix::sys::socket::send(
                self.sock.as_raw_fd(),
                &self.pending,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(n) => drop(self.pending.drain(..n)),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    self.gone = true;
                    return;
                }
            }
        }
    }

    fn step(&mut self, ready: PollFlags, typed: &mut Vec<u8>) {
        if ready.contains(PollFlags::POLLOUT) {
            self.flush();
        }
        if ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            let mut chunk = [0u8; 4096];
            let room = INPUT_MAX.saturating_sub(typed.len()).min(chunk.len());
            match nix::unistd::read(self.sock.as_fd(), &mut chunk[..room.max(1)]) {
                Ok(0) | Err(Errno::ECONNRESET) => self.gone = true,
                Ok(n) if room > 0 => typed.extend_from_slice(&chunk[..n]),
                Ok(_) | Err(_) => {}
            }
        }
    }
}

/// Write what `fd` takes of `buf` now, non-blocking; the rest waits.
fn write_some(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) {
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).unwrap_or(0);
    let _ = nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFL(
            nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK,
        ),
    );
    match nix::unistd::write(fd, buf) {
        Ok(n) => drop(buf.drain(..n)),
        Err(Errno::EAGAIN | Errno::EINTR) => {}
        // The sandbox closed its stdin: what was typed has nowhere to go.
        Err(_) => buf.clear(),
    }
}

fn listen_at(path: &Path) -> Result<OwnedFd> {
    let step = || format!("listen at {}", path.display());
    let _ = std::fs::remove_file(path);
    let sock = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| SetupError::sys(step(), e))?;
    let addr = UnixAddr::new(path).map_err(|e| SetupError::sys(step(), e))?;
    bind(sock.as_raw_fd(), &addr).map_err(|e| SetupError::sys(step(), e))?;
    listen(&sock, Backlog::new(8).expect("a small backlog")).map_err(|e| SetupError::sys(step(), e))?;
    Ok(sock)
}

/// A reader of the kept log that follows it across rotations.
pub struct Follow {
    path: PathBuf,
    file: Option<File>,
}

impl Follow {
    /// What is kept now (`log.1`, then `log`), and a reader for what comes next.
    pub fn start(dir: &Path, out: &mut dyn Write) -> Result<Follow> {
        let path = log_path(dir);
        if let Ok(mut old) = File::open(path.with_file_name("log.1")) {
            copy(&mut old, out)?;
        }
        let mut file = File::open(&path).ok();
        if let Some(f) = file.as_mut() {
            copy(f, out)?;
        }
        Ok(Follow { path, file })
    }

    /// Copy what was appended since; after a rotation, the rest of the old
    /// file, then the new one. Whether anything was copied.
    pub fn more(&mut self, out: &mut dyn Write) -> Result<bool> {
        let mut copied = false;
        if let Some(f) = self.file.as_mut() {
            copied |= copy(f, out)? > 0;
        }
        let now = std::fs::metadata(&self.path).ok().map(|m| (m.dev(), m.ino()));
        let ours = self.file.as_ref().and_then(|f| f.metadata().ok()).map(|m| (m.dev(), m.ino()));
        if now.is_some() && now != ours {
            self.file = File::open(&self.path).ok();
            if let Some(f) = self.file.as_mut() {
                f.seek(SeekFrom::Start(0)).map_err(|e| SetupError::io("read the log", &e))?;
                copied |= copy(f, out)? > 0;
            }
        }
        Ok(copied)
    }
}

fn copy(from: &mut File, out: &mut dyn Write) -> Result<u64> {
    let mut buf = Vec::new();
    from.read_to_end(&mut buf).map_err(|e| SetupError::io("read the log", &e))?;
    out.write_all(&buf).and_then(|()| out.flush()).map_err(|e| SetupError::io("write the log out", &e))?;
    Ok(buf.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_and_a_follower_reads_across() {
        let dir = tempdir();
        let mut log = Log::open(&dir).unwrap();
        let mut seen = Vec::new();
        let mut follow = Follow::start(&dir, &mut seen).unwrap();
        let chunk = vec![b'a'; 400 << 10];
        for _ in 0..3 {
            log.append(&chunk).unwrap();
        }
        log.append(b"tail").unwrap();
        while follow.more(&mut seen).unwrap() {}
        // 1200 KiB + 4 bytes went through; the follower saw all of it, the
        // files keep at most 2 × LOG_MAX.
        assert_eq!(seen.len(), 3 * chunk.len() + 4);
        let kept = std::fs::metadata(dir.join("log")).unwrap().len()
            + std::fs::metadata(dir.join("log.1")).unwrap().len();
        assert!(kept <= 2 * LOG_MAX, "{kept}");
        let mut fresh = Vec::new();
        Follow::start(&dir, &mut fresh).unwrap();
        assert!(fresh.ends_with(b"tail") && fresh.len() as u64 == kept);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sandbox-log-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
