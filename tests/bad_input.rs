//! Hostile profiles: profiles arrive in pull requests, so every input here
//! must end in a clear diagnostic (exit 1, a specific code on stderr) within
//! [`TIME_LIMIT`] and [`RSS_LIMIT_KIB`] — never a panic (exit 101), a crash
//! by signal, or a hang.
//!
//! Each case runs the real `sandbox check` binary. To measure the peak RSS of
//! that one process, the test binary re-runs itself as a small helper (the
//! [`measure_child`] test, inert unless [`HELPER_ENV`] is set): the helper
//! starts `sandbox`, kills it after [`KILL_AFTER`], and reports
//! `getrusage(RUSAGE_CHILDREN)`, whose only child is that one `sandbox`. In
//! the test process itself the figure would be the maximum over every child
//! so far, so one runaway input would fail every later test.
//!
//! Run with `--nocapture` to see what each test checks and the time and peak
//! RSS of every run.

use std::fmt::{self, Write as _};
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::symlink;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::stat::Mode;
use nix::sys::time::TimeValLike;
use nix::unistd::mkfifo;
use tempfile::TempDir;

/// The wall-time budget of one `sandbox check` run on hostile input.
const TIME_LIMIT: Duration = Duration::from_secs(1);
/// The peak resident set of one run, in KiB (`ru_maxrss` units).
const RSS_LIMIT_KIB: i64 = 50 * 1024;
/// A run still going after this is a hang: it is killed and the test fails.
const KILL_AFTER: Duration = Duration::from_secs(5);
/// How often a running child is polled.
const POLL: Duration = Duration::from_millis(2);
/// How much of stdout/stderr is read back (a runaway run can write gigabytes).
const CAPTURE_LIMIT: u64 = 1 << 20;
/// The largest profile `sandbox` reads (`load::MAX_PROFILE_BYTES`).
const MAX_PROFILE_BYTES: usize = 1 << 20;

/// Set (to a job directory) when this binary runs as the measuring helper.
const HELPER_ENV: &str = "SANDBOX_BAD_INPUT_HELPER";

/// One test at a time: parallel tests on a small machine would measure each
/// other's CPU contention, not the input.
static SERIAL: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------
// Running `sandbox check` and measuring it
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Exited(i32),
    Signaled(i32),
    TimedOut,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exited(101) => write!(f, "exit 101 (a panic)"),
            Status::Exited(code) => write!(f, "exit {code}"),
            Status::Signaled(6) => write!(f, "killed by SIGABRT (a stack overflow or abort)"),
            Status::Signaled(11) => write!(f, "killed by SIGSEGV"),
            Status::Signaled(sig) => write!(f, "killed by signal {sig}"),
            Status::TimedOut => write!(f, "still running after {KILL_AFTER:?}: killed (a hang)"),
        }
    }
}

struct Outcome {
    what: String,
    status: Status,
    elapsed: Duration,
    /// User plus system time: unlike `elapsed`, not inflated by other load.
    cpu: Duration,
    max_rss_kib: i64,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// The start of stderr, for failure messages.
    fn excerpt(&self) -> String {
        let mut text: String = self.stderr.chars().take(3000).collect();
        if text.len() < self.stderr.len() {
            text.push_str("\n[... stderr truncated]");
        }
        text
    }
}

/// Run `sandbox check ARGS` in `dir` and measure it.
fn check(dir: &Path, what: &str, args: &[&str]) -> Outcome {
    let job = tempfile::tempdir().expect("job dir");
    let mut spec = vec![dir.display().to_string(), "check".to_owned()];
    spec.extend(args.iter().map(|&a| a.to_owned()));
    fs::write(job.path().join("args"), spec.join("\n")).expect("write args");

    let helper = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "measure_child", "--test-threads=1", "--nocapture"])
        .env(HELPER_ENV, job.path())
        .stdin(Stdio::null())
        .stdout(file(job.path(), "helper.out"))
        .stderr(file(job.path(), "helper.err"))
        .spawn()
        .expect("start the measuring helper");
    // The helper kills `sandbox` itself; this is only a backstop.
    let (status, _) = wait_or_kill(helper, KILL_AFTER + Duration::from_secs(20));

    let report = fs::read_to_string(job.path().join("report")).unwrap_or_else(|_| {
        panic!("measuring helper failed ({status:?}):\n{}", read_capped(&job.path().join("helper.err")))
    });
    let field = |key: &str| -> i64 {
        report
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("helper report lacks {key}: {report}"))
    };
    let status = match (field("timed_out"), field("signal"), field("code")) {
        (1, _, _) => Status::TimedOut,
        (_, sig, _) if sig > 0 => Status::Signaled(i32::try_from(sig).expect("signal number")),
        (_, _, code) => Status::Exited(i32::try_from(code).expect("exit code")),
    };
    let outcome = Outcome {
        what: format!("{what} [sandbox check {}]", args.join(" ")),
        status,
        elapsed: Duration::from_micros(u64::try_from(field("elapsed_us")).expect("elapsed")),
        cpu: Duration::from_micros(u64::try_from(field("cpu_us")).expect("cpu time")),
        max_rss_kib: field("maxrss_kib"),
        stdout: read_capped(&job.path().join("stdout")),
        stderr: read_capped(&job.path().join("stderr")),
    };
    println!(
        "  ran `sandbox check {}`: {}, {:.3} s ({:.3} s CPU), peak RSS {} KiB",
        args.join(" "),
        outcome.status,
        outcome.elapsed.as_secs_f64(),
        outcome.cpu.as_secs_f64(),
        outcome.max_rss_kib
    );
    outcome
}

/// Not a test of its own: when [`HELPER_ENV`] names a job directory, run
/// the `sandbox` command described there and write what it did to `report`.
#[test]
fn measure_child() {
    let Some(job) = std::env::var_os(HELPER_ENV).map(PathBuf::from) else {
        return;
    };
    let spec = fs::read_to_string(job.join("args")).expect("read args");
    let mut spec = spec.lines();
    let dir = spec.next().expect("working directory");
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(spec)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(file(&job, "stdout"))
        .stderr(file(&job, "stderr"))
        .spawn()
        .expect("start sandbox");
    let (status, timed_out) = wait_or_kill(child, KILL_AFTER);
    let elapsed = start.elapsed();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let cpu_us = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    let report = format!(
        "timed_out={}\nsignal={}\ncode={}\nelapsed_us={}\ncpu_us={}\nmaxrss_kib={}\n",
        i32::from(timed_out),
        status.signal().unwrap_or(0),
        status.code().unwrap_or(-1),
        elapsed.as_micros(),
        cpu_us,
        usage.max_rss(),
    );
    fs::write(job.join("report"), report).expect("write report");
}

/// Wait for `child`; past `limit`, kill it. Returns its status and whether
/// it had to be killed.
fn wait_or_kill(mut child: Child, limit: Duration) -> (ExitStatus, bool) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return (status, false);
        }
        if start.elapsed() > limit {
            // It may exit between the check and the kill; either way, reap it.
            let _ = child.kill();
            return (child.wait().expect("wait after kill"), true);
        }
        sleep(POLL);
    }
}

fn file(dir: &Path, name: &str) -> File {
    File::create(dir.join(name)).expect("create capture file")
}

fn read_capped(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = f.take(CAPTURE_LIMIT).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

/// No hang, no panic, no crash: the run ended on its own with 0 or 1.
fn assert_clean_exit(o: &Outcome) {
    assert!(
        matches!(o.status, Status::Exited(0 | 1)),
        "{}: {} — expected a diagnostic, not a crash or hang\nstderr:\n{}",
        o.what,
        o.status,
        o.excerpt()
    );
}

fn assert_budget(o: &Outcome, time_limit: Duration) {
    assert!(
        o.elapsed < time_limit,
        "{}: took {:.3} s ({:.3} s CPU), over the {:.3} s limit",
        o.what,
        o.elapsed.as_secs_f64(),
        o.cpu.as_secs_f64(),
        time_limit.as_secs_f64()
    );
    assert!(
        o.max_rss_kib < RSS_LIMIT_KIB,
        "{}: peak RSS {} KiB, over the {RSS_LIMIT_KIB} KiB limit",
        o.what,
        o.max_rss_kib
    );
}

/// Exit 1 with the diagnostic `code` and every one of `texts` on stderr,
/// within the time and memory limits.
fn assert_error(o: &Outcome, code: &str, texts: &[&str]) {
    assert_exit_1(o);
    assert!(
        o.stderr.contains(code),
        "{}: expected diagnostic `{code}` on stderr, got:\n{}",
        o.what,
        o.excerpt()
    );
    for text in texts {
        assert!(o.stderr.contains(text), "{}: expected {text:?} on stderr, got:\n{}", o.what, o.excerpt());
    }
    assert_budget(o, TIME_LIMIT);
}

/// Like [`assert_error`] where more than one answer is right: one of the
/// `(code, text)` pairs, both on stderr.
fn assert_error_one_of(o: &Outcome, expected: &[(&str, &str)]) {
    assert_exit_1(o);
    assert!(
        expected.iter().any(|(code, text)| o.stderr.contains(code) && o.stderr.contains(text)),
        "{}: expected one of {expected:?} on stderr, got:\n{}",
        o.what,
        o.excerpt()
    );
    assert_budget(o, TIME_LIMIT);
}

fn assert_exit_1(o: &Outcome) {
    assert_clean_exit(o);
    assert_eq!(o.status, Status::Exited(1), "{}: expected exit 1\nstderr:\n{}", o.what, o.excerpt());
    assert!(!o.stderr.contains("panicked"), "{}: a panic message on stderr:\n{}", o.what, o.excerpt());
}

/// Exit 0, `NAME: ok` on stdout, within the limits.
fn assert_ok(o: &Outcome, name: &str, time_limit: Duration) {
    assert_clean_exit(o);
    assert_eq!(o.status, Status::Exited(0), "{}: expected exit 0\nstderr:\n{}", o.what, o.excerpt());
    assert!(o.stdout.contains(&format!("{name}: ok")), "{}: stdout was {:?}", o.what, o.stdout);
    assert_budget(o, time_limit);
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

fn dir() -> TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) {
    let contents = contents.as_ref();
    assert!(
        contents.len() <= MAX_PROFILE_BYTES,
        "{name} is {} bytes: past the size limit it would test only that",
        contents.len()
    );
    fs::write(dir.join(name), contents).expect("write input");
}

/// Announce what a test checks and hold the run lock for the whole test.
fn begin(what: &str) -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    println!("checks: {what}");
    guard
}

/// Run `check` on each file, all before any assertion, so that every one
/// of them is measured and reported even when an early one fails.
fn check_each(dir: &Path, what: &str, names: &[&str]) -> Vec<Outcome> {
    names.iter().map(|name| check_file(dir, what, name)).collect()
}

/// Run `check` on one file that `write` just made.
fn check_file(dir: &Path, what: &str, name: &str) -> Outcome {
    check(dir, what, &[name])
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn yaml_alias_bomb() {
    let what = "a 10-level YAML alias bomb (9^10 nodes) stops at a YAML budget";
    let _serial = begin(what);
    let d = dir();
    let mut text =
        String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for level in b'b'..=b'j' {
        let (this, prev) = (char::from(level), char::from(level - 1));
        let refs = vec![format!("*{prev}"); 9].join(",");
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{this}: &{this} [{refs}]");
    }
    write(d.path(), "bomb.yaml", text);
    let o = check_file(d.path(), what, "bomb.yaml");
    // Whichever of the YAML budgets (alias replay, node count) trips first.
    assert_error_one_of(
        &o,
        &[
            ("profile::syntax", "copy more than a profile may hold"),
            ("profile::syntax", "more than 50000 values"),
        ],
    );
}

#[test]
fn toml_deeply_nested_arrays() {
    let what = "100 000 nested TOML arrays: a syntax error, not a stack overflow";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "deep.toml", format!("a = {}{}\n", "[".repeat(100_000), "]".repeat(100_000)));
    let o = check_file(d.path(), what, "deep.toml");
    assert_error(&o, "profile::syntax", &["recursion"]);
}

#[test]
fn toml_deeply_nested_inline_tables() {
    let what = "100 000 nested TOML inline tables: a syntax error, not a stack overflow";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "deep.toml", format!("a = {}1{}\n", "{b = ".repeat(100_000), "}".repeat(100_000)));
    let o = check_file(d.path(), what, "deep.toml");
    assert_error(&o, "profile::syntax", &["recursion"]);
}

#[test]
fn toml_nesting_just_past_the_depth_limit() {
    let what = "TOML nesting the parser accepts but past our 32 levels: profile::too-deep";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "deep.toml", format!("a = {}{}\n", "[".repeat(40), "]".repeat(40)));
    let o = check_file(d.path(), what, "deep.toml");
    assert_error(&o, "profile::too-deep", &["nested deeper than 32 levels"]);
}

#[test]
fn yaml_deeply_nested_flow() {
    let what = "100 000 nested YAML flow sequences: profile::too-deep, not a stack overflow";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "deep.yaml", format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)));
    let o = check_file(d.path(), what, "deep.yaml");
    assert_error(&o, "profile::too-deep", &["nested deeper than 32 levels"]);
}

#[test]
fn yaml_deeply_nested_block_sequences() {
    let what = "100 000 nested YAML block sequences (`- - - …`): the depth budget";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "deep.yaml", format!("a:\n  {}x\n", "- ".repeat(100_000)));
    let o = check_file(d.path(), what, "deep.yaml");
    assert_error(&o, "profile::too-deep", &["nested deeper than 32 levels"]);
}

#[test]
fn yaml_deeply_nested_block_mappings() {
    // Indentation grows by one column a level, so the file is quadratic in
    // the depth: 1 400 levels is as deep as fits under the size limit.
    let what = "1 400 nested YAML block mappings (as deep as fits in 1 MiB): the depth budget";
    let _serial = begin(what);
    let d = dir();
    let mut text = String::new();
    for i in 0..1_400 {
        let _ = writeln!(text, "{:i$}b:", "");
    }
    let _ = writeln!(text, "{:1400}c: 1", "");
    write(d.path(), "deep.yaml", text);
    let o = check_file(d.path(), what, "deep.yaml");
    assert_error(&o, "profile::too-deep", &["nested deeper than 32 levels"]);
}

#[test]
fn toml_duplicate_keys() {
    let what = "a TOML key or table given twice is a syntax error";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "key.toml", "description = \"a\"\ndescription = \"b\"\n");
    write(d.path(), "table.toml", "[limits]\npids = 1\n\n[limits]\npids = 2\n");
    for o in check_each(d.path(), what, &["key.toml", "table.toml"]) {
        assert_error(&o, "profile::syntax", &["duplicate key"]);
    }
}

#[test]
fn yaml_duplicate_keys() {
    let what = "a YAML mapping key given twice is a syntax error";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "key.yaml", "description: a\ndescription: b\n");
    write(d.path(), "nested.yaml", "limits:\n  pids: 1\n  pids: 2\n");
    for o in check_each(d.path(), what, &["key.yaml", "nested.yaml"]) {
        assert_error(&o, "profile::syntax", &["duplicate key"]);
    }
}

#[test]
fn invalid_utf8() {
    let what = "bytes that are not UTF-8 are refused with their offset";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "bad.toml", b"description = \"ok\"\nhostname = \"\xff\xfe\"\n");
    write(d.path(), "bad.yaml", b"description: \xc3\x28\n");
    let o = check_file(d.path(), what, "bad.toml");
    assert_error(&o, "profile::read", &["invalid UTF-8 at byte 31 (line 2)"]);
    let o = check_file(d.path(), what, "bad.yaml");
    assert_error(&o, "profile::read", &["invalid UTF-8 at byte 13 (line 1)"]);
}

#[test]
fn nul_bytes() {
    let what = "a NUL byte is refused in both formats";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "nul.toml", b"description = \"a\x00b\"\n");
    write(d.path(), "nul.yaml", b"description: a\x00b\n");
    for o in check_each(d.path(), what, &["nul.toml", "nul.yaml"]) {
        assert_error(&o, "profile::nul-byte", &["NUL byte in profile"]);
    }
}

#[test]
fn utf8_bom_is_accepted() {
    let what = "a UTF-8 byte-order mark before a valid profile is accepted (exit 0)";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "bom.toml", b"\xef\xbb\xbfdescription = \"with a BOM\"\n");
    write(d.path(), "bom.yaml", b"\xef\xbb\xbfdescription: with a BOM\n");
    let names = ["bom.toml", "bom.yaml"];
    for (o, name) in check_each(d.path(), what, &names).iter().zip(names) {
        assert_ok(o, name, TIME_LIMIT);
    }
}

#[test]
fn two_gib_file() {
    let what = "a 2 GiB (sparse) file is refused by its size, without reading it";
    let _serial = begin(what);
    let d = dir();
    File::create(d.path().join("big.toml")).and_then(|f| f.set_len(2 << 30)).expect("sparse file");
    let o = check_file(d.path(), what, "big.toml");
    assert_error(&o, "profile::read", &["2147483648 bytes, more than the 1048576 byte limit"]);
}

#[test]
fn symlink_to_dev_zero() {
    let what = "zero.toml -> /dev/zero is refused (outside the project; no endless read)";
    let _serial = begin(what);
    let d = dir();
    symlink("/dev/zero", d.path().join("zero.toml")).expect("symlink");
    let o = check_file(d.path(), what, "zero.toml");
    assert_error(&o, "profile::outside-project", &["/dev/zero"]);
}

#[test]
fn a_profile_cannot_make_check_quote_a_host_file() {
    let what = "a profile that is, or extends, a file outside its project (a symlink, a `..` path): \
                refused, and not one line of that file is printed";
    let _serial = begin(what);
    let d = dir();
    let elsewhere = dir();
    write(elsewhere.path(), "credentials.toml", "[registry]\ntoken = \"hunter2-token\"\n");
    let secret = elsewhere.path().join("credentials.toml");
    symlink(&secret, d.path().join("evil.toml")).expect("symlink");
    write(d.path(), "via-link.toml", "extends = [\"evil.toml\"]\n");
    let up = format!("../{}/credentials.toml", elsewhere.path().file_name().unwrap().to_string_lossy());
    write(d.path(), "via-dots.toml", format!("extends = [\"{up}\"]\n"));
    write(d.path(), "absolute.toml", format!("extends = [\"{}\"]\n", secret.display()));
    for o in check_each(d.path(), what, &["evil.toml", "via-link.toml", "via-dots.toml", "absolute.toml"]) {
        assert_error(&o, "profile::outside-project", &["outside this"]);
        assert!(!o.stderr.contains("hunter2") && !o.stderr.contains("token"), "{}: {}", o.what, o.excerpt());
    }
}

#[test]
fn check_does_not_print_the_callers_environment() {
    let what =
        "hostname = \"${env.PATH}\" is a bad host name whose message shows `${env.PATH}`, not PATH's value";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "leak.toml", "[network]\nhostname = \"${env.PATH}\"\n");
    let o = check_file(d.path(), what, "leak.toml");
    assert_error(&o, "profile::hostname", &["${env.PATH}"]);
    let path = std::env::var("PATH").expect("PATH is set");
    assert!(!o.stderr.contains(&path), "{}: the value of PATH was printed:\n{}", o.what, o.excerpt());
}

#[test]
fn fifo() {
    let what = "a FIFO named x.toml is refused without waiting for a writer";
    let _serial = begin(what);
    let d = dir();
    mkfifo(&d.path().join("x.toml"), Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let o = check_file(d.path(), what, "x.toml");
    assert_error(&o, "profile::read", &["not a regular file"]);
}

#[test]
fn directory() {
    let what = "a directory named d.toml is refused";
    let _serial = begin(what);
    let d = dir();
    fs::create_dir(d.path().join("d.toml")).expect("mkdir");
    let o = check_file(d.path(), what, "d.toml");
    assert_error(&o, "profile::read", &["is a directory"]);
}

#[test]
fn extends_cycle_names_the_chain() {
    let what = "a.toml extends b.toml extends a.toml: profile::extends-cycle naming the chain";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "a.toml", "extends = [\"b.toml\"]\n");
    write(d.path(), "b.toml", "extends = [\"a.toml\"]\n");
    let o = check_file(d.path(), what, "a.toml");
    assert_error(&o, "profile::extends-cycle", &["`extends` cycle"]);
    // The files of the chain in order, named relatively or absolutely. The
    // message may wrap (a new line, indentation and a `│` gutter).
    let squashed: String = o.stderr.chars().filter(|c| !c.is_whitespace() && *c != '│').collect();
    let chain = squashed.split_once("`extends`cycle:").map_or("", |(_, rest)| rest);
    let chain = chain.split('╭').next().unwrap_or_default();
    let names: Vec<_> = chain.split('→').map(|p| Path::new(p).file_name().unwrap_or_default()).collect();
    assert_eq!(names, ["a.toml", "b.toml", "a.toml"], "{what}: the chain is {chain:?} in:\n{}", o.excerpt());
}

#[test]
fn extends_itself() {
    let what = "a profile that extends itself: profile::extends-cycle";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "self.toml", "extends = \"self.toml\"\n");
    let o = check_file(d.path(), what, "self.toml");
    assert_error(&o, "profile::extends-cycle", &["`extends` cycle"]);
}

#[test]
fn symlink_loop() {
    let what = "loop.toml -> loop2.toml -> loop.toml, named directly and through extends";
    let _serial = begin(what);
    let d = dir();
    symlink("loop2.toml", d.path().join("loop.toml")).expect("symlink");
    symlink("loop.toml", d.path().join("loop2.toml")).expect("symlink");
    write(d.path(), "via.toml", "extends = [\"loop.toml\"]\n");
    let o = check_file(d.path(), what, "loop.toml");
    assert_error(&o, "profile::read", &["os error 40"]);
    let o = check_file(d.path(), what, "via.toml");
    assert_error(&o, "profile::extends", &["os error 40"]);
}

#[test]
fn toml_integer_beyond_u64() {
    let what = "TOML integers beyond 64 bits (positive, negative, hex): profile::number-range";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "big.toml", "[limits]\npids = 99999999999999999999999\n");
    write(d.path(), "edge.toml", "[limits]\npids = 18446744073709551616\n");
    write(d.path(), "neg.toml", "[limits]\npids = -99999999999999999999999\n");
    write(d.path(), "hex.toml", "[limits]\npids = 0x1ffffffffffffffffffff\n");
    for o in check_each(d.path(), what, &["big.toml", "edge.toml", "neg.toml", "hex.toml"]) {
        assert_error(&o, "profile::number-range", &["integer out of range"]);
    }
}

#[test]
fn yaml_integer_beyond_u64() {
    let what = "YAML integers beyond 64 bits: profile::number-range, as in TOML";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "big.yaml", "limits:\n  pids: 99999999999999999999999\n");
    write(d.path(), "edge.yaml", "limits:\n  pids: 18446744073709551616\n");
    for o in check_each(d.path(), what, &["big.yaml", "edge.yaml"]) {
        assert_error(&o, "profile::number-range", &["out of range"]);
    }
}

#[test]
fn mount_target_with_parent_dir() {
    let what = "a mount target containing `..` is refused";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "up.toml", "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/tmp/../etc\"\n");
    write(d.path(), "up.yaml", "mount:\n  - type: tmpfs\n    target: /tmp/../etc\n");
    for o in check_each(d.path(), what, &["up.toml", "up.yaml"]) {
        assert_error(&o, "profile::parent-dir", &["mount target contains `..`"]);
    }
}

#[test]
fn mount_target_not_absolute() {
    let what = "a relative mount target is refused";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "rel.toml", "[[mount]]\ntype = \"tmpfs\"\ntarget = \"tmp\"\n");
    let o = check_file(d.path(), what, "rel.toml");
    assert_error(&o, "profile::relative-path", &["mount target must be an absolute path"]);
}

#[test]
fn extends_list_of_100_000_self_references() {
    let what = "a 100 000-entry `extends` list naming the file itself: a clear error, fast";
    let _serial = begin(what);
    let d = dir();
    let list = vec!["\"s.toml\""; 100_000].join(",");
    write(d.path(), "s.toml", format!("extends = [{list}]\n"));
    // One line: every diagnostic would quote all 700 KB of it.
    let list = vec!["s.yaml"; 100_000].join(",");
    write(d.path(), "s.yaml", format!("extends: [{list}]\n"));
    // Within the YAML node budget (50 000 nodes), one entry a line.
    write(d.path(), "block.yaml", format!("extends:\n{}", "- block.yaml\n".repeat(40_000)));
    let [toml, flow, block] = [
        check_file(d.path(), what, "s.toml"),
        check_file(d.path(), what, "s.yaml"),
        check_file(d.path(), what, "block.yaml"),
    ];
    let cycle = ("profile::extends-cycle", "`extends` cycle");
    assert_error(&toml, cycle.0, &[cycle.1]);
    // 100 001 YAML nodes: the node budget refuses it before `extends` is read.
    assert_error_one_of(&flow, &[cycle, ("profile::syntax", "more than 50000 values")]);
    assert_error(&block, cycle.0, &[cycle.1]);
}

#[test]
fn extends_list_of_100_000_copies_of_a_parent() {
    let what = "a 100 000-entry `extends` list naming one small parent: done fast, no crash";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "p.toml", "[process]\ninherit_env = [\"TERM\"]\n");
    let list = vec!["\"p.toml\""; 100_000].join(",");
    write(d.path(), "child.toml", format!("extends = [{list}]\n"));
    let o = check_file(d.path(), what, "child.toml");
    assert_clean_exit(&o);
    assert_budget(&o, TIME_LIMIT);
}

#[test]
fn extends_chain_of_40_files() {
    let what = "40 files each extending the next: profile::extends past depth 16, no stack overflow";
    let _serial = begin(what);
    let d = dir();
    for i in 0..40 {
        write(d.path(), &format!("c{i}.toml"), format!("extends = [\"c{}.toml\"]\n", i + 1));
    }
    write(d.path(), "c40.toml", "description = \"the end\"\n");
    let o = check_file(d.path(), what, "c0.toml");
    assert_error(&o, "profile::extends", &["`extends` nests deeper than 16"]);
}

#[test]
fn extends_fan_out() {
    // Not a cycle and within the depth limit, but each file names the next
    // one four times: loading every path visits 4^15 (about 10^9) files.
    let what = "16 files each extending the next one 4 times (a diamond): no exponential blow-up";
    let _serial = begin(what);
    let d = dir();
    for i in 0..15 {
        let next = format!("\"f{}.toml\"", i + 1);
        write(d.path(), &format!("f{i}.toml"), format!("extends = [{}]\n", vec![next; 4].join(", ")));
    }
    write(d.path(), "f15.toml", "description = \"leaf\"\n");
    let o = check_file(d.path(), what, "f0.toml");
    assert_clean_exit(&o);
    assert_budget(&o, TIME_LIMIT);
}

#[test]
fn many_problems_in_one_file() {
    let what = "100 000 unknown keys in one file: every problem reported, fast";
    let _serial = begin(what);
    let d = dir();
    let mut text = String::new();
    for i in 0..100_000 {
        let _ = writeln!(text, "k{i}=1");
    }
    write(d.path(), "keys.toml", text);
    let o = check_file(d.path(), what, "keys.toml");
    assert_error(&o, "profile::unknown-key", &["unknown key `k0`"]);
}

#[test]
fn diagnostic_far_along_a_long_line() {
    let what = "a problem past column 65 535 of one line is reported, not a panic";
    let _serial = begin(what);
    let d = dir();
    let pad = " ".repeat(70_000);
    write(d.path(), "wide.toml", format!("process = {{{pad}cwd = 5 }}\n"));
    write(d.path(), "wide.yaml", format!("process: {{{pad}cwd: 5 }}\n"));
    for o in check_each(d.path(), what, &["wide.toml", "wide.yaml"]) {
        assert_error(&o, "profile::type", &["expected a string, found an integer"]);
    }
}

#[test]
fn huge_valid_profile() {
    // Measured on the 2-core dev machine: 0.15 s in a release build; in the
    // debug build `cargo test` uses, 0.37 s with dependencies at opt-level 2
    // (as Cargo.toml sets for dev) and 0.75 s with everything unoptimised.
    // The limit is the spec's 1 s in release; in debug it is 2 s (headroom
    // for a loaded machine, still far short of anything quadratic).
    let limit = if cfg!(debug_assertions) { Duration::from_secs(2) } else { TIME_LIMIT };
    let what = "a 900 KiB profile of 14 800 valid tmpfs mounts checks OK, fast";
    let _serial = begin(what);
    let d = dir();
    let mut text = String::new();
    for i in 0.. {
        let mount = format!("[[mount]]\ntype = \"tmpfs\"\ntarget = \"/mnt/m{i}\"\nsize = \"1MiB\"\n\n");
        if text.len() + mount.len() > 900 * 1024 {
            break;
        }
        text.push_str(&mount);
    }
    write(d.path(), "huge.toml", text);
    let o = check_file(d.path(), what, "huge.toml");
    assert_ok(&o, "huge.toml", limit);
}

#[test]
fn unknown_extension() {
    let what = "p.json is refused for its extension";
    let _serial = begin(what);
    let d = dir();
    write(d.path(), "p.json", "{}\n");
    let o = check_file(d.path(), what, "p.json");
    assert_error(&o, "profile::extension", &["unknown profile type"]);
}
