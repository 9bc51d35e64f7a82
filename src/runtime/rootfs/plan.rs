//! The root plan: the layers, how `host:/` is used, the spec's mounts,
//! masked and read-only paths as an ordered list of operations (as
//! bubblewrap does with its options), and the generated /etc files. A pure
//! value, made in the launcher before the clone, so a root that cannot be
//! built is refused there, and the order and flags are unit-tested without
//! mounting.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::Spec;

use crate::error::{Result, SetupError};
use crate::net::plan::NatPlan;
use crate::spec::extension::{Extension, LayerSpec, NetworkSpec};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootPlan {
    /// Lower layers, top first.
    pub layers: Vec<LayerSpec>,
    pub host_root: HostRoot,
    pub ops: Vec<Op>,
    /// Files bound read-only into /etc, by name.
    pub etc: Vec<(&'static str, EtcText)>,
}

/// How the host's root is part of the sandbox's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostRoot {
    Absent,
    /// An overlay layer; its submounts are overlaid one by one.
    Overlaid,
    /// The single layer in a user namespace, assembled from its top-level
    /// entries: its submounts are locked there, and the kernel refuses to
    /// clone a mount with locked children, so it cannot be a layer.
    ByParts,
}

/// A generated /etc file's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EtcText {
    Text(String),
    /// A copy of this host file, read when the root is built.
    HostFile(&'static str),
}

impl RootPlan {
    /// `userns`: the sandbox has a user namespace of its own.
    /// `nat`: the sandbox's `nat` network, which names its resolver and
    /// pins the egress rules' host names in /etc/hosts.
    pub fn new(spec: &Spec, ext: &Extension, userns: bool, nat: Option<&NatPlan>) -> Result<RootPlan> {
        let layers: Vec<LayerSpec> = ext.layers.iter().rev().cloned().collect();
        let host_root = match (layers.contains(&LayerSpec::HostRoot), userns) {
            (false, _) => HostRoot::Absent,
            (true, false) => HostRoot::Overlaid,
            (true, true) if layers.len() == 1 => HostRoot::ByParts,
            (true, true) => {
                return Err(SetupError::new("stack layers on host:/")
                    .detail("in a user namespace, host:/ can only be the single layer (its submounts cannot be overlaid)")
                    .fix("use host:/ alone, or namespaces.user = \"host\" as root"));
            }
        };
        Ok(RootPlan { layers, host_root, ops: ops(spec)?, etc: etc(&ext.network, nat) })
    }

    /// The bind sources, each once, in the order of the mounts.
    pub fn sources(&self) -> impl Iterator<Item = (&Path, bool)> {
        let mut seen: Vec<&Path> = Vec::new();
        self.ops.iter().filter_map(move |op| match op {
            Op::Bind { source, recursive, .. } if !seen.contains(&source.as_path()) => {
                seen.push(source);
                Some((source.as_path(), *recursive))
            }
            _ => None,
        })
    }
}

/// resolv.conf and hosts, when the profile or its `nat` network sets them.
fn etc(net: &NetworkSpec, nat: Option<&NatPlan>) -> Vec<(&'static str, EtcText)> {
    let mut files = Vec::new();
    if let Some(text) = nat.and_then(|n| n.resolv_conf.clone()) {
        files.push(("resolv.conf", EtcText::Text(text)));
    } else if net.dns_from_host {
        files.push(("resolv.conf", EtcText::HostFile("/etc/resolv.conf")));
    } else if let Some(servers) = &net.dns {
        let text = servers.iter().fold(String::new(), |mut t, s| {
            let _ = writeln!(t, "nameserver {s}");
            t
        });
        files.push(("resolv.conf", EtcText::Text(text)));
    }
    let pinned = nat.map(|n| n.hosts.as_slice()).unwrap_or_default();
    if !net.hosts.is_empty() || !pinned.is_empty() {
        let mut text = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for (ip, name) in net.hosts.iter().chain(pinned) {
            let _ = writeln!(text, "{ip}\t{name}");
        }
        files.push(("hosts", EtcText::Text(text)));
    }
    files
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Bind a host path (opened before the root is built) at `target`.
    Bind { source: PathBuf, target: PathBuf, recursive: bool, flags: MsFlags },
    /// Mount a new filesystem instance at `target`.
    Mount { fstype: String, source: String, target: PathBuf, flags: MsFlags, data: String },
    /// Populate a fresh /dev: device nodes bound from the host, standard links.
    DevNodes,
    /// Hide `target`: /dev/null over a file, an empty read-only tmpfs over a directory.
    Mask { target: PathBuf },
    /// Make `target` read-only (bind it onto itself, remount read-only).
    ReadOnly { target: PathBuf },
    /// A `linux.devices` node: made with mknod, or (in a user namespace,
    /// where mknod is refused) the host's node at the same path bound.
    Device(Device),
}

/// One of `linux.devices`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub path: PathBuf,
    pub kind: nix::sys::stat::SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Propagation options other than private, which the sandbox's mounts never have.
const PROPAGATION: &[&str] = &["slave", "rslave", "shared", "rshared", "unbindable", "runbindable"];

/// Device nodes every sandbox gets, bound from the host's /dev.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// The mounts, in order, from the spec.
fn ops(spec: &Spec) -> Result<Vec<Op>> {
    let mut ops = Vec::new();
    for m in spec.mounts().as_deref().unwrap_or_default() {
        let target = m.destination().clone();
        if !target.is_absolute() {
            return Err(SetupError::new(format!("mount {}", target.display()))
                .detail("the destination is not absolute"));
        }
        let typ = m.typ().as_deref().unwrap_or("none");
        let options = m.options().as_deref().unwrap_or_default();
        let (flags, data, bind, recursive) = parse_options(options);
        let mount_error = |what: String| SetupError::new(format!("mount {}", target.display())).detail(what);
        if let Some(p) = options.iter().find(|o| PROPAGATION.contains(&o.as_str())) {
            return Err(mount_error(format!(
                "propagation {p} is not supported (the sandbox's mounts are private)"
            ))
            .fix("remove the option"));
        }
        if (bind || typ == "bind") && !data.is_empty() {
            return Err(
                mount_error(format!("options {data} are not supported on a bind mount")).fix("remove them")
            );
        }
        let flags = flags | nodev(&target, typ);
        if bind || typ == "bind" {
            let source = m.source().clone().ok_or_else(|| {
                SetupError::new(format!("bind mount on {}", target.display()))
                    .detail("the mount has no source")
            })?;
            ops.push(Op::Bind { source, target, recursive, flags });
        } else {
            let source = m.source().as_ref().map_or_else(|| typ.to_owned(), |s| s.display().to_string());
            let is_dev = target == std::path::Path::new("/dev");
            // OCI's "cgroup" means "the container's cgroups", whatever the
            // host's layout (runc decides per host): the v2 hierarchy, which
            // every kernel we run on has, rooted at the container's cgroup
            // namespace. A v1 mount of all controllers would be refused
            // (EBUSY) where they are mounted apart, as on a hybrid host.
            let fstype = if typ == "cgroup" { "cgroup2" } else { typ };
            ops.push(Op::Mount { fstype: fstype.to_owned(), source, target, flags, data });
            if is_dev {
                ops.push(Op::DevNodes);
            }
        }
    }
    if let Some(linux) = spec.linux() {
        for d in linux.devices().as_deref().unwrap_or_default() {
            ops.push(Op::Device(device(d)?));
        }
        for p in linux.masked_paths().as_deref().unwrap_or_default() {
            ops.push(Op::Mask { target: PathBuf::from(p) });
        }
        for p in linux.readonly_paths().as_deref().unwrap_or_default() {
            ops.push(Op::ReadOnly { target: PathBuf::from(p) });
        }
    }
    Ok(ops)
}

/// No device node the sandbox can write may open a device: this runtime
/// keeps no device cgroup (resources.devices), so every mount is nodev but
/// the spec's binds into /dev, which are its devices.
fn nodev(target: &Path, typ: &str) -> MsFlags {
    if target.starts_with("/dev") && typ != "tmpfs" { MsFlags::empty() } else { MsFlags::MS_NODEV }
}

/// A `linux.devices` entry, checked: an absolute path without `..`, a
/// character, block or fifo node.
fn device(d: &oci_spec::runtime::LinuxDevice) -> Result<Device> {
    use nix::sys::stat::SFlag;
    use oci_spec::runtime::LinuxDeviceType;
    let path = d.path().clone();
    let err = |what: &str| {
        SetupError::new(format!("make linux.devices {}", path.display())).detail(what.to_owned())
    };
    if !path.is_absolute() || path.components().any(|c| c == std::path::Component::ParentDir) {
        return Err(err("the path is not absolute or has `..`"));
    }
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => return Err(err("type \"a\" (all) is for resources.devices, not a node")),
    };
    let major = u64::try_from(d.major()).map_err(|_| err("a negative major number"))?;
    let minor = u64::try_from(d.minor()).map_err(|_| err("a negative minor number"))?;
    Ok(Device {
        path,
        kind,
        major,
        minor,
        // Permission bits only: podman writes the file type bits too.
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// OCI mount options → (flags, data, is a bind, recursive).
pub fn parse_options(options: &[String]) -> (MsFlags, String, bool, bool) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    let (mut bind, mut recursive) = (false, false);
    for o in options {
        match o.as_str() {
            // Our read-only binds are recursive already (mount_setattr).
            "ro" | "rro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "suid" => flags &= !MsFlags::MS_NOSUID,
            "dev" => flags &= !MsFlags::MS_NODEV,
            "exec" => flags &= !MsFlags::MS_NOEXEC,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "bind" => bind = true,
            "rbind" => (bind, recursive) = (true, true),
            // Propagation is private for the whole tree (others are refused by `plan`).
            "private" | "rprivate" => {}
            other => data.push(other.to_owned()),
        }
    }
    (flags, data.join(","), bind, recursive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::host::HostContext;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let (flags, data, bind, rec) =
            parse_options(&strings(&["nosuid", "strictatime", "mode=755", "size=65536k"]));
        assert_eq!(flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(data, "mode=755,size=65536k");
        assert!(!bind && !rec);
        let (flags, data, bind, rec) = parse_options(&strings(&["rbind", "ro", "nosuid", "nodev"]));
        assert_eq!(flags, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV);
        assert!(data.is_empty() && bind && rec);
    }

    #[test]
    fn plan_follows_the_spec_order_with_devices_after_dev() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/dev-shell.toml");
        let loaded = crate::profile::load_profile(&path, &HostContext::fixed());
        let spec = crate::compile::compile(loaded.model.as_ref().unwrap(), &HostContext::fixed()).spec;
        let ops = ops(&spec).unwrap();
        let targets: Vec<String> = ops
            .iter()
            .map(|op| match op {
                Op::Bind { target, .. } | Op::Mount { target, .. } => target.display().to_string(),
                Op::DevNodes => "<devices>".into(),
                Op::Mask { target } => format!("mask {}", target.display()),
                Op::ReadOnly { target } => format!("ro {}", target.display()),
                Op::Device(d) => format!("device {}", d.path.display()),
            })
            .collect();
        assert_eq!(
            &targets[..9],
            ["/proc", "/dev", "<devices>", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/work", "/tmp"]
        );
        assert!(targets.contains(&"mask /proc/kcore".to_owned()));
        assert_eq!(targets.last().unwrap(), "ro /proc/sysrq-trigger");
        // Host network: /sys is the host's, bound read-only.
        assert!(
            matches!(&ops[6], Op::Bind { recursive: true, flags, .. } if flags.contains(MsFlags::MS_RDONLY))
        );
    }

    fn bind(source: &str, target: &str) -> oci_spec::runtime::Mount {
        oci_spec::runtime::MountBuilder::default()
            .source(source)
            .destination(target)
            .typ("bind")
            .options(strings(&["rbind", "ro"]))
            .build()
            .unwrap()
    }

    #[test]
    fn host_root_is_overlaid_as_root_and_assembled_alone_in_a_user_namespace() {
        let spec = oci_spec::runtime::SpecBuilder::default().mounts(Vec::new()).build().unwrap();
        let host = Extension { layers: vec![LayerSpec::HostRoot], ..Extension::for_tests() };
        assert_eq!(RootPlan::new(&spec, &host, false, None).unwrap().host_root, HostRoot::Overlaid);
        assert_eq!(RootPlan::new(&spec, &host, true, None).unwrap().host_root, HostRoot::ByParts);
        let stacked =
            Extension { layers: vec![LayerSpec::HostRoot, LayerSpec::Dir("/srv/top".into())], ..host };
        let plan = RootPlan::new(&spec, &stacked, false, None).unwrap();
        assert_eq!(plan.layers, [LayerSpec::Dir("/srv/top".into()), LayerSpec::HostRoot], "top first");
        let err = RootPlan::new(&spec, &stacked, true, None).unwrap_err();
        assert!(err.to_string().contains("host:/ can only be the single layer"), "{err}");
        let dir = RootPlan::new(&spec, &Extension::for_tests(), true, None).unwrap();
        assert_eq!(dir.host_root, HostRoot::Absent);
    }

    #[test]
    fn each_bind_source_is_opened_once() {
        let spec = oci_spec::runtime::SpecBuilder::default()
            .mounts(vec![bind("/srv/a", "/a"), bind("/srv/b", "/b"), bind("/srv/a", "/c")])
            .build()
            .unwrap();
        let plan = RootPlan::new(&spec, &Extension::for_tests(), false, None).unwrap();
        let sources: Vec<_> = plan.sources().map(|(p, _)| p.display().to_string()).collect();
        assert_eq!(sources, ["/srv/a", "/srv/b"]);
    }

    #[test]
    fn etc_files_come_from_the_network_settings() {
        let spec = oci_spec::runtime::SpecBuilder::default().mounts(Vec::new()).build().unwrap();
        let mut ext = Extension::for_tests();
        assert!(RootPlan::new(&spec, &ext, false, None).unwrap().etc.is_empty());
        ext.network.dns = Some(vec!["10.0.0.53".into()]);
        ext.network.hosts = vec![("10.0.0.7".into(), "db".into())];
        let etc = RootPlan::new(&spec, &ext, false, None).unwrap().etc;
        assert_eq!(etc[0], ("resolv.conf", EtcText::Text("nameserver 10.0.0.53\n".into())));
        assert!(matches!(&etc[1], ("hosts", EtcText::Text(t)) if t.ends_with("10.0.0.7\tdb\n")));
        ext.network.dns_from_host = true;
        let etc = RootPlan::new(&spec, &ext, false, None).unwrap().etc;
        assert_eq!(etc[0], ("resolv.conf", EtcText::HostFile("/etc/resolv.conf")));
    }
}
