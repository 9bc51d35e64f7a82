//! `host:/` as a layer: the host root's submounts, bound read-only at their
//! places over the overlay (as root), or the root assembled from the host's
//! top-level entries (without root, where the kernel will not overlay a
//! mount with locked submounts).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use crate::error::{Result, SetupError};
use crate::mountinfo::unescape;
use crate::runtime::rootfs::mounts;
use crate::runtime::rootfs::{do_mount, open_path};

/// Pseudo file systems the sandbox gets fresh copies of: the host's are never
/// carried over from `host:/`.
const NOT_FROM_HOST: &[&str] = &["/proc", "/sys", "/dev"];

/// One top-level entry of the host root.
pub(super) enum HostPart {
    Dir(OwnedFd),
    File(OwnedFd),
    Link(PathBuf),
}

/// The host root's top-level entries, but the pseudo file systems the
/// sandbox gets fresh.
pub(super) fn parts() -> Result<Vec<(String, HostPart)>> {
    let entries = std::fs::read_dir("/").map_err(|e| SetupError::io("list /", &e))?;
    let mut parts = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = Path::new("/").join(&name);
        if NOT_FROM_HOST.iter().any(|n| Path::new(n) == path) {
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        let part = if kind.is_symlink() {
            HostPart::Link(
                std::fs::read_link(&path)
                    .map_err(|e| SetupError::io(format!("read link {}", path.display()), &e))?,
            )
        } else if kind.is_dir() {
            HostPart::Dir(open_path(&path, "host directory")?)
        } else if kind.is_file() {
            HostPart::File(open_path(&path, "host file")?)
        } else {
            continue;
        };
        parts.push((name, part));
    }
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(parts)
}

/// Every mount below the host root, parents first (mountinfo's order), but
/// the pseudo file systems the sandbox gets fresh.
pub(super) fn submounts() -> Result<Vec<(PathBuf, OwnedFd)>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| SetupError::io("read /proc/self/mountinfo", &e))?;
    let rows: Vec<(&str, &str, String)> = info
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some((*f.first()?, *f.get(1)?, unescape(f.get(4)?)))
        })
        .collect();
    let Some(root_id) = rows.iter().rev().find(|(_, _, p)| p == "/").map(|(id, _, _)| *id) else {
        return Ok(Vec::new());
    };
    let mut below = vec![root_id];
    let mut out = Vec::new();
    for (id, parent, path) in &rows {
        let p = PathBuf::from(path);
        if !below.contains(parent) || p == Path::new("/") || NOT_FROM_HOST.iter().any(|n| p.starts_with(n)) {
            continue;
        }
        below.push(id);
        // A submount we cannot open (another user's FUSE, a dead NFS) is
        // left out: it is only visibility of the host, never a permission.
        if let Ok(fd) = open_path(&p, "host mount") {
            out.push((p, fd));
        }
    }
    Ok(out)
}

/// A host submount at its place in a root overlaid on the host's (as root,
/// outside a user namespace): an overlay of it too, read-only (its only
/// layers are it and an empty directory), so that, as in the rest of the
/// root, a unix socket on it is a file and not the host service behind it
/// (overlayfs's socket inodes are its own; a bind would share the host's).
/// Where the kernel will not overlay it (a file system overlayfs cannot
/// take as a layer), it is bound read-only instead.
pub(super) fn overlay_submount(root: BorrowedFd<'_>, path: &Path, fd: &OwnedFd, empty: &Path) -> Result<()> {
    let Some(target) = crate::fsroot::open_in_root(root, path, crate::fsroot::Create::No)? else {
        return Ok(());
    };
    let data = format!("lowerdir={}:{}", crate::fsroot::fd_path(fd), empty.display());
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let at = crate::fsroot::fd_path(&target);
    if nix::mount::mount(Some("overlay"), at.as_str(), Some("overlay"), flags, Some(data.as_str())).is_ok() {
        return Ok(());
    }
    mounts::bind_host_submount(root, path, fd, false)
}

/// Rootless `host:/`: the root is a directory on the scratch tmpfs; each
/// host top-level directory is overlaid with its own upper (so writes land in
/// the tmpfs, as with one overlay of `/`), or bound read-only when the kernel
/// refuses to overlay it (it has locked submounts) or the root is read-only;
/// symlinks are copied, files bound read-only.
pub(super) fn assemble(
    parts: &[(String, HostPart)],
    scratch: &Path,
    root: &Path,
    readonly: bool,
) -> Result<()> {
    let root_s = root.display().to_string();
    do_mount(Some(&root_s), &root_s, None, MsFlags::MS_BIND, None, "make the new root a mount point")?;
    let root_fd = File::open(root).map_err(|e| SetupError::io(format!("open new root {root_s}"), &e))?;
    for (name, part) in parts {
        let target = Path::new("/").join(name);
        match part {
            HostPart::Link(to) => std::os::unix::fs::symlink(to, root.join(name))
                .map_err(|e| SetupError::io(format!("copy the link {}", target.display()), &e))?,
            HostPart::File(fd) => mounts::bind_fd(root_fd.as_fd(), fd, &target, MsFlags::MS_RDONLY)?,
            HostPart::Dir(fd) => {
                let overlaid = !readonly && overlay_dir(fd, scratch, root, name).is_ok();
                if !overlaid {
                    mounts::bind_host_submount(root_fd.as_fd(), &target, fd, true)?;
                }
            }
        }
    }
    Ok(())
}

/// One host directory as an overlay with its own upper on the scratch tmpfs.
fn overlay_dir(lower: &OwnedFd, scratch: &Path, root: &Path, name: &str) -> Result<()> {
    let (upper, work, target) =
        (scratch.join("upper").join(name), scratch.join("work").join(name), root.join(name));
    for d in [&upper, &work, &target] {
        std::fs::create_dir_all(d).map_err(|e| SetupError::io(format!("create {}", d.display()), &e))?;
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        crate::fsroot::fd_path(lower),
        upper.display(),
        work.display()
    );
    let t = target.display().to_string();
    do_mount(
        Some("overlay"),
        &t,
        Some("overlay"),
        MsFlags::empty(),
        Some(&data),
        &format!("mount overlay on {t}"),
    )
}
