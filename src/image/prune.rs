//! `prune`: remove the records not used since a time, then every layer and
//! blob no remaining record names — never a layer a sandbox holds (its
//! launcher or monitor keeps a shared lock on it while it runs).

use std::collections::BTreeSet;

use super::digest::Digest;
use super::store::Store;
use crate::error::{Result, SetupError};

/// What `prune` removed and kept.
#[derive(Debug, Default)]
pub struct Pruned {
    pub images: Vec<String>,
    pub layers: usize,
    pub bytes: u64,
    /// Images kept because a running sandbox holds one of their layers.
    pub in_use: Vec<String>,
}

/// Remove images last used before `before` (seconds since the epoch; all
/// with `u64::MAX`) and what only they used.
pub fn prune(store: &Store, before: u64) -> Result<Pruned> {
    let _exclusive = store.lock(true)?;
    let mut out = Pruned::default();
    let mut kept_layers = BTreeSet::new();
    let mut kept_blobs = BTreeSet::new();
    for (record, used, path) in store.records() {
        let held = record.layers.iter().any(|l| store.is_held(l));
        if used >= before || held {
            if held && used < before {
                out.in_use.push(record.reference.clone());
            }
            kept_layers.extend(record.layers.iter().cloned());
            kept_blobs.extend(record.config.iter().cloned());
            continue;
        }
        std::fs::remove_file(&path)
            .map_err(|e| SetupError::io(format!("remove the record of {}", record.reference), &e))?;
        out.images.push(record.reference);
    }
    for layer in store.layers() {
        if kept_layers.contains(&layer) {
            continue;
        }
        let size = super::tree::tree_size(&store.layer_path(&layer));
        if store.remove_layer(&layer)? {
            out.layers += 1;
            out.bytes += size;
        }
    }
    remove_blobs(store, &kept_blobs)?;
    Ok(out)
}

fn remove_blobs(store: &Store, kept: &BTreeSet<Digest>) -> Result<()> {
    for blob in store.blobs() {
        if !kept.contains(&blob) {
            std::fs::remove_file(store.blob_path(&blob))
                .map_err(|e| SetupError::io(format!("remove blob {blob}"), &e))?;
        }
    }
    Ok(())
}
