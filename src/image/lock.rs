//! `PROFILE.lock`: the digest of every image and archive a profile resolves
//! and of every file it extends, so a team's profile runs the same bytes on
//! every machine. References and paths are written as the profile's
//! directory sees them, so the lock is the same on every checkout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::digest::Digest;
use super::reference::Source;
use crate::error::{Result, SetupError};

const HEADER: &str = "# Written by `sandbox lock`: the exact bytes this profile runs.\n\
# `sandbox run --locked` refuses anything else; `sandbox lock` again after reviewing a change.\n";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// Image reference (relative to the profile's directory) → digest.
    #[serde(default)]
    pub images: BTreeMap<String, Digest>,
    /// Profile file (relative to the profile's directory) → digest of its text.
    #[serde(default)]
    pub files: BTreeMap<String, Digest>,
}

/// Where the lock of `profile` lives: `p.toml` → `p.toml.lock`.
pub fn path_of(profile: &Path) -> PathBuf {
    let mut name = profile.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// `source` as the profile's directory `base` sees it.
pub fn key(source: &Source, base: &Path) -> String {
    match source.path().and_then(|p| p.strip_prefix(base).ok()) {
        Some(rel) => source.with_path(rel.to_path_buf()).to_string(),
        None => source.to_string(),
    }
}

/// A file's name as the profile's directory `base` sees it.
pub fn file_key(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).display().to_string()
}

impl Lock {
    pub fn read(path: &Path) -> Result<Option<Lock>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SetupError::io(format!("read {}", path.display()), &e)),
        };
        toml::from_str(&text).map(Some).map_err(|e| {
            SetupError::new(format!("read {}", path.display()))
                .detail(e.message().to_owned())
                .fix("write it again with `sandbox lock PROFILE`")
        })
    }

    /// Write atomically (a temporary file beside it, then a rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = format!(
            "{HEADER}{}",
            toml::to_string(self).map_err(|e| SetupError::new("write the lock").detail(e.to_string()))?
        );
        let tmp = path_of(&path.with_extension(format!("tmp.{}", std::process::id())));
        // A new file, never one already there: the profile's directory is a
        // checkout a pull request fills, and a symlink planted at this
        // (guessable) name must not have the lock written through it.
        let write = || {
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            std::io::Write::write_all(&mut file, text.as_bytes())?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                let _ = std::fs::remove_file(&tmp);
            }
            SetupError::io(format!("write {}", path.display()), &e)
        })
    }

    /// Every difference between what `self` pins and `now`, one line each:
    /// the reference or file and both digests.
    pub fn drift(&self, now: &Lock) -> Vec<String> {
        let mut out = Vec::new();
        compare(&mut out, "image", &self.images, &now.images);
        compare(&mut out, "file", &self.files, &now.files);
        out
    }
}

fn compare(
    out: &mut Vec<String>,
    kind: &str,
    locked: &BTreeMap<String, Digest>,
    now: &BTreeMap<String, Digest>,
) {
    for (name, digest) in now {
        match locked.get(name) {
            Some(l) if l == digest => {}
            Some(l) => out.push(format!("{kind} {name}: locked {l}, now {digest}")),
            None => out.push(format!("{kind} {name}: not in the lock (now {digest})")),
        }
    }
    for (name, digest) in locked {
        if !now.contains_key(name) {
            out.push(format!("{kind} {name}: locked {digest}, no longer used"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_names_each_change_with_both_digests() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let locked = Lock {
            images: [("oci:img:1".into(), a.clone())].into(),
            files: [("base.toml".into(), a.clone())].into(),
        };
        let now = Lock {
            images: [("oci:img:1".into(), b.clone())].into(),
            files: [("other.toml".into(), a.clone())].into(),
        };
        let drift = locked.drift(&now);
        assert_eq!(drift.len(), 3, "{drift:?}");
        assert!(drift[0].contains(&a.to_string()) && drift[0].contains(&b.to_string()), "{drift:?}");
        assert!(locked.drift(&locked).is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml.lock");
        locked.write(&path).unwrap();
        assert_eq!(Lock::read(&path).unwrap(), Some(locked));
    }

    #[test]
    fn keys_are_relative_to_the_profile() {
        let s = Source::Oci { path: "/srv/team/img".into(), tag: Some("1".into()) };
        assert_eq!(key(&s, Path::new("/srv/team")), "oci:img:1");
        assert_eq!(key(&s, Path::new("/elsewhere")), "oci:/srv/team/img:1");
    }

    #[test]
    fn a_symlink_at_the_temporary_name_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("bashrc");
        std::fs::write(&victim, "keep\n").unwrap();
        let path = dir.path().join("p.toml.lock");
        let tmp = dir.path().join(format!("p.toml.tmp.{}.lock", std::process::id()));
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        assert!(Lock::default().write(&path).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
        assert!(!path.exists());
    }
}
