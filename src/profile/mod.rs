//! The front half: a profile's files → the validated [`model`], or every
//! diagnostic, each at its place. `load` reads and parses each file into a
//! span-carrying tree, `merge` follows `extends` (with `vars` expanding
//! variables per file), `raw` types the tree, `validate` checks it into the
//! model; `diag` renders problems, `explain` the merged profile with its
//! provenance (and, from `defaults`, what it leaves out), `schema` the
//! format. [`load_profile`] is all of it in one call.

pub mod defaults;
pub mod diag;
pub mod explain;
pub mod host;
pub mod load;
pub mod merge;
pub mod model;
pub mod overrides;
pub mod raw;
pub mod schema;
pub mod source;
pub mod suggest;
pub mod units;
pub mod validate;
pub mod vars;

use std::path::Path;

use diag::{Diag, Diags};
use host::HostContext;
use load::node::Node;
use merge::load_merged;
use model::Model;
use overrides::Overrides;
use source::SourceMap;
use validate::validate;

/// What loading a profile produced. `model` is `Some` exactly when
/// `diags` is empty.
#[derive(Debug)]
pub struct Loaded {
    pub sources: SourceMap,
    /// The merged tree, for `explain`; `None` when a file could not be parsed.
    pub merged: Option<Node>,
    pub model: Option<Model>,
    pub diags: Vec<Diag>,
    /// Problems found beyond the kept `diags` (see [`crate::profile::diag::MAX_KEPT`]).
    pub unshown: usize,
    /// The caller's environment values the profile names (`${env.NAME}`),
    /// each with its name: see [`Loaded::redact`].
    pub env_values: Vec<(String, String)>,
}

impl Loaded {
    /// `text` (rendered diagnostics) with every value of the caller's
    /// environment that the profile expands written back as `${env.NAME}`:
    /// a profile from a pull request must not make `check` print a CI
    /// secret into a log (a bad host name made of `${env.TOKEN}`, say).
    /// Values shorter than four characters are left: they give nothing
    /// away, and replacing them would garble the text.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (name, value) in &self.env_values {
            if value.len() >= 4 {
                out = out.replace(value.as_str(), &format!("${{env.{name}}}"));
            }
        }
        out
    }
}

/// The names after `${env.` in the profile's files, with the caller's values.
fn env_values(sources: &SourceMap, host: &HostContext) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for file in sources.files() {
        for (at, _) in file.text.match_indices("${env.") {
            let rest = &file.text[at + 6..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if let Some(value) = host.env.get(&name) {
                if !found.iter().any(|(n, _)| *n == name) {
                    found.push((name, value.clone()));
                }
            }
        }
    }
    // Longest first, so a value containing another is replaced whole.
    found.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    found
}

/// Load, merge, type and validate the profile at `path`.
pub fn load_profile(path: &Path, host: &HostContext) -> Loaded {
    load(path, None, host, &Overrides::default())
}

/// The same for a profile whose text is in memory (`path` names it and
/// anchors relative paths; `extends` still reads files).
pub fn load_profile_text(path: &Path, text: String, host: &HostContext) -> Loaded {
    load(path, Some(text), host, &Overrides::default())
}

/// The profile at `path` with the command line's `overrides` over it.
pub fn load_profile_with(path: &Path, host: &HostContext, overrides: &Overrides) -> Loaded {
    load(path, None, host, overrides)
}

/// A source merged below every file of the profile, which overrides each
/// of its values: an image's config as `[process]` defaults.
#[derive(Clone, Debug)]
pub struct Below {
    /// How messages and `explain` name it: `image oci:/srv/img config`.
    pub label: String,
    /// TOML.
    pub text: String,
}

/// [`load_profile_with`] (or, without `path`, [`load_defaults`]) with
/// `below` under the profile, bottom first.
pub fn load_profile_over(
    path: Option<&Path>,
    host: &HostContext,
    overrides: &Overrides,
    below: &[Below],
) -> Loaded {
    // Nothing below: load once (the launch path of most profiles).
    if below.is_empty() {
        return match path {
            Some(p) => load(p, None, host, overrides),
            None => load_defaults(host, overrides),
        };
    }
    let mut sources = SourceMap::default();
    let mut diags = Diags::default();
    let profile = if let Some(p) = path {
        load_merged(p, None, host, &mut sources, &mut diags)
    } else {
        let defaults = load_defaults(host, &Overrides::default());
        sources = defaults.sources;
        defaults.merged
    };
    let anchor = path.map_or_else(|| host.cwd.join("sandbox.toml"), Path::to_path_buf);
    let mut merged = None;
    for b in below {
        let id = sources.add_labelled(host.cwd.join("(image)"), b.text.clone(), Some(b.label.clone()));
        if let Some(node) = load::toml::parse(id, &b.text, &mut diags) {
            merged = Some(match merged {
                Some(m) => merge::merge(m, node, &[], ""),
                None => node,
            });
        }
    }
    let tree = match (merged, profile) {
        (Some(m), Some(p)) => Some(merge::merge(m, p, &[], "")),
        (_, p) => p,
    };
    finish(&anchor, tree, sources, diags, host, overrides)
}

/// The built-in defaults (the host's root under a tmpfs that takes the
/// writes; everything else as the format's defaults say) with
/// `overrides`: `sandbox run -- CMD`.
pub fn load_defaults(host: &HostContext, overrides: &Overrides) -> Loaded {
    let mut sources = SourceMap::default();
    let mut diags = Diags::default();
    let text = "rootfs.layers = [\"host:/\"]\n".to_owned();
    // Named `sandbox` (its cgroup's name), anchored in the current directory.
    let path = host.cwd.join("sandbox.toml");
    let id = sources.add_labelled(path.clone(), text.clone(), Some("built-in defaults".to_owned()));
    let merged = load::toml::parse(id, &text, &mut diags);
    finish(&path, merged, sources, diags, host, overrides)
}

fn load(path: &Path, text: Option<String>, host: &HostContext, overrides: &Overrides) -> Loaded {
    let mut sources = SourceMap::default();
    let mut diags = Diags::default();
    let merged = load_merged(path, text, host, &mut sources, &mut diags);
    finish(path, merged, sources, diags, host, overrides)
}

fn finish(
    path: &Path,
    merged: Option<Node>,
    mut sources: SourceMap,
    mut diags: Diags,
    host: &HostContext,
    overrides: &Overrides,
) -> Loaded {
    let merged = if overrides.is_empty() {
        merged
    } else {
        with_overrides(merged, overrides, host, &mut sources, &mut diags)
    };
    if let Some(tree) = &merged {
        crate::profile::validate::nul_bytes(tree, &mut diags);
    }
    let model = merged.as_ref().and_then(|tree| {
        let raw: raw::Profile = raw::from_node(tree, &mut diags)?;
        validate(&raw, &profile_name(path), &sources, &mut diags)
    });
    let model = model.filter(|_| diags.is_empty());
    let (mut diags, unshown) = diags.into_parts();
    // Report in reading order; file-level problems (no span) first.
    diags.sort_by_key(|d| d.primary.as_ref().map(|l| (l.span.file, l.span.start)));
    let env_values = env_values(&sources, host);
    Loaded { sources, merged, model, diags, unshown, env_values }
}

/// The overrides parsed as one more source and merged over `merged`.
fn with_overrides(
    merged: Option<Node>,
    overrides: &Overrides,
    host: &HostContext,
    sources: &mut SourceMap,
    diags: &mut Diags,
) -> Option<Node> {
    let text = overrides.text();
    // Its relative host paths are relative to where the command was typed.
    let id = sources.add_labelled(
        host.cwd.join("(command line)"),
        text.clone(),
        Some(overrides::LABEL.to_owned()),
    );
    let mut node = load::toml::parse(id, &text, diags)?;
    crate::profile::vars::expand_tree(&mut node, &host.cwd, host, sources, diags);
    Some(merge::merge(merged?, node, &[], ""))
}

/// The profile's name: its file name without the extension.
pub fn profile_name(path: &Path) -> String {
    path.file_stem().map_or_else(|| "sandbox".to_owned(), |s| s.to_string_lossy().into_owned())
}
