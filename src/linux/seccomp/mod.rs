//! Syscall knowledge for building seccomp profiles: per-architecture syscall
//! name/number tables and our default allowlist.
//!
//! Profiles name syscalls, and the OCI runtime resolves the names on the
//! target architecture. We still keep our own tables so that we can reject a
//! misspelt name at profile-check time (with a "did you mean" hint), instead of
//! the runtime silently skipping a name it does not know, and so that we can
//! tell which names only exist on one architecture.

mod cmp;
pub mod default_profile;
pub mod tables;

pub use cmp::{ArgCmp, Op};

use std::fmt;
use std::iter::Peekable;

/// A CPU architecture we generate seccomp filters for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// `x86_64`, 64-bit syscall ABI (not x32, whose numbers differ).
    X86_64,
    /// aarch64 (arm64), LP64 syscall ABI.
    Aarch64,
}

// Only these two 64-bit ABIs have tables; x32 reuses target_arch = "x86_64"
// with different syscall numbers, so it must not be mistaken for X86_64.
#[cfg(not(any(all(target_arch = "x86_64", target_pointer_width = "64"), target_arch = "aarch64")))]
compile_error!("the seccomp module only knows x86_64 (64-bit ABI) and aarch64 syscalls");

impl Arch {
    /// Every supported architecture, in a fixed order.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The architecture this binary was compiled for.
    pub fn native() -> Arch {
        #[cfg(target_arch = "aarch64")]
        {
            Arch::Aarch64
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            Arch::X86_64
        }
    }

    /// The architecture's name in OCI runtime specs (`linux.seccomp.architectures`).
    pub fn oci_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
        }
    }

    /// The conventional short name (`x86_64`, `aarch64`), as `uname -m` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// This architecture's syscall table: `(name, number)` sorted by name.
    pub fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Arch::X86_64 => tables::X86_64,
            Arch::Aarch64 => tables::AARCH64,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The syscall number of `name` on `arch`, or `None` if `arch` has no such syscall.
pub fn number(arch: Arch, name: &str) -> Option<u32> {
    let table = arch.table();
    table.binary_search_by(|&(n, _)| n.cmp(name)).ok().map(|i| table[i].1)
}

/// Whether `name` is a syscall on `x86_64` or on `aarch64` (or both).
pub fn is_known(name: &str) -> bool {
    Arch::ALL.iter().any(|&arch| number(arch, name).is_some())
}

/// The architectures on which `name` is a syscall, in [`Arch::ALL`] order
/// (empty if the name is unknown everywhere).
pub fn known_on(name: &str) -> Vec<Arch> {
    Arch::ALL.into_iter().filter(|&arch| number(arch, name).is_some()).collect()
}

/// Every syscall name known on any supported architecture, sorted and
/// deduplicated (the candidate set for "did you mean" suggestions).
pub fn all_names() -> impl Iterator<Item = &'static str> {
    MergeNames { a: names_of(Arch::X86_64).peekable(), b: names_of(Arch::Aarch64).peekable() }
}

type Names = std::iter::Map<
    std::slice::Iter<'static, (&'static str, u32)>,
    fn(&'static (&'static str, u32)) -> &'static str,
>;

fn names_of(arch: Arch) -> Names {
    arch.table().iter().map(|&(name, _)| name)
}

/// Merge of two sorted name lists without allocating: the tables are already
/// sorted, so a lazy merge yields the sorted union directly.
struct MergeNames {
    a: Peekable<Names>,
    b: Peekable<Names>,
}

impl Iterator for MergeNames {
    type Item = &'static str;

    fn next(&mut self) -> Option<&'static str> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) => match x.cmp(y) {
                std::cmp::Ordering::Less => self.a.next(),
                std::cmp::Ordering::Greater => self.b.next(),
                std::cmp::Ordering::Equal => {
                    self.b.next();
                    self.a.next()
                }
            },
            (Some(_), None) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for arch in Arch::ALL {
            let table = arch.table();
            assert!(table.windows(2).all(|w| w[0].0 < w[1].0), "{arch} table not strictly sorted by name");
            let mut numbers: Vec<u32> = table.iter().map(|&(_, n)| n).collect();
            numbers.sort_unstable();
            numbers.dedup();
            assert_eq!(numbers.len(), table.len(), "{arch} has a duplicate number");
        }
    }

    #[test]
    fn tables_look_complete() {
        // x86_64: 0..=336 and 424..=471 without holes; aarch64: the generic
        // table 0..=243, 260..=294, 424..=471 (244-259 are arch-private and
        // unused on arm64, 295-423 are only used by 32-bit time64 calls).
        assert_eq!(tables::X86_64.len(), 337 + 48);
        assert_eq!(tables::AARCH64.len(), 244 + 35 + 48);
    }

    #[test]
    fn well_known_numbers() {
        use Arch::{Aarch64, X86_64};
        assert_eq!(number(X86_64, "read"), Some(0));
        assert_eq!(number(Aarch64, "read"), Some(63));
        assert_eq!(number(X86_64, "openat"), Some(257));
        assert_eq!(number(Aarch64, "openat"), Some(56));
        assert_eq!(number(X86_64, "clone"), Some(56));
        assert_eq!(number(Aarch64, "clone"), Some(220));
        assert_eq!(number(X86_64, "ioctl"), Some(16));
        assert_eq!(number(Aarch64, "ioctl"), Some(29));
        assert_eq!(number(X86_64, "io_pgetevents"), Some(333));
        assert_eq!(number(Aarch64, "io_pgetevents"), Some(292));
        assert_eq!(number(Aarch64, "kexec_file_load"), Some(294));
        assert_eq!(number(X86_64, "uretprobe"), Some(335));
        for arch in Arch::ALL {
            assert_eq!(number(arch, "landlock_create_ruleset"), Some(444));
            assert_eq!(number(arch, "futex_waitv"), Some(449));
            assert_eq!(number(arch, "cachestat"), Some(451));
            assert_eq!(number(arch, "fchmodat2"), Some(452));
            assert_eq!(number(arch, "mseal"), Some(462));
            assert_eq!(number(arch, "file_setattr"), Some(469));
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(number(Arch::Aarch64, "open"), None);
        assert_eq!(number(Arch::X86_64, "no_such_call"), None);
        assert!(is_known("open"));
        assert!(is_known("openat"));
        assert!(!is_known("opne"));
        assert!(!is_known(""));
        assert_eq!(known_on("open"), vec![Arch::X86_64]);
        assert_eq!(known_on("openat"), vec![Arch::X86_64, Arch::Aarch64]);
        assert!(known_on("socketcall").is_empty());
    }

    #[test]
    fn all_names_is_sorted_union() {
        let names: Vec<&str> = all_names().collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "not sorted/deduped");
        for arch in Arch::ALL {
            for &(name, _) in arch.table() {
                assert!(names.binary_search(&name).is_ok(), "{name} missing");
            }
        }
        assert!(names.iter().all(|n| is_known(n)));
        // aarch64's names are a subset of x86_64's today.
        assert_eq!(names.len(), tables::X86_64.len());
    }

    #[test]
    fn arch_names() {
        assert_eq!(Arch::X86_64.oci_name(), "SCMP_ARCH_X86_64");
        assert_eq!(Arch::Aarch64.oci_name(), "SCMP_ARCH_AARCH64");
        assert_eq!(Arch::Aarch64.to_string(), "aarch64");
        assert!(Arch::ALL.contains(&Arch::native()));
    }
}
