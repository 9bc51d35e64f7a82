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

/// This machine's OCI architecture name.
pub fn this_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        other => other,
    }
}

/// An index entry's platform: os, architecture, variant.
pub type PlatformOf<'t, T> = dyn Fn(&T) -> Option<(&str, &str, Option<&str>)> + 't;

/// The entry of an index (OCI or a docker manifest list, from a layout or
/// a registry) for `linux`/`arch`: one without a variant (or arm64's `v8`)
/// if several match; an error listing the platforms it has if none does.
pub fn choose<'a, T>(
    entries: &'a [T],
    platform: &PlatformOf<'_, T>,
    arch: &str,
    what: &str,
) -> Result<&'a T> {
    let fits = |e: &&T| platform(e).is_some_and(|(os, a, _)| os == "linux" && a == arch);
    let plain = |e: &&T| platform(e).and_then(|(_, _, v)| v).is_none_or(|v| arch == "arm64" && v == "v8");
    let matching: Vec<&T> = entries.iter().filter(fits).collect();
    if let Some(chosen) = matching.iter().copied().find(plain).or(matching.first().copied()) {
        return Ok(chosen);
    }
    let has: Vec<String> = entries
        .iter()
        .filter_map(platform)
        .map(|(os, a, v)| format!("{os}/{a}{}", v.map(|v| format!("/{v}")).unwrap_or_default()))
        .filter(|p| p != "unknown/unknown")
        .collect();
    Err(SetupError::new(format!("choose the image for linux/{arch} in {what}"))
        .detail(format!(
            "it has only {}",
            if has.is_empty() { "no platforms".to_owned() } else { has.join(", ") }
        ))
        .fix("use an image built for this machine's architecture"))
}

/// A layout's index entry's platform, for [`choose`].
pub fn descriptor_platform(d: &Descriptor) -> Option<(&str, &str, Option<&str>)> {
    d.platform.as_ref().map(|p| (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()))
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
