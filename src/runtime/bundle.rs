//! `sandbox run --bundle DIR`: a plain OCI bundle run by the same core. The
//! bundle's rootfs is the only layer (never modified: writes go to a tmpfs
//! upper unless `root.readonly`); what OCI cannot say is read from our
//! `dev.sandbox.*` annotations when the bundle has them, and otherwise has
//! OCI's meaning (the process is pid 1, no Landlock, no timeout).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::error::{Result, SetupError};
use crate::compile::extension::{Extension, LayerSpec, NetworkSpec, WritableSpec};

/// The spec and extension of the bundle in `dir`, and a name for its cgroup.
pub fn load(dir: &Path) -> Result<(Spec, Extension, String)> {
    let config = dir.join("config.json");
    let meta =
        std::fs::metadata(&config).map_err(|e| SetupError::io(format!("read {}", config.display()), &e))?;
    if meta.len() > 4 << 20 {
        return Err(SetupError::new(format!("read {}", config.display())).detail("larger than 4 MiB"));
    }
    let mut spec = Spec::load(&config)
        .map_err(|e| SetupError::new(format!("parse {}", config.display())).detail(e.to_string()))?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| SetupError::new(format!("read {}", config.display())).detail("no root"))?;
    let root_path = absolute(dir, root.path());
    let readonly = root.readonly().unwrap_or(false);
    // Relative mount sources are relative to the bundle, as OCI says.
    if let Some(mounts) = spec.mounts_mut() {
        for m in mounts.iter_mut() {
            if let Some(source) = m.source().clone().filter(|s| s.is_relative() && s.components().count() > 0)
            {
                let typ = m.typ().as_deref().unwrap_or("");
                let bind = typ == "bind" || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind");
                if bind {
                    m.set_source(Some(dir.join(source)));
                }
            }
        }
    }
    let from_annotations = match spec.annotations() {
        Some(a) => Extension::from_annotations(a)
            .map_err(|e| SetupError::new(format!("read {}", config.display())).detail(e))?,
        None => None,
    };
    let has_net = spec
        .linux()
        .iter()
        .flat_map(|l| l.namespaces().iter().flatten())
        .any(|n| n.typ() == LinuxNamespaceType::Network);
    let layer = if root_path == Path::new("/") {
        LayerSpec::HostRoot
    } else {
        LayerSpec::Dir(root_path.display().to_string())
    };
    let writable = if readonly { WritableSpec::Readonly } else { WritableSpec::Tmpfs { size: None } };
    let extension = match from_annotations {
        Some(ext) => Extension { layers: vec![layer], writable, ..ext },
        None => Extension {
            layers: vec![layer],
            writable,
            network: NetworkSpec {
                mode: if has_net { "none" } else { "host" }.into(),
                dns: None,
                dns_from_host: false,
                hosts: Vec::new(),
            },
            landlock: None,
            init: false,
            terminal: if spec
                .process()
                .as_ref()
                .and_then(oci_spec::runtime::Process::terminal)
                .unwrap_or(false)
            {
                "always"
            } else {
                "never"
            }
            .into(),
            timeout_ms: None,
            limits_required: true,
            // A bundle mapping more than one id needs the setuid helpers.
            subids: spec
                .linux()
                .iter()
                .flat_map(|l| l.uid_mappings().iter().flatten())
                .map(oci_spec::runtime::LinuxIdMapping::size)
                .sum::<u32>()
                > 1,
        },
    };
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "bundle".into());
    Ok((spec, extension, name))
}

fn absolute(dir: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() { path.to_path_buf() } else { dir.join(path) };
    std::fs::canonicalize(&joined).unwrap_or(joined)
}
