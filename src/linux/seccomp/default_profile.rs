//! The default seccomp allowlist: every syscall an ordinary program needs,
//! with roughly the coverage of the container engines' default profiles, and
//! nothing that reaches host-wide state or other processes.
//!
//! Semantics are those of the OCI spec (libseccomp underneath): a call is
//! allowed if any rule naming it matches; all comparisons of one rule must
//! hold; anything unmatched fails with [`DEFAULT_ERRNO`]. Names may exist on
//! only one architecture; whoever turns this into a filter drops names unknown
//! on the target arch.
//!
//! Argument filters follow two portability rules, because runtimes differ:
//! - At most one comparison per argument in a rule. runc splits a rule that
//!   compares the same argument twice into separate rules (any one then allows),
//!   and runtimes calling libseccomp directly may refuse such a rule, so
//!   "request != A && request != B" cannot be written as one rule.
//! - Compare 32-bit arguments through a 32-bit mask, or only in ways that fail
//!   closed. The kernel truncates `int`/`unsigned int` arguments but the filter
//!   sees all 64 bits, so `arg != 0x5412` is bypassed by `0x1_0000_5412`.

use super::{ArgCmp, Op};

/// What happens to a syscall a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Let the call through.
    Allow,
    /// Fail the call with this errno without entering the kernel.
    Errno(u32),
}

/// One allowlist entry: the syscalls it covers, what to do, and when.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Why these syscalls are in the profile (one line, for humans).
    pub reason: &'static str,
    /// Syscall names; each exists on `x86_64`, `aarch64` or both.
    pub names: &'static [&'static str],
    /// The action taken when the rule matches.
    pub action: Action,
    /// Argument comparisons, all of which must hold (none: always matches).
    pub args: &'static [ArgCmp],
}

impl Rule {
    /// Whether this rule matches a call with these six raw arguments.
    pub fn matches(&self, args: &[u64; 6]) -> bool {
        self.args.iter().all(|cmp| args.get(usize::from(cmp.index)).is_some_and(|&a| cmp.matches(a)))
    }
}

/// The errno for everything not listed (EPERM = 1), like the container engines.
pub const DEFAULT_ERRNO: u32 = 1;

/// `ENOSYS`: "not implemented", which makes libc fall back to an older call.
pub const ENOSYS: u32 = 38;

/// Namespace-creating clone flags. `CLONE_NEWTIME` is only honoured by clone3
/// and unshare (in clone's flags 0x80 is part of the exit signal, which no
/// valid signal sets), so masking it too costs nothing.
pub const CLONE_NAMESPACE_FLAGS: u64 = 0x80 // CLONE_NEWTIME
    | 0x0002_0000 // CLONE_NEWNS
    | 0x0200_0000 // CLONE_NEWCGROUP
    | 0x0400_0000 // CLONE_NEWUTS
    | 0x0800_0000 // CLONE_NEWIPC
    | 0x1000_0000 // CLONE_NEWUSER
    | 0x2000_0000 // CLONE_NEWPID
    | 0x4000_0000; // CLONE_NEWNET

/// `TIOCSTI`: push bytes into a terminal's input queue.
pub const TIOCSTI: u32 = 0x5412;
/// `TIOCLINUX`: virtual-console control, including pasting the selection.
pub const TIOCLINUX: u32 = 0x541C;
/// `AF_VSOCK`: host/guest sockets, which no network namespace confines.
pub const AF_VSOCK: u64 = 40;

/// "The low 32 bits of argument `index` agree with `value` above `bit` and
/// differ from it at `bit`": one branch of a binary trie. The upper 32 bits
/// are left out of the mask on purpose: the kernel ignores them too.
const fn low32_branch(index: u8, value: u32, bit: u32) -> ArgCmp {
    let mask = u32::MAX << bit;
    ArgCmp { index, op: Op::MaskedEq, value: mask as u64, value_two: ((value ^ (1 << bit)) & mask) as u64 }
}

/// `S_ISUID | S_ISGID`.
pub const S_ISUID_ISGID: u64 = 0o6000;
/// `O_CREAT | __O_TMPFILE`: the open flags with which a mode applies.
pub const O_CREAT_TMPFILE: u64 = 0o100 | 0o2000_0000;

/// "None of `mask`'s bits is set in argument `index`". The masks here lie
/// in the low 32 bits, which the kernel reads (modes and flags are 32-bit
/// or narrower): junk above them cannot pass or fail a rule.
const fn no_bits(index: u8, mask: u64) -> ArgCmp {
    ArgCmp { index, op: Op::MaskedEq, value: mask, value_two: 0 }
}

const fn eq(index: u8, value: u64) -> ArgCmp {
    ArgCmp { index, op: Op::Eq, value, value_two: 0 }
}

const fn allow(reason: &'static str, names: &'static [&'static str]) -> Rule {
    Rule { reason, names, action: Action::Allow, args: &[] }
}

macro_rules! allow_if {
    ($name:literal, $reason:expr, $($cmp:expr),+) => {
        Rule { reason: $reason, names: &[$name], action: Action::Allow, args: &[$($cmp),+] }
    };
}

const PERSONALITY: &str = "personality: only PER_LINUX, PER_LINUX32, UNAME26 and the query; other \
    personas (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, ...) weaken memory protections";
const SETID: &str = "creating files and setting modes, but never S_ISUID or S_ISGID: a set-id \
    file left on a shared or bound directory would run with the sandbox's ids for whoever \
    starts it on the host (systemd's RestrictSUIDSGID)";
const SOCKET: &str = "socket: every address family but AF_VSOCK, which reaches the VM host and is \
    not namespaced; the family is an int, so the rules never pass a value with junk upper bits";
const IOCTL: &str = "ioctl: any request but TIOCSTI (type into the controlling terminal) and \
    TIOCLINUX (paste/inject on a virtual console); one rule per branch of the trie of the low 32 bits";

/// Rules in order; a syscall may appear in several conditional rules (OCI semantics: the
/// args of one rule must all hold; separate rules are alternatives, any one of which allows).
#[rustfmt::skip] // Data: keep names packed and one rule per line.
pub static DEFAULT: &[Rule] = &[
    allow("Process lifecycle: run programs, exit and reap children (clone is filtered below)", &[
        "execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid",
    ]),
    allow("Identity queries: reading one's own ids and capabilities", &[
        "getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid", "getuid", "geteuid",
        "getgid", "getegid", "getresuid", "getresgid", "getgroups", "capget",
    ]),
    allow("Credential changes: the kernel checks CAP_SETUID/SETGID and capset can only drop", &[
        "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
        "setfsgid", "setgroups", "capset", "setpgid", "setsid",
    ]),
    allow("Signals, to oneself and to processes the pid namespace lets us see", &[
        "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigpending",
        "rt_sigsuspend", "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
        "rt_sigreturn", "sigaltstack", "pause", "alarm", "restart_syscall", "signalfd",
        "signalfd4", "pidfd_open", "pidfd_send_signal", "process_mrelease",
    ]),
    allow("Memory management of one's own address space, bounded by rlimits and the cgroup", &[
        "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore", "mlock",
        "mlock2", "munlock", "mlockall", "munlockall", "remap_file_pages", "pkey_alloc",
        "pkey_free", "pkey_mprotect", "membarrier", "mseal", "memfd_create", "memfd_secret",
        "map_shadow_stack",
    ]),
    allow("NUMA placement of one's own memory, within the cgroup's cpuset.mems", &[
        "get_mempolicy", "set_mempolicy", "mbind", "set_mempolicy_home_node",
    ]),
    allow("Threads, TLS and futex synchronisation", &[
        "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue", "set_robust_list",
        "get_robust_list", "set_tid_address", "rseq", "rseq_slice_yield", "arch_prctl",
        "get_thread_area", "set_thread_area",
    ]),
    allow("Scheduling and I/O priority: raising either needs CAP_SYS_NICE, checked by the kernel", &[
        "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
        "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_getattr",
        "sched_setattr", "sched_get_priority_max", "sched_get_priority_min",
        "sched_rr_get_interval", "getpriority", "setpriority", "ioprio_get", "ioprio_set", "getcpu",
    ]),
    allow("Resource limits and usage: raising a hard limit needs CAP_SYS_RESOURCE", &[
        "getrlimit", "setrlimit", "prlimit64", "getrusage", "times", "sysinfo", "uname",
    ]),
    allow("Self-restriction and process attributes: prctl, seccomp, Landlock, own LSM labels", &[
        "prctl", "seccomp", "landlock_create_ruleset", "landlock_add_rule",
        "landlock_restrict_self", "lsm_get_self_attr", "lsm_list_modules",
    ]),
    allow("Clocks, sleeps and timers (reading and waiting only; setting clocks is denied)", &[
        "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
        "getitimer", "setitimer", "timer_create", "timer_delete", "timer_gettime",
        "timer_settime", "timer_getoverrun", "timerfd_create", "timerfd_gettime",
        "timerfd_settime",
    ]),
    allow("File descriptor I/O and management", &[
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
        "preadv2", "pwritev2", "lseek", "close", "close_range", "dup", "dup2", "dup3", "fcntl",
        "flock", "pipe", "pipe2", "sendfile", "splice", "tee", "vmsplice", "copy_file_range",
        "readahead", "fadvise64", "fallocate", "ftruncate", "fsync", "fdatasync", "sync",
        "syncfs", "sync_file_range", "cachestat",
    ]),
    allow("Paths and file metadata, confined by the mount namespace and file permissions", &[
        "access", "faccessat", "faccessat2", "stat",
        "lstat", "fstat", "newfstatat", "statx", "statfs", "fstatfs", "getdents", "getdents64",
        "getcwd", "chdir", "fchdir", "chroot", "rmdir",
        "unlink", "unlinkat", "rename", "renameat", "renameat2", "link", "linkat", "symlink",
        "symlinkat", "readlink", "readlinkat", "truncate", "umask",
        "chown", "fchown", "lchown", "fchownat", "utime", "utimes",
        "futimesat", "utimensat", "file_getattr", "file_setattr", "name_to_handle_at",
    ]),
    allow("Mount listing: the same view of the own mount namespace as /proc/self/mountinfo", &[
        "statmount", "listmount",
    ]),
    allow("Extended attributes: the kernel checks trusted./security. writes per capability", &[
        "getxattr", "lgetxattr", "fgetxattr", "getxattrat", "setxattr", "lsetxattr",
        "fsetxattr", "setxattrat", "listxattr", "llistxattr", "flistxattr", "listxattrat",
        "removexattr", "lremovexattr", "fremovexattr", "removexattrat",
    ]),
    allow("Readiness and change notification on descriptors one already holds", &[
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
        "epoll_pwait2", "poll", "ppoll", "select", "pselect6", "eventfd", "eventfd2",
        "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
        "fanotify_mark",
    ]),
    allow("Sockets, confined by the network namespace (socket() itself is filtered below)", &[
        "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
        "getpeername", "getsockopt", "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg",
        "sendmmsg", "recvmmsg", "shutdown",
    ]),
    allow("SysV and POSIX IPC, private to the IPC namespace", &[
        "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl",
        "shmget", "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink", "mq_timedsend",
        "mq_timedreceive", "mq_notify", "mq_getsetattr",
    ]),
    allow("Legacy AIO: bounded by fs.aio-max-nr, and far less attack surface than io_uring", &[
        "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
    ]),
    allow("Randomness, and the uprobe trampolines' calls (only valid from the kernel's page)", &[
        "getrandom", "uretprobe", "uprobe",
    ]),
    // --- Argument-filtered calls ---
    allow_if!("clone", "clone: threads and processes, but no new namespaces (CLONE_NEW* bits clear)",
        ArgCmp { index: 0, op: Op::MaskedEq, value: CLONE_NAMESPACE_FLAGS, value_two: 0 }),
    Rule {
        reason: "clone3: its flags sit in a struct seccomp cannot read, so answer ENOSYS and let \
                 libc fall back to clone, whose flags the rule above checks",
        names: &["clone3"],
        action: Action::Errno(ENOSYS),
        args: &[],
    },
    // No set-id files (systemd's RestrictSUIDSGID): the mode argument of every
    // call that creates a file or sets a mode has S_ISUID and S_ISGID clear.
    Rule {
        reason: SETID,
        names: &["chmod", "fchmod", "creat", "mkdir", "mknod"],
        action: Action::Allow,
        args: &[no_bits(1, S_ISUID_ISGID)],
    },
    Rule {
        reason: SETID,
        names: &["fchmodat", "fchmodat2", "mkdirat", "mknodat"],
        action: Action::Allow,
        args: &[no_bits(2, S_ISUID_ISGID)],
    },
    // open and openat: either nothing is created, or the mode is plain.
    allow_if!("open", SETID, no_bits(1, O_CREAT_TMPFILE)),
    allow_if!("open", SETID, no_bits(2, S_ISUID_ISGID)),
    allow_if!("openat", SETID, no_bits(2, O_CREAT_TMPFILE)),
    allow_if!("openat", SETID, no_bits(3, S_ISUID_ISGID)),
    Rule {
        reason: "openat2: its mode sits in a struct seccomp cannot read, so answer ENOSYS and let \
                 libc fall back to openat, whose mode the rules above check",
        names: &["openat2"],
        action: Action::Errno(ENOSYS),
        args: &[],
    },
    allow_if!("personality", PERSONALITY, eq(0, 0x0)), // PER_LINUX
    allow_if!("personality", PERSONALITY, eq(0, 0x0008)), // PER_LINUX32
    allow_if!("personality", PERSONALITY, eq(0, 0x0002_0000)), // UNAME26
    allow_if!("personality", PERSONALITY, eq(0, 0x0002_0008)), // UNAME26 | PER_LINUX32
    allow_if!("personality", PERSONALITY, eq(0, 0xffff_ffff)), // query (glibc truncates -1)
    allow_if!("personality", PERSONALITY, eq(0, u64::MAX)), // query as musl passes -1
    // Lt compares all 64 bits, so junk in the upper half can only fail closed.
    allow_if!("socket", SOCKET, ArgCmp { index: 0, op: Op::Lt, value: AF_VSOCK, value_two: 0 }),
    allow_if!("socket", SOCKET, eq(0, 41)), // AF_KCM
    allow_if!("socket", SOCKET, eq(0, 42)), // AF_QIPCRTR
    allow_if!("socket", SOCKET, eq(0, 43)), // AF_SMC
    allow_if!("socket", SOCKET, eq(0, 44)), // AF_XDP (needs CAP_NET_RAW)
    allow_if!("socket", SOCKET, eq(0, 45)), // AF_MCTP; later families get EPERM until listed
    // ioctl: the complement of {TIOCSTI, TIOCLINUX} over the low 32 bits of the
    // request (the kernel's `unsigned int cmd`), as disjoint trie branches. The
    // two values share bits 31..4 and split at bit 3, so: one branch per bit
    // 31..4 leaving the shared prefix, then bits 2..0 under each of the two.
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 31)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 30)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 29)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 28)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 27)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 26)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 25)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 24)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 23)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 22)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 21)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 20)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 19)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 18)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 17)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 16)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 15)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 14)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 13)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 12)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 11)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 10)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 9)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 8)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 7)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 6)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 5)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 4)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 2)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 1)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCSTI, 0)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCLINUX, 2)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCLINUX, 1)),
    allow_if!("ioctl", IOCTL, low32_branch(1, TIOCLINUX, 0)),
];

/// A group of syscalls deliberately left out of [`DEFAULT`], with the reason.
#[derive(Clone, Copy, Debug)]
pub struct Denied {
    /// Why these are not allowed by default.
    pub reason: &'static str,
    /// Syscall names; each exists on `x86_64`, `aarch64` or both.
    pub names: &'static [&'static str],
}

/// Every known syscall that [`DEFAULT`] does not mention, grouped by reason
/// (tests check that allowlist and denylist together cover both tables, so a
/// newly generated syscall forces a decision). Not listed because neither
/// arch has them: vm86, vm86old, pciconfig_*, socketcall, ipc and the other
/// 32-bit-only calls.
#[rustfmt::skip] // Data, like DEFAULT.
pub static DENIED_BY_DEFAULT: &[Denied] = &[
    Denied {
        reason: "Mounting and the mount API: would rearrange or escape the sandbox's filesystem view",
        names: &[
            "mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
            "move_mount", "open_tree", "open_tree_attr", "mount_setattr",
        ],
    },
    Denied {
        reason: "Namespaces: entering, creating or enumerating them is the launcher's job, not the payload's",
        names: &["unshare", "setns", "listns"],
    },
    Denied {
        reason: "Reaching into other processes (ptrace-class access): a compromised payload could \
                 hijack its siblings; process_vm_*, pidfd_getfd and kcmp rest on the same check, \
                 which the engines only open up alongside CAP_SYS_PTRACE",
        names: &[
            "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd",
            "kcmp", "migrate_pages", "move_pages",
        ],
    },
    Denied {
        reason: "Kernel keyring: not namespaced, so keys would be shared with the host",
        names: &["keyctl", "add_key", "request_key"],
    },
    Denied {
        reason: "Kernel programmability and tracing: large attack surface, host-wide visibility",
        names: &["bpf", "perf_event_open", "lookup_dcookie"],
    },
    Denied {
        reason: "userfaultfd and io_uring: classic exploit primitives; io_uring ops also bypass seccomp",
        names: &["userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register"],
    },
    Denied {
        reason: "Kernel modules and kexec: loading code into, or replacing, the host kernel",
        names: &[
            "init_module", "finit_module", "delete_module", "create_module", "get_kernel_syms",
            "query_module", "kexec_load", "kexec_file_load",
        ],
    },
    Denied {
        reason: "Host-wide administration: power, swap, accounting, kernel log, quotas, host name, LSM state",
        names: &[
            "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "quotactl_fd",
            "sethostname", "setdomainname", "vhangup", "lsm_set_self_attr",
        ],
    },
    Denied {
        reason: "Setting or steering the system clocks, which are not namespaced",
        names: &["settimeofday", "clock_settime", "clock_adjtime", "adjtimex"],
    },
    Denied {
        reason: "File handles and fanotify: open_by_handle_at opens files outside the mount tree \
                 (the 'shocker' escape), fanotify_init watches whole filesystems",
        names: &["open_by_handle_at", "fanotify_init"],
    },
    Denied {
        reason: "Raw x86 hardware state: I/O ports and 16-bit segments (only DOS/Wine need them)",
        names: &["iopl", "ioperm", "modify_ldt"],
    },
    Denied {
        reason: "Obsolete interfaces nothing current uses",
        names: &["sysfs", "_sysctl", "uselib", "ustat", "nfsservctl"],
    },
    Denied {
        reason: "Reserved slots without a kernel implementation (ENOSYS either way)",
        names: &[
            "afs_syscall", "tuxcall", "security", "vserver", "getpmsg", "putpmsg",
            "epoll_ctl_old", "epoll_wait_old",
        ],
    },
];

/// Why `name` is left out of the default profile, if it is deliberately denied.
pub fn denied_reason(name: &str) -> Option<&'static str> {
    DENIED_BY_DEFAULT.iter().find(|group| group.names.contains(&name)).map(|group| group.reason)
}

/// Every name some [`Action::Allow`] rule of [`DEFAULT`] covers, sorted and deduplicated.
pub fn allowed_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = DEFAULT
        .iter()
        .filter(|rule| rule.action == Action::Allow)
        .flat_map(|rule| rule.names.iter().copied())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests;
