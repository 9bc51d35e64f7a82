//! Bundle directories: `config.json` and a root file system, read for
//! `sandbox run --bundle DIR` and written by `sandbox bundle PROFILE DIR`
//! for runc, crun or `sandbox` itself.
//!
//! Read: the bundle's rootfs is the only layer (never modified: writes go
//! to a tmpfs upper unless `root.readonly`); what OCI cannot say comes from
//! our `dev.sandbox.*` annotations when the bundle has them (all of them,
//! well-formed, or it is refused), and otherwise has OCI's meaning: the
//! process is pid 1, no Landlock, no timeout.
//!
//! Written: the directory layers copied bottom to top into `rootfs/`. A
//! `host:/` layer is not copied: the bundle's root is the host's `/`,
//! read-only, and then it must be the only layer.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::extension::{Extension, LayerSpec, NetMode, NetworkSpec, PREFIX, Terminal, WritableSpec};
use super::{Bundle, to_json};
use crate::error::{Result, SetupError};

/// The largest config.json read.
const MAX_CONFIG: u64 = 4 << 20;

/// The bundle in `dir`, named after the directory (its cgroup's name).
pub fn read(dir: &Path) -> Result<Bundle> {
    let config = dir.join("config.json");
    let failed = || SetupError::new(format!("read {}", config.display()));
    let meta =
        std::fs::metadata(&config).map_err(|e| SetupError::io(format!("read {}", config.display()), &e))?;
    if meta.len() > MAX_CONFIG {
        return Err(failed().detail("larger than 4 MiB"));
    }
    let mut spec = Spec::load(&config)
        .map_err(|e| SetupError::new(format!("parse {}", config.display())).detail(e.to_string()))?;
    let root = spec.root().as_ref().ok_or_else(|| failed().detail("no root"))?;
    let root_path = absolute(dir, root.path());
    let readonly = root.readonly().unwrap_or(false);
    relative_sources(&mut spec, dir);
    let layer = if root_path == Path::new("/") {
        LayerSpec::HostRoot
    } else {
        LayerSpec::Dir(root_path.display().to_string())
    };
    let ours = spec.annotations().as_ref().is_some_and(|a| a.keys().any(|k| k.starts_with(PREFIX)));
    // A plain OCI bundle's writable root is written in place, as OCI says
    // (its maker prepared it for this container); our own bundles keep
    // their copied layers clean under a tmpfs upper, and the host's root
    // is never written.
    let writable = match (readonly, &layer) {
        (true, _) => WritableSpec::Readonly,
        (false, LayerSpec::Dir(_)) if !ours => WritableSpec::InPlace,
        (false, _) => WritableSpec::Tmpfs { size: None },
    };
    let ext =
        Extension { layers: vec![layer], writable, ..extension_of(&spec).map_err(|e| failed().detail(e))? };
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "bundle".into());
    Ok(Bundle { spec, ext, name })
}

/// What the spec says beyond OCI: its `dev.sandbox.*` annotations (all of
/// them, well-formed), or else OCI's meaning. Its layers and writability
/// come from the bundle's root and are left empty here.
pub fn extension_of(spec: &Spec) -> std::result::Result<Extension, String> {
    let ours = match spec.annotations() {
        Some(a) => Extension::from_annotations(a)?,
        None => None,
    };
    Ok(ours.unwrap_or_else(|| oci_meaning(spec, Vec::new(), WritableSpec::Readonly)))
}

/// Relative bind sources are relative to the bundle, as OCI says.
fn relative_sources(spec: &mut Spec, dir: &Path) {
    for m in spec.mounts_mut().iter_mut().flatten() {
        let Some(source) = m.source().clone().filter(|s| s.is_relative() && s.components().count() > 0)
        else {
            continue;
        };
        let typ = m.typ().as_deref().unwrap_or("");
        if typ == "bind" || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind") {
            m.set_source(Some(dir.join(source)));
        }
    }
}

/// What a plain OCI bundle means where OCI has no words: its process is
/// pid 1, no Landlock, no timeout, limits required, a terminal when it says.
fn oci_meaning(spec: &Spec, layers: Vec<LayerSpec>, writable: WritableSpec) -> Extension {
    let linux = spec.linux().iter();
    let has_net = linux
        .clone()
        .flat_map(|l| l.namespaces().iter().flatten())
        // A network namespace of its own; one joined by path is another's.
        .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none());
    let terminal = spec.process().as_ref().and_then(oci_spec::runtime::Process::terminal).unwrap_or(false);
    Extension {
        layers,
        writable,
        network: NetworkSpec {
            mode: if has_net { NetMode::None } else { NetMode::Host },
            dns: None,
            dns_from_host: false,
            hosts: Vec::new(),
            nat: None,
        },
        landlock: None,
        init: false,
        terminal: if terminal { Terminal::Always } else { Terminal::Never },
        timeout_ms: None,
        limits_required: true,
        // A bundle mapping more than one id needs the setuid helpers.
        subids: linux
            .flat_map(|l| l.uid_mappings().iter().flatten())
            .map(oci_spec::runtime::LinuxIdMapping::size)
            .sum::<u32>()
            > 1,
    }
}

/// The host's pseudo file systems: only mount points in an exported root
/// (the spec mounts fresh ones; the host's would show its processes).
const PSEUDO: &[&str] = &["proc", "sys", "dev"];

/// A `host:/` root that runc and crun can run (they cannot `pivot_root` to
/// the host's `/`: EBUSY): an empty `rootfs/` holding the host's top-level
/// entries, as the rootless `host:/` root is assembled: each directory or
/// file bound recursively read-only (`rro`), nosuid and nodev ahead of the
/// spec's mounts, each symlink copied. Unlike `sandbox run` of the profile
/// as root (which overlays the host's submounts), a host unix socket under
/// such a bind can be connected to: a residual risk of the export.
fn host_root_parts(rootfs: &Path, spec: &mut Spec) -> Result<()> {
    // Made afresh: an old export's entries (or symlinks planted there)
    // would be followed.
    if std::fs::read_dir(rootfs)
        .map_err(|e| SetupError::io(format!("list {}", rootfs.display()), &e))?
        .next()
        .is_some()
    {
        return Err(SetupError::new("export a host:/ profile")
            .detail(format!("{} is not empty", rootfs.display()))
            .fix("export into a new directory"));
    }
    let entries = std::fs::read_dir("/").map_err(|e| SetupError::io("list /", &e))?;
    let mut binds = Vec::new();
    let mut names: Vec<(String, std::fs::FileType)> = entries
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.to_owned(), e.file_type().ok()?)))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, kind) in names {
        let (host, here) = (Path::new("/").join(&name), rootfs.join(&name));
        let made = if kind.is_symlink() {
            std::fs::read_link(&host).and_then(|target| std::os::unix::fs::symlink(target, &here))
        } else if kind.is_dir() {
            std::fs::create_dir_all(&here)
        } else if kind.is_file() {
            std::fs::File::create(&here).map(drop)
        } else {
            continue;
        };
        made.map_err(|e| SetupError::io(format!("make {}", here.display()), &e))?;
        if (kind.is_dir() || kind.is_file()) && !PSEUDO.contains(&name.as_str()) {
            let bind = oci_spec::runtime::MountBuilder::default()
                .destination(&host)
                .typ("bind")
                .source(&host)
                .options(["rbind", "rro", "nosuid", "nodev"].map(str::to_owned).to_vec())
                .build()
                .expect("a bind mount");
            binds.push(bind);
        }
    }
    binds.extend(spec.mounts().clone().unwrap_or_default());
    spec.set_mounts(Some(binds));
    Ok(())
}

fn absolute(dir: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() { path.to_path_buf() } else { dir.join(path) };
    std::fs::canonicalize(&joined).unwrap_or(joined)
}

/// Write `dir/config.json` and `dir/rootfs`.
pub fn write(bundle: &Bundle, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| SetupError::io(format!("create {}", dir.display()), &e))?;
    let mut spec = bundle.spec.clone();
    let layers = &bundle.ext.layers;
    let readonly = bundle.ext.writable == WritableSpec::Readonly;
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs)
        .map_err(|e| SetupError::io(format!("create {}", rootfs.display()), &e))?;
    if layers.contains(&LayerSpec::HostRoot) {
        if layers.len() != 1 || !readonly {
            return Err(SetupError::new("export a host:/ profile").detail(
                "it exports only as the single layer of a read-only root (OCI has no overlay root): set writable = \"readonly\"",
            ));
        }
        host_root_parts(&rootfs, &mut spec)?;
    } else {
        for layer in layers {
            if let LayerSpec::Dir(path) = layer {
                copy_tree(Path::new(path), &rootfs)
                    .map_err(|e| SetupError::io(format!("copy layer {path}"), &e))?;
            }
        }
    }
    let root =
        oci_spec::runtime::RootBuilder::default().path("rootfs").readonly(readonly).build().expect("root");
    spec.set_root(Some(root));
    let json = to_json(&spec);
    let config = dir.join("config.json");
    std::fs::write(&config, json).map_err(|e| SetupError::io(format!("write {}", config.display()), &e))
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
