//! A layer source → its unpacked layers in the store, and its config: the
//! one entry point the command line uses. A source the store already has
//! costs one `stat` (local files) or nothing (a registry reference), and
//! no hashing, unpacking or network: `Fetch::Pull` asks again.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;

use super::digest::{Digest, Hashing};
use super::manifest::{self, Config, ProcessConfig};
use super::reference::Source;
use super::registry;
use super::sources::files::{DirFiles, Files, TarFiles};
use super::sources::{Plan, docker, oci};
use super::store::{MAX_SMALL_BLOB, Record, Stamp, Store};
use super::unpack::Unpacked;
use crate::error::{Result, SetupError};

/// Whether a registry is asked again when the store has the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fetch {
    /// The store's copy when it has one (podman's `--pull missing`).
    Missing,
    /// Ask the source again (`sandbox pull`).
    Pull,
}

/// One source, resolved.
pub struct Resolved {
    pub source: Source,
    /// What pins it (the lock file's digest): manifest, docker image id or tarball.
    pub digest: Digest,
    /// Unpacked layer directories, bottom to top.
    pub layers: Vec<PathBuf>,
    /// The image's process defaults; none for `tar:`.
    pub config: Option<ProcessConfig>,
    /// Shared locks on the layers: while they live, `prune` leaves them.
    pub held: Vec<Flock<OwnedFd>>,
}

/// What a pull reports as it goes (the command line draws it).
pub trait Progress {
    /// A layer starts to stream: `total` bytes, when known.
    fn start(&mut self, name: &str, total: Option<u64>);
    /// `n` more bytes of it were read.
    fn advance(&mut self, n: u64);
    /// A step ended: one line (a layer unpacked, or already there).
    fn done(&mut self, line: &str);
}

/// A reader that tells `progress` how much has passed.
struct Counted<'p, R> {
    inner: R,
    progress: &'p mut dyn Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// Resolve `source` (its path absolute) in `store`.
pub fn resolve(
    store: &Store,
    source: &Source,
    fetch: Fetch,
    progress: &mut dyn Progress,
) -> Result<Resolved> {
    let _shared = store.lock(false)?;
    let key = source.to_string();
    let cached = store.record(&key).filter(|r| fetch == Fetch::Missing && fresh(r, source));
    let record = match cached {
        Some(r) => r,
        None => import(store, source, progress)?,
    };
    store.touch(&key);
    let layers: Vec<PathBuf> = record.layers.iter().map(|d| store.layer_path(d)).collect();
    let held = store.hold(&layers)?;
    let config = match &record.config {
        Some(d) => {
            let parsed: Config = manifest::parse(&store.read_blob(d)?, &format!("the config of {key}"))?;
            Some(parsed.config.unwrap_or_default())
        }
        None => None,
    };
    Ok(Resolved { source: source.clone(), digest: record.digest, layers, config, held })
}

/// Whether a record still describes its source: a registry reference's
/// record does until pulled again; a local file's while its stamp holds.
fn fresh(record: &Record, source: &Source) -> bool {
    match stamp_path(source) {
        None => true,
        Some(path) => record.stamp.is_some() && record.stamp == Stamp::of(&path),
    }
}

/// The file whose change means the source changed.
fn stamp_path(source: &Source) -> Option<PathBuf> {
    match source {
        Source::Oci { path, .. } => Some(path.join("index.json")),
        Source::Registry(_) => None,
        other => other.path().cloned(),
    }
}

fn import(store: &Store, source: &Source, progress: &mut dyn Progress) -> Result<Record> {
    let what = source.to_string();
    let stamp = stamp_path(source).and_then(|p| Stamp::of(&p));
    let (digest, config, layers) = match source {
        Source::Tar { path } => {
            let (digest, layer) = import_tar(store, path, &what, progress)?;
            (digest, None, vec![layer])
        }
        Source::Oci { path, tag } => import_files(
            store,
            &DirFiles(path.clone()),
            &oci::plan(&DirFiles(path.clone()), tag.as_deref(), &what)?,
            &what,
            progress,
        )?,
        Source::OciArchive { path, tag } => {
            let files = TarFiles::index(path)?;
            import_files(store, &files, &oci::plan(&files, tag.as_deref(), &what)?, &what, progress)?
        }
        Source::DockerArchive { path, name } => {
            let files = TarFiles::index(path)?;
            import_files(store, &files, &docker::plan(&files, name.as_deref(), &what)?, &what, progress)?
        }
        Source::Registry(r) => import_registry(store, r, &what, progress)?,
    };
    let size = layers.iter().map(|d| super::tree::tree_size(&store.layer_path(d))).sum();
    let pulled =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let record = Record { reference: what, digest, config, layers, size, stamp, pulled };
    store.put_record(&record)?;
    if !store.as_root {
        // Said once per import: what a rootless unpack cannot keep.
        progress.done(&format!(
            "{}: the image's owners are not kept (no privilege to chown): every file is yours, root in the sandbox",
            record.reference
        ));
    }
    Ok(record)
}

type Imported = (Digest, Option<Digest>, Vec<Digest>);

fn import_files(
    store: &Store,
    files: &dyn Files,
    plan: &Plan,
    what: &str,
    progress: &mut dyn Progress,
) -> Result<Imported> {
    import_plan(store, plan, what, progress, &mut |layer| Ok(files.open(&layer.name)?.0))
}

fn import_registry(
    store: &Store,
    r: &super::reference::RegistryRef,
    what: &str,
    progress: &mut dyn Progress,
) -> Result<Imported> {
    let mut client = registry::Client::new(r, &registry::Options::from_env())?;
    let manifest = client.manifest()?;
    let plan = oci::plan_manifest(manifest.digest, &manifest.bytes, what, &mut |d, size, what| {
        small_blob(client.blob(d)?, d, size, what)
    })?;
    import_plan(store, &plan, what, progress, &mut |layer| {
        let (d, _) = layer.blob.as_ref().expect("a registry layer has a digest");
        client.blob(d)
    })
}

/// A small blob read whole and verified.
fn small_blob(reader: Box<dyn Read + '_>, digest: &Digest, size: u64, what: &str) -> Result<Vec<u8>> {
    if size > MAX_SMALL_BLOB {
        return Err(SetupError::new(format!("read {what}"))
            .detail(format!("{size} bytes, more than a manifest or config may have")));
    }
    let mut hashing = Hashing::new(reader, MAX_SMALL_BLOB);
    let mut bytes = Vec::new();
    hashing.read_to_end(&mut bytes).map_err(|e| SetupError::io(format!("read {what}"), &e))?;
    hashing.verify(digest, what)?;
    Ok(bytes)
}

fn import_plan<'s>(
    store: &Store,
    plan: &Plan,
    what: &str,
    progress: &mut dyn Progress,
    open: &mut dyn FnMut(&super::sources::PlannedLayer) -> Result<Box<dyn Read + 's>>,
) -> Result<Imported> {
    store.put_small_blob(&plan.config, &plan.config_bytes, &format!("the config of {what}"))?;
    let count = plan.layers.len();
    for (i, layer) in plan.layers.iter().enumerate() {
        let name = format!("layer {}/{count} of {what}", i + 1);
        if store.has_layer(&layer.diff_id) {
            progress.done(&format!("{name}: {} already unpacked", layer.diff_id.short()));
            continue;
        }
        let blob = layer.blob.as_ref().map(|(d, s)| (d, *s));
        progress.start(&name, blob.map(|(_, s)| s));
        let mut reader = Counted { inner: open(layer)?, progress: &mut *progress };
        let got = store.put_layer(&mut reader, blob, Some(&layer.diff_id), &name)?;
        progress.done(&got.map_or_else(
            || format!("{name}: {} already unpacked", layer.diff_id.short()),
            |u| unpacked(&name, &u),
        ));
    }
    Ok((
        plan.digest.clone(),
        Some(plan.config.clone()),
        plan.layers.iter().map(|l| l.diff_id.clone()).collect(),
    ))
}

/// A root file system tarball as one layer; its digest is the file's.
fn import_tar(
    store: &Store,
    path: &Path,
    what: &str,
    progress: &mut dyn Progress,
) -> Result<(Digest, Digest)> {
    let file = File::open(path).map_err(|e| SetupError::io(format!("open {}", path.display()), &e))?;
    let total = file.metadata().ok().map(|m| m.len());
    progress.start(what, total);
    let mut hashing = Hashing::new(Counted { inner: file, progress: &mut *progress }, u64::MAX);
    let got = store.put_layer(&mut hashing, None, None, what)?;
    hashing.drain().map_err(|e| SetupError::io(format!("read {}", path.display()), &e))?;
    let digest = hashing.finish().0;
    let got = got.expect("an unlocked unpack always unpacks");
    progress.done(&unpacked(what, &got));
    Ok((digest, got.diff_id))
}

fn unpacked(name: &str, u: &Unpacked) -> String {
    let mut line = format!(
        "{name}: unpacked {} ({}, {} entries)",
        u.diff_id.short(),
        super::store::megabytes(u.size),
        u.entries
    );
    for skipped in &u.skipped {
        line.push_str("; skipped ");
        line.push_str(skipped);
    }
    line
}
