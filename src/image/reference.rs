//! Layer sources as a profile writes them, with the transport names skopeo
//! and podman use: `oci:PATH[:TAG]`, `oci-archive:PATH[:TAG]`,
//! `docker-archive:PATH[:REPO:TAG]`, `docker://HOST/REPO[:TAG][@DIGEST]`,
//! `tar:PATH`. Pure: parsing only; paths are resolved by the caller.

use std::fmt;
use std::path::PathBuf;

use super::digest::Digest;

/// Where an image's (or a root tarball's) bytes come from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// An OCI image layout directory; `tag`: the index entry's
    /// `org.opencontainers.image.ref.name` (the only entry when absent).
    Oci {
        path: PathBuf,
        tag: Option<String>,
    },
    /// The same layout as a tar file.
    OciArchive {
        path: PathBuf,
        tag: Option<String>,
    },
    /// `docker save` output; `name`: one of its `RepoTags`.
    DockerArchive {
        path: PathBuf,
        name: Option<String>,
    },
    Registry(RegistryRef),
    /// A root file system as one tarball (plain, gzip, zstd or xz).
    Tar {
        path: PathBuf,
    },
}

/// `HOST/REPO[:TAG][@sha256:…]`, with docker's defaults filled in: no host
/// means Docker Hub (`docker.io`, and `library/` for a one-part name), no
/// tag and no digest means `latest`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistryRef {
    pub host: String,
    pub repo: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// The transports, for messages.
pub const SCHEMES: &str = "oci:, oci-archive:, docker-archive:, docker://, tar:";

impl Source {
    /// `Ok(None)`: not an image or archive (no known scheme); `Err`: a known
    /// scheme written wrong, with what is wrong.
    pub fn parse(text: &str) -> Result<Option<Source>, String> {
        let Some((scheme, rest)) = text.split_once(':') else { return Ok(None) };
        let (path, extra) = match rest.split_once(':') {
            Some((p, e)) => (p, Some(e.to_owned())),
            None => (rest, None),
        };
        let need_path = |p: &str| {
            if p.is_empty() { Err(format!("`{scheme}:` needs a path")) } else { Ok(PathBuf::from(p)) }
        };
        let source = match scheme {
            "oci" => Source::Oci { path: need_path(path)?, tag: nonempty(extra, "tag")? },
            "oci-archive" => Source::OciArchive { path: need_path(path)?, tag: nonempty(extra, "tag")? },
            "docker-archive" => {
                Source::DockerArchive { path: need_path(path)?, name: nonempty(extra, "name")? }
            }
            "tar" => Source::Tar { path: need_path(rest)? },
            "docker" => match rest.strip_prefix("//") {
                Some(r) => Source::Registry(RegistryRef::parse(r)?),
                None => return Err("write a registry image as docker://HOST/REPO[:TAG]".to_owned()),
            },
            _ => return Ok(None),
        };
        Ok(Some(source))
    }

    /// The local file or directory it reads, if any.
    pub fn path(&self) -> Option<&PathBuf> {
        match self {
            Source::Oci { path, .. }
            | Source::OciArchive { path, .. }
            | Source::DockerArchive { path, .. }
            | Source::Tar { path } => Some(path),
            Source::Registry(_) => None,
        }
    }

    /// The same source with its path replaced (made absolute by the caller).
    #[must_use]
    pub fn with_path(&self, new: PathBuf) -> Source {
        let mut out = self.clone();
        match &mut out {
            Source::Oci { path, .. }
            | Source::OciArchive { path, .. }
            | Source::DockerArchive { path, .. }
            | Source::Tar { path } => *path = new,
            Source::Registry(_) => {}
        }
        out
    }

    /// Whether it brings an image config (defaults for the process).
    pub fn has_config(&self) -> bool {
        !matches!(self, Source::Tar { .. })
    }
}

fn nonempty(part: Option<String>, what: &str) -> Result<Option<String>, String> {
    match part {
        Some(p) if p.is_empty() => Err(format!("empty {what} after `:`")),
        other => Ok(other),
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with = |f: &mut fmt::Formatter<'_>, scheme: &str, path: &PathBuf, extra: &Option<String>| {
            write!(f, "{scheme}:{}", path.display())?;
            extra.as_ref().map_or(Ok(()), |e| write!(f, ":{e}"))
        };
        match self {
            Source::Oci { path, tag } => with(f, "oci", path, tag),
            Source::OciArchive { path, tag } => with(f, "oci-archive", path, tag),
            Source::DockerArchive { path, name } => with(f, "docker-archive", path, name),
            Source::Tar { path } => write!(f, "tar:{}", path.display()),
            Source::Registry(r) => write!(f, "docker://{r}"),
        }
    }
}

impl RegistryRef {
    pub fn parse(text: &str) -> Result<RegistryRef, String> {
        let (name, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d, "the image reference").map_err(|e| e.to_string())?)),
            None => (text, None),
        };
        // A tag follows the last `:` after the last `/` (a port is in the host).
        let slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[slash..].rfind(':') {
            Some(i) => (&name[..slash + i], Some(name[slash + i + 1..].to_owned())),
            None => (name, None),
        };
        let (host, repo) = match name.split_once('/') {
            Some((h, r)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (h.to_owned(), r.to_owned())
            }
            Some(_) => ("docker.io".to_owned(), name.to_owned()),
            None => ("docker.io".to_owned(), format!("library/{name}")),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(format!("`{t}` is not a tag: letters, digits, `.`, `_`, `-`, at most 128"));
            }
        }
        let repo_ok = !repo.is_empty()
            && repo.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                    && part.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            });
        if !repo_ok {
            return Err(format!(
                "`{repo}` is not a repository name: lowercase letters, digits, `.`, `_`, `-`, parts split by `/`"
            ));
        }
        let host_ok =
            !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if !host_ok {
            return Err(format!("`{host}` is not a registry host"));
        }
        let tag = if tag.is_none() && digest.is_none() { Some("latest".to_owned()) } else { tag };
        Ok(RegistryRef { host, repo, tag, digest })
    }

    /// What to ask the registry's manifest endpoint for: the digest when
    /// pinned (the tag is then only a label), else the tag.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The host without its port, for the loopback check.
    pub fn hostname(&self) -> &str {
        let h = self.host.as_str();
        if let Some(rest) = h.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        h.rsplit_once(':').map_or(h, |(name, _)| name)
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.repo)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(text: &str) -> RegistryRef {
        match Source::parse(text).unwrap().unwrap() {
            Source::Registry(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn transports() {
        assert_eq!(
            Source::parse("oci:img:v1").unwrap(),
            Some(Source::Oci { path: "img".into(), tag: Some("v1".into()) })
        );
        assert_eq!(
            Source::parse("docker-archive:a.tar:busybox:1").unwrap(),
            Some(Source::DockerArchive { path: "a.tar".into(), name: Some("busybox:1".into()) })
        );
        assert_eq!(
            Source::parse("tar:root.tar.gz").unwrap(),
            Some(Source::Tar { path: "root.tar.gz".into() })
        );
        assert_eq!(Source::parse("host:/").unwrap(), None);
        assert_eq!(Source::parse("/srv/root").unwrap(), None);
        assert!(Source::parse("oci:").is_err());
        assert!(Source::parse("oci:img:").is_err());
        assert!(Source::parse("docker:busybox").is_err());
    }

    #[test]
    fn registry_refs_get_dockers_defaults() {
        let r = reg("docker://busybox");
        assert_eq!(
            (r.host.as_str(), r.repo.as_str(), r.tag.as_deref()),
            ("docker.io", "library/busybox", Some("latest"))
        );
        let r = reg("docker://127.0.0.1:5000/team/tools:1.2");
        assert_eq!(
            (r.host.as_str(), r.repo.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "team/tools", Some("1.2"))
        );
        assert_eq!(r.hostname(), "127.0.0.1");
        let pinned = format!("docker://localhost:5000/a@sha256:{}", "a".repeat(64));
        let r = reg(&pinned);
        assert_eq!((r.tag.as_deref(), r.reference().len()), (None, 71));
        assert_eq!(r.to_string(), pinned.trim_start_matches("docker://"));
        assert_eq!(reg("docker://[::1]:5000/a").hostname(), "::1");
        for bad in ["docker://A/B", "docker://h.io/a:b c", "docker://h.io/../x", "docker://h.io/a@sha256:zz"]
        {
            assert!(Source::parse(bad).is_err(), "{bad}");
        }
    }
}
