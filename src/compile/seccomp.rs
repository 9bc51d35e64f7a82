//! The model's seccomp choice → OCI `linux.seccomp`, for the native
//! architecture only (the runtime kills every other ABI).

use std::collections::BTreeSet;

use oci_spec::runtime::{
    Arch as OciArch, LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator as CmpOp, LinuxSyscall, LinuxSyscallBuilder,
};

use crate::linux::seccomp::default_profile::{Action, DEFAULT};
use crate::linux::seccomp::{Arch, number};
use crate::linux::seccomp::{ArgCmp, Op};
use crate::profile::model::{SeccompAction, SeccompFilter};

pub fn compile(filter: &SeccompFilter, arch: Arch) -> LinuxSeccomp {
    let known = |name: &&str| number(arch, name).is_some();
    let denied: BTreeSet<&str> = filter.deny.iter().map(String::as_str).collect();
    let allowed: BTreeSet<&str> = filter.allow.iter().map(String::as_str).filter(known).collect();
    let mut syscalls = Vec::new();
    if filter.base_default {
        for rule in DEFAULT {
            // A name the profile allows or denies outright drops out of the
            // conditional base rules, so no syscall gets two actions.
            let names: BTreeSet<&str> = rule
                .names
                .iter()
                .copied()
                .filter(known)
                .filter(|n| !denied.contains(n) && !allowed.contains(n))
                .collect();
            if names.is_empty() {
                continue;
            }
            let (action, errno) = match rule.action {
                Action::Allow => (Act::ScmpActAllow, None),
                Action::Errno(e) => (Act::ScmpActErrno, Some(e)),
            };
            syscalls.push(entry(names, action, errno, rule.args));
        }
    }
    if !allowed.is_empty() {
        syscalls.push(entry(allowed, Act::ScmpActAllow, None, &[]));
    }
    let denied: BTreeSet<&str> = denied.into_iter().filter(known).collect();
    if !denied.is_empty() {
        syscalls.push(entry(denied, Act::ScmpActErrno, Some(filter.errno), &[]));
    }
    let default_action = match filter.default_action {
        SeccompAction::Errno => Act::ScmpActErrno,
        SeccompAction::Kill => Act::ScmpActKillProcess,
        SeccompAction::Trap => Act::ScmpActTrap,
        SeccompAction::Log => Act::ScmpActLog,
    };
    let mut builder = LinuxSeccompBuilder::default()
        .default_action(default_action)
        .architectures(vec![oci_arch(arch)])
        .syscalls(syscalls);
    if filter.default_action == SeccompAction::Errno {
        builder = builder.default_errno_ret(filter.errno);
    }
    builder.build().expect("every seccomp field is set")
}

fn entry(names: BTreeSet<&str>, action: Act, errno: Option<u32>, args: &[ArgCmp]) -> LinuxSyscall {
    let mut b = LinuxSyscallBuilder::default()
        .names(names.into_iter().map(str::to_owned).collect::<Vec<_>>())
        .action(action);
    if let Some(e) = errno {
        b = b.errno_ret(e);
    }
    if !args.is_empty() {
        b = b.args(args.iter().map(arg).collect::<Vec<_>>());
    }
    b.build().expect("every syscall field is set")
}

fn arg(a: &ArgCmp) -> LinuxSeccompArg {
    let op = match a.op {
        Op::Eq => CmpOp::ScmpCmpEq,
        Op::Ne => CmpOp::ScmpCmpNe,
        Op::Lt => CmpOp::ScmpCmpLt,
        Op::Le => CmpOp::ScmpCmpLe,
        Op::Gt => CmpOp::ScmpCmpGt,
        Op::Ge => CmpOp::ScmpCmpGe,
        Op::MaskedEq => CmpOp::ScmpCmpMaskedEq,
    };
    let mut b = LinuxSeccompArgBuilder::default().index(usize::from(a.index)).value(a.value).op(op);
    if a.op == Op::MaskedEq {
        b = b.value_two(a.value_two);
    }
    b.build().expect("every argument field is set")
}

fn oci_arch(arch: Arch) -> OciArch {
    match arch {
        Arch::X86_64 => OciArch::ScmpArchX86_64,
        Arch::Aarch64 => OciArch::ScmpArchAarch64,
    }
}
