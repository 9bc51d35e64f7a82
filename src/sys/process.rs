//! Making and leaving processes: clone3, fork, `_exit`.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// clone3 flag (Linux 5.7); libc declares it with a type too narrow for it.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of clone3(2), version 2 (with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// What clone3 returned, like fork.
pub enum Cloned {
    /// In the parent: the child's pid and its pidfd.
    Parent {
        pid: Pid,
        pidfd: OwnedFd,
    },
    Child,
}

/// clone3 with `flags` (namespaces, or `CLONE_PARENT`; `CLONE_PIDFD` is
/// added), SIGCHLD as the exit signal (the parent's with `CLONE_PARENT`), and the child placed into `cgroup` when given
/// (`CLONE_INTO_CGROUP`). The child continues here with a copy of the
/// address space, like fork.
///
/// # Safety
///
/// The calling process must be single-threaded: the child gets only the
/// calling thread, so a lock another thread held (the allocator's, stdio's)
/// would stay locked in the child for ever.
pub unsafe fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Cloned, Errno> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: std::ptr::from_mut(&mut pidfd) as u64,
        exit_signal: u64::try_from(libc::SIGCHLD).expect("signal numbers are positive"),
        ..CloneArgs::default()
    };
    // A sibling's exit is signalled as ours is: clone3 refuses an exit
    // signal with CLONE_PARENT.
    if flags & libc::CLONE_PARENT as u64 != 0 {
        args.exit_signal = 0;
    }
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = u64::try_from(fd.as_raw_fd()).expect("open descriptors are not negative");
    }
    // SAFETY: `args` is a valid clone_args of the size we pass and lives
    // across the call; `pidfd` outlives it. With no CLONE_VM and no stack,
    // the child runs on a copy-on-write copy of this stack, as after fork;
    // the caller guarantees no other thread holds a lock (see # Safety).
    let ret = unsafe { libc::syscall(libc::SYS_clone3, &raw mut args, size_of::<CloneArgs>()) };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Cloned::Child),
        pid => Ok(Cloned::Parent {
            pid: Pid::from_raw(i32::try_from(pid).expect("pids fit in i32")),
            // SAFETY: on success the kernel stored a new, owned file
            // descriptor in `pidfd` (CLONE_PIDFD); nothing else owns it.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// fork(2): `Some(child)` in the parent, `None` in the child.
///
/// # Safety
///
/// As for [`clone3`]: the calling process must be single-threaded.
pub unsafe fn fork() -> Result<Option<Pid>, Errno> {
    // SAFETY: the caller guarantees a single thread (see # Safety).
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Some(child)),
        nix::unistd::ForkResult::Child => Ok(None),
    }
}

/// Leave the process now, without running exit handlers or flushing stdio
/// buffers inherited from the launcher (they would print twice).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes any status and never returns.
    unsafe { libc::_exit(code) }
}

/// `pidfd_open(2)`: a descriptor that stays bound to `pid`'s process even if
/// the number is reused after it exits.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0u32) };
    let raw = Errno::result(ret)?;
    // SAFETY: on success the kernel returned a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(RawFd::try_from(raw).expect("descriptors fit in an int")) })
}
