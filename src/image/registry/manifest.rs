//! Manifests as a registry serves them: which kind a body is, and the
//! index entry for this machine. Small serde structs of our own, lenient
//! where it is harmless (unknown fields, entries we will not pick) and
//! strict where it matters (the chosen entry's digest).

use serde::Deserialize;

use crate::error::{Result, SetupError};
use crate::image::digest::Digest;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The Accept header: the four kinds we can use, images first.
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    Image,
    Index,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    layers: Option<serde::de::IgnoredAny>,
}

/// What `bytes` is: by the Content-Type the registry sent, else by its own
/// `mediaType`, else by its shape (an OCI index may omit `mediaType`).
pub fn kind(content_type: Option<&str>, bytes: &[u8], what: &str) -> Result<Kind> {
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|e| SetupError::new(format!("read {what}")).detail(format!("not a JSON manifest: {e}")))?;
    let by_type = |t: &str| match t.split(';').next().unwrap_or_default().trim() {
        OCI_INDEX | DOCKER_LIST => Some(Kind::Index),
        OCI_MANIFEST | DOCKER_MANIFEST => Some(Kind::Image),
        _ => None,
    };
    let kind = content_type.and_then(by_type).or_else(|| probe.media_type.as_deref().and_then(by_type));
    match kind {
        Some(k) => Ok(k),
        None if probe.manifests.is_some() => Ok(Kind::Index),
        None if probe.layers.is_some() => Ok(Kind::Image),
        None => Err(SetupError::new(format!("read {what}")).detail(format!(
            "its media type is {}, which is neither an OCI nor a docker v2 schema 2 image or index",
            probe.media_type.or(content_type.map(str::to_owned)).unwrap_or_else(|| "missing".to_owned())
        ))),
    }
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize, Default)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

/// The digest of the entry of an index for `linux`/`arch` (see
/// [`crate::image::manifest::choose`]).
pub fn choose(bytes: &[u8], arch: &str, what: &str) -> Result<Digest> {
    let index: Index = serde_json::from_slice(bytes)
        .map_err(|e| SetupError::new(format!("read {what}")).detail(format!("not an image index: {e}")))?;
    let chosen = crate::image::manifest::choose(&index.manifests, &entry_platform, arch, what)?;
    Digest::parse(&chosen.digest, &format!("the linux/{arch} entry of {what}"))
}

fn entry_platform(e: &Entry) -> Option<(&str, &str, Option<&str>)> {
    e.platform.as_ref().map(|p| (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(&str, &str, Option<&str>)]) -> String {
        let list: Vec<String> = entries
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant))| {
                let v = variant.map(|v| format!(r#","variant":"{v}""#)).unwrap_or_default();
                format!(r#"{{"digest":"sha256:{}","size":1,"platform":{{"os":"{os}","architecture":"{arch}"{v}}},"x":[]}}"#, i.to_string().repeat(64))
            })
            .collect();
        format!(r#"{{"schemaVersion":2,"manifests":[{}],"annotations":{{}}}}"#, list.join(","))
    }

    #[test]
    fn chooses_this_platform() {
        let idx =
            index(&[("linux", "arm", Some("v7")), ("linux", "arm64", Some("v8")), ("linux", "amd64", None)]);
        assert_eq!(choose(idx.as_bytes(), "amd64", "i").unwrap().hex(), "2".repeat(64));
        assert_eq!(choose(idx.as_bytes(), "arm64", "i").unwrap().hex(), "1".repeat(64));
        let err = choose(idx.as_bytes(), "s390x", "i").unwrap_err().to_string();
        assert!(err.contains("linux/arm/v7, linux/arm64/v8, linux/amd64"), "{err}");
        let bad = index(&[("linux", "amd64", None)]).replace(&"0".repeat(64), "../x");
        assert!(choose(bad.as_bytes(), "amd64", "i").is_err());
    }

    #[test]
    fn kinds() {
        assert_eq!(kind(Some(DOCKER_LIST), b"{}", "m").unwrap(), Kind::Index);
        assert_eq!(kind(Some("text/plain"), br#"{"manifests":[]}"#, "m").unwrap(), Kind::Index);
        assert_eq!(
            kind(None, format!(r#"{{"mediaType":"{OCI_MANIFEST}"}}"#).as_bytes(), "m").unwrap(),
            Kind::Image
        );
        let v1 =
            br#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#;
        assert!(kind(None, v1, "m").unwrap_err().to_string().contains("v1+prettyjws"));
        assert!(kind(None, b"[", "m").is_err());
    }
}
