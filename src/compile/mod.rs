//! Model → [`Bundle`] (an OCI runtime spec plus our [`Extension`]): a pure
//! function of the model and the caller's facts. Every field of the spec is set explicitly
//! (oci-spec's builders would otherwise fill in defaults of their own).

mod mounts;
mod seccomp;

use std::collections::BTreeMap;

use oci_spec::runtime::{
    Capability, LinuxBlockIoBuilder, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxIdMapping,
    LinuxIdMappingBuilder, LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType, ProcessBuilder, RootBuilder, SpecBuilder, UserBuilder,
};

use crate::spec::extension::{
    Extension, LandlockRules, LayerSpec, NetMode as SpecNetMode, NetworkSpec, Terminal as SpecTerminal,
    WritableSpec,
};
use crate::spec::{Bundle, DEFAULT_PATH};

use crate::profile::host::HostContext;
use crate::profile::model::{Dns, Layer, Model, NetMode, Seccomp, Terminal, User, UserNamespace, Writable};

/// The host ids a root caller's sandbox runs as: ids 0 to 65535 inside are
/// these, outside (as `systemd-nspawn -U` and `podman --userns=auto` map
/// theirs). Root inside is then no one outside: it cannot read the host's
/// root-only files nor own what it leaves on the host. Above useradd's
/// subordinate ranges (up to 600100000) and below podman's (2^31 and up),
/// in the range systemd leaves unused.
pub const SANDBOX_IDS: u32 = 0x7000_0000;
pub const SANDBOX_ID_COUNT: u32 = 65_536;

/// Each image layer's unpacked directories, bottom to top.
pub type Images = std::collections::BTreeMap<crate::image::reference::Source, Vec<std::path::PathBuf>>;

/// The bundle a validated profile without images is.
pub fn compile(model: &Model, host: &HostContext) -> Bundle {
    compile_with(model, host, &Images::new())
}

/// The bundle a validated profile is: a pure function of the model, the
/// caller's facts and where its images were unpacked (the caller resolved
/// every image layer of `model` into `images` first).
pub fn compile_with(model: &Model, host: &HostContext, images: &Images) -> Bundle {
    let userns = match model.namespaces.user {
        UserNamespace::New | UserNamespace::Auto => true,
        UserNamespace::Host => false,
    };
    let (uid, gid, groups) = ids(&model.process.user, host);
    let extension = extension(model, images);
    let mut annotations = extension.to_annotations();
    if let Some(desc) = model.description.as_ref() {
        annotations.insert("org.opencontainers.image.description".into(), desc.clone());
    }
    let mut spec = SpecBuilder::default()
        .version("1.2.0")
        .process(process(model, host, uid, gid, groups))
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(model.rootfs.writable == Writable::ReadOnly)
                .build()
                .expect("root"),
        )
        .mounts(mounts::mounts(model, userns))
        .linux(linux(model, host, userns, uid, gid))
        .annotations(annotations)
        .build()
        .expect("every spec field is set");
    // Only a new UTS namespace gets a hostname; the host's is never changed.
    spec.set_hostname(model.namespaces.uts.then(|| model.network.hostname.clone()));
    Bundle { spec, ext: extension, name: model.name.clone() }
}

/// The sandbox's uid, gid and supplementary groups.
fn ids(user: &User, host: &HostContext) -> (u32, u32, Vec<u32>) {
    match user {
        User::Root => (0, 0, Vec::new()),
        User::Host => (host.uid, host.gid, Vec::new()),
        User::Ids { uid, gid, groups } => (*uid, *gid, groups.clone()),
    }
}

fn process(
    model: &Model,
    host: &HostContext,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
) -> oci_spec::runtime::Process {
    let p = &model.process;
    let caps: oci_spec::runtime::Capabilities = model
        .security
        .capabilities
        .iter()
        .map(|c| {
            serde_json::from_value::<Capability>(serde_json::Value::String((*c).to_owned()))
                .expect("a kernel capability name")
        })
        .collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps.clone())
        .inheritable(caps.clone())
        .ambient(caps)
        .build()
        .expect("capabilities");
    ProcessBuilder::default()
        .terminal(p.terminal == Terminal::Always)
        .user(UserBuilder::default().uid(uid).gid(gid).additional_gids(groups).build().expect("user"))
        .args(p.command.clone())
        .env(environment(model, host, uid))
        .cwd(p.cwd.clone())
        .capabilities(capabilities)
        .rlimits(model.limits.rlimits.iter().map(rlimit).collect::<Vec<PosixRlimit>>())
        .no_new_privileges(model.security.no_new_privileges)
        .build()
        .expect("every process field is set")
}

/// PATH and HOME defaults, the caller's inherited variables, then the
/// profile's own values (which win).
fn environment(model: &Model, host: &HostContext, uid: u32) -> Vec<String> {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), DEFAULT_PATH.to_owned());
    let home = match model.process.user {
        User::Host => host.home.display().to_string(),
        _ if uid == 0 => "/root".to_owned(),
        _ => "/".to_owned(),
    };
    env.insert("HOME".to_owned(), home);
    for name in &model.process.inherit_env {
        if let Some(value) = host.env.get(name) {
            env.insert(name.clone(), value.clone());
        }
    }
    env.extend(model.process.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn rlimit(r: &crate::profile::model::Rlimit) -> PosixRlimit {
    let typ = match r.kind {
        "RLIMIT_NOFILE" => PosixRlimitType::RlimitNofile,
        "RLIMIT_NPROC" => PosixRlimitType::RlimitNproc,
        "RLIMIT_CORE" => PosixRlimitType::RlimitCore,
        "RLIMIT_FSIZE" => PosixRlimitType::RlimitFsize,
        "RLIMIT_STACK" => PosixRlimitType::RlimitStack,
        "RLIMIT_AS" => PosixRlimitType::RlimitAs,
        "RLIMIT_CPU" => PosixRlimitType::RlimitCpu,
        other => unreachable!("validate produces only known rlimits, not {other}"),
    };
    PosixRlimitBuilder::default().typ(typ).soft(r.soft).hard(r.hard).build().expect("rlimit")
}

fn linux(model: &Model, host: &HostContext, userns: bool, uid: u32, gid: u32) -> oci_spec::runtime::Linux {
    let ns = &model.namespaces;
    let kinds = [
        (ns.pid, LinuxNamespaceType::Pid),
        (ns.net, LinuxNamespaceType::Network),
        (ns.ipc, LinuxNamespaceType::Ipc),
        (ns.uts, LinuxNamespaceType::Uts),
        (ns.mount, LinuxNamespaceType::Mount),
        (ns.cgroup, LinuxNamespaceType::Cgroup),
        (userns, LinuxNamespaceType::User),
        (ns.time, LinuxNamespaceType::Time),
    ];
    let namespaces: Vec<LinuxNamespace> = kinds
        .into_iter()
        .filter(|(new, _)| *new)
        .map(|(_, typ)| LinuxNamespaceBuilder::default().typ(typ).build().expect("namespace"))
        .collect();
    let mut b = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources(model))
        .masked_paths(paths(&model.security.masked_paths))
        .readonly_paths(paths(&model.security.readonly_paths))
        .rootfs_propagation("private");
    if userns && host.is_root() {
        let range = || {
            LinuxIdMappingBuilder::default()
                .container_id(0u32)
                .host_id(SANDBOX_IDS)
                .size(SANDBOX_ID_COUNT)
                .build()
                .expect("id mapping")
        };
        b = b.uid_mappings(vec![range()]).gid_mappings(vec![range()]);
    } else if userns && model.namespaces.subids {
        b = b
            .uid_mappings(with_subids(host.uid, host.subuid))
            .gid_mappings(with_subids(host.gid, host.subgid));
    } else if userns {
        b = b.uid_mappings(vec![one_id(uid, host.uid)]).gid_mappings(vec![one_id(gid, host.gid)]);
    }
    if let Seccomp::Filter(filter) = &model.security.seccomp {
        b = b.seccomp(seccomp::compile(filter, crate::linux::seccomp::Arch::native()));
    }
    b.build().expect("every linux field is set")
}

/// The caller as root inside, then its subordinate range as ids 1 and up
/// (the range is missing when the caller has none: the runtime says so).
fn with_subids(own: u32, range: Option<crate::profile::host::IdRange>) -> Vec<LinuxIdMapping> {
    let mut maps = vec![one_id(0, own)];
    if let Some(r) = range {
        maps.push(
            LinuxIdMappingBuilder::default()
                .container_id(1u32)
                .host_id(r.start)
                .size(r.count)
                .build()
                .expect("id mapping"),
        );
    }
    maps
}

/// Map one id inside the sandbox to the caller's own id outside.
fn one_id(inside: u32, outside: u32) -> LinuxIdMapping {
    LinuxIdMappingBuilder::default()
        .container_id(inside)
        .host_id(outside)
        .size(1u32)
        .build()
        .expect("id mapping")
}

fn paths(list: &[std::path::PathBuf]) -> Vec<String> {
    list.iter().map(|p| p.display().to_string()).collect()
}

#[allow(clippy::cast_possible_wrap)] // validated ranges are far below i64::MAX
fn resources(model: &Model) -> LinuxResources {
    let l = &model.limits;
    let mut b = LinuxResourcesBuilder::default();
    if l.memory.is_some() || l.memory_swap.is_some() {
        let mut m = LinuxMemoryBuilder::default();
        if let Some(mem) = l.memory {
            m = m.limit(mem as i64);
        }
        if let Some(swap) = l.memory_swap {
            m = m.swap(swap as i64);
        }
        b = b.memory(m.build().expect("memory"));
    }
    if l.cpu.is_some() || l.cpu_weight.is_some() {
        let mut c = LinuxCpuBuilder::default();
        if let Some(q) = l.cpu {
            c = c.quota(q.quota).period(q.period);
        }
        if let Some(w) = l.cpu_weight {
            c = c.shares(weight_to_shares(w));
        }
        b = b.cpu(c.build().expect("cpu"));
    }
    if let Some(p) = l.pids {
        b = b.pids(LinuxPidsBuilder::default().limit(p as i64).build().expect("pids"));
    }
    if let Some(w) = l.io_weight {
        b = b.block_io(LinuxBlockIoBuilder::default().weight(w).build().expect("blkio"));
    }
    b.build().expect("resources")
}

/// cgroup v2 cpu.weight (1..10000) → OCI cpu.shares (2..262144), the inverse
/// of the conversion runc and crun apply on v2 hosts, so the weight survives.
pub fn weight_to_shares(weight: u64) -> u64 {
    2 + ((weight - 1) * 262_142).div_ceil(9_999)
}

/// Landlock and a nat network: the sandbox ports it publishes may be
/// bound; with egress denied, Landlock is the rules' second wall: TCP
/// connects to their ports (and to 53, DNS over TCP to the resolver),
/// added to those the profile lists. Landlock cannot name an address;
/// nftables holds those.
fn egress_wall(mut landlock: LandlockRules, net: &crate::profile::model::Network) -> LandlockRules {
    let Some(nat) = net.nat.as_ref() else { return landlock };
    let published = nat.publish.iter().filter(|p| p.proto == crate::net::rule::Proto::Tcp);
    landlock.tcp_bind.extend(published.flat_map(|p| p.sandbox_ports.first..=p.sandbox_ports.last));
    landlock.tcp_bind.sort_unstable();
    landlock.tcp_bind.dedup();
    let Some(allow) = nat.egress.as_ref() else { return landlock };
    let tcp = allow.iter().filter(|a| a.proto == crate::net::rule::Proto::Tcp);
    let ports = tcp.filter_map(|a| a.ports).flat_map(|p| p.first..=p.last);
    landlock.tcp_connect.extend(ports.chain([53]));
    landlock.tcp_connect.sort_unstable();
    landlock.tcp_connect.dedup();
    landlock
}

fn extension(model: &Model, images: &Images) -> Extension {
    let net = &model.network;
    Extension {
        layers: model.rootfs.layers.iter().flat_map(|l| layer(l, images)).collect(),
        writable: writable(&model.rootfs.writable),
        network: NetworkSpec {
            mode: match net.mode {
                NetMode::None => SpecNetMode::None,
                NetMode::Host => SpecNetMode::Host,
                NetMode::Nat => SpecNetMode::Nat,
            },
            dns: match &net.dns {
                Some(Dns::Servers(s)) => Some(s.iter().map(ToString::to_string).collect()),
                _ => None,
            },
            dns_from_host: net.dns == Some(Dns::Host),
            hosts: net.hosts.iter().map(|(name, ip)| (ip.to_string(), name.clone())).collect(),
            // Without `dns`, a nat sandbox keeps `dns: None`: the runtime
            // points its resolv.conf at the user-mode stack's forwarder.
            nat: net.nat.clone(),
        },
        landlock: model.security.landlock.clone().map(|l| egress_wall(l, &model.network)),
        init: model.process.init,
        terminal: match model.process.terminal {
            Terminal::Auto => SpecTerminal::Auto,
            Terminal::Always => SpecTerminal::Always,
            Terminal::Never => SpecTerminal::Never,
        },
        timeout_ms: model.limits.timeout.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        limits_required: model.limits.enforce == crate::profile::model::Enforce::Required,
        subids: model.namespaces.subids,
    }
}

fn layer(layer: &Layer, images: &Images) -> Vec<LayerSpec> {
    match layer {
        Layer::HostRoot => vec![LayerSpec::HostRoot],
        Layer::Dir(p) => vec![LayerSpec::Dir(p.display().to_string())],
        Layer::Image(source) => {
            let dirs = images.get(source).expect("the caller resolved every image before compile");
            dirs.iter().map(|d| LayerSpec::Dir(d.display().to_string())).collect()
        }
    }
}

fn writable(w: &Writable) -> WritableSpec {
    match w {
        Writable::Tmpfs { size } => WritableSpec::Tmpfs { size: *size },
        Writable::ReadOnly => WritableSpec::Readonly,
        Writable::Dir(p) => WritableSpec::Dir { path: p.display().to_string() },
    }
}
