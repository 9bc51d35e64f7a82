//! What OCI cannot say, next to the spec: the layer stack, the writable
//! layer, the network mode and name files, Landlock, the init, the terminal
//! choice, the timeout. Mirrored as `dev.sandbox.*` annotations so an
//! exported config.json carries it, and read back from them.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Our annotations' prefix.
pub const PREFIX: &str = "dev.sandbox.";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Extension {
    /// Lower layers, bottom to top.
    pub layers: Vec<LayerSpec>,
    pub writable: WritableSpec,
    pub network: NetworkSpec,
    #[serde(deserialize_with = "present")]
    pub landlock: Option<LandlockRules>,
    /// Run our init as pid 1.
    pub init: bool,
    pub terminal: Terminal,
    /// Wall-clock limit in milliseconds.
    #[serde(deserialize_with = "present")]
    pub timeout_ms: Option<u64>,
    /// Fail when a cgroup limit cannot be applied (false: skip it and say so).
    pub limits_required: bool,
    /// The user namespace maps the caller's subordinate ids (newuidmap).
    #[serde(default)]
    pub subids: bool,
}

/// The smallest extension, for unit tests that change one field of it.
#[cfg(test)]
impl Extension {
    pub fn for_tests() -> Extension {
        Extension {
            layers: vec![LayerSpec::Dir("/srv/root".into())],
            writable: WritableSpec::Readonly,
            network: NetworkSpec {
                mode: NetMode::None,
                dns: None,
                dns_from_host: false,
                hosts: Vec::new(),
                nat: None,
            },
            landlock: None,
            init: true,
            terminal: Terminal::Never,
            timeout_ms: None,
            limits_required: true,
            subids: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "path")]
pub enum LayerSpec {
    HostRoot,
    Dir(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum WritableSpec {
    Tmpfs {
        size: Option<u64>,
    },
    Readonly,
    Dir {
        path: String,
    },
    /// The single layer is the root and takes the writes itself: OCI's
    /// `root.readonly = false` for a bundle another tool prepared (the
    /// snapshot containerd or podman mounted for this container).
    InPlace,
}

/// Whether the command gets a pty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Terminal {
    /// When the caller's stdin is a terminal, decided when the sandbox starts.
    Auto,
    Always,
    Never,
}

/// The network the sandbox has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetMode {
    /// A network namespace of its own, with only loopback.
    None,
    /// The host's.
    Host,
    /// A network namespace of its own, connected to the host's network by a
    /// user-mode stack (see [`NatSpec`]).
    Nat,
}

/// What a `nat` network publishes and lets through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NatSpec {
    /// Host ports that lead into the sandbox.
    pub publish: Vec<crate::net::rule::Publish>,
    /// The host's loopback is reachable, as `host.sandbox.internal`.
    pub host_loopback: bool,
    /// `None`: every destination; a list: only these, and the sandbox's
    /// resolver for DNS.
    #[serde(deserialize_with = "present")]
    pub egress: Option<Vec<crate::net::rule::Allow>>,
}

/// Landlock's rules as the runtime applies them (the profile's own type
/// stays in the front half).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)] // one switch per Landlock feature
pub struct LandlockRules {
    pub read: Vec<PathBuf>,
    pub execute: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
    pub tcp_bind: Vec<u16>,
    pub tcp_connect: Vec<u16>,
    pub scope_signal: bool,
    pub scope_abstract_unix_socket: bool,
    /// Apply what the kernel can and report the rest (false: refuse to run).
    pub best_effort: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub mode: NetMode,
    /// `None`: leave the root's /etc/resolv.conf; "host": the caller's; else these servers.
    #[serde(deserialize_with = "present")]
    pub dns: Option<Vec<String>>,
    pub dns_from_host: bool,
    /// Extra /etc/hosts lines: (address, name).
    pub hosts: Vec<(String, String)>,
    /// With `mode = nat`, and only then. A bundle that lost it is refused
    /// rather than run without its egress rules.
    #[serde(default)]
    pub nat: Option<NatSpec>,
}

/// An `Option` that must be written out (`null` for none): serde would
/// otherwise take a missing annotation for `None`, and a bundle that lost
/// its Landlock annotation would run without Landlock.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

impl Extension {
    /// One annotation per field, each value JSON.
    pub fn to_annotations(&self) -> HashMap<String, String> {
        let value = serde_json::to_value(self).expect("the extension serializes");
        let serde_json::Value::Object(fields) = value else {
            unreachable!("a struct serializes to an object")
        };
        fields.into_iter().map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string())).collect()
    }

    /// Read the extension back from a spec's annotations: `Ok(None)` when
    /// there is none of ours (a plain OCI bundle). Ours are all there and
    /// well-formed, or the spec is refused: a partial or malformed set must
    /// not quietly run without what it asked for (Landlock, say).
    pub fn from_annotations(annotations: &HashMap<String, String>) -> Result<Option<Extension>, String> {
        let mut fields = serde_json::Map::new();
        for (key, value) in annotations {
            if let Some(name) = key.strip_prefix(PREFIX) {
                let parsed = serde_json::from_str(value)
                    .map_err(|e| format!("annotation {key} is not valid JSON: {e}"))?;
                fields.insert(name.to_owned(), parsed);
            }
        }
        if fields.is_empty() {
            return Ok(None);
        }
        serde_json::from_value(serde_json::Value::Object(fields)).map(Some).map_err(|e| {
            let text = e.to_string();
            // serde names the field between backticks: name the annotation.
            let field = text.split('`').nth(1).unwrap_or_default();
            match () {
                () if text.starts_with("missing field") => format!("annotation {PREFIX}{field} is missing"),
                () if text.starts_with("unknown field") => format!("annotation {PREFIX}{field} is unknown"),
                () => format!("the {PREFIX}* annotations are malformed: {text}"),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> HashMap<String, String> {
        Extension { layers: vec![LayerSpec::HostRoot], ..Extension::for_tests() }.to_annotations()
    }

    #[test]
    fn annotations_round_trip_and_others_are_ignored() {
        let mut a = ours();
        a.insert("org.example.note".into(), "anything".into());
        let ext = Extension::from_annotations(&a).unwrap().unwrap();
        assert_eq!(ext.to_annotations(), ours());
        assert_eq!(Extension::from_annotations(&HashMap::new()), Ok(None));
    }

    #[test]
    fn a_partial_unknown_or_malformed_set_is_refused_by_name() {
        let mut missing = ours();
        missing.remove("dev.sandbox.landlock");
        let mut unknown = ours();
        unknown.insert("dev.sandbox.landlok".into(), "null".into());
        let mut bad_json = ours();
        bad_json.insert("dev.sandbox.landlock".into(), "{not json".into());
        let mut bad_type = ours();
        bad_type.insert("dev.sandbox.init".into(), "\"yes\"".into());
        for (a, name) in [
            (missing, "dev.sandbox.landlock"),
            (unknown, "dev.sandbox.landlok"),
            (bad_json, "dev.sandbox.landlock"),
            (bad_type, "dev.sandbox.*"),
        ] {
            let err = Extension::from_annotations(&a).unwrap_err();
            assert!(err.contains(name), "{err}");
        }
    }
}
