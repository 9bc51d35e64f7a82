//! End-to-end helpers: the real binary, a busybox-static rootfs, and skips
//! that print why — and fail instead when SANDBOX_MUST_WORK=1 (CI).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Whether end-to-end tests may skip (false in CI).
fn must_work() -> bool {
    std::env::var_os("SANDBOX_MUST_WORK").is_some_and(|v| v == "1")
}

/// `None` when the test can run; otherwise the skip has been printed (or
/// the test fails, in CI).
pub fn skip_unless(ok: bool, reason: &str) -> bool {
    if ok {
        return false;
    }
    assert!(!must_work(), "SANDBOX_MUST_WORK=1 but this test would skip: {reason}");
    println!("SKIPPED: {reason}");
    true
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Skip unless root: the tier-3 suite runs as root.
pub fn skip_unless_root() -> bool {
    skip_unless(is_root(), "needs root (run the suite as root; rootless is its own tier)")
}

/// A busybox-static rootfs, built once per test binary.
pub fn busybox_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<tempfile::TempDir> = OnceLock::new();
    ROOTFS
        .get_or_init(|| {
            let dir = tempfile::Builder::new().prefix("sandbox-busybox-").tempdir().expect("temp dir");
            let root = dir.path();
            for d in ["bin", "etc", "proc", "dev", "sys", "tmp", "root", "home", "usr/bin"] {
                std::fs::create_dir_all(root.join(d)).unwrap();
            }
            let busybox = ["/bin/busybox", "/usr/bin/busybox"]
                .iter()
                .find(|p| Path::new(p).exists())
                .expect("busybox-static is installed (scripts/test.sh installs it)");
            std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
            let list = Command::new(busybox).arg("--list").output().unwrap();
            for applet in String::from_utf8_lossy(&list.stdout).lines() {
                if applet != "busybox" {
                    let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
                }
            }
            std::fs::write(
                root.join("etc/passwd"),
                "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home:/bin/sh\n",
            )
            .unwrap();
            std::fs::write(root.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
            std::fs::write(root.join("etc/marker"), "lower layer\n").unwrap();
            dir
        })
        .path()
}

pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// A profile in its own temp dir. `{ROOTFS}` in the text becomes the busybox rootfs.
pub struct Profile {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn profile(text: &str) -> Profile {
    let dir = tempfile::Builder::new().prefix("sandbox-e2e-").tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text.replace("{ROOTFS}", &busybox_rootfs().display().to_string())).unwrap();
    Profile { dir, path }
}

/// The usual busybox profile with extra TOML appended.
pub fn busybox_profile(extra: &str) -> Profile {
    profile(&format!("[rootfs]\nlayers = [\"{{ROOTFS}}\"]\n\n[process]\nterminal = \"never\"\n{extra}"))
}

/// Run `sandbox run PROFILE -- cmd...` with a deadline; a hang fails the test.
pub fn run(profile: &Profile, cmd: &[&str]) -> Outcome {
    run_with(profile, cmd, |_| {})
}

pub fn run_with(profile: &Profile, cmd: &[&str], tweak: impl FnOnce(&mut Command)) -> Outcome {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sandbox"));
    c.arg("run")
        .arg(&profile.path)
        .arg("--")
        .args(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tweak(&mut c);
    let mut child = c.spawn().expect("sandbox starts");
    // Read both pipes while waiting, so a chatty sandbox cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sandbox run did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Outcome { code: status.code(), stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}
