//! Whole directory trees in the store: their size, and their removal
//! through descriptors, never following a symlink, however deep a hostile
//! layer nests them.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, fchmodat};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// Bytes of the files under `dir`, without following symlinks.
pub fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Remove a tree that may hold directories without write permission (a
/// layer's 0555 `/usr`, say), never following a symlink. Through
/// descriptors, one name at a time: a hostile layer nests deeper than a
/// path can name (4096 bytes of `a/a/…` in one entry, below the store's
/// own prefix), and a tree that cannot be removed would stay in `tmp/`
/// for good and stop every later `prune`.
pub fn remove_tree(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(m) if !m.is_dir() => return fs::remove_file(path),
        Ok(_) => {}
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let dir = nix::fcntl::open(parent, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
    Ok(remove_at(dir.as_fd(), name)?)
}

/// A directory being removed: its name in its parent, and its
/// subdirectories still to remove.
struct Frame {
    name: OsString,
    pending: Vec<OsString>,
}

/// Remove `name` in `dir`, depth first, holding one descriptor at a time
/// (a 2000-deep tree must not need 2000 open files) and climbing back by
/// `..` (only the store's owner writes here).
fn remove_at(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<()> {
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(e),
    }
    let mut cur = open_dir(dir, name)?;
    let mut stack = vec![Frame { name: name.to_owned(), pending: clear(&cur)? }];
    while let Some(frame) = stack.last_mut() {
        if let Some(sub) = frame.pending.pop() {
            let next = open_dir(cur.as_fd(), &sub)?;
            stack.push(Frame { name: sub, pending: clear(&next)? });
            cur = next;
            continue;
        }
        let done = stack.pop().map(|f| f.name).unwrap_or_default();
        if stack.is_empty() {
            drop(cur);
            return unlinkat(dir, done.as_os_str(), UnlinkatFlags::RemoveDir);
        }
        let parent =
            openat(&cur, "..", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
        unlinkat(&parent, done.as_os_str(), UnlinkatFlags::RemoveDir)?;
        cur = parent;
    }
    Ok(())
}

/// The directory `name` in `dir`, made listable and writable (a layer's
/// 0555 `/usr`), opened without following a symlink.
fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<OwnedFd> {
    fchmodat(dir, name, Mode::S_IRWXU, FchmodatFlags::FollowSymlink)?;
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Unlink everything in `dir` but its subdirectories; their names.
fn clear(dir: &OwnedFd) -> nix::Result<Vec<OsString>> {
    let again = openat(dir, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
    let mut names = Vec::new();
    for entry in nix::dir::Dir::from_fd(again)?.iter() {
        let entry = entry?;
        if !matches!(entry.file_name().to_bytes(), b"." | b"..") {
            names.push(OsStr::from_bytes(entry.file_name().to_bytes()).to_owned());
        }
    }
    let mut dirs = Vec::new();
    for name in names {
        match unlinkat(dir, name.as_os_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(Errno::EISDIR) => dirs.push(name),
            Err(e) => return Err(e),
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_a_tree_deeper_than_a_path_can_name() {
        // What a layer of one 4095-byte `a/a/…` entry leaves below the
        // store's prefix: more than PATH_MAX from the root.
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("doomed");
        fs::create_dir(&top).unwrap();
        let mut cur = nix::fcntl::open(&top, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        for _ in 0..2000 {
            nix::sys::stat::mkdirat(&cur, "aaa", Mode::from_bits_truncate(0o755)).unwrap();
            cur = openat(&cur, "aaa", OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        }
        fs::write(format!("/proc/self/fd/{}/f", std::os::fd::AsRawFd::as_raw_fd(&cur)), b"x").unwrap();
        nix::sys::stat::fchmod(&cur, Mode::from_bits_truncate(0o555)).unwrap();
        drop(cur);
        remove_tree(&top).unwrap();
        assert!(!top.exists());
    }
}
