//! `extends`: load a profile and the profiles it builds on, and merge them
//! in order (parents first, this file last). Tables merge key by key, lists
//! append, scalars override; a file's `replace = ["a.b", ...]` makes its
//! value at those keys replace the inherited one instead. Every node keeps
//! its span, so the merged tree knows which file and line set each value.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::profile::diag::{Diag, Diags};
use crate::profile::host::HostContext;
use crate::profile::load::load_file;
use crate::profile::load::node::{Entry, Node, Value};
use crate::profile::source::{SourceMap, Sp};
use crate::profile::vars::expand_tree;

/// Lists that are one value, not a collection: a later file's list
/// replaces them whole (appending to a command would run a different one).
const ATOMIC_LISTS: &[&str] = &["process.command", "network.dns"];

/// How deep `extends` may chain: far more than any real profile needs.
const MAX_EXTENDS_DEPTH: usize = 16;

/// Load `path` and everything it extends; `None` when a file could not be
/// read or parsed (the reasons are in `diags`). `text`, when given, is the
/// content of `path` (used by tests and the fuzzer; `extends` still reads files).
pub fn load_merged(
    path: &Path,
    text: Option<String>,
    host: &HostContext,
    sources: &mut SourceMap,
    diags: &mut Diags,
) -> Option<Node> {
    let project = project_root(path);
    let mut loader = Loader { host, project, chain: Vec::new(), loaded: HashSet::new(), sources, diags };
    loader.load(path, text, None)
}

/// The project a profile belongs to: the nearest directory above it that
/// holds `.git` (its work tree), else its own directory. Every file a
/// profile is made of must be inside (see `Loader::outside_project`).
pub fn project_root(profile: &Path) -> PathBuf {
    let absolute = std::path::absolute(profile).unwrap_or_else(|_| profile.to_path_buf());
    let dir = absolute.parent().unwrap_or(Path::new("/"));
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors().find(|d| d.join(".git").exists()).unwrap_or(&dir).to_path_buf()
}

struct Loader<'a> {
    host: &'a HostContext,
    /// Where every file of the profile must be (see [`project_root`]).
    project: PathBuf,
    /// The files being loaded, outermost first, as (canonical path, path as
    /// named): a file met again here is a cycle.
    chain: Vec<(PathBuf, PathBuf)>,
    /// Files already merged: a profile reached twice (a diamond, or a name
    /// listed twice) is merged once, at its first place, so hostile fan-out
    /// costs one load per file.
    loaded: HashSet<PathBuf>,
    sources: &'a mut SourceMap,
    diags: &'a mut Diags,
}

impl Loader<'_> {
    /// Load `path` and what it extends, merged; `None` when it is refused,
    /// unreadable, or already merged elsewhere in the profile.
    fn load(&mut self, path: &Path, text: Option<String>, named_at: Option<&Sp<String>>) -> Option<Node> {
        let canonical = self.canonical(path, text.is_some(), named_at)?;
        if !self.admit(path, &canonical, named_at) {
            return None;
        }
        let (_, mut node) = load_file(path, text, self.sources, self.diags)?;
        let dir = canonical.parent().unwrap_or(Path::new("/")).to_path_buf();
        expand_tree(&mut node, &dir, self.host, self.sources, self.diags);
        let parents = string_list(node.take("extends"), self.diags);
        let replace = string_list(node.take("replace"), self.diags);
        self.check_replace(&node, &replace);

        self.chain.push((canonical, path.to_path_buf()));
        let base = self.load_parents(path, &parents);
        self.chain.pop();

        let replace: Vec<&str> = replace.iter().map(|r| r.value.as_str()).collect();
        Some(match base {
            Some(b) => merge(b, node, &replace, ""),
            None => node,
        })
    }

    /// The one name of `path`, so a file reached two ways is seen as one.
    fn canonical(&mut self, path: &Path, in_memory: bool, named_at: Option<&Sp<String>>) -> Option<PathBuf> {
        match path.canonicalize() {
            Ok(c) => Some(c),
            // Text given in memory for a path that need not exist.
            Err(_) if in_memory => Some(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())),
            Err(e) => {
                let message = format!("read profile {}: {e}", path.display());
                let help = "check the path; symlink loops and missing files end here";
                self.diags.push(match named_at {
                    Some(at) => Diag::at("profile::extends", at.span, message).help(help),
                    None => Diag::new("profile::read", message).help(help),
                });
                None
            }
        }
    }

    /// Whether to read `canonical` now; says why not, except for a file
    /// already merged, which is merged once, silently.
    fn admit(&mut self, path: &Path, canonical: &Path, named_at: Option<&Sp<String>>) -> bool {
        let refusal =
            self.outside_project(path, canonical, named_at).or_else(|| self.cycle(path, canonical, named_at));
        if let Some(diag) = refusal {
            self.diags.push(diag);
            return false;
        }
        if !self.loaded.insert(canonical.to_path_buf()) {
            return false;
        }
        if self.chain.len() >= MAX_EXTENDS_DEPTH {
            let at = named_at.expect("depth grows only through extends entries");
            let message = format!("`extends` nests deeper than {MAX_EXTENDS_DEPTH}");
            self.diags.push(Diag::at("profile::extends", at.span, message));
            return false;
        }
        true
    }

    /// A profile comes from a pull request as much as the command does:
    /// a symlink or a `..` in `extends` must not make `check` read, and
    /// quote in its diagnostics, a file of the host's (/etc/shadow, a
    /// token in ~/.cargo/credentials.toml).
    fn outside_project(&self, path: &Path, canonical: &Path, named_at: Option<&Sp<String>>) -> Option<Diag> {
        if canonical.starts_with(&self.project) {
            return None;
        }
        let message = format!(
            "{} is {}, outside this profile's project {}",
            path.display(),
            canonical.display(),
            self.project.display()
        );
        let help = "a profile and what it extends must be files of one project (its git work tree, or \
                    its directory): copy the file in, or fix the path";
        Some(match named_at {
            Some(at) => Diag::at("profile::outside-project", at.span, message).help(help),
            None => Diag::new("profile::outside-project", message).help(help),
        })
    }

    /// A file that extends, at any depth, itself would never finish loading.
    fn cycle(&self, path: &Path, canonical: &Path, named_at: Option<&Sp<String>>) -> Option<Diag> {
        let first = self.chain.iter().position(|(c, _)| c == canonical)?;
        let names: Vec<String> = self.chain[first..]
            .iter()
            .map(|(_, named)| named.as_path())
            .chain([path])
            .map(|p| p.display().to_string())
            .collect();
        let message = format!("`extends` cycle: {}", names.join(" → "));
        let at = named_at.expect("a cycle is always reached through an extends entry");
        Some(Diag::at("profile::extends-cycle", at.span, message).help("remove one of the extends entries"))
    }

    /// A `replace` key this file does not set would silently replace nothing.
    fn check_replace(&mut self, node: &Node, replace: &[Sp<String>]) {
        for r in replace {
            if lookup_path(node, &r.value).is_none() {
                self.diags.push(
                    Diag::at(
                        "profile::replace",
                        r.span,
                        format!("`replace` names `{}`, which this file does not set", r.value),
                    )
                    .help("list dotted keys this file sets, e.g. \"security.landlock.read\""),
                );
            }
        }
    }

    /// The parents of `path`, merged in the order listed; `None` when none loaded.
    fn load_parents(&mut self, path: &Path, parents: &[Sp<String>]) -> Option<Node> {
        let mut base: Option<Node> = None;
        let mut named = HashSet::new();
        for parent in parents {
            // A name listed twice is one parent.
            if !named.insert(parent.value.as_str()) {
                continue;
            }
            // Named relative to this file as the user named it, so messages stay short.
            let parent_path = path.parent().unwrap_or(Path::new("")).join(&parent.value);
            let Some(loaded) = self.load(&parent_path, None, Some(parent)) else { continue };
            base = Some(match base {
                Some(b) => merge(b, loaded, &[], ""),
                None => loaded,
            });
        }
        base
    }
}

/// Merge `over` onto `base`. `path` is the dotted key of this node.
pub fn merge(base: Node, over: Node, replace: &[&str], path: &str) -> Node {
    if !path.is_empty() && (replace.contains(&path) || ATOMIC_LISTS.contains(&path)) {
        return over;
    }
    match (base.value, over.value) {
        (Value::Map(mut entries), Value::Map(over_entries)) => {
            for entry in over_entries {
                let child = if path.is_empty() {
                    entry.key.value.clone()
                } else {
                    format!("{path}.{}", entry.key.value)
                };
                if let Some(i) = entries.iter().position(|e| e.key.value == entry.key.value) {
                    let old = entries.remove(i);
                    let value = merge(old.value, entry.value, replace, &child);
                    entries.insert(i, Entry { key: entry.key, value });
                } else {
                    entries.push(entry);
                }
            }
            Node::new(Value::Map(entries), over.span)
        }
        (Value::Seq(mut items), Value::Seq(more)) => {
            items.extend(more);
            Node::new(Value::Seq(items), over.span)
        }
        (_, value) => Node::new(value, over.span),
    }
}

fn lookup_path<'a>(node: &'a Node, dotted: &str) -> Option<&'a Node> {
    dotted.split('.').try_fold(node, |n, key| n.get(key))
}

/// `extends` and `replace` take a string or a list of strings.
fn string_list(entry: Option<Entry>, diags: &mut Diags) -> Vec<Sp<String>> {
    let Some(entry) = entry else {
        return Vec::new();
    };
    let key = entry.key.value.clone();
    let items = match entry.value.value {
        Value::Seq(items) => items,
        Value::Str(_) => vec![entry.value],
        _ => {
            diags.push(Diag::at(
                "profile::type",
                entry.value.span,
                format!("`{key}` takes a list of strings, found {}", entry.value.kind()),
            ));
            return Vec::new();
        }
    };
    items
        .into_iter()
        .filter_map(|n| {
            if let Value::Str(s) = n.value {
                Some(Sp::new(s, n.span))
            } else {
                diags.push(Diag::at(
                    "profile::type",
                    n.span,
                    format!("`{key}` entries are strings, found {}", n.kind()),
                ));
                None
            }
        })
        .collect()
}
