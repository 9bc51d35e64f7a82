//! What the runtime does not apply is refused, by name, before anything
//! starts: a spec (a bundle from anywhere, or one of our own) that asks for
//! hooks it does not run, sysctls, device nodes, an LSM label or a
//! namespace to join would otherwise run without them, weaker than it says. The cgroup resources
//! have their own list (`cgroup::limits`), which best effort may skip.

use oci_spec::runtime::Spec;

use crate::error::{Result, SetupError};

/// Who runs the spec: `sandbox run` in the foreground runs no hooks; a
/// container (`create`, `start`, `delete`) runs those that belong in the
/// runtime's namespaces (`container/hooks.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runner {
    Foreground,
    Container,
}

/// The fields of `spec` that are set and that this runtime does not apply,
/// by their place in config.json.
pub fn unsupported(spec: &Spec, runner: Runner) -> Vec<&'static str> {
    let mut found = Vec::new();
    let mut check = |set: bool, name: &'static str| {
        if set {
            found.push(name);
        }
    };
    let non_empty = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    if let Some(h) = spec.hooks() {
        let set = |l: &Option<Vec<oci_spec::runtime::Hook>>| l.as_ref().is_some_and(|l| !l.is_empty());
        let ours = [h.prestart(), h.create_runtime(), h.poststart(), h.poststop()];
        check(runner == Runner::Foreground && ours.iter().any(|l| set(l)), "hooks");
        check(set(h.create_container()), "hooks.createContainer");
        check(set(h.start_container()), "hooks.startContainer");
    }
    check(spec.solaris().is_some() || spec.windows().is_some(), "solaris/windows");
    check(spec.vm().is_some() || spec.zos().is_some(), "vm/zos");
    if let Some(p) = spec.process() {
        check(non_empty(p.apparmor_profile()), "process.apparmorProfile");
        check(non_empty(p.selinux_label()), "process.selinuxLabel");
        check(p.io_priority().is_some(), "process.ioPriority");
        check(p.scheduler().is_some(), "process.scheduler");
        check(p.exec_cpu_affinity().is_some(), "process.execCPUAffinity");
        check(p.command_line().is_some(), "process.commandLine");
        check(p.console_size().is_some(), "process.consoleSize");
    }
    if let Some(l) = spec.linux() {
        // Joining a user or mount namespace would change the launcher's
        // own credentials or file system view; the others are joined.
        let own = |n: &oci_spec::runtime::LinuxNamespace| {
            matches!(
                n.typ(),
                oci_spec::runtime::LinuxNamespaceType::User | oci_spec::runtime::LinuxNamespaceType::Mount
            )
        };
        check(
            l.namespaces().iter().flatten().any(|n| n.path().is_some() && own(n)),
            "linux.namespaces[].path (user, mount)",
        );
        let propagation = l.rootfs_propagation().as_deref().unwrap_or("private");
        check(!matches!(propagation, "private" | "rprivate" | ""), "linux.rootfsPropagation");
        check(non_empty(l.mount_label()), "linux.mountLabel");
        check(l.intel_rdt().is_some(), "linux.intelRdt");
        check(l.memory_policy().is_some(), "linux.memoryPolicy");
        check(l.personality().is_some(), "linux.personality");
        check(l.time_offsets().as_ref().is_some_and(|t| !t.is_empty()), "linux.timeOffsets");
        check(l.net_devices().as_ref().is_some_and(|d| !d.is_empty()), "linux.netDevices");
    }
    found
}

/// Refuse a spec with any field [`unsupported`] lists.
pub fn check(spec: &Spec, runner: Runner) -> Result<()> {
    let found = unsupported(spec, runner);
    if found.is_empty() {
        return Ok(());
    }
    Err(SetupError::new("read the spec")
        .detail(format!(
            "{} {} not supported by sandbox",
            found.join(", "),
            if found.len() == 1 { "is" } else { "are" }
        ))
        .fix("remove them from config.json; sandbox refuses what it would not apply rather than run weaker"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Spec {
        let mut base = serde_json::json!({
            "ociVersion": "1.2.0",
            "root": { "path": "rootfs" },
            "process": { "cwd": "/", "args": ["/bin/true"], "user": { "uid": 0, "gid": 0 } },
            "linux": { "namespaces": [{ "type": "pid" }, { "type": "mount" }] }
        });
        merge(&mut base, json);
        serde_json::from_value(base).expect("a spec")
    }

    fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
        match (into, from) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (slot, v) => *slot = v,
        }
    }

    #[test]
    fn a_plain_spec_has_nothing_to_refuse() {
        assert!(unsupported(&spec(serde_json::json!({})), Runner::Foreground).is_empty());
        let ours = spec(
            serde_json::json!({ "linux": { "rootfsPropagation": "private", "sysctl": {}, "devices": [] } }),
        );
        assert!(unsupported(&ours, Runner::Foreground).is_empty());
        let hooks = spec(serde_json::json!({ "hooks": { "prestart": [{ "path": "/bin/true" }] } }));
        assert!(unsupported(&hooks, Runner::Container).is_empty(), "a container runs prestart");
    }

    #[test]
    fn every_unapplied_field_is_named() {
        let cases = [
            (serde_json::json!({ "hooks": { "prestart": [{ "path": "/bin/true" }] } }), "hooks"),
            (
                serde_json::json!({ "linux": { "namespaces": [{ "type": "mount", "path": "/proc/1/ns/mnt" }] } }),
                "linux.namespaces[].path (user, mount)",
            ),
            (serde_json::json!({ "linux": { "rootfsPropagation": "shared" } }), "linux.rootfsPropagation"),
            (
                serde_json::json!({ "process": { "apparmorProfile": "docker-default" } }),
                "process.apparmorProfile",
            ),
            (
                serde_json::json!({ "process": { "selinuxLabel": "system_u:system_r:container_t" } }),
                "process.selinuxLabel",
            ),
            (
                serde_json::json!({ "hooks": { "startContainer": [{ "path": "/bin/true" }] } }),
                "hooks.startContainer",
            ),
            (serde_json::json!({ "linux": { "personality": { "domain": "LINUX32" } } }), "linux.personality"),
        ];
        for (json, name) in cases {
            let found = unsupported(&spec(json.clone()), Runner::Foreground);
            assert_eq!(found, [name], "{json}");
            let err = check(&spec(json), Runner::Foreground).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
