//! Raw profile → [`Model`], collecting every problem. Each part of the
//! profile has its own file; the shared checks (paths, sizes) live here.

mod limits;
mod mounts;
mod namespaces;
mod network;
mod process;
mod security;
mod view;

use std::path::{Component, Path, PathBuf};

use crate::profile::diag::{Diag, Diags};
use crate::profile::load::node::{Node, Value};
use crate::profile::model::Model;
use crate::profile::raw::{self, Lit};
use crate::profile::source::{SourceMap, Sp};
use crate::profile::units::{SIZE_SUFFIXES, parse_size};

/// Validate a merged raw profile. `None` when anything is wrong; the
/// problems are in `diags`.
pub fn validate(raw: &raw::Profile, name: &str, sources: &SourceMap, diags: &mut Diags) -> Option<Model> {
    let mut cx = Cx { sources, diags };
    let process = process::check(&mut cx, &raw.process);
    let rootfs = mounts::check_rootfs(&mut cx, &raw.rootfs);
    let (system_mounts, mounts) = mounts::check_mounts(&mut cx, &raw.system_mounts, &raw.mounts);
    let (namespaces, network) = namespaces::check(&mut cx, &raw.namespaces, &raw.network, name);
    let limits = limits::check(&mut cx, &raw.limits);
    let security = security::check(&mut cx, &raw.security);
    check_subids(&mut cx, raw, process.as_ref(), namespaces);
    network::check_net_admin(&mut cx, &raw.network, &raw.security);
    network::check_landlock_ports(&mut cx, &raw.network, &raw.security);
    if let (Some(p), Some(r), Some(m), Some(n), Some(s), Some(l)) =
        (&process, &rootfs, &mounts, &network, &security, &raw.security.landlock)
    {
        if s.landlock.as_ref().is_some_and(|l| !l.best_effort) {
            let etc_files = etc_files(n);
            let view = view::View {
                rootfs: r,
                mounts: m,
                system: system_mounts,
                cwd: &p.cwd,
                etc_files: &etc_files,
                hidden: crate::profile::model::hidden_host_trees(r, m, n),
            };
            view::check_landlock_paths(&mut cx, &view, &[&l.read, &l.execute, &l.write]);
        }
    }
    if !diags.is_empty() {
        return None;
    }
    Some(Model {
        name: name.to_owned(),
        description: raw.description.as_ref().map(|d| d.value.clone()),
        process: process?,
        rootfs: rootfs?,
        system_mounts,
        mounts: mounts?,
        namespaces,
        network: network?,
        limits: limits?,
        security: security?,
    })
}

/// The files the runtime writes into the sandbox's /etc: resolv.conf for
/// `dns` (and for nat, which points it at the user-mode stack's forwarder),
/// hosts for `hosts` (and for nat's pinned names and host.sandbox.internal).
fn etc_files(n: &crate::profile::model::Network) -> Vec<&'static str> {
    let nat_names = n.nat.as_ref().is_some_and(|nat| {
        nat.host_loopback
            || nat.egress.iter().flatten().any(|r| matches!(r.dest, crate::net::rule::Dest::Name(_)))
    });
    let mut files = Vec::new();
    if n.dns.is_some() || n.nat.is_some() {
        files.push("resolv.conf");
    }
    if !n.hosts.is_empty() || nat_names {
        files.push("hosts");
    }
    files
}

/// The hostname of a profile named `name` that sets none (and has a UTS
/// namespace of its own): its name, made a valid host name.
pub fn default_hostname(name: &str) -> String {
    namespaces::hostname_from(name)
}

/// Strings reach the kernel as C strings, which end at their first NUL:
/// a NUL inside a command argument, a variable or a path would cut it
/// short (and shift the arguments), so every one is an error at its place.
pub fn nul_bytes(node: &Node, diags: &mut Diags) {
    match &node.value {
        Value::Str(s) if s.contains('\0') => diags.push(
            Diag::at("profile::nul-byte", node.span, "this string contains a NUL byte")
                .help("the kernel takes strings up to their first NUL: remove it (`\\u0000` or `\\0`)"),
        ),
        Value::Seq(items) => items.iter().for_each(|n| nul_bytes(n, diags)),
        Value::Map(entries) => entries.iter().for_each(|e| nul_bytes(&e.value, diags)),
        _ => {}
    }
}

/// Subordinate ids put the caller at root inside: they need a user
/// namespace, and `user = "host"` (the caller's own number inside) would
/// land on someone else's id outside.
fn check_subids(
    cx: &mut Cx,
    raw: &raw::Profile,
    process: Option<&crate::profile::model::Process>,
    ns: crate::profile::model::Namespaces,
) {
    let Some(flag) = raw.namespaces.subids.as_ref().filter(|s| s.value) else { return };
    if ns.user == crate::profile::model::UserNamespace::Host {
        let diag = Diag::at(
            "profile::subids",
            flag.span,
            "`subids` needs a user namespace, but `namespaces.user` is \"host\"",
        )
        .help("remove `subids`, or set namespaces.user = \"auto\"");
        cx.error(diag);
    }
    if process.is_some_and(|p| p.user == crate::profile::model::User::Host) {
        let diag = Diag::at(
            "profile::subids",
            flag.span,
            "`subids` maps the caller to root inside; `user = \"host\"` cannot be used with it",
        )
        .help("use user = \"root\" (the caller outside) or user = { uid = N } (an id from the ranges)");
        cx.error(diag);
    }
}

/// What every check needs: where values came from, and where problems go.
pub(crate) struct Cx<'a> {
    sources: &'a SourceMap,
    diags: &'a mut Diags,
}

impl Cx<'_> {
    fn error(&mut self, diag: Diag) {
        self.diags.push(diag);
    }

    /// An absolute path inside the sandbox, normalised; `..` is refused so
    /// no target can name a place outside the new root.
    fn sandbox_path(&mut self, what: &str, value: &Sp<String>) -> Option<PathBuf> {
        let path = Path::new(&value.value);
        if !path.is_absolute() {
            let diag =
                Diag::at("profile::relative-path", value.span, format!("{what} must be an absolute path"))
                    .help(format!("paths inside the sandbox start with `/`, e.g. \"/{}\"", value.value));
            self.error(diag);
            return None;
        }
        let mut clean = PathBuf::from("/");
        for part in path.components() {
            match part {
                Component::Normal(p) => clean.push(p),
                Component::ParentDir => {
                    let diag = Diag::at("profile::parent-dir", value.span, format!("{what} contains `..`"))
                        .help(
                            "write the path without `..`: a sandbox path may not climb out of the new root",
                        );
                    self.error(diag);
                    return None;
                }
                _ => {}
            }
        }
        Some(clean)
    }

    /// A host path: absolute, or relative to the file the value was written
    /// in; `..` is resolved lexically (`${profile_dir}/..` is common).
    fn host_path(&self, value: &Sp<String>) -> PathBuf {
        let path = Path::new(&value.value);
        let base = self.sources.path(value.span.file).parent().unwrap_or(Path::new("/"));
        let joined = if path.is_absolute() { path.to_path_buf() } else { base.join(path) };
        let joined = if joined.is_absolute() {
            joined
        } else {
            std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")).join(joined)
        };
        let mut clean = PathBuf::from("/");
        for part in joined.components() {
            match part {
                Component::Normal(p) => clean.push(p),
                Component::ParentDir => {
                    clean.pop();
                }
                _ => {}
            }
        }
        clean
    }

    /// A host directory or file that must exist.
    fn existing_host_path(&mut self, what: &str, value: &Sp<String>, want_dir: bool) -> Option<PathBuf> {
        let path = self.host_path(value);
        match std::fs::metadata(&path) {
            Ok(meta) if want_dir && !meta.is_dir() => {
                let diag = Diag::at(
                    "profile::not-a-directory",
                    value.span,
                    format!("{what} {} is not a directory", path.display()),
                );
                self.error(diag);
                None
            }
            Ok(_) => Some(path),
            Err(e) => {
                let diag =
                    Diag::at("profile::missing-path", value.span, format!("{what} {}: {e}", path.display()))
                        .help("create it, or fix the path (relative paths start at the profile's directory)");
                self.error(diag);
                None
            }
        }
    }

    /// A size in bytes, between `min` and `max`.
    fn size(&mut self, what: &str, value: &Sp<Lit>, min: u64, max: u64) -> Option<u64> {
        let bytes = match &value.value {
            Lit::Int(i) => u64::try_from(*i).map_err(|_| format!("{what} must not be negative")),
            Lit::Str(s) => parse_size(s),
            Lit::Float(_) => Err(format!("{what} is a whole number of bytes or a size string")),
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(message) => {
                let diag = Diag::at("profile::size", value.span, message)
                    .help(format!("write a byte count or a size like \"512MiB\"; suffixes: {SIZE_SUFFIXES}"));
                self.error(diag);
                return None;
            }
        };
        if bytes < min || bytes > max {
            let diag =
                Diag::at("profile::range", value.span, format!("{what} {bytes} bytes is out of range"))
                    .help(format!("use between {} and {}", human(min), human(max)));
            self.error(diag);
            return None;
        }
        Some(bytes)
    }

    /// An integer within a range.
    fn in_range(&mut self, what: &str, value: &Sp<u64>, min: u64, max: u64) -> Option<u64> {
        if (min..=max).contains(&value.value) {
            return Some(value.value);
        }
        let diag = Diag::at("profile::range", value.span, format!("{what} {} is out of range", value.value))
            .help(format!("use a value from {min} to {max}"));
        self.error(diag);
        None
    }
}

fn flag(value: Option<&Sp<bool>>, default: bool) -> bool {
    value.map_or(default, |v| v.value)
}

fn human(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}
