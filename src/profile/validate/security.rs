//! `[security]`: capabilities, `no_new_privs`, seccomp, Landlock, hidden paths.

use std::path::PathBuf;

use super::{Cx, flag};
use crate::linux::caps;
use crate::linux::seccomp;
use crate::profile::diag::Diag;
use crate::profile::model::{Landlock, Seccomp, SeccompAction, SeccompFilter, Security};
use crate::profile::raw::{self, Lit, OneOf, Scope, SeccompBase, SeccompWord};
use crate::profile::source::Sp;
use crate::profile::suggest::closest;

/// Paths hidden by default, as the container engines do: kernel memory,
/// keys, timing side channels, firmware.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Paths read-only by default: kernel tunables and the sysrq trigger.
pub const READONLY_PATHS: &[&str] =
    &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Errno names a profile may use for refused system calls.
const ERRNOS: &[(&str, u32)] = &[
    ("EPERM", 1),
    ("ENOENT", 2),
    ("EIO", 5),
    ("EAGAIN", 11),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EFAULT", 14),
    ("EBUSY", 16),
    ("ENODEV", 19),
    ("EINVAL", 22),
    ("ENOTTY", 25),
    ("EROFS", 30),
    ("ENOSYS", 38),
    ("EOPNOTSUPP", 95),
];

pub(super) fn check(cx: &mut Cx, raw: &raw::Security) -> Option<Security> {
    let before = cx.diags.len();
    let mut capabilities: Vec<&'static str> =
        raw.capabilities.iter().filter_map(|c| capability(cx, c)).collect();
    capabilities.sort_unstable();
    capabilities.dedup();
    let no_new_privileges = flag(raw.no_new_privileges.as_ref(), true);
    let seccomp = match &raw.seccomp {
        None | Some(OneOf::Scalar(SeccompWord::Default)) => Some(Seccomp::Filter(SeccompFilter {
            base_default: true,
            allow: Vec::new(),
            deny: Vec::new(),
            default_action: SeccompAction::Errno,
            errno: 1,
        })),
        Some(OneOf::Scalar(SeccompWord::Unconfined)) => Some(Seccomp::Unconfined),
        Some(OneOf::Collection(table)) => seccomp_table(cx, table).map(Seccomp::Filter),
    };
    let landlock = raw.landlock.as_ref().and_then(|l| landlock(cx, l));
    if let Some(nnp) = raw.no_new_privileges.as_ref().filter(|n| !n.value) {
        let filtered = matches!(seccomp, Some(Seccomp::Filter(_))) || raw.landlock.is_some();
        if filtered && !capabilities.contains(&"CAP_SYS_ADMIN") {
            let diag = Diag::at("profile::no-new-privileges", nnp.span, "seccomp and Landlock need no_new_privileges")
                .help("the kernel refuses a filter from a process without no_new_privs or CAP_SYS_ADMIN; set it to true, or use seccomp = \"unconfined\" and no Landlock");
            cx.error(diag);
        }
    }
    let builtin = flag(raw.builtin_paths.as_ref(), true);
    let mut masked_paths = defaults(builtin, MASKED_PATHS);
    masked_paths.extend(raw.masked_paths.iter().filter_map(|p| cx.sandbox_path("masked path", p)));
    let mut readonly_paths = defaults(builtin, READONLY_PATHS);
    readonly_paths.extend(raw.readonly_paths.iter().filter_map(|p| cx.sandbox_path("read-only path", p)));
    for list in [&mut masked_paths, &mut readonly_paths] {
        list.sort();
        list.dedup();
    }
    if cx.diags.len() != before {
        return None;
    }
    Some(Security {
        capabilities,
        no_new_privileges,
        seccomp: seccomp?,
        landlock,
        masked_paths,
        readonly_paths,
    })
}

fn defaults(on: bool, list: &[&str]) -> Vec<PathBuf> {
    if on { list.iter().map(PathBuf::from).collect() } else { Vec::new() }
}

fn capability(cx: &mut Cx, c: &Sp<String>) -> Option<&'static str> {
    caps::canonical(&c.value).or_else(|| {
        let upper = c.value.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
        let help = match closest(&full, caps::ALL.iter().copied()) {
            Some(guess) => {
                format!("did you mean \"{}\"? names are the kernel's, `CAP_` optional", &guess[4..])
            }
            None => "names are the kernel's (capabilities(7)), e.g. \"NET_BIND_SERVICE\"; `CAP_` is optional"
                .to_owned(),
        };
        cx.error(
            Diag::at("profile::capability", c.span, format!("unknown capability \"{}\"", c.value)).help(help),
        );
        None
    })
}

fn seccomp_table(cx: &mut Cx, t: &raw::SeccompTable) -> Option<SeccompFilter> {
    let before = cx.diags.len();
    let allow: Vec<String> = t.allow.iter().filter_map(|s| syscall(cx, s)).collect();
    let deny: Vec<String> = t.deny.iter().filter_map(|s| syscall(cx, s)).collect();
    for d in &t.deny {
        if let Some(a) = t.allow.iter().find(|a| a.value == d.value) {
            let diag = Diag::at(
                "profile::seccomp-conflict",
                d.span,
                format!("`{}` is both allowed and denied", d.value),
            )
            .label(a.span, "allowed here")
            .help("keep it in one list");
            cx.error(diag);
        }
    }
    let errno = match &t.errno {
        None => Some(1),
        Some(e) => errno(cx, e),
    };
    let default_action = match t.default_action.as_ref().map(|a| a.value) {
        None | Some(raw::SeccompAction::Errno) => SeccompAction::Errno,
        Some(raw::SeccompAction::Kill) => SeccompAction::Kill,
        Some(raw::SeccompAction::Trap) => SeccompAction::Trap,
        Some(raw::SeccompAction::Log) => SeccompAction::Log,
    };
    let base_default = t.base.as_ref().is_none_or(|b| b.value == SeccompBase::Default);
    (cx.diags.len() == before).then(|| SeccompFilter {
        base_default,
        allow,
        deny,
        default_action,
        errno: errno.unwrap_or(1),
    })
}

/// A system call name known on `x86_64` or aarch64.
fn syscall(cx: &mut Cx, s: &Sp<String>) -> Option<String> {
    if seccomp::is_known(&s.value) {
        return Some(s.value.clone());
    }
    let help = match closest(&s.value, seccomp::all_names()) {
        Some(guess) => format!("did you mean `{guess}`?"),
        None => "names are the kernel's system call names for x86_64 or aarch64, e.g. \"ptrace\"".to_owned(),
    };
    cx.error(Diag::at("profile::syscall", s.span, format!("unknown system call `{}`", s.value)).help(help));
    None
}

fn errno(cx: &mut Cx, e: &Sp<Lit>) -> Option<u32> {
    let found = match &e.value {
        Lit::Str(name) => ERRNOS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v),
        Lit::Int(i) => u32::try_from(*i).ok().filter(|v| (1..4096).contains(v)),
        Lit::Float(_) => None,
    };
    if found.is_none() {
        let names: Vec<&str> = ERRNOS.iter().map(|(n, _)| *n).collect();
        cx.error(
            Diag::at("profile::errno", e.span, format!("{} is not an errno", e.value))
                .help(format!("use a number from 1 to 4095 or one of {}", names.join(", "))),
        );
    }
    found
}

fn landlock(cx: &mut Cx, l: &raw::Landlock) -> Option<Landlock> {
    let before = cx.diags.len();
    let mut paths = |list: &[Sp<String>]| -> Vec<PathBuf> {
        list.iter().filter_map(|p| cx.sandbox_path("Landlock path", p)).collect()
    };
    let (read, execute, write) = (paths(&l.read), paths(&l.execute), paths(&l.write));
    let ports = |list: &[Sp<u16>]| {
        let mut v: Vec<u16> = list.iter().map(|p| p.value).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let scoped = |s: Scope| l.scope.iter().any(|x| x.value == s);
    (cx.diags.len() == before).then(|| Landlock {
        read,
        execute,
        write,
        tcp_bind: ports(&l.tcp_bind),
        tcp_connect: ports(&l.tcp_connect),
        scope_signal: scoped(Scope::Signal),
        scope_abstract_unix_socket: scoped(Scope::AbstractUnixSocket),
        best_effort: l.enforce.as_ref().is_some_and(|e| e.value == raw::Enforce::BestEffort),
    })
}
