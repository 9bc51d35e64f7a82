//! The mount plan: the spec's mounts, masked and read-only paths turned into
//! an ordered list of operations, as bubblewrap does with its options. A pure
//! value, so the order and the flags are unit-tested without mounting.

use std::path::PathBuf;

use nix::mount::MsFlags;
use oci_spec::runtime::Spec;

use crate::error::{Result, SetupError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Bind a host path (opened before the root is built) at `target`.
    Bind { source: PathBuf, target: PathBuf, recursive: bool, flags: MsFlags },
    /// Mount a new filesystem instance at `target`.
    Mount { fstype: String, source: String, target: PathBuf, flags: MsFlags, data: String },
    /// Populate a fresh /dev: device nodes bound from the host, standard links.
    DevNodes,
    /// Hide `target`: /dev/null over a file, an empty read-only tmpfs over a directory.
    Mask { target: PathBuf },
    /// Make `target` read-only (bind it onto itself, remount read-only).
    ReadOnly { target: PathBuf },
}

/// Propagation options other than private, which the sandbox's mounts never have.
const PROPAGATION: &[&str] = &["slave", "rslave", "shared", "rshared", "unbindable", "runbindable"];

/// Device nodes every sandbox gets, bound from the host's /dev.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Build the plan from the spec.
pub fn plan(spec: &Spec) -> Result<Vec<Op>> {
    let mut ops = Vec::new();
    for m in spec.mounts().as_deref().unwrap_or_default() {
        let target = m.destination().clone();
        if !target.is_absolute() {
            return Err(SetupError::new(format!("mount {}", target.display()))
                .detail("the destination is not absolute"));
        }
        let typ = m.typ().as_deref().unwrap_or("none");
        let options = m.options().as_deref().unwrap_or_default();
        let (flags, data, bind, recursive) = parse_options(options);
        let mount_error = |what: String| SetupError::new(format!("mount {}", target.display())).detail(what);
        if let Some(p) = options.iter().find(|o| PROPAGATION.contains(&o.as_str())) {
            return Err(mount_error(format!(
                "propagation {p} is not supported (the sandbox's mounts are private)"
            ))
            .fix("remove the option"));
        }
        if (bind || typ == "bind") && !data.is_empty() {
            return Err(
                mount_error(format!("options {data} are not supported on a bind mount")).fix("remove them")
            );
        }
        if bind || typ == "bind" {
            let source = m.source().clone().ok_or_else(|| {
                SetupError::new(format!("bind mount on {}", target.display()))
                    .detail("the mount has no source")
            })?;
            ops.push(Op::Bind { source, target, recursive, flags });
        } else {
            let source = m.source().as_ref().map_or_else(|| typ.to_owned(), |s| s.display().to_string());
            let is_dev = target == std::path::Path::new("/dev");
            ops.push(Op::Mount { fstype: typ.to_owned(), source, target, flags, data });
            if is_dev {
                ops.push(Op::DevNodes);
            }
        }
    }
    if let Some(linux) = spec.linux() {
        for p in linux.masked_paths().as_deref().unwrap_or_default() {
            ops.push(Op::Mask { target: PathBuf::from(p) });
        }
        for p in linux.readonly_paths().as_deref().unwrap_or_default() {
            ops.push(Op::ReadOnly { target: PathBuf::from(p) });
        }
    }
    Ok(ops)
}

/// OCI mount options → (flags, data, is a bind, recursive).
pub fn parse_options(options: &[String]) -> (MsFlags, String, bool, bool) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    let (mut bind, mut recursive) = (false, false);
    for o in options {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "suid" => flags &= !MsFlags::MS_NOSUID,
            "dev" => flags &= !MsFlags::MS_NODEV,
            "exec" => flags &= !MsFlags::MS_NOEXEC,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "bind" => bind = true,
            "rbind" => (bind, recursive) = (true, true),
            // Propagation is private for the whole tree (others are refused by `plan`).
            "private" | "rprivate" => {}
            other => data.push(other.to_owned()),
        }
    }
    (flags, data.join(","), bind, recursive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::host::HostContext;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let (flags, data, bind, rec) =
            parse_options(&strings(&["nosuid", "strictatime", "mode=755", "size=65536k"]));
        assert_eq!(flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(data, "mode=755,size=65536k");
        assert!(!bind && !rec);
        let (flags, data, bind, rec) = parse_options(&strings(&["rbind", "ro", "nosuid", "nodev"]));
        assert_eq!(flags, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV);
        assert!(data.is_empty() && bind && rec);
    }

    #[test]
    fn plan_follows_the_spec_order_with_devices_after_dev() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/dev-shell.toml");
        let loaded = crate::profile::load_profile(&path, &HostContext::fixed());
        let spec = crate::compile::compile(loaded.model.as_ref().unwrap(), &HostContext::fixed()).spec;
        let ops = plan(&spec).unwrap();
        let targets: Vec<String> = ops
            .iter()
            .map(|op| match op {
                Op::Bind { target, .. } | Op::Mount { target, .. } => target.display().to_string(),
                Op::DevNodes => "<devices>".into(),
                Op::Mask { target } => format!("mask {}", target.display()),
                Op::ReadOnly { target } => format!("ro {}", target.display()),
            })
            .collect();
        assert_eq!(
            &targets[..9],
            ["/proc", "/dev", "<devices>", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/work", "/tmp"]
        );
        assert!(targets.contains(&"mask /proc/kcore".to_owned()));
        assert_eq!(targets.last().unwrap(), "ro /proc/sysrq-trigger");
        // Host network: /sys is the host's, bound read-only.
        assert!(
            matches!(&ops[6], Op::Bind { recursive: true, flags, .. } if flags.contains(MsFlags::MS_RDONLY))
        );
    }
}
