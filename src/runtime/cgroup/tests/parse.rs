//! Pure tests: discovery from mountinfo and /proc/self/cgroup text,
//! placement rules, and the OCI → cgroup conversions.

use std::path::{Path, PathBuf};

use super::super::hierarchy::{default_leaf, placement};
use super::super::limits::{Setting, request};
use super::super::{blkio_to_io_weight, shares_to_weight};
use super::{MOUNTINFO, PROC_CGROUP, resources};
use crate::runtime::cgroup::{Hierarchies, Hierarchy};

#[test]
fn parses_this_machines_hybrid_layout() {
    let h = Hierarchies::parse(MOUNTINFO, PROC_CGROUP);
    let v2 = h.v2.as_ref().expect("cgroup2 found");
    assert_eq!(v2.mount, Path::new("/sys/fs/cgroup/unified"));
    assert_eq!(v2.current, Path::new("/"));
    assert!(v2.controllers.is_empty());
    let names: Vec<String> = h.v1.iter().map(|x| x.controllers.join(",")).collect();
    assert_eq!(
        names,
        ["name=systemd", "pids", "blkio", "freezer", "devices", "memory", "cpuset", "cpuacct", "cpu"]
    );
    let memory = h.v1_with("memory").unwrap();
    assert_eq!(memory.mount, Path::new("/sys/fs/cgroup/memory"));
    assert_eq!(memory.root, Path::new("/"));
    assert_eq!(memory.current, Path::new("/process_api/42e111ecf5787d27ac05fc031c6c3c4d"));
    assert_eq!(
        memory.dir_of(&memory.current).unwrap(),
        Path::new("/sys/fs/cgroup/memory/process_api/42e111ecf5787d27ac05fc031c6c3c4d")
    );
    assert_eq!(h.v1_with("pids").unwrap().dir_of(Path::new("/")).unwrap(), Path::new("/sys/fs/cgroup/pids"));
    assert!(h.v1_with("hugetlb").is_none());
}

#[test]
fn parses_the_real_files_of_this_process() {
    let h = Hierarchies::discover().expect("readable /proc/self");
    // Whatever the host, every hierarchy found must be a mounted directory.
    for x in h.v2.iter().chain(&h.v1) {
        assert!(x.mount.is_dir(), "{} is not mounted", x.mount.display());
    }
}

#[test]
fn parses_pure_v2_comounted_escaped_and_container_views() {
    let mountinfo = "\
30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
50 31 0:40 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
51 31 0:41 / /mnt/my\\040cgroups rw,relatime - cgroup cgroup rw,pids,clone_children
52 31 0:40 / /other/cpu rw,relatime - cgroup cgroup rw,cpu,cpuacct
";
    let proc_cgroup = "\
12:net_cls,net_prio:/
5:cpu,cpuacct:/docker/abc/inner
3:pids:/a
0::/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope
";
    let h = Hierarchies::parse(mountinfo, proc_cgroup);
    let v2 = h.v2.clone().unwrap();
    assert_eq!(v2.mount, Path::new("/sys/fs/cgroup"));
    assert_eq!(
        v2.dir_of(&v2.current).unwrap(),
        Path::new("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope")
    );
    // net_cls is ours but not mounted: left out.
    assert_eq!(h.v1.len(), 2);
    let cpu = h.v1_with("cpuacct").unwrap();
    assert_eq!(cpu.controllers, ["cpu", "cpuacct"]);
    // Of two mounts of one hierarchy, the one showing the most of it.
    assert_eq!(cpu.mount, Path::new("/other/cpu"));
    assert_eq!(cpu.dir_of(&cpu.current).unwrap(), Path::new("/other/cpu/docker/abc/inner"));
    let pids = h.v1_with("pids").unwrap();
    assert_eq!(pids.mount, Path::new("/mnt/my cgroups"));
    assert_eq!(pids.label(), "v1 pids");
    // A container's view: only /docker/abc of the hierarchy is mounted.
    let container = Hierarchy {
        mount: PathBuf::from("/sys/fs/cgroup/cpu"),
        root: PathBuf::from("/docker/abc"),
        current: PathBuf::from("/docker/abc/inner"),
        controllers: vec!["cpu".into()],
    };
    assert_eq!(container.dir_of(&container.current).unwrap(), Path::new("/sys/fs/cgroup/cpu/inner"));
    assert_eq!(container.dir_of(Path::new("/docker/abc")).unwrap(), Path::new("/sys/fs/cgroup/cpu"));
    assert_eq!(container.dir_of(Path::new("/elsewhere")), None);
}

#[test]
fn placement_follows_the_cgroups_path_rules() {
    let h = Hierarchy {
        mount: PathBuf::from("/sys/fs/cgroup/memory"),
        root: PathBuf::from("/"),
        current: PathBuf::from("/process_api/42e"),
        controllers: vec!["memory".into()],
    };
    let at = |p: Option<&str>| placement(&h, p.map(Path::new), "sandbox-x-1");
    assert_eq!(at(None).unwrap(), Path::new("/process_api/42e/sandbox-x-1"));
    assert_eq!(at(Some("/ci/job1")).unwrap(), Path::new("/ci/job1"));
    assert_eq!(at(Some("jobs/./x")).unwrap(), Path::new("/process_api/42e/jobs/x"));
    for bad in ["../escape", "/a/../b", "system.slice:docker:abc", "/"] {
        let e = at(Some(bad)).expect_err(bad).to_string();
        assert!(e.contains("linux.cgroupsPath"), "{e}");
    }
    assert_eq!(default_leaf("dev shell/../x", 7), "sandbox-dev_shell_.._x-7");
    assert_eq!(default_leaf("", 7), "sandbox-x-7");
    assert_eq!(default_leaf(&"n".repeat(300), 7).len(), "sandbox--7".len() + 64);
}

#[test]
fn runc_conversions() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(shares_to_weight(1), 1, "clamped to the v1 range");
    assert_eq!(blkio_to_io_weight(10), 1);
    assert_eq!(blkio_to_io_weight(500), 4950);
    assert_eq!(blkio_to_io_weight(1000), 10_000);
    // v2 swap is memory+swap minus memory; -1 is "max".
    let swap = |total, memory| Setting::MemorySwap { total, memory }.v2_writes()[0].choices[0].1.clone();
    assert_eq!(swap(Some(3 << 20), Some(1 << 20)), (2 << 20).to_string());
    assert_eq!(swap(None, Some(1 << 20)), "max");
    let cpu = |quota, period| Setting::CpuQuota { quota, period }.v2_writes()[0].choices[0].1.clone();
    assert_eq!(cpu(Some(50_000), Some(200_000)), "50000 200000");
    assert_eq!(cpu(None, None), "max 100000");
    assert_eq!(Setting::Pids(None).v1_writes()[0].choices[0].1, "max");
    assert_eq!(Setting::Memory(None).v1_writes()[0].choices[0].1, "-1");
}

#[test]
fn reads_the_oci_resources() {
    let req = request(Some(&resources(serde_json::json!({
        "memory": {"limit": 1_048_576, "swap": -1, "reservation": 0},
        "cpu": {"shares": 0, "period": 100_000, "cpus": "0-1"},
        "pids": {"limit": -1},
        "blockIO": {"weight": 0},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 1}],
        "devices": [{"allow": false, "access": "rwm"}]
    }))))
    .unwrap();
    assert_eq!(
        req.settings,
        [
            Setting::Memory(Some(1_048_576)),
            Setting::MemorySwap { total: None, memory: Some(1_048_576) },
            Setting::CpuQuota { quota: None, period: Some(100_000) },
            Setting::Pids(None),
        ]
    );
    assert_eq!(
        req.unsupported,
        [
            "cpuset cpus (\"0-1\"): not supported by sandbox's cgroup drivers",
            "hugepage limits (1): not supported by sandbox's cgroup drivers",
        ]
    );
    for (bad, says) in [
        (serde_json::json!({"memory": {"swap": 1_048_576}}), "memory+swap needs a memory limit"),
        (serde_json::json!({"memory": {"limit": 2_097_152, "swap": 1_048_576}}), "no larger than it"),
        (serde_json::json!({"memory": {"limit": -5}}), "-5 is negative"),
        (serde_json::json!({"blockIO": {"weight": 5}}), "outside 10..=1000"),
    ] {
        let e = request(Some(&resources(bad))).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
    assert_eq!(request(None).unwrap().settings, []);
}

#[test]
fn a_systemd_cgroups_path_is_where_systemd_would_put_it() {
    use super::super::hierarchy::systemd_path;
    assert_eq!(systemd_path("machine.slice:libpod:abc").unwrap(), "/machine.slice/libpod-abc.scope");
    assert_eq!(systemd_path("user-1000.slice:cri:x").unwrap(), "/user.slice/user-1000.slice/cri-x.scope");
    assert_eq!(systemd_path(":p:n").unwrap(), "/system.slice/p-n.scope");
    assert_eq!(systemd_path("-.slice::n").unwrap(), "/n.scope");
    for bad in ["/default/x", "a:b", "a.slice:b:", "a.slice:b:../x", "a--b.slice:p:n", "notaslice:p:n"] {
        assert!(systemd_path(bad).is_err(), "{bad}");
    }
}
