//! Descriptor tables: closing what a new process must not hold, and taking
//! ownership of descriptors passed over a socket.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

/// Close every descriptor but 0, 1, 2 and `keep`, so nothing the caller
/// left open without close-on-exec (a directory is a path back to the host
/// root) reaches the sandbox. Called first thing in a process forked or
/// cloned from the launcher that never returns into the launcher's frames:
/// the `OwnedFd`s it closes there are never dropped or used again.
pub fn close_all_but(keep: &[RawFd]) -> Result<(), Errno> {
    let mut keep: Vec<u32> =
        keep.iter().filter_map(|&fd| u32::try_from(fd).ok()).filter(|&fd| fd > 2).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 3u32;
    for fd in keep.into_iter().chain(std::iter::once(u32::MAX)) {
        if fd > first {
            // SAFETY: close_range only closes descriptors; the numbers it
            // closes belong to nothing this process will use (see above).
            let ret = unsafe { libc::close_range(first, fd - 1, 0) };
            Errno::result(ret)?;
        }
        first = fd.saturating_add(1);
    }
    Ok(())
}

/// Receive one message into `buf` with the descriptor sent beside it, if
/// any (`SCM_RIGHTS`, close-on-exec): the byte count (0 at EOF) and the
/// descriptor. Our protocols send at most one; the kernel closes any more
/// a hostile peer sends (the control buffer holds one, `MSG_CTRUNC`).
pub fn recv_with_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>), Errno> {
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut fd = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raws) = c {
            for raw in raws {
                // SAFETY: SCM_RIGHTS installed `raw` fresh in our table
                // during this recvmsg; nothing else knows or owns it.
                fd = Some(unsafe { OwnedFd::from_raw_fd(raw) });
            }
        }
    }
    Ok((msg.bytes, fd))
}

/// accept4(2) with `SOCK_CLOEXEC`: the connection, owned.
pub fn accept(listener: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let raw = nix::sys::socket::accept4(listener.as_raw_fd(), nix::sys::socket::SockFlag::SOCK_CLOEXEC)?;
    // SAFETY: on success accept4 returned a new descriptor that nothing
    // else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// dup2(2): `fd` also at `target`, which is closed first if open. For a
/// forked child placing descriptors before it execs: whatever held
/// `target` is that child's to replace.
pub fn dup_to(fd: RawFd, target: RawFd) -> Result<(), Errno> {
    // SAFETY: dup2 only changes the descriptor table; no Rust owner of
    // `target` survives the exec that follows in its callers.
    let ret = unsafe { libc::dup2(fd, target) };
    Errno::result(ret).map(drop)
}

/// write(2) that never blocks, on a descriptor we must not make
/// non-blocking (it is shared): `pwritev2` with `RWF_NOWAIT` at the
/// current position. Pipes take it (a partial write, then EAGAIN);
/// EOPNOTSUPP where the file does not.
pub fn write_nowait(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize, Errno> {
    let iov = libc::iovec { iov_base: buf.as_ptr().cast_mut().cast(), iov_len: buf.len() };
    // SAFETY: one iovec describing `buf`, which the kernel only reads
    // during the call; offset -1 means the file position, as write(2).
    let ret = unsafe { libc::pwritev2(fd.as_raw_fd(), &raw const iov, 1, -1, libc::RWF_NOWAIT) };
    Errno::result(ret).map(|n| usize::try_from(n).expect("a count"))
}
