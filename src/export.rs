//! `sandbox bundle PROFILE DIR`: a runnable OCI bundle — config.json and an
//! assembled rootfs — for runc, crun or `sandbox run --bundle`. What OCI has
//! no words for (the overlay upper, Landlock, our init) stays in the
//! `dev.sandbox.*` annotations, which other runtimes ignore.

use std::path::{Path, PathBuf};

use crate::compile::extension::{LayerSpec, WritableSpec};
use crate::compile::{Compiled, to_json};

#[derive(Debug)]
pub struct ExportError(pub String);

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Write `dir/config.json` and `dir/rootfs` (the directory layers copied
/// bottom to top). A `host:/` layer is not copied: the bundle's root is the
/// host's `/`, read-only, and then it must be the only layer.
pub fn write_bundle(compiled: &Compiled, dir: &Path) -> Result<(), ExportError> {
    let fail = |what: String| ExportError(what);
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("create {}: {e}", dir.display())))?;
    let mut spec = compiled.spec.clone();
    let layers = &compiled.extension.layers;
    let readonly = compiled.extension.writable == WritableSpec::Readonly;
    let root_path: PathBuf = if layers.contains(&LayerSpec::HostRoot) {
        if layers.len() != 1 || !readonly {
            return Err(fail(
                "a `host:/` profile exports only as the single layer of a read-only root (OCI has no overlay \
                 root): set writable = \"readonly\""
                    .into(),
            ));
        }
        PathBuf::from("/")
    } else {
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).map_err(|e| fail(format!("create {}: {e}", rootfs.display())))?;
        for layer in layers {
            if let LayerSpec::Dir(path) = layer {
                copy_tree(Path::new(path), &rootfs).map_err(|e| fail(format!("copy layer {path}: {e}")))?;
            }
        }
        PathBuf::from("rootfs")
    };
    let root =
        oci_spec::runtime::RootBuilder::default().path(root_path).readonly(readonly).build().expect("root");
    spec.set_root(Some(root));
    let json = to_json(&Compiled { spec, extension: compiled.extension.clone() });
    std::fs::write(dir.join("config.json"), json).map_err(|e| fail(format!("write config.json: {e}")))
}

/// Copy `from` into `to`, keeping symlinks as symlinks and modes.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_symlink() {
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            std::fs::set_permissions(&target, entry.metadata()?.permissions())?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
