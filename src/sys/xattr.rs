//! Extended attributes: set on an open file or on a path without following
//! its last component, and read back (nix wraps none of them).

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// fsetxattr(2): set `name` to `value` on the open file `fd` (not an
/// `O_PATH` descriptor: the kernel refuses those with `EBADF`).
pub fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> Result<(), Errno> {
    // SAFETY: `name` is a NUL-terminated string and `value` a live slice
    // whose pointer and length are passed together; the kernel only reads
    // them during the call, and `fd` is open for the call's duration.
    let ret =
        unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    Errno::result(ret).map(drop)
}

/// lsetxattr(2): set `name` to `value` on `path`, not following `path`'s
/// last component when it is a symlink.
pub fn lsetxattr(path: &CStr, name: &CStr, value: &[u8]) -> Result<(), Errno> {
    // SAFETY: both strings are NUL-terminated and `value` is a live slice
    // passed with its length; the kernel only reads them during the call.
    let ret = unsafe { libc::lsetxattr(path.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    Errno::result(ret).map(drop)
}

/// lgetxattr(2): the value of `name` on `path` (its last component not
/// followed), or `ENODATA` when it has none.
#[allow(dead_code)] // the tests read attributes back; nothing else does yet
pub fn lgetxattr(path: &CStr, name: &CStr) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: both strings are NUL-terminated; the kernel writes at most
        // `buf.len()` bytes into `buf`, which stays alive and unaliased for
        // the call.
        let ret =
            unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        match Errno::result(ret) {
            Ok(n) => {
                buf.truncate(usize::try_from(n).unwrap_or(0));
                return Ok(buf);
            }
            Err(Errno::ERANGE) if buf.len() < 1 << 16 => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(e),
        }
    }
}
