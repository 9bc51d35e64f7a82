//! The OCI mount list: the standard mounts (in the order a runtime must
//! make them), then the profile's own.

use oci_spec::runtime::{Mount, MountBuilder};

use crate::profile::model::{Model, MountKind};

fn mount(target: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(target)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>())
        .build()
        .expect("every mount field is set")
}

/// Where host services keep their unix sockets (FHS: /run, and /tmp for X11,
/// ssh-agent or tmux): a sandbox with no network (or a nat network, whose
/// egress rules bind only its own namespace) must not reach them either,
/// and a pathname socket is reached through the file system, whatever the
/// network namespace. With `host:/` and not the host's network, each is a fresh tmpfs
/// unless the profile mounts something there itself (a socket it wants to
/// pass in is bound after, on top). /var/run is /run on current systems.
fn hidden_host_trees(model: &Model) -> Vec<Mount> {
    model
        .hidden_host_trees()
        .into_iter()
        .map(|(target, mode)| {
            mount(target, "tmpfs", "tmpfs", &["nosuid", "nodev", &format!("mode={mode:o}")])
        })
        .collect()
}

pub(super) fn mounts(model: &Model, userns: bool) -> Vec<Mount> {
    let mut out = system_mounts(model, userns);
    out.extend(hidden_host_trees(model));
    out.extend(model.mounts.iter().map(profile_mount));
    out
}

/// The standard mounts `[system_mounts]` keeps, in the order a runtime must make them.
fn system_mounts(model: &Model, userns: bool) -> Vec<Mount> {
    let sys = &model.system_mounts;
    let mut out = Vec::new();
    if sys.proc {
        out.push(proc(model, userns));
    }
    if sys.dev {
        out.push(mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]));
    }
    if sys.dev_pts {
        // gid 5 (tty) exists only when the sandbox maps more than one id.
        let opts: &[&str] = if userns {
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
        } else {
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
        };
        out.push(mount("/dev/pts", "devpts", "devpts", opts));
    }
    if sys.dev_shm {
        out.push(mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ));
    }
    if sys.dev_mqueue {
        out.push(mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]));
    }
    if sys.sys {
        out.push(sysfs(model));
    }
    out
}

/// A procfs belongs to its pid namespace's owner, as a sysfs does to its net
/// namespace's: a user namespace sharing the host's binds the host's /proc.
fn proc(model: &Model, userns: bool) -> Mount {
    if model.namespaces.pid || !userns {
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])
    } else {
        mount("/proc", "bind", "/proc", &["rbind", "nosuid", "noexec", "nodev"])
    }
}

/// The kernel lets a new sysfs be mounted only by the owner of the net
/// namespace; sharing the host's, bind its /sys read-only.
fn sysfs(model: &Model) -> Mount {
    if model.namespaces.net {
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"])
    } else {
        mount("/sys", "bind", "/sys", &["rbind", "nosuid", "noexec", "nodev", "ro"])
    }
}

/// One `[[mount]]` of the profile as an OCI mount.
fn profile_mount(m: &crate::profile::model::Mount) -> Mount {
    let target = m.target.display().to_string();
    let mut opts: Vec<String> = Vec::new();
    let (typ, source) = match &m.kind {
        MountKind::Bind { source, writable } => {
            opts.push("rbind".into());
            opts.push(if *writable { "rw" } else { "ro" }.into());
            ("bind", source.display().to_string())
        }
        MountKind::Tmpfs { size, mode } => {
            opts.push(format!("mode={mode:o}"));
            if let Some(size) = size {
                opts.push(format!("size={size}"));
            }
            ("tmpfs", "tmpfs".to_owned())
        }
    };
    for (on, flag) in [(m.nosuid, "nosuid"), (m.nodev, "nodev"), (m.noexec, "noexec")] {
        if on {
            opts.push(flag.into());
        }
    }
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    mount(&target, typ, &source, &opts)
}
