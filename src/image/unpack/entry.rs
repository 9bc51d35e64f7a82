//! One tar entry → one file, directory, link, node or whiteout, created by
//! us relative to a descriptor of its parent, with its owner, mode, time
//! and the extended attributes a layer may carry.

use std::ffi::CString;
use std::fmt::Display;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstatat, futimens};
use nix::sys::stat::{makedev, mkdirat, mknodat, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat, linkat, symlinkat};
use tar::EntryType;

use super::path::{self, Name, show};
use super::stream::{BUF, Meter};
use super::tree::{self, At, DirMeta, Tree, beneath};
use super::{Options, Unpacked};
use crate::error::{Result, SetupError};
use crate::image::digest::Digest;
use crate::sys::xattr;

/// An entry's metadata, from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: TimeSpec,
    xattrs: Vec<(CString, Vec<u8>)>,
}

/// Where an entry goes: its parent directory and last component.
struct Node<'n> {
    dir: BorrowedFd<'n>,
    name: &'n [u8],
    at: &'n At<'n>,
}

pub(super) struct Layer<'a> {
    tree: Tree,
    what: &'a str,
    opts: &'a Options,
    meter: Rc<Meter>,
    buf: Vec<u8>,
    size: u64,
    entries: u64,
    skipped: Vec<String>,
    /// Skipped lines past [`MAX_SKIPPED`], counted only.
    omitted: u64,
}

/// Lines of `skipped` kept: a layer of a million device nodes (rootless)
/// or of PAX records naming xattrs must not grow them without bound.
const MAX_SKIPPED: usize = 100;

impl<'a> Layer<'a> {
    pub(super) fn new(tree: Tree, what: &'a str, opts: &'a Options, meter: Rc<Meter>) -> Layer<'a> {
        let buf = vec![0; BUF];
        Layer { tree, what, opts, meter, buf, size: 0, entries: 0, skipped: Vec::new(), omitted: 0 }
    }

    pub(super) fn finish(mut self, diff_id: Digest) -> Result<Unpacked> {
        self.tree.finish(self.what)?;
        if self.omitted > 0 {
            self.skipped.push(format!("… and {} more", self.omitted));
        }
        Ok(Unpacked { diff_id, size: self.size, entries: self.entries, skipped: self.skipped })
    }

    fn limit(&self, over: &str, value: impl Display, name: &str, max: impl Display) -> SetupError {
        SetupError::new(format!("unpack {}", self.what))
            .detail(format!("{over} ({value}): over the limit {name} = {max}"))
            .fix("a layer this large is refused; nothing of it is used")
    }

    pub(super) fn add<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let added = self.add_entry(entry);
        if self.skipped.len() > MAX_SKIPPED {
            self.omitted += (self.skipped.len() - MAX_SKIPPED) as u64;
            self.skipped.truncate(MAX_SKIPPED);
        }
        added
    }

    fn add_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        self.entries += 1;
        let limits = self.opts.limits;
        if self.entries > limits.max_entries {
            return Err(self.limit("it has more entries", self.entries, "max_entries", limits.max_entries));
        }
        let (path, slash) = {
            let raw = entry.path_bytes();
            if raw.len() > limits.max_path {
                let over = format!("entry `{}` has a long path", show(&raw));
                return Err(self.limit(&over, format!("{} bytes", raw.len()), "max_path", limits.max_path));
            }
            let clean = path::clean(&raw).map_err(|why| At { what: self.what, entry: &raw }.refuse(why))?;
            (clean, raw.ends_with(b"/"))
        };
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        let at = At { what: self.what, entry: &path };
        let (parent, name) = path::split(&path);
        match path::classify(name).map_err(|why| at.refuse(why))? {
            Name::Whiteout(target) => return self.whiteout(&at, parent, target),
            Name::Opaque => return self.opaque(&at, parent),
            Name::Aufs => {
                self.skipped.push(format!("{}: aufs metadata", show(&path)));
                return Ok(());
            }
            Name::Plain => {}
        }
        let meta = self.meta(entry, &at)?;
        let is_dir = kind == EntryType::Directory || (slash && kind == EntryType::Regular);
        if path.is_empty() {
            return self.root_entry(&at, is_dir, &meta);
        }
        if is_dir {
            self.directory(&at, parent, name, &meta)?;
            self.tree.dirs.push(DirMeta { path, mode: meta.mode, mtime: Some(meta.mtime) });
            return Ok(());
        }
        self.dispatch(entry, &at, kind, &meta)
    }

    fn dispatch<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        at: &At<'_>,
        kind: EntryType,
        meta: &Meta,
    ) -> Result<()> {
        let (parent, name) = path::split(at.entry);
        let dir = self.tree.dir(at, parent)?;
        let node = Node { dir: dir.as_fd(), name, at };
        match kind {
            EntryType::Regular | EntryType::Continuous => self.file(entry, &node, meta),
            EntryType::Symlink | EntryType::Link => {
                let link = entry.link_name_bytes().ok_or_else(|| at.refuse("is a link to nothing"))?;
                if link.len() > self.opts.limits.max_path {
                    let over = format!("entry `{}` has a long link target", show(at.entry));
                    let len = format!("{} bytes", link.len());
                    return Err(self.limit(&over, len, "max_path", self.opts.limits.max_path));
                }
                if kind == EntryType::Symlink {
                    self.symlink(&node, &link, meta)
                } else {
                    self.hardlink(&node, &link)
                }
            }
            EntryType::Char | EntryType::Block => {
                let h = entry.header();
                let bad = |_| at.refuse("has an unreadable device number");
                let major = h.device_major().map_err(bad)?.unwrap_or(0);
                let minor = h.device_minor().map_err(bad)?.unwrap_or(0);
                self.device(&node, kind == EntryType::Char, (major, minor), meta)
            }
            EntryType::Fifo => {
                replace(&node, "create the fifo", || {
                    mknodat(node.dir, node.name, SFlag::S_IFIFO, Mode::S_IRUSR, 0)
                })?;
                self.attrs_at(&node, meta)
            }
            other => {
                Err(at.refuse(&format!("has type `{}`, which a layer may not use", show(&[other.as_byte()]))))
            }
        }
    }

    fn meta<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, at: &At<'_>) -> Result<Meta> {
        let h = entry.header();
        let bad = |field: &str| at.refuse(&format!("has an unreadable {field}"));
        let mode = h.mode().map_err(|_| bad("mode"))? & 0o7777;
        let id = |v: io::Result<u64>| v.ok().and_then(|v| u32::try_from(v).ok()).filter(|&v| v != u32::MAX);
        // An empty field is 0, as GNU tar, Go and Python read it.
        let old = h.as_old();
        let uid = if blank(&old.uid) { 0 } else { id(h.uid()).ok_or_else(|| bad("uid"))? };
        let gid = if blank(&old.gid) { 0 } else { id(h.gid()).ok_or_else(|| bad("gid"))? };
        let secs = if blank(&old.mtime) { 0 } else { h.mtime().map_err(|_| bad("mtime"))? };
        let mut mtime = TimeSpec::new(i64::try_from(secs).unwrap_or(i64::MAX), 0);
        let mut xattrs = Vec::new();
        let Some(pax) = entry.pax_extensions().map_err(|e| self.meter.error(self.what, &e))? else {
            return Ok(Meta { mode, uid, gid, mtime, xattrs });
        };
        for ext in pax {
            let ext = ext.map_err(|_| at.refuse("has an unreadable PAX record"))?;
            let Ok(key) = ext.key() else { continue };
            if key.starts_with("GNU.sparse.") {
                return Err(at.refuse("is a sparse file, which a layer may not hold"));
            } else if key == "mtime" {
                mtime = pax_time(ext.value_bytes()).unwrap_or(mtime);
            } else if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                keep_xattr(self.opts.as_root, at, name, ext.value_bytes(), &mut xattrs, &mut self.skipped);
            }
        }
        Ok(Meta { mode, uid, gid, mtime, xattrs })
    }

    fn file<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, node: &Node<'_>, meta: &Meta) -> Result<()> {
        let size = entry.size();
        let total = self.size.saturating_add(size);
        if total > self.opts.limits.max_bytes {
            let over = format!("its content, with entry `{}`, is larger", show(node.at.entry));
            return Err(self.limit(&over, format!("{total} bytes"), "max_bytes", self.opts.limits.max_bytes));
        }
        let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = replace(node, "create the file", || {
            openat(node.dir, node.name, flags, Mode::S_IRUSR | Mode::S_IWUSR)
        })?;
        let mut file = std::fs::File::from(fd);
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(self.buf.len());
            let n = match entry.read(&mut self.buf[..want]) {
                Ok(0) => return Err(node.at.refuse("is cut short: the stream ends inside it")),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.meter.error(self.what, &e)),
            };
            file.write_all(&self.buf[..n]).map_err(|e| {
                SetupError::io(format!("unpack {}: write `{}`", self.what, show(node.at.entry)), &e)
            })?;
            left -= n as u64;
        }
        self.size = total;
        self.attrs_fd(node.at, file.as_fd(), meta)
    }

    fn directory(&mut self, at: &At<'_>, parent: &[u8], name: &[u8], meta: &Meta) -> Result<()> {
        let dir = self.tree.dir(at, parent)?;
        let node = Node { dir: dir.as_fd(), name, at };
        match mkdirat(node.dir, name, Mode::S_IRWXU) {
            Ok(()) => {}
            Err(Errno::EEXIST) if is_dir(&node) => {}
            Err(Errno::EEXIST) => {
                tree::remove(node.dir, name).map_err(|e| at.sys("remove what is replaced by", e))?;
                mkdirat(node.dir, name, Mode::S_IRWXU).map_err(|e| at.sys("create the directory", e))?;
            }
            Err(e) => return Err(at.sys("create the directory", e)),
        }
        if self.opts.as_root {
            fchownat(
                node.dir,
                name,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| at.sys("set the owner of", e))?;
        }
        if !meta.xattrs.is_empty() {
            let fd = beneath(node.dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                .map_err(|e| at.sys("open", e))?;
            self.set_xattrs(at, &meta.xattrs, |n, v| xattr::fsetxattr(fd.as_fd(), n, v))?;
        }
        Ok(())
    }

    /// `./` itself: the layer's own directory. Its owner is not applied and
    /// its mode loses group and other write (the store's directory must not
    /// become writable by other users of the host); its time and xattrs are kept.
    fn root_entry(&mut self, at: &At<'_>, is_dir: bool, meta: &Meta) -> Result<()> {
        if !is_dir {
            return Err(at.refuse("would replace the layer's own directory"));
        }
        let mode = meta.mode & 0o755;
        if mode != meta.mode {
            self.skipped
                .push(format!("./: mode {:o} applied as {mode:o} (the layer's own directory)", meta.mode));
        }
        if self.opts.as_root && (meta.uid, meta.gid) != (0, 0) {
            self.skipped
                .push(format!("./: owner {}:{} not applied (the layer's own directory)", meta.uid, meta.gid));
        }
        if !meta.xattrs.is_empty() {
            let root = self
                .tree
                .root()
                .try_clone_to_owned()
                .map_err(|e| SetupError::io(format!("unpack {}", self.what), &e))?;
            self.set_xattrs(at, &meta.xattrs, |n, v| xattr::fsetxattr(root.as_fd(), n, v))?;
        }
        self.tree.dirs.push(DirMeta { path: Vec::new(), mode, mtime: Some(meta.mtime) });
        Ok(())
    }
}

impl Layer<'_> {
    fn symlink(&mut self, node: &Node<'_>, target: &[u8], meta: &Meta) -> Result<()> {
        if target.is_empty() || target.contains(&0) {
            return Err(node.at.refuse("is a symlink to an empty name or one with a NUL byte"));
        }
        replace(node, "create the symlink", || symlinkat(target, node.dir, node.name))?;
        self.attrs_at(node, meta)
    }

    /// A hard link names a regular file this layer already has, by its path
    /// in the layer: never a symlink, a directory, or anything outside.
    fn hardlink(&mut self, node: &Node<'_>, link: &[u8]) -> Result<()> {
        let at = node.at;
        let why = |why: &str| at.refuse(&format!("is a hard link to `{}`, which {why}", show(link)));
        let target = path::clean(link).map_err(why)?;
        if target.is_empty() {
            return Err(why("is the layer's own directory"));
        }
        if target == at.entry {
            return Ok(());
        }
        let (tparent, tname) = path::split(&target);
        let tdir = self.tree.find(at, tparent)?.ok_or_else(|| why("this layer does not have"))?;
        match fstatat(&tdir, tname, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG => {}
            Ok(_) => return Err(why("is not a regular file")),
            Err(Errno::ENOENT) => return Err(why("this layer does not have")),
            Err(e) => return Err(at.sys("look up the target of", e)),
        }
        replace(node, "create the hard link", || linkat(&tdir, tname, node.dir, node.name, AtFlags::empty()))
    }

    fn device(&mut self, node: &Node<'_>, char: bool, (major, minor): (u32, u32), meta: &Meta) -> Result<()> {
        if char && (major, minor) == (0, 0) {
            return whiteout_at(node); // an overlay whiteout already
        }
        if !self.opts.as_root {
            self.skipped.push(format!("{}: a device node (rootless)", show(node.at.entry)));
            return Ok(());
        }
        let kind = if char { SFlag::S_IFCHR } else { SFlag::S_IFBLK };
        let dev = makedev(major.into(), minor.into());
        replace(node, "create the device node", || mknodat(node.dir, node.name, kind, Mode::S_IRUSR, dev))?;
        self.attrs_at(node, meta)
    }

    /// `DIR/.wh.NAME`: NAME becomes an overlay whiteout (a 0/0 character
    /// device, which unprivileged users may make since Linux 5.8).
    fn whiteout(&mut self, at: &At<'_>, parent: &[u8], name: &[u8]) -> Result<()> {
        let dir = self.tree.dir(at, parent)?;
        whiteout_at(&Node { dir: dir.as_fd(), name, at })
    }

    /// `DIR/.wh..wh..opq`: DIR hides the layers below. `user.overlay.opaque`
    /// always (an overlay mounted with `userxattr` in a user namespace
    /// reads that one), `trusted.overlay.opaque` too as root.
    fn opaque(&mut self, at: &At<'_>, parent: &[u8]) -> Result<()> {
        let dir = self.tree.dir(at, parent)?;
        let fd =
            beneath(dir.as_fd(), b"", OFlag::O_RDONLY | OFlag::O_DIRECTORY).map_err(|e| at.sys("open", e))?;
        xattr::fsetxattr(fd.as_fd(), c"user.overlay.opaque", b"y")
            .map_err(|e| at.sys("mark opaque the directory of", e))?;
        if self.opts.as_root {
            xattr::fsetxattr(fd.as_fd(), c"trusted.overlay.opaque", b"y")
                .map_err(|e| at.sys("mark opaque the directory of", e))?;
        }
        Ok(())
    }

    /// Owner, mode, xattrs and time of a file open for writing, in that
    /// order: chown clears setuid bits and capabilities, so both come after.
    fn attrs_fd(&mut self, at: &At<'_>, fd: BorrowedFd<'_>, meta: &Meta) -> Result<()> {
        if self.opts.as_root {
            fchown(fd, Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)))
                .map_err(|e| at.sys("set the owner of", e))?;
        }
        fchmod(fd, Mode::from_bits_truncate(meta.mode)).map_err(|e| at.sys("set the mode of", e))?;
        if !meta.xattrs.is_empty() {
            self.set_xattrs(at, &meta.xattrs, |n, v| xattr::fsetxattr(fd, n, v))?;
        }
        futimens(fd, &meta.mtime, &meta.mtime).map_err(|e| at.sys("set the time of", e))
    }

    /// The same for what cannot be opened (symlinks, nodes, fifos): by name
    /// in the parent's descriptor, never following the name.
    fn attrs_at(&mut self, node: &Node<'_>, meta: &Meta) -> Result<()> {
        let (at, dir, name) = (node.at, node.dir, node.name);
        let symlink = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK)
            .map_err(|e| at.sys("look up", e))?;
        if self.opts.as_root {
            let (uid, gid) = (Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)));
            fchownat(dir, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| at.sys("set the owner of", e))?;
        }
        if !symlink {
            // Not a symlink (we made it and nothing else writes here), so
            // following the name is following nothing.
            fchmodat(dir, name, Mode::from_bits_truncate(meta.mode), FchmodatFlags::FollowSymlink)
                .map_err(|e| at.sys("set the mode of", e))?;
        }
        if !meta.xattrs.is_empty() {
            let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
            path.extend_from_slice(name);
            let path = CString::new(path).map_err(|_| at.refuse("has a NUL byte"))?;
            self.set_xattrs(at, &meta.xattrs, |n, v| xattr::lsetxattr(&path, n, v))?;
        }
        utimensat(dir, name, &meta.mtime, &meta.mtime, UtimensatFlags::NoFollowSymlink)
            .map_err(|e| at.sys("set the time of", e))
    }

    /// Set the kept xattrs; one the filesystem refuses on this kind of file
    /// (`user.*` on a symlink or node) is listed, not fatal.
    fn set_xattrs(
        &mut self,
        at: &At<'_>,
        xattrs: &[(CString, Vec<u8>)],
        set: impl Fn(&std::ffi::CStr, &[u8]) -> nix::Result<()>,
    ) -> Result<()> {
        for (name, value) in xattrs {
            match set(name, value) {
                Ok(()) => {}
                Err(
                    e @ (Errno::EPERM | Errno::EOPNOTSUPP | Errno::E2BIG | Errno::ERANGE | Errno::EINVAL),
                ) => {
                    let name = show(name.to_bytes());
                    self.skipped.push(format!("{}: xattr {name} (refused: {e})", show(at.entry)));
                }
                Err(e) => return Err(at.sys("set an xattr of", e)),
            }
        }
        Ok(())
    }
}

fn whiteout_at(node: &Node<'_>) -> Result<()> {
    replace(node, "create the whiteout", || mknodat(node.dir, node.name, SFlag::S_IFCHR, Mode::empty(), 0))
}

/// Create with `op`; when the name is taken, remove what this layer had
/// there (a later entry replaces an earlier one, as tar does) and retry.
fn replace<T>(node: &Node<'_>, doing: &str, mut op: impl FnMut() -> nix::Result<T>) -> Result<T> {
    match op() {
        Err(Errno::EEXIST) => {
            tree::remove(node.dir, node.name).map_err(|e| node.at.sys("remove what is replaced by", e))?;
            op()
        }
        other => other,
    }
    .map_err(|e| node.at.sys(doing, e))
}

fn is_dir(node: &Node<'_>) -> bool {
    fstatat(node.dir, node.name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
}

/// A PAX time: seconds, optionally `.` and a fraction.
fn pax_time(value: &[u8]) -> Option<TimeSpec> {
    let text = std::str::from_utf8(value).ok()?;
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let nanos: i64 = if digits.is_empty() { 0 } else { format!("{digits:0<9}").parse().ok()? };
    Some(TimeSpec::new(secs, nanos))
}

/// Which image xattrs a layer may carry: never overlay markers (an image
/// must not plant opaque, redirect or metacopy), `user.*` always,
/// `security.capability` as root. The rest is listed in `skipped`.
fn keep_xattr(
    as_root: bool,
    at: &At<'_>,
    name: &str,
    value: &[u8],
    out: &mut Vec<(CString, Vec<u8>)>,
    skipped: &mut Vec<String>,
) {
    let why = if name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") {
        Some("an overlay marker")
    } else if name.starts_with("user.") || (as_root && name == "security.capability") {
        None
    } else if as_root {
        Some("not kept")
    } else {
        Some("not kept rootless")
    };
    match (why, CString::new(name)) {
        (None, Ok(cname)) => out.push((cname, value.to_vec())),
        (why, _) => {
            let why = why.unwrap_or("a NUL byte in its name");
            skipped.push(format!("{}: xattr {} ({why})", show(at.entry), show(name.as_bytes())));
        }
    }
}

/// A numeric header field with nothing in it (all NUL or spaces).
fn blank(field: &[u8]) -> bool {
    field.iter().all(|&b| b == 0 || b == b' ')
}
