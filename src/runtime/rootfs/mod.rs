//! The new root: host paths opened first (later mounts may shadow them),
//! a scratch tmpfs for the upper layer, the overlay of the layers, then the
//! planned mounts, then `pivot_root`. Everything happens in the sandbox's own
//! mount namespace, made private first, so nothing reaches the host and
//! nothing is left to clean up.

pub mod hostroot;
pub mod idmapped;
pub mod mounts;
pub mod plan;
pub mod upper;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::Mode;
use nix::sys::statvfs::FsFlags;
use nix::unistd::{chdir, pivot_root};

use crate::error::{Result, SetupError};
use crate::runtime::rootfs::idmapped::{UPPER_KEY, layer_key, source_key};
use crate::runtime::rootfs::plan::{DEVICES, EtcText, HostRoot, Op, RootPlan};
use crate::spec::extension::{Extension, LayerSpec, WritableSpec};
use crate::sys;

/// Host directories tried, in order, as the place for the scratch tmpfs.
/// It is mounted in the sandbox's private namespace only, and on a place
/// no `host:/` root shows (the sandbox gets a /dev of its own): mounted on
/// /tmp, it came along when the host's /tmp was bound into the root.
const SCRATCH_CANDIDATES: &[&str] = &["/dev", "/tmp"];

/// Host objects opened before any mount, and the scratch tmpfs.
pub struct Prepared {
    /// Lower layers, top first: `None` is the host root.
    layers: Vec<Option<OwnedFd>>,
    /// The host root's submounts (path, fd), when `host:/` is a layer of an
    /// overlay root (root without a user namespace).
    submounts: Vec<(PathBuf, OwnedFd)>,
    /// Bind sources by path.
    pub(super) sources: BTreeMap<PathBuf, OwnedFd>,
    /// The host's nodes for `linux.devices`, where it has them.
    pub(super) host_devices: BTreeMap<PathBuf, OwnedFd>,
    /// Host device nodes by name.
    pub(super) devices: BTreeMap<&'static str, OwnedFd>,
    /// A persistent upper directory's `upper` and `work`.
    persistent: Option<(OwnedFd, OwnedFd)>,
    /// Files written into /etc (resolv.conf, hosts): name, content.
    etc_files: Vec<(&'static str, String)>,
    /// `host:/` in a user namespace: the host root's top-level entries,
    /// assembled one by one (see `hostroot::assemble`).
    host_parts: Vec<(String, hostroot::HostPart)>,
    /// The scratch tmpfs: the upper layer, the new root, generated files.
    scratch: PathBuf,
}

/// A layer directory, which the caller must be able to read: an `O_PATH`
/// open alone would succeed and the sandbox would then find it empty.
fn open_layer(path: &Path) -> Result<OwnedFd> {
    use nix::unistd::{AccessFlags, access};
    access(path, AccessFlags::R_OK | AccessFlags::X_OK).map_err(|e| {
        SetupError::sys(format!("read layer {}", path.display()), e)
            .fix("the caller cannot read this layer: make it readable, or use a layer the caller owns")
    })?;
    open_path(path, "layer")
}

pub(super) fn open_path(path: &Path, what: &str) -> Result<OwnedFd> {
    open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| SetupError::sys(format!("open {what} {}", path.display()), e))
}

/// A host directory: opened here, or an id-mapped copy from the launcher
/// (see `idmapped`), attached once the scratch tmpfs exists.
enum Found {
    Opened(OwnedFd),
    Mapped(OwnedFd),
}

/// The launcher's id-mapped trees, by key, taken as they are asked for.
struct Mapped(BTreeMap<String, OwnedFd>);

impl Mapped {
    fn find(&mut self, key: &str, open: impl FnOnce() -> Result<OwnedFd>) -> Result<Found> {
        Ok(match self.0.remove(key) {
            Some(tree) => Found::Mapped(tree),
            None => Found::Opened(open()?),
        })
    }
}

/// Open everything the root needs from the host, while host paths still
/// mean what they say; then make the mount namespace private, mount the
/// scratch tmpfs (which may shadow some of those paths) and attach the
/// launcher's id-mapped trees on it. `idmapped`: what the launcher sent.
pub fn prepare(
    plan: &RootPlan,
    ext: &Extension,
    upper_dir: Option<BorrowedFd<'_>>,
    idmapped: Vec<(String, OwnedFd)>,
) -> Result<Prepared> {
    let mut mapped = Mapped(idmapped.into_iter().collect());
    let mut layers = Vec::new();
    for layer in &plan.layers {
        layers.push(match layer {
            LayerSpec::HostRoot => None,
            LayerSpec::Dir(p) => Some(mapped.find(&layer_key(p), || open_layer(Path::new(p)))?),
        });
    }
    let submounts = if plan.host_root == HostRoot::Overlaid { hostroot::submounts()? } else { Vec::new() };
    let host_parts = if plan.host_root == HostRoot::ByParts { hostroot::parts()? } else { Vec::new() };
    let mut sources = Vec::new();
    for (source, _) in plan.sources() {
        let found = mapped.find(&source_key(source), || open_path(source, "bind source"))?;
        sources.push((source.to_path_buf(), found));
    }
    let host_devices = host_devices(plan);
    let devices = DEVICES
        .iter()
        .map(|name| Ok((*name, open_path(&Path::new("/dev").join(name), "device")?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    let upper = match (&ext.writable, upper_dir) {
        (WritableSpec::Dir { path }, Some(locked)) => {
            Some((locked, path, mapped.find(UPPER_KEY, || upper::reopen(path))?))
        }
        _ => None,
    };
    let etc_files = etc_files(&plan.etc)?;
    let scratch = scratch(ext)?;
    let mut attach = Attacher { scratch: &scratch, made: 0 };
    let layers = layers.into_iter().map(|l| l.map(|f| attach.ready(f)).transpose()).collect::<Result<_>>()?;
    let sources = sources.into_iter().map(|(p, f)| Ok((p, attach.ready(f)?))).collect::<Result<_>>()?;
    let persistent = match upper {
        Some((locked, path, found)) => {
            Some(upper::upper_and_work(locked, attach.ready(found)?.as_fd(), path)?)
        }
        None => None,
    };
    Ok(Prepared {
        layers,
        submounts,
        sources,
        host_devices,
        devices,
        persistent,
        etc_files,
        host_parts,
        scratch,
    })
}

/// Attaches the id-mapped trees on the scratch tmpfs, each at a place of its own.
struct Attacher<'a> {
    scratch: &'a Path,
    made: usize,
}

impl Attacher<'_> {
    fn ready(&mut self, found: Found) -> Result<OwnedFd> {
        match found {
            Found::Opened(fd) => Ok(fd),
            Found::Mapped(tree) => {
                self.made += 1;
                attach(&tree, &self.scratch.join(format!("mnt/{}", self.made)))
            }
        }
    }
}

/// Attach a detached tree at `at` (made here: a directory, or a file for a
/// tree whose root is a file) and open its root.
fn attach(tree: &OwnedFd, at: &Path) -> Result<OwnedFd> {
    use nix::sys::stat::SFlag;
    let is_dir = nix::sys::stat::fstat(tree.as_fd())
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR);
    let made = if is_dir { std::fs::create_dir_all(at) } else { std::fs::File::create(at).map(drop) };
    made.map_err(|e| SetupError::io(format!("create {}", at.display()), &e))?;
    let point = open_path(at, "mount point")?;
    sys::mount::attach_tree(tree.as_fd(), point.as_fd())
        .map_err(|e| SetupError::sys(format!("attach an id-mapped mount on {}", at.display()), e))?;
    open_path(at, "id-mapped mount")
}

/// Make the mount namespace private and mount the scratch tmpfs on the
/// first of [`SCRATCH_CANDIDATES`] this host has, with its directories.
fn scratch(ext: &Extension) -> Result<PathBuf> {
    do_mount(
        None,
        "/",
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
        "make mounts private (mount --make-rprivate /)",
    )?;
    let scratch = SCRATCH_CANDIDATES.iter().map(Path::new).find(|p| p.is_dir()).ok_or_else(|| {
        SetupError::new("find a directory for the scratch tmpfs")
            .detail(format!("none of {SCRATCH_CANDIDATES:?} exists on the host"))
    })?;
    let s = scratch.display().to_string();
    do_mount(
        Some("sandbox"),
        &s,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(&tmpfs_data(ext)),
        &format!("mount scratch tmpfs on {s}"),
    )?;
    for d in ["root", "upper", "work", "etc", "mnt", "empty"] {
        std::fs::create_dir(scratch.join(d)).map_err(|e| SetupError::io(format!("create {s}/{d}"), &e))?;
    }
    Ok(scratch.to_path_buf())
}

/// The generated /etc files' contents, host copies read now.
fn etc_files(etc: &[(&'static str, EtcText)]) -> Result<Vec<(&'static str, String)>> {
    etc.iter()
        .map(|(name, text)| match text {
            EtcText::Text(text) => Ok((*name, text.clone())),
            EtcText::HostFile(path) => std::fs::read_to_string(path)
                .map(|text| (*name, text))
                .map_err(|e| SetupError::io(format!("read {path} for the sandbox's /etc/{name}"), &e)),
        })
        .collect()
}

pub(super) fn do_mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    step: &str,
) -> Result<()> {
    mount(source, target, fstype, flags, data).map_err(|e| SetupError::sys(step.to_owned(), e))
}

/// Build the root and pivot into it. `rootless`: overlay needs `userxattr`.
/// `may_remount`: the sandbox keeps `CAP_SYS_ADMIN`, so it could make its
/// root writable again (a read-only bind of the layer would then write
/// through to the host; an overlay writes to its tmpfs upper).
pub fn build(
    prep: &Prepared,
    plan: &RootPlan,
    ext: &Extension,
    cwd: &Path,
    rootless: bool,
    may_remount: bool,
) -> Result<()> {
    let root = prep.scratch.join("root");
    let root_s = root.display().to_string();
    let layer = if may_remount { None } else { plain_layer(prep, plan, ext, cwd)? };
    let layer_only = layer.is_some_and(|(layer, kept)| bind_readonly(layer, &root_s, kept));
    if ext.writable == WritableSpec::InPlace {
        in_place(prep, &root_s)?;
    } else if !layer_only {
        base(prep, ext, &root, rootless)?;
    }
    let root_fd = File::open(&root).map_err(|e| SetupError::io(format!("open new root {root_s}"), &e))?;
    populate(root_fd.as_fd(), prep, &plan.ops)?;
    // The working directory exists before the root may turn read-only.
    crate::fsroot::open_in_root(root_fd.as_fd(), cwd, crate::fsroot::Create::Dir)?;
    if ext.writable == WritableSpec::Readonly && !layer_only {
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        do_mount(None, &root_s, None, flags, None, "remount the root read-only")?;
    }
    drop(root_fd);
    pivot(&root)
}

/// The root's base on `root`, when it is not a plain layer: the overlay of
/// the layers, or `host:/` assembled from its parts.
fn base(prep: &Prepared, ext: &Extension, root: &Path, rootless: bool) -> Result<()> {
    if prep.host_parts.is_empty() {
        overlay(prep, &prep.scratch, &root.display().to_string(), rootless)
    } else {
        let readonly = ext.writable == WritableSpec::Readonly;
        hostroot::assemble(&prep.host_parts, &prep.scratch, root, readonly)
    }
}

/// `linux.devices`' host nodes at the same paths, for a user namespace
/// where mknod is refused (checked against the spec when bound).
fn host_devices(plan: &RootPlan) -> BTreeMap<PathBuf, OwnedFd> {
    plan.ops
        .iter()
        .filter_map(|op| if let Op::Device(d) = op { Some(&d.path) } else { None })
        .filter_map(|p| Some((p.clone(), open_path(p, "device").ok()?)))
        .collect()
}

/// The single layer itself as the root, writable (`WritableSpec::InPlace`).
fn in_place(prep: &Prepared, root: &str) -> Result<()> {
    let [Some(layer)] = prep.layers.as_slice() else {
        return Err(
            SetupError::new("mount the root in place").detail("an in-place root is one directory layer")
        );
    };
    let source = crate::fsroot::fd_path(layer);
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    do_mount(Some(&source), root, None, flags, None, &format!("bind the root file system on {root}"))?;
    // nodev, as an overlay root is: an image's device nodes open nothing.
    let fd = open_path(Path::new(root), "root")?;
    crate::sys::mount::set_mount_attrs_recursive(fd.as_fd(), crate::sys::mount::MOUNT_ATTR_NODEV)
        .map_err(|e| SetupError::sys(format!("make {root} nodev (mount_setattr)"), e))
}

/// What is mounted inside the root: `host:/`'s submounts, the planned
/// mounts in order, then the generated /etc files.
fn populate(root: BorrowedFd<'_>, prep: &Prepared, ops: &[Op]) -> Result<()> {
    for (path, fd) in &prep.submounts {
        hostroot::overlay_submount(root, path, fd, &prep.scratch.join("empty"))?;
    }
    for op in ops {
        mounts::apply(root, prep, op)?;
    }
    for (name, content) in &prep.etc_files {
        let file = prep.scratch.join("etc").join(name);
        std::fs::write(&file, content)
            .map_err(|e| SetupError::io(format!("write {}", file.display()), &e))?;
        let src = open_path(&file, "generated file")?;
        let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        mounts::bind_fd(root, &src, &Path::new("/etc").join(name), flags)?;
    }
    Ok(())
}

/// Bind `layer` on `root` and make it read-only at once (nothing may write
/// into the host's directory), nodev as an overlay in a user namespace is.
/// False, with nothing left mounted, where the kernel refuses: a layer
/// with mounts below it in a user namespace (locked), a strictatime mount.
fn bind_readonly(layer: &OwnedFd, root: &str, kept: MsFlags) -> bool {
    let source = crate::fsroot::fd_path(layer);
    if mount(Some(source.as_str()), root, None::<&str>, MsFlags::MS_BIND, None::<&str>).is_err() {
        return false;
    }
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_NODEV | kept;
    if mount(None::<&str>, root, None::<&str>, flags, None::<&str>).is_err() {
        let _ = umount2(root, MntFlags::MNT_DETACH);
        return false;
    }
    true
}

/// A read-only root of one directory layer needs no overlay: a read-only
/// bind of the directory is the same root, for less work (no upper, no
/// overlay lookups on every path). Only when every mount point, the working
/// directory and the /etc files already exist in the layer (or lie inside
/// a file system mounted before them), since nothing may be created in it;
/// and not from a noexec mount (an overlay's root is executable). Returns
/// the layer and the flags of its mount that a remount must keep (in a
/// user namespace the kernel refuses to drop them).
fn plain_layer<'a>(
    prep: &'a Prepared,
    plan: &RootPlan,
    ext: &Extension,
    cwd: &Path,
) -> Result<Option<(&'a OwnedFd, MsFlags)>> {
    let [Some(layer)] = prep.layers.as_slice() else { return Ok(None) };
    if ext.writable != WritableSpec::Readonly || prep.persistent.is_some() || !prep.host_parts.is_empty() {
        return Ok(None);
    }
    let Ok(st) = nix::sys::statvfs::fstatvfs(layer) else { return Ok(None) };
    let has = |f: FsFlags| st.flags().contains(f);
    if has(FsFlags::ST_NOEXEC) {
        return Ok(None);
    }
    let mut kept = MsFlags::empty();
    for (f, m) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if has(f) {
            kept |= m;
        }
    }
    let mut mounted: Vec<&Path> = Vec::new();
    let etc: Vec<PathBuf> = prep.etc_files.iter().map(|(name, _)| Path::new("/etc").join(name)).collect();
    let needed = plan
        .ops
        .iter()
        .map(|op| match op {
            Op::Bind { target, .. } | Op::Mount { target, .. } => Some(target.as_path()),
            Op::Device(d) => Some(d.path.as_path()),
            // These never create anything: a missing target is skipped.
            Op::DevNodes | Op::Mask { .. } | Op::ReadOnly { .. } => None,
        })
        .chain(etc.iter().map(|p| Some(p.as_path())))
        .chain(std::iter::once(Some(cwd)));
    for target in needed.flatten() {
        let inside_a_mount = mounted.iter().any(|m| target.starts_with(m) && target != *m);
        if !inside_a_mount
            && crate::fsroot::open_in_root(layer.as_fd(), target, crate::fsroot::Create::No)?.is_none()
        {
            return Ok(None);
        }
        mounted.push(target);
    }
    Ok(Some((layer, kept)))
}

fn tmpfs_data(ext: &Extension) -> String {
    match ext.writable {
        WritableSpec::Tmpfs { size: Some(size) } => format!("mode=0700,size={size}"),
        _ => "mode=0700".to_owned(),
    }
}

/// The most lower layers overlayfs stacks (`OVL_MAX_STACK`).
const MAX_LOWER: usize = 500;

/// The overlay of the layers with the writable upper, on `root`.
fn overlay(prep: &Prepared, scratch: &Path, root: &str, rootless: bool) -> Result<()> {
    if prep.layers.len() > MAX_LOWER {
        return Err(SetupError::new(format!("stack {} layers", prep.layers.len()))
            .detail(format!("overlayfs stacks at most {MAX_LOWER}"))
            .fix("squash the image (fewer layers), or split the profile's layers"));
    }
    // Each lower is named relative to /proc/self/fd, our cwd for the mount
    // (overlayfs resolves relative paths from it): "12:13:…" rather than
    // "/proc/self/fd/12:…", so even 500 layers fit the one page the
    // kernel copies the mount options into.
    chdir("/proc/self/fd").map_err(|e| SetupError::sys("chdir /proc/self/fd", e))?;
    let lower: Vec<String> = prep
        .layers
        .iter()
        .map(|l| {
            l.as_ref().map_or_else(|| "/".to_owned(), |f| std::os::fd::AsRawFd::as_raw_fd(f).to_string())
        })
        .collect();
    let (upper, work) = match &prep.persistent {
        Some((u, w)) => (crate::fsroot::fd_path(u), crate::fsroot::fd_path(w)),
        None => (scratch.join("upper").display().to_string(), scratch.join("work").display().to_string()),
    };
    let mut data = format!("lowerdir={},upperdir={upper},workdir={work}", lower.join(":"));
    if rootless {
        data.push_str(",userxattr");
    }
    // Device nodes of the host's root file system (a chroot's /dev under
    // /srv, say) open nothing: the sandbox has a /dev of its own.
    // nodev: the layers' device nodes (a chroot's /dev under /srv, an
    // image's planted block device) open nothing, nor does one made in the
    // upper: the sandbox has a /dev of its own, and no device cgroup.
    let flags = MsFlags::MS_NODEV;
    do_mount(Some("overlay"), root, Some("overlay"), flags, Some(&data), &format!("mount overlay on {root}")).map_err(|e| {
        e.fix("is the upper directory on the same overlay as a lower layer? does this kernel allow overlayfs here?")
    })
}

/// `pivot_root` into `root` and detach the old root, the way runc and
/// firecracker's jailer do it: pivot onto itself, then unmount the old root
/// lazily from underneath.
fn pivot(root: &Path) -> Result<()> {
    chdir(root).map_err(|e| SetupError::sys(format!("chdir {}", root.display()), e))?;
    pivot_root(".", ".").map_err(|e| SetupError::sys("pivot_root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| SetupError::sys("detach the old root", e))?;
    chdir("/").map_err(|e| SetupError::sys("chdir /", e))
}
