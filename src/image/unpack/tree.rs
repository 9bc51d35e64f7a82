//! The destination directory: parents opened beneath it without following
//! any symlink, what an entry replaces removed through descriptors, and
//! the directories' final modes applied at the end.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2, readlinkat};
use nix::sys::stat::{Mode, fchmod, futimens, mkdirat};
use nix::sys::time::TimeSpec;
use nix::unistd::{UnlinkatFlags, unlinkat};

use super::path::show;
use crate::error::{Result, SetupError};

/// The entry being unpacked, for errors.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub what: &'a str,
    pub entry: &'a [u8],
}

impl At<'_> {
    /// A failed system call on this entry.
    pub(super) fn sys(&self, doing: &str, e: Errno) -> SetupError {
        SetupError::sys(format!("unpack {}: {doing} `{}`", self.what, show(self.entry)), e)
    }

    /// An entry refused: `why` completes "entry `x` …".
    pub(super) fn refuse(&self, why: &str) -> SetupError {
        SetupError::new(format!("unpack {}", self.what))
            .detail(format!("entry `{}` {why}", show(self.entry)))
            .fix("the image is damaged or hostile; nothing of this layer is used")
    }
}

/// A directory's final mode and time, applied after every entry.
pub(super) struct DirMeta {
    pub path: Vec<u8>,
    pub mode: u32,
    pub mtime: Option<TimeSpec>,
}

pub(super) struct Tree {
    root: OwnedFd,
    pub dirs: Vec<DirMeta>,
}

/// openat2 that never leaves the directory it starts from and follows no
/// symlink at all (the layer's own symlinks are for the container, not us).
pub(super) fn beneath(dir: BorrowedFd<'_>, path: &[u8], flags: OFlag) -> nix::Result<OwnedFd> {
    let path: &[u8] = if path.is_empty() { b"." } else { path };
    let how = OpenHow::new().flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW).resolve(
        ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    );
    openat2(dir, path, how)
}

impl Tree {
    pub(super) fn open(dest: &Path, what: &str) -> Result<Tree> {
        let step = || format!("unpack {what} into {}", dest.display());
        let root =
            nix::fcntl::open(dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|e| SetupError::sys(step(), e))?;
        let mut dir = nix::dir::Dir::from_fd(root.try_clone().map_err(|e| SetupError::io(step(), &e))?)
            .map_err(|e| SetupError::sys(step(), e))?;
        let busy = dir
            .iter()
            .filter_map(std::result::Result::ok)
            .any(|e| !matches!(e.file_name().to_bytes(), b"." | b".."));
        if busy {
            return Err(SetupError::new(step()).detail("the directory is not empty"));
        }
        Ok(Tree { root, dirs: Vec::new() })
    }

    pub(super) fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// The directory `path` (cleaned; empty: the root) as an `O_PATH` fd,
    /// created with its missing ancestors (0700 for now, 0755 at the end,
    /// as tar does for directories it was not given).
    pub(super) fn dir(&mut self, at: &At<'_>, path: &[u8]) -> Result<OwnedFd> {
        match beneath(self.root.as_fd(), path, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(fd) => Ok(fd),
            Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR) => {
                self.walk(at, path, true)?.ok_or_else(|| at.sys("create the directory of", Errno::ENOENT))
            }
            Err(e) => Err(at.sys("open the directory of", e)),
        }
    }

    /// The directory `path` if it exists; `None` when it does not.
    pub(super) fn find(&mut self, at: &At<'_>, path: &[u8]) -> Result<Option<OwnedFd>> {
        match beneath(self.root.as_fd(), path, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR) => self.walk(at, path, false),
            Err(e) => Err(at.sys("open the directory of", e)),
        }
    }

    /// Component by component, to create what is missing and to name the
    /// symlink or file that stands in the way.
    fn walk(&mut self, at: &At<'_>, path: &[u8], create: bool) -> Result<Option<OwnedFd>> {
        let mut cur = beneath(self.root.as_fd(), b"", OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(|e| at.sys("open the layer's directory for", e))?;
        let mut end = 0;
        for part in path.split(|&b| b == b'/') {
            end += part.len();
            let so_far = &path[..end];
            end += 1;
            let next = match beneath(cur.as_fd(), part, OFlag::O_PATH | OFlag::O_DIRECTORY) {
                Err(Errno::ENOENT) if create => {
                    match mkdirat(cur.as_fd(), part, Mode::from_bits_truncate(0o700)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(at.sys("create a directory for", e)),
                    }
                    self.dirs.push(DirMeta { path: so_far.to_vec(), mode: 0o755, mtime: None });
                    beneath(cur.as_fd(), part, OFlag::O_PATH | OFlag::O_DIRECTORY)
                }
                other => other,
            };
            cur = match next {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => return Ok(None),
                Err(Errno::ELOOP | Errno::ENOTDIR) => {
                    // O_NOFOLLOW opens a symlink itself, and O_DIRECTORY
                    // then says ENOTDIR: ask what it is.
                    let why = match readlinkat(cur.as_fd(), part) {
                        Ok(target) => format!(
                            "goes through the symlink `{}` (→ {})",
                            show(so_far),
                            show(target.as_encoded_bytes())
                        ),
                        Err(_) => format!("is beneath `{}`, which is not a directory", show(so_far)),
                    };
                    return Err(at.refuse(&why));
                }
                Err(e) => return Err(at.sys("open the directory of", e)),
            };
        }
        Ok(Some(cur))
    }

    /// Apply the directories' final modes and times, the last entry for a
    /// path winning; a directory the layer later replaced is passed over.
    pub(super) fn finish(&mut self, what: &str) -> Result<()> {
        let mut seen = HashSet::new();
        for meta in self.dirs.iter().rev() {
            if !seen.insert(meta.path.as_slice()) {
                continue;
            }
            let fd = match beneath(self.root.as_fd(), &meta.path, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
                Ok(fd) => fd,
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                Err(e) => return Err(At { what, entry: &meta.path }.sys("open the directory", e)),
            };
            let at = At { what, entry: &meta.path };
            fchmod(&fd, Mode::from_bits_truncate(meta.mode)).map_err(|e| at.sys("set the mode of", e))?;
            if let Some(t) = meta.mtime {
                futimens(&fd, &t, &t).map_err(|e| at.sys("set the time of", e))?;
            }
        }
        Ok(())
    }
}

/// Remove `name` in `dir`, whatever it is; a directory with everything in
/// it, through descriptors, following no symlink.
pub(super) fn remove(dir: BorrowedFd<'_>, name: &[u8]) -> nix::Result<()> {
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(e),
    }
    let sub = beneath(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    let mut list = nix::dir::Dir::from_fd(sub)?;
    let mut names: Vec<CString> = Vec::new();
    for entry in list.iter() {
        let name = entry?.file_name().to_owned();
        if !matches!(name.to_bytes(), b"." | b"..") {
            names.push(name);
        }
    }
    for name in &names {
        remove(list.as_fd(), name.to_bytes())?;
    }
    unlinkat(dir, name, UnlinkatFlags::RemoveDir)
}
