//! End-to-end helpers: the real binary, a busybox-static rootfs, and skips
//! that print why — and fail instead when `SANDBOX_MUST_WORK=1` (CI).
//!
//! With `SANDBOX_E2E_USER=NAME` the same tests run the binary as that
//! unprivileged user (through `setpriv`, which execs in place, so the pid a
//! test signals is the launcher's): the rootless tier. scripts/test.sh
//! creates the user and removes it afterwards.

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

/// The unprivileged user the sandbox runs as in the rootless tier.
pub fn e2e_user() -> Option<String> {
    std::env::var("SANDBOX_E2E_USER").ok().filter(|u| !u.is_empty())
}

/// The rootless tier's user's uid.
pub fn e2e_uid() -> u32 {
    let user = e2e_user().expect("the rootless tier");
    let out = Command::new("id").args(["-u", &user]).output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a uid")
}

/// Whether the sandbox runs rootless in this run of the suite.
pub fn rootless() -> bool {
    e2e_user().is_some()
}

/// A fresh directory anyone may read: the rootless tier's user must reach
/// what the test prepared.
pub fn open_tempdir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

/// A fresh directory anyone may write (what a rootless sandbox writes to).
pub fn writable_tempdir(prefix: &str) -> tempfile::TempDir {
    let dir = open_tempdir(prefix);
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    dir
}

/// The binary under test: in the rootless tier a copy in an open directory
/// (the checkout may be private to root).
pub fn binary() -> PathBuf {
    static COPY: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    if !rootless() {
        return PathBuf::from(env!("CARGO_BIN_EXE_sandbox"));
    }
    COPY.get_or_init(|| {
        let dir = open_tempdir("sandbox-bin-");
        let bin = dir.path().join("sandbox");
        std::fs::copy(env!("CARGO_BIN_EXE_sandbox"), &bin).unwrap();
        (dir, bin)
    })
    .1
    .clone()
}

/// The words that start the launcher: the binary, behind `setpriv` in the
/// rootless tier.
pub fn launcher() -> Vec<String> {
    let bin = binary().display().to_string();
    let Some(user) = e2e_user() else { return vec![bin] };
    let id = |flag: &str| {
        let out = Command::new("id").args([flag, &user]).output().expect("id runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    vec![
        "setpriv".into(),
        format!("--reuid={}", id("-u")),
        format!("--regid={}", id("-g")),
        "--clear-groups".into(),
        "--".into(),
        bin,
    ]
}

/// `sandbox ARGS`, as the rootless tier's user when there is one.
pub fn command(args: &[&str]) -> Command {
    let words = launcher();
    let mut c = Command::new(&words[0]);
    c.args(&words[1..]).args(args);
    c
}

/// Skip unless root: the tier-3 suite runs as root.
pub fn skip_unless_root() -> bool {
    skip_unless(is_root(), "needs root (run the suite as root; rootless is its own tier)")
}

/// Whether this test belongs to the other tier: what only an unprivileged
/// caller meets runs in the rootless tier (`SANDBOX_E2E_USER` set), which
/// scripts/test.sh runs in the same suite; the root tier passes it by, and
/// says so. Not a skip: nothing is left unrun in a full run of the suite.
pub fn rootless_tier_only() -> bool {
    if rootless() {
        return false;
    }
    println!("rootless tier only: scripts/test.sh runs this test again with SANDBOX_E2E_USER");
    true
}

/// A busybox-static rootfs, built once per test binary.
pub fn busybox_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<tempfile::TempDir> = OnceLock::new();
    ROOTFS
        .get_or_init(|| {
            let dir = open_tempdir("sandbox-busybox-");
            let root = dir.path();
            for d in ["bin", "etc", "proc", "dev", "sys", "tmp", "root", "home", "usr/bin"] {
                std::fs::create_dir_all(root.join(d)).unwrap();
            }
            let busybox = ["/bin/busybox", "/usr/bin/busybox"]
                .iter()
                .find(|p| Path::new(p).exists())
                .expect("busybox-static is installed (scripts/test.sh installs it)");
            std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
            std::fs::set_permissions(root.join("tmp"), std::os::unix::fs::PermissionsExt::from_mode(0o1777))
                .unwrap();
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
            std::fs::copy(probe(), root.join("bin/probe")).unwrap();
            // A rootless sandbox can copy up only what its one mapped id owns
            // (overlayfs cannot chown to an unmapped id: EOVERFLOW), so the
            // rootless tier gets a rootfs of its own, as a real user would.
            if let Some(user) = e2e_user() {
                let group = Command::new("id").args(["-g", &user]).output().unwrap();
                let owner = format!("{user}:{}", String::from_utf8_lossy(&group.stdout).trim());
                let out = Command::new("chown").args(["-R", "-h", &owner]).arg(root).output().unwrap();
                assert!(out.status.success(), "chown the rootfs: {}", String::from_utf8_lossy(&out.stderr));
            }
            dir
        })
        .path()
}

/// The attack probe (tests/probe/probe.c), built once per test binary as
/// a static program, in a directory anyone may read: it runs inside
/// sandboxes on any root, and on the host.
pub fn probe() -> &'static Path {
    static PROBE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &PROBE
        .get_or_init(|| {
            let dir = open_tempdir("sandbox-probe-");
            let bin = dir.path().join("probe");
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/probe.c");
            let out = Command::new("cc")
                .args(["-static", "-O2", "-Wall", "-o"])
                .arg(&bin)
                .arg(&source)
                .output()
                .expect("cc runs (scripts/test.sh installs gcc)");
            assert!(out.status.success(), "build the probe: {}", String::from_utf8_lossy(&out.stderr));
            (dir, bin)
        })
        .1
}

/// What an attack must leave as it found it on the host: our mount table,
/// and no `sandbox-*` cgroup below our own cgroups once its sandboxes have
/// ended (other tests' sandboxes come and go meanwhile: the cgroups must
/// drain, as in the teardown tests). Taken before a test and checked after
/// it with [`HostState::assert_unchanged`].
#[derive(Debug, PartialEq, Eq)]
pub struct HostState {
    mounts: Vec<String>,
}

impl HostState {
    pub fn now() -> HostState {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        // Mount ids and peer groups change with unrelated churn; what is
        // mounted where does not.
        let mut mounts: Vec<String> =
            info.lines().map(|l| l.split(' ').skip(3).take(2).collect::<Vec<_>>().join(" ")).collect();
        mounts.sort();
        HostState { mounts }
    }

    /// The host as it was (waiting a moment for watchers to finish).
    pub fn assert_unchanged(&self, what: &str) {
        assert_eq!(HostState::now(), *self, "{what}: the host's mounts changed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sandbox_cgroups().is_empty() {
            assert!(Instant::now() < deadline, "{what}: cgroups left: {:?}", sandbox_cgroups());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Every `sandbox-*` cgroup directory below our own cgroups.
pub fn sandbox_cgroups() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or("/"));
        let base = match controllers {
            "" => PathBuf::from("/sys/fs/cgroup/unified"),
            c if c.starts_with("name=") => continue,
            c => PathBuf::from("/sys/fs/cgroup").join(c.split(',').next().unwrap()),
        };
        let dir = base.join(path.trim_start_matches('/'));
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with("sandbox-") {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    found
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
    let dir = open_tempdir("sandbox-e2e-");
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
    let mut c = command(&["run", profile.path.to_str().unwrap(), "--"]);
    c.args(cmd).stdin(Stdio::null());
    tweak(&mut c);
    finish(c)
}

/// A sandbox started in the background with its stdout piped to us (its
/// stderr goes nowhere); `line` reads what it prints, a line at a time.
pub struct Started {
    pub child: std::process::Child,
    reader: std::io::BufReader<std::process::ChildStdout>,
}

impl Started {
    /// `sandbox run PROFILE -- CMD` with `stdin`.
    pub fn run(profile: &Profile, cmd: &[&str], stdin: Stdio) -> Started {
        let mut child = command(&["run", profile.path.to_str().unwrap(), "--"])
            .args(cmd)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sandbox starts");
        let reader = std::io::BufReader::new(child.stdout.take().unwrap());
        Started { child, reader }
    }

    /// The next line the sandbox prints (empty at EOF).
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut self.reader, &mut line).unwrap();
        line
    }

    /// The launcher's pid.
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }
}

/// Run `c` to its end with a deadline (a hang fails the test), its stdout
/// and stderr captured.
pub fn finish(mut c: Command) -> Outcome {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("the command starts");
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

/// One test at a time, for tests that check that the host's cgroups drain,
/// which another test's running sandbox would keep from happening.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Living processes whose command line mentions `marker` (a zombie's is empty).
pub fn processes_with(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .collect()
}

/// Wait up to 10 s for `check` to hold; a test fails with `what` otherwise.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
