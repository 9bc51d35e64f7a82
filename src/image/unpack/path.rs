//! Entry names: made relative, checked, and sorted into what they are.

use std::fmt::Write as _;

/// A name from the image, for a message: lossy UTF-8, escaped, at most
/// 160 characters.
pub(super) fn show(name: &[u8]) -> String {
    let text = String::from_utf8_lossy(name);
    let mut out = String::new();
    for c in text.chars().take(160) {
        let _ = write!(out, "{}", c.escape_debug());
    }
    if text.chars().nth(160).is_some() {
        out.push('…');
    }
    out
}

/// An entry's path inside the layer: leading `/` stripped (OCI says
/// absolute paths are relative to the layer), `.` and empty components
/// dropped, components joined by one `/`. Empty: the layer's own
/// directory. `Err`: a `..` component, which nothing may use.
pub(super) fn clean(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(raw.len());
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("has a `..` component"),
            _ if part.contains(&0) => return Err("has a NUL byte"),
            _ => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(part);
            }
        }
    }
    Ok(out)
}

/// A cleaned path's directory and last component (`""` for the root).
pub(super) fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"", path),
    }
}

/// What an entry's last component says it is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Name<'a> {
    Plain,
    /// `.wh.NAME`: NAME, deleted from the layers below.
    Whiteout(&'a [u8]),
    /// `.wh..wh..opq`: the directory hides the layers below.
    Opaque,
    /// Another `.wh..wh.` name: aufs bookkeeping, meaningless here.
    Aufs,
}

pub(super) fn classify(name: &[u8]) -> Result<Name<'_>, &'static str> {
    if name == b".wh..wh..opq" {
        return Ok(Name::Opaque);
    }
    if name.starts_with(b".wh..wh.") {
        return Ok(Name::Aufs);
    }
    match name.strip_prefix(b".wh.") {
        None => Ok(Name::Plain),
        Some(b"" | b"." | b"..") => Err("is a whiteout of no name, `.` or `..`"),
        Some(target) => Ok(Name::Whiteout(target)),
    }
}
