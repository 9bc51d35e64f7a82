//! Tests of the cgroup drivers: discovery and conversions (pure), both
//! drivers against a fake cgroupfs in a temporary directory, and the v1
//! driver for real on this machine (root).

pub(super) mod fake;
mod parse;
mod real;
mod v1;
mod v2;

use std::rc::Rc;

use oci_spec::runtime::LinuxResources;

use super::{Cgroup, Hierarchies, Options};
use fake::{Fake, Features};

/// The cgroup lines of this machine's /proc/self/mountinfo, with a few others.
pub const MOUNTINFO: &str = "\
23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

/// This machine's /proc/self/cgroup.
pub const PROC_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/42e111ecf5787d27ac05fc031c6c3c4d
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

pub const OWN_MEMORY: &str = "memory/process_api/42e111ecf5787d27ac05fc031c6c3c4d";

/// This machine's hybrid layout in a fake cgroupfs.
pub fn hybrid(features: Features) -> (Rc<Fake>, Hierarchies) {
    let fake = Fake::new(features);
    for c in ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"] {
        fake.v1(c, &[c]);
    }
    fake.v1("systemd", &["name=systemd"]);
    fake.v2("unified", &["hugetlb"]);
    fake.cgroup(&fake.path(OWN_MEMORY));
    let mountinfo = MOUNTINFO.replace("/sys/fs/cgroup", &fake.tmp.path().display().to_string());
    let h = Hierarchies::parse(&mountinfo, PROC_CGROUP);
    (fake, h)
}

/// A pure cgroup v2 host: the launcher in `current`, the root offering `offered`.
pub fn pure_v2(features: Features, current: &str, offered: &[&str]) -> (Rc<Fake>, Hierarchies) {
    let fake = Fake::new(features);
    let mount = fake.v2("cgroup", offered);
    // Every ancestor of the launcher's cgroup hands the controllers down (systemd's delegation).
    let mut dir = mount.clone();
    for part in current.split('/').filter(|p| !p.is_empty()) {
        fake.set(&dir, "cgroup.subtree_control", &offered.join(" "));
        dir.push(part);
        fake.cgroup(&dir);
    }
    let mountinfo = format!(
        "30 23 0:26 / {} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
        mount.display()
    );
    let h = Hierarchies::parse(&mountinfo, &format!("0::{current}\n"));
    (fake, h)
}

pub fn resources(json: serde_json::Value) -> LinuxResources {
    serde_json::from_value(json).expect("OCI resources")
}

pub fn opts(name: &str, required: bool) -> Options {
    Options { name: name.to_owned(), cgroups_path: None, required, companions: Vec::new() }
}

/// `sandbox-<name>-<our pid>`.
pub fn leaf(name: &str) -> String {
    format!("sandbox-{name}-{}", std::process::id())
}

/// Create, expecting success; returns the cgroup and the skip lines.
pub fn create_ok(h: &Hierarchies, res: &LinuxResources, o: &Options) -> (Cgroup, Vec<String>) {
    match Cgroup::create_in(h, Some(res), o) {
        Ok((Some(cg), skipped)) => (cg, skipped),
        Ok((None, skipped)) => panic!("no cgroup made; skipped: {skipped:?}"),
        Err(e) => panic!("create failed: {e}"),
    }
}

/// Create, expecting the required-mode error; returns its text.
pub fn create_err(h: &Hierarchies, res: &LinuxResources, o: &Options) -> String {
    match Cgroup::create_in(h, Some(res), o) {
        Ok((cg, skipped)) => panic!("expected an error, got {cg:?} skipping {skipped:?}"),
        Err(e) => e.to_string(),
    }
}
