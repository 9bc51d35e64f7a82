//! Credentials and challenges: auth.json / docker config.json lookups and
//! `WWW-Authenticate` parsing. Credentials never appear in an error or a
//! `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::error::{Result, SetupError};

/// A user and password, from an auth file.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub pass: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, <hidden>)", self.user)
    }
}

impl Credentials {
    /// `Basic base64(user:pass)`.
    pub fn header(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}:{}", self.user, self.pass)))
    }
}

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
}

/// Auth files are small; a larger one is not read into memory.
const AUTH_FILE_LIMIT: u64 = 1 << 20;

/// The first credentials for `host` in `files` (in priority order); a
/// missing file is skipped. `Err` when a file cannot be read or parsed, or
/// names a credential helper for this host (not supported).
pub fn lookup(files: &[PathBuf], host: &str) -> Result<Option<Credentials>> {
    for file in files {
        let text = match read_small(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(SetupError::io(format!("read the registry auth file {}", file.display()), &e));
            }
        };
        let parsed: AuthFile = serde_json::from_str(&text).map_err(|e| {
            SetupError::new(format!("read the registry auth file {}", file.display()))
                .detail(format!("not an auth.json: {e}"))
                .fix("fix or remove the file, or log in again with `podman login` / `docker login`")
        })?;
        if let Some(found) = in_file(&parsed, file, host)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn read_small(file: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(file)?.take(AUTH_FILE_LIMIT).read_to_string(&mut text)?;
    Ok(text)
}

fn in_file(parsed: &AuthFile, file: &Path, host: &str) -> Result<Option<Credentials>> {
    let entry = parsed.auths.iter().find(|(key, _)| key_matches(key, host)).map(|(_, e)| e);
    if let Some(encoded) = entry.and_then(|e| e.auth.as_deref()).filter(|a| !a.is_empty()) {
        return decode(encoded).map(Some).ok_or_else(|| {
            SetupError::new(format!("read the credentials for {host} in {}", file.display()))
                .detail("its `auth` is not base64 of `user:password`")
                .fix("log in again with `podman login` / `docker login`")
        });
    }
    let helper = parsed.cred_helpers.iter().find(|(key, _)| key_matches(key, host)).map(|(_, h)| h);
    if let Some(helper) = helper.or(parsed.creds_store.as_ref()) {
        return Err(SetupError::new(format!("read the credentials for {host} in {}", file.display()))
            .detail(format!("they are kept by the credential helper `docker-credential-{helper}`, which sandbox does not run"))
            .fix(format!("put them in an auth file instead: `podman login --authfile FILE {host}`, then REGISTRY_AUTH_FILE=FILE")));
    }
    Ok(None)
}

/// Keys may be `HOST`, `https://HOST`, `HOST/v1/`; Docker Hub's is
/// `https://index.docker.io/v1/`.
fn key_matches(key: &str, host: &str) -> bool {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let key = key.trim_end_matches('/');
    let key = key.strip_suffix("/v1").or_else(|| key.strip_suffix("/v2")).unwrap_or(key);
    let hub = |h: &str| matches!(h, "docker.io" | "index.docker.io" | "registry-1.docker.io");
    key == host || (hub(key) && hub(host))
}

fn decode(encoded: &str) -> Option<Credentials> {
    let bytes = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some(Credentials { user: user.to_owned(), pass: pass.to_owned() })
}

/// A `WWW-Authenticate` challenge: its scheme (lowercase) and parameters.
#[derive(Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`; only
/// the first challenge of the header is read.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some((key, after)) = rest.split_once('=') else { break };
        let (value, after) = value(after.trim_start())?;
        params.insert(key.trim().to_ascii_lowercase(), value);
        rest = after;
    }
    Some(Challenge { scheme: scheme.to_ascii_lowercase(), params })
}

/// A quoted string (with `\` escapes) or a token, and what follows it.
fn value(text: &str) -> Option<(String, &str)> {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(',').unwrap_or(text.len());
        return Some((text[..end].trim().to_owned(), &text[end..]));
    };
    let mut out = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &quoted[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
        let c = parse_challenge(r#"Basic realm="a \"b\"", charset=UTF-8"#).unwrap();
        assert_eq!(
            (c.scheme.as_str(), c.params["realm"].as_str(), c.params["charset"].as_str()),
            ("basic", "a \"b\"", "UTF-8")
        );
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
    }

    #[test]
    fn auth_file_keys_and_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        let auth = STANDARD.encode("u:p:w");
        std::fs::write(&file, format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},"reg.lan:5000":{{"auth":"{auth}"}}}},"credHelpers":{{"gcr.io":"gcloud"}},"x":1}}"#)).unwrap();
        let files = [dir.path().join("missing.json"), file];
        let want = Credentials { user: "u".into(), pass: "p:w".into() };
        assert_eq!(lookup(&files, "docker.io").unwrap().as_ref(), Some(&want));
        assert_eq!(lookup(&files, "reg.lan:5000").unwrap().as_ref(), Some(&want));
        assert_eq!(lookup(&files, "other.io").unwrap(), None);
        let err = lookup(&files, "gcr.io").unwrap_err().to_string();
        assert!(err.contains("docker-credential-gcloud") && err.contains("gcr.io"), "{err}");
        assert!(!format!("{want:?}").contains("p:w"));
    }
}
