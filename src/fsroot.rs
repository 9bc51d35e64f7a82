//! Paths inside the new root, opened without ever leaving it: `openat2`
//! with `RESOLVE_IN_ROOT`, so a symlink in a hostile rootfs (`/etc -> /`,
//! `/work -> /host/etc`) resolves inside the sandbox's root, never onto the
//! host. Mounts then go onto `/proc/self/fd/N` of what was opened.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, mkdirat};

use crate::error::{Result, SetupError};

/// What to create when the path is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    No,
    Dir,
    File,
}

fn how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// Open `path` (absolute, inside the sandbox) under `root` as an `O_PATH` fd,
/// creating it (and its parents) when asked. `Ok(None)`: missing, not created.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, create: Create) -> Result<Option<OwnedFd>> {
    let rel = relative(path);
    match openat2(root, &rel, how(OFlag::O_PATH)) {
        Ok(fd) => return Ok(Some(fd)),
        Err(Errno::ENOENT) if create != Create::No => {}
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(SetupError::sys(format!("open {} in the sandbox root", path.display()), e)),
    }
    let mut parent = openat2(root, ".", how(OFlag::O_PATH | OFlag::O_DIRECTORY))
        .map_err(|e| SetupError::sys("open the sandbox root", e))?;
    let parts: Vec<&std::ffi::OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p),
            _ => None,
        })
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let made = if last && create == Create::File {
            openat2(
                parent.as_fd(),
                *part,
                how(OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY).mode(Mode::from_bits_truncate(0o644)),
            )
            .map(drop)
        } else {
            mkdirat(parent.as_fd(), *part, Mode::from_bits_truncate(0o755))
        };
        match made {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                let at: std::path::PathBuf = parts[..=i].iter().collect();
                return Err(SetupError::sys(format!("create /{} in the sandbox root", at.display()), e).fix(
                    "mount targets are created in the writable layer; a read-only layer needs them to exist",
                ));
            }
        }
        let so_far: std::path::PathBuf = parts[..=i].iter().collect();
        let flags = if last { OFlag::O_PATH } else { OFlag::O_PATH | OFlag::O_DIRECTORY };
        parent = openat2(root, &so_far, how(flags))
            .map_err(|e| SetupError::sys(format!("open /{} in the sandbox root", so_far.display()), e))?;
    }
    Ok(Some(parent))
}

/// `/proc/self/fd/N`: a path the kernel resolves to exactly that open file.
pub fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// `path` without its leading `/` (and without `.`/`..`, which validation refused).
fn relative(path: &Path) -> std::path::PathBuf {
    let rel: std::path::PathBuf = path.components().filter(|c| matches!(c, Component::Normal(_))).collect();
    if rel.as_os_str().is_empty() { ".".into() } else { rel }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path().join("root");
        std::fs::create_dir_all(root_path.join("etc")).unwrap();
        // A hostile link that points at the host's /etc.
        std::os::unix::fs::symlink("/etc", root_path.join("evil")).unwrap();
        std::os::unix::fs::symlink("../../../../../", root_path.join("up")).unwrap();
        let root = std::fs::File::open(&root_path).unwrap();
        let fd = open_in_root(root.as_fd(), Path::new("/evil/target"), Create::Dir).unwrap().unwrap();
        let seen = std::fs::read_link(fd_path(&fd)).unwrap();
        assert_eq!(seen, root_path.join("etc/target"), "created inside the root, not on the host");
        assert!(!Path::new("/etc/target").exists());
        let fd = open_in_root(root.as_fd(), Path::new("/up/etc/x"), Create::File).unwrap().unwrap();
        assert_eq!(std::fs::read_link(fd_path(&fd)).unwrap(), root_path.join("etc/x"));
        assert!(open_in_root(root.as_fd(), Path::new("/missing"), Create::No).unwrap().is_none());
    }
}
