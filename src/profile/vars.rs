//! Variable expansion in string values: `${profile_dir}`, `${cwd}`,
//! `${home}`, `${uid}`, `${gid}`, `${env.NAME}`, `${env.NAME:-default}`.
//! `$${` writes a literal `${`. Expansion runs per file, before merging, so
//! `${profile_dir}` is the directory of the file the value was written in.

use std::path::Path;

use crate::profile::diag::{Diag, Diags};
use crate::profile::host::HostContext;
use crate::profile::load::node::{Node, Value};
use crate::profile::source::{SourceMap, Span};

const NAMES: &[&str] = &["profile_dir", "cwd", "home", "uid", "gid", "env.NAME"];

/// Expand variables in every string value of `node` (keys are left alone).
pub fn expand_tree(
    node: &mut Node,
    profile_dir: &Path,
    host: &HostContext,
    sources: &SourceMap,
    diags: &mut Diags,
) {
    match &mut node.value {
        Value::Str(s) if s.contains('$') => match expand(s, profile_dir, host) {
            Ok(expanded) => *s = expanded,
            Err(e) => {
                let span = narrow(sources, node.span, &e.token);
                diags.push(e.into_diag(span));
                diags.silence(node.span);
            }
        },
        Value::Seq(items) => items.iter_mut().for_each(|n| expand_tree(n, profile_dir, host, sources, diags)),
        Value::Map(entries) => {
            for e in entries.iter_mut() {
                expand_tree(&mut e.value, profile_dir, host, sources, diags);
            }
        }
        _ => {}
    }
}

#[derive(Debug, PartialEq)]
pub struct VarError {
    /// The offending text, e.g. `${env.TOKEN}`, used to narrow the span.
    pub token: String,
    pub message: String,
    pub help: String,
}

impl VarError {
    fn into_diag(self, span: Span) -> Diag {
        Diag::at("profile::variable", span, self.message).help(self.help)
    }
}

/// Expand one string.
pub fn expand(s: &str, profile_dir: &Path, host: &HostContext) -> Result<String, VarError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err(VarError {
                    token: rest.to_owned(),
                    message: "unterminated variable: `${` without `}`".into(),
                    help: "close it with `}`, or write `$${` for a literal `${`".into(),
                });
            };
            let name = &after[..end];
            out.push_str(&lookup(name, profile_dir, host)?);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(name: &str, profile_dir: &Path, host: &HostContext) -> Result<String, VarError> {
    let token = format!("${{{name}}}");
    let text = |p: &Path| p.to_string_lossy().into_owned();
    match name {
        "profile_dir" => Ok(text(profile_dir)),
        "cwd" => Ok(text(&host.cwd)),
        "home" => Ok(text(&host.home)),
        "uid" => Ok(host.uid.to_string()),
        "gid" => Ok(host.gid.to_string()),
        _ => {
            let Some(var) = name.strip_prefix("env.") else {
                let guess = crate::profile::suggest::closest(name, NAMES.iter().copied())
                    .map_or_else(String::new, |g| format!("did you mean `${{{g}}}`? "));
                return Err(VarError {
                    token,
                    message: format!("unknown variable `{name}`"),
                    help: format!(
                        "{guess}variables are {}; write `$${{` for a literal `${{`",
                        NAMES.join(", ")
                    ),
                });
            };
            let (var, default) = match var.split_once(":-") {
                Some((v, d)) => (v, Some(d)),
                None => (var, None),
            };
            match (host.env.get(var), default) {
                (Some(v), _) => Ok(v.clone()),
                (None, Some(d)) => Ok(d.to_owned()),
                (None, None) => Err(VarError {
                    token,
                    message: format!("environment variable `{var}` is not set"),
                    help: format!("set {var}, or give a default: `${{env.{var}:-value}}`"),
                }),
            }
        }
    }
}

/// Point at the variable itself when the source text shows it verbatim.
fn narrow(sources: &SourceMap, span: Span, token: &str) -> Span {
    let text = &sources.get(span.file).text;
    text.get(span.start..span.end)
        .and_then(|slice| slice.find(token))
        .map_or(span, |i| Span::new(span.file, span.start + i, span.start + i + token.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(s: &str) -> Result<String, VarError> {
        expand(s, Path::new("/p"), &HostContext::fixed())
    }

    #[test]
    fn expands_known_variables() {
        assert_eq!(ex("${profile_dir}/../src").unwrap(), "/p/../src");
        assert_eq!(ex("${home}:${uid}:${gid}:${cwd}").unwrap(), "/home/dev:1000:1000:/home/dev/project");
        assert_eq!(ex("${env.TERM}").unwrap(), "xterm-256color");
        assert_eq!(ex("${env.NOPE:-x y}").unwrap(), "x y");
        assert_eq!(ex("${env.NOPE:-}").unwrap(), "");
    }

    #[test]
    fn leaves_plain_dollars_and_escapes() {
        assert_eq!(ex("echo $HOME $$ $").unwrap(), "echo $HOME $$ $");
        assert_eq!(ex("$${HOME}").unwrap(), "${HOME}");
    }

    #[test]
    fn reports_unknown_unset_and_unterminated() {
        let e = ex("a ${hme} b").unwrap_err();
        assert_eq!(e.token, "${hme}");
        assert!(e.help.contains("did you mean `${home}`"), "{}", e.help);
        assert!(ex("${env.NOPE}").unwrap_err().message.contains("NOPE"));
        assert!(ex("${cwd").unwrap_err().message.contains("unterminated"));
    }
}
