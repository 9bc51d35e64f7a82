//! One comparison of a syscall argument, as OCI (libseccomp) has them:
//! the data of our default profile, and what the runtime compiles into BPF
//! from any spec.

/// A comparison operator, as in the OCI spec / libseccomp (unsigned, 64-bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `arg == value`
    Eq,
    /// `arg != value`
    Ne,
    /// `arg < value`
    Lt,
    /// `arg <= value`
    Le,
    /// `arg > value`
    Gt,
    /// `arg >= value`
    Ge,
    /// `(arg & value) == value_two`
    MaskedEq,
}

/// One argument comparison, as in the OCI spec / libseccomp: for `MaskedEq`, `(arg & value) == value_two`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgCmp {
    /// Which syscall argument (0-5).
    pub index: u8,
    /// How to compare.
    pub op: Op,
    /// The operand (the mask, for [`Op::MaskedEq`]).
    pub value: u64,
    /// The expected masked value for [`Op::MaskedEq`]; unused (0) otherwise.
    pub value_two: u64,
}

impl ArgCmp {
    /// Whether a raw 64-bit argument value satisfies this comparison.
    pub fn matches(self, arg: u64) -> bool {
        match self.op {
            Op::Eq => arg == self.value,
            Op::Ne => arg != self.value,
            Op::Lt => arg < self.value,
            Op::Le => arg <= self.value,
            Op::Gt => arg > self.value,
            Op::Ge => arg >= self.value,
            Op::MaskedEq => arg & self.value == self.value_two,
        }
    }
}
