//! The v1 driver for real, on a host like this one (root, v1 memory and
//! pids mounted). Each test skips with a printed reason elsewhere, and fails
//! instead when `SANDBOX_MUST_WORK=1`. Guards kill the children and the
//! cgroup's own Drop removes it, also when an assertion fails midway.

use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{leaf, opts, resources};
use crate::runtime::cgroup::{Cgroup, Hierarchies};

/// The real hierarchies, or `None` (having said why) when the test cannot run here.
fn real_v1(test: &str) -> Option<Hierarchies> {
    let why = if nix::unistd::geteuid().is_root() {
        match Hierarchies::discover() {
            Err(e) => e.to_string(),
            Ok(h) if h.v1_with("memory").is_some() && h.v1_with("pids").is_some() => return Some(h),
            Ok(_) => "cgroup v1 memory and pids are not both mounted".to_owned(),
        }
    } else {
        "not root".to_owned()
    };
    assert!(
        std::env::var("SANDBOX_MUST_WORK").as_deref() != Ok("1"),
        "{test} cannot run ({why}) and SANDBOX_MUST_WORK=1"
    );
    eprintln!("SKIP {test}: {why}");
    None
}

/// A child held at `read` until released, so it is in the cgroup before it does anything.
struct Held(Child);

impl Held {
    fn spawn(script: &str) -> Held {
        let child = Command::new("/bin/sh")
            .args(["-c", &format!("read _ ; {script}")])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn /bin/sh");
        Held(child)
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.0.id()).unwrap()
    }

    fn release(&mut self) {
        self.0.stdin.take().unwrap().write_all(b"go\n").unwrap();
    }

    /// Wait for the child's end, at most `secs`; its terminating signal.
    fn signal_within(&mut self, secs: u64) -> Option<i32> {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.signal();
            }
            assert!(Instant::now() < until, "child {} still running after {secs} s", self.0.id());
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dir_in(h: &Hierarchies, controller: &str, leaf: &str) -> PathBuf {
    let x = h.v1_with(controller).unwrap();
    x.dir_of(&x.current).unwrap().join(leaf)
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("read {}/{file}: {e}", dir.display()))
}

#[test]
fn real_v1_memory_and_pids_limits_kill_and_removal() {
    let Some(h) = real_v1("real_v1_memory_and_pids_limits_kill_and_removal") else { return };
    let res = resources(json!({"memory": {"limit": 67_108_864}, "pids": {"limit": 32}}));
    let started = Instant::now();
    let (cg, skipped) = Cgroup::create_in(&h, Some(&res), &opts("real-limits", true)).expect("create");
    let cg = cg.expect("a cgroup");
    eprintln!("created in {:?}", started.elapsed());
    assert_eq!(skipped, Vec::<String>::new());
    let dirs = cg.dirs();
    let (memory, pids) =
        (dir_in(&h, "memory", &leaf("real-limits")), dir_in(&h, "pids", &leaf("real-limits")));
    eprintln!("checking the kernel's files in {} and {}", memory.display(), pids.display());
    assert!(dirs.contains(&memory) && dirs.contains(&pids), "{dirs:?}");
    assert_eq!(read(&memory, "memory.limit_in_bytes").trim(), "67108864");
    assert_eq!(read(&pids, "pids.max").trim(), "32");

    let mut child = Held::spawn("exec sleep 100");
    cg.add(child.pid(), false).expect("add");
    child.release();
    let membership = read(Path::new(&format!("/proc/{}", child.pid())), "cgroup");
    let mem_line = membership.lines().find(|l| l.contains(":memory:")).unwrap();
    assert!(mem_line.ends_with(&format!("/{}", leaf("real-limits"))), "{membership}");
    assert_eq!(read(&memory, "cgroup.procs").trim(), child.pid().to_string());

    cg.kill_all();
    assert_eq!(child.signal_within(5), Some(9), "killed by SIGKILL");
    assert!(!cg.oom_killed());
    let started = Instant::now();
    cg.remove().expect("remove");
    eprintln!("removed in {:?}", started.elapsed());
    for d in &dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn real_v1_freezer_kills_a_process_tree() {
    let Some(mut h) = real_v1("real_v1_freezer_kills_a_process_tree") else { return };
    assert!(h.v1_with("freezer").is_some(), "this host mounts the v1 freezer");
    h.v2 = None; // no cgroup.kill: the v1 freeze / kill / thaw path
    let res = resources(json!({"pids": {"limit": 16}}));
    let (cg, _) = Cgroup::create_in(&h, Some(&res), &opts("real-tree", true)).expect("create");
    let cg = cg.expect("a cgroup");
    let dirs = cg.dirs();
    let freezer = dir_in(&h, "freezer", &leaf("real-tree"));
    assert!(dirs.contains(&freezer), "{dirs:?}");

    let mut child = Held::spawn("sleep 100 & sleep 100 & wait");
    cg.add(child.pid(), false).expect("add");
    child.release();
    let until = Instant::now() + Duration::from_secs(5);
    let members = loop {
        let pids: Vec<i32> = read(&freezer, "cgroup.procs").lines().map(|l| l.parse().unwrap()).collect();
        if pids.len() == 3 {
            break pids;
        }
        assert!(Instant::now() < until, "the shell and its two sleeps never all showed up: {pids:?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    eprintln!("killing {members:?} through the freezer");
    cg.kill_all();
    assert_eq!(child.signal_within(5), Some(9));
    assert_eq!(read(&freezer, "cgroup.procs"), "", "every member gone");
    assert_eq!(read(&freezer, "freezer.state").trim(), "THAWED", "never left frozen");
    cg.remove().expect("remove");
    for d in &dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn real_v1_oom_kill_is_reported() {
    let Some(h) = real_v1("real_v1_oom_kill_is_reported") else { return };
    // memory+swap = memory: the hog cannot escape into swap.
    let res = resources(json!({"memory": {"limit": 33_554_432, "swap": 33_554_432}}));
    let (cg, _) = Cgroup::create_in(&h, Some(&res), &opts("real-oom", true)).expect("create");
    let cg = cg.expect("a cgroup");
    let mut hog = Held::spawn("exec dd if=/dev/zero of=/dev/null bs=64M count=1");
    cg.add(hog.pid(), false).expect("add");
    hog.release();
    assert_eq!(hog.signal_within(10), Some(9), "the 64 MiB buffer of dd is OOM-killed in 32 MiB");
    assert!(cg.oom_killed(), "memory.oom_control counts the kill");
    let dirs = cg.dirs();
    drop(cg);
    for d in &dirs {
        assert!(!d.exists(), "Drop left {} behind", d.display());
    }
}
