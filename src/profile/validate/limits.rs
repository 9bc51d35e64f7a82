//! `[limits]`: cgroup limits, rlimits and the wall-clock timeout.

use super::{Cx, human};
use crate::profile::diag::Diag;
use crate::profile::model::{CpuQuota, Enforce, Limits, Rlimit};
use crate::profile::raw::{self, Lit, OneOf, RlimitPair};
use crate::profile::source::Sp;
use crate::profile::units::{DURATION_SUFFIXES, parse_duration, parse_size};

/// The CFS period we use: the kernel's default, 100 ms.
const CPU_PERIOD_US: u64 = 100_000;
/// Below this a sandbox cannot start a shell.
const MIN_MEMORY: u64 = 4 << 20;
const MAX_MEMORY: u64 = 1 << 50;
/// `RLIM_INFINITY`.
const UNLIMITED: u64 = u64::MAX;

pub(super) fn check(cx: &mut Cx, raw: &raw::Limits) -> Option<Limits> {
    let before = cx.diags.len();
    let memory = raw.memory.as_ref().and_then(|m| cx.size("memory limit", m, MIN_MEMORY, MAX_MEMORY));
    let memory_swap =
        raw.memory_swap.as_ref().and_then(|m| cx.size("memory+swap limit", m, MIN_MEMORY, MAX_MEMORY));
    check_swap(cx, raw, memory, memory_swap);
    let cpu = raw.cpus.as_ref().and_then(|c| cpus(cx, c));
    let cpu_weight = raw.cpu_weight.as_ref().and_then(|w| cx.in_range("`cpu_weight`", w, 1, 10_000));
    let pids = raw.pids.as_ref().and_then(|p| cx.in_range("`pids`", p, 1, 4_194_304));
    let io_weight = raw
        .io_weight
        .as_ref()
        .and_then(|w| cx.in_range("`io_weight`", w, 10, 1000))
        .and_then(|w| u16::try_from(w).ok());
    let timeout = raw.timeout.as_ref().and_then(|t| timeout(cx, t));
    let enforce = match raw.enforce.as_ref().map(|e| e.value) {
        None | Some(raw::Enforce::Required) => Enforce::Required,
        Some(raw::Enforce::BestEffort) => Enforce::BestEffort,
    };
    let rlimits = rlimits(cx, &raw.rlimits);
    (cx.diags.len() == before).then_some(Limits {
        memory,
        memory_swap,
        cpu,
        cpu_weight,
        pids,
        io_weight,
        timeout,
        enforce,
        rlimits,
    })
}

/// `memory_swap` counts memory plus swap: it needs `memory`, and is at least it.
fn check_swap(cx: &mut Cx, raw: &raw::Limits, memory: Option<u64>, memory_swap: Option<u64>) {
    let Some(swap) = &raw.memory_swap else { return };
    match (&raw.memory, memory, memory_swap) {
        (None, _, _) => cx.error(
            Diag::at("profile::memory-swap", swap.span, "`memory_swap` needs `memory`")
                .help("set `memory` too: `memory_swap` is memory plus swap"),
        ),
        (Some(m), Some(mem), Some(total)) if total < mem => cx.error(
            Diag::at(
                "profile::memory-swap",
                swap.span,
                format!("`memory_swap` ({}) is less than `memory` ({})", human(total), human(mem)),
            )
            .label(m.span, "memory set here")
            .help("`memory_swap` counts memory plus swap, so it is at least `memory`"),
        ),
        _ => {}
    }
}

/// The rlimits set, in a fixed order; sizes are accepted only where the limit is in bytes.
fn rlimits(cx: &mut Cx, r: &raw::Rlimits) -> Vec<Rlimit> {
    let table = [
        ("RLIMIT_NOFILE", &r.nofile, false),
        ("RLIMIT_NPROC", &r.nproc, false),
        ("RLIMIT_CORE", &r.core, true),
        ("RLIMIT_FSIZE", &r.fsize, true),
        ("RLIMIT_STACK", &r.stack, true),
        ("RLIMIT_AS", &r.address_space, true),
        ("RLIMIT_CPU", &r.cpu, false),
    ];
    table.into_iter().filter_map(|(kind, value, sized)| rlimit(cx, kind, value.as_ref()?, sized)).collect()
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)] // range checked first
fn cpus(cx: &mut Cx, c: &Sp<f64>) -> Option<CpuQuota> {
    if !(c.value >= 0.01 && c.value <= 4096.0) {
        cx.error(
            Diag::at("profile::range", c.span, format!("`cpus` {} is out of range", c.value))
                .help("use a number of CPUs from 0.01 to 4096, e.g. 1.5"),
        );
        return None;
    }
    let quota = (c.value * CPU_PERIOD_US as f64).round() as i64;
    Some(CpuQuota { quota, period: CPU_PERIOD_US })
}

fn timeout(cx: &mut Cx, t: &Sp<Lit>) -> Option<std::time::Duration> {
    let parsed = match &t.value {
        Lit::Int(i) => u64::try_from(*i)
            .map(std::time::Duration::from_secs)
            .map_err(|_| "a timeout is not negative".to_owned()),
        Lit::Float(x) if *x > 0.0 && *x < 1e9 => Ok(std::time::Duration::from_secs_f64(*x)),
        Lit::Float(_) => Err("timeout out of range".to_owned()),
        Lit::Str(s) => parse_duration(s),
    };
    match parsed {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            cx.error(
                Diag::at("profile::timeout", t.span, "a timeout of zero")
                    .help("remove `timeout` for no limit"),
            );
            None
        }
        Err(message) => {
            cx.error(
                Diag::at("profile::timeout", t.span, message)
                    .help(format!("write seconds or a duration like \"10m\"; suffixes: {DURATION_SUFFIXES}")),
            );
            None
        }
    }
}

fn rlimit(
    cx: &mut Cx,
    kind: &'static str,
    value: &OneOf<Sp<Lit>, RlimitPair>,
    sized: bool,
) -> Option<Rlimit> {
    let (soft, hard) = match value {
        OneOf::Scalar(v) => {
            let v = rlimit_value(cx, kind, v, sized)?;
            (v, v)
        }
        OneOf::Collection(pair) => {
            let hard = pair.hard.as_ref().map(|h| rlimit_value(cx, kind, h, sized));
            let soft = pair.soft.as_ref().map(|s| rlimit_value(cx, kind, s, sized));
            let (soft, hard) = match (soft, hard) {
                (Some(s), Some(h)) => (s?, h?),
                (Some(v), None) | (None, Some(v)) => (v?, v?),
                (None, None) => {
                    cx.error(Diag::new(
                        "profile::rlimit",
                        format!("{kind}: the table sets neither `soft` nor `hard`"),
                    ));
                    return None;
                }
            };
            if soft > hard {
                let span = pair.soft.as_ref().expect("soft is set when it exceeds hard").span;
                cx.error(
                    Diag::at("profile::rlimit", span, format!("{kind}: soft limit above the hard limit"))
                        .help("the soft limit is at most the hard limit"),
                );
                return None;
            }
            (soft, hard)
        }
    };
    Some(Rlimit { kind, soft, hard })
}

fn rlimit_value(cx: &mut Cx, kind: &str, v: &Sp<Lit>, sized: bool) -> Option<u64> {
    let parsed = match &v.value {
        Lit::Str(s) if s == "unlimited" => Ok(UNLIMITED),
        Lit::Str(s) if sized => parse_size(s),
        Lit::Str(s) => Err(format!("\"{s}\" is not a number")),
        Lit::Int(i) => u64::try_from(*i).map_err(|_| "a limit is not negative".to_owned()),
        Lit::Float(_) => Err("a limit is a whole number".to_owned()),
    };
    parsed
        .map_err(|message| {
            let help = if sized {
                "write a number, a size like \"8MiB\", or \"unlimited\""
            } else {
                "write a number or \"unlimited\""
            };
            cx.error(Diag::at("profile::rlimit", v.span, format!("{kind}: {message}")).help(help));
        })
        .ok()
}
