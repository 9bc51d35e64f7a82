//! Executing one planned mount inside the new root. Targets are opened with
//! `resolve::open_in_root` and mounted through `/proc/self/fd/N`, so no
//! symlink inside the rootfs can move a mount onto the host.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sys::stat::{SFlag, fstat};
use nix::unistd::symlinkat;

use crate::error::{Result, SetupError};
use crate::fsroot::{Create, fd_path, open_in_root};
use crate::runtime::rootfs::Prepared;
use crate::runtime::rootfs::plan::{DEVICES, Device, Op};
use crate::sys;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// Flags a read-only remount must keep (the kernel refuses to drop locked
/// ones in a user namespace).
const KEEP: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV).union(MsFlags::MS_NOEXEC);

fn sys_mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    mount(source, target, fstype, flags, data)
}

pub fn apply(root: BorrowedFd<'_>, prep: &Prepared, op: &Op) -> Result<()> {
    match op {
        Op::Bind { source, target, recursive, flags } => {
            let src = prep.sources.get(source).expect("every bind source was opened in prepare");
            let rec = if *recursive { MsFlags::MS_REC } else { MsFlags::empty() };
            bind(root, src, target, rec, *flags)
        }
        Op::Mount { fstype, source, target, flags, data } => {
            let tgt = open_in_root(root, target, Create::Dir)?.expect("created");
            let data = (!data.is_empty()).then_some(data.as_str());
            sys_mount(Some(source), &fd_path(&tgt), Some(fstype), *flags, data)
                .map_err(|e| SetupError::sys(format!("mount {fstype} on {}", target.display()), e))
        }
        Op::DevNodes => dev_nodes(root, prep),
        Op::Device(d) => device(root, prep, d),
        Op::Mask { target } => mask(root, prep, target),
        Op::ReadOnly { target } => {
            let Some(fd) = open_in_root(root, target, Create::No)? else { return Ok(()) };
            let step = format!("make {} read-only", target.display());
            sys_mount(
                Some(fd_path(&fd).as_str()),
                &fd_path(&fd),
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .map_err(|e| SetupError::sys(step.clone(), e))?;
            remount(
                root,
                target,
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                MsFlags::MS_REC,
                &step,
            )
        }
    }
}

/// Bind `src` at `target` (created as a file or directory like the source),
/// then apply `flags` with a remount.
fn bind(root: BorrowedFd<'_>, src: &OwnedFd, target: &Path, rec: MsFlags, flags: MsFlags) -> Result<()> {
    let is_dir = fstat(src.as_fd())
        .map_or(true, |st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR);
    let tgt = open_in_root(root, target, if is_dir { Create::Dir } else { Create::File })?.expect("created");
    let step = format!("bind mount on {}", target.display());
    sys_mount(Some(fd_path(src).as_str()), &fd_path(&tgt), None, MsFlags::MS_BIND | rec, None)
        .map_err(|e| SetupError::sys(step.clone(), e))?;
    let wanted = flags & (MsFlags::MS_RDONLY | KEEP);
    if wanted.is_empty() { Ok(()) } else { remount(root, target, wanted, rec, &step) }
}

pub fn bind_fd(root: BorrowedFd<'_>, src: &OwnedFd, target: &Path, flags: MsFlags) -> Result<()> {
    bind(root, src, target, MsFlags::empty(), flags)
}

/// Re-open `target` (now the new mount) and set its per-mount flags; with
/// `MS_REC`, on every mount below it as well (a recursive bind brings the
/// source's submounts, which must not stay writable under a read-only
/// bind: the host's cgroup trees under /sys, say).
fn remount(root: BorrowedFd<'_>, target: &Path, flags: MsFlags, rec: MsFlags, step: &str) -> Result<()> {
    let fd = open_in_root(root, target, Create::No)?.expect("just mounted");
    if rec.contains(MsFlags::MS_REC) {
        let attrs = [
            (MsFlags::MS_RDONLY, sys::mount::MOUNT_ATTR_RDONLY),
            (MsFlags::MS_NOSUID, sys::mount::MOUNT_ATTR_NOSUID),
            (MsFlags::MS_NODEV, sys::mount::MOUNT_ATTR_NODEV),
            (MsFlags::MS_NOEXEC, sys::mount::MOUNT_ATTR_NOEXEC),
        ];
        let set = attrs.iter().filter(|(f, _)| flags.contains(*f)).fold(0, |acc, (_, a)| acc | a);
        return sys::mount::set_mount_attrs_recursive(fd.as_fd(), set)
            .map_err(|e| SetupError::sys(format!("{step}: mount_setattr"), e));
    }
    sys_mount(None, &fd_path(&fd), None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags, None)
        .map_err(|e| SetupError::sys(format!("{step}: remount"), e))
}

/// A part of the host root (`host:/`) bound read-only at its place: a
/// submount (only where the root has its mount point), or with `create` a
/// top-level directory of a root assembled without root privileges.
pub fn bind_host_submount(root: BorrowedFd<'_>, path: &Path, src: &OwnedFd, create: bool) -> Result<()> {
    if !create && open_in_root(root, path, Create::No)?.is_none() {
        return Ok(());
    }
    bind(root, src, path, MsFlags::MS_REC, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV)
}

/// Device nodes bound from the host (works without `CAP_MKNOD`, and in a user
/// namespace), and the standard links. No remount with nosuid and noexec, as
/// runc and crun do none: they mean nothing on a device node (only regular
/// files are executed or setuid, and an executable mapping of /dev/zero is
/// what anonymous memory gives anyway), and each remount is a mount.
fn dev_nodes(root: BorrowedFd<'_>, prep: &Prepared) -> Result<()> {
    for name in DEVICES {
        let target = Path::new("/dev").join(name);
        let src = &prep.devices[name];
        bind(root, src, &target, MsFlags::empty(), MsFlags::empty())?;
    }
    let dev = open_in_root(root, Path::new("/dev"), Create::No)?.expect("/dev was just mounted");
    let dev = nix::fcntl::openat(
        dev.as_fd(),
        ".",
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| SetupError::sys("open /dev", e))?;
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        match symlinkat(to, dev.as_fd(), link) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(SetupError::sys(format!("symlink /dev/{link}"), e)),
        }
    }
    Ok(())
}

/// A `linux.devices` node: mknod where we may; in a user namespace (EPERM)
/// the host's node at the same path, when it is the same device.
fn device(root: BorrowedFd<'_>, prep: &Prepared, d: &Device) -> Result<()> {
    let step = || format!("make device {}", d.path.display());
    let parent = d.path.parent().unwrap_or(Path::new("/"));
    let name = d.path.file_name().ok_or_else(|| SetupError::new(step()).detail("no file name"))?;
    let dir = open_in_root(root, parent, Create::Dir)?.expect("created");
    let dir = nix::fcntl::openat(dir.as_fd(), ".", OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| SetupError::sys(step(), e))?;
    let dev = nix::sys::stat::makedev(d.major, d.minor);
    let _ = nix::unistd::unlinkat(&dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
    // The mode as given, not as our umask would cut it (no chmod after:
    // the name could be swapped for a symlink in between).
    let umask = nix::sys::stat::umask(Mode::empty());
    let made = nix::sys::stat::mknodat(&dir, name, d.kind, Mode::from_bits_truncate(d.mode), dev);
    nix::sys::stat::umask(umask);
    match made {
        Ok(()) => {
            let owner = (Some(d.uid.into()), Some(d.gid.into()));
            nix::unistd::fchownat(&dir, name, owner.0, owner.1, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| SetupError::sys(format!("{}: chown", step()), e))?;
            own_mount(root, &d.path).map_err(|e| SetupError::sys(format!("{}: bind it on itself", step()), e))
        }
        Err(nix::errno::Errno::EPERM) => {
            let host = prep.host_devices.get(&d.path).filter(|fd| {
                fstat(fd.as_fd()).is_ok_and(|st| {
                    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == d.kind && st.st_rdev == dev
                })
            });
            let Some(host) = host else {
                return Err(SetupError::sys(step(), nix::errno::Errno::EPERM).fix(
                    "in a user namespace a device can only be the host's own node at the same path: the host has none matching",
                ));
            };
            bind(root, host, &d.path, MsFlags::empty(), MsFlags::empty())
        }
        Err(e) => Err(SetupError::sys(step(), e)),
    }
}

/// A device node made in the sandbox's /dev, which is nodev (see
/// `plan::ops`), becomes a mount of its own, without nodev.
fn own_mount(root: BorrowedFd<'_>, path: &Path) -> nix::Result<()> {
    let node = open_in_root(root, path, Create::No).ok().flatten().ok_or(nix::errno::Errno::ENOENT)?;
    sys_mount(Some(fd_path(&node).as_str()), &fd_path(&node), None, MsFlags::MS_BIND, None)?;
    let node = open_in_root(root, path, Create::No).ok().flatten().ok_or(nix::errno::Errno::ENOENT)?;
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    sys_mount(None, &fd_path(&node), None, flags, None)
}

/// Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory.
fn mask(root: BorrowedFd<'_>, prep: &Prepared, target: &Path) -> Result<()> {
    let Some(fd) = open_in_root(root, target, Create::No)? else { return Ok(()) };
    let is_dir = fstat(fd.as_fd())
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR);
    let step = format!("mask {}", target.display());
    if is_dir {
        sys_mount(
            Some("tmpfs"),
            &fd_path(&fd),
            Some("tmpfs"),
            MsFlags::MS_RDONLY | KEEP,
            Some("size=0,mode=000"),
        )
    } else {
        sys_mount(Some(fd_path(&prep.devices["null"]).as_str()), &fd_path(&fd), None, MsFlags::MS_BIND, None)
    }
    .map_err(|e| SetupError::sys(step, e))
}
