//! The validated profile: typed, absolute, defaults resolved. Everything the
//! compiler needs and nothing about files or spans.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Short name, from the profile's file name (used for the cgroup and hostname default).
    pub name: String,
    pub description: Option<String>,
    pub process: Process,
    pub rootfs: Rootfs,
    pub system_mounts: SystemMounts,
    pub mounts: Vec<Mount>,
    pub namespaces: Namespaces,
    pub network: Network,
    pub limits: Limits,
    pub security: Security,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Process {
    pub command: Vec<String>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    pub inherit_env: Vec<String>,
    pub user: User,
    pub terminal: Terminal,
    pub init: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum User {
    Root,
    /// The caller's own uid and gid.
    Host,
    Ids {
        uid: u32,
        gid: u32,
        groups: Vec<u32>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Terminal {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rootfs {
    /// Bottom to top.
    pub layers: Vec<Layer>,
    pub writable: Writable,
}

/// One lower layer. Archives and images will be further variants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    /// The caller's root with its submounts, read-only.
    HostRoot,
    /// A directory on the host, read-only.
    Dir(PathBuf),
    /// An image or archive (its path absolute): all its layers, unpacked
    /// in the image store before compile.
    Image(crate::image::reference::Source),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Writable {
    /// A tmpfs upper in the sandbox's mount namespace, thrown away at exit.
    Tmpfs {
        size: Option<u64>,
    },
    ReadOnly,
    /// A persistent upper directory (its work directory sits beside it).
    Dir(PathBuf),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // one switch per standard mount
pub struct SystemMounts {
    pub proc: bool,
    pub dev: bool,
    pub dev_pts: bool,
    pub dev_shm: bool,
    pub dev_mqueue: bool,
    pub sys: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // the kernel's mount flags
pub struct Mount {
    pub target: PathBuf,
    pub kind: MountKind,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountKind {
    Bind { source: PathBuf, writable: bool },
    Tmpfs { size: Option<u64>, mode: u32 },
}

/// `true` = a new namespace, `false` = shared with the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // one per namespace kind
pub struct Namespaces {
    pub user: UserNamespace,
    /// Map the caller's subordinate id ranges too (ids 1.. inside).
    pub subids: bool,
    pub pid: bool,
    pub mount: bool,
    pub ipc: bool,
    pub uts: bool,
    pub net: bool,
    pub cgroup: bool,
    pub time: bool,
}

/// The user namespace: a rootless caller always needs one; a root
/// caller's maps to the unprivileged sandbox range (`compile::SANDBOX_IDS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserNamespace {
    /// New (the default; "new" is the same).
    Auto,
    New,
    Host,
}

/// Where host services keep their unix sockets: a `host:/` sandbox without
/// the host's network (`none`, or `nat`, whose egress rules a socket would
/// go around) gets each as a fresh tmpfs instead of the host's (see
/// `compile::mounts`), unless the profile mounts something there.
pub const SOCKET_TREES: &[(&str, u32)] = &[("/run", 0o755), ("/tmp", 0o1777), ("/var/tmp", 0o1777)];

impl Model {
    /// The host trees this sandbox gets fresh instead ([`SOCKET_TREES`]).
    pub fn hidden_host_trees(&self) -> Vec<(&'static str, u32)> {
        hidden_host_trees(&self.rootfs, &self.mounts, &self.network)
    }
}

/// [`Model::hidden_host_trees`], from its parts (validation has no model yet).
pub fn hidden_host_trees(rootfs: &Rootfs, mounts: &[Mount], network: &Network) -> Vec<(&'static str, u32)> {
    if network.mode == NetMode::Host || !rootfs.layers.contains(&Layer::HostRoot) {
        return Vec::new();
    }
    let mounted = |t: &str| mounts.iter().any(|m| m.target == std::path::Path::new(t));
    SOCKET_TREES.iter().copied().filter(|(t, _)| !mounted(t)).collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub mode: NetMode,
    pub hostname: String,
    pub dns: Option<Dns>,
    pub hosts: Vec<(String, IpAddr)>,
    /// Published ports, host loopback and egress rules: `Some` exactly
    /// when `mode` is [`NetMode::Nat`].
    pub nat: Option<Nat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetMode {
    /// Own network namespace with only loopback.
    None,
    Host,
    /// Own network namespace, reaching the host's network through a
    /// user-mode stack.
    Nat,
}

/// What a nat network publishes and lets out: the validated profile's is
/// exactly what the runtime enforces, so the model uses the contract's
/// type (`egress: None` lets everything out; a list lets out only its
/// rules and DNS to the sandbox's resolver).
pub use crate::spec::extension::NatSpec as Nat;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dns {
    /// Copy the caller's /etc/resolv.conf.
    Host,
    Servers(Vec<IpAddr>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub memory: Option<u64>,
    /// Memory plus swap.
    pub memory_swap: Option<u64>,
    pub cpu: Option<CpuQuota>,
    pub cpu_weight: Option<u64>,
    pub pids: Option<u64>,
    pub io_weight: Option<u16>,
    pub timeout: Option<Duration>,
    pub enforce: Enforce,
    pub rlimits: Vec<Rlimit>,
}

/// CPU bandwidth: `quota` microseconds of CPU time per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuQuota {
    pub quota: i64,
    pub period: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforce {
    Required,
    BestEffort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// The OCI name, e.g. `RLIMIT_NOFILE`.
    pub kind: &'static str,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Security {
    /// Kept capabilities, `CAP_` names, sorted.
    pub capabilities: Vec<&'static str>,
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    pub landlock: Option<Landlock>,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seccomp {
    Unconfined,
    Filter(SeccompFilter),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeccompFilter {
    /// Start from the built-in allowlist.
    pub base_default: bool,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub default_action: SeccompAction,
    pub errno: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeccompAction {
    Errno,
    Kill,
    Trap,
    Log,
}

/// Landlock's rules: the validated profile's are exactly what the runtime
/// applies, so the model uses the contract's type.
pub use crate::spec::extension::LandlockRules as Landlock;
