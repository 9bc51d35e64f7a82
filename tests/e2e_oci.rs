//! Tier 3: the OCI runtime command line (runc's create / start / state /
//! kill / delete / exec / ps / pause / resume / update / list), driven
//! directly, looking from inside the container and checking the host
//! afterwards. containerd and podman drive the same verbs in `e2e_clients.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::e2e::{HostState, Outcome, finish, sandbox_cgroups, serial, skip_unless_root};

/// A plain OCI bundle (no `dev.sandbox.*` annotations) with a writable copy
/// of the busybox rootfs, and a state directory of its own.
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    fn new(args: &[&str], tweak: impl FnOnce(&mut serde_json::Value)) -> Bundle {
        let dir = common::e2e::open_tempdir("sandbox-oci-");
        let rootfs = dir.path().join("rootfs");
        let out =
            Command::new("cp").arg("-a").arg(common::e2e::busybox_rootfs()).arg(&rootfs).output().unwrap();
        assert!(out.status.success(), "copy the rootfs: {}", String::from_utf8_lossy(&out.stderr));
        let mut config = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": { "uid": 0, "gid": 0 },
                "args": args,
                "env": ["PATH=/bin:/usr/bin", "TERM=xterm"],
                "cwd": "/",
                "capabilities": {
                    "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
                    "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
                    "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"]
                },
                "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512 }],
                "noNewPrivileges": true
            },
            "root": { "path": "rootfs", "readonly": false },
            "hostname": "oci",
            "mounts": [
                { "destination": "/proc", "type": "proc", "source": "proc" },
                { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                  "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
                { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                  "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
                { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                  "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
            ],
            "linux": {
                "namespaces": [
                    { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                    { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }
                ],
                "resources": { "pids": { "limit": 64 } },
                "maskedPaths": ["/proc/kcore", "/proc/keys"],
                "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
            }
        });
        tweak(&mut config);
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        Bundle { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn root(&self) -> PathBuf {
        self.path().join("state")
    }

    /// `sandbox --root STATE ARGS`, to its end.
    fn sandbox(&self, args: &[&str]) -> Outcome {
        let mut c = Command::new(common::e2e::binary());
        c.arg("--root").arg(self.root()).args(args).stdin(Stdio::null());
        finish(c)
    }

    /// `create`, whose container keeps create's stdout and stderr: files
    /// here, since a pipe would stay open as long as the container.
    fn create(&self, id: &str, extra: &[&str]) -> Outcome {
        let log = |ext: &str| self.path().join(format!("{}.{ext}", id.replace(['/', '.'], "_")));
        let out = std::fs::File::create(log("out")).unwrap();
        let err = std::fs::File::create(log("err")).unwrap();
        let status = Command::new(common::e2e::binary())
            .arg("--root")
            .arg(self.root())
            .args(["create", "--bundle"])
            .arg(self.path())
            .args(extra)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap();
        Outcome {
            code: status.code(),
            stdout: std::fs::read_to_string(log("out")).unwrap(),
            stderr: std::fs::read_to_string(log("err")).unwrap(),
        }
    }

    fn state(&self, id: &str) -> serde_json::Value {
        let out = self.sandbox(&["state", id]);
        assert_eq!(out.code, Some(0), "state {id}: {out}");
        serde_json::from_str(&out.stdout).unwrap()
    }

    fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = self.state(id)["status"].as_str().unwrap().to_owned();
            if status == want {
                return;
            }
            assert!(Instant::now() < deadline, "{id} is {status}, never {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Remove what is left of container `id` (for a failing test's sake).
    fn force_delete(&self, id: &str) {
        let _ = self.sandbox(&["delete", "--force", id]);
    }
}

impl Drop for Bundle {
    /// A failed test's containers must not outlive it.
    fn drop(&mut self) {
        for entry in std::fs::read_dir(self.root()).into_iter().flatten().flatten() {
            self.force_delete(&entry.file_name().to_string_lossy());
        }
    }
}

/// The state JSON is what the runtime-spec's schema says.
fn assert_schema_valid(state: &serde_json::Value) {
    let dir = common::root().join("tests/data/oci-runtime-spec-schema");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state-schema.json")).unwrap()).unwrap();
    let validator = jsonschema::options()
        .with_base_uri(format!("file://{}/", dir.display()))
        .build(&schema)
        .expect("the state schema compiles");
    let errors: Vec<String> = validator.iter_errors(state).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "state does not match the schema: {errors:?}\n{state}");
}

#[test]
fn a_created_container_runs_nothing_until_started_and_delete_leaves_nothing() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let b = Bundle::new(
        &["sh", "-c", "echo started > /started; trap 'exit 3' TERM; while :; do sleep 0.05; done"],
        |_| {},
    );
    let pid_file = b.path().join("pid");
    let out = b.create("life", &["--pid-file", pid_file.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "create: {out}");
    let state = b.state("life");
    assert_schema_valid(&state);
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], "life");
    let pid = state["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "the container's process waits");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!b.path().join("rootfs/started").exists(), "the command ran before start");

    let out = b.sandbox(&["start", "life"]);
    assert_eq!(out.code, Some(0), "start: {out}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b.path().join("rootfs/started").exists() {
        assert!(Instant::now() < deadline, "the command never ran (written in place, as OCI says)");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(b.state("life")["status"], "running");
    let again = b.sandbox(&["start", "life"]);
    assert_ne!(again.code, Some(0), "a second start: {again}");
    let refused = b.sandbox(&["delete", "life"]);
    assert_ne!(refused.code, Some(0), "delete of a running container without --force: {refused}");
    assert!(refused.stderr.contains("--force"), "{refused}");

    let out = b.sandbox(&["kill", "life", "SIGTERM"]);
    assert_eq!(out.code, Some(0), "kill: {out}");
    b.wait_status("life", "stopped");
    let out = b.sandbox(&["delete", "life"]);
    assert_eq!(out.code, Some(0), "delete: {out}");
    assert_eq!(std::fs::read_dir(b.root()).unwrap().count(), 0, "the state directory is empty");
    let gone = b.sandbox(&["state", "life"]);
    assert_ne!(gone.code, Some(0), "state after delete: {gone}");
    host.assert_unchanged("create/start/kill/delete");
}

#[test]
fn exec_joins_the_container_with_its_confinement() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let b = Bundle::new(&["sleep", "30"], |_| {});
    assert_eq!(b.create("ex", &[]).code, Some(0));
    assert_eq!(b.sandbox(&["start", "ex"]).code, Some(0));
    let grep = "grep -E '^(CapPrm|CapEff|CapBnd|NoNewPrivs|Seccomp):'";
    let status = format!("{grep} /proc/self/status");
    let first = b.sandbox(&[
        "exec",
        "ex",
        "sh",
        "-c",
        &format!("{status} | cut -f2; {grep} /proc/1/status | cut -f2"),
    ]);
    let joined = b.sandbox(&[
        "exec", "ex", "sh", "-c",
        &format!("{status} | cut -f2; hostname; for n in pid net ipc uts mnt cgroup; do [ $(readlink /proc/self/ns/$n) = $(readlink /proc/1/ns/$n) ] && echo $n; done | wc -l; ulimit -n; cat /proc/self/cgroup | grep '^0::'; ls /proc | grep -c '^[0-9]'"),
    ]);
    assert_eq!(joined.code, Some(0), "{joined}");
    let lines: Vec<&str> = joined.stdout.lines().collect();
    let firsts: Vec<&str> = first.stdout.lines().collect();
    assert_eq!(firsts.len(), 10, "{first}");
    assert_eq!(
        firsts[..5],
        firsts[5..],
        "capabilities, no_new_privs and seccomp as the first process's\n{first}"
    );
    assert_eq!(lines[..5], firsts[..5], "{joined}");
    assert_eq!(lines[5], "oci", "its hostname (uts namespace)");
    assert_eq!(lines[6], "6", "each namespace the container's\n{joined}");
    assert_eq!(lines[7], "512", "the container's rlimits");
    assert_eq!(lines[8], "0::/", "its cgroup namespace");
    // sleep (1), sh, and the ls/grep pair: the host's processes are not seen.
    assert!(lines[9].parse::<u32>().unwrap() <= 5, "pids seen: {}", lines[9]);

    // Each exec's process is reaped: 80 of them fit in pids.max = 64.
    for i in 0..80 {
        let out = b.sandbox(&["exec", "ex", "true"]);
        assert_eq!(out.code, Some(0), "exec {i}: {out}");
    }
    let code = b.sandbox(&["exec", "ex", "sh", "-c", "exit 7"]);
    assert_eq!(code.code, Some(7), "exec's status is the process's: {code}");
    let missing = b.sandbox(&["exec", "ex", "no-such-command"]);
    assert_eq!(missing.code, Some(127), "{missing}");
    // The joined process is in the container's cgroup: pids.max holds for it too.
    let ps = b.sandbox(&["ps", "--format", "json", "ex"]);
    let pids: Vec<i64> = serde_json::from_str(&ps.stdout).unwrap();
    assert_eq!(pids, [b.state("ex")["pid"].as_i64().unwrap()], "{ps}");
    let detached_pid = b.path().join("exec.pid");
    let out = b.sandbox(&[
        "exec",
        "--detach",
        "--pid-file",
        detached_pid.to_str().unwrap(),
        "ex",
        // Off our pipes, which would otherwise stay open for its 20 s.
        "sh",
        "-c",
        "exec >/dev/null 2>&1; exec sleep 20",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    let pid: i64 = std::fs::read_to_string(&detached_pid).unwrap().parse().unwrap();
    let ps = b.sandbox(&["ps", "--format", "json", "ex"]);
    let pids: Vec<i64> = serde_json::from_str(&ps.stdout).unwrap();
    assert!(pids.contains(&pid), "the detached process is in the container's cgroup: {pids:?} {pid}");
    assert_eq!(b.sandbox(&["delete", "--force", "ex"]).code, Some(0));
    assert!(
        !Path::new(&format!("/proc/{pid}/status")).exists() || zombie(pid),
        "delete --force killed the exec'd process"
    );
    host.assert_unchanged("exec");
}

fn zombie(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
}

#[test]
fn pause_freezes_every_process_and_resume_thaws_them() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let b =
        Bundle::new(&["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /count; sleep 0.01; done"], |_| {});
    assert_eq!(b.create("pz", &[]).code, Some(0));
    assert_eq!(b.sandbox(&["start", "pz"]).code, Some(0));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(b.sandbox(&["pause", "pz"]).code, Some(0));
    assert_eq!(b.state("pz")["status"], "paused");
    let count = || std::fs::read_to_string(b.path().join("rootfs/count")).unwrap_or_default();
    let frozen = count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(), frozen, "a paused container runs nothing");
    let refused = b.sandbox(&["pause", "pz"]);
    assert_ne!(refused.code, Some(0), "pausing twice: {refused}");
    assert_eq!(b.sandbox(&["resume", "pz"]).code, Some(0));
    assert_eq!(b.state("pz")["status"], "running");
    std::thread::sleep(Duration::from_millis(300));
    assert_ne!(count(), frozen, "resumed, it runs again");
    // A paused container is deleted with --force (thawed to die).
    assert_eq!(b.sandbox(&["pause", "pz"]).code, Some(0));
    let out = b.sandbox(&["delete", "--force", "pz"]);
    assert_eq!(out.code, Some(0), "{out}");
    host.assert_unchanged("pause");
}

#[test]
fn update_changes_the_limits_of_a_running_container() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let b = Bundle::new(&["sleep", "30"], |_| {});
    assert_eq!(b.create("up", &[]).code, Some(0));
    let resources = b.path().join("r.json");
    std::fs::write(&resources, r#"{"pids": {"limit": 5}}"#).unwrap();
    let out = b.sandbox(&["update", "--resources", resources.to_str().unwrap(), "up"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(b.sandbox(&["start", "up"]).code, Some(0));
    let forks = b.sandbox(&["exec", "up", "sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait"]);
    assert!(
        forks.stderr.contains("can't fork") || forks.stderr.contains("Resource temporarily unavailable"),
        "pids.max 5 holds: {forks}"
    );
    let bad = b.path().join("bad.json");
    std::fs::write(&bad, r#"{"pids": {"limit": "x"}}"#).unwrap();
    let out = b.sandbox(&["update", "--resources", bad.to_str().unwrap(), "up"]);
    assert_ne!(out.code, Some(0), "malformed resources: {out}");
    b.force_delete("up");
    assert!(sandbox_cgroups().iter().all(|c| !c.to_string_lossy().contains("sandbox-up-")));
}

#[test]
fn hooks_run_with_the_state_on_stdin_and_a_failing_one_fails_create() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let out_dir = common::e2e::open_tempdir("sandbox-hooks-");
    let log = out_dir.path().join("log");
    let hook = |name: &str| serde_json::json!({ "path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} $(cat) >> {}", log.display())] });
    let b = Bundle::new(&["sleep", "30"], |c| {
        c["hooks"] = serde_json::json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")]
        });
    });
    assert_eq!(b.create("hk", &[]).code, Some(0));
    assert_eq!(b.sandbox(&["start", "hk"]).code, Some(0));
    assert_eq!(b.sandbox(&["delete", "--force", "hk"]).code, Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(names, ["prestart", "createRuntime", "poststart", "poststop"], "{text}");
    for line in text.lines() {
        let state: serde_json::Value = serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
        assert_eq!(state["id"], "hk", "{line}");
        assert_schema_valid(&state);
    }

    let failing = Bundle::new(&["sleep", "30"], |c| {
        c["hooks"] = serde_json::json!({ "createRuntime": [{ "path": "/bin/false" }] });
    });
    let out = failing.create("hf", &[]);
    assert_ne!(out.code, Some(0), "a failing createRuntime hook fails create: {out}");
    assert!(out.stderr.contains("createRuntime"), "{out}");
    assert_eq!(std::fs::read_dir(failing.root()).unwrap().count(), 0, "nothing is left of it");
    let inside = Bundle::new(&["true"], |c| {
        c["hooks"] = serde_json::json!({ "startContainer": [{ "path": "/bin/true" }] });
    });
    let out = inside.create("hi", &[]);
    assert_ne!(out.code, Some(0), "startContainer is refused, not ignored: {out}");
    assert!(out.stderr.contains("startContainer"), "{out}");
}

#[test]
fn a_create_killed_at_any_moment_leaves_what_delete_removes() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let b = Bundle::new(&["sleep", "30"], |_| {});
    for (i, delay) in (0..12u64).map(|i| (i, i * 3)).collect::<Vec<_>>() {
        let id = format!("k{i}");
        let mut child = Command::new(common::e2e::binary())
            .arg("--root")
            .arg(b.root())
            .args(["create", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever step it died at: the container is gone or deletable.
        let state = b.sandbox(&["state", &id]);
        if state.code == Some(0) {
            let out = b.sandbox(&["delete", "--force", &id]);
            assert_eq!(out.code, Some(0), "delete after a create killed at {delay} ms: {out}");
        }
    }
    assert_eq!(std::fs::read_dir(b.root()).unwrap().count(), 0, "nothing is left in --root");
    host.assert_unchanged("killed creates");
}

#[test]
fn hostile_ids_and_bundles_are_refused() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let b = Bundle::new(&["true"], |_| {});
    for id in ["../escape", "a/b", "..", ""] {
        let out = b.create(id, &[]);
        assert_ne!(out.code, Some(0), "id {id:?}: {out}");
    }
    assert!(!b.path().join("escape").exists());
    let v = Bundle::new(&["true"], |c| c["ociVersion"] = "2.0.0".into());
    let out = v.create("v", &[]);
    assert!(out.stderr.contains("ociVersion"), "{out}");
    let old = Bundle::new(&["true"], |c| c["ociVersion"] = "1.3.0".into());
    assert_eq!(old.create("v13", &[]).code, Some(0));
    old.force_delete("v13");
    let dup = Bundle::new(&["sleep", "5"], |_| {});
    assert_eq!(dup.create("same", &[]).code, Some(0));
    let out = dup.create("same", &[]);
    assert!(out.stderr.contains("exists"), "{out}");
    dup.force_delete("same");
    let out = b.sandbox(&["kill", "nosuch", "KILL"]);
    assert!(out.stderr.contains("does not exist"), "{out}");
    let out = b.sandbox(&["kill", "nosuch", "NOTASIGNAL"]);
    assert!(out.stderr.contains("not a signal"), "{out}");
}

#[test]
fn namespaced_sysctls_and_devices_are_applied_and_host_keys_refused() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let b = Bundle::new(
        &["sh", "-c", "cat /proc/sys/net/ipv4/ping_group_range /proc/sys/kernel/shmmni; ls -l /dev/fuse"],
        |c| {
            c["linux"]["sysctl"] =
                serde_json::json!({ "net.ipv4.ping_group_range": "0 0", "kernel.shmmni": "1234" });
            c["linux"]["devices"] = serde_json::json!([{ "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 8630 }]);
        },
    );
    let out = b.sandbox(&["run", "--bundle", b.path().to_str().unwrap(), "sc"]);
    assert_eq!(out.code, Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["0", "0"], "{out}");
    assert_eq!(lines[1], "1234", "{out}");
    assert!(
        lines[2].starts_with("crw-rw-rw-") && lines[2].contains("10,") && lines[2].contains("229"),
        "{out}"
    );
    let host_shmmni = std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap();
    assert_ne!(host_shmmni.trim(), "1234", "the host's own value is untouched");
    let host =
        Bundle::new(&["true"], |c| c["linux"]["sysctl"] = serde_json::json!({ "kernel.pid_max": "4096" }));
    let out = host.create("hs", &[]);
    assert!(out.code != Some(0) && out.stderr.contains("kernel.pid_max"), "a host key is refused: {out}");
}

#[test]
fn a_container_joins_the_namespaces_its_spec_names_by_path() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let a = Bundle::new(&["sleep", "30"], |_| {});
    assert_eq!(a.create("nsa", &[]).code, Some(0));
    assert_eq!(a.sandbox(&["start", "nsa"]).code, Some(0));
    let pid = a.state("nsa")["pid"].as_i64().unwrap();
    let kinds = ["net", "ipc", "uts", "pid"];
    let b = Bundle::new(
        &["sh", "-c", "for n in net ipc uts pid mnt; do readlink /proc/self/ns/$n; done; hostname"],
        |c| {
            c["linux"]["namespaces"] = serde_json::json!([
                { "type": "network", "path": format!("/proc/{pid}/ns/net") },
                { "type": "ipc", "path": format!("/proc/{pid}/ns/ipc") },
                { "type": "uts", "path": format!("/proc/{pid}/ns/uts") },
                { "type": "pid", "path": format!("/proc/{pid}/ns/pid") },
                { "type": "mount" }
            ]);
            c["hostname"] = serde_json::Value::Null;
        },
    );
    let out = b.sandbox(&["run", "--bundle", b.path().to_str().unwrap(), "nsb"]);
    assert_eq!(out.code, Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    for (i, kind) in kinds.iter().enumerate() {
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
        assert_eq!(lines[i], theirs.to_str().unwrap(), "{kind}: {out}");
    }
    let mnt = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
    assert_ne!(lines[4], mnt.to_str().unwrap(), "a mount namespace of its own: {out}");
    assert_eq!(lines[5], "oci", "the first container's hostname (its uts namespace)");
    assert_eq!(a.sandbox(&["delete", "--force", "nsa"]).code, Some(0));
    let refused = Bundle::new(&["true"], |c| {
        c["linux"]["namespaces"] = serde_json::json!([{ "type": "mount", "path": "/proc/1/ns/mnt" }]);
    });
    let out = refused.create("nsm", &[]);
    assert!(out.code != Some(0) && out.stderr.contains("linux.namespaces[].path"), "{out}");
    host.assert_unchanged("joined namespaces");
}

/// A profile's own confinement (Landlock, the default seccomp filter,
/// no capabilities) holds for a process `exec` adds, as for the first.
#[test]
fn exec_into_a_profile_bundle_keeps_its_landlock_and_seccomp() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let p = common::e2e::busybox_profile(
        "command = [\"sleep\", \"30\"]\n[security.landlock]\nexecute = [\"/bin\"]\nread = [\"/\"]\n",
    );
    let dir = common::e2e::open_tempdir("sandbox-oci-profile-");
    let bundle = dir.path().join("b");
    let out = finish({
        let mut c = Command::new(common::e2e::binary());
        c.arg("bundle").arg(&p.path).arg(&bundle);
        c
    });
    assert_eq!(out.code, Some(0), "{out}");
    let root = dir.path().join("state");
    let sandbox = |args: &[&str]| {
        let mut c = Command::new(common::e2e::binary());
        c.arg("--root").arg(&root).args(args).stdin(Stdio::null());
        finish(c)
    };
    let created = Command::new(common::e2e::binary())
        .arg("--root")
        .arg(&root)
        .args(["create", "--bundle"])
        .arg(&bundle)
        .arg("lp")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(created.success());
    assert_eq!(sandbox(&["start", "lp"]).code, Some(0));
    let out = sandbox(&[
        "exec",
        "lp",
        "sh",
        "-c",
        "grep -E '^(Seccomp|CapEff):' /proc/self/status | cut -f2; echo x > /tmp/x && echo wrote; grep -q root /etc/passwd && echo read",
    ]);
    let _ = sandbox(&["delete", "--force", "lp"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"0000000000000000"), "no capabilities: {out}");
    assert_eq!(lines.get(1), Some(&"2"), "the profile's seccomp filter: {out}");
    assert!(
        !out.stdout.contains("wrote") && out.stderr.contains("Permission denied"),
        "Landlock refuses the write: {out}"
    );
    assert!(out.stdout.contains("read"), "and allows the read: {out}");
    host.assert_unchanged("exec in a profile bundle");
}

#[test]
fn features_match_the_runtime_specs_schema() {
    let mut c = Command::new(common::e2e::binary());
    c.arg("features");
    let out = finish(c);
    assert_eq!(out.code, Some(0), "{out}");
    let features: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let dir = common::root().join("tests/data/oci-runtime-spec-schema");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("features-schema.json")).unwrap()).unwrap();
    let validator = jsonschema::options()
        .with_base_uri(format!("file://{}/", dir.display()))
        .build(&schema)
        .expect("the features schema compiles");
    let errors: Vec<String> = validator.iter_errors(&features).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{features}");
    // What it claims is what create accepts: hooks outside the list are refused.
    let hooks: Vec<&str> =
        features["hooks"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert!(!hooks.contains(&"startContainer") && hooks.contains(&"poststop"), "{hooks:?}");
}

/// No device cgroup is kept (resources.devices): instead every place the
/// container can write is nodev. A container with `CAP_MKNOD` (containerd's
/// default set has it) cannot open a host device through a node it makes,
/// nor through one its image planted: here /dev/kmsg (1:11, the host's
/// kernel log), which this host lets root open.
#[test]
fn device_nodes_made_or_planted_in_the_container_open_nothing() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let kmsg = nix::sys::stat::makedev(1, 11);
    // The mount options are what this test can see fail: this development
    // host's own cgroup refuses device opens in nested cgroups as well.
    let script = "for p in /x /dev/x /tmp/x; do mknod $p c 1 11 && (exec 3< $p) 2>/dev/null && echo opened $p; done; \
         (exec 3< /planted) 2>/dev/null && echo opened /planted; \
         for m in / /dev /tmp; do grep -q \" $m [^ ]*nodev\" /proc/self/mountinfo || echo dev-allowed $m; done; echo done";
    let b = Bundle::new(&["sh", "-c", script], |c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set].as_array_mut().unwrap().push("CAP_MKNOD".into());
        }
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"] }
        ));
    });
    nix::sys::stat::mknod(
        &b.path().join("rootfs/planted"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        kmsg,
    )
    .unwrap();
    let out = b.sandbox(&["run", "--bundle", b.path().to_str().unwrap(), "mk"]);
    assert!(out.stdout.contains("done"), "{out}");
    assert!(!out.stdout.contains("opened"), "a device node opened a host device: {out}");
    assert!(!out.stdout.contains("dev-allowed"), "a writable mount allows device nodes: {out}");
    host.assert_unchanged("device nodes");
}

/// What a created container's pid 1 holds while it waits at its gate (the
/// gate's listener, the launcher's socket) is out of reach of a process
/// exec'd into it, and once started the command holds only its stdio.
#[test]
fn a_waiting_container_lends_nothing_to_a_process_exec_d_into_it() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let b = Bundle::new(&["sleep", "30"], |_| {});
    assert_eq!(b.create("gw", &[]).code, Some(0));
    // Its descriptor numbers may be listed (root owns the directory); what
    // they are, and the descriptors themselves, need ptrace access.
    let probe = "for f in /proc/1/fd/*; do readlink $f >/dev/null 2>&1 && echo readable $f; \
                 (exec 9<> $f) 2>/dev/null && echo readable open $f; done; \
                 cat /proc/1/environ >/dev/null 2>&1 && echo readable environ; ls /proc/self/fd | tr '\\n' ' '; echo";
    let out = b.sandbox(&["exec", "gw", "sh", "-c", probe]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(!out.stdout.contains("readable"), "the waiting pid 1 is open to the container: {out}");
    assert_eq!(out.stdout.trim(), "0 1 2 3", "the exec'd process holds only its stdio (and ls's dir): {out}");
    assert_eq!(b.sandbox(&["start", "gw"]).code, Some(0));
    let out = b.sandbox(&["exec", "gw", "ls", "/proc/1/fd"]);
    assert_eq!(out.stdout.split_whitespace().collect::<Vec<_>>(), ["0", "1", "2"], "the command: {out}");
    let state = b.root().join("gw");
    let out = b.sandbox(&["exec", "gw", "ls", state.to_str().unwrap()]);
    assert_ne!(out.code, Some(0), "the state directory is not in the container: {out}");
    b.force_delete("gw");
    host.assert_unchanged("a waiting container");
}
