//! Tests of the default profile's data (kept apart so the data file stays short).

use super::super::{Arch, all_names, is_known, known_on};
use super::*;

fn rules_for(name: &str) -> impl Iterator<Item = &'static Rule> + '_ {
    DEFAULT.iter().filter(move |rule| rule.names.contains(&name))
}

/// What the profile does with a call: the first matching rule's action (the
/// rules of one name never disagree), else the default errno.
fn verdict(name: &str, args: [u64; 6]) -> Action {
    rules_for(name).find(|rule| rule.matches(&args)).map_or(Action::Errno(DEFAULT_ERRNO), |rule| rule.action)
}

fn arg(index: usize, value: u64) -> [u64; 6] {
    let mut args = [0; 6];
    args[index] = value;
    args
}

#[test]
fn every_name_is_known_somewhere() {
    for rule in DEFAULT {
        for name in rule.names {
            assert!(is_known(name), "DEFAULT names unknown syscall {name}");
        }
    }
    for group in DENIED_BY_DEFAULT {
        for name in group.names {
            assert!(is_known(name), "DENIED_BY_DEFAULT names unknown syscall {name}");
        }
    }
}

#[test]
fn denied_names_appear_in_no_rule() {
    for group in DENIED_BY_DEFAULT {
        for name in group.names {
            assert!(rules_for(name).next().is_none(), "{name} is denied but has a rule");
            assert_eq!(denied_reason(name), Some(group.reason));
        }
    }
    assert_eq!(denied_reason("read"), None);
}

/// Calls that must never be in the default allowlist: the usual escape and host-administration set.
#[rustfmt::skip]
const MUST_DENY: &[&str] = &[
    "mount", "umount2", "pivot_root", "unshare", "setns", "ptrace", "process_vm_readv",
    "process_vm_writev", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "open_by_handle_at", "lookup_dcookie", "fanotify_init", "quotactl", "nfsservctl",
    "sysfs", "_sysctl", "uselib", "ustat", "kcmp", "fsopen", "fsmount", "fsconfig",
    "fspick", "move_mount", "open_tree", "mount_setattr", "syslog", "iopl", "ioperm",
    "create_module", "get_kernel_syms", "query_module", "lsm_set_self_attr",
];

#[test]
fn the_usual_dangerous_calls_are_denied() {
    for &name in MUST_DENY {
        assert!(denied_reason(name).is_some(), "{name} should be in DENIED_BY_DEFAULT");
        assert_eq!(verdict(name, [0; 6]), Action::Errno(DEFAULT_ERRNO), "{name}");
    }
}

#[test]
fn every_known_syscall_is_classified() {
    let allowed = allowed_names();
    let unclassified: Vec<&str> = all_names()
        .filter(|name| rules_for(name).next().is_none() && denied_reason(name).is_none())
        .collect();
    assert!(unclassified.is_empty(), "decide on: {unclassified:?}");
    assert!(allowed.len() >= 300, "only {} names allowed", allowed.len());
}

#[test]
fn rules_are_consistent() {
    let mut seen_unconditional = Vec::new();
    for rule in DEFAULT {
        assert!(!rule.names.is_empty() && !rule.reason.is_empty());
        for cmp in rule.args {
            assert!(cmp.index < 6);
            if cmp.op != Op::MaskedEq {
                assert_eq!(cmp.value_two, 0, "value_two only means something for MaskedEq");
            }
        }
        // Portability: runc ORs, and libseccomp rejects, repeated comparisons
        // of one argument within a rule.
        for (i, a) in rule.args.iter().enumerate() {
            assert!(rule.args[i + 1..].iter().all(|b| b.index != a.index), "{rule:?}");
        }
        if rule.args.is_empty() {
            seen_unconditional.extend(rule.names.iter().copied());
        }
    }
    // A name is either unconditional (once) or filtered, never both.
    let mut sorted = seen_unconditional.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), seen_unconditional.len(), "a name is listed twice");
    for name in &seen_unconditional {
        assert_eq!(rules_for(name).count(), 1, "{name} also has conditional rules");
    }
    // The rules of one name agree on the action, so rule order cannot matter.
    for name in allowed_names() {
        let mut actions = rules_for(name).map(|rule| rule.action);
        let first = actions.next();
        assert!(actions.all(|a| Some(a) == first), "{name} mixes actions");
    }
}

#[test]
fn allowlist_has_arch_specific_names() {
    let allowed = allowed_names();
    for name in ["arch_prctl", "fork", "vfork", "open", "stat", "poll", "select"] {
        assert!(allowed.contains(&name), "{name}");
    }
    // Everyday calls resolve on both architectures.
    for name in ["read", "openat", "mmap", "futex", "rseq", "landlock_create_ruleset"] {
        assert!(allowed.contains(&name), "{name}");
        assert_eq!(known_on(name), Arch::ALL.to_vec(), "{name}");
    }
}

#[test]
fn clone_refuses_namespace_flags() {
    const SIGCHLD: u64 = 17;
    // glibc's fork() and pthread_create() flags.
    let fork = 0x0120_0000 | SIGCHLD;
    let thread = 0x003d_0f00;
    assert_eq!(verdict("clone", arg(0, fork)), Action::Allow);
    assert_eq!(verdict("clone", arg(0, thread)), Action::Allow);
    for flag in [0x80, 0x2_0000, 0x200_0000, 0x400_0000, 0x800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000] {
        assert_eq!(verdict("clone", arg(0, fork | flag)), Action::Errno(DEFAULT_ERRNO), "{flag:#x}");
    }
    assert_eq!(verdict("clone3", [0; 6]), Action::Errno(ENOSYS));
}

#[test]
fn personality_allows_only_harmless_personas() {
    for ok in [0, 8, 0x2_0000, 0x2_0008, 0xffff_ffff, u64::MAX] {
        assert_eq!(verdict("personality", arg(0, ok)), Action::Allow, "{ok:#x}");
    }
    // ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, and a junk-upper-bits PER_LINUX.
    for bad in [0x4_0000, 0x40_0000, 0x1_0000_0000] {
        assert_eq!(verdict("personality", arg(0, bad)), Action::Errno(DEFAULT_ERRNO), "{bad:#x}");
    }
}

#[test]
fn socket_blocks_vsock_even_with_junk_upper_bits() {
    for family in [1, 2, 10, 16, 17, 38, 39, 41, 44, 45] {
        assert_eq!(verdict("socket", arg(0, family)), Action::Allow, "{family}");
    }
    for family in [AF_VSOCK, 0x1_0000_0000 | AF_VSOCK, 0xffff_ffff_0000_0000 | AF_VSOCK, 1 << 32] {
        assert_eq!(verdict("socket", arg(0, family)), Action::Errno(DEFAULT_ERRNO), "{family:#x}");
    }
}

#[test]
fn ioctl_blocks_tiocsti_and_tioclinux_on_the_low_32_bits() {
    let upper = [0, 1 << 32, 0xdead_beef_0000_0000, 0xffff_ffff_0000_0000];
    for hi in upper {
        for bad in [TIOCSTI, TIOCLINUX] {
            let request = hi | u64::from(bad);
            assert_eq!(verdict("ioctl", arg(1, request)), Action::Errno(DEFAULT_ERRNO), "{request:#x}");
        }
        // TCGETS, TIOCGWINSZ, FIONREAD, neighbours, FIOCLEX, an _IOR request,
        // and the extremes of the 32-bit range.
        for ok in [0x5401_u32, 0x5411, 0x5413, 0x541B, 0x541D, 0x5451, 0x8004_5430, 0, 0xffff_ffff] {
            let request = hi | u64::from(ok);
            assert_eq!(verdict("ioctl", arg(1, request)), Action::Allow, "{request:#x}");
        }
    }
    // Exhaustive over a window around the two values, any fd.
    for low in 0x5000..0x6000_u32 {
        let expect =
            if low == TIOCSTI || low == TIOCLINUX { Action::Errno(DEFAULT_ERRNO) } else { Action::Allow };
        assert_eq!(verdict("ioctl", [3, u64::from(low), 0, 0, 0, 0]), expect, "{low:#x}");
    }
}

#[test]
fn ioctl_rules_cover_exactly_the_complement() {
    // The rules are masked equalities over the low 32 bits; if they are
    // pairwise disjoint and their sizes add up to 2^32 - 2 while neither
    // forbidden value matches, their union is exactly the complement.
    let cmps: Vec<ArgCmp> = rules_for("ioctl").map(|rule| rule.args[0]).collect();
    let mut total: u64 = 0;
    for (i, a) in cmps.iter().enumerate() {
        assert_eq!((a.index, a.op, a.value >> 32, a.value_two & !a.value), (1, Op::MaskedEq, 0, 0));
        total += 1 << (32 - a.value.count_ones());
        for b in &cmps[i + 1..] {
            let common = a.value & b.value;
            assert_ne!(a.value_two & common, b.value_two & common, "{a:?} overlaps {b:?}");
        }
    }
    assert_eq!(total, (1 << 32) - 2);
}

#[test]
fn no_call_creates_or_sets_a_set_id_mode() {
    let with = |index: usize, mode: u64, more: &[(usize, u64)]| {
        let mut a = arg(index, mode);
        for (i, v) in more {
            a[*i] = *v;
        }
        a
    };
    let o_creat = 0o100;
    for (name, at, more) in [
        ("chmod", 1, vec![]),
        ("fchmod", 1, vec![]),
        ("fchmodat", 2, vec![]),
        ("fchmodat2", 2, vec![]),
        ("creat", 1, vec![]),
        ("mkdir", 1, vec![]),
        ("mkdirat", 2, vec![]),
        ("mknod", 1, vec![]),
        ("mknodat", 2, vec![]),
        ("open", 2, vec![(1, o_creat)]),
        ("openat", 3, vec![(2, o_creat)]),
        ("openat", 3, vec![(2, 0o20_200_000)]), // O_TMPFILE
    ] {
        for plain in [0o755, 0o1777, 0o644 | (1 << 40)] {
            assert_eq!(verdict(name, with(at, plain, &more)), Action::Allow, "{name} {plain:o}");
        }
        for setid in [0o4755, 0o2755, 0o6755, 0o4000 | (1 << 40)] {
            assert_eq!(
                verdict(name, with(at, setid, &more)),
                Action::Errno(DEFAULT_ERRNO),
                "{name} {setid:o}"
            );
        }
    }
    // Opening without creating: the mode argument is junk and ignored.
    assert_eq!(verdict("open", [0, 0o2, 0o4755, 0, 0, 0]), Action::Allow);
    assert_eq!(verdict("openat", [0, 0, 0o2, 0o4755, 0, 0]), Action::Allow);
    assert_eq!(verdict("openat2", [0; 6]), Action::Errno(ENOSYS));
}
