//! Every key of the profile format, in the format's order, with what
//! leaving it out means: the one table `explain --all` prints defaults
//! from and orders its lines by. A default is the TOML value that, written
//! out, gives the same validated profile as leaving the key out; the tests
//! (`defaults/tests.rs`) compile both ways for each entry, and check that
//! the table names every key of the JSON Schema, so it cannot drift from
//! the validator or the format.

use crate::profile::load::node::{Node, Value};

/// One key of the format.
pub struct Key {
    /// Dotted path; `[]` stands for each item of a list of tables (`mount[].mode`).
    pub path: &'static str,
    /// What leaving it out means, when a value says it.
    pub default: Option<DefaultValue>,
    /// Why that is the default, or what leaving the key out does when no value says it.
    pub why: &'static str,
    /// When the default holds: some keys follow another one.
    pub when: When,
}

/// A default value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// TOML value text, as it would be written in a profile.
    Toml(&'static str),
    /// The profile's name, made a host name (`validate::default_hostname`).
    Hostname,
}

/// When a default holds. A path here may use `[]` for the item the key is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    /// Unless this key is set: it decides this one.
    Unset(&'static str),
    /// Only when this key is set.
    Set(&'static str),
    /// Only when this key is this string.
    Is(&'static str, &'static str),
    /// Unless this key is this string.
    IsNot(&'static str, &'static str),
}

const fn key(path: &'static str, default: &'static str, why: &'static str) -> Key {
    Key { path, default: Some(DefaultValue::Toml(default)), why, when: When::Always }
}

const fn none(path: &'static str, why: &'static str) -> Key {
    Key { path, default: None, why, when: When::Always }
}

impl Key {
    const fn when(self, when: When) -> Key {
        Key { when, ..self }
    }
}

const RLIMIT: &str = "not set: the caller's limit is inherited";
/// Keys that mean something only on a nat network (elsewhere they are errors).
const NAT: When = When::Is("network.mode", "nat");

/// Nested tables whose absence means what the empty table means, so their
/// keys' defaults hold when they are left out (an absent `[security.landlock]`
/// is no Landlock at all, but an absent `[network.egress]` lets everything out,
/// as `default = "allow"` does).
const IMPLIED_TABLES: &[&str] = &["network.egress"];
const RLIMIT_HALF: &str = "the other half of the pair";

/// The format's keys in its order (`raw::Profile`'s fields, depth first).
pub const KEYS: &[Key] = &[
    none("extends", "builds on nothing"),
    none("replace", "every inherited value merges"),
    none("description", "no description"),
    key("process.command", r#"["/bin/sh"]"#, "a shell, as docker falls back to an image's"),
    key("process.cwd", r#""/""#, "the root of the sandbox"),
    key("process.env", "{}", "no variables beyond PATH, HOME and the inherited ones"),
    key("process.inherit_env", "[]", "none of the caller's environment"),
    key("process.user", r#""root""#, "root inside, which the user namespace maps to no one outside"),
    none("process.user.uid", "required in the table form"),
    none("process.user.gid", "the uid"),
    key("process.user.groups", "[]", "no supplementary groups"),
    key("process.terminal", r#""auto""#, "a terminal when stdin is one"),
    key("process.init", "true", "a tiny pid 1 reaps zombies and forwards signals"),
    key("rootfs.layers", r#"["host:/"]"#, "the host's root, read-only"),
    key("rootfs.writable", r#""tmpfs""#, "changes are thrown away at exit"),
    none("rootfs.writable.dir", "required in the table form"),
    none("rootfs.tmpfs_size", "half of RAM, as tmpfs does"),
    key("mount", "[]", "no extra mounts"),
    key("mount[].type", r#""bind""#, "a mount with a source binds it").when(When::Set("mount[].source")),
    none("mount[].source", "required for a bind mount"),
    none("mount[].target", "required"),
    key("mount[].mode", r#""ro""#, "read-only unless asked").when(When::IsNot("mount[].type", "tmpfs")),
    key("mount[].nosuid", "true", "set-user-ID bits are ignored"),
    key("mount[].nodev", "true", "device files are ignored"),
    key("mount[].noexec", "false", "files may be executed"),
    none("mount[].size", "half of RAM, as tmpfs does"),
    key("mount[].permissions", r#""0755""#, "as mkdir").when(When::Is("mount[].type", "tmpfs")),
    key("system_mounts.proc", "true", "each standard mount is on unless set to false"),
    key("system_mounts.dev", "true", ""),
    key("system_mounts.dev_pts", "true", ""),
    key("system_mounts.dev_shm", "true", ""),
    key("system_mounts.dev_mqueue", "true", ""),
    key("system_mounts.sys", "true", ""),
    key("namespaces.user", r#""auto""#, "always a user namespace of its own"),
    key("namespaces.subids", "false", "only the caller's own id is mapped"),
    key("namespaces.pid", r#""new""#, "every namespace is new but time"),
    key("namespaces.mount", r#""new""#, "the only value: the root is built in a private one"),
    key("namespaces.ipc", r#""new""#, ""),
    key("namespaces.uts", r#""new""#, ""),
    key("namespaces.net", r#""new""#, "follows network.mode").when(When::Unset("network.mode")),
    key("namespaces.cgroup", r#""new""#, ""),
    key("namespaces.time", r#""host""#, "clocks are rarely worth a namespace"),
    key("network.mode", r#""none""#, "no network but loopback").when(When::Unset("namespaces.net")),
    Key {
        path: "network.hostname",
        default: Some(DefaultValue::Hostname),
        why: "the profile's file name; none is set when the UTS namespace is the host's",
        when: When::IsNot("namespaces.uts", "host"),
    },
    none("network.dns", "the root filesystem's own /etc/resolv.conf"),
    key("network.hosts", "{}", "no extra /etc/hosts entries"),
    key("network.ports", "[]", "nothing published").when(NAT),
    key("network.host_loopback", "false", "the host's own services stay out of reach").when(NAT),
    key("network.egress.default", r#""allow""#, "every destination").when(NAT),
    key("network.egress.allow", "[]", "no rules (with \"deny\": only DNS to the resolver)").when(NAT),
    none("limits.memory", "no limit"),
    none("limits.memory_swap", "no limit"),
    none("limits.cpus", "no limit"),
    none("limits.cpu_weight", "not written: the kernel's 100"),
    none("limits.pids", "no limit"),
    none("limits.io_weight", "not written: the kernel's 100"),
    none("limits.timeout", "no limit"),
    key("limits.enforce", r#""required""#, "a limit that cannot be applied is an error"),
    none("limits.rlimits.nofile", RLIMIT),
    none("limits.rlimits.nofile.soft", RLIMIT_HALF),
    none("limits.rlimits.nofile.hard", RLIMIT_HALF),
    none("limits.rlimits.nproc", RLIMIT),
    none("limits.rlimits.nproc.soft", RLIMIT_HALF),
    none("limits.rlimits.nproc.hard", RLIMIT_HALF),
    none("limits.rlimits.core", RLIMIT),
    none("limits.rlimits.core.soft", RLIMIT_HALF),
    none("limits.rlimits.core.hard", RLIMIT_HALF),
    none("limits.rlimits.fsize", RLIMIT),
    none("limits.rlimits.fsize.soft", RLIMIT_HALF),
    none("limits.rlimits.fsize.hard", RLIMIT_HALF),
    none("limits.rlimits.stack", RLIMIT),
    none("limits.rlimits.stack.soft", RLIMIT_HALF),
    none("limits.rlimits.stack.hard", RLIMIT_HALF),
    none("limits.rlimits.as", RLIMIT),
    none("limits.rlimits.as.soft", RLIMIT_HALF),
    none("limits.rlimits.as.hard", RLIMIT_HALF),
    none("limits.rlimits.cpu", RLIMIT),
    none("limits.rlimits.cpu.soft", RLIMIT_HALF),
    none("limits.rlimits.cpu.hard", RLIMIT_HALF),
    key("security.capabilities", "[]", "every capability is dropped"),
    key("security.no_new_privileges", "true", "setuid binaries cannot raise privileges"),
    key("security.seccomp", r#""default""#, "the built-in allowlist"),
    key("security.seccomp.base", r#""default""#, "the built-in allowlist"),
    key("security.seccomp.allow", "[]", "nothing beyond the base"),
    key("security.seccomp.deny", "[]", "nothing taken from the base"),
    key("security.seccomp.default_action", r#""errno""#, "other calls fail"),
    key("security.seccomp.errno", r#""EPERM""#, "as a refused privilege"),
    key("security.landlock.read", "[]", "absent `landlock`: no Landlock at all"),
    key("security.landlock.execute", "[]", ""),
    key("security.landlock.write", "[]", ""),
    key("security.landlock.tcp_bind", "[]", ""),
    key("security.landlock.tcp_connect", "[]", ""),
    key("security.landlock.scope", "[]", ""),
    key("security.landlock.enforce", r#""required""#, "a rule the kernel cannot enforce is an error"),
    key("security.masked_paths", "[]", "the built-in list only"),
    key("security.readonly_paths", "[]", "the built-in list only"),
    key("security.builtin_paths", "true", "/proc/kcore, /proc/sys and the like stay hidden or read-only"),
];

/// One step of a path in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A default that holds for a key `tree` leaves out.
#[derive(Debug, PartialEq)]
pub struct Unset {
    pub path: Vec<Step>,
    /// TOML value text.
    pub value: String,
}

/// Every key `tree` does not set whose default holds, in the table's order
/// (each item of a list of tables in turn for its keys). `name` is the
/// profile's name, for the derived hostname.
pub fn unset(tree: &Node, name: &str) -> Vec<Unset> {
    let mut out = Vec::new();
    for key in KEYS {
        let Some(default) = key.default else { continue };
        let (parent, leaf) = key.path.rsplit_once('.').unwrap_or(("", key.path));
        for (mut path, table) in places(tree, parent) {
            let applies = match table {
                Some(t) => matches!(t.value, Value::Map(_)) && t.get(leaf).is_none(),
                // A section left out has its defaults; a nested table left out has none.
                None => !parent.contains(['.', '[']) || IMPLIED_TABLES.contains(&parent),
            };
            if !applies || !holds(tree, key.when, &path) {
                continue;
            }
            path.push(Step::Key(leaf.to_owned()));
            let value = match default {
                DefaultValue::Toml(text) => text.to_owned(),
                DefaultValue::Hostname => format!("{:?}", crate::profile::validate::default_hostname(name)),
            };
            out.push(Unset { path, value });
        }
    }
    out
}

/// The places `parent` names in `tree`: one for a plain path (`None` when
/// it is not there), one per item for a `[]`.
fn places<'a>(tree: &'a Node, parent: &str) -> Vec<(Vec<Step>, Option<&'a Node>)> {
    let mut places = vec![(Vec::new(), Some(tree))];
    for segment in parent.split('.').filter(|s| !s.is_empty()) {
        let (name, each) = segment.strip_suffix("[]").map_or((segment, false), |n| (n, true));
        let mut next = Vec::new();
        for (mut path, node) in places {
            let child = node.and_then(|n| n.get(name));
            path.push(Step::Key(name.to_owned()));
            match child {
                Some(Node { value: Value::Seq(items), .. }) if each => {
                    for (i, item) in items.iter().enumerate() {
                        let mut item_path = path.clone();
                        item_path.push(Step::Index(i));
                        next.push((item_path, Some(item)));
                    }
                }
                _ if each => {}
                _ => next.push((path, child)),
            }
        }
        places = next;
    }
    places
}

/// Whether `when` holds for the key at `at` (whose indices fill the `[]`s).
fn holds(tree: &Node, when: When, at: &[Step]) -> bool {
    let is = |path: &str, text: &str| matches!(lookup(tree, path, at), Some(Node { value: Value::Str(s), .. }) if s == text);
    match when {
        When::Always => true,
        When::Unset(path) => lookup(tree, path, at).is_none(),
        When::Set(path) => lookup(tree, path, at).is_some(),
        When::Is(path, text) => is(path, text),
        When::IsNot(path, text) => !is(path, text),
    }
}

/// The node at `path`, each `[]` taking the next index of `at`.
fn lookup<'a>(tree: &'a Node, path: &str, at: &[Step]) -> Option<&'a Node> {
    let mut indices = at.iter().filter_map(|s| match s {
        Step::Index(i) => Some(*i),
        Step::Key(_) => None,
    });
    let mut node = tree;
    for segment in path.split('.') {
        let (name, each) = segment.strip_suffix("[]").map_or((segment, false), |n| (n, true));
        node = node.get(name)?;
        if each {
            let Value::Seq(items) = &node.value else { return None };
            node = items.get(indices.next()?)?;
        }
    }
    Some(node)
}

/// Where `path` (a pattern such as `mount[].mode`, or a table above keys
/// such as `security`) stands in the format's order: the first key at or
/// under it. `None` for a key the format does not name (an `env` variable).
pub fn rank(path: &str) -> Option<usize> {
    KEYS.iter().position(|k| {
        k.path.strip_prefix(path).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    })
}

#[cfg(test)]
mod tests;
