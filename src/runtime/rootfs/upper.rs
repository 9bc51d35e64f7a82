//! A persistent upper directory (`writable = { dir = ... }`): `upper` and
//! `work` inside it, made if missing (overlay wants both on one file
//! system). The launcher opened and locked the directory, but in its own
//! mount namespace, whose mounts overlayfs will not take: the child opens
//! it again (or is handed an id-mapped copy of it) and checks it is the
//! same directory. Neither it nor `upper` and `work` may be a symlink:
//! their contents come from wherever the profile lives, and a link would
//! aim the sandbox's writes at any directory of the host.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::{FileStat, Mode, fstat, mkdirat};

use crate::error::{Result, SetupError};

/// Open the directory at `path` again in this mount namespace.
pub fn reopen(path: &str) -> Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    open(Path::new(path), flags, Mode::empty())
        .map_err(|e| SetupError::sys(format!("open the upper directory {path}"), e))
}

/// `upper` and `work` in `dir`, which must be the directory `locked` is.
pub fn upper_and_work(locked: BorrowedFd<'_>, dir: BorrowedFd<'_>, path: &str) -> Result<(OwnedFd, OwnedFd)> {
    let same = |a: &FileStat, b: &FileStat| (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino);
    match (fstat(dir), fstat(locked)) {
        (Ok(a), Ok(b)) if same(&a, &b) => {}
        _ => {
            return Err(SetupError::new(format!("open the upper directory {path}"))
                .detail("it was replaced while the sandbox started"));
        }
    }
    let open = |name: &str| {
        match mkdirat(dir, name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(SetupError::sys(format!("create {path}/{name}"), e)),
        }
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH);
        openat2(dir.as_fd(), name, how).map_err(|e| {
            let err = SetupError::sys(format!("open {path}/{name}"), e);
            match e {
                Errno::ELOOP => err
                    .detail("it is a symlink")
                    .fix(format!("remove {path}/{name}: the sandbox makes it as a directory")),
                _ => err,
            }
        })
    };
    Ok((open("upper")?, open("work")?))
}
