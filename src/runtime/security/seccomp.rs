//! seccomp: the spec's `linux.seccomp` compiled to BPF for the native
//! architecture with seccompiler, and installed.
//!
//! seccompiler gives a filter one match action and one mismatch action, so a
//! spec with several actions becomes a stack, and the kernel combines the
//! verdicts (seccomp(2)): every filter runs, the most restrictive action
//! wins (`KILL_PROCESS` > `KILL_THREAD` > `TRAP` > `ERRNO` > `TRACE` > `LOG` > `ALLOW`),
//! and between equal actions with different data (two errnos) the most
//! recently installed filter wins. The stack, in install order:
//!
//! 1. the guard: kills every foreign ABI — another `AUDIT_ARCH` (`int 0x80`
//!    reports i386) and, on `x86_64`, x32 calls (`nr | 0x40000000`, same
//!    `AUDIT_ARCH`), which no rule of ours could otherwise tell apart;
//! 2. one filter per action other than allow (match → that action, else
//!    allow), in the order the actions first appear in the spec;
//! 3. the allowlist: every entry of the spec, whatever its action
//!    (match → allow, else the default action), compiled by our own
//!    `seccomp_bpf` into a binary search: a quarter of the instructions
//!    of seccompiler's chain, which the kernel pays for at install;
//! 4. rarely, the one filter whose action applies to `prctl` or `seccomp`.
//!
//! The allowlist matches every entry, not only the allow entries: a call an
//! entry matches gets ALLOW from it and the entry's action from that
//! action's filter; a call nothing matches gets the default from it and
//! ALLOW from all the others. So the default never competes with an entry's
//! action (`defaultAction` KILL with clone3 → ERRNO(ENOSYS) gives ENOSYS, as
//! libseccomp does; an allowlist of the allow entries alone would kill), and
//! a tie can only come from two entries of the same kind (two errnos) that
//! match one call: the action that first appears later in the spec wins.
//!
//! Installing is itself filtered: seccompiler's `apply_filter` calls
//! `prctl(PR_SET_NO_NEW_PRIVS)` and then `seccomp()`, and every filter
//! already installed judges both. The allowlist, whose default may refuse
//! them, therefore goes last, and a filter that refuses them goes after it.

use std::collections::BTreeMap;

use oci_spec::runtime::{
    Arch as OciArch, LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompArg, LinuxSeccompOperator as CmpOp,
    LinuxSyscall,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch, sock_filter,
};

use crate::error::{Result, SetupError};
use crate::linux::seccomp::{Arch, number};
use crate::linux::seccomp::{ArgCmp, Op};
use crate::runtime::security::seccomp_bpf::{self, Allowed};

/// The errno when the spec names none.
const EPERM: u32 = 1;
/// The kernel's largest errno; `SECCOMP_RET_DATA` would silently cut bigger values.
const MAX_ERRNO: u32 = 4095;
/// The calls the installer makes between two filters.
const INSTALL_CALLS: [&str; 2] = ["prctl", "seccomp"];

/// Syscall number → the alternative rules that match it (`None`: always).
type Rules = BTreeMap<i64, Option<Vec<SeccompRule>>>;

/// The entries of one action other than allow.
struct Group {
    action: SeccompAction,
    rules: Rules,
}

/// Compile OCI `linux.seccomp` to the stack of BPF programs described
/// above, in install order. Names unknown on this architecture are skipped.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Vec<BpfProgram>> {
    let arch = Arch::native();
    check_header(seccomp, arch)?;
    let default_errno = seccomp.default_errno_ret().unwrap_or(EPERM);
    let default = action(seccomp.default_action(), default_errno, "defaultAction")?;
    let mut allowlist = Allowed::new();
    let mut groups: Vec<Group> = Vec::new();
    for (i, entry) in seccomp.syscalls().iter().flatten().enumerate() {
        let what = format!("syscalls[{i}]");
        let act = action(entry.action(), entry.errno_ret().unwrap_or(default_errno), &what)?;
        let conds = conds(entry, &what)?;
        let rule = conds.as_deref().map(|c| rule(c, &what)).transpose()?;
        for nr in entry.names().iter().filter_map(|name| number(arch, name)) {
            allow(&mut allowlist, nr, conds.as_ref());
            if act != SeccompAction::Allow {
                add(group(&mut groups, &act), i64::from(nr), rule.as_ref());
            }
        }
    }
    stack(arch, default, &allowlist, groups)
}

/// Install the programs in order on the calling thread (seccompiler sets
/// `no_new_privs` itself before each one).
pub fn install(programs: &[BpfProgram]) -> Result<()> {
    for (i, program) in programs.iter().enumerate() {
        seccompiler::apply_filter(program).map_err(|e| {
            let step = format!("install seccomp filter {} of {}", i + 1, programs.len());
            let err = match &e {
                seccompiler::Error::Prctl(io) => {
                    SetupError::io(format!("{step}: prctl(PR_SET_NO_NEW_PRIVS)"), io)
                }
                seccompiler::Error::Seccomp(io) => SetupError::io(step, io),
                other => return SetupError::new(step).detail(other.to_string()),
            };
            if i > 0 {
                err.fix("an earlier filter of the stack refused prctl or seccomp: allow both")
            } else {
                err
            }
        })?;
    }
    Ok(())
}

fn refuse(what: &str, detail: String, fix: &str) -> SetupError {
    SetupError::new(format!("compile linux.seccomp {what}")).detail(detail).fix(fix)
}

/// What we cannot honour in the filter's header: flags, a notify listener,
/// an architecture list without this machine's.
fn check_header(seccomp: &LinuxSeccomp, arch: Arch) -> Result<()> {
    if let Some(flags) = seccomp.flags().as_ref().filter(|f| !f.is_empty()) {
        let names: Vec<String> = flags.iter().map(ToString::to_string).collect();
        let detail = format!("{} not supported", names.join(", "));
        return Err(refuse("flags", detail, "remove linux.seccomp.flags"));
    }
    if seccomp.listener_path().is_some() || seccomp.listener_metadata().is_some() {
        let detail = "a user-notification listener is not supported".to_owned();
        return Err(refuse("listenerPath", detail, "remove listenerPath and listenerMetadata"));
    }
    let native = match arch {
        Arch::X86_64 => OciArch::ScmpArchX86_64,
        Arch::Aarch64 => OciArch::ScmpArchAarch64,
    };
    // Other listed architectures are not filtered but killed by the guard.
    if let Some(archs) = seccomp.architectures().as_ref().filter(|a| !a.is_empty()) {
        if !archs.contains(&native) {
            let names: Vec<String> = archs.iter().map(ToString::to_string).collect();
            let detail = format!("[{}] does not include this machine's {native}", names.join(", "));
            return Err(refuse(
                "architectures",
                detail,
                &format!("add {native} to linux.seccomp.architectures"),
            ));
        }
    }
    Ok(())
}

fn action(act: Act, errno: u32, what: &str) -> Result<SeccompAction> {
    Ok(match act {
        Act::ScmpActAllow => SeccompAction::Allow,
        Act::ScmpActErrno if errno <= MAX_ERRNO => SeccompAction::Errno(errno),
        Act::ScmpActErrno => {
            let detail = format!("errno {errno} is out of range (0-{MAX_ERRNO})");
            return Err(refuse(what, detail, "use an errno number or name such as EPERM"));
        }
        // libseccomp's SCMP_ACT_KILL is SECCOMP_RET_KILL_THREAD.
        Act::ScmpActKill | Act::ScmpActKillThread => SeccompAction::KillThread,
        Act::ScmpActKillProcess => SeccompAction::KillProcess,
        Act::ScmpActTrap => SeccompAction::Trap,
        Act::ScmpActLog => SeccompAction::Log,
        Act::ScmpActNotify | Act::ScmpActTrace => {
            let detail =
                format!("{act} is not supported: the sandbox has no supervisor or tracer to answer it");
            return Err(refuse(
                what,
                detail,
                "use SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP or SCMP_ACT_LOG",
            ));
        }
    })
}

/// An entry's argument comparisons (all must hold); `None` when it has
/// none and matches every call.
fn conds(entry: &LinuxSyscall, what: &str) -> Result<Option<Vec<ArgCmp>>> {
    let args = entry.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Ok(None);
    }
    args.iter().map(|a| cond(a, what)).collect::<Result<Vec<_>>>().map(Some)
}

/// One OCI comparison; OCI (libseccomp) compares all 64 bits, unsigned.
fn cond(arg: &LinuxSeccompArg, what: &str) -> Result<ArgCmp> {
    let Some(index) = u8::try_from(arg.index()).ok().filter(|&i| i <= 5) else {
        let detail = format!("argument index {} is out of range (0-5)", arg.index());
        return Err(refuse(what, detail, "syscalls have six arguments, numbered 0 to 5"));
    };
    let op = match arg.op() {
        CmpOp::ScmpCmpNe => Op::Ne,
        CmpOp::ScmpCmpLt => Op::Lt,
        CmpOp::ScmpCmpLe => Op::Le,
        CmpOp::ScmpCmpEq => Op::Eq,
        CmpOp::ScmpCmpGe => Op::Ge,
        CmpOp::ScmpCmpGt => Op::Gt,
        // (arg & value) == valueTwo
        CmpOp::ScmpCmpMaskedEq => Op::MaskedEq,
    };
    Ok(ArgCmp { index, op, value: arg.value(), value_two: arg.value_two().unwrap_or(0) })
}

/// The same comparisons for seccompiler (the filters of other actions).
fn rule(conds: &[ArgCmp], what: &str) -> Result<SeccompRule> {
    let failed = |e: seccompiler::BackendError| {
        SetupError::new(format!("compile linux.seccomp {what}")).detail(e.to_string())
    };
    let conditions = conds
        .iter()
        .map(|c| {
            let op = match c.op {
                Op::Eq => SeccompCmpOp::Eq,
                Op::Ne => SeccompCmpOp::Ne,
                Op::Lt => SeccompCmpOp::Lt,
                Op::Le => SeccompCmpOp::Le,
                Op::Gt => SeccompCmpOp::Gt,
                Op::Ge => SeccompCmpOp::Ge,
                Op::MaskedEq => SeccompCmpOp::MaskedEq(c.value),
            };
            let operand = if c.op == Op::MaskedEq { c.value_two } else { c.value };
            SeccompCondition::new(c.index, SeccompCmpArgLen::Qword, op, operand).map_err(failed)
        })
        .collect::<Result<Vec<_>>>()?;
    SeccompRule::new(conditions).map_err(failed)
}

/// The allowlist's side of [`add`]: alternatives accumulate, and an
/// unconditional entry allows the syscall always.
fn allow(allowed: &mut Allowed, nr: u32, conds: Option<&Vec<ArgCmp>>) {
    let slot = allowed.entry(nr).or_insert_with(|| Some(Vec::new()));
    match (slot, conds) {
        (Some(alternatives), Some(conds)) => alternatives.push(conds.clone()),
        (slot, None) => *slot = None,
        (None, Some(_)) => {}
    }
}

/// Add one entry's rule for `nr`: alternatives accumulate (OR), and an
/// unconditional entry makes the syscall match always.
fn add(rules: &mut Rules, nr: i64, rule: Option<&SeccompRule>) {
    let slot = rules.entry(nr).or_insert_with(|| Some(Vec::new()));
    match (slot, rule) {
        (Some(alternatives), Some(rule)) => alternatives.push(rule.clone()),
        (slot, None) => *slot = None,
        (None, Some(_)) => {}
    }
}

fn group<'a>(groups: &'a mut Vec<Group>, action: &SeccompAction) -> &'a mut Rules {
    let i = if let Some(i) = groups.iter().position(|g| g.action == *action) {
        i
    } else {
        groups.push(Group { action: action.clone(), rules: Rules::new() });
        groups.len() - 1
    };
    &mut groups[i].rules
}

fn stack(
    arch: Arch,
    default: SeccompAction,
    allowlist: &Allowed,
    groups: Vec<Group>,
) -> Result<Vec<BpfProgram>> {
    let target = match arch {
        Arch::X86_64 => TargetArch::x86_64,
        Arch::Aarch64 => TargetArch::aarch64,
    };
    let install: Vec<i64> = INSTALL_CALLS.iter().filter_map(|n| number(arch, n)).map(i64::from).collect();
    let (late, early): (Vec<Group>, Vec<Group>) =
        groups.into_iter().partition(|g| install.iter().any(|nr| g.rules.contains_key(nr)));
    // Only the last filter may refuse prctl or seccomp: after it nothing
    // more can be installed. So a filter that refuses them goes after the
    // allowlist, which must then let both through whatever their arguments.
    let always =
        install.iter().all(|nr| u32::try_from(*nr).is_ok_and(|nr| matches!(allowlist.get(&nr), Some(None))));
    let conditional = late.iter().any(|g| install.iter().any(|nr| matches!(g.rules.get(nr), Some(Some(_)))));
    let allowlist_refuses = default != SeccompAction::Allow && !always;
    if late.len() > 1 || (!late.is_empty() && (conditional || allowlist_refuses)) {
        let detail =
            "prctl and seccomp, which install each filter of the stack, are refused by more than one \
                      filter or conditionally; only the last filter may refuse them"
                .to_owned();
        let fix = "allow prctl and seccomp, or refuse only one of them, with one action and no arguments";
        return Err(refuse("syscalls", detail, fix));
    }
    let mut programs = vec![guard(arch)];
    for g in &early {
        programs.push(program(&g.rules, SeccompAction::Allow, &g.action, target)?);
    }
    if default != SeccompAction::Allow {
        let mut known: Vec<u32> = arch.table().iter().map(|(_, nr)| *nr).collect();
        known.sort_unstable();
        known.dedup();
        programs.push(seccomp_bpf::allowlist(allowlist, u32::from(default), audit_arch(arch), &known));
    }
    for g in &late {
        programs.push(program(&g.rules, SeccompAction::Allow, &g.action, target)?);
    }
    Ok(programs)
}

fn program(
    rules: &Rules,
    mismatch: SeccompAction,
    on_match: &SeccompAction,
    target: TargetArch,
) -> Result<BpfProgram> {
    let rules: BTreeMap<i64, Vec<SeccompRule>> =
        rules.iter().map(|(nr, alternatives)| (*nr, alternatives.clone().unwrap_or_default())).collect();
    let what = format!("{on_match:?} on match, {mismatch:?} otherwise");
    SeccompFilter::new(rules, mismatch, on_match.clone(), target)
        .and_then(BpfProgram::try_from)
        .map_err(|e| SetupError::new(format!("compile the seccomp filter ({what})")).detail(e.to_string()))
}

/// `AUDIT_ARCH_*` (`linux/audit.h`): the ELF machine with the 64-bit and little-endian bits.
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
/// x32 syscalls are the `x86_64` numbers with this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// Offsets in `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
/// Classic BPF opcodes (`linux/bpf_common.h`).
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn audit_arch(arch: Arch) -> u32 {
    match arch {
        Arch::X86_64 => AUDIT_ARCH_X86_64,
        Arch::Aarch64 => AUDIT_ARCH_AARCH64,
    }
}

/// Kill every call that is not of this architecture's native ABI; allow the rest.
fn guard(arch: Arch) -> BpfProgram {
    let kill = libc::SECCOMP_RET_KILL_PROCESS;
    let mut p =
        vec![insn(LD_W_ABS, 0, 0, DATA_ARCH), insn(JEQ_K, 1, 0, audit_arch(arch)), insn(RET_K, 0, 0, kill)];
    if arch == Arch::X86_64 {
        p.extend([
            insn(LD_W_ABS, 0, 0, DATA_NR),
            insn(JGE_K, 0, 1, X32_SYSCALL_BIT),
            insn(RET_K, 0, 0, kill),
        ]);
    }
    p.push(insn(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW));
    p
}

#[cfg(test)]
mod tests;
