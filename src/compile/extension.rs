//! What OCI cannot say, next to the spec: the layer stack, the writable
//! layer, the network mode and name files, Landlock, the init, the terminal
//! choice, the timeout. Mirrored as `dev.sandbox.*` annotations so an
//! exported config.json carries it, and read back from them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::{Landlock, Layer, NetMode, Writable};

pub const PREFIX: &str = "dev.sandbox.";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Extension {
    /// Lower layers, bottom to top.
    pub layers: Vec<LayerSpec>,
    pub writable: WritableSpec,
    pub network: NetworkSpec,
    pub landlock: Option<Landlock>,
    /// Run our init as pid 1.
    pub init: bool,
    /// "auto", "always" or "never": `auto` is decided when the sandbox starts.
    pub terminal: String,
    /// Wall-clock limit in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Fail when a cgroup limit cannot be applied (false: skip it and say so).
    pub limits_required: bool,
    /// The user namespace maps the caller's subordinate ids (newuidmap).
    #[serde(default)]
    pub subids: bool,
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
    Tmpfs { size: Option<u64> },
    Readonly,
    Dir { path: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// "none" or "host".
    pub mode: String,
    /// `None`: leave the root's /etc/resolv.conf; "host": the caller's; else these servers.
    pub dns: Option<Vec<String>>,
    pub dns_from_host: bool,
    /// Extra /etc/hosts lines: (address, name).
    pub hosts: Vec<(String, String)>,
}

impl LayerSpec {
    pub fn of(layer: &Layer) -> LayerSpec {
        match layer {
            Layer::HostRoot => LayerSpec::HostRoot,
            Layer::Dir(p) => LayerSpec::Dir(p.display().to_string()),
        }
    }
}

impl WritableSpec {
    pub fn of(w: &Writable) -> WritableSpec {
        match w {
            Writable::Tmpfs { size } => WritableSpec::Tmpfs { size: *size },
            Writable::ReadOnly => WritableSpec::Readonly,
            Writable::Dir(p) => WritableSpec::Dir { path: p.display().to_string() },
        }
    }
}

pub fn net_mode_name(mode: NetMode) -> &'static str {
    match mode {
        NetMode::None => "none",
        NetMode::Host => "host",
    }
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

    /// Read the extension back from a spec's annotations; `None` when they
    /// are absent or malformed (a plain OCI bundle).
    pub fn from_annotations(annotations: &HashMap<String, String>) -> Option<Extension> {
        let mut fields = serde_json::Map::new();
        for (key, value) in annotations {
            if let Some(name) = key.strip_prefix(PREFIX) {
                fields.insert(name.to_owned(), serde_json::from_str(value).ok()?);
            }
        }
        serde_json::from_value(serde_json::Value::Object(fields)).ok()
    }
}
