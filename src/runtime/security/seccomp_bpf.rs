//! The allowlist filter, compiled compactly: a binary search over the
//! allowed syscall numbers, where runs of numbers allowed without conditions
//! are one range, and each syscall with argument conditions gets its own
//! block of 64-bit comparisons.
//!
//! Why not seccompiler for this one: it emits a linear chain of tests, about
//! 2000 instructions for the default allowlist, and the kernel pays for
//! every instruction at install time (checking, translating to eBPF, the
//! JIT, and emulating the filter for each syscall number to fill its
//! allow-cache): 1.4 ms per sandbox start. This program has a quarter of the
//! instructions (468 against 1953 for the default profile, most of them the
//! ioctl and socket conditions). The stack's other filters are small and
//! stay with seccompiler; the tests check this one against seccompiler's,
//! verdict for verdict, on every syscall number.
//!
//! The program is generated backwards (each instruction prepended), so every
//! jump target exists when the jump is emitted; a conditional jump further
//! than its 8-bit offset goes through an unconditional one (32-bit) placed
//! right after it.

use std::collections::BTreeMap;

use seccompiler::sock_filter;

use crate::linux::seccomp::{ArgCmp, Op};

/// Syscall number → the alternatives that allow it (each a conjunction of
/// conditions); `None`: allowed whatever the arguments.
pub type Allowed = BTreeMap<u32, Option<Vec<Vec<ArgCmp>>>>;

/// Classic BPF opcodes (`linux/bpf_common.h`).
const LD_W_ABS: u16 = 0x20;
const AND_K: u16 = 0x54;
const JA: u16 = 0x05;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;
/// Offsets in `struct seccomp_data` (arguments: little-endian 64-bit words).
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARGS: u32 = 16;

/// The allowlist: `ALLOW` for what `allowed` lists, `mismatch` (a
/// `SECCOMP_RET_*` value) for every other call the architecture has
/// (`known`, sorted), and ENOSYS for numbers it does not know (newer than
/// our tables, or unassigned), as the container engines answer them: libc
/// falls back to an older call on ENOSYS, not on EPERM. `KILL_PROCESS` for
/// another architecture than `audit_arch`, as seccompiler's filters do.
/// (x32 calls are the guard's: their numbers are in no table.)
pub fn allowlist(allowed: &Allowed, mismatch: u32, audit_arch: u32, known: &[u32]) -> Vec<sock_filter> {
    let mut b = Builder::default();
    let deny = b.ret(mismatch);
    let enosys = b.ret(libc::SECCOMP_RET_ERRNO | ENOSYS);
    let allow = b.ret(libc::SECCOMP_RET_ALLOW);
    let kill = b.ret(libc::SECCOMP_RET_KILL_PROCESS);
    // Segments in number order: a range allowed outright, or one number
    // with its conditions. Numbers in neither go to `deny`.
    let mut segments: Vec<(u32, u32, Label)> = Vec::new();
    for (&nr, alternatives) in allowed {
        match alternatives {
            None => match segments.last_mut() {
                Some((_, hi, l)) if *l == allow && hi.checked_add(1) == Some(nr) => *hi = nr,
                _ => segments.push((nr, nr, allow)),
            },
            Some(alternatives) => {
                let block = b.alternatives(alternatives, allow, deny);
                segments.push((nr, nr, block));
            }
        }
    }
    segments.extend(unknown(known).map(|(lo, hi)| (lo, hi, enosys)));
    segments.sort_unstable_by_key(|s| s.0);
    let search = b.search(&segments, deny);
    b.fall_through(search);
    let load_nr = b.push(insn(LD_W_ABS, 0, 0, DATA_NR));
    b.jump(JEQ_K, audit_arch, load_nr, kill);
    b.push(insn(LD_W_ABS, 0, 0, DATA_ARCH));
    b.finish()
}

/// `ENOSYS` ("function not implemented").
const ENOSYS: u32 = 38;

/// The ranges of numbers between and above `known` (sorted, deduplicated).
fn unknown(known: &[u32]) -> impl Iterator<Item = (u32, u32)> + '_ {
    let starts = std::iter::once(0).chain(known.iter().map(|k| k + 1));
    let ends = known.iter().map(|k| k.checked_sub(1)).chain(std::iter::once(Some(u32::MAX)));
    starts.zip(ends).filter_map(|(lo, hi)| hi.filter(|hi| *hi >= lo).map(|hi| (lo, hi)))
}

/// An instruction's index in the reversed program.
type Label = usize;

#[derive(Default)]
struct Builder {
    /// The program so far, last instruction first.
    rev: Vec<sock_filter>,
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

impl Builder {
    /// Prepend an instruction; returns its label.
    fn push(&mut self, i: sock_filter) -> Label {
        self.rev.push(i);
        self.rev.len() - 1
    }

    /// Instructions between the next one pushed and `target`.
    fn distance(&self, target: Label) -> usize {
        self.rev.len() - 1 - target
    }

    fn ret(&mut self, action: u32) -> Label {
        self.push(insn(RET_K, 0, 0, action))
    }

    /// Make the next instruction pushed continue at `target`.
    fn fall_through(&mut self, target: Label) {
        if self.distance(target) != 0 {
            self.ja(target);
        }
    }

    /// `goto target`, whatever the distance.
    fn ja(&mut self, target: Label) -> Label {
        let k = u32::try_from(self.distance(target)).expect("a BPF program is short");
        self.push(insn(JA, 0, 0, k))
    }

    /// `if (A op k) goto t else goto f`; far targets through a JA.
    fn jump(&mut self, code: u16, k: u32, mut t: Label, mut f: Label) -> Label {
        loop {
            match (u8::try_from(self.distance(t)), u8::try_from(self.distance(f))) {
                (Ok(jt), Ok(jf)) => return self.push(insn(code, jt, jf, k)),
                (Err(_), _) => t = self.ja(t),
                (_, Err(_)) => f = self.ja(f),
            }
        }
    }

    /// Binary search over `segments` (sorted, disjoint) for the number in
    /// the accumulator; gaps go to `miss`. Each leaf checks both of its
    /// bounds (one of them is known from above, but that saves little).
    fn search(&mut self, segments: &[(u32, u32, Label)], miss: Label) -> Label {
        match segments {
            [] => miss,
            [(lo, hi, target)] if lo == hi => self.jump(JEQ_K, *lo, *target, miss),
            [(lo, hi, target)] => {
                let below_top = self.jump(JGT_K, *hi, miss, *target);
                self.jump(JGE_K, *lo, below_top, miss)
            }
            _ => {
                let (left, right) = segments.split_at(segments.len() / 2);
                let r = self.search(right, miss);
                let l = self.search(left, miss);
                self.jump(JGE_K, right[0].0, r, l)
            }
        }
    }

    /// Try each alternative in turn: the first that holds goes to `ok`;
    /// when none does, `fail`.
    fn alternatives(&mut self, alternatives: &[Vec<ArgCmp>], ok: Label, fail: Label) -> Label {
        let mut next = fail;
        for conds in alternatives.iter().rev() {
            let mut target = ok;
            for c in conds.iter().rev() {
                target = self.cond(*c, target, next);
            }
            next = target;
        }
        next
    }

    /// One 64-bit comparison, as two 32-bit ones: the high words decide
    /// unless they are equal, then the low words do.
    fn cond(&mut self, c: ArgCmp, ok: Label, fail: Label) -> Label {
        let lo_at = DATA_ARGS + 8 * u32::from(c.index);
        let hi_at = lo_at + 4;
        let (vhi, vlo) = split(c.value);
        match c.op {
            Op::Eq => self.equal(hi_at, lo_at, None, c.value, ok, fail),
            Op::Ne => self.equal(hi_at, lo_at, None, c.value, fail, ok),
            // (arg & value) == value_two
            Op::MaskedEq => self.equal(hi_at, lo_at, Some(c.value), c.value_two, ok, fail),
            Op::Gt => self.greater(hi_at, lo_at, vhi, vlo, JGT_K, ok, fail),
            Op::Ge => self.greater(hi_at, lo_at, vhi, vlo, JGE_K, ok, fail),
            Op::Le => self.greater(hi_at, lo_at, vhi, vlo, JGT_K, fail, ok),
            Op::Lt => self.greater(hi_at, lo_at, vhi, vlo, JGE_K, fail, ok),
        }
    }

    /// `(arg & mask) == value` (no mask: all bits).
    fn equal(
        &mut self,
        hi_at: u32,
        lo_at: u32,
        mask: Option<u64>,
        value: u64,
        ok: Label,
        fail: Label,
    ) -> Label {
        let (vhi, vlo) = split(value);
        let (mhi, mlo) = mask.map(split).unzip();
        let lo_test = self.jump(JEQ_K, vlo, ok, fail);
        let lo = self.load(lo_at, mlo, lo_test);
        let hi_test = self.jump(JEQ_K, vhi, lo, fail);
        self.load(hi_at, mhi, hi_test)
    }

    /// `arg > value` (`code` JGT) or `arg >= value` (JGE), unsigned.
    #[allow(clippy::too_many_arguments)]
    fn greater(
        &mut self,
        hi_at: u32,
        lo_at: u32,
        vhi: u32,
        vlo: u32,
        code: u16,
        ok: Label,
        fail: Label,
    ) -> Label {
        let lo_test = self.jump(code, vlo, ok, fail);
        let lo = self.load(lo_at, None, lo_test);
        let hi_equal = self.jump(JEQ_K, vhi, lo, fail);
        let hi_above = self.jump(JGT_K, vhi, ok, hi_equal);
        self.load(hi_at, None, hi_above)
    }

    /// `A = word at offset (& mask)`, then on to `next`.
    fn load(&mut self, at: u32, mask: Option<u32>, next: Label) -> Label {
        self.fall_through(next);
        if let Some(m) = mask {
            self.push(insn(AND_K, 0, 0, m));
        }
        self.push(insn(LD_W_ABS, 0, 0, at))
    }

    fn finish(mut self) -> Vec<sock_filter> {
        self.rev.reverse();
        self.rev
    }
}

/// (high word, low word)
#[allow(clippy::cast_possible_truncation)]
fn split(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}
