//! Untrusted layer tarballs → overlay-ready directories.
//!
//! The tar stream is hostile: every entry is created by us, one system call
//! at a time, relative to a descriptor of the destination, never through a
//! path the image controls. Parents are opened with `openat2`
//! (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`), so a
//! symlink the layer made cannot carry a later entry out of it; OCI
//! whiteouts become overlayfs whiteouts; limits bound what a layer can cost.
//!
//! ```text
//! stream   src → counting → decoder → Hashing (diff-id) → meter (ratio) → tar
//! path     entry names: made relative, `..` refused, whiteouts recognised
//! tree     the destination: parents opened beneath it, replacing, removing
//! entry    one entry → one file, directory, link, node or whiteout
//! ```

mod entry;
mod path;
mod stream;
mod tree;

#[cfg(test)]
mod tests;

use std::io::Read;
use std::path::Path;

use crate::error::{Result, SetupError};
use crate::image::digest::Digest;

/// What one layer may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of file content.
    pub max_bytes: u64,
    /// Entries in the tar stream (whiteouts and directories included).
    pub max_entries: u64,
    /// Uncompressed bytes per compressed byte, checked once 64 MiB of
    /// uncompressed bytes have passed (a bomb of zeros).
    pub max_ratio: u64,
    /// Bytes in an entry's path or link target.
    pub max_path: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_bytes: 64 << 30, max_entries: 2_000_000, max_ratio: 200, max_path: 4096 }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Unpacking as the host's root: owners, device nodes and
    /// `security.capability` are kept, `trusted.overlay.opaque` is set too.
    pub as_root: bool,
    pub limits: Limits,
}

/// What a layer became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream, read to its end.
    pub diff_id: Digest,
    /// Bytes of file content written.
    pub size: u64,
    /// Entries in the stream.
    pub entries: u64,
    /// What was neutralised and why: "dev/sda: a device node (rootless)".
    pub skipped: Vec<String>,
}

/// How a layer is compressed, from its first bytes (never from a name or
/// a media type, which the image controls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
}

impl Compression {
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else {
            Compression::None
        }
    }
}

/// Unpack the layer read from `src` (compressed or not, detected by its
/// first bytes) into `dest`, an existing empty directory. `what` names the
/// layer in errors ("layer 2 of oci:img"). On error `dest` holds part of
/// the layer: the caller removes it.
pub fn unpack(src: &mut dyn Read, dest: &Path, what: &str, opts: &Options) -> Result<Unpacked> {
    let tree = tree::Tree::open(dest, what)?;
    let mut stream = stream::Stream::open(src, what, &opts.limits)?;
    let meter = stream.meter();
    let mut layer = entry::Layer::new(tree, what, opts, meter.clone());
    {
        let mut archive = tar::Archive::new(&mut stream);
        let entries = archive.entries().map_err(|e| meter.error(what, &e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| meter.error(what, &e))?;
            layer.add(&mut entry)?;
        }
    }
    let diff_id = stream.finish().map_err(|e| meter.error(what, &e))?;
    layer.finish(diff_id)
}

/// Flush the filesystem holding `dir` to disk, once for a whole tree (no
/// file is synced while unpacking).
pub fn sync_tree(dir: &Path) -> Result<()> {
    let fd = std::fs::File::open(dir).map_err(|e| SetupError::io(format!("open {}", dir.display()), &e))?;
    nix::unistd::syncfs(&fd)
        .map_err(|e| SetupError::sys(format!("sync the filesystem of {}", dir.display()), e))
}
