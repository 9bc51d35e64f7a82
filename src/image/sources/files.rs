//! The files of an OCI layout or an image archive, by their name inside
//! it: a directory, or an uncompressed tar read in place (one pass over its
//! headers, then each file by its offset — no copy of the archive).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use crate::error::{Result, SetupError};

/// More entries than this in an image archive is not an image.
const MAX_ARCHIVE_ENTRIES: usize = 1 << 16;

pub trait Files {
    /// The file `name` (relative, `/`-separated) and its size.
    fn open(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64)>;
}

/// `name` as a relative path of plain components only.
fn plain(name: &str, within: &Path) -> Result<PathBuf> {
    let path = Path::new(name.trim_start_matches("./"));
    if path.components().all(|c| matches!(c, Component::Normal(_))) && !name.is_empty() {
        Ok(path.to_path_buf())
    } else {
        Err(SetupError::new(format!("read {name} in {}", within.display()))
            .detail("not a plain relative path"))
    }
}

pub struct DirFiles(pub PathBuf);

impl Files for DirFiles {
    fn open(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64)> {
        let path = self.0.join(plain(name, &self.0)?);
        // Only a regular file (a symlink to one too): a layout from a pull
        // request may point a blob at a FIFO (the open waits forever), at
        // /dev/zero (a tar end, then zeros to drain forever) or at a device
        // whose driver acts on the open.
        let regular = std::fs::metadata(&path)
            .map_err(|e| SetupError::io(format!("open {}", path.display()), &e))?
            .is_file();
        if !regular {
            return Err(SetupError::new(format!("open {}", path.display())).detail("not a regular file"));
        }
        let file = File::open(&path).map_err(|e| SetupError::io(format!("open {}", path.display()), &e))?;
        let size = file.metadata().map_err(|e| SetupError::io(format!("stat {}", path.display()), &e))?.len();
        Ok((Box::new(file), size))
    }
}

/// An uncompressed tar, indexed: name → (offset of the data, size).
pub struct TarFiles {
    path: PathBuf,
    entries: HashMap<String, (u64, u64)>,
}

impl TarFiles {
    pub fn index(path: &Path) -> Result<TarFiles> {
        let what = || format!("read the archive {}", path.display());
        let mut file = File::open(path).map_err(|e| SetupError::io(what(), &e))?;
        let mut magic = [0u8; 6];
        let n = file.read(&mut magic).map_err(|e| SetupError::io(what(), &e))?;
        if super::super::unpack::Compression::detect(&magic[..n]) != super::super::unpack::Compression::None {
            return Err(SetupError::new(what())
                .detail("it is compressed")
                .fix("decompress it first (gunzip, zstd -d, xz -d): image archives are read in place"));
        }
        file.seek(SeekFrom::Start(0)).map_err(|e| SetupError::io(what(), &e))?;
        let mut archive = tar::Archive::new(file);
        let mut entries = HashMap::new();
        let mut links = Vec::new();
        for entry in archive.entries_with_seek().map_err(|e| SetupError::io(what(), &e))? {
            let entry = entry.map_err(|e| SetupError::io(what(), &e))?;
            if entries.len() + links.len() > MAX_ARCHIVE_ENTRIES {
                return Err(
                    SetupError::new(what()).detail(format!("more than {MAX_ARCHIVE_ENTRIES} entries"))
                );
            }
            let name = entry
                .path()
                .map_err(|e| SetupError::io(what(), &e))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_owned();
            let kind = entry.header().entry_type();
            if kind.is_file() {
                entries.insert(name, (entry.raw_file_position(), entry.size()));
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                links.push((name, target, kind.is_symlink()));
            }
        }
        // `docker save` links a layer shared by two images to the first copy.
        for (name, target, symlink) in links {
            let resolved = if symlink {
                join_link(&name, &target)
            } else {
                Some(target.trim_start_matches("./").to_owned())
            };
            if let Some(found) = resolved.and_then(|t| entries.get(&t).copied()) {
                entries.insert(name, found);
            }
        }
        Ok(TarFiles { path: path.to_path_buf(), entries })
    }
}

/// A symlink's target, relative to the link's directory, inside the archive.
fn join_link(name: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = name.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

impl Files for TarFiles {
    fn open(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64)> {
        let name = name.trim_start_matches("./");
        let Some(&(offset, size)) = self.entries.get(name) else {
            return Err(SetupError::new(format!("read {name} in {}", self.path.display()))
                .detail("no such file in the archive"));
        };
        let what = || format!("read {name} in {}", self.path.display());
        let mut file = File::open(&self.path).map_err(|e| SetupError::io(what(), &e))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| SetupError::io(what(), &e))?;
        Ok((Box::new(file.take(size)), size))
    }
}

/// A small file of `files`, whole.
pub fn read_small(files: &dyn Files, name: &str, limit: u64) -> Result<Vec<u8>> {
    let (reader, size) = files.open(name)?;
    if size > limit {
        return Err(SetupError::new(format!("read {name}"))
            .detail(format!("{size} bytes, more than the {limit} it may have")));
    }
    let mut bytes = Vec::new();
    reader.take(limit).read_to_end(&mut bytes).map_err(|e| SetupError::io(format!("read {name}"), &e))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_layout_file_that_is_not_regular_is_refused() {
        use super::{DirFiles, Files};
        let dir = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(&dir.path().join("index.json"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("oci-layout")).unwrap();
        let files = DirFiles(dir.path().to_path_buf());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let fifo = files.open("index.json").is_err();
            let zero = files.open("oci-layout").is_err();
            tx.send((fifo, zero)).unwrap();
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(5)).expect("the opens return");
        assert_eq!(got, (true, true));
    }

    #[test]
    fn links_resolve_inside_the_archive() {
        assert_eq!(super::join_link("a/layer.tar", "../b/layer.tar").as_deref(), Some("b/layer.tar"));
        assert_eq!(super::join_link("layer.tar", "../../etc/passwd"), None);
    }
}
