//! The image JSON documents we read (OCI and Docker v2 schema 2 share these
//! shapes): indexes, manifests, configs. Small serde structs of our own,
//! lenient about fields we do not use, strict about the ones we do.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::digest::Digest;
use crate::error::{Result, SetupError};

#[derive(Clone, Debug, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn digest(&self, what: &str) -> Result<Digest> {
        Digest::parse(&self.digest, what)
    }

    /// An index (OCI or a Docker manifest list) rather than an image manifest.
    pub fn is_index(&self) -> bool {
        self.media_type.ends_with("image.index.v1+json") || self.media_type.ends_with("manifest.list.v2+json")
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
pub struct Manifest {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub config: Option<ProcessConfig>,
    pub rootfs: RootFs,
}

#[derive(Debug, Deserialize)]
pub struct RootFs {
    pub diff_ids: Vec<String>,
}

/// What an image says its process should be.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ProcessConfig {
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", default)]
    pub working_dir: Option<String>,
    #[serde(rename = "User", default)]
    pub user: Option<String>,
}

/// Parse a JSON document of an image, naming it in the error.
pub fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| SetupError::new(format!("read {what}")).detail(e.to_string()))
}

/// The OCI names of this machine's platform.
pub fn this_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    ("linux", arch)
}

/// The entry of `index` for this machine, or an error listing what it has.
pub fn choose<'a>(index: &'a Index, what: &str) -> Result<&'a Descriptor> {
    let (os, arch) = this_platform();
    let fits = |d: &&Descriptor| d.platform.as_ref().is_some_and(|p| p.os == os && p.architecture == arch);
    if let Some(found) = index.manifests.iter().find(fits) {
        return Ok(found);
    }
    let has: Vec<String> = index
        .manifests
        .iter()
        .map(|d| {
            d.platform
                .as_ref()
                .map_or_else(|| "(no platform)".to_owned(), |p| format!("{}/{}", p.os, p.architecture))
        })
        .collect();
    Err(SetupError::new(format!("choose the {os}/{arch} image in {what}"))
        .detail(format!("it has {}", if has.is_empty() { "no images".to_owned() } else { has.join(", ") })))
}

/// The diff-ids a config lists, one per layer of `manifest`.
pub fn diff_ids(config: &Config, layers: usize, what: &str) -> Result<Vec<Digest>> {
    if config.rootfs.diff_ids.len() != layers {
        return Err(SetupError::new(format!("read {what}")).detail(format!(
            "its config lists {} layer diff-ids for {layers} layers",
            config.rootfs.diff_ids.len()
        )));
    }
    config.rootfs.diff_ids.iter().map(|d| Digest::parse(d, what)).collect()
}
