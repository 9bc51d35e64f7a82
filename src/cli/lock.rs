//! `sandbox lock PROFILE`: write PROFILE.lock, the digest of every image
//! and archive the profile resolves and of every file it is made of.
//! `check` says when a lock no longer matches (`stale`).

use std::path::Path;
use std::process::ExitCode;

use sandbox::image::lock::{self, Lock};
use sandbox::image::resolve::Fetch;
use sandbox::profile::host::HostContext;
use sandbox::profile::load_profile_over;
use sandbox::profile::overrides::Overrides;

use crate::cli::images::{current_lock, image_sources, resolve_all};
use crate::cli::report;

pub fn run(profile: &Path, quiet: bool, host: &HostContext) -> ExitCode {
    let loaded = load_profile_over(Some(profile), host, &Overrides::default(), &[]);
    let Some(model) = &loaded.model else { return report::diagnostics(&loaded) };
    let sources = image_sources(model);
    let images = match resolve_all(&sources, Fetch::Missing, quiet) {
        Ok(i) => i,
        Err(e) => return report::error(&e.to_string()),
    };
    let path = lock::path_of(profile);
    match current_lock(profile, &loaded, &sources, &images).write(&path) {
        Ok(()) => report::out(&format!("wrote {}\n", path.display())),
        Err(e) => report::error(&e.to_string()),
    }
}

/// `check`'s look at a profile's lock: its drift, using only what is at
/// hand (the files, and images the store already has: no pull). `None`:
/// no lock.
pub fn stale(profile: &Path, host: &HostContext) -> Option<Vec<String>> {
    let locked = Lock::read(&lock::path_of(profile)).ok()??;
    let loaded = load_profile_over(Some(profile), host, &Overrides::default(), &[]);
    let sources = loaded.model.as_ref().map(image_sources).unwrap_or_default();
    let mut now = current_lock(profile, &loaded, &[], &[]);
    let store = sandbox::image::store::Store::existing(&sandbox::image::store::Store::default_root());
    let base = std::path::absolute(profile.parent().unwrap_or(Path::new("."))).unwrap_or_default();
    // An image the store lacks is taken as locked; one the lock lacks too
    // is drift of its own (not a reason to skip the whole check: a change
    // adding an image nobody pulled yet is exactly what `check` is for).
    let mut unpinned = Vec::new();
    for source in &sources {
        let key = lock::key(source, &base);
        match store.as_ref().and_then(|s| s.record(&source.to_string())) {
            Some(record) => drop(now.images.insert(key, record.digest)),
            None => match locked.images.get(&key) {
                Some(digest) => drop(now.images.insert(key, digest.clone())),
                None => unpinned.push(format!("image {key}: not in the lock (not pulled: no digest yet)")),
            },
        }
    }
    let mut drift = locked.drift(&now);
    drift.extend(unpinned);
    Some(drift)
}
