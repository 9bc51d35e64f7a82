//! Where the client's settings come from: containers' registries.conf for
//! the hosts allowed plain http, and the auth files podman and docker
//! write. Reading them never fails a pull: a file that is missing or
//! unreadable is simply not used (anonymous pulls must not depend on it).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::Options;

impl Options {
    /// `insecure`: hosts marked `insecure = true` in
    /// `$XDG_CONFIG_HOME/containers/registries.conf` (or `~/.config/…`) and
    /// `/etc/containers/registries.conf`, plus `SANDBOX_INSECURE_REGISTRIES`
    /// (`h1,h2`). `auth_files`: `$REGISTRY_AUTH_FILE`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.docker/config.json`.
    pub fn from_env() -> Options {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = env("HOME");
        let config_home = env("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
        let mut insecure = Vec::new();
        let confs = [
            config_home.map(|c| c.join("containers/registries.conf")),
            Some("/etc/containers/registries.conf".into()),
        ];
        for conf in confs.into_iter().flatten() {
            if let Ok(text) = std::fs::read_to_string(conf) {
                insecure.extend(insecure_hosts(&text));
            }
        }
        if let Ok(list) = std::env::var("SANDBOX_INSECURE_REGISTRIES") {
            insecure.extend(list.split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned));
        }
        let auth_files = [
            env("REGISTRY_AUTH_FILE"),
            env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")),
            home.map(|h| h.join(".docker/config.json")),
        ];
        Options { insecure, auth_files: auth_files.into_iter().flatten().collect() }
    }
}

#[derive(Deserialize, Default)]
struct RegistriesConf {
    #[serde(default)]
    registry: Vec<RegistryEntry>,
    /// The v1 format: `[registries.insecure] registries = [...]`.
    #[serde(default)]
    registries: BTreeMap<String, V1List>,
}

#[derive(Deserialize)]
struct RegistryEntry {
    #[serde(default)]
    location: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    insecure: bool,
}

#[derive(Deserialize, Default)]
struct V1List {
    #[serde(default)]
    registries: Vec<String>,
}

/// The hosts a registries.conf allows plain http for; none if it does
/// not parse.
fn insecure_hosts(text: &str) -> Vec<String> {
    let conf: RegistriesConf = toml::from_str(text).unwrap_or_default();
    let v2 = conf.registry.into_iter().filter(|r| r.insecure).map(|r| {
        let place = if r.location.is_empty() { r.prefix } else { r.location };
        // `host/namespace` entries: the host part decides the transport.
        place.split('/').next().unwrap_or_default().to_owned()
    });
    let v1 = conf.registries.get("insecure").map(|l| l.registries.clone()).unwrap_or_default();
    v2.chain(v1).filter(|h| !h.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_conf_both_formats() {
        let text = r#"
unqualified-search-registries = ["docker.io"]
[[registry]]
location = "reg.lan:5000/team"
insecure = true
mirror = []
[[registry]]
location = "quay.io"
[registries.insecure]
registries = ["old.lan"]
"#;
        assert_eq!(insecure_hosts(text), ["reg.lan:5000", "old.lan"]);
        assert!(insecure_hosts("[[registry]\nbroken").is_empty());
    }
}
