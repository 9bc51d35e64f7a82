//! The new mount API: recursive attributes, detached trees, id mapping.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
#[derive(Default)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Mount attributes (`MOUNT_ATTR_*`).
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// Set `attrs` on the mount at `fd` and on every mount below it
/// (`mount_setattr` with `AT_RECURSIVE`): a read-only bind of a tree is then
/// read-only in each of its submounts too, which a remount of its top
/// mount alone does not do.
pub fn set_mount_attrs_recursive(fd: BorrowedFd<'_>, attrs: u64) -> Result<(), Errno> {
    let attr = MountAttr { attr_set: attrs, ..MountAttr::default() };
    mount_setattr(fd, libc::AT_EMPTY_PATH | libc::AT_RECURSIVE, &attr)
}

/// `mount_setattr(2)` on the mount at `fd` itself (an empty path).
fn mount_setattr(fd: BorrowedFd<'_>, flags: libc::c_int, attr: &MountAttr) -> Result<(), Errno> {
    // SAFETY: the path is an empty C string, `attr` a valid mount_attr of
    // the size we pass, borrowed across the call; `fd` is open (and so is
    // the user namespace descriptor an id-mapping attr names).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            std::ptr::from_ref(attr),
            size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

const OPEN_TREE_CLONE: u32 = 1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// A detached copy of the mount tree at `fd` (`open_tree(OPEN_TREE_CLONE)`),
/// with its submounts when `recursive`.
pub fn clone_tree(fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: the path is an empty C string; `fd` is open for the call.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    let raw = Errno::result(ret)?;
    // SAFETY: on success open_tree returns a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(RawFd::try_from(raw).expect("descriptors fit in an int")) })
}

/// Make the detached mount tree at `fd` show its files through the id
/// mapping of the user namespace `userns` (`MOUNT_ATTR_IDMAP`).
pub fn idmap_tree(fd: BorrowedFd<'_>, userns: BorrowedFd<'_>, recursive: bool) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: u64::try_from(userns.as_raw_fd()).expect("open descriptors are not negative"),
        ..MountAttr::default()
    };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    mount_setattr(fd, flags, &attr)
}

/// Attach the detached mount tree `tree` on the directory `target`
/// (`move_mount`; both are descriptors, so no path is looked up again).
pub fn attach_tree(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
    let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both paths are empty C strings; both descriptors are open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    };
    Errno::result(ret).map(drop)
}
