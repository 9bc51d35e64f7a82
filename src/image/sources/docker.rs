//! A `docker save` archive: `manifest.json` lists its images (`RepoTags`,
//! the config file, the layer tars, uncompressed); the config's digest is
//! docker's image id, and each layer tar must hash to its diff-id.

use serde::Deserialize;

use super::files::{Files, read_small};
use super::{Plan, PlannedLayer};
use crate::error::{Result, SetupError};
use crate::image::digest::Digest;
use crate::image::manifest::{self, Config};
use crate::image::store::MAX_SMALL_BLOB;

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// The image `name` (one of its `RepoTags`; without a name, the only image).
pub fn plan(files: &dyn Files, name: Option<&str>, what: &str) -> Result<Plan> {
    let entries: Vec<Entry> = manifest::parse(
        &read_small(files, "manifest.json", MAX_SMALL_BLOB)
            .map_err(|e| e.fix(format!("is {what} a `docker save` archive?")))?,
        &format!("{what} manifest.json"),
    )?;
    let entry = pick(&entries, name, what)?;
    let config_bytes = read_small(files, &entry.config, MAX_SMALL_BLOB)?;
    let config = Digest::of(&config_bytes);
    // Newer archives name the config by its digest: it must be that.
    let named = entry.config.trim_end_matches(".json").rsplit('/').next().unwrap_or_default();
    if named.len() == 64 && named != config.hex() {
        return Err(SetupError::new(format!("verify the config of {what}"))
            .detail(format!("{} hashes to {config}: it was altered or damaged", entry.config)));
    }
    let parsed: Config = manifest::parse(&config_bytes, &format!("the config of {what}"))?;
    let diff_ids = manifest::diff_ids(&parsed, entry.layers.len(), &format!("the config of {what}"))?;
    let layers = entry
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(name, diff_id)| PlannedLayer { diff_id, blob: None, name: name.clone() })
        .collect();
    Ok(Plan { digest: config.clone(), config, config_bytes, layers })
}

fn pick<'a>(entries: &'a [Entry], name: Option<&str>, what: &str) -> Result<&'a Entry> {
    let tags = |e: &'a Entry| e.repo_tags.iter().flatten().map(String::as_str);
    let found = match name {
        Some(n) => entries.iter().find(|e| {
            tags(e).any(|t| {
                t == n
                    || t.strip_prefix("docker.io/library/") == Some(n)
                    || t.strip_prefix("docker.io/") == Some(n)
            })
        }),
        None if entries.len() == 1 => entries.first(),
        None => None,
    };
    found.ok_or_else(|| {
        let all: Vec<&str> = entries.iter().flat_map(tags).collect();
        let asked = name.map_or_else(|| "one image (it has several)".to_owned(), |n| format!("image `{n}`"));
        SetupError::new(format!("find {asked} in {what}"))
            .detail(format!(
                "it has {}",
                if all.is_empty() { "no tagged images".to_owned() } else { all.join(", ") }
            ))
            .fix("write docker-archive:PATH:REPO:TAG with one of them")
    })
}
