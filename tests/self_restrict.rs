//! Tier 2: Landlock and seccomp applied to a child process of the test.
//!
//! Restrictions cannot be undone and cover the calling thread and what it
//! spawns, so each scenario runs in a fresh process: the parent test
//! re-executes this test binary as `--exact child --nocapture` with
//! `SANDBOX_SELF_RESTRICT` naming the scenario (the `child` test does
//! nothing without it). The child restricts itself, tries things, prints
//! `RESULT name=value` lines and exits; the parent asserts on them. Calls
//! without a safe Rust API (ptrace, keyctl, `io_uring_setup`, clone3, TIOCSTI,
//! an x32 call) are made by perl's `syscall`/`ioctl`, started by the child
//! after the filter is installed, so they run under the inherited filter as
//! a sandboxed program would. What the kernel or machine lacks skips with a
//! printed reason, and fails instead when `SANDBOX_MUST_WORK=1`.

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use nix::errno::Errno;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};
use sandbox::linux::seccomp::{Arch, number};
use sandbox::profile::host::HostContext;
use sandbox::runtime::security::{landlock, seccomp};
use sandbox::spec::extension::LandlockRules as Landlock;

const SCENARIO: &str = "SANDBOX_SELF_RESTRICT";
/// Directories the parent prepares: one the child may write, one it may not touch.
const WRITE_DIR: &str = "SANDBOX_SELF_RESTRICT_WRITE";
const OTHER_DIR: &str = "SANDBOX_SELF_RESTRICT_OTHER";

// ---------------------------------------------------------------- parent side

struct Run {
    status: ExitStatus,
    results: BTreeMap<String, String>,
}

impl Run {
    fn get(&self, name: &str) -> &str {
        self.results.get(name).map_or("<missing>", String::as_str)
    }

    #[track_caller]
    fn expect(&self, name: &str, want: &str) {
        println!("  {name}: {} (want {want})", self.get(name));
        assert_eq!(self.get(name), want, "{name}");
    }
}

/// Run `scenario` in a re-executed copy of this test binary.
fn run(scenario: &str, env: &[(&str, &Path)]) -> Run {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"]).env(SCENARIO, scenario);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("re-execute the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("scenario {scenario}: {}", status_text(out.status));
    let results: BTreeMap<String, String> = stdout
        .lines()
        // The harness's "test child ... " has no newline: the first result follows it.
        .filter_map(|l| l[l.find("RESULT ")? + 7..].split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if results.is_empty() || !out.status.success() {
        println!("--- stdout\n{stdout}--- stderr\n{}", String::from_utf8_lossy(&out.stderr));
    }
    Run { status: out.status, results }
}

/// A missing kernel feature or tool: skip with the reason, or fail under CI.
fn skip(reason: &str) {
    assert!(std::env::var("SANDBOX_MUST_WORK").as_deref() != Ok("1"), "SANDBOX_MUST_WORK=1 but: {reason}");
    println!("SKIP: {reason}");
}

fn have_perl() -> bool {
    let ok = Command::new("perl").arg("-e1").status().is_ok_and(|s| s.success());
    if !ok {
        skip("perl is not installed: the ptrace/keyctl/io_uring/clone3/TIOCSTI/x32 probes need it");
    }
    ok
}

/// The Landlock ABI, or a skip when it is below `need`.
fn landlock_abi(need: i32, what: &str) -> bool {
    let abi = landlock::abi();
    if abi < need {
        skip(&format!("{what} needs Landlock ABI {need}; this kernel has {abi}"));
    }
    abi >= need
}

fn status_text(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => format!("{status:?}"),
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("sandbox-self-restrict").tempdir().expect("a temporary directory")
}

// -------------------------------------------------------------- seccomp tests

#[test]
fn default_seccomp_profile_in_a_child() {
    let (dir, control_dir) = (tempdir(), tempdir());
    let control = run("seccomp-none", &[(WRITE_DIR, control_dir.path())]);
    let filtered = run("seccomp-default", &[(WRITE_DIR, dir.path())]);
    assert!(control.status.success() && filtered.status.success());
    filtered.expect("seccomp_mode", "2");
    for name in ["getpid", "mkdir", "true"] {
        filtered.expect(name, "ok");
    }
    let mut denied = vec![("mount", "EPERM"), ("unshare", "EPERM")];
    if have_perl() {
        denied.extend([
            ("ptrace", "EPERM"),
            ("keyctl", "EPERM"),
            ("io_uring_setup", "EPERM"),
            ("tiocsti", "EPERM"),
            ("clone3", "ENOSYS"),
        ]);
        if Arch::native() == Arch::X86_64 {
            // The x32 call comes last: the guard kills perl with SIGSYS.
            assert_eq!(control.get("perl"), "exit 0", "perl runs unfiltered");
            filtered.expect("perl", "signal 31");
            assert!(!filtered.results.contains_key("x32"), "an x32 call returned instead of killing");
        }
    }
    for (name, want) in denied {
        filtered.expect(name, want);
        // Without the filter the same call fails otherwise or succeeds, so the errno above is the filter's.
        println!("    unfiltered: {}", control.get(name));
        assert_ne!(control.get(name), want, "{name} fails the same way without the filter");
        assert_ne!(control.get(name), "<missing>");
    }
}

#[test]
fn a_deny_list_answers_with_its_errno() {
    let dir = tempdir();
    let run = run("seccomp-deny", &[(WRITE_DIR, dir.path())]);
    assert!(run.status.success());
    run.expect("mkdir", "EACCES");
    run.expect("getpid", "ok");
    run.expect("true", "ok");
    assert!(!dir.path().join("made").exists());
}

#[test]
fn entries_beat_a_kill_default() {
    // defaultAction KILL_PROCESS: clone3's ERRNO(ENOSYS) entry still answers
    // (the allowlist filter allows every entry, so its default never
    // competes), getpid is allowed, and ptrace kills.
    if !have_perl() {
        return;
    }
    let dir = tempdir();
    let run = run("seccomp-kill", &[(WRITE_DIR, dir.path())]);
    assert!(run.status.success());
    run.expect("getpid", "ok");
    run.expect("true", "ok");
    run.expect("clone3", "ENOSYS");
    run.expect("perl", "signal 31");
}

// ------------------------------------------------------------- Landlock tests

#[test]
fn landlock_filesystem_rules_in_a_child() {
    if !landlock_abi(1, "filesystem rules") {
        return;
    }
    let (write, other) = (tempdir(), tempdir());
    std::fs::write(other.path().join("secret"), "x").unwrap();
    let run = run("landlock-fs", &[(WRITE_DIR, write.path()), (OTHER_DIR, other.path())]);
    assert!(run.status.success());
    run.expect("skipped", "0");
    run.expect("read_etc_hostname", "ok");
    run.expect("read_outside", "EACCES");
    run.expect("list_outside", "EACCES");
    run.expect("write_inside", "ok");
    run.expect("write_outside", "EACCES");
    run.expect("write_etc", "EACCES");
    run.expect("true", "ok");
    if landlock::abi() >= 3 {
        run.expect("truncate_inside", "ok");
        run.expect("truncate_outside", "EACCES");
    }
    assert_eq!(std::fs::read_to_string(other.path().join("secret")).unwrap(), "x");
    assert!(write.path().join("new").exists() && !other.path().join("new").exists());
}

#[test]
fn landlock_tcp_connect_rules_in_a_child() {
    if !landlock_abi(4, "tcp_connect and tcp_bind") {
        return;
    }
    let run = run("landlock-tcp", &[]);
    assert!(run.status.success());
    run.expect("connect_listed", "ok");
    run.expect("connect_unlisted", "EACCES");
    run.expect("bind", "EACCES");
}

#[test]
fn landlock_scopes_in_a_child() {
    if !landlock_abi(6, "scope signal and abstract-unix-socket") {
        return;
    }
    let run = run("landlock-scope", &[]);
    assert!(run.status.success());
    run.expect("signal_parent_before", "ok");
    run.expect("signal_parent", "EPERM");
    run.expect("signal_self", "ok");
    run.expect("abstract_connect_before", "ok");
    run.expect("abstract_connect", "EPERM");
}

#[test]
fn required_mode_refuses_a_missing_path_and_applies_nothing() {
    if !landlock_abi(1, "Landlock") {
        return;
    }
    let run = run("landlock-missing-required", &[]);
    assert!(run.status.success());
    run.expect("apply", "error");
    let message = run.get("message");
    assert!(message.contains("read /nonexistent-sandbox-path: cannot open it: ENOENT"), "{message}");
    assert!(message.contains("best-effort") || message.contains("remove them"), "{message}");
    run.expect("read_unlisted", "ok");
}

#[test]
fn best_effort_mode_skips_a_missing_path_and_applies_the_rest() {
    if !landlock_abi(1, "Landlock") {
        return;
    }
    let run = run("landlock-missing-best-effort", &[]);
    assert!(run.status.success());
    run.expect("apply", "ok");
    run.expect("skipped", "1");
    assert!(run.get("skipped_0").starts_with("read /nonexistent-sandbox-path: cannot open it: ENOENT"));
    run.expect("read_etc_hostname", "ok");
    run.expect("read_unlisted", "EACCES");
}

// ----------------------------------------------- unsupported(): pure, per ABI

fn rules() -> Landlock {
    Landlock {
        read: vec!["/etc".into()],
        execute: vec!["/usr".into()],
        write: vec!["/tmp".into()],
        tcp_bind: vec![],
        tcp_connect: vec![443],
        scope_signal: true,
        scope_abstract_unix_socket: true,
        best_effort: false,
    }
}

#[test]
fn unsupported_rules_per_abi() {
    let count = |abi| landlock::unsupported(&rules(), abi).len();
    // fs+tcp_bind+tcp_connect+2 scopes; then truncate and device ioctls
    // replace the fs line; truncate (3), TCP (4), ioctl (5), scopes (6).
    let expected = [(0, 5), (1, 6), (2, 6), (3, 5), (4, 3), (5, 2), (6, 0), (7, 0), (8, 0)];
    for (abi, n) in expected {
        let lines = landlock::unsupported(&rules(), abi);
        println!("ABI {abi}: {lines:#?}");
        assert_eq!(count(abi), n, "ABI {abi}");
    }
    let at = |abi| landlock::unsupported(&rules(), abi);
    assert!(at(0)[0].starts_with(
        "filesystem rules (read [/etc], execute [/usr], write [/tmp]; every other path denied)"
    ));
    assert!(at(0).iter().all(|l| l.ends_with("this kernel has no Landlock")));
    assert!(
        at(2).contains(
            &"denying truncate outside write [/tmp] needs Landlock ABI 3 (Linux 6.2+); this kernel has ABI 2"
                .to_owned()
        )
    );
    assert!(
        at(3).contains(
            &"tcp_connect [443] needs Landlock ABI 4 (Linux 6.7+); this kernel has ABI 3".to_owned()
        )
    );
    assert!(at(3).contains(&"tcp_bind [] (no binding to any TCP port) needs Landlock ABI 4 (Linux 6.7+); this kernel has ABI 3".to_owned()));
    assert!(at(4).contains(&"denying device ioctls outside write [/tmp] needs Landlock ABI 5 (Linux 6.10+); this kernel has ABI 4".to_owned()));
    assert_eq!(
        at(5),
        [
            "scope signal needs Landlock ABI 6 (Linux 6.12+); this kernel has ABI 5",
            "scope abstract-unix-socket needs Landlock ABI 6 (Linux 6.12+); this kernel has ABI 5"
        ]
    );
    // Without scopes, ABI 5 enforces everything.
    let no_scopes = Landlock { scope_signal: false, scope_abstract_unix_socket: false, ..rules() };
    assert!(landlock::unsupported(&no_scopes, 5).is_empty());
}

// ----------------------------------------------------------------- child side

#[test]
fn child() {
    let Ok(scenario) = std::env::var(SCENARIO) else { return };
    match scenario.as_str() {
        "seccomp-none" => seccomp_child(None, true),
        "seccomp-default" => seccomp_child(Some(&base_seccomp()), true),
        "seccomp-deny" => seccomp_child(Some(&deny_seccomp()), false),
        "seccomp-kill" => seccomp_kill_child(),
        "landlock-fs" => landlock_fs_child(),
        "landlock-tcp" => landlock_tcp_child(),
        "landlock-scope" => landlock_scope_child(),
        "landlock-missing-required" => landlock_missing_child(false),
        "landlock-missing-best-effort" => landlock_missing_child(true),
        other => panic!("unknown scenario {other}"),
    }
    std::io::stdout().flush().unwrap();
    // Leave at once: the harness has nothing left to do under the restrictions.
    std::process::exit(0);
}

fn result(name: &str, value: impl std::fmt::Display) {
    println!("RESULT {name}={value}");
}

fn outcome<T, E: Debug>(name: &str, r: Result<T, E>) {
    match r {
        Ok(_) => result(name, "ok"),
        Err(e) => result(name, format!("{e:?}")),
    }
}

fn io_outcome<T>(name: &str, r: std::io::Result<T>) {
    match r {
        Ok(_) => result(name, "ok"),
        Err(e) => result(
            name,
            e.raw_os_error().map_or_else(|| e.to_string(), |n| format!("{:?}", Errno::from_raw(n))),
        ),
    }
}

fn dir(var: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(var).unwrap_or_else(|| panic!("{var} is set by the parent")))
}

fn seccomp_of(model: &sandbox::profile::model::Model) -> LinuxSeccomp {
    let spec = sandbox::compile::compile(model, &HostContext::fixed()).spec;
    spec.linux().as_ref().and_then(|l| l.seccomp().clone()).expect("the profile has a seccomp filter")
}

fn base_seccomp() -> LinuxSeccomp {
    seccomp_of(common::load("profiles/base.toml").model.as_ref().expect("base.toml is valid"))
}

fn deny_seccomp() -> LinuxSeccomp {
    let text = "[security]\nseccomp = { deny = [\"mkdir\", \"mkdirat\"], errno = \"EACCES\" }\n";
    let path = common::root().join("tests/deny-mkdir.toml");
    let loaded = sandbox::profile::load_profile_text(&path, text.to_owned(), &HostContext::fixed());
    seccomp_of(loaded.model.as_ref().unwrap_or_else(|| panic!("{}", common::rendered(&loaded))))
}

fn install(filter: &LinuxSeccomp) {
    nix::sys::prctl::set_no_new_privs().expect("no_new_privs");
    let programs = seccomp::compile(filter).expect("the filter compiles");
    seccomp::install(&programs).expect("the filter installs");
}

fn seccomp_child(filter: Option<&LinuxSeccomp>, perl: bool) {
    if let Some(filter) = filter {
        install(filter);
    }
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    let mode = status.lines().find_map(|l| l.strip_prefix("Seccomp:")).unwrap_or("?").trim().to_owned();
    result("seccomp_mode", mode);
    result("getpid", if nix::unistd::getpid().as_raw() > 0 { "ok" } else { "bad" });
    // A missing target fails (ENOENT) before any privilege check, and
    // unshare(0) changes nothing: unfiltered, neither fails with EPERM,
    // whether the test runs as root or not.
    let target = "/nonexistent-sandbox-self-restrict";
    outcome(
        "mount",
        nix::mount::mount(Some("none"), target, Some("tmpfs"), nix::mount::MsFlags::empty(), None::<&str>),
    );
    outcome("unshare", nix::sched::unshare(nix::sched::CloneFlags::empty()));
    io_outcome("mkdir", std::fs::create_dir(dir(WRITE_DIR).join("made")));
    run_true();
    if perl {
        perl_probes();
    }
}

fn seccomp_kill_child() {
    let mut filter = base_seccomp();
    filter.set_default_action(LinuxSeccompAction::ScmpActKillProcess);
    install(&filter);
    result("getpid", if nix::unistd::getpid().as_raw() > 0 { "ok" } else { "bad" });
    run_true();
    perl_probes();
}

fn run_true() {
    let status = Command::new("/bin/true").status();
    io_outcome(
        "true",
        status.and_then(|s| if s.success() { Ok(()) } else { Err(std::io::Error::other(status_text(s))) }),
    );
}

/// Calls without a safe Rust API, made by perl under the inherited filter.
/// Each prints `name=ok` or `name=<errno>`; the x32 call (`x86_64`) comes last.
const PERL: &str = r#"
$| = 1;
my ($setsid, $clone3, $ptrace, $keyctl, $uring, $x32) = @ARGV;
sub out { my ($name, $r) = @_; print "$name=", ($r == -1 ? 0 + $! : "ok"), "\n"; }
out("clone3", syscall($clone3, 0, 0));
# Make the pty our controlling terminal, so TIOCSTI needs no CAP_SYS_ADMIN.
syscall($setsid);
ioctl(STDIN, 0x540E, 0);
my $c = "x";
print "tiocsti=", (ioctl(STDIN, 0x5412, $c) ? "ok" : 0 + $!), "\n";
out("keyctl", syscall($keyctl, 0, -3, 0));
my $params = "\0" x 120;
out("io_uring_setup", syscall($uring, 1, $params));
out("ptrace", syscall($ptrace, 0, 0, 0, 0));
out("x32", syscall($x32)) if defined $x32;
"#;

fn perl_probes() {
    let nr = |name: &str| number(Arch::native(), name).unwrap_or_else(|| panic!("{name} is unknown here"));
    let mut args: Vec<String> = ["setsid", "clone3", "ptrace", "keyctl", "io_uring_setup"]
        .iter()
        .map(|n| nr(n).to_string())
        .collect();
    if Arch::native() == Arch::X86_64 {
        args.push((0x4000_0000 | nr("getpid")).to_string());
    }
    // TIOCSTI needs a terminal on stdin: a fresh pty, never the caller's.
    let pty = nix::pty::openpty(None, None).expect("a pty");
    let out = Command::new("perl").arg("-e").arg(PERL).args(&args).stdin(Stdio::from(pty.slave)).output();
    let Ok(out) = out else {
        result("perl", "cannot start");
        return;
    };
    for (name, value) in String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split_once('=')) {
        match value.parse::<i32>() {
            Ok(n) => result(name, format!("{:?}", Errno::from_raw(n))),
            Err(_) => result(name, value),
        }
    }
    result("perl", status_text(out.status));
}

fn no_rules() -> Landlock {
    Landlock {
        read: vec![],
        execute: vec![],
        write: vec![],
        tcp_bind: vec![],
        tcp_connect: vec![],
        scope_signal: false,
        scope_abstract_unix_socket: false,
        best_effort: false,
    }
}

fn apply(rules: &Landlock) -> landlock::Report {
    let report = landlock::apply(rules).unwrap_or_else(|e| panic!("landlock: {e}"));
    result("abi", report.abi);
    result("skipped", report.skipped.len());
    for (i, line) in report.skipped.iter().enumerate() {
        result(&format!("skipped_{i}"), line);
    }
    report
}

fn landlock_fs_child() {
    let (write, other) = (dir(WRITE_DIR), dir(OTHER_DIR));
    let execute = ["/bin", "/lib", "/lib64"].iter().map(PathBuf::from).filter(|p| p.exists()).collect();
    apply(&Landlock {
        read: vec!["/usr".into(), "/etc".into()],
        execute,
        write: vec![write.clone()],
        ..no_rules()
    });
    io_outcome("read_etc_hostname", std::fs::read("/etc/hostname"));
    io_outcome("read_outside", std::fs::read(other.join("secret")));
    io_outcome("list_outside", std::fs::read_dir(&other));
    io_outcome("write_inside", std::fs::write(write.join("new"), "y"));
    io_outcome("write_outside", std::fs::write(other.join("new"), "y"));
    io_outcome("write_etc", std::fs::write("/etc/sandbox-self-restrict", "y"));
    outcome("truncate_inside", nix::unistd::truncate(&write.join("new"), 0));
    outcome("truncate_outside", nix::unistd::truncate(&other.join("secret"), 0));
    run_true();
}

fn landlock_tcp_child() {
    use std::net::{TcpListener, TcpStream};
    let listed = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let unlisted = TcpListener::bind("127.0.0.1:0").expect("a second listener");
    let port = |l: &TcpListener| l.local_addr().unwrap().port();
    apply(&Landlock { tcp_connect: vec![port(&listed)], ..no_rules() });
    io_outcome("connect_listed", TcpStream::connect(("127.0.0.1", port(&listed))));
    io_outcome("connect_unlisted", TcpStream::connect(("127.0.0.1", port(&unlisted))));
    io_outcome("bind", TcpListener::bind("127.0.0.1:0"));
}

fn landlock_scope_child() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
    let name = format!("sandbox-self-restrict-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("an abstract address");
    let _listener = UnixListener::bind_addr(&addr).expect("an abstract listener");
    let parent = nix::unistd::getppid();
    outcome("signal_parent_before", nix::sys::signal::kill(parent, None));
    io_outcome("abstract_connect_before", UnixStream::connect_addr(&addr));
    apply(&Landlock { scope_signal: true, scope_abstract_unix_socket: true, ..no_rules() });
    outcome("signal_parent", nix::sys::signal::kill(parent, None));
    outcome("signal_self", nix::sys::signal::kill(nix::unistd::getpid(), None));
    io_outcome("abstract_connect", UnixStream::connect_addr(&addr));
}

fn landlock_missing_child(best_effort: bool) {
    let read = vec![PathBuf::from("/nonexistent-sandbox-path"), PathBuf::from("/etc")];
    let rules = Landlock { read, best_effort, ..no_rules() };
    match landlock::apply(&rules) {
        Ok(report) => {
            result("apply", "ok");
            result("skipped", report.skipped.len());
            for (i, line) in report.skipped.iter().enumerate() {
                result(&format!("skipped_{i}"), line);
            }
        }
        Err(e) => {
            result("apply", "error");
            result("message", e);
        }
    }
    io_outcome("read_etc_hostname", std::fs::read("/etc/hostname"));
    io_outcome("read_unlisted", std::fs::read("/proc/self/status"));
}
