//! The contract between the two halves: an OCI runtime spec, what OCI
//! cannot say (the [`Extension`], mirrored in `dev.sandbox.*` annotations),
//! and a name. The front half compiles a profile into a [`Bundle`]; a bundle
//! directory reads into one ([`dir::read`]); the runtime runs one. Neither
//! half owns it, and it knows nothing of either.

pub mod dir;
pub mod extension;

use oci_spec::runtime::Spec;

pub use extension::Extension;

/// A sandbox to run: the spec, our extension of it, and the name its
/// cgroup and host name default to.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub spec: Spec,
    pub ext: Extension,
    pub name: String,
}

impl Bundle {
    /// Write the extension back into the spec's annotations, after a
    /// change to it, so a copy of the spec carries what will run.
    pub fn sync_annotations(&mut self) {
        let mut annotations = self.spec.annotations().clone().unwrap_or_default();
        annotations.retain(|k, _| !k.starts_with(extension::PREFIX));
        annotations.extend(self.ext.to_annotations());
        self.spec.set_annotations(Some(annotations));
    }
}

/// The PATH a sandboxed process gets unless the spec's environment has one
/// (the compiler writes it, the runtime looks commands up with it).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The spec as pretty JSON, with every set sorted so output is stable.
pub fn to_json(spec: &Spec) -> String {
    let mut value = serde_json::to_value(spec).expect("a spec serializes");
    if let Some(caps) = value.pointer_mut("/process/capabilities").and_then(|c| c.as_object_mut()) {
        for set in caps.values_mut() {
            if let Some(list) = set.as_array_mut() {
                list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
    text.push('\n');
    text
}
