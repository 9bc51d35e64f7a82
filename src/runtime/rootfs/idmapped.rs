//! A root caller's sandbox runs in a user namespace whose ids are an
//! unprivileged host range (the compiler maps them): root inside is no one
//! outside, so the host's root-only files stay closed to it. The caller's
//! own directories — layers, bind sources, a persistent upper — should
//! still look as they are on disk, owners included, and what the sandbox
//! writes there should belong to the ids it has inside, as without the
//! namespace. The launcher, still real root, makes that so: for each it
//! clones a detached mount shown through the sandbox's own id mapping
//! (an idmapped mount) and hands it to the child, which attaches it in its
//! own mount namespace. `host:/` is never mapped: the host's files keep
//! appearing as `nobody`.
//!
//! A file system that cannot be id-mapped (the kernel says EINVAL: older
//! kernels for tmpfs, or pseudo file systems) is bound as it is, and the
//! launcher says what that means; a persistent upper must be mapped.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::error::{Result, SetupError};
use crate::runtime::rootfs::plan::RootPlan;
use crate::spec::extension::LayerSpec;
use crate::sys;

/// What the child attaches, by what it is for.
pub fn layer_key(path: &str) -> String {
    format!("layer:{path}")
}

pub fn source_key(path: &Path) -> String {
    format!("bind:{}", path.display())
}

pub const UPPER_KEY: &str = "upper";

/// Kernel trees are never mapped: they are not the caller's files.
const KERNEL_TREES: &[&str] = &["/proc", "/sys", "/dev"];

/// Detached mount trees, each with the key of what it is for.
pub type Trees = Vec<(String, OwnedFd)>;

/// The id-mapped copies for the sandbox `pid` (its id maps written), and a
/// note for each directory that could not be mapped, unless its owner is
/// already in `ids`, the host ids the sandbox's own map to (a directory
/// chowned to them needs no mapping: a kernel that cannot id-map tmpfs).
pub fn make(
    pid: Pid,
    plan: &RootPlan,
    upper: Option<BorrowedFd<'_>>,
    ids: std::ops::Range<u32>,
) -> Result<(Trees, Vec<String>)> {
    let ns_path = format!("/proc/{pid}/ns/user");
    let userns = open(ns_path.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| SetupError::sys(format!("open {ns_path}"), e))?;
    let (mut made, mut notes) = (Vec::new(), Vec::new());
    let mut map = |key: String, path: &Path, recursive: bool, made: &mut Trees| {
        let mapped = open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .and_then(|fd| sys::mount::clone_tree(fd.as_fd(), recursive))
            .and_then(|tree| sys::mount::idmap_tree(tree.as_fd(), userns.as_fd(), recursive).map(|()| tree));
        let owned =
            std::fs::metadata(path).is_ok_and(|m| ids.contains(&std::os::unix::fs::MetadataExt::uid(&m)));
        match mapped {
            Ok(tree) => made.push((key, tree)),
            Err(_) if owned => {}
            Err(e) => notes.push(format!(
                "{} cannot be id-mapped ({e}): its files appear as nobody in the sandbox, and what the \
                 sandbox writes there belongs to its host ids",
                path.display()
            )),
        }
    };
    for layer in &plan.layers {
        if let LayerSpec::Dir(path) = layer {
            map(layer_key(path), Path::new(path), false, &mut made);
        }
    }
    for (source, recursive) in plan.sources() {
        if !KERNEL_TREES.iter().any(|t| source.starts_with(t)) {
            map(source_key(source), source, recursive, &mut made);
        }
    }
    if let Some(dir) = upper {
        let tree = sys::mount::clone_tree(dir, false)
            .and_then(|tree| sys::mount::idmap_tree(tree.as_fd(), userns.as_fd(), false).map(|()| tree))
            .map_err(|e| {
                SetupError::sys("id-map the persistent upper directory", e)
                    .detail("its files must belong to the sandbox's ids, and this file system cannot be id-mapped")
                    .fix("use writable = \"tmpfs\", a directory on another file system, or namespaces.user = \"host\"")
            })?;
        made.push((UPPER_KEY.to_owned(), tree));
    }
    Ok((made, notes))
}
