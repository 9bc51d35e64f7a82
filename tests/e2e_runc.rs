//! Tier 3: `sandbox bundle` exports a bundle that runc runs with the same
//! observable isolation as `sandbox run` of the same profile.

mod common;

use std::process::{Command, Stdio};

use common::e2e::{busybox_profile, run, skip_unless, skip_unless_root};

/// What a process sees of its isolation, one fact a line; namespace ids
/// are replaced by whether they differ from the test process's.
const PROBE: &str = "id -u; id -g; hostname; grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status; \
     cut -d' ' -f5 /proc/self/mountinfo | sort; for n in pid net ipc uts mnt cgroup; do echo ns $n $(readlink /proc/self/ns/$n); done; \
     for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo dev $d; done; \
     ulimit -n; cat /proc/sys/kernel/domainname >/dev/null; touch /proc/sys/x 2>/dev/null; echo procsys=$?";

/// Device nodes: runc makes them with mknod, we bind the host's (which works
/// in a user namespace too), so they are mount points only for us. Their
/// presence is compared through the `dev` lines instead.
const DEVICE_MOUNTS: &[&str] =
    &["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"];

fn normalise(text: &str) -> String {
    text.lines()
        .filter(|l| !DEVICE_MOUNTS.contains(l))
        .map(|l| match l.strip_prefix("ns ") {
            Some(rest) => {
                let (name, id) = rest.split_once(' ').unwrap();
                let host = std::fs::read_link(format!("/proc/self/ns/{name}")).unwrap();
                format!("ns {name} {}", if id == host.to_str().unwrap() { "host" } else { "own" })
            }
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `sandbox bundle PROFILE DIR` into a new directory.
fn export(p: &common::e2e::Profile) -> tempfile::TempDir {
    let bundle = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .arg("bundle")
        .arg(&p.path)
        .arg(bundle.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    bundle
}

/// `runc run` of the bundle in `dir` with `/bin/sh -c script` as its command.
fn runc_run(dir: &std::path::Path, script: &str, name: &str) -> std::process::Output {
    let config = dir.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    spec["process"]["args"] = serde_json::json!(["/bin/sh", "-c", script]);
    std::fs::write(&config, serde_json::to_string(&spec).unwrap()).unwrap();
    let id = format!("sandbox-{name}-{}", std::process::id());
    Command::new("runc").args(["run", "--bundle"]).arg(dir).arg(&id).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn runc_sees_what_sandbox_sees() {
    if skip_unless_root()
        || skip_unless(Command::new("runc").arg("--version").output().is_ok(), "runc is not installed")
    {
        return;
    }
    let p = busybox_profile(
        "init = false\ncommand = [\"/bin/sh\", \"-c\", \"probe\"]\n[limits.rlimits]\nnofile = 512\n",
    );
    let ours = run(&p, &["/bin/sh", "-c", PROBE]);
    assert_eq!(ours.code, Some(0), "{ours}");

    let bundle = export(&p);
    // The same command, in the exported config.
    let theirs = runc_run(bundle.path(), PROBE, "test");
    let theirs_out = String::from_utf8_lossy(&theirs.stdout);
    assert!(theirs.status.success(), "runc: {}\n{}", theirs_out, String::from_utf8_lossy(&theirs.stderr));
    let (a, b) = (normalise(&ours.stdout), normalise(&theirs_out));
    println!("sandbox:\n{a}\n\nrunc:\n{b}");
    assert!(
        a.contains("dev null\ndev zero") && a.contains("procsys=1") && a.contains("ns net own"),
        "the probe ran fully"
    );
    assert_eq!(a, b);
}

#[test]
fn run_bundle_sees_what_run_profile_sees() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("init = false\n[limits.rlimits]\nnofile = 512\n");
    let ours = run(&p, &["/bin/sh", "-c", PROBE]);
    assert_eq!(ours.code, Some(0), "{ours}");
    let bundle = export(&p);
    let out = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .args(["--", "/bin/sh", "-c", PROBE])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let theirs = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{theirs}\n{}", String::from_utf8_lossy(&out.stderr));
    // The hostname is the profile's name, carried in config.json.
    assert_eq!(normalise(&ours.stdout), normalise(&theirs));
    // A bundle's rootfs is never modified: writes go to a tmpfs upper.
    let out = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .args(["--", "/bin/sh", "-c", "echo x > /etc/marker"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(bundle.path().join("rootfs/etc/marker")).unwrap(), "lower layer\n");
}

#[test]
fn a_host_root_bundle_runs_under_runc_and_sandbox() {
    if skip_unless_root()
        || skip_unless(Command::new("runc").arg("--version").output().is_ok(), "runc is not installed")
    {
        return;
    }
    let p = common::e2e::profile(
        "[rootfs]\nlayers = [\"host:/\"]\nwritable = \"readonly\"\n[process]\nterminal = \"never\"\ninit = false\n",
    );
    let bundle = export(&p);
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["root"]["path"], "rootfs", "never the host's / (runc: pivot_root: EBUSY)");
    // The host's files, read-only, under a fresh /proc.
    let check = "test -x /bin/sh && grep -q . /etc/os-release && ! touch /usr/sandbox-write 2>/dev/null \
                 && ! touch /etc/sandbox-write 2>/dev/null && echo pid1=$$";
    let theirs = runc_run(bundle.path(), check, "host");
    let text = String::from_utf8_lossy(&theirs.stdout);
    assert!(text.contains("pid1=1"), "runc: {text}\n{}", String::from_utf8_lossy(&theirs.stderr));
    let ours = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ours.stdout);
    assert!(text.contains("pid1=1"), "sandbox: {text}\n{}", String::from_utf8_lossy(&ours.stderr));
    assert!(
        !std::path::Path::new("/usr/sandbox-write").exists()
            && !std::path::Path::new("/etc/sandbox-write").exists()
    );
}
