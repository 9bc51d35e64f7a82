//! `linux.sysctl`: only keys the container's own namespaces hold (as runc
//! allows them); a key that would change the host is refused before
//! anything starts. Written by the setup child, inside its namespaces,
//! through /proc/sys (whose net, ipc and uts entries are the writer's own
//! namespace's).

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Result, SetupError};

/// The IPC namespace's keys (besides `fs.mqueue.*`).
const IPC: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// The writes, as (/proc/sys path, value), in key order; an error naming
/// every key that is not the container's own.
pub fn plan(spec: &Spec) -> Result<Vec<(String, String)>> {
    let Some(linux) = spec.linux() else { return Ok(Vec::new()) };
    let Some(sysctl) = linux.sysctl() else { return Ok(Vec::new()) };
    let has = |t: LinuxNamespaceType| {
        linux.namespaces().iter().flatten().any(|n| n.typ() == t && n.path().is_none())
    };
    let mut keys: Vec<&String> = sysctl.keys().collect();
    keys.sort();
    let mut refused = Vec::new();
    let mut writes = Vec::new();
    for key in keys {
        let own = match key.as_str() {
            k if IPC.contains(&k) || k.starts_with("fs.mqueue.") => has(LinuxNamespaceType::Ipc),
            k if k.starts_with("net.") => has(LinuxNamespaceType::Network),
            "kernel.hostname" | "kernel.domainname" => has(LinuxNamespaceType::Uts),
            _ => false,
        };
        let clean = !key.is_empty() && key.split(['.', '/']).all(|p| !p.is_empty() && p != "..");
        if !own || !clean {
            refused.push(key.clone());
            continue;
        }
        writes.push((format!("/proc/sys/{}", key.replace('.', "/")), sysctl[key].clone()));
    }
    if refused.is_empty() {
        return Ok(writes);
    }
    Err(SetupError::new("apply linux.sysctl")
        .detail(format!("{} would change the host: not a key of a namespace the container has", refused.join(", ")))
        .fix("keep only net.* (with a network namespace), kernel.msg*/sem/shm* and fs.mqueue.* (ipc), kernel.hostname/domainname (uts)"))
}

/// Write them (in the setup child, in its namespaces).
pub fn apply(writes: &[(String, String)]) -> Result<()> {
    for (path, value) in writes {
        std::fs::write(path, value).map_err(|e| SetupError::io(format!("write {value} to {path}"), &e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    fn spec(sysctl: &serde_json::Value, namespaces: &serde_json::Value) -> oci_spec::runtime::Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": { "sysctl": sysctl, "namespaces": namespaces }
        }))
        .unwrap()
    }

    #[test]
    fn only_the_containers_own_keys_are_written() {
        let ns = serde_json::json!([{ "type": "network" }, { "type": "ipc" }]);
        let ok =
            spec(&serde_json::json!({ "net.ipv4.ping_group_range": "0 0", "kernel.shmmax": "1024" }), &ns);
        assert_eq!(
            super::plan(&ok).unwrap(),
            [
                ("/proc/sys/kernel/shmmax".to_owned(), "1024".to_owned()),
                ("/proc/sys/net/ipv4/ping_group_range".to_owned(), "0 0".to_owned())
            ]
        );
        for bad in
            ["kernel.pid_max", "vm.overcommit_memory", "kernel.hostname", "net..x", "net.ipv4/../../kernel"]
        {
            let err = super::plan(&spec(&serde_json::json!({ bad: "1" }), &ns)).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        let host_net = spec(&serde_json::json!({ "net.ipv4.ip_forward": "1" }), &serde_json::json!([]));
        assert!(super::plan(&host_net).is_err(), "net.* without a network namespace is the host's");
    }
}
