//! Tests of the seccomp compiler: a small BPF simulator with the kernel's
//! rule for combining stacked filters.

use super::*;
use libc::{SECCOMP_RET_ALLOW as ALLOW, SECCOMP_RET_KILL_PROCESS as KILL};

fn errno(e: u32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e
}

/// Run one classic BPF program (the opcodes seccompiler and the guard emit) on `seccomp_data`.
#[allow(clippy::cast_possible_truncation)]
fn run(program: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let word = |off: u32| match off {
        0 => nr,
        4 => arch,
        16..=63 => (args[(off as usize - 16) / 8] >> (8 * (off % 8))) as u32,
        _ => 0,
    };
    let (mut pc, mut acc) = (0, 0u32);
    loop {
        let i = &program[pc];
        pc += 1;
        let jump = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
        match i.code {
            0x20 => acc = word(i.k),
            0x54 => acc &= i.k,
            0x05 => pc += i.k as usize,
            0x15 => pc += jump(acc == i.k),
            0x25 => pc += jump(acc > i.k),
            0x35 => pc += jump(acc >= i.k),
            0x45 => pc += jump(acc & i.k != 0),
            0x06 => return i.k,
            code => panic!("unexpected BPF opcode {code:#x}"),
        }
    }
}

/// The kernel's verdict (`seccomp_run_filters`): newest filter first; a
/// strictly more restrictive action replaces the one so far.
#[allow(clippy::cast_possible_wrap)]
fn verdict(programs: &[BpfProgram], name: &str, args: [u64; 6]) -> u32 {
    let nr = number(Arch::native(), name).unwrap_or_else(|| panic!("{name} is unknown here"));
    let rank = |r: u32| (r & libc::SECCOMP_RET_ACTION_FULL) as i32;
    let verdicts = programs.iter().rev().map(|p| run(p, nr, native_audit(), args));
    verdicts.fold(ALLOW, |best, r| if rank(r) < rank(best) { r } else { best })
}

fn spec(json: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(json).expect("a valid linux.seccomp")
}

/// Every filter but the last lets the installer's own calls through.
fn assert_installable(programs: &[BpfProgram]) {
    for name in INSTALL_CALLS {
        for p in &programs[..programs.len() - 1] {
            let nr = number(Arch::native(), name).unwrap();
            assert_eq!(
                run(p, nr, native_audit(), [1, 0, 0, 0, 0, 0]),
                ALLOW,
                "{name} refused before the last filter"
            );
        }
    }
}

fn native_audit() -> u32 {
    if Arch::native() == Arch::X86_64 { AUDIT_ARCH_X86_64 } else { AUDIT_ARCH_AARCH64 }
}

#[test]
fn entries_beat_the_default_and_later_actions_win_ties() {
    let s = spec(serde_json::json!({
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "syscalls": [
            { "names": ["getpid", "no_such_call"], "action": "SCMP_ACT_ALLOW" },
            { "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 },
            { "names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 },
            { "names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30 },
            { "names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{ "index": 0, "value": 8, "op": "SCMP_CMP_EQ" }] },
            { "names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{ "index": 0, "value": 0, "op": "SCMP_CMP_EQ" }] },
            { "names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{ "index": 1, "value": 255, "valueTwo": 18, "op": "SCMP_CMP_MASKED_EQ" }] },
            { "names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{ "index": 0, "value": 40, "op": "SCMP_CMP_LT" }] },
            { "names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97, "args": [{ "index": 0, "value": 40, "op": "SCMP_CMP_GE" }] },
            { "names": ["uname"], "action": "SCMP_ACT_LOG" },
            { "names": ["getppid"], "action": "SCMP_ACT_ERRNO" }
        ]
    }));
    let programs = compile(&s).unwrap();
    assert_installable(&programs);
    let v = |name: &str, a0: u64, a1: u64| verdict(&programs, name, [a0, a1, 0, 0, 0, 0]);
    assert_eq!(v("getpid", 0, 0), ALLOW);
    assert_eq!(v("clone3", 0, 0), errno(38), "an errno entry beats a kill default");
    assert_eq!(v("mkdirat", 0, 0), errno(30), "between two errnos the later entry wins");
    assert_eq!(
        (v("personality", 8, 0), v("personality", 0, 0), v("personality", 3, 0)),
        (ALLOW, ALLOW, KILL)
    );
    assert_eq!((v("ioctl", 0, 0x1012), v("ioctl", 0, 0x13)), (ALLOW, KILL));
    assert_eq!(
        (v("socket", 2, 0), v("socket", 40, 0), v("socket", 1 << 32, 0)),
        (ALLOW, errno(97), errno(97))
    );
    assert_eq!(v("uname", 0, 0), libc::SECCOMP_RET_LOG);
    assert_eq!(v("getppid", 0, 0), errno(EPERM), "errnoRet defaults to EPERM");
    assert_eq!(v("getuid", 0, 0), KILL);
    // The order is what decides the tie: installed the other way round, 13 would win.
    let mkdirat = number(Arch::native(), "mkdirat").unwrap();
    let answering =
        |e: u32| programs.iter().position(|p| run(p, mkdirat, native_audit(), [0; 6]) == errno(e)).unwrap();
    let mut swapped = programs.clone();
    swapped.swap(answering(13), answering(30));
    assert_eq!(verdict(&swapped, "mkdirat", [0; 6]), errno(13));
}

/// `linux.seccomp` of the shipped base profile: the built-in default filter.
fn default_filter() -> LinuxSeccomp {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let host = crate::profile::host::HostContext::fixed();
    let loaded = crate::profile::load_profile(&root.join("profiles/base.toml"), &host);
    let spec = crate::compile::compile(loaded.model.as_ref().unwrap(), &host).spec;
    spec.linux().as_ref().unwrap().seccomp().clone().unwrap()
}

#[test]
fn the_default_profile() {
    let programs = compile(&default_filter()).unwrap();
    assert_installable(&programs);
    let v = |name: &str, args: [u64; 6]| verdict(&programs, name, args);
    for name in ["getpid", "execve", "wait4", "prctl", "seccomp"] {
        assert_eq!(v(name, [0; 6]), ALLOW, "{name}");
    }
    for name in ["mount", "unshare", "ptrace", "keyctl", "io_uring_setup", "bpf"] {
        assert_eq!(v(name, [0; 6]), errno(EPERM), "{name}");
    }
    assert_eq!(v("clone3", [0; 6]), errno(38));
    assert_eq!(v("clone", [0x11, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(v("clone", [0x1000_0011, 0, 0, 0, 0, 0]), errno(EPERM), "CLONE_NEWUSER");
    assert_eq!(v("ioctl", [0, 0x5401, 0, 0, 0, 0]), ALLOW, "TCGETS");
    assert_eq!(v("ioctl", [0, 0x5412, 0, 0, 0, 0]), errno(EPERM), "TIOCSTI");
    assert_eq!(v("ioctl", [0, 0x1_0000_5412, 0, 0, 0, 0]), errno(EPERM), "TIOCSTI with junk above");
}

#[test]
fn foreign_abis_are_killed() {
    let programs = compile(&spec(serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW" }))).unwrap();
    assert_eq!(programs.len(), 1, "only the guard");
    let getpid = number(Arch::native(), "getpid").unwrap();
    assert_eq!(run(&programs[0], getpid, native_audit(), [0; 6]), ALLOW);
    assert_eq!(run(&programs[0], 20, 0x4000_0003, [0; 6]), KILL, "i386 (int 0x80)");
    if Arch::native() == Arch::X86_64 {
        assert_eq!(run(&programs[0], X32_SYSCALL_BIT | getpid, native_audit(), [0; 6]), KILL, "x32");
    }
}

#[test]
fn a_filter_refusing_the_installer_goes_last() {
    let s = spec(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            { "names": ["seccomp"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 },
            { "names": ["mkdirat"], "action": "SCMP_ACT_KILL" },
            { "names": ["prctl"], "action": "SCMP_ACT_ALLOW" }
        ]
    }));
    let programs = compile(&s).unwrap();
    assert_installable(&programs);
    assert_eq!(verdict(&programs, "seccomp", [0; 6]), errno(13));
    assert_eq!(verdict(&programs, "mkdirat", [0; 6]), libc::SECCOMP_RET_KILL_THREAD);
}

#[test]
fn what_we_cannot_honour_is_refused_by_name() {
    let refused = |json: serde_json::Value, needle: &str| {
        let e = compile(&spec(json)).expect_err(needle).to_string();
        assert!(e.contains(needle), "{e}");
    };
    refused(serde_json::json!({ "defaultAction": "SCMP_ACT_NOTIFY" }), "SCMP_ACT_NOTIFY");
    refused(
        serde_json::json!({ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{ "names": ["ptrace"], "action": "SCMP_ACT_TRACE" }] }),
        "syscalls[0]",
    );
    refused(
        serde_json::json!({ "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"] }),
        "SCMP_ARCH_X86",
    );
    refused(
        serde_json::json!({ "defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_LOG"] }),
        "flags",
    );
    refused(serde_json::json!({ "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000 }), "errno 5000");
    refused(
        serde_json::json!({ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{ "names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{ "index": 6, "value": 0, "op": "SCMP_CMP_EQ" }] }] }),
        "index 6",
    );
    refused(
        serde_json::json!({ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        { "names": ["seccomp"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 },
        { "names": ["prctl"], "action": "SCMP_ACT_KILL_PROCESS" }] }),
        "prctl and seccomp",
    );
    // The allowlist before a filter refusing seccomp would refuse prctl.
    refused(
        serde_json::json!({ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        { "names": ["seccomp"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 }] }),
        "prctl and seccomp",
    );
}

/// The allowlist as seccompiler would compile it: the reference for ours.
fn seccompiler_allowlist(s: &LinuxSeccomp) -> BpfProgram {
    let arch = Arch::native();
    let mut rules = Rules::new();
    for (i, entry) in s.syscalls().iter().flatten().enumerate() {
        let what = format!("syscalls[{i}]");
        let conds = conds(entry, &what).unwrap();
        let rule = conds.as_deref().map(|c| rule(c, &what).unwrap());
        for nr in entry.names().iter().filter_map(|name| number(arch, name)) {
            add(&mut rules, i64::from(nr), rule.as_ref());
        }
    }
    let default = action(s.default_action(), s.default_errno_ret().unwrap_or(EPERM), "default").unwrap();
    let target = if arch == Arch::X86_64 { TargetArch::x86_64 } else { TargetArch::aarch64 };
    program(&rules, default, &SeccompAction::Allow, target).unwrap()
}

/// Whether this architecture's table has syscall `nr`.
fn known(nr: u32) -> bool {
    Arch::native().table().iter().any(|(_, n)| *n == nr)
}

/// Ours, verdict for verdict against seccompiler's, on every syscall number
/// (and a foreign architecture) with each of `args`; numbers our tables do
/// not know answer ENOSYS in ours.
fn assert_same_verdicts(s: &LinuxSeccomp, args: &[[u64; 6]]) -> (usize, usize) {
    let reference = seccompiler_allowlist(s);
    let ours = compile(s).unwrap().pop().unwrap();
    for nr in 0..=600 {
        for a in args {
            let want = if known(nr) { run(&reference, nr, native_audit(), *a) } else { errno(38) };
            let got = run(&ours, nr, native_audit(), *a);
            assert_eq!(got, want, "syscall {nr} with {a:x?}");
        }
    }
    assert_eq!(run(&ours, 1, 0x4000_0003, [0; 6]), run(&reference, 1, 0x4000_0003, [0; 6]), "i386");
    (reference.len(), ours.len())
}

#[test]
fn the_compact_allowlist_agrees_with_seccompiler_on_the_default_profile() {
    let s = &default_filter();
    // The values the default profile's conditions test, and their neighbours.
    let mut args = vec![[0; 6], [u64::MAX; 6]];
    for v in [0x11, 0x1000_0011, 0x7E02_0000, 0x5401, 0x5412, 0x1_0000_5412, 2, 40, 1 << 32, 8, 0xffff_ffff] {
        for w in [v, v + 1, v - 1] {
            args.extend([[w, 0, 0, 0, 0, 0], [0, w, 0, 0, 0, 0], [w, w, w, 0, 0, 0]]);
        }
    }
    let (theirs, ours) = assert_same_verdicts(s, &args);
    assert!(ours * 3 < theirs, "{ours} instructions, seccompiler {theirs}: not compact");
}

/// Numbers beyond and between the known ones answer ENOSYS, whatever the
/// default action; known but unlisted ones get the default.
#[test]
fn unknown_numbers_answer_enosys() {
    let s = spec(serde_json::json!({ "defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [
        { "names": ["read"], "action": "SCMP_ACT_ALLOW" } ] }));
    let ours = compile(&s).unwrap().pop().unwrap();
    let max = Arch::native().table().iter().map(|(_, n)| *n).max().unwrap();
    let gap = (0..max).find(|nr| !known(*nr)).expect("the table has a gap");
    let at = |nr: u32| run(&ours, nr, native_audit(), [0; 6]);
    assert_eq!(at(number(Arch::native(), "read").unwrap()), ALLOW);
    assert_eq!(at(number(Arch::native(), "write").unwrap()), KILL);
    for nr in [gap, max + 1, 1000, 0x3fff_ffff, u32::MAX] {
        assert_eq!(at(nr), errno(38), "syscall {nr}");
    }
}

#[test]
fn every_comparison_agrees_with_seccompiler_at_its_boundaries() {
    let v: u64 = 0x1_0000_0005;
    let arg = |op: &str| serde_json::json!([{ "index": 1, "value": v, "op": op }]);
    let s = spec(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            { "names": ["read"], "action": "SCMP_ACT_ALLOW", "args": arg("SCMP_CMP_EQ") },
            { "names": ["write"], "action": "SCMP_ACT_ALLOW", "args": arg("SCMP_CMP_NE") },
            { "names": ["open"], "action": "SCMP_ACT_ALLOW", "args": arg("SCMP_CMP_LT") },
            { "names": ["close"], "action": "SCMP_ACT_ALLOW", "args": arg("SCMP_CMP_LE") },
            { "names": ["stat"], "action": "SCMP_ACT_ALLOW", "args": arg("SCMP_CMP_GT") },
            { "names": ["fstat"], "action": "SCMP_ACT_ALLOW", "args": arg("SCMP_CMP_GE") },
            { "names": ["lstat"], "action": "SCMP_ACT_ALLOW",
              "args": [{ "index": 1, "value": 0xf_0000_00ff_u64, "valueTwo": 0x1_0000_0005_u64, "op": "SCMP_CMP_MASKED_EQ" }] },
            // Two alternatives, one of two conditions.
            { "names": ["poll"], "action": "SCMP_ACT_ALLOW",
              "args": [{ "index": 0, "value": 3, "op": "SCMP_CMP_EQ" }, { "index": 1, "value": v, "op": "SCMP_CMP_GT" }] },
            { "names": ["poll"], "action": "SCMP_ACT_ALLOW", "args": [{ "index": 2, "value": 7, "op": "SCMP_CMP_LE" }] },
            // An unconditional entry wins over a conditional one for the same call.
            { "names": ["lseek", "mmap", "mprotect", "getpid"], "action": "SCMP_ACT_ALLOW" },
            { "names": ["mmap"], "action": "SCMP_ACT_ALLOW", "args": arg("SCMP_CMP_EQ") }
        ]
    }));
    let mut args = Vec::new();
    for w in
        [0, 1, 5, 6, 4, v - 1, v, v + 1, v + (1 << 32), v - (1 << 32), 0xf_0000_00ff, 0x1_0000_0105, u64::MAX]
    {
        for x in [0, 3, 7, 8] {
            args.extend([[x, w, 0, 0, 0, 0], [x, w, x, 0, 0, 0], [x, w, 9, 0, 0, 0]]);
        }
    }
    assert_same_verdicts(&s, &args);
}

/// Far jumps: enough conditional syscalls that the search's jumps exceed
/// the 8-bit offset and go through JA trampolines.
#[test]
fn long_programs_jump_through_trampolines() {
    let names: Vec<&str> =
        ["read", "write", "open", "close", "stat", "fstat", "lstat", "poll", "lseek", "mmap"]
            .into_iter()
            .chain([
                "mprotect",
                "munmap",
                "brk",
                "rt_sigaction",
                "rt_sigprocmask",
                "ioctl",
                "pread64",
                "pwrite64",
            ])
            .collect();
    let entries: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let conds: Vec<serde_json::Value> = (0..6)
                .map(
                    |a| serde_json::json!({ "index": a, "value": i as u64 + (a << 33), "op": "SCMP_CMP_NE" }),
                )
                .collect();
            serde_json::json!({ "names": [n], "action": "SCMP_ACT_ALLOW", "args": conds })
        })
        .collect();
    let s = spec(serde_json::json!({ "defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": entries }));
    let ours = compile(&s).unwrap().pop().unwrap();
    assert!(
        ours.len() > 300 && ours.iter().any(|i| i.code == 0x05),
        "no trampoline in {} instructions",
        ours.len()
    );
    let mut args = vec![[0; 6], [u64::MAX; 6]];
    for i in 0..names.len() as u64 {
        args.push([i, i + (1 << 33), i + (2 << 33), i + (3 << 33), i + (4 << 33), i + (5 << 33)]);
        args.push([i, 0, 0, 0, 0, 0]);
    }
    assert_same_verdicts(&s, &args);
}
