//! Discovery: which cgroup hierarchies are mounted (/proc/self/mountinfo),
//! where the caller sits in each (/proc/self/cgroup), and where a sandbox's
//! cgroup goes in a hierarchy (the `linux.cgroupsPath` rules).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::error::{Result, SetupError};
use crate::mountinfo::unescape;

/// One mounted cgroup hierarchy and the caller's place in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted in our mount namespace: `/sys/fs/cgroup/memory`.
    pub mount: PathBuf,
    /// The mount's root inside the hierarchy (mountinfo field 4): `/` unless
    /// only a subtree is mounted (a container's view).
    pub root: PathBuf,
    /// The caller's cgroup, absolute from the hierarchy root (/proc/self/cgroup).
    pub current: PathBuf,
    /// v1: the controllers bound to it (`memory`, or `cpu` and `cpuacct` when
    /// co-mounted; `name=systemd` for a named one). v2: empty; what v2 offers
    /// is read from `cgroup.controllers` when it is needed.
    pub controllers: Vec<String>,
}

/// Every hierarchy the caller belongs to that is also mounted here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hierarchies {
    /// The cgroup2 (unified) hierarchy: all of them on a pure-v2 host, the
    /// controller-less `/sys/fs/cgroup/unified` on a hybrid one.
    pub v2: Option<Hierarchy>,
    /// The v1 hierarchies, in /proc/self/cgroup order.
    pub v1: Vec<Hierarchy>,
}

impl Hierarchies {
    /// Read this process's view: /proc/self/mountinfo and /proc/self/cgroup.
    pub fn discover() -> Result<Self> {
        let read = |path: &str| {
            std::fs::read_to_string(path).map_err(|e| SetupError::io(format!("read {path}"), &e))
        };
        Ok(Hierarchies::parse(&read("/proc/self/mountinfo")?, &read("/proc/self/cgroup")?))
    }

    /// Pair each /proc/self/cgroup line with the mount of its hierarchy. A
    /// hierarchy we belong to but that is not mounted is left out.
    pub fn parse(mountinfo: &str, proc_self_cgroup: &str) -> Self {
        let mounts: Vec<Mount> = mountinfo.lines().filter_map(Mount::parse).collect();
        let mut found = Hierarchies::default();
        for line in proc_self_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(list), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let current = PathBuf::from(path);
            if id == "0" && list.is_empty() {
                if let Some(m) = best_mount(mounts.iter().filter(|m| m.v2), &current) {
                    found.v2 = Some(m.hierarchy(current, Vec::new()));
                }
                continue;
            }
            let controllers: Vec<String> = list.split(',').map(str::to_owned).collect();
            let wanted: BTreeSet<&str> = controllers.iter().map(String::as_str).collect();
            let candidates = mounts.iter().filter(|m| !m.v2 && wanted.iter().all(|c| m.options.contains(*c)));
            if let Some(m) = best_mount(candidates, &current) {
                found.v1.push(m.hierarchy(current, controllers));
            }
        }
        found
    }

    /// The v1 hierarchy a controller (v1 name: `memory`, `blkio`) is bound to.
    pub fn v1_with(&self, controller: &str) -> Option<&Hierarchy> {
        self.v1.iter().find(|h| h.has(controller))
    }
}

impl Hierarchy {
    /// Whether a v1 controller is bound to this hierarchy.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// The directory of a cgroup given absolute from the hierarchy root, or
    /// `None` when the mount does not show that part of the hierarchy.
    pub fn dir_of(&self, cgroup: &Path) -> Option<PathBuf> {
        let rest = cgroup.strip_prefix(&self.root).ok()?;
        Some(if rest.as_os_str().is_empty() { self.mount.clone() } else { self.mount.join(rest) })
    }

    /// A short human name: `v1 memory`, `v1 cpu,cpuacct`, `v2`.
    pub fn label(&self) -> String {
        if self.controllers.is_empty() {
            "v2".to_owned()
        } else {
            format!("v1 {}", self.controllers.join(","))
        }
    }
}

/// Where the sandbox's cgroup goes in a hierarchy, absolute from its root:
/// `cgroups_path` when given (absolute: from the hierarchy root; relative:
/// under the caller's cgroup), otherwise `leaf` under the caller's cgroup.
pub fn placement(h: &Hierarchy, cgroups_path: Option<&Path>, leaf: &str) -> Result<PathBuf> {
    let Some(path) = cgroups_path else {
        return Ok(h.current.join(leaf));
    };
    let text = path.to_string_lossy();
    let bad = |why: &str| {
        SetupError::new(format!("place the cgroup at linux.cgroupsPath {text:?}"))
            .detail(why.to_owned())
            .fix("give a plain path: absolute from the hierarchy root, or relative to the launcher's cgroup")
    };
    if !path.is_absolute() && text.split(':').count() == 3 && !text.contains('/') {
        return Err(bad("systemd-style \"slice:prefix:name\" paths are not supported"));
    }
    let mut clean = PathBuf::from("/");
    for part in path.components() {
        match part {
            Component::Normal(name) => clean.push(name),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(bad("\"..\" is not allowed")),
        }
    }
    if clean == Path::new("/") {
        return Err(bad("it names the hierarchy root, which the sandbox cannot own"));
    }
    if path.is_absolute() { Ok(clean) } else { Ok(h.current.join(clean.strip_prefix("/").unwrap_or(&clean))) }
}

/// The default leaf name: `sandbox-<name>-<pid>`, the name reduced to
/// characters that are safe in a path and bounded in length.
pub fn default_leaf(name: &str, pid: u32) -> String {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .take(64)
        .collect();
    let safe = if safe.is_empty() || safe.starts_with('.') { format!("x{safe}") } else { safe };
    format!("sandbox-{safe}-{pid}")
}

/// One cgroup or cgroup2 line of /proc/self/mountinfo.
struct Mount {
    root: PathBuf,
    target: PathBuf,
    v2: bool,
    /// The super options: `rw,memory`, `rw,name=systemd`.
    options: BTreeSet<String>,
}

impl Mount {
    /// `35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory`
    fn parse(line: &str) -> Option<Mount> {
        let fields: Vec<&str> = line.split(' ').collect();
        let dash = fields.iter().position(|f| *f == "-")?;
        let fstype = *fields.get(dash + 1)?;
        let v2 = match fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => return None,
        };
        let options = fields.get(dash + 3).map_or("", |o| *o).split(',').map(str::to_owned).collect();
        Some(Mount {
            root: PathBuf::from(unescape(fields.get(3)?)),
            target: PathBuf::from(unescape(fields.get(4)?)),
            v2,
            options,
        })
    }

    fn hierarchy(&self, current: PathBuf, controllers: Vec<String>) -> Hierarchy {
        Hierarchy { mount: self.target.clone(), root: self.root.clone(), current, controllers }
    }
}

/// Of several mounts of one hierarchy, the one that shows the most of it
/// while still showing the caller's cgroup; failing that, the first.
fn best_mount<'a>(mounts: impl Iterator<Item = &'a Mount>, current: &Path) -> Option<&'a Mount> {
    let all: Vec<&Mount> = mounts.collect();
    all.iter()
        .filter(|m| current.starts_with(&m.root))
        .min_by_key(|m| m.root.components().count())
        .or_else(|| all.first())
        .copied()
}

/// The cgroupfs path systemd gives a `SLICE:PREFIX:NAME` cgroupsPath (runc's
/// `--systemd-cgroup` form): each slice's parents spelled out
/// (`a-b.slice` is `a.slice/a-b.slice`), then `PREFIX-NAME.scope`.
pub fn systemd_path(path: &str) -> Result<String> {
    let bad = |why: &str| {
        SetupError::new("read linux.cgroupsPath")
            .detail(format!("{path:?} {why}"))
            .fix("with --systemd-cgroup, give SLICE:PREFIX:NAME (e.g. machine.slice:libpod:ID)")
    };
    let parts: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = parts[..] else { return Err(bad("is not SLICE:PREFIX:NAME")) };
    if name.is_empty() || name.contains('/') || prefix.contains('/') || slice.contains('/') {
        return Err(bad("has an empty name or a '/'"));
    }
    let slice = if slice.is_empty() { "system.slice" } else { slice };
    let stem = slice.strip_suffix(".slice").ok_or_else(|| bad("names a slice without .slice"))?;
    let mut out = String::new();
    if stem != "-" {
        let words: Vec<&str> = stem.split('-').collect();
        if words.iter().any(|w| w.is_empty()) {
            return Err(bad("has an empty slice name"));
        }
        for i in 1..=words.len() {
            out.push('/');
            out.push_str(&words[..i].join("-"));
            out.push_str(".slice");
        }
    }
    let scope = if prefix.is_empty() { format!("{name}.scope") } else { format!("{prefix}-{name}.scope") };
    Ok(format!("{out}/{scope}"))
}
