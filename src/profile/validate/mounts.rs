//! `[rootfs]`, `[system_mounts]` and `[[mount]]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Cx, flag};
use crate::image::reference::{SCHEMES, Source};
use crate::profile::diag::Diag;
use crate::profile::model::{Layer, Mount, MountKind, Rootfs, SystemMounts, Writable};
use crate::profile::raw::{self, Access, MountType, OneOf, WritableWord};
use crate::profile::source::{Sp, Span};

/// Largest tmpfs we accept: beyond this it is a typo.
const MAX_TMPFS: u64 = 1 << 50;

/// Device nodes the runtime creates in /dev; mounting over them would
/// replace what every program relies on.
const RUNTIME_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/console",
];

pub(super) fn check_rootfs(cx: &mut Cx, raw: &raw::Rootfs) -> Option<Rootfs> {
    let mut layers = Vec::new();
    let mut ok = true;
    for layer in &raw.layers {
        match layer_of(cx, layer) {
            Some(l) => layers.push(l),
            None => ok = false,
        }
    }
    if raw.layers.is_empty() {
        layers.push(Layer::HostRoot);
    }
    let tmpfs_size = raw.tmpfs_size.as_ref().and_then(|s| cx.size("`tmpfs_size`", s, 1 << 20, MAX_TMPFS));
    let writable = match &raw.writable {
        None | Some(OneOf::Scalar(WritableWord::Tmpfs)) => Some(Writable::Tmpfs { size: tmpfs_size }),
        Some(OneOf::Scalar(WritableWord::Readonly)) => Some(Writable::ReadOnly),
        Some(OneOf::Collection(dir)) => {
            if let Some(d) = &dir.value.dir {
                Some(Writable::Dir(cx.host_path(d)))
            } else {
                cx.error(
                    Diag::at("profile::writable", dir.span, "`writable` table needs `dir`")
                        .help("write writable = { dir = \".sandbox/upper\" }"),
                );
                None
            }
        }
    };
    if let (Some(size), Some(w)) = (&raw.tmpfs_size, &writable) {
        if !matches!(w, Writable::Tmpfs { .. }) {
            cx.error(
                Diag::at(
                    "profile::tmpfs-size",
                    size.span,
                    "`tmpfs_size` is set but the writable layer is not a tmpfs",
                )
                .help("remove `tmpfs_size`, or set writable = \"tmpfs\""),
            );
            ok = false;
        }
    }
    ok.then_some(Rootfs { layers, writable: writable? })
}

fn layer_of(cx: &mut Cx, layer: &Sp<String>) -> Option<Layer> {
    let text = layer.value.as_str();
    if text == "host:/" {
        return Some(Layer::HostRoot);
    }
    match Source::parse(text) {
        Ok(Some(source)) => return image_layer(cx, layer, source),
        Err(e) => {
            let help = format!(
                "an image or archive layer is one of {SCHEMES}, e.g. \"docker://registry.example.com/team/tools:1\""
            );
            cx.error(Diag::at("profile::layer", layer.span, format!("layer `{text}`: {e}")).help(help));
            return None;
        }
        Ok(None) => {}
    }
    if let Some((scheme, _)) = text.split_once(':').filter(|(s, _)| !s.contains('/')) {
        let diag = Diag::at("profile::layer", layer.span, format!("unknown layer type `{scheme}:`"))
            .help(format!("layers are \"host:/\", a directory, or an image or archive: {SCHEMES}"));
        cx.error(diag);
        return None;
    }
    cx.existing_host_path("layer", layer, true).map(Layer::Dir)
}

/// An image or archive layer; a local one must exist (its path is made
/// absolute, relative to the profile's directory).
fn image_layer(cx: &mut Cx, layer: &Sp<String>, source: Source) -> Option<Layer> {
    let Some(path) = source.path() else { return Some(Layer::Image(source)) };
    let want_dir = matches!(source, Source::Oci { .. });
    let at = Sp::new(path.display().to_string(), layer.span);
    let found = cx.existing_host_path("image layer", &at, want_dir)?;
    // An archive is a regular file: a device (`tar:/dev/watchdog`: its
    // driver acts on our open, as root) or a FIFO or `/dev/zero` (read
    // forever) is refused before anything opens it.
    if !want_dir && !found.is_file() {
        let (what, help) = if found.is_dir() {
            ("a directory", "an OCI layout directory is `oci:PATH`; a root directory is the plain path")
        } else {
            ("not a regular file", "an archive layer names a file (.tar, .tar.gz, .tar.zst, .tar.xz)")
        };
        let diag =
            Diag::at("profile::layer", layer.span, format!("{} is {what}, not an archive", found.display()))
                .help(help);
        cx.error(diag);
        return None;
    }
    Some(Layer::Image(source.with_path(found)))
}

pub(super) fn check_mounts(
    cx: &mut Cx,
    sys: &raw::SystemMounts,
    raw: &[raw::Mount],
) -> (SystemMounts, Option<Vec<Mount>>) {
    let system = SystemMounts {
        proc: flag(sys.proc.as_ref(), true),
        dev: flag(sys.dev.as_ref(), true),
        dev_pts: flag(sys.dev_pts.as_ref(), true),
        dev_shm: flag(sys.dev_shm.as_ref(), true),
        dev_mqueue: flag(sys.dev_mqueue.as_ref(), true),
        sys: flag(sys.sys.as_ref(), true),
    };
    let mut mounts = Vec::new();
    let mut seen: BTreeMap<PathBuf, Span> = BTreeMap::new();
    let mut ok = true;
    for m in raw {
        let Some(target_raw) = &m.target else {
            cx.error(missing_target(m));
            ok = false;
            continue;
        };
        let Some(target) = cx.sandbox_path("mount target", target_raw) else {
            ok = false;
            continue;
        };
        ok &= target_allowed(cx, &target, target_raw, system);
        ok &= unique_target(cx, &mut seen, &target, target_raw);
        match mount_kind(cx, m, target_raw.span) {
            Some(kind) => mounts.push(Mount {
                target,
                kind,
                nosuid: flag(m.nosuid.as_ref(), true),
                nodev: flag(m.nodev.as_ref(), true),
                noexec: flag(m.noexec.as_ref(), false),
            }),
            None => ok = false,
        }
    }
    (system, ok.then_some(mounts))
}

/// A mount without `target`, pointed at by what it does set, if anything.
fn missing_target(m: &raw::Mount) -> Diag {
    let span = m.source.as_ref().map(|s| s.span).or(m.kind.as_ref().map(|k| k.span));
    let diag = match span {
        Some(s) => Diag::at("profile::mount-target", s, "mount without `target`"),
        None => Diag::new("profile::mount-target", "mount without `target`"),
    };
    diag.help("add target = \"/path/in/sandbox\"")
}

/// Whether `target` is new to `seen` (a second mount there would hide the
/// first); records it if so.
fn unique_target(cx: &mut Cx, seen: &mut BTreeMap<PathBuf, Span>, target: &Path, raw: &Sp<String>) -> bool {
    if let Some(first) = seen.get(target) {
        let diag =
            Diag::at("profile::duplicate-target", raw.span, format!("{} is mounted twice", target.display()))
                .label(*first, "first mounted here")
                .help("remove one of the mounts, or mount at a different target");
        cx.error(diag);
        return false;
    }
    seen.insert(target.to_path_buf(), raw.span);
    true
}

fn target_allowed(cx: &mut Cx, target: &Path, raw: &Sp<String>, system: SystemMounts) -> bool {
    let (message, help) = if target == Path::new("/") {
        ("mount over / replaces the whole root filesystem", "set the root with [rootfs] layers")
    } else if target.starts_with("/proc") && system.proc {
        (
            "mount over /proc would hide or replace the kernel's process view",
            "mount elsewhere; /proc is a fresh procfs",
        )
    } else if RUNTIME_DEVICES.iter().any(|d| target == Path::new(d)) && system.dev {
        (
            "mount over a device node the runtime provides",
            "mount elsewhere; null, zero, full, random, urandom and tty are always there",
        )
    } else if target == Path::new("/dev") && system.dev {
        (
            "mount over /dev while the runtime provides /dev",
            "set system_mounts.dev = false to supply your own /dev",
        )
    } else {
        return true;
    };
    cx.error(Diag::at("profile::forbidden-target", raw.span, message).help(help));
    false
}

fn mount_kind(cx: &mut Cx, m: &raw::Mount, target: Span) -> Option<MountKind> {
    let kind = match (&m.kind, &m.source) {
        (Some(k), _) => k.value,
        (None, Some(_)) => MountType::Bind,
        (None, None) => {
            let diag = Diag::at("profile::mount-kind", target, "mount has neither `source` nor `type`")
                .help("bind a host path with source = \"...\", or write type = \"tmpfs\"");
            cx.error(diag);
            return None;
        }
    };
    match kind {
        MountType::Bind => {
            if let Some(extra) = m.size.as_ref().map(|s| s.span).or(m.permissions.as_ref().map(|p| p.span)) {
                cx.error(
                    Diag::at("profile::mount-option", extra, "`size` and `permissions` are for tmpfs mounts")
                        .help("remove it, or set type = \"tmpfs\""),
                );
                return None;
            }
            let Some(source) = &m.source else {
                cx.error(
                    Diag::at("profile::mount-source", target, "bind mount without `source`")
                        .help("add source = \"/host/path\""),
                );
                return None;
            };
            let source = cx.existing_host_path("bind source", source, false)?;
            let writable = m.mode.as_ref().is_some_and(|a| a.value == Access::Rw);
            Some(MountKind::Bind { source, writable })
        }
        MountType::Tmpfs => {
            if let Some(extra) = m.source.as_ref().map(|s| s.span).or(m.mode.as_ref().map(|a| a.span)) {
                cx.error(
                    Diag::at("profile::mount-option", extra, "a tmpfs takes no `source` or `mode`")
                        .help("a tmpfs is empty and writable; remove the key"),
                );
                return None;
            }
            let size = m.size.as_ref().map(|s| cx.size("tmpfs `size`", s, 4096, MAX_TMPFS));
            let mode = match &m.permissions {
                None => Some(0o755),
                Some(p) => permissions(cx, p),
            };
            if size == Some(None) {
                return None;
            }
            Some(MountKind::Tmpfs { size: size.flatten(), mode: mode? })
        }
    }
}

fn permissions(cx: &mut Cx, p: &Sp<String>) -> Option<u32> {
    match u32::from_str_radix(&p.value, 8) {
        Ok(mode) if mode <= 0o7777 => Some(mode),
        _ => {
            cx.error(
                Diag::at(
                    "profile::permissions",
                    p.span,
                    format!("\"{}\" is not an octal file mode", p.value),
                )
                .help("write the mode in octal, e.g. \"1777\" or \"0755\""),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::profile::host::HostContext;

    #[test]
    fn an_archive_layer_that_is_a_device_is_refused() {
        for layer in ["tar:/dev/null", "oci-archive:/dev/zero", "docker-archive:/dev/zero"] {
            let text = format!("[rootfs]\nlayers = [{layer:?}]\n");
            let path = Path::new("/layer-test/p.toml");
            let loaded = crate::profile::load_profile_text(path, text, &HostContext::fixed());
            assert!(loaded.model.is_none(), "{layer}");
            let said = format!("{:?}", loaded.diags);
            assert!(said.contains("not a regular file"), "{layer}: {said}");
        }
    }
}
