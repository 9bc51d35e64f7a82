//! An OCI image layout (`oci:` a directory, `oci-archive:` a tar of one):
//! `index.json` names the images by `org.opencontainers.image.ref.name`,
//! blobs are `blobs/sha256/HEX`.

use super::files::{Files, read_small};
use super::{Plan, PlannedLayer};
use crate::error::{Result, SetupError};
use crate::image::digest::Digest;
use crate::image::manifest::{self, Config, Descriptor, Index, Manifest};
use crate::image::store::MAX_SMALL_BLOB;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The image `tag` (or the only one) of the layout `files`, named `what`.
pub fn plan(files: &dyn Files, tag: Option<&str>, what: &str) -> Result<Plan> {
    let layout = read_small(files, "oci-layout", 4096)
        .map_err(|e| e.fix(format!("is {what} an OCI image layout?")))?;
    if !String::from_utf8_lossy(&layout).contains("\"1.0.0\"") {
        return Err(SetupError::new(format!("read {what}")).detail("its oci-layout is not version 1.0.0"));
    }
    let index: Index =
        manifest::parse(&read_small(files, "index.json", MAX_SMALL_BLOB)?, &format!("{what} index.json"))?;
    let entry = pick(&index, tag, what)?;
    let (digest, bytes) = manifest_for(files, entry, what, 0)?;
    plan_manifest(digest, &bytes, what, &mut |d, size, what| blob(files, d, size, what))
}

/// Reads a small blob (`digest`, its `size`, named `what`) and verifies it.
pub type FetchSmall<'a> = dyn FnMut(&Digest, u64, &str) -> Result<Vec<u8>> + 'a;

/// The plan of the image manifest `bytes` (verified to be `digest`);
/// `fetch` reads a small blob and verifies it.
pub fn plan_manifest(digest: Digest, bytes: &[u8], what: &str, fetch: &mut FetchSmall<'_>) -> Result<Plan> {
    let manifest: Manifest = manifest::parse(bytes, &format!("the manifest of {what}"))?;
    let config = manifest.config.digest(&format!("the config of {what}"))?;
    let config_bytes = fetch(&config, manifest.config.size, &format!("the config of {what}"))?;
    let parsed: Config = manifest::parse(&config_bytes, &format!("the config of {what}"))?;
    let diff_ids = manifest::diff_ids(&parsed, manifest.layers.len(), &format!("the config of {what}"))?;
    let mut layers = Vec::new();
    for (i, (layer, diff_id)) in manifest.layers.iter().zip(diff_ids).enumerate() {
        let d = layer.digest(&format!("layer {} of {what}", i + 1))?;
        layers.push(PlannedLayer {
            name: format!("blobs/sha256/{}", d.hex()),
            blob: Some((d, layer.size)),
            diff_id,
        });
    }
    Ok(Plan { digest, config, config_bytes, layers })
}

/// The index entry tagged `tag`; without a tag, the only entry.
fn pick<'a>(index: &'a Index, tag: Option<&str>, what: &str) -> Result<&'a Descriptor> {
    let tags: Vec<&str> =
        index.manifests.iter().filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str)).collect();
    let found = match tag {
        Some(t) => index.manifests.iter().find(|d| d.annotations.get(REF_NAME).is_some_and(|n| n == t)),
        None if index.manifests.len() == 1 => index.manifests.first(),
        None => None,
    };
    found.ok_or_else(|| {
        let has = if tags.is_empty() { "no tags".to_owned() } else { format!("tags {}", tags.join(", ")) };
        let asked = tag.map_or_else(|| "one image (it has several)".to_owned(), |t| format!("tag `{t}`"));
        SetupError::new(format!("find {asked} in {what}"))
            .detail(format!("its index has {has}"))
            .fix("write oci:PATH:TAG with one of its tags")
    })
}

/// The image manifest `entry` points at, through nested indexes.
fn manifest_for(files: &dyn Files, entry: &Descriptor, what: &str, depth: u8) -> Result<(Digest, Vec<u8>)> {
    let digest = entry.digest(&format!("a manifest of {what}"))?;
    let bytes = blob(files, &digest, entry.size, &format!("manifest {digest} of {what}"))?;
    if !entry.is_index() {
        return Ok((digest, bytes));
    }
    if depth > 2 {
        return Err(SetupError::new(format!("read {what}")).detail("indexes nested more than 3 deep"));
    }
    let index: Index = manifest::parse(&bytes, &format!("index {digest} of {what}"))?;
    let entry =
        manifest::choose(&index.manifests, &manifest::descriptor_platform, manifest::this_arch(), what)?;
    manifest_for(files, entry, what, depth + 1)
}

/// A small blob, verified against its digest.
pub fn blob(files: &dyn Files, digest: &Digest, size: u64, what: &str) -> Result<Vec<u8>> {
    if size > MAX_SMALL_BLOB {
        return Err(SetupError::new(format!("read {what}"))
            .detail(format!("{size} bytes, more than a manifest or config may have")));
    }
    let bytes = read_small(files, &format!("blobs/sha256/{}", digest.hex()), MAX_SMALL_BLOB)?;
    let got = Digest::of(&bytes);
    if got != *digest {
        return Err(SetupError::new(format!("verify {what}"))
            .detail(format!("its content is {got}, not {digest}: it was altered or damaged")));
    }
    Ok(bytes)
}
