//! What the sandbox will see at its start, worked out from the validated
//! profile and the host: the profile's mounts over the standard ones over
//! the layers. Landlock opens every path of its rules when the sandbox
//! starts, so a path missing there is a profile mistake `check` can name.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::Mode;

use super::Cx;
use crate::profile::diag::Diag;
use crate::profile::model::{Layer, Mount, MountKind, Rootfs, SystemMounts};
use crate::profile::source::Sp;

/// What the runtime puts in a fresh /dev (see `runtime::plan::DEVICES`).
const DEV_ENTRIES: &[&str] = &[
    "null", "zero", "full", "random", "urandom", "tty", "ptmx", "fd", "stdin", "stdout", "stderr", "pts",
    "shm", "mqueue",
];

/// The parts of the profile the view depends on.
pub(super) struct View<'a> {
    pub rootfs: &'a Rootfs,
    pub mounts: &'a [Mount],
    pub system: SystemMounts,
    pub cwd: &'a Path,
    /// Files the runtime writes into /etc (resolv.conf, hosts).
    pub etc_files: &'a [&'a str],
    /// Host trees the sandbox gets as empty tmpfs (`model::SOCKET_TREES`).
    pub hidden: Vec<(&'static str, u32)>,
}

impl View<'_> {
    /// Whether `path` (absolute, normalised) exists when the sandbox starts.
    pub fn exists(&self, path: &Path) -> bool {
        // The profile's mounts come last, so the last one on the path decides.
        for m in self.mounts.iter().rev() {
            if path == m.target {
                return true;
            }
            if let Ok(rest) = path.strip_prefix(&m.target) {
                return match &m.kind {
                    MountKind::Bind { source, .. } => in_root(source, rest),
                    MountKind::Tmpfs { .. } => false,
                };
            }
        }
        for (tree, _) in &self.hidden {
            if path.starts_with(tree) {
                return path == Path::new(tree);
            }
        }
        for (on, place) in [(self.system.proc, "/proc"), (self.system.sys, "/sys")] {
            if on && path.starts_with(place) {
                // The sandbox's /proc and /sys are the same kernel's.
                return path.exists();
            }
        }
        if self.system.dev {
            if let Ok(rest) = path.strip_prefix("/dev") {
                let first = rest.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
                return first
                    .is_none_or(|f| DEV_ENTRIES.contains(&f.as_str()) && rest.components().count() == 1);
            }
        }
        if path == self.cwd || self.etc_files.iter().any(|f| path == Path::new("/etc").join(f)) {
            return true;
        }
        let rel = path.strip_prefix("/").unwrap_or(path);
        self.rootfs.layers.iter().rev().any(|layer| match layer {
            Layer::HostRoot => path.exists(),
            Layer::Dir(dir) => in_root(dir, rel),
            // Not unpacked yet when the profile is validated: the runtime
            // reports a path the image lacks.
            Layer::Image(_) => true,
        })
    }
}

/// Whether `rel` exists below `root`, its symlinks resolved inside `root`
/// as they will be in the sandbox.
fn in_root(root: &Path, rel: &Path) -> bool {
    let Ok(dir) = open(root, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()) else { return false };
    if rel.as_os_str().is_empty() {
        return true;
    }
    let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_CLOEXEC).resolve(ResolveFlag::RESOLVE_IN_ROOT);
    openat2(dir.as_fd(), rel, how).is_ok()
}

/// A Landlock rule's path that will not exist when the sandbox starts, in a
/// profile that requires every rule: the run would fail on it.
pub(super) fn check_landlock_paths(cx: &mut Cx, view: &View, lists: &[&[Sp<String>]]) {
    for p in lists.iter().flat_map(|l| l.iter()) {
        let path = PathBuf::from(&p.value);
        if !view.exists(&path) {
            let diag = Diag::at(
                "profile::landlock-path",
                p.span,
                format!("Landlock path {} does not exist in the sandbox", p.value),
            )
            .help("Landlock opens each path when the sandbox starts: fix the path, mount something there, or set enforce = \"best-effort\" to skip it");
            cx.error(diag);
        }
    }
}
