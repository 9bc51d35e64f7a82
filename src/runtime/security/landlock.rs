//! Landlock: the profile's filesystem, TCP and IPC-scope rules, applied to
//! the calling process (pid 1 of the sandbox, after `pivot_root` and
//! `no_new_privs`, before seccomp).
//!
//! The landlock crate's default best-effort mode silently drops what the
//! kernel cannot do and skips paths it cannot open. We decide ourselves
//! instead: the ABI is detected first, [`unsupported`] names every rule that
//! ABI cannot enforce, every path is opened here (`O_PATH`) so a missing one
//! is named, and the ruleset asks for exactly the rights that ABI has, with
//! `CompatLevel::HardRequirement`, so anything the crate would still drop is
//! an error instead of a silent downgrade.
//!
//! The rights are pinned to the ABIs our format was written for (filesystem
//! up to ABI 5, TCP from ABI 4, scopes from ABI 6): a newer kernel does not
//! change what a profile means.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, NetPort,
    PathBeneath, RestrictSelf, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetError, RulesetStatus, Scope,
};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::{Mode, SFlag, fstat};

use crate::error::{Result, SetupError};
use crate::spec::extension::LandlockRules as Landlock;

pub mod hint;

/// What [`apply`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The kernel's Landlock ABI; 0 when it has none.
    pub abi: i32,
    /// One line per rule the kernel could not enforce (best effort only).
    pub skipped: Vec<String>,
}

impl Report {
    /// Whether the filesystem rules are in force (an EACCES may be theirs).
    pub fn enforced(&self) -> bool {
        self.abi >= FILESYSTEM
    }
}

/// The first ABI of each feature our format uses.
const FILESYSTEM: i32 = 1;
const TRUNCATE: i32 = 3;
const TCP: i32 = 4;
const IOCTL_DEV: i32 = 5;
const SCOPE: i32 = 6;

/// The Linux release that brought Landlock ABI `abi`.
fn release(abi: i32) -> &'static str {
    match abi {
        ..=1 => "5.13",
        2 => "5.19",
        3 => "6.2",
        4 => "6.7",
        5 => "6.10",
        _ => "6.12",
    }
}

/// The running kernel's Landlock ABI (0: none). A query only: nothing is restricted.
pub fn abi() -> i32 {
    // With no flags and without no_new_privs, `apply` only reports the
    // status it probed (landlock_create_ruleset(NULL, 0, VERSION)).
    match RestrictSelf::default().no_new_privs(false).apply().map(|s| s.landlock) {
        Ok(LandlockStatus::Available { effective_abi, kernel_abi }) => {
            kernel_abi.unwrap_or_else(|| (1..=64).find(|&n| ABI::from(n) == effective_abi).unwrap_or(0))
        }
        _ => 0,
    }
}

/// Restrict the calling process. `rules.best_effort == false`: every rule
/// must be enforceable and every path must exist, or nothing is applied and
/// the error names each problem. Best effort: apply what the kernel can,
/// and list the rest in the report.
pub fn apply(rules: &Landlock) -> Result<Report> {
    let abi = abi();
    let mut skipped = unsupported(rules, abi);
    let (opened, unopened) = open_paths(rules);
    if !rules.best_effort && (!skipped.is_empty() || !unopened.is_empty()) {
        return Err(refusal(rules, abi, &skipped, &unopened));
    }
    skipped.extend(unopened);
    if abi >= FILESYSTEM {
        restrict(rules, abi, opened)?;
    }
    Ok(Report { abi, skipped })
}

/// Which rules a kernel with Landlock ABI `abi` cannot enforce, one line each.
/// A Landlock table always denies unlisted paths and (from ABI 4) unlisted
/// TCP ports, so those parts are rules even when the lists are empty.
pub fn unsupported(rules: &Landlock, abi: i32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut need = |rule: String, since: i32| {
        if abi < since {
            let has = if abi <= 0 { "no Landlock".to_owned() } else { format!("ABI {abi}") };
            lines.push(format!(
                "{rule} needs Landlock ABI {since} (Linux {}+); this kernel has {has}",
                release(since)
            ));
        }
    };
    if abi < FILESYSTEM {
        let lists = format!(
            "read {}, execute {}, write {}",
            paths(&rules.read),
            paths(&rules.execute),
            paths(&rules.write)
        );
        need(format!("filesystem rules ({lists}; every other path denied)"), FILESYSTEM);
    } else {
        need(format!("denying truncate outside write {}", paths(&rules.write)), TRUNCATE);
        need(format!("denying device ioctls outside write {}", paths(&rules.write)), IOCTL_DEV);
    }
    need(format!("tcp_bind {}", ports(&rules.tcp_bind, "binding")), TCP);
    need(format!("tcp_connect {}", ports(&rules.tcp_connect, "connecting")), TCP);
    if rules.scope_signal {
        need("scope signal".to_owned(), SCOPE);
    }
    if rules.scope_abstract_unix_socket {
        need("scope abstract-unix-socket".to_owned(), SCOPE);
    }
    lines
}

fn paths(list: &[PathBuf]) -> String {
    let names: Vec<String> = list.iter().map(|p| p.display().to_string()).collect();
    format!("[{}]", names.join(", "))
}

fn ports(list: &[u16], verb: &str) -> String {
    if list.is_empty() {
        return format!("[] (no {verb} to any TCP port)");
    }
    let names: Vec<String> = list.iter().map(ToString::to_string).collect();
    format!("[{}]", names.join(", "))
}

/// The error for `required` mode: every problem, and how to fix each kind.
fn refusal(rules: &Landlock, abi: i32, unsupported: &[String], unopened: &[String]) -> SetupError {
    let mut fixes = Vec::new();
    if !unsupported.is_empty() {
        let newest = if rules.scope_signal || rules.scope_abstract_unix_socket { SCOPE } else { IOCTL_DEV };
        let kernel = if abi <= 0 {
            "enable Landlock (CONFIG_SECURITY_LANDLOCK=y and `landlock` in the lsm= boot parameter)"
                .to_owned()
        } else {
            format!("upgrade to Linux {}+ (Landlock ABI {newest})", release(newest))
        };
        fixes.push(format!("{kernel} or set enforce = \"best-effort\""));
    }
    if !unopened.is_empty() {
        fixes.push("create the missing paths or remove them from [security.landlock]".to_owned());
    }
    let problems: Vec<&str> = unsupported.iter().chain(unopened).map(String::as_str).collect();
    SetupError::new(format!("apply Landlock rules (enforce = \"required\", ABI {abi})"))
        .detail(problems.join("; "))
        .fix(fixes.join("; "))
}

/// One opened rule path and what it grants (before masking by the ABI).
struct Opened {
    fd: OwnedFd,
    is_dir: bool,
    access: Grant,
    what: String,
}

#[derive(Clone, Copy)]
enum Grant {
    Read,
    Execute,
    Write,
}

/// Open every listed path with `O_PATH`: the opened ones, and one line per
/// path that could not be opened.
fn open_paths(rules: &Landlock) -> (Vec<Opened>, Vec<String>) {
    let lists = [
        ("read", &rules.read, Grant::Read),
        ("execute", &rules.execute, Grant::Execute),
        ("write", &rules.write, Grant::Write),
    ];
    let mut opened = Vec::new();
    let mut unopened = Vec::new();
    for (kind, list, access) in lists {
        for path in list {
            let what = format!("{kind} {}", path.display());
            match open_path(path) {
                Ok((fd, is_dir)) => opened.push(Opened { fd, is_dir, access, what }),
                Err(e) => unopened.push(format!("{what}: cannot open it: {e:?} ({})", e.desc())),
            }
        }
    }
    (opened, unopened)
}

fn open_path(path: &Path) -> Result<(OwnedFd, bool), Errno> {
    let fd = open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())?;
    let stat = fstat(&fd)?;
    let is_dir = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    Ok((fd, is_dir))
}

/// The filesystem rights of our format on this ABI (never beyond ABI 5).
fn fs_abi(abi: i32) -> ABI {
    match abi {
        ..=1 => ABI::V1,
        2 => ABI::V2,
        3 => ABI::V3,
        4 => ABI::V4,
        _ => ABI::V5,
    }
}

fn rights(grant: Grant, is_dir: bool, abi: ABI) -> BitFlags<AccessFs> {
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let all = match grant {
        Grant::Read => read,
        Grant::Execute => read | AccessFs::Execute,
        Grant::Write => AccessFs::from_all(abi),
    };
    // Directory-only rights on a file would be refused by the kernel (EINVAL).
    if is_dir { all & AccessFs::from_all(abi) } else { all & AccessFs::from_file(abi) }
}

fn restrict(rules: &Landlock, abi: i32, opened: Vec<Opened>) -> Result<()> {
    let fs = fs_abi(abi);
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(fs))
        .map_err(|e| ruleset_error("handle Landlock filesystem access", &e))?;
    if abi >= TCP {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(ABI::V4))
            .map_err(|e| ruleset_error("handle Landlock TCP access", &e))?;
    }
    let mut scopes = BitFlags::<Scope>::EMPTY;
    if rules.scope_signal {
        scopes |= Scope::Signal;
    }
    if rules.scope_abstract_unix_socket {
        scopes |= Scope::AbstractUnixSocket;
    }
    if abi >= SCOPE && !scopes.is_empty() {
        ruleset = ruleset.scope(scopes).map_err(|e| ruleset_error("set the Landlock scopes", &e))?;
    }
    let mut created = ruleset.create().map_err(|e| ruleset_error("create the Landlock ruleset", &e))?;
    for rule in opened {
        let access = rights(rule.access, rule.is_dir, fs);
        created = created
            .add_rule(PathBeneath::new(rule.fd, access))
            .map_err(|e| ruleset_error(format!("add the Landlock rule {}", rule.what), &e))?;
    }
    if abi >= TCP {
        let binds = rules.tcp_bind.iter().map(|&p| (p, AccessNet::BindTcp, "tcp_bind"));
        let connects = rules.tcp_connect.iter().map(|&p| (p, AccessNet::ConnectTcp, "tcp_connect"));
        for (port, access, kind) in binds.chain(connects) {
            created = created
                .add_rule(NetPort::new(port, access))
                .map_err(|e| ruleset_error(format!("add the Landlock rule {kind} {port}"), &e))?;
        }
    }
    let status = created.restrict_self().map_err(|e| ruleset_error("enforce the Landlock ruleset", &e))?;
    if status.ruleset != RulesetStatus::FullyEnforced {
        return Err(SetupError::new("enforce the Landlock ruleset")
            .detail(format!("the kernel reports {:?} for ABI {abi}", status.ruleset)));
    }
    Ok(())
}

/// A landlock crate error, with the errno of the system call under it when there is one.
fn ruleset_error(step: impl Into<String>, e: &RulesetError) -> SetupError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return SetupError::io(step, io).detail(e.to_string());
        }
        source = err.source();
    }
    SetupError::new(step).detail(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_get_only_file_rights() {
        let file = rights(Grant::Write, false, ABI::V5);
        assert!(file.contains(AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev));
        assert!(!file.contains(AccessFs::MakeDir) && !file.contains(AccessFs::ReadDir));
        assert_eq!(rights(Grant::Read, true, ABI::V1), AccessFs::ReadFile | AccessFs::ReadDir);
        assert_eq!(rights(Grant::Execute, false, ABI::V1), AccessFs::ReadFile | AccessFs::Execute);
        // Write is every right of the ABI, and never more than ABI 5's.
        assert_eq!(rights(Grant::Write, true, ABI::V3), AccessFs::from_all(ABI::V3));
        assert_eq!(rights(Grant::Write, true, fs_abi(7)), AccessFs::from_all(ABI::V5));
    }

    #[test]
    fn releases_match_abis() {
        assert_eq!(release(TCP), "6.7");
        assert_eq!(release(SCOPE), "6.12");
    }
}
