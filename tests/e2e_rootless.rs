//! Tier 4: rootless. The test (as root) creates an unprivileged user, runs
//! the real binary as that user, and removes the user afterwards.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use common::e2e::{Outcome, busybox_rootfs, skip_unless, skip_unless_root};

/// A throwaway user, removed when dropped.
struct TestUser {
    name: String,
    uid: u32,
}

impl TestUser {
    fn create() -> TestUser {
        // Tests run in parallel: one name each, and one useradd at a time
        // (it locks /etc/passwd).
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let _lock = PASSWD.lock().unwrap_or_else(PoisonError::into_inner);
        let name = format!("sbx{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let out = Command::new("useradd")
            .args(["-M", "-N", "-s", "/bin/sh", &name])
            .output()
            .expect("useradd runs");
        assert!(out.status.success(), "useradd: {}", String::from_utf8_lossy(&out.stderr));
        let id = Command::new("id").args(["-u", &name]).output().unwrap();
        let uid = String::from_utf8_lossy(&id.stdout).trim().parse().unwrap();
        TestUser { name, uid }
    }
}

static PASSWD: Mutex<()> = Mutex::new(());

impl Drop for TestUser {
    fn drop(&mut self) {
        let _lock = PASSWD.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// Everything the user must reach: a copy of the binary and the profiles,
/// in a directory anyone may enter (the checkout may be private).
struct World {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

fn world() -> World {
    let dir = tempfile::Builder::new().prefix("sandbox-rootless-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("sandbox");
    std::fs::copy(env!("CARGO_BIN_EXE_sandbox"), &bin).unwrap();
    let root = busybox_rootfs();
    for p in [root.parent().unwrap(), root] {
        if p.starts_with(std::env::temp_dir()) && p != std::env::temp_dir() {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    World { dir, bin }
}

fn write_profile(w: &World, name: &str, text: &str) -> PathBuf {
    let path = w.dir.path().join(name);
    std::fs::write(&path, text.replace("{ROOTFS}", &busybox_rootfs().display().to_string())).unwrap();
    path
}

fn run_as(user: &TestUser, w: &World, profile: &Path, cmd: &[&str]) -> Outcome {
    let out = Command::new("runuser")
        .args(["-u", &user.name, "--"])
        .arg(&w.bin)
        .arg("run")
        .arg(profile)
        .arg("--")
        .args(cmd)
        .current_dir(w.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("runuser runs");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ready() -> bool {
    if skip_unless_root() {
        return false;
    }
    let userns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").is_ok_and(|v| v.trim() != "0");
    !skip_unless(userns, "user namespaces are disabled (user.max_user_namespaces = 0)")
}

const BUSYBOX: &str = "[rootfs]\nlayers = [\"{ROOTFS}\"]\n[process]\nterminal = \"never\"\n";

#[test]
fn the_callers_id_maps_to_root_inside_and_everything_is_dropped() {
    if !ready() {
        return;
    }
    let user = TestUser::create();
    let w = world();
    let p = write_profile(&w, "p.toml", BUSYBOX);
    let out = run_as(
        &user,
        &w,
        &p,
        &[
            "/bin/sh",
            "-c",
            "id -u; cat /proc/self/uid_map; hostname; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; echo $$",
        ],
    );
    println!("{out}");
    assert_eq!(out.code, Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["0", &user.uid.to_string(), "1"]);
    assert_eq!(lines[2], "p");
    assert!(
        out.stdout.contains("CapEff:\t0000000000000000")
            && out.stdout.contains("NoNewPrivs:\t1")
            && out.stdout.contains("Seccomp:\t2")
    );
    assert_eq!(lines.last().unwrap(), &"2", "our init is pid 1");
    // user = "host" keeps the caller's own id.
    let p = write_profile(&w, "host.toml", &format!("{BUSYBOX}user = \"host\"\n"));
    let out = run_as(&user, &w, &p, &["/bin/sh", "-c", "id -u"]);
    assert_eq!(out.stdout.trim(), user.uid.to_string(), "{out}");
}

#[test]
fn root_inside_is_not_root_outside() {
    if !ready() {
        return;
    }
    let user = TestUser::create();
    let w = world();
    // A host file owned by root, bound read-write: still not writable.
    let data = w.dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("root-owned"), "host\n").unwrap();
    std::fs::set_permissions(data.join("root-owned"), std::fs::Permissions::from_mode(0o644)).unwrap();
    // A setuid-root copy of busybox (named `id`, busybox picks the applet
    // by name): it must not raise privileges.
    let suid = data.join("id");
    std::fs::copy(busybox_rootfs().join("bin/busybox"), &suid).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let p = write_profile(
        &w,
        "p.toml",
        &format!(
            "{BUSYBOX}user = \"host\"\n[[mount]]\nsource = \"{}\"\ntarget = \"/data\"\nmode = \"rw\"\n",
            data.display()
        ),
    );
    let out =
        run_as(&user, &w, &p, &["/bin/sh", "-c", "echo x >> /data/root-owned; echo write=$?; /data/id -u"]);
    println!("{out}");
    assert!(out.stdout.contains("write=1"), "{out}");
    assert!(out.stdout.contains(&format!("\n{}\n", user.uid)), "setuid did not raise the euid: {out}");
    assert_eq!(std::fs::read_to_string(data.join("root-owned")).unwrap(), "host\n");
    // Another user's private file on the host stays private inside.
    let secret = w.dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let p = write_profile(
        &w,
        "q.toml",
        &format!("{BUSYBOX}[[mount]]\nsource = \"{}\"\ntarget = \"/secret\"\n", secret.display()),
    );
    let out = run_as(&user, &w, &p, &["/bin/cat", "/secret"]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(!out.stdout.contains("s3cret"), "{out}");
}

#[test]
fn the_host_root_works_rootless_with_a_tmpfs_upper() {
    if !ready() {
        return;
    }
    let user = TestUser::create();
    let w = world();
    let p = write_profile(&w, "host.toml", "[process]\nterminal = \"never\"\nuser = \"host\"\n");
    let marker = format!("/usr/sandbox-rootless-{}", std::process::id());
    let out = run_as(
        &user,
        &w,
        &p,
        &["/bin/sh", "-c", &format!("id -u; touch {marker} && ls {marker} && /usr/bin/env | grep -c PATH")],
    );
    println!("{out}");
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains(&marker), "writes land in the tmpfs upper: {out}");
    assert!(!Path::new(&marker).exists(), "and never on the host");
}

#[test]
fn limits_without_a_delegated_cgroup_fail_clearly_or_are_skipped() {
    if !ready() {
        return;
    }
    let user = TestUser::create();
    let w = world();
    let p = write_profile(
        &w,
        "l.toml",
        &format!("{BUSYBOX}[limits]\nmemory = \"64MiB\"\n[limits.rlimits]\nnofile = 100\n"),
    );
    let out = run_as(&user, &w, &p, &["/bin/true"]);
    println!("{out}");
    assert_eq!(out.code, Some(125), "{out}");
    assert!(
        out.stderr.contains("memory limit") && out.stderr.contains("best-effort"),
        "names the limit and the fix: {out}"
    );
    let p = write_profile(
        &w,
        "b.toml",
        &format!(
            "{BUSYBOX}[limits]\nmemory = \"64MiB\"\nenforce = \"best-effort\"\n[limits.rlimits]\nnofile = 100\n"
        ),
    );
    let out = run_as(&user, &w, &p, &["/bin/sh", "-c", "ulimit -n"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("skipped") && out.stderr.contains("memory limit"),
        "says what it skipped: {out}"
    );
    assert_eq!(out.stdout, "100\n", "rlimits always apply: {out}");
}

#[test]
fn user_namespaces_disabled_is_a_clear_error() {
    if !ready() {
        return;
    }
    // Simulated honestly: max_user_namespaces is per user namespace, so set
    // it to 0 inside a private one (the host's value is untouched).
    let w = world();
    let p = write_profile(&w, "u.toml", &format!("{BUSYBOX}[namespaces]\nuser = \"new\"\n"));
    let script = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && {} run {} -- /bin/true",
        w.bin.display(),
        p.display()
    );
    let out = Command::new("unshare").args(["-U", "-r", "sh", "-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr.contains("max_user_namespaces"), "{stderr}");
}

#[test]
fn subordinate_ids_through_newuidmap() {
    if !ready()
        || skip_unless(Command::new("newuidmap").output().is_ok(), "newuidmap is missing (package uidmap)")
    {
        return;
    }
    let user = TestUser::create();
    let w = world();
    let p = write_profile(
        &w,
        "s.toml",
        // CAP_CHOWN (in the sandbox's user namespace) to hand a file to a mapped id.
        &format!(
            "{BUSYBOX}[namespaces]\nsubids = true\n[security]\ncapabilities = [\"CHOWN\"]\n\
             [[mount]]\ntype = \"tmpfs\"\ntarget = \"/scratch\"\n"
        ),
    );
    let range = sandbox::profile::host::subid_range(
        &std::fs::read_to_string("/etc/subuid").unwrap(),
        Some(&user.name),
        user.uid,
    )
    .expect("useradd gave the user a subordinate range (SUB_UID_MIN in login.defs)");
    let out = run_as(
        &user,
        &w,
        &p,
        &[
            "/bin/sh",
            "-c",
            "cat /proc/self/uid_map; touch /scratch/f && chown 1000:1000 /scratch/f && stat -c %u /scratch/f",
        ],
    );
    println!("{out}");
    assert_eq!(out.code, Some(0), "{out}");
    let maps: Vec<Vec<&str>> = out.stdout.lines().take(2).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(maps[0], ["0", &user.uid.to_string(), "1"]);
    assert_eq!(maps[1], ["1", &range.start.to_string(), &range.count.to_string()]);
    assert_eq!(out.stdout.lines().last(), Some("1000"), "an id from the range is usable inside");

    // newuidmap missing: a clear error naming the package.
    let out = Command::new("runuser")
        .args(["-u", &user.name, "--", "/usr/bin/env", "PATH=/nonexistent"])
        .arg(&w.bin)
        .arg("run")
        .arg(&p)
        .args(["--", "/bin/true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("newuidmap") && stderr.contains("uidmap package"), "{stderr}");

    // No subordinate ranges: a clear error naming the fix.
    let del = Command::new("usermod")
        .args(["--del-subuids", &format!("{}-{}", range.start, range.start + range.count - 1), &user.name])
        .output()
        .unwrap();
    assert!(del.status.success(), "{}", String::from_utf8_lossy(&del.stderr));
    let out = run_as(&user, &w, &p, &["/bin/true"]);
    assert_eq!(out.code, Some(125), "{out}");
    assert!(out.stderr.contains("/etc/subuid") && out.stderr.contains("usermod --add-subuids"), "{out}");
}

#[test]
fn an_unreadable_rootfs_is_a_clear_error() {
    if !ready() {
        return;
    }
    let user = TestUser::create();
    let w = world();
    let private = w.dir.path().join("private-rootfs");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let p = write_profile(
        &w,
        "r.toml",
        &format!("[rootfs]\nlayers = [\"{}\"]\n[process]\nterminal = \"never\"\n", private.display()),
    );
    let out = run_as(&user, &w, &p, &["/bin/true"]);
    println!("{out}");
    assert_eq!(out.code, Some(125), "{out}");
    assert!(out.stderr.contains("read layer") && out.stderr.contains("cannot read this layer"), "{out}");
}
