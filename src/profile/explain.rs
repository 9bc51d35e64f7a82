//! `sandbox explain`: the merged profile, one value a line, each with the
//! file and line that set it; with `--all`, also every default the profile
//! leaves out (from [`crate::profile::defaults`]), marked `default`.

use std::fmt::Write;

use crate::net::rule;
use crate::profile::defaults::{self, Step};
use crate::profile::load::node::{Node, Value};
use crate::profile::source::SourceMap;

/// The origin `explain --all` gives a default.
pub const DEFAULT_ORIGIN: &str = "default";

/// One value: where it is, as TOML text, and what set it.
struct Line {
    path: Vec<Step>,
    value: String,
    origin: String,
}

/// Render the merged tree: `key.path = value  # file:line`, in the order
/// the files were merged.
pub fn explain(tree: &Node, sources: &SourceMap) -> String {
    let mut lines = Vec::new();
    walk(tree, &mut Vec::new(), sources, &mut lines);
    implicit_dns(tree, sources, &mut lines);
    render(&lines)
}

/// The same, with every key the profile leaves out that has a default:
/// `key.path = value  # default`. Every line is in the format's order, so a
/// default stands where the key would be written. `name` is the profile's
/// name ([`crate::profile::profile_name`]), which the hostname defaults to.
pub fn explain_all(tree: &Node, sources: &SourceMap, name: &str) -> String {
    let mut lines = Vec::new();
    walk(tree, &mut Vec::new(), sources, &mut lines);
    implicit_dns(tree, sources, &mut lines);
    lines.extend(defaults::unset(tree, name).into_iter().map(|u| Line {
        path: u.path,
        value: u.value,
        origin: DEFAULT_ORIGIN.to_owned(),
    }));
    // Stable: keys the format does not name (an `env` variable) keep the files' order.
    lines.sort_by_cached_key(|l| order(&l.path));
    render(&lines)
}

/// A path's place in the format: each key's rank among the format's keys,
/// each list index as itself; keys the format does not name go last.
fn order(path: &[Step]) -> Vec<usize> {
    let mut pattern = String::new();
    path.iter()
        .map(|step| match step {
            Step::Index(i) => {
                pattern.push_str("[]");
                *i
            }
            Step::Key(k) => {
                if !pattern.is_empty() {
                    pattern.push('.');
                }
                pattern.push_str(k);
                defaults::rank(&pattern).unwrap_or(usize::MAX)
            }
        })
        .collect()
}

fn render(lines: &[Line]) -> String {
    let lines: Vec<(String, &str)> =
        lines.iter().map(|l| (format!("{} = {}", display(&l.path), l.value), l.origin.as_str())).collect();
    let width = lines.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (line, origin) in lines {
        let pad = width - line.chars().count();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{line}{:pad$}  # {origin}", "");
    }
    out
}

fn walk(node: &Node, path: &mut Vec<Step>, sources: &SourceMap, lines: &mut Vec<Line>) {
    match &node.value {
        Value::Map(entries) if !entries.is_empty() => {
            for e in entries {
                path.push(Step::Key(e.key.value.clone()));
                walk(&e.value, path, sources, lines);
                path.pop();
            }
        }
        Value::Seq(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                walk(item, path, sources, lines);
                path.pop();
            }
        }
        _ => lines.push(Line {
            path: path.clone(),
            value: canonical(path, node).unwrap_or_else(|| scalar(node)),
            origin: sources.location(node.span).to_string(),
        }),
    }
}

/// A published port or an egress rule in its canonical text (address and
/// protocol written out), so what `explain` shows is what the sandbox gets;
/// `None` for any other value, or one that does not parse (`check` says why).
fn canonical(path: &[Step], node: &Node) -> Option<String> {
    let Value::Str(text) = &node.value else { return None };
    let key = |i: usize| match path.get(i) {
        Some(Step::Key(k)) => k.as_str(),
        _ => "",
    };
    let shown = match (key(0), key(1), key(2), path.len()) {
        ("network", "ports", _, 3) => rule::parse_publish(text).ok()?.to_string(),
        ("network", "egress", "allow", 4) => rule::parse_allow(text).ok()?.to_string(),
        _ => return None,
    };
    Some(format!("{shown:?}"))
}

/// With egress denied, the rule every allowlist has without writing it:
/// a line after the egress lines, its origin the `default = "deny"` that
/// implies it.
fn implicit_dns(tree: &Node, sources: &SourceMap, lines: &mut Vec<Line>) {
    let Some(default) = tree.get("network").and_then(|n| n.get("egress")).and_then(|e| e.get("default"))
    else {
        return;
    };
    if !matches!(&default.value, Value::Str(s) if s == "deny") {
        return;
    }
    let egress = [Step::Key("network".to_owned()), Step::Key("egress".to_owned())];
    let at = lines.iter().rposition(|l| l.path.starts_with(&egress)).map_or(lines.len(), |i| i + 1);
    let mut path = egress.to_vec();
    path.push(Step::Key("implicit".to_owned()));
    let origin = format!("implied by {}", sources.location(default.span));
    lines.insert(at, Line { path, value: format!("{:?}", rule::IMPLICIT_DNS), origin });
}

/// `process.env."A.B"`, `mount[0].target`.
fn display(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&quote_key(k));
            }
            Step::Index(i) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

fn scalar(node: &Node) -> String {
    match &node.value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Str(s) => format!("{s:?}"),
        Value::Seq(_) => "[]".to_owned(),
        Value::Map(_) => "{}".to_owned(),
    }
}

fn quote_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::profile::host::HostContext;

    const PROFILE: &str = "[security]\nseccomp = \"unconfined\"\n\
        [process]\nenv = { B = \"1\", \"A.A\" = \"2\" }\ncwd = \"/w\"\n\
        [[mount]]\ntype = \"tmpfs\"\ntarget = \"/t\"\n";

    fn explained(all: bool) -> Vec<String> {
        let loaded = crate::profile::load_profile_text(
            Path::new("/p/My_Box.toml"),
            PROFILE.to_owned(),
            &HostContext::fixed(),
        );
        let tree = loaded.merged.as_ref().expect("parsed");
        let text =
            if all { explain_all(tree, &loaded.sources, "My_Box") } else { explain(tree, &loaded.sources) };
        // Without the alignment, which depends on the longest line.
        text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
    }

    #[test]
    fn explain_keeps_the_files_order_and_shows_no_defaults() {
        let lines = explained(false);
        assert_eq!(lines[0], "security.seccomp = \"unconfined\" # /p/My_Box.toml:2");
        assert_eq!(lines[1], "process.env.B = \"1\" # /p/My_Box.toml:4");
        assert!(lines.iter().all(|l| !l.ends_with("# default")), "{lines:#?}");
    }

    #[test]
    fn all_adds_the_defaults_and_puts_every_line_in_the_formats_order() {
        let lines = explained(true);
        let at = |line: &str| {
            lines.iter().position(|l| l == line).unwrap_or_else(|| panic!("no {line:?} in {lines:#?}"))
        };
        let ordered = [
            at("process.command = [\"/bin/sh\"] # default"),
            at("process.cwd = \"/w\" # /p/My_Box.toml:5"),
            at("process.env.B = \"1\" # /p/My_Box.toml:4"),
            at("process.env.\"A.A\" = \"2\" # /p/My_Box.toml:4"),
            at("process.inherit_env = [] # default"),
            at("process.init = true # default"),
            at("rootfs.layers = [\"host:/\"] # default"),
            at("mount[0].type = \"tmpfs\" # /p/My_Box.toml:7"),
            at("mount[0].target = \"/t\" # /p/My_Box.toml:8"),
            at("mount[0].nosuid = true # default"),
            at("mount[0].permissions = \"0755\" # default"),
            at("system_mounts.proc = true # default"),
            at("network.hostname = \"my-box\" # default"),
            at("limits.enforce = \"required\" # default"),
            at("security.capabilities = [] # default"),
            at("security.seccomp = \"unconfined\" # /p/My_Box.toml:2"),
            at("security.builtin_paths = true # default"),
        ];
        assert!(ordered.windows(2).all(|w| w[0] < w[1]), "{lines:#?}");
        assert_eq!(
            lines.len(),
            lines.iter().collect::<std::collections::BTreeSet<_>>().len(),
            "no line twice"
        );
        for absent in ["mount = [] # default", "mount[0].mode", "security.seccomp.base", "security.landlock"]
        {
            assert!(!lines.iter().any(|l| l.starts_with(absent)), "{absent} in {lines:#?}");
        }
    }
}
