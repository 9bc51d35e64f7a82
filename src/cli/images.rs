//! A profile with image layers, end to end: load it, resolve each image
//! into the store (pulling or unpacking what the store lacks), load it
//! again with the images' configs below it, compile with the unpacked
//! layers. A profile without images is loaded once and touches no store.

use std::path::Path;
use std::process::ExitCode;

use sandbox::compile::Images;
use sandbox::image::digest::Digest;
use sandbox::image::lock::{self, Lock};
use sandbox::image::reference::{RegistryRef, Source};
use sandbox::image::resolve::{self, Fetch, Resolved};
use sandbox::image::store::Store;
use sandbox::profile::host::HostContext;
use sandbox::profile::model::{Layer, Model};
use sandbox::profile::overrides::Overrides;
use sandbox::profile::{Below, Loaded, load_profile_over};
use sandbox::spec::Bundle;

use crate::cli::report;

/// A profile loaded with its images resolved, and its bundle.
pub struct Ready {
    pub bundle: Bundle,
    /// Held for as long as the sandbox runs: `prune` leaves their layers.
    pub images: Vec<Resolved>,
}

/// Load `path` (or the built-in defaults) with `overrides`, resolve its
/// images, compile. Problems are printed; the error is the exit status.
/// With `locked`, the profile's lock file pins every image and file: a
/// registry tag is fetched by its locked digest, and any drift is refused.
pub fn ready(
    path: Option<&Path>,
    host: &HostContext,
    overrides: &Overrides,
    quiet: bool,
    locked: bool,
) -> Result<Ready, ExitCode> {
    let loaded = load_profile_over(path, host, overrides, &[]);
    let Some(model) = &loaded.model else { return Err(report::diagnostics(&loaded)) };
    let lock = match (locked, path) {
        (true, Some(p)) => Some(read_lock(p)?),
        (true, None) => {
            return Err(report::error("--locked needs a profile (its lock file is PROFILE.lock)"));
        }
        (false, _) => None,
    };
    let sources = image_sources(model);
    let images = resolve_all(&pinned(&sources, lock.as_ref(), path), Fetch::Missing, quiet)
        .map_err(|e| report::error(&e.to_string()))?;
    check_lock(lock.as_ref(), path, &loaded, &sources, &images)?;
    if sources.is_empty() {
        let bundle = sandbox::compile::compile(model, host);
        return Ok(Ready { bundle, images });
    }
    let below = configs(&images).map_err(|e| report::error(&e))?;
    // The profile's files are read again: what runs is this second read,
    // so it is the one the lock and the resolved images must match (a
    // file changed in between must not slip past --locked, nor name an
    // image that was not resolved).
    let loaded = load_profile_over(path, host, overrides, &below);
    let Some(model) = &loaded.model else { return Err(report::diagnostics(&loaded)) };
    if image_sources(model) != sources {
        return Err(report::error("the profile changed while it was loaded; run it again"));
    }
    check_lock(lock.as_ref(), path, &loaded, &sources, &images)?;
    let map: Images = sources.iter().zip(&images).map(|(s, r)| (s.clone(), r.layers.clone())).collect();
    let bundle = sandbox::compile::compile_with(model, host, &map);
    Ok(Ready { bundle, images })
}

/// The profile as [`ready`] loads it, for `explain`: with its images'
/// configs below it when it is valid and they resolve (a failure to
/// resolve is printed, and the profile shown without them).
pub fn loaded(path: &Path, host: &HostContext, overrides: &Overrides) -> Loaded {
    let loaded = load_profile_over(Some(path), host, overrides, &[]);
    let sources = loaded.model.as_ref().map(image_sources).unwrap_or_default();
    if sources.is_empty() {
        return loaded;
    }
    let below =
        resolve_all(&sources, Fetch::Missing, false).map_err(|e| e.to_string()).and_then(|i| configs(&i));
    match below {
        Ok(below) => load_profile_over(Some(path), host, overrides, &below),
        Err(e) => {
            report::error(&e);
            loaded
        }
    }
}

/// The model's image layers, each once, bottom first.
pub fn image_sources(model: &Model) -> Vec<Source> {
    let mut out: Vec<Source> = Vec::new();
    for layer in &model.rootfs.layers {
        if let Layer::Image(s) = layer {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
    }
    out
}

/// Resolve every source in the default store, one progress line per layer
/// (none with `quiet`).
pub fn resolve_all(sources: &[Source], fetch: Fetch, quiet: bool) -> sandbox::error::Result<Vec<Resolved>> {
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    let store = Store::open(&Store::default_root())?;
    let mut progress = crate::cli::progress::Shown::new(quiet);
    sources.iter().map(|s| resolve::resolve(&store, s, fetch, &mut progress)).collect()
}

/// Each image's config as a source below the profile, bottom image first
/// (a higher image's config overrides a lower one's, as its layers do).
fn configs(images: &[Resolved]) -> Result<Vec<Below>, String> {
    let mut below = Vec::new();
    for image in images {
        let Some(config) = &image.config else { continue };
        let text = sandbox::image::config::defaults(config, &image.layers)
            .map_err(|e| format!("{}: {e}", image.source))?;
        below.push(Below { label: sandbox::image::config::label(&image.source.to_string()), text });
    }
    Ok(below)
}

/// With `--locked`, refuse any difference between the lock and what
/// `loaded` and `images` are.
fn check_lock(
    lock: Option<&Lock>,
    path: Option<&Path>,
    loaded: &Loaded,
    sources: &[Source],
    images: &[Resolved],
) -> Result<(), ExitCode> {
    let (Some(lock), Some(p)) = (lock, path) else { return Ok(()) };
    let drift = lock.drift(&current_lock(p, loaded, sources, images));
    if drift.is_empty() {
        return Ok(());
    }
    let fix = format!("review the change, then `sandbox lock {}`", p.display());
    Err(report::error(&format!(
        "--locked: {} differs from its lock:\n  {}\n({fix})",
        p.display(),
        drift.join("\n  ")
    )))
}

fn read_lock(profile: &Path) -> Result<Lock, ExitCode> {
    let path = lock::path_of(profile);
    match Lock::read(&path) {
        Ok(Some(l)) => Ok(l),
        Ok(None) => Err(report::error(&format!(
            "--locked: {} has no lock ({} is missing; write it with `sandbox lock {}`)",
            profile.display(),
            path.display(),
            profile.display()
        ))),
        Err(e) => Err(report::error(&e.to_string())),
    }
}

/// `sources` with each registry tag pinned to its locked digest.
fn pinned(sources: &[Source], lock: Option<&Lock>, profile: Option<&Path>) -> Vec<Source> {
    let base = profile.and_then(Path::parent).unwrap_or(Path::new("/"));
    let base = std::path::absolute(base).unwrap_or_default();
    sources
        .iter()
        .map(|s| match (s, lock.and_then(|l| l.images.get(&lock::key(s, &base)))) {
            (Source::Registry(r), Some(d)) if r.digest.is_none() => {
                Source::Registry(RegistryRef { digest: Some(d.clone()), ..r.clone() })
            }
            _ => s.clone(),
        })
        .collect()
}

/// The lock `profile` has now: its images' digests and its files'.
pub fn current_lock(profile: &Path, loaded: &Loaded, sources: &[Source], images: &[Resolved]) -> Lock {
    let base = std::path::absolute(profile.parent().unwrap_or(Path::new("."))).unwrap_or_default();
    let mut out = Lock::default();
    for (source, image) in sources.iter().zip(images) {
        out.images.insert(lock::key(source, &base), image.digest.clone());
    }
    for file in loaded.sources.files().filter(|f| f.label.is_none()) {
        let path = std::path::absolute(&file.path).unwrap_or_else(|_| file.path.clone());
        out.files.insert(lock::file_key(&path, &base), Digest::of(file.text.as_bytes()));
    }
    out
}
