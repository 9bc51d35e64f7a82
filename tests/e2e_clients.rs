//! Tier 3: real clients drive `sandbox` as their OCI runtime, end to end:
//! containerd 1.6 (`ctr run --runc-binary`, the io.containerd.runc.v2
//! shim) and podman 4.3 (`--runtime`). The scenarios are scripts
//! (tests/oci/e2e-*.sh, on the harness in tests/oci/), each check a line
//! "ok - NAME" or "not ok - NAME: why"; scripts/test.sh installs both
//! clients from Debian.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::e2e::{HostState, skip_unless, skip_unless_root};

/// Run one client's script against our binary; every check must pass.
fn drive(script: &str, client: &str) {
    if skip_unless_root()
        || skip_unless(which(client), &format!("{client} is not installed (scripts/test.sh installs it)"))
    {
        return;
    }
    let host = HostState::now();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oci").join(script);
    let out = Command::new("timeout")
        .args(["-k", "10", "600"])
        .arg(&path)
        .arg(common::e2e::binary())
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    let failed: Vec<&str> = text.lines().filter(|l| l.starts_with("not ok")).collect();
    assert!(
        out.status.success() && failed.is_empty() && text.lines().any(|l| l.starts_with("ok - ")),
        "{script}: {:?}\n{}\n--- stderr\n{}",
        out.status,
        failed.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    host.assert_unchanged(script);
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One client at a time: both use the host's cgroups and /run.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn containerd_runs_execs_pauses_kills_and_deletes_through_sandbox() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    drive("e2e-containerd.sh", "containerd");
}

#[test]
fn podman_runs_execs_stops_and_removes_through_sandbox() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    drive("e2e-podman.sh", "podman");
}
