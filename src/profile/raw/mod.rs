//! The raw profile: the file format as Rust types. Close to the input: every
//! leaf keeps its span, nothing is resolved or defaulted yet. The JSON Schema
//! in `schema/` is generated from these types, so the doc comments here are
//! what editors show.

mod de;
mod network;
mod wrappers;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

pub use de::from_node;
pub use network::{DnsWord, Egress, EgressDefault, NetMode, Network};
pub use wrappers::{Lit, OneOf};

use crate::profile::source::Sp;

/// A sandbox profile.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Profile {
    /// Profiles this one builds on, relative to this file; merged in order, this file last.
    /// Tables merge, lists append, scalars override.
    pub extends: Vec<String>,
    /// Dotted keys (e.g. "security.landlock.read") whose inherited value this file replaces
    /// instead of merging with.
    pub replace: Vec<String>,
    /// What this profile is for.
    pub description: Option<Sp<String>>,
    pub process: Process,
    pub rootfs: Rootfs,
    /// Extra mounts, applied in order after the root filesystem and the system mounts.
    #[serde(rename = "mount")]
    pub mounts: Vec<Mount>,
    pub system_mounts: SystemMounts,
    pub namespaces: Namespaces,
    pub network: Network,
    pub limits: Limits,
    pub security: Security,
}

/// The command and its identity.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Process {
    /// The command and its arguments; `sandbox run PROFILE -- CMD ARGS` replaces it.
    pub command: Option<Sp<Vec<Sp<String>>>>,
    /// Working directory inside the sandbox (absolute). Default "/".
    pub cwd: Option<Sp<String>>,
    /// Environment variables set in the sandbox.
    pub env: BTreeMap<String, Sp<String>>,
    /// Names of the caller's environment variables passed through when set.
    pub inherit_env: Vec<Sp<String>>,
    /// "root" (default), "host" (the caller's uid and gid), or { uid, gid, groups }.
    pub user: Option<OneOf<UserWord, Sp<UserIds>>>,
    /// Allocate a terminal: "auto" (when stdin is a terminal, default), "always", "never".
    pub terminal: Option<Sp<Terminal>>,
    /// Run a tiny init as pid 1 that reaps zombies and forwards signals. Default true.
    pub init: Option<Sp<bool>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UserWord {
    Root,
    Host,
}

/// Explicit ids inside the sandbox.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct UserIds {
    pub uid: Option<Sp<u32>>,
    pub gid: Option<Sp<u32>>,
    /// Supplementary group ids.
    pub groups: Vec<Sp<u32>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Terminal {
    Auto,
    Always,
    Never,
}

/// The root filesystem: a stack of layers with a writable layer on top.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Rootfs {
    /// Bottom to top: "host:/" (the host's root, read-only), a directory (absolute, or
    /// relative to this profile), or an image or archive, all its layers:
    /// `oci:PATH[:TAG]`, `oci-archive:PATH[:TAG]`, `docker-archive:PATH[:REPO:TAG]`,
    /// `docker://HOST/REPO[:TAG][@sha256:…]`, `tar:PATH` (.tar, .gz, .zst, .xz).
    /// Default: `["host:/"]`.
    pub layers: Vec<Sp<String>>,
    /// "tmpfs" (default: changes are thrown away), "readonly", or { dir = "path" } to keep changes.
    pub writable: Option<OneOf<WritableWord, Sp<WritableDir>>>,
    /// Size of the tmpfs upper layer, e.g. "1GiB". Default: half of RAM, as tmpfs does.
    pub tmpfs_size: Option<Sp<Lit>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WritableWord {
    Tmpfs,
    Readonly,
}

/// A persistent upper directory.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct WritableDir {
    /// Directory that keeps the sandbox's changes (absolute, or relative to this profile).
    pub dir: Option<Sp<String>>,
}

/// One mount.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Mount {
    /// "bind" (default when `source` is set) or "tmpfs".
    #[serde(rename = "type")]
    pub kind: Option<Sp<MountType>>,
    /// Host path to bind (absolute, or relative to this profile).
    pub source: Option<Sp<String>>,
    /// Absolute path inside the sandbox.
    pub target: Option<Sp<String>>,
    /// "ro" (default) or "rw".
    pub mode: Option<Sp<Access>>,
    /// Ignore set-user-ID bits. Default true.
    pub nosuid: Option<Sp<bool>>,
    /// Ignore device files. Default true.
    pub nodev: Option<Sp<bool>>,
    /// Forbid executing files. Default false.
    pub noexec: Option<Sp<bool>>,
    /// tmpfs only: size limit, e.g. "64MiB".
    pub size: Option<Sp<Lit>>,
    /// tmpfs only: permissions of the mount's root, an octal string, e.g. "1777".
    pub permissions: Option<Sp<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MountType {
    Bind,
    Tmpfs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    Ro,
    Rw,
}

/// The standard mounts the runtime adds; each is on unless set to false.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct SystemMounts {
    /// A new procfs at /proc.
    pub proc: Option<Sp<bool>>,
    /// A tmpfs at /dev with null, zero, full, random, urandom, tty.
    pub dev: Option<Sp<bool>>,
    /// A new devpts instance at /dev/pts.
    pub dev_pts: Option<Sp<bool>>,
    /// A tmpfs at /dev/shm.
    pub dev_shm: Option<Sp<bool>>,
    /// An mqueue at /dev/mqueue.
    pub dev_mqueue: Option<Sp<bool>>,
    /// /sys, read-only.
    pub sys: Option<Sp<bool>>,
}

/// Namespaces: "new" gives the sandbox its own, "host" shares the caller's.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Namespaces {
    /// "auto" (default) or "new": a user namespace of its own; a root caller's maps ids 0-65535
    /// to the unprivileged host ids 1879048192 and up, so root inside is no one outside, and the
    /// caller's layers, bind sources and persistent upper are id-mapped to keep their owners.
    /// "host": none, and as root the command is host root without capabilities.
    pub user: Option<Sp<UserNs>>,
    /// Map the caller's subordinate ids (/etc/subuid, /etc/subgid, through newuidmap and
    /// newgidmap) after its own id, which is root inside: ids for package managers. Default false.
    pub subids: Option<Sp<bool>>,
    pub pid: Option<Sp<NsMode>>,
    /// Must be "new": the root filesystem is built in a private mount namespace.
    pub mount: Option<Sp<NsMode>>,
    pub ipc: Option<Sp<NsMode>>,
    pub uts: Option<Sp<NsMode>>,
    /// Follows `network.mode` unless set; "host" here means `network.mode = "host"`.
    pub net: Option<Sp<NsMode>>,
    pub cgroup: Option<Sp<NsMode>>,
    /// Default "host".
    pub time: Option<Sp<NsMode>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NsMode {
    New,
    Host,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UserNs {
    Auto,
    New,
    Host,
}

/// Resource limits: cgroup limits, rlimits and a wall-clock timeout.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Limits {
    /// Memory limit, e.g. "2GiB".
    pub memory: Option<Sp<Lit>>,
    /// Memory plus swap limit, at least `memory`.
    pub memory_swap: Option<Sp<Lit>>,
    /// CPU time as a number of CPUs, e.g. 1.5.
    pub cpus: Option<Sp<f64>>,
    /// Relative CPU weight, 1 to 10000 (default 100).
    pub cpu_weight: Option<Sp<u64>>,
    /// Maximum number of processes and threads.
    pub pids: Option<Sp<u64>>,
    /// Relative block I/O weight, 10 to 1000.
    pub io_weight: Option<Sp<u64>>,
    /// Wall-clock limit: seconds, or "90s", "10m", "2h".
    pub timeout: Option<Sp<Lit>>,
    /// "required" (default: fail when a limit cannot be applied) or "best-effort".
    pub enforce: Option<Sp<Enforce>>,
    pub rlimits: Rlimits,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Enforce {
    Required,
    BestEffort,
}

/// Process resource limits (setrlimit). A number or size sets soft and hard; a table sets each.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Rlimits {
    /// Open files.
    pub nofile: Option<OneOf<Sp<Lit>, RlimitPair>>,
    /// Processes of the user.
    pub nproc: Option<OneOf<Sp<Lit>, RlimitPair>>,
    /// Core dump size.
    pub core: Option<OneOf<Sp<Lit>, RlimitPair>>,
    /// Largest file written.
    pub fsize: Option<OneOf<Sp<Lit>, RlimitPair>>,
    /// Stack size.
    pub stack: Option<OneOf<Sp<Lit>, RlimitPair>>,
    /// Address space size.
    #[serde(rename = "as")]
    pub address_space: Option<OneOf<Sp<Lit>, RlimitPair>>,
    /// CPU seconds.
    pub cpu: Option<OneOf<Sp<Lit>, RlimitPair>>,
}

/// Soft and hard limits; "unlimited" is allowed.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct RlimitPair {
    pub soft: Option<Sp<Lit>>,
    pub hard: Option<Sp<Lit>>,
}

/// Privileges, system call filter, Landlock, hidden paths.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Security {
    /// Capabilities kept (e.g. "`NET_BIND_SERVICE`"); all others are dropped. Default none.
    pub capabilities: Vec<Sp<String>>,
    /// Set `no_new_privs` so setuid binaries cannot raise privileges. Default true.
    pub no_new_privileges: Option<Sp<bool>>,
    /// "default" (the built-in allowlist), "unconfined", or a table.
    pub seccomp: Option<OneOf<SeccompWord, SeccompTable>>,
    /// Landlock file system and network rules; absent means no Landlock.
    pub landlock: Option<Landlock>,
    /// Extra paths hidden from the sandbox (files get /dev/null, directories an empty tmpfs).
    pub masked_paths: Vec<Sp<String>>,
    /// Extra paths made read-only.
    pub readonly_paths: Vec<Sp<String>>,
    /// Keep the built-in masked and read-only paths (/proc/kcore, /proc/sys, ...). Default true.
    pub builtin_paths: Option<Sp<bool>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SeccompWord {
    Default,
    Unconfined,
}

/// A seccomp filter built on a base list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct SeccompTable {
    /// "default" (the built-in allowlist, default) or "empty".
    pub base: Option<Sp<SeccompBase>>,
    /// System calls allowed in addition to the base.
    pub allow: Vec<Sp<String>>,
    /// System calls refused with `errno` even if the base allows them.
    pub deny: Vec<Sp<String>>,
    /// What happens to other system calls: "errno" (default), "kill", "trap" or "log".
    pub default_action: Option<Sp<SeccompAction>>,
    /// The errno for refused calls: a name like "EPERM" (default) or a number.
    pub errno: Option<Sp<Lit>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SeccompBase {
    Default,
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SeccompAction {
    Errno,
    Kill,
    Trap,
    Log,
}

/// Landlock rules. Paths not listed are not accessible at all.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Landlock {
    /// Paths that may be read (files and directories).
    pub read: Vec<Sp<String>>,
    /// Paths that may be read and executed.
    pub execute: Vec<Sp<String>>,
    /// Paths that may be read, written, created and removed.
    pub write: Vec<Sp<String>>,
    /// TCP ports that may be bound (Landlock ABI 4).
    pub tcp_bind: Vec<Sp<u16>>,
    /// TCP ports that may be connected to (Landlock ABI 4).
    pub tcp_connect: Vec<Sp<u16>>,
    /// IPC scoping (Landlock ABI 6): "signal", "abstract-unix-socket".
    pub scope: Vec<Sp<Scope>>,
    /// "required" (default: fail when the kernel cannot enforce a rule) or "best-effort".
    pub enforce: Option<Sp<Enforce>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Signal,
    AbstractUnixSocket,
}
