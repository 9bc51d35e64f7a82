//! Reading profile files: bounded, regular files only, UTF-8, then parsed
//! by extension into the format-neutral [`node::Node`] tree.

pub mod node;
pub mod toml;
mod yaml;

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::profile::diag::{Diag, Diags};
use crate::profile::source::{FileId, SourceMap, Span};
use node::Node;

/// Profiles are small; anything bigger is a mistake or an attack.
pub const MAX_PROFILE_BYTES: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// Read (unless `text` is given) and parse one profile file. Problems that
/// have no place in a file (unreadable, too big, not UTF-8) are reported
/// without a span.
pub fn load_file(
    path: &Path,
    text: Option<String>,
    sources: &mut SourceMap,
    diags: &mut Diags,
) -> Option<(FileId, Node)> {
    let Some(format) = Format::of(path) else {
        diags.push(
            Diag::new("profile::extension", format!("{}: unknown profile type", path.display()))
                .help("name profiles *.toml, *.yaml or *.yml"),
        );
        return None;
    };
    let text = match text.map_or_else(|| read_bounded(path), Ok) {
        Ok(text) => text,
        Err(diag) => {
            diags.push(*diag);
            return None;
        }
    };
    // A leading byte-order mark is legal in both formats' editors; drop it.
    let text = text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text);
    let file = sources.add(path.to_path_buf(), text);
    let text = &sources.get(file).text;
    if let Some(at) = text.find('\0') {
        diags.push(
            Diag::at("profile::nul-byte", Span::new(file, at, at + 1), "NUL byte in profile")
                .help("profiles are text; remove the NUL byte"),
        );
        return None;
    }
    let node = match format {
        Format::Toml => toml::parse(file, text, diags),
        Format::Yaml => yaml::parse(file, text, diags),
    }?;
    if !matches!(node.value, node::Value::Map(_)) {
        diags.push(Diag::at(
            "profile::not-a-table",
            node.span,
            format!("a profile is a table, found {}", node.kind()),
        ));
        return None;
    }
    Some((file, node))
}

fn read_bounded(path: &Path) -> Result<String, Box<Diag>> {
    let fail = |what: &str, help: &str| {
        Box::new(
            Diag::new("profile::read", format!("read profile {}: {what}", path.display()))
                .help(help.to_owned()),
        )
    };
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| fail(&e.to_string(), "check the path and its permissions"))?;
    let meta = file.metadata().map_err(|e| fail(&e.to_string(), "check the path"))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() { "a directory" } else { "not a regular file" };
        return Err(fail(&format!("is {kind}"), "name a .toml or .yaml file"));
    }
    if meta.len() > MAX_PROFILE_BYTES {
        return Err(fail(
            &format!("{} bytes, more than the {} byte limit", meta.len(), MAX_PROFILE_BYTES),
            "profiles are small; split it with `extends`",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_PROFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(&e.to_string(), "check the file"))?;
    if bytes.len() as u64 > MAX_PROFILE_BYTES {
        return Err(fail("grew past the size limit while reading", "profiles are small"));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].split(|&b| b == b'\n').count();
        fail(&format!("invalid UTF-8 at byte {at} (line {line})"), "save the profile as UTF-8")
    })
}
