//! `sandbox explain`: the merged profile, one value a line, each with the
//! file and line that set it.

use std::fmt::Write;

use crate::profile::load::node::{Node, Value};
use crate::profile::source::SourceMap;

/// Render the merged tree: `key.path = value  # file:line`.
pub fn explain(tree: &Node, sources: &SourceMap) -> String {
    let mut lines = Vec::new();
    walk(tree, "", sources, &mut lines);
    let width = lines.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (line, location) in lines {
        let pad = width - line.chars().count();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{line}{:pad$}  # {location}", "");
    }
    out
}

fn walk(node: &Node, path: &str, sources: &SourceMap, lines: &mut Vec<(String, String)>) {
    match &node.value {
        Value::Map(entries) if !entries.is_empty() => {
            for e in entries {
                let key = if path.is_empty() {
                    quote_key(&e.key.value)
                } else {
                    format!("{path}.{}", quote_key(&e.key.value))
                };
                walk(&e.value, &key, sources, lines);
            }
        }
        Value::Seq(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}[{i}]"), sources, lines);
            }
        }
        _ => lines.push((format!("{path} = {}", scalar(node)), sources.location(node.span).to_string())),
    }
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
