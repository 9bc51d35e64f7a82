//! The drivers on this machine's hybrid layout (v1 controllers, a
//! controller-less cgroup2), in a fake cgroupfs.

use serde_json::json;

use super::fake::{ALL, Features};
use super::{OWN_MEMORY, create_err, create_ok, hybrid, leaf, opts, resources};
use crate::runtime::cgroup::{Cgroup, Hierarchies, Options};

fn all_limits() -> oci_spec::runtime::LinuxResources {
    resources(json!({
        "memory": {"limit": 67_108_864, "swap": 134_217_728},
        "cpu": {"quota": 50_000, "period": 100_000, "shares": 512},
        "pids": {"limit": 32},
        "blockIO": {"weight": 500}
    }))
}

#[test]
fn hybrid_limits_go_to_v1_and_the_process_to_both() {
    let (fake, h) = hybrid(ALL);
    let _k = fake.install();
    let (cg, skipped) = create_ok(&h, &all_limits(), &opts("t", true));
    assert_eq!(skipped, Vec::<String>::new());
    let leaf = leaf("t");
    let mem = fake.path(&format!("{OWN_MEMORY}/{leaf}"));
    assert_eq!(fake.get(&mem, "memory.limit_in_bytes"), "67108864");
    assert_eq!(fake.get(&mem, "memory.memsw.limit_in_bytes"), "134217728");
    assert!(fake.order("memory.limit_in_bytes") < fake.order("memory.memsw.limit_in_bytes"));
    let cpu = fake.path(&format!("cpu/{leaf}"));
    assert_eq!(fake.get(&cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(fake.get(&cpu, "cpu.cfs_quota_us"), "50000");
    assert!(fake.order("cpu.cfs_period_us") < fake.order("cpu.cfs_quota_us"));
    assert_eq!(fake.get(&cpu, "cpu.shares"), "512");
    assert_eq!(fake.get(&fake.path(&format!("pids/{leaf}")), "pids.max"), "32");
    // No blkio.weight here (CFQ is gone): BFQ's file takes the weight.
    assert_eq!(fake.get(&fake.path(&format!("blkio/{leaf}")), "blkio.bfq.weight"), "500");
    // The controller-less cgroup2 still gets a cgroup: clone3 target and cgroup.kill.
    let unified = fake.path(&format!("unified/{leaf}"));
    assert!(unified.is_dir() && cg.v2_fd().is_some());
    assert_eq!(fake.get(&fake.path("unified"), "cgroup.subtree_control"), "", "nothing enabled on v2");
    // Nothing where no limit asked (freezer not needed: v2 kills).
    for untouched in ["freezer", "cpuset", "cpuacct", "devices", "systemd"] {
        assert!(!fake.path(&format!("{untouched}/{leaf}")).exists(), "{untouched}");
    }
    // add() puts the process in every hierarchy.
    cg.add(99_999_999, false).unwrap();
    for dir in cg.dirs() {
        assert_eq!(fake.get(&dir, "cgroup.procs"), "99999999\n", "{}", dir.display());
    }
    // kill_all uses cgroup.kill (the fake empties the whole tree), then removal leaves nothing.
    cg.kill_all();
    assert_eq!(fake.writes("cgroup.kill"), ["1"]);
    let before = fake.dirs();
    cg.remove().unwrap();
    let after = fake.dirs();
    let removed: Vec<&String> = before.iter().filter(|d| !after.contains(d)).collect();
    assert_eq!(removed.len(), 5, "{removed:?}");
    assert!(after.iter().all(|d| !d.contains("sandbox-")), "{after:?}");
}

#[test]
fn memsw_absent_fails_when_required_and_is_skipped_otherwise() {
    let no_swap = Features { swap: false, ..ALL };
    let res = resources(json!({"memory": {"limit": 67_108_864, "swap": 134_217_728}, "pids": {"limit": 32}}));
    let (fake, h) = hybrid(no_swap);
    let _k = fake.install();
    let before = fake.dirs();
    let e = create_err(&h, &res, &opts("t", true));
    assert!(e.contains("memory+swap limit (128 MiB): no memory.memsw.limit_in_bytes"), "{e}");
    assert!(e.contains("swapaccount"), "{e}");
    assert!(e.contains("enforce = \"best-effort\""), "{e}");
    assert_eq!(fake.dirs(), before, "a refused sandbox leaves no cgroup");

    let (cg, skipped) = create_ok(&h, &res, &opts("t", false));
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].starts_with("memory+swap limit (128 MiB): no memory.memsw.limit_in_bytes in "),
        "{skipped:?}"
    );
    let mem = fake.path(&format!("{OWN_MEMORY}/{}", leaf("t")));
    assert_eq!(fake.get(&mem, "memory.limit_in_bytes"), "67108864", "the memory limit itself still applies");
    drop(cg);
    assert_eq!(fake.dirs(), before, "Drop removes what create made");
}

#[test]
fn blkio_weight_prefers_cfq_and_fails_without_either() {
    let res = resources(json!({"blockIO": {"weight": 300}}));
    let (fake, h) = hybrid(Features { cfq: true, ..ALL });
    let k = fake.install();
    let (cg, _) = create_ok(&h, &res, &opts("t", true));
    assert_eq!(fake.writes("blkio.weight"), ["300"]);
    assert_eq!(fake.writes("blkio.bfq.weight"), Vec::<String>::new());
    cg.remove().unwrap();
    drop(k);

    let (fake, h) = hybrid(Features { cfq: false, bfq: false, ..ALL });
    let _k = fake.install();
    let e = create_err(&h, &res, &opts("t", true));
    assert!(e.contains("block I/O weight (300): no blkio.weight or blkio.bfq.weight in "), "{e}");
    assert!(e.contains("select bfq"), "{e}");
    let (_cg, skipped) = create_ok(&h, &res, &opts("t", false));
    assert_eq!(skipped.len(), 1, "{skipped:?}");
}

#[test]
fn without_v2_the_freezer_holds_the_processes() {
    let (fake, mut h) = hybrid(ALL);
    h.v2 = None;
    let _k = fake.install();
    let (cg, _) = create_ok(&h, &resources(json!({})), &opts("t", true));
    let freezer = fake.path(&format!("freezer/{}", leaf("t")));
    assert_eq!(cg.dirs(), std::slice::from_ref(&freezer));
    assert!(cg.v2_fd().is_none());
    cg.kill_all();
    assert_eq!(fake.writes("freezer.state"), ["FROZEN", "THAWED"], "frozen for the kill, never left frozen");
    cg.remove().unwrap();
    assert!(!freezer.exists());

    let (cg, _) = create_ok(&h, &resources(json!({"pids": {"limit": 5}})), &opts("t", true));
    let dirs: Vec<String> =
        cg.dirs().iter().map(|d| d.parent().unwrap().file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(dirs, ["pids", "freezer"]);
}

#[test]
fn no_hierarchy_at_all() {
    let h = Hierarchies::default();
    assert!(matches!(Cgroup::create_in(&h, None, &opts("t", true)), Ok((None, s)) if s.is_empty()));
    let res = resources(json!({"memory": {"limit": 67_108_864}}));
    let e = create_err(&h, &res, &opts("t", true));
    assert!(
        e.contains(
            "memory limit (64 MiB): no memory controller (cgroup v2 is not mounted; no v1 memory hierarchy)"
        ),
        "{e}"
    );
    let Ok((None, skipped)) = Cgroup::create_in(&h, Some(&res), &opts("t", false)) else {
        panic!("no cgroup expected")
    };
    assert_eq!(
        skipped,
        ["memory limit (64 MiB): no memory controller (cgroup v2 is not mounted; no v1 memory hierarchy)"]
    );
}

#[test]
fn unsupported_resources_are_named() {
    let (fake, h) = hybrid(ALL);
    let _k = fake.install();
    let res = resources(json!({"cpu": {"cpus": "0"}, "pids": {"limit": 8}}));
    let e = create_err(&h, &res, &opts("t", true));
    assert!(e.contains("cpuset cpus (\"0\"): not supported"), "{e}");
    let (_cg, skipped) = create_ok(&h, &res, &opts("t", false));
    assert_eq!(skipped.len(), 1);
    assert_eq!(fake.writes("pids.max"), ["8"]);
}

#[test]
fn cgroups_path_absolute_relative_and_existing() {
    let (fake, h) = hybrid(ALL);
    let _k = fake.install();
    let res = resources(json!({"memory": {"limit": 1_048_576}}));
    let with_path = |p: &str| Options { cgroups_path: Some(p.into()), ..opts("t", true) };
    // Absolute: from the hierarchy root, new parents made and removed again.
    let (cg, _) = create_ok(&h, &res, &with_path("/ci/job1"));
    assert_eq!(fake.get(&fake.path("memory/ci/job1"), "memory.limit_in_bytes"), "1048576");
    assert!(fake.path("unified/ci/job1").is_dir());
    cg.remove().unwrap();
    assert!(!fake.path("memory/ci").exists() && !fake.path("unified/ci").exists());
    // Relative: under the caller's cgroup.
    let (cg, _) = create_ok(&h, &res, &with_path("jobs/x"));
    assert!(fake.path(&format!("{OWN_MEMORY}/jobs/x/memory.limit_in_bytes")).exists());
    assert!(fake.path("unified/jobs/x").is_dir());
    // A parent someone else made stays; a parent we made but others now use stays too.
    fake.cgroup(&fake.path(&format!("{OWN_MEMORY}/jobs/other")));
    cg.remove().unwrap();
    assert!(fake.path(&format!("{OWN_MEMORY}/jobs/other")).is_dir());
    assert!(!fake.path(&format!("{OWN_MEMORY}/jobs/x")).exists());
    // An existing cgroup is never adopted.
    fake.cgroup(&fake.path("memory/taken"));
    let e = create_err(&h, &res, &with_path("/taken"));
    assert!(e.contains("EEXIST") && e.contains("memory/taken"), "{e}");
    assert!(fake.path("memory/taken").is_dir());
}

#[test]
fn a_stale_cgroup_of_the_same_name_is_left_alone() {
    let (fake, h) = hybrid(ALL);
    let _k = fake.install();
    let stale = fake.path(&format!("{OWN_MEMORY}/{}", leaf("t")));
    fake.cgroup(&stale);
    let (cg, _) = create_ok(&h, &resources(json!({"memory": {"limit": 1_048_576}})), &opts("t", true));
    assert!(cg.dirs().iter().all(|d| d.ends_with(format!("{}-2", leaf("t")))), "{:?}", cg.dirs());
    drop(cg);
    assert!(stale.is_dir());
}

#[test]
fn oom_kill_counters() {
    let (fake, h) = hybrid(ALL);
    let _k = fake.install();
    let (cg, _) = create_ok(&h, &resources(json!({"memory": {"limit": 1_048_576}})), &opts("t", true));
    assert!(!cg.oom_killed());
    let mem = fake.path(&format!("{OWN_MEMORY}/{}", leaf("t")));
    fake.set(&mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    assert!(cg.oom_killed());
}

#[test]
fn a_cpuset_hierarchy_gets_its_parents_cpus() {
    let fake = super::fake::Fake::new(ALL);
    fake.v1("cpuset,cpu", &["cpuset", "cpu"]);
    let h = Hierarchies::parse(
        &format!("34 31 0:31 / {}/cpuset,cpu rw - cgroup cgroup rw,cpuset,cpu\n", fake.tmp.path().display()),
        "3:cpuset,cpu:/\n",
    );
    let _k = fake.install();
    let (_cg, _) = create_ok(&h, &resources(json!({"cpu": {"shares": 100}})), &opts("t", true));
    let dir = fake.path(&format!("cpuset,cpu/{}", leaf("t")));
    assert_eq!(fake.get(&dir, "cpuset.cpus"), "0-1");
    assert_eq!(fake.get(&dir, "cpuset.mems"), "0");
    assert_eq!(fake.get(&dir, "cpu.shares"), "100");
}

#[test]
fn a_watcher_can_clean_up_after_a_launcher_that_died() {
    let (fake, h) = hybrid(ALL);
    let _k = fake.install();
    let before = fake.dirs();
    let (cg, _) = create_ok(&h, &resources(json!({"memory": {"limit": 1_048_576}})), &opts("t", true));
    let dirs = cg.dirs();
    cg.add(99_999_999, false).unwrap();
    std::mem::forget(cg); // as if SIGKILLed: no destructor runs
    assert_ne!(fake.dirs(), before);
    crate::runtime::cgroup::destroy_dirs(&dirs).unwrap();
    assert_eq!(fake.writes("cgroup.kill"), ["1"]);
    assert_eq!(fake.dirs(), before);
}

#[test]
fn planned_dirs_cover_what_create_makes() {
    let (fake, h) = hybrid(ALL);
    let _k = fake.install();
    let o = opts("t", true);
    let planned = Cgroup::planned_dirs_in(&h, &o);
    assert!(planned.iter().all(|d| !d.exists()), "{planned:?}");
    assert!(planned.iter().all(|d| !d.starts_with(fake.path("systemd"))), "never in a named hierarchy");
    let all = resources(json!({"memory": {"limit": 1_048_576}, "pids": {"limit": 3}, "cpu": {"shares": 10}}));
    let (cg, _) = create_ok(&h, &all, &o);
    assert!(cg.dirs().iter().all(|d| planned.contains(d)), "{:?} not all in {planned:?}", cg.dirs());
    // A launcher killed before creating the rest: the watcher's destroy skips what was never made.
    std::mem::forget(cg);
    crate::runtime::cgroup::destroy_dirs(&planned).unwrap();
    assert!(fake.dirs().iter().all(|d| !d.contains("sandbox-")));
    let chosen = Options { cgroups_path: Some("/ci/x".into()), ..o };
    assert_eq!(Cgroup::planned_dirs_in(&h, &chosen), Vec::<std::path::PathBuf>::new());
}
