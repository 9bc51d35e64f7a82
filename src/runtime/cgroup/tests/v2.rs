//! The v2 driver on a pure cgroup-v2 host, in a fake cgroupfs: placement
//! under the no-internal-processes rule, delegation, limits, kill, OOM.

use serde_json::json;

use super::fake::{ALL, Features};
use super::{create_err, create_ok, leaf, opts, pure_v2, resources};
use crate::runtime::cgroup::{Options, SelfMove, destroy_dirs};

const SCOPE: &str = "/user.slice/user-1000.slice/user@1000.service/app.slice/run-1.scope";
const V2: Features = Features { bfq: false, ..ALL };

fn limits() -> oci_spec::runtime::LinuxResources {
    resources(json!({
        "memory": {"limit": 67_108_864, "swap": 134_217_728},
        "cpu": {"quota": 50_000, "period": 100_000, "shares": 1024},
        "pids": {"limit": 32},
        "blockIO": {"weight": 500}
    }))
}

fn me() -> String {
    std::process::id().to_string()
}

#[test]
fn a_delegated_parent_takes_the_child_directly() {
    let (fake, h) = pure_v2(V2, SCOPE, &["cpu", "io", "memory", "pids"]);
    let parent = fake.path("cgroup/sandboxes");
    fake.cgroup(&parent);
    fake.set(&parent, "cgroup.subtree_control", "cpu io memory pids");
    let _k = fake.install();
    let o = Options { cgroups_path: Some("/sandboxes/x".into()), ..opts("t", true) };
    let (cg, skipped) = create_ok(&h, &limits(), &o);
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(
        fake.writes("cgroup.subtree_control"),
        Vec::<String>::new(),
        "already delegated: nothing enabled"
    );
    let dir = parent.join("x");
    assert_eq!(fake.get(&dir, "memory.max"), "67108864");
    assert_eq!(fake.get(&dir, "memory.swap.max"), "67108864", "swap alone: memory+swap minus memory");
    assert_eq!(fake.get(&dir, "cpu.max"), "50000 100000");
    assert_eq!(fake.get(&dir, "cpu.weight"), "39");
    assert_eq!(fake.get(&dir, "pids.max"), "32");
    assert_eq!(fake.get(&dir, "io.weight"), "4950");
    assert!(cg.v2_fd().is_some());
    cg.remove().unwrap();
    assert!(!dir.exists() && parent.is_dir());
}

#[test]
fn io_weight_goes_to_bfq_when_it_is_there() {
    let (fake, h) = pure_v2(Features { bfq: true, ..ALL }, SCOPE, &["io"]);
    fake.cgroup(&fake.path("cgroup/sandboxes"));
    let _k = fake.install();
    let o = Options { cgroups_path: Some("/sandboxes/x".into()), ..opts("t", true) };
    let (_cg, _) = create_ok(&h, &resources(json!({"blockIO": {"weight": 500}})), &o);
    assert_eq!(fake.writes("io.bfq.weight"), ["500"], "BFQ takes the v1 unit");
    assert_eq!(fake.writes("io.weight"), Vec::<String>::new());
}

#[test]
fn an_empty_parent_gets_the_controllers_enabled() {
    let (fake, h) = pure_v2(V2, SCOPE, &["memory", "pids"]);
    let parent = fake.path("cgroup/sandboxes");
    fake.cgroup(&parent);
    let _k = fake.install();
    let o = Options { cgroups_path: Some("/sandboxes/x".into()), ..opts("t", true) };
    let (cg, _) =
        create_ok(&h, &resources(json!({"memory": {"limit": 1_048_576}, "pids": {"limit": 9}})), &o);
    assert_eq!(fake.writes("sandboxes/cgroup.subtree_control"), ["+memory +pids"]);
    assert_eq!(fake.get(&parent.join("x"), "memory.max"), "1048576");
    assert_eq!(fake.get(&parent.join("x"), "pids.max"), "9");
    cg.remove().unwrap();
    assert!(!parent.join("x").exists());
}

#[test]
fn new_parents_hand_the_controllers_down() {
    let (fake, h) = pure_v2(V2, SCOPE, &["memory"]);
    fake.set(&fake.path("cgroup"), "cgroup.subtree_control", "");
    let _k = fake.install();
    let o = Options { cgroups_path: Some("/a/b/c".into()), ..opts("t", true) };
    let (cg, _) = create_ok(&h, &resources(json!({"memory": {"limit": 1_048_576}})), &o);
    // The root is exempt from the no-internal-processes rule; a and b are ours and empty.
    assert_eq!(fake.writes("cgroup.subtree_control"), ["+memory", "+memory", "+memory"]);
    assert_eq!(fake.get(&fake.path("cgroup/a/b/c"), "memory.max"), "1048576");
    cg.remove().unwrap();
    assert!(!fake.path("cgroup/a").exists());
}

#[test]
fn a_launcher_alone_in_its_cgroup_steps_into_a_leaf() {
    let (fake, h) = pure_v2(V2, SCOPE, &["memory", "pids"]);
    let scope = fake.path(&format!("cgroup{SCOPE}"));
    fake.set(&scope, "cgroup.procs", &format!("{}\n", me()));
    let _k = fake.install();
    let res = resources(json!({"memory": {"limit": 1_048_576}, "pids": {"limit": 9}}));
    let (cg, skipped) = create_ok(&h, &res, &opts("t", true));
    assert!(skipped.is_empty(), "{skipped:?}");
    let launcher = scope.join(format!("sandbox-launcher-{}", me()));
    assert_eq!(fake.get(&launcher, "cgroup.procs").trim(), me());
    assert_eq!(fake.get(&scope, "cgroup.procs"), "");
    assert_eq!(fake.get(&scope, "cgroup.subtree_control"), "memory pids");
    let dir = scope.join(leaf("t"));
    assert_eq!(fake.get(&dir, "memory.max"), "1048576");
    assert_eq!(fake.get(&dir, "pids.max"), "9");
    cg.remove().unwrap();
    // Undone: controllers disabled, launcher back home, both cgroups gone.
    assert_eq!(fake.get(&scope, "cgroup.subtree_control"), "");
    assert_eq!(fake.get(&scope, "cgroup.procs").trim(), me());
    assert!(!launcher.exists() && !dir.exists());
}

/// pids and cpu are threaded controllers: the kernel lets them be enabled in
/// a populated cgroup, which then makes the sandbox's cgroup an invalid
/// domain (clone3 fails with EOPNOTSUPP). The launcher and its watcher must
/// step into a leaf all the same, and step back at the end.
#[test]
fn threaded_controllers_alone_still_step_the_launcher_and_watcher_out() {
    let (fake, h) = pure_v2(V2, SCOPE, &["cpu", "pids"]);
    let scope = fake.path(&format!("cgroup{SCOPE}"));
    let watcher = "4242";
    fake.set(&scope, "cgroup.procs", &format!("{}\n{watcher}\n", me()));
    let _k = fake.install();
    let res = resources(json!({"pids": {"limit": 9}, "cpu": {"quota": 20_000, "period": 100_000}}));
    let o = Options { companions: vec![4242], ..opts("t", true) };
    let (cg, skipped) = create_ok(&h, &res, &o);
    assert!(skipped.is_empty(), "{skipped:?}");
    let launcher = scope.join(format!("sandbox-launcher-{}", me()));
    assert_eq!(fake.get(&scope, "cgroup.procs"), "", "the scope must be left without processes");
    assert_eq!(fake.get(&launcher, "cgroup.procs"), format!("{}\n{watcher}\n", me()));
    assert_eq!(fake.get(&scope, "cgroup.subtree_control"), "cpu pids");
    let moved = cg.self_move().expect("a self-move to record").clone();
    assert_eq!(SelfMove::decode(&moved.encode()), Some(moved.clone()));
    cg.remove().unwrap();
    assert_eq!(fake.get(&scope, "cgroup.subtree_control"), "");
    assert_eq!(fake.get(&scope, "cgroup.procs"), format!("{}\n{watcher}\n", me()));
    assert!(!launcher.exists());
}

/// What the watcher gets through its pipe undoes the step by itself, as
/// after a launcher killed with SIGKILL; a cut-short record is ignored.
#[test]
fn the_watcher_record_undoes_a_self_move() {
    let (fake, h) = pure_v2(V2, SCOPE, &["memory"]);
    let scope = fake.path(&format!("cgroup{SCOPE}"));
    fake.set(&scope, "cgroup.procs", &format!("{}\n", me()));
    let _k = fake.install();
    let (cg, _) = create_ok(&h, &resources(json!({"memory": {"limit": 1_048_576}})), &opts("t", true));
    let record = cg.self_move().unwrap().encode();
    for cut in 1..record.len() {
        assert!(SelfMove::decode(&record[..cut]).is_none(), "a record cut at {cut} must be refused");
    }
    let dirs = cg.dirs();
    std::mem::forget(cg); // as if the launcher were killed: no teardown
    destroy_dirs(&dirs).unwrap();
    SelfMove::decode(&record).unwrap().undo().unwrap();
    assert_eq!(fake.get(&scope, "cgroup.subtree_control"), "");
    assert_eq!(fake.get(&scope, "cgroup.procs").trim(), me());
    assert!(fake.dirs().iter().all(|d| !d.contains("sandbox-")), "{:?}", fake.dirs());
}

#[test]
fn a_parent_shared_with_other_processes_names_the_fix() {
    let (fake, h) = pure_v2(V2, SCOPE, &["memory", "pids"]);
    let scope = fake.path(&format!("cgroup{SCOPE}"));
    fake.set(&scope, "cgroup.procs", &format!("{}\n99999999\n", me()));
    let _k = fake.install();
    let res = resources(json!({"memory": {"limit": 1_048_576}, "pids": {"limit": 9}}));
    let before = fake.dirs();
    let e = create_err(&h, &res, &opts("t", true));
    for part in [
        "memory limit (1 MiB)",
        "pids limit (9)",
        "holds other processes",
        "no-internal-processes",
        "systemd-run --user --scope -p Delegate=yes",
    ] {
        assert!(e.contains(part), "{part:?} missing from: {e}");
    }
    assert_eq!(fake.dirs(), before, "nothing left, the launcher not moved");
    assert_eq!(fake.get(&scope, "cgroup.procs"), format!("{}\n99999999\n", me()));
    // Best effort: the limits are skipped, the sandbox still gets a cgroup to be killed by.
    let (cg, skipped) = create_ok(&h, &res, &opts("t", false));
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    let dir = scope.join(leaf("t"));
    assert!(dir.join("cgroup.kill").exists() && !dir.join("memory.max").exists());
    assert!(cg.v2_fd().is_some());
}

#[test]
fn a_controller_the_parent_does_not_offer() {
    let (fake, h) = pure_v2(V2, SCOPE, &["pids"]);
    let _k = fake.install();
    let e = create_err(&h, &resources(json!({"memory": {"limit": 67_108_864}})), &opts("t", true));
    let scope = fake.path(&format!("cgroup{SCOPE}"));
    let want = format!(
        "memory limit (64 MiB): no memory controller (cgroup v2 at {} offers only pids; no v1 memory hierarchy)",
        scope.display()
    );
    assert!(e.contains(&want), "{e}");
}

#[test]
fn swap_without_accounting_is_named() {
    let (fake, h) = pure_v2(Features { swap: false, ..V2 }, SCOPE, &["memory"]);
    fake.cgroup(&fake.path("cgroup/sandboxes"));
    let _k = fake.install();
    let o = Options { cgroups_path: Some("/sandboxes/x".into()), ..opts("t", false) };
    let (_cg, skipped) =
        create_ok(&h, &resources(json!({"memory": {"limit": 1_048_576, "swap": 2_097_152}})), &o);
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].starts_with("memory+swap limit (2 MiB): no memory.swap.max in "), "{skipped:?}");
    assert_eq!(fake.writes("memory.max"), ["1048576"]);
}

#[test]
fn kill_and_oom_on_v2() {
    let (fake, h) = pure_v2(V2, SCOPE, &["memory"]);
    fake.cgroup(&fake.path("cgroup/sandboxes"));
    let _k = fake.install();
    let o = Options { cgroups_path: Some("/sandboxes/x".into()), ..opts("t", true) };
    let (cg, _) = create_ok(&h, &resources(json!({"memory": {"limit": 1_048_576}})), &o);
    let dir = fake.path("cgroup/sandboxes/x");
    cg.add(99_999_999, false).unwrap();
    assert_eq!(fake.get(&dir, "cgroup.procs"), "99999999\n");
    assert!(!cg.oom_killed());
    fake.set(&dir, "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    assert!(cg.oom_killed());
    cg.kill_all();
    assert_eq!(fake.writes("cgroup.kill"), ["1"]);
    assert_eq!(fake.get(&dir, "cgroup.procs"), "");
    cg.remove().unwrap();
    assert!(!dir.exists());
}

#[test]
fn a_bad_cgroups_path_is_an_error_even_without_limits() {
    let (fake, h) = pure_v2(V2, SCOPE, &["memory"]);
    let _k = fake.install();
    let before = fake.dirs();
    let o = Options { cgroups_path: Some("../../escape".into()), ..opts("t", false) };
    let e = crate::runtime::cgroup::Cgroup::create_in(&h, None, &o).unwrap_err().to_string();
    assert!(e.contains("linux.cgroupsPath") && e.contains("\"..\" is not allowed"), "{e}");
    assert_eq!(fake.dirs(), before);
}
