//! The only unsafe code in `sandbox`: system calls that neither std nor nix
//! wraps safely. Each block says why it is sound.
#![allow(unsafe_code)]

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

/// clone3 with `flags` (namespaces; `CLONE_PIDFD` is added), SIGCHLD as the
/// exit signal, and the child placed into `cgroup` when given
/// (`CLONE_INTO_CGROUP`). The child continues here with a copy of the
/// address space, like fork.
///
/// The caller must be single-threaded: the child gets only the calling
/// thread, so locks held by other threads would never be released.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Cloned, Errno> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: std::ptr::from_mut(&mut pidfd) as u64,
        exit_signal: u64::try_from(libc::SIGCHLD).expect("signal numbers are positive"),
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = u64::try_from(fd.as_raw_fd()).expect("open descriptors are not negative");
    }
    // SAFETY: `args` is a valid clone_args of the size we pass and lives
    // across the call; `pidfd` outlives it. With no CLONE_VM and no stack,
    // the child runs on a copy-on-write copy of this stack, as after fork.
    // The launcher is single-threaded up to here (the CLI never spawns
    // threads before running a sandbox), so the child inherits no lock held
    // by another thread.
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

/// fork(2) for the sandbox's init, which is single-threaded.
pub fn fork() -> Result<Option<Pid>, Errno> {
    // SAFETY: called only in the sandbox's pid 1, a single-threaded copy of
    // the launcher made by clone3; the child only execs or exits.
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

/// setdomainname(2), in a new UTS namespace.
pub fn set_domainname(name: &str) -> Result<(), Errno> {
    // SAFETY: the pointer and length describe `name`'s bytes, which the
    // kernel only reads during the call.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop)
}

/// Make `fd` (a terminal) the controlling terminal of this session.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal); `fd` is a
    // valid open descriptor for the duration of the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    Errno::result(ret).map(drop)
}

/// A terminal's window size (rows, columns, x pixels, y pixels).
pub fn window_size(fd: BorrowedFd<'_>) -> Result<libc::winsize, Errno> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the pointer we pass,
    // which points at a live local of that type.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &raw mut ws) };
    Errno::result(ret).map(|_| ws)
}

pub fn set_window_size(fd: BorrowedFd<'_>, ws: &libc::winsize) -> Result<(), Errno> {
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, a live borrow.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, std::ptr::from_ref(ws)) };
    Errno::result(ret).map(drop)
}

/// Bring the loopback interface up in a new network namespace.
pub fn loopback_up() -> Result<(), Errno> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: `ifreq` is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = libc::c_char::from_ne_bytes([*src]);
    }
    // SAFETY: SIOCGIFFLAGS fills `ifr_ifru.ifru_flags` of the ifreq we pass;
    // the socket is open for the call.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &raw mut req) })?;
    // SAFETY: the kernel just initialised the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::c_short::try_from(libc::IFF_UP).expect("IFF_UP fits") };
    // SAFETY: SIOCSIFFLAGS reads the same ifreq.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &raw mut req) }).map(drop)
}

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

/// Take ownership of a descriptor the kernel just gave us (`SCM_RIGHTS`).
pub fn own_fd(raw: RawFd) -> OwnedFd {
    // SAFETY: called only with descriptors received through SCM_RIGHTS,
    // which the kernel installed fresh in our table; no other owner exists.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

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

/// Where this process's argument and environment strings live (the memory
/// /proc/PID/cmdline and /proc/PID/environ show), from /proc/self/stat.
#[derive(Clone, Copy, Debug, Default)]
pub struct ArgsRegion {
    start: usize,
    end: usize,
}

impl ArgsRegion {
    /// Read it while the host's /proc is still mounted.
    pub fn of_self() -> Option<ArgsRegion> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which may hold spaces and parens.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<usize> = rest.split(' ').map(|f| f.trim().parse().unwrap_or(0)).collect();
        // arg_start, arg_end, env_start, env_end are fields 48 to 51 (the
        // first of `rest` is field 3).
        let (first, last) = (*fields.get(45)?, *fields.get(48)?);
        (first > 0 && last > first && last - first < 1 << 24)
            .then_some(ArgsRegion { start: first, end: last })
    }

    /// Overwrite the region with `label` and zeros: /proc/PID/cmdline then
    /// shows `label`, and the caller's environment is gone from memory.
    pub fn scrub(self, label: &[u8]) {
        let len = self.end - self.start;
        let keep = label.len().min(len.saturating_sub(1));
        // SAFETY: [start, end) is this process's own argument and
        // environment area on its initial stack, mapped writable by the
        // kernel at exec and never unmapped; this process is single-threaded,
        // and nothing reads those strings afterwards (they are copies of
        // the launcher's, which already parsed them).
        unsafe {
            let base = self.start as *mut u8;
            std::ptr::copy_nonoverlapping(label.as_ptr(), base, keep);
            std::ptr::write_bytes(base.add(keep), 0, len - keep);
        }
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

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
#[derive(Default)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Mount attributes (`MOUNT_ATTR_*`).
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// Set `attrs` on the mount at `fd` and on every mount below it
/// (`mount_setattr` with `AT_RECURSIVE`): a read-only bind of a tree is then
/// read-only in each of its submounts too, which a remount of its top
/// mount alone does not do.
pub fn set_mount_attrs_recursive(fd: BorrowedFd<'_>, attrs: u64) -> Result<(), Errno> {
    let attr = MountAttr { attr_set: attrs, ..MountAttr::default() };
    mount_setattr(fd, libc::AT_EMPTY_PATH | libc::AT_RECURSIVE, &attr)
}

/// `mount_setattr(2)` on the mount at `fd` itself (an empty path).
fn mount_setattr(fd: BorrowedFd<'_>, flags: libc::c_int, attr: &MountAttr) -> Result<(), Errno> {
    // SAFETY: the path is an empty C string, `attr` a valid mount_attr of
    // the size we pass, borrowed across the call; `fd` is open (and so is
    // the user namespace descriptor an id-mapping attr names).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            std::ptr::from_ref(attr),
            size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

const OPEN_TREE_CLONE: u32 = 1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// A detached copy of the mount tree at `fd` (`open_tree(OPEN_TREE_CLONE)`),
/// with its submounts when `recursive`.
pub fn clone_tree(fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: the path is an empty C string; `fd` is open for the call.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    let raw = Errno::result(ret)?;
    // SAFETY: on success open_tree returns a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(RawFd::try_from(raw).expect("descriptors fit in an int")) })
}

/// Make the detached mount tree at `fd` show its files through the id
/// mapping of the user namespace `userns` (`MOUNT_ATTR_IDMAP`).
pub fn idmap_tree(fd: BorrowedFd<'_>, userns: BorrowedFd<'_>, recursive: bool) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: u64::try_from(userns.as_raw_fd()).expect("open descriptors are not negative"),
        ..MountAttr::default()
    };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    mount_setattr(fd, flags, &attr)
}

/// Attach the detached mount tree `tree` on the directory `target`
/// (`move_mount`; both are descriptors, so no path is looked up again).
pub fn attach_tree(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
    let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both paths are empty C strings; both descriptors are open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    };
    Errno::result(ret).map(drop)
}
