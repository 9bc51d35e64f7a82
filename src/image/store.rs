//! The content-addressed store: verified blobs by digest, each layer
//! unpacked once into a directory named by its diff-id (shared read-only,
//! as an overlay lower, by every sandbox that uses it), and one record per
//! image reference.
//!
//! ```text
//! ROOT/blobs/sha256/HEX      manifests and configs, verified before their rename
//! ROOT/layers/sha256/HEX/    an unpacked layer (HEX: its diff-id)
//! ROOT/layers/sha256/HEX.lock  held shared by every sandbox using it, exclusive by unpack and prune
//! ROOT/images/HEX.json       a reference's record (HEX: sha256 of the reference)
//! ROOT/tmp/PID.N.what        work in progress: never trusted, swept once its process is gone
//! ```
//!
//! Only a rename puts anything in place, after its content was verified
//! and synced: a pull killed at any moment, or a full disk, leaves work in
//! `tmp/` and nothing a later run would trust.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::fcntl::{Flock, FlockArg, OFlag, RenameFlags, renameat2};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use super::digest::{Digest, Hashing};
use super::tree::remove_tree;
use super::unpack::{self, Unpacked};
use crate::error::{Result, SetupError};

/// The store at `root`.
pub struct Store {
    root: PathBuf,
    /// Whether unpacking may chown and make devices (the store is root's).
    pub as_root: bool,
}

/// What the store keeps about one image reference.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// The reference as the profile resolved it (`oci:/abs/img:1`).
    pub reference: String,
    /// The manifest's digest; for `tar:` the tarball's own.
    pub digest: Digest,
    /// The image config's digest (its blob is in the store); none for `tar:`.
    pub config: Option<Digest>,
    /// The layers' diff-ids, bottom to top.
    pub layers: Vec<Digest>,
    /// Bytes of the unpacked layers' files.
    pub size: u64,
    /// For a local file: what it was when this record was made, so a second
    /// start trusts the record without reading the file again.
    pub stamp: Option<Stamp>,
    /// Seconds since the epoch.
    pub pulled: u64,
}

/// A local file's identity and version, cheap to compare: one `stat`.
/// The change time too: the mtime is whatever `touch -d`, `cp -p` or
/// `tar x` sets, so a file rewritten in place to the same size with its
/// old mtime put back would otherwise pass for the file the record (and
/// the lock that names the record's digest) describes.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    /// 0 in a record made before it was kept: never fresh.
    #[serde(default)]
    pub ctime_ns: i128,
}

impl Stamp {
    pub fn of(path: &Path) -> Option<Stamp> {
        let m = fs::metadata(path).ok()?;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        let (mtime_ns, ctime_ns) = (ns(m.mtime(), m.mtime_nsec()), ns(m.ctime(), m.ctime_nsec()));
        Some(Stamp { dev: m.dev(), ino: m.ino(), size: m.len(), mtime_ns, ctime_ns })
    }
}

/// Records, configs and manifests are small; a larger one is hostile.
pub const MAX_SMALL_BLOB: u64 = 4 << 20;

static SERIAL: AtomicU32 = AtomicU32::new(0);

impl Store {
    /// Root's store is `/var/lib/sandbox`; a user's `$XDG_DATA_HOME/sandbox`
    /// (`~/.local/share/sandbox`). `SANDBOX_STORE` names another.
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os("SANDBOX_STORE").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/var/lib/sandbox");
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|d| Path::new(d).is_absolute())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")));
        data.unwrap_or_else(|| PathBuf::from("/tmp")).join("sandbox")
    }

    /// Open (creating) the store at `root`; sweeps what dead pulls left.
    pub fn open(root: &Path) -> Result<Store> {
        // 0700: layers keep their setuid binaries and device nodes; only
        // the store's owner may reach them outside a sandbox.
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        for dir in ["blobs/sha256", "layers/sha256", "images", "tmp"] {
            builder.create(root.join(dir)).map_err(|e| {
                SetupError::io(format!("create the image store {}", root.join(dir).display()), &e)
                    .fix("set SANDBOX_STORE to a directory you can write")
            })?;
        }
        private_root(root)?;
        let store = Store { root: root.to_path_buf(), as_root: nix::unistd::geteuid().is_root() };
        store.sweep();
        Ok(store)
    }

    /// The store at `root` if there is one of ours, for reading only
    /// (`check` must not create a store as a side effect, nor trust one
    /// another user could have planted records in).
    pub fn existing(root: &Path) -> Option<Store> {
        let ours = fs::metadata(root).is_ok_and(|m| m.uid() == nix::unistd::geteuid().as_raw());
        (ours && root.join("images").is_dir())
            .then(|| Store { root: root.to_path_buf(), as_root: nix::unistd::geteuid().is_root() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers/sha256").join(diff_id.hex())
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_path(diff_id).is_dir()
    }

    /// A small blob already in the store (verified when it was put there).
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        read_limited(&path, MAX_SMALL_BLOB).map_err(|e| e.fix("`sandbox pull` the image again"))
    }

    /// Keep `bytes` as blob `digest`, after checking they are it.
    pub fn put_small_blob(&self, digest: &Digest, bytes: &[u8], what: &str) -> Result<()> {
        let got = Digest::of(bytes);
        if got != *digest {
            return Err(SetupError::new(format!("verify {what}")).detail(format!(
                "its content is {got}, not {digest}: it was altered or damaged; nothing of it was kept"
            )));
        }
        let path = self.blob_path(digest);
        if path.exists() {
            return Ok(());
        }
        self.write_atomic(&path, bytes, what)
    }

    /// Write `bytes` to `path` by a synced temporary file and a rename.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8], what: &str) -> Result<()> {
        let tmp = self.tmp_name("file");
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            SetupError::io(format!("store {what} at {}", path.display()), &e)
        })
    }

    /// Unpack the layer read from `src` into the store unless it is there.
    /// `blob`: the compressed blob's digest and size, verified as it streams
    /// (none when `src` is the uncompressed tar itself); `diff_id`: what the
    /// image's config says the uncompressed tar hashes to (none: trust what
    /// it hashes to, for `tar:` roots). `None`: another pull unpacked it
    /// while this one waited for the layer's lock.
    pub fn put_layer(
        &self,
        src: &mut dyn Read,
        blob: Option<(&Digest, u64)>,
        diff_id: Option<&Digest>,
        what: &str,
    ) -> Result<Option<Unpacked>> {
        let _lock = match diff_id {
            Some(d) => Some(self.lock_layer(d, FlockArg::LockExclusive)?),
            None => None,
        };
        if diff_id.is_some_and(|d| self.has_layer(d)) {
            return Ok(None);
        }
        let tmp = self.tmp_name("layer");
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&tmp)
            .map_err(|e| SetupError::io(format!("create {}", tmp.display()), &e))?;
        let result = self.unpack_into(src, &tmp, blob, diff_id, what);
        match result {
            Ok(got) => self.install_layer(&tmp, &got.diff_id).map(|()| Some(got)),
            Err(e) => {
                let _ = remove_tree(&tmp);
                Err(e)
            }
        }
    }

    fn unpack_into(
        &self,
        src: &mut dyn Read,
        dir: &Path,
        blob: Option<(&Digest, u64)>,
        diff_id: Option<&Digest>,
        what: &str,
    ) -> Result<Unpacked> {
        let opts = unpack::Options { as_root: self.as_root, limits: unpack::Limits::default() };
        let mut hashing = Hashing::new(src, blob.map_or(u64::MAX, |(_, size)| size));
        let unpacked = match unpack::unpack(&mut hashing, dir, what, &opts) {
            Ok(u) => u,
            Err(e) => {
                // A damaged blob is reported as damaged, not as whatever
                // its damage looks like to the unpacker.
                if let Some((digest, _)) = blob {
                    if hashing.drain().is_ok() {
                        hashing.verify(digest, what)?;
                    }
                }
                return Err(e);
            }
        };
        hashing.drain().map_err(|e| SetupError::io(format!("read {what}"), &e))?;
        if let Some((digest, _)) = blob {
            hashing.verify(digest, what)?;
        }
        if let Some(expected) = diff_id.filter(|d| **d != unpacked.diff_id) {
            return Err(SetupError::new(format!("verify {what}")).detail(format!(
                "it unpacks to {}, but the image config says {expected}: the image is inconsistent or altered; nothing of it was kept",
                unpacked.diff_id
            )));
        }
        unpack::sync_tree(dir)?;
        Ok(unpacked)
    }

    /// Rename a verified, synced layer into place; a concurrent pull that
    /// got there first wins (the content is the same, by its digest).
    fn install_layer(&self, tmp: &Path, diff_id: &Digest) -> Result<()> {
        let dest = self.layer_path(diff_id);
        let cwd = nix::fcntl::AT_FDCWD;
        match renameat2(cwd, tmp, cwd, &dest, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::EEXIST | nix::errno::Errno::ENOTEMPTY) => {
                let _ = remove_tree(tmp);
                Ok(())
            }
            Err(e) => Err(SetupError::sys(format!("move layer {diff_id} into the store"), e)),
        }
    }

    /// The layer's lock: exclusive while it is unpacked or removed, shared
    /// while a sandbox uses it (see [`Store::hold`]).
    fn lock_layer(&self, diff_id: &Digest, how: FlockArg) -> Result<Flock<OwnedFd>> {
        let path = self.root.join("layers/sha256").join(format!("{}.lock", diff_id.hex()));
        let fd = nix::fcntl::open(
            &path,
            OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| SetupError::sys(format!("open {}", path.display()), e))?;
        Flock::lock(fd, how).map_err(|(_, e)| SetupError::sys(format!("lock layer {diff_id}"), e))
    }

    /// Shared locks on every store layer among `dirs` (a bundle's layers),
    /// held as long as the returned value lives: `prune` skips them.
    pub fn hold(&self, dirs: &[PathBuf]) -> Result<Vec<Flock<OwnedFd>>> {
        let base = self.root.join("layers/sha256");
        let mut held = Vec::new();
        for dir in dirs {
            let Some(hex) = dir.strip_prefix(&base).ok().and_then(|p| p.to_str()) else { continue };
            let digest = Digest::parse(&format!("sha256:{hex}"), "a layer directory")?;
            held.push(self.lock_layer(&digest, FlockArg::LockShared)?);
        }
        Ok(held)
    }

    /// The store-wide lock: shared while images are resolved and records
    /// written, exclusive while `prune` decides what nothing uses.
    pub fn lock(&self, exclusive: bool) -> Result<Flock<OwnedFd>> {
        let path = self.root.join("lock");
        let fd = nix::fcntl::open(
            &path,
            OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| SetupError::sys(format!("open {}", path.display()), e))?;
        let how = if exclusive { FlockArg::LockExclusive } else { FlockArg::LockShared };
        Flock::lock(fd, how)
            .map_err(|(_, e)| SetupError::sys(format!("lock the image store {}", self.root.display()), e))
    }

    fn record_path(&self, reference: &str) -> PathBuf {
        self.root.join("images").join(format!("{}.json", Digest::of(reference.as_bytes()).hex()))
    }

    /// The record of `reference`, if the store has a sound one.
    pub fn record(&self, reference: &str) -> Option<Record> {
        let bytes = read_limited(&self.record_path(reference), MAX_SMALL_BLOB).ok()?;
        let record: Record = serde_json::from_slice(&bytes).ok()?;
        let whole = record.reference == reference && record.layers.iter().all(|l| self.has_layer(l));
        whole.then_some(record)
    }

    pub fn put_record(&self, record: &Record) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(record).expect("a record serialises");
        self.write_atomic(
            &self.record_path(&record.reference),
            &bytes,
            &format!("the record of {}", record.reference),
        )
    }

    /// Mark `reference` used now (its record's mtime): `images` shows it,
    /// `prune --older-than` reads it.
    pub fn touch(&self, reference: &str) {
        let _ = nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &self.record_path(reference),
            &nix::sys::time::TimeSpec::UTIME_NOW,
            &nix::sys::time::TimeSpec::UTIME_NOW,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        );
    }

    /// Every record with its last use (seconds since the epoch).
    pub fn records(&self) -> Vec<(Record, u64, PathBuf)> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.root.join("images")).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(bytes) = read_limited(&path, MAX_SMALL_BLOB) else { continue };
            let Ok(record) = serde_json::from_slice::<Record>(&bytes) else { continue };
            let used = entry.metadata().map_or(0, |m| u64::try_from(m.mtime()).unwrap_or(0));
            out.push((record, used, path));
        }
        out.sort_by(|a, b| a.0.reference.cmp(&b.0.reference));
        out
    }

    /// Whether a sandbox holds layer `diff_id` (a shared lock on it).
    pub fn is_held(&self, diff_id: &Digest) -> bool {
        self.lock_layer(diff_id, FlockArg::LockExclusiveNonblock).is_err()
    }

    /// The digests of every blob.
    pub fn blobs(&self) -> Vec<Digest> {
        let dir = self.root.join("blobs/sha256");
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy()), "a blob").ok()
            })
            .collect()
    }

    /// The diff-ids of every unpacked layer.
    pub fn layers(&self) -> Vec<Digest> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.root.join("layers/sha256")).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if let Ok(d) = Digest::parse(&format!("sha256:{name}"), "a layer directory") {
                    out.push(d);
                }
            }
        }
        out
    }

    /// Remove layer `diff_id` unless a sandbox holds it: `Ok(false)` then.
    /// It is renamed into `tmp/` first, so a removal cut short leaves no
    /// half layer where a run would trust it.
    pub fn remove_layer(&self, diff_id: &Digest) -> Result<bool> {
        let Ok(lock) = self.lock_layer(diff_id, FlockArg::LockExclusiveNonblock) else { return Ok(false) };
        let doomed = self.tmp_name("removed");
        fs::rename(self.layer_path(diff_id), &doomed)
            .map_err(|e| SetupError::io(format!("remove layer {diff_id}"), &e))?;
        remove_tree(&doomed).map_err(|e| SetupError::io(format!("remove {}", doomed.display()), &e))?;
        let _ = fs::remove_file(self.root.join("layers/sha256").join(format!("{}.lock", diff_id.hex())));
        drop(lock);
        Ok(true)
    }

    /// A fresh name in `tmp/` that no other process uses.
    pub fn tmp_name(&self, what: &str) -> PathBuf {
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        self.root.join("tmp").join(format!("{}.{n}.{what}", std::process::id()))
    }

    /// Remove what processes that are gone left in `tmp/`.
    fn sweep(&self) {
        for entry in fs::read_dir(self.root.join("tmp")).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name.split('.').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_none_or(|p| !Path::new(&format!("/proc/{p}")).exists()) {
                let _ = remove_tree(&entry.path());
            }
        }
    }
}

/// The store's root must be ours and closed to everyone else: a
/// directory made before us (`/var/lib/sandbox` 0755, or the `/tmp/sandbox`
/// fallback another user made) would let others plant a layer under a
/// digest's name, or reach the layers' setuid binaries and world-writable
/// directories. Ours but open: closed (0700); another user's: refused.
fn private_root(root: &Path) -> Result<()> {
    let meta = fs::metadata(root)
        .map_err(|e| SetupError::io(format!("open the image store {}", root.display()), &e))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(SetupError::new(format!("use the image store {}", root.display()))
            .detail(format!(
                "it belongs to uid {}, not to you (uid {me}): its owner could plant layers in it",
                meta.uid()
            ))
            .fix("set SANDBOX_STORE to a directory of your own"));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(root, fs::Permissions::from_mode(0o700))
            .map_err(|e| SetupError::io(format!("make the image store {} private", root.display()), &e))?;
    }
    Ok(())
}

/// `12.3 MB`: sizes as `images` and the pull lines show them.
pub fn megabytes(bytes: u64) -> String {
    format!("{}.{} MB", bytes / 1_000_000, bytes / 100_000 % 10)
}

/// Read a whole file of at most `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| SetupError::io(format!("open {}", path.display()), &e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SetupError::io(format!("read {}", path.display()), &e))?;
    if bytes.len() as u64 > limit {
        return Err(
            SetupError::new(format!("read {}", path.display())).detail(format!("larger than {limit} bytes"))
        );
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
