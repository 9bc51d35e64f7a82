//! Signals: dispositions before execve, and sending through a pidfd.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// Give every signal its default disposition, as a freshly started program
/// expects: an ignored signal stays ignored across execve. Rust's runtime
/// ignores SIGPIPE in us (a command that inherited that would get EPIPE
/// where it should die), and a caller may have ignored others, glibc's
/// reserved 32 and 33 included. Called just before execve.
pub fn default_signal_dispositions() {
    // The kernel's `struct sigaction` (handler, flags, restorer, mask), all
    // zero: SIG_DFL. The raw call, because glibc refuses its reserved signals.
    let dfl = [0u64; 4];
    for signo in 1..=64 {
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction only reads `dfl` (32 bytes, the kernel's
        // layout on 64-bit Linux) and installs no handler of ours; the old
        // action is not asked for. We exec right after, in this single thread.
        unsafe {
            libc::syscall(libc::SYS_rt_sigaction, signo, dfl.as_ptr(), std::ptr::null_mut::<u64>(), 8usize)
        };
    }
}

/// SIGKILL the process behind `pidfd`.
pub fn pidfd_kill(pidfd: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: no siginfo is passed (NULL); the descriptor is valid for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<u8>(),
            0u32,
        )
    };
    Errno::result(ret).map(drop)
}

/// `si_code` of a signal queued by a process (`SI_QUEUE`).
pub const SI_QUEUE: i32 = -1;

/// Send `sig` through a pidfd with `value` in its `si_value`: how the
/// launcher tells the sandbox's init that a signal came from the terminal
/// and is for the command's whole process group.
pub fn pidfd_queue_signal(pidfd: BorrowedFd<'_>, sig: i32, value: i32) -> Result<(), Errno> {
    // SAFETY: siginfo_t is plain data; zeroed is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    info.si_signo = sig;
    info.si_code = SI_QUEUE;
    // The kernel's layout on 64-bit Linux: si_pid (int) at 16, si_uid at
    // 20, si_value at 24 (libc exposes no setter for the union).
    let raw = std::ptr::from_mut(&mut info).cast::<u8>();
    // SAFETY: offsets 16..28 lie inside the 128-byte siginfo_t; the
    // writes are unaligned-safe and of plain integers.
    unsafe {
        raw.add(16).cast::<i32>().write_unaligned(nix::unistd::getpid().as_raw());
        raw.add(20).cast::<u32>().write_unaligned(nix::unistd::getuid().as_raw());
        raw.add(24).cast::<i32>().write_unaligned(value);
    }
    // SAFETY: pidfd_send_signal reads one siginfo_t from the pointer, a
    // live local; the descriptor is valid for the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, &raw const info, 0u32) };
    Errno::result(ret).map(drop)
}

/// Send `sig` (0: only check) to the process behind `pidfd`.
pub fn pidfd_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<(), Errno> {
    // SAFETY: no siginfo is passed (NULL); the descriptor is valid for the call.
    let ret = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, std::ptr::null::<u8>(), 0u32)
    };
    Errno::result(ret).map(drop)
}
