//! Tiers 3 and 4, attacked from inside: a hostile command tries to outlive
//! its launcher, hang it, ignore the caller's Ctrl-C, or find the edges of
//! the filter; a hostile bundle tries to have its settings silently
//! dropped. And `sandbox run` leaves no process of its own behind.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::e2e::{
    Outcome, Started, busybox_profile, launcher, probe, rootless, run, skip_unless, skip_unless_root,
};
use common::tmux::{self, Tmux};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The value of the first `key=` line the probe printed.
fn value<'a>(out: &'a Outcome, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

/// Item 14: `sandbox run` returns only once every process it started has
/// ended. The probe runs the launcher as the child of a subreaper on the
/// host: anything the launcher left running, or left to be reaped, becomes
/// the probe's child and is counted.
#[test]
fn sandbox_run_leaves_no_process_behind() {
    if skip_unless_root() {
        return;
    }
    let limits = if rootless() { "" } else { "[limits]\npids = 64\n" };
    for extra in ["", limits, "init = false\n"] {
        let p = busybox_profile(extra);
        for _ in 0..5 {
            let mut c = Command::new(probe());
            c.arg("reap").args(launcher()).args(["run", p.path.to_str().unwrap(), "--", "/bin/true"]);
            let out = common::e2e::finish(c);
            assert_eq!(value(&out, "status"), "0", "{extra}{out}");
            assert!(
                value(&out, "orphans").starts_with("0 "),
                "a process outlived sandbox run ({extra}): {out}"
            );
        }
    }
}

/// A busybox profile whose command always gets a pty.
fn with_pty(extra: &str) -> common::e2e::Profile {
    common::e2e::profile(&format!(
        "[rootfs]\nlayers = [\"{{ROOTFS}}\"]\n[process]\nterminal = \"always\"\n{extra}"
    ))
}

/// A launcher with its stdout piped to us, which we do not read.
fn spawn_unread(p: &common::e2e::Profile, cmd: &[&str]) -> std::process::Child {
    common::e2e::command(&["run", p.path.to_str().unwrap(), "--"])
        .args(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_at_most(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the launcher did not finish within {limit:?}");
}

/// Item 9: with a terminal, the launcher relays the command's output. A
/// reader that stops reading must not stop the launcher: the wall-clock
/// timeout fires on time and signals are handled; a reader that goes away
/// ends the run as it would end a pipeline (SIGPIPE's 141).
#[test]
fn a_blocked_or_closed_stdout_never_hangs_the_launcher() {
    if skip_unless_root() {
        return;
    }
    let timed = with_pty("[limits]\ntimeout = \"2s\"\n");
    let started = Instant::now();
    let mut child = spawn_unread(&timed, &["/bin/yes"]);
    let code = wait_at_most(&mut child, Duration::from_secs(10));
    assert_eq!(code, Some(124), "the timeout fired");
    assert!(started.elapsed() < Duration::from_secs(4), "on time: {:?}", started.elapsed());

    let p = with_pty("");
    let mut child = spawn_unread(&p, &["/bin/yes"]);
    std::thread::sleep(Duration::from_millis(500));
    kill(Pid::from_raw(i32::try_from(child.id()).unwrap()), Signal::SIGTERM).unwrap();
    assert_eq!(wait_at_most(&mut child, Duration::from_secs(3)), Some(143), "SIGTERM handled while blocked");

    let mut child = spawn_unread(&p, &["/bin/yes"]);
    let mut some = [0u8; 4096];
    child.stdout.as_mut().unwrap().read_exact(&mut some).unwrap();
    drop(child.stdout.take());
    assert_eq!(wait_at_most(&mut child, Duration::from_secs(3)), Some(141), "the reader went away");
}

/// Item 10: without a pty (`terminal = "never"`, as the build profiles
/// have it), Ctrl-C at the caller's terminal must stop the whole command —
/// here a shell waiting for its child, which a signal to the shell alone
/// would not stop until the child ends — as it would without the sandbox.
/// Beyond the list: the command cannot type into that terminal (TIOCSTI).
#[test]
fn ctrl_c_stops_the_whole_command_and_tiocsti_is_refused() {
    if skip_unless_root() || skip_unless(tmux::installed(), "tmux is not installed") {
        return;
    }
    let report = common::e2e::writable_tempdir("sandbox-ctrlc-");
    let dir = report.path().display();
    for seccomp in ["default", "unconfined"] {
        let p = busybox_profile(&format!(
            "[security]\nseccomp = \"{seccomp}\"\n[[mount]]\nsource = \"{dir}\"\ntarget = \"/report\"\nmode = \"rw\"\n"
        ));
        let _ = std::fs::remove_file(report.path().join("started"));
        let _ = std::fs::remove_file(report.path().join("rc"));
        let bin = launcher().join(" ");
        let inner =
            "/bin/probe tiocsti > /report/tiocsti; echo started > /report/started; sleep 15; echo late";
        let script =
            format!("{bin} run {p} -- /bin/sh -c '{inner}'; echo $? > {dir}/rc", p = p.path.display());
        let tmux = Tmux::new("control");
        tmux.start(80, 24, &script);
        tmux::wait_for_file(&report.path().join("started"), "\n", Duration::from_secs(10));
        // ^C once the shell waits for its child (before, it would stop the
        // shell alone, as it would without the sandbox).
        let deadline = Instant::now() + Duration::from_secs(10);
        while sleeping_15().is_empty() {
            assert!(Instant::now() < deadline, "sleep 15 did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        let sent = Instant::now();
        tmux.cmd(&["send-keys", "C-c"]);
        let rc = tmux::wait_for_file(&report.path().join("rc"), "\n", Duration::from_secs(10));
        let tiocsti = std::fs::read_to_string(report.path().join("tiocsti")).unwrap();
        println!("{seccomp}: rc {rc} after {:?}; {tiocsti}", sent.elapsed());
        assert_eq!(rc.trim(), "130", "{seccomp}");
        assert!(sent.elapsed() < Duration::from_secs(5), "stopped at once, not after the sleep");
        assert!(tiocsti.starts_with("tiocsti=E"), "the command typed into the caller's terminal: {tiocsti}");
    }
}

/// Beyond the list: without a pty the command shares the caller's terminal,
/// and may change its settings on its way out (`stty -echo`): they are put
/// back when the sandbox ends.
#[test]
fn the_callers_terminal_settings_survive_the_command() {
    if skip_unless_root() || skip_unless(tmux::installed(), "tmux is not installed") {
        return;
    }
    let report = common::e2e::writable_tempdir("sandbox-stty-");
    let dir = report.path().display();
    let p = busybox_profile("");
    let bin = launcher().join(" ");
    let script = format!(
        "stty -g > {dir}/before; {bin} run {p} -- /bin/stty -echo -icanon; stty -g > {dir}/after; echo done >> {dir}/after",
        p = p.path.display()
    );
    let tmux = Tmux::new("control");
    tmux.start(80, 24, &script);
    let after = tmux::wait_for_file(&report.path().join("after"), "done\n", Duration::from_secs(10));
    let before = std::fs::read_to_string(report.path().join("before")).unwrap();
    assert_eq!(after, format!("{before}done\n"), "the terminal's settings are back");
}

/// Processes running `sleep 15`.
fn sleeping_15() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"sleep\x0015\x00"))
        .collect()
}

/// Item 11: a syscall number the filter does not know (newer than its
/// tables, or in a gap) answers ENOSYS, so libc falls back to an older call;
/// a known syscall the filter denies answers EPERM.
#[test]
fn unknown_syscalls_answer_enosys() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("");
    for (nr, want) in [(1000, "ENOSYS"), (400, "ENOSYS"), (246, "EPERM"), (39, "ok")] {
        let out = run(&p, &["/bin/probe", "syscall", &nr.to_string()]);
        assert_eq!(value(&out, "syscall"), format!("{nr} {want}"), "{out}");
    }
}

/// Item 7: a command that is pid 1 itself (`init = false`, the default of
/// `run --bundle`) and clears its parent-death signal must still die with a
/// launcher killed by SIGKILL, with or without a cgroup to kill.
#[test]
fn a_pid_1_command_cannot_outlive_a_killed_launcher() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("init = false\n");
    let marker = format!("{}", 4000 + std::process::id() % 1000);
    let mut started = Started::run(&p, &["/bin/probe", "orphan", &marker], Stdio::null());
    let out = started.line() + &started.line();
    assert_eq!(out, "pdeathsig=ok\nready\n", "the command cleared its parent-death signal");
    let pids = probes_sleeping(&marker);
    kill(started.pid(), Signal::SIGKILL).unwrap();
    assert_eq!(pids.len(), 1, "{pids:?}");
    started.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !probes_sleeping(&marker).is_empty() {
        assert!(Instant::now() < deadline, "the command outlived its launcher");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes running `probe orphan MARKER`.
fn probes_sleeping(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                c.starts_with(b"/bin/probe\0orphan\0") && String::from_utf8_lossy(&c).contains(marker)
            })
        })
        .collect()
}

/// A change to a bundle's config.json, with the name its refusal must give.
type Edit<'a> = (&'a str, &'a dyn Fn(&mut serde_json::Value));

/// Item 12: a bundle's settings the runtime does not apply are refused by
/// name, never dropped; our own `dev.sandbox.*` annotations are all there
/// and well-formed, or the bundle is refused.
#[test]
fn a_bundle_is_refused_rather_than_weakened() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("[security.landlock]\nexecute = [\"/bin\"]\nread = [\"/\"]\n");
    // Exported by the caller of the tier (rootless: the bundle maps the user's id).
    let bundle = common::e2e::writable_tempdir("sandbox-bundle-");
    let out = common::e2e::command(&[
        "bundle",
        p.path.to_str().unwrap(),
        bundle.path().join("b").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let bundle = bundle.path().join("b");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = bundle.join("config.json");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let edits: &[Edit] = &[
        // A key of the host's, not of a namespace the sandbox has.
        ("linux.sysctl", &|v| v["linux"]["sysctl"] = serde_json::json!({"kernel.pid_max": "4096"})),
        // `sandbox run` in the foreground runs no hooks (a container does).
        ("hooks", &|v| v["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/true"}]})),
        ("linux.devices", &|v| {
            v["linux"]["devices"] =
                serde_json::json!([{"path": "/dev/../etc/fuse", "type": "c", "major": 10, "minor": 229}]);
        }),
        ("dev.sandbox.landlock", &|v| v["annotations"]["dev.sandbox.landlock"] = "{not json".into()),
        ("dev.sandbox.landlok", &|v| v["annotations"]["dev.sandbox.landlok"] = "null".into()),
        ("process.args[1]", &|v| {
            v["process"]["args"] = serde_json::json!(["/bin/echo", "one\u{0}two", "three"]);
        }),
        ("dev.sandbox.init", &|v| {
            v["annotations"].as_object_mut().unwrap().remove("dev.sandbox.init");
        }),
        // The profile asked for no network; a spec edited to the host's is refused.
        ("dev.sandbox.network", &|v| {
            v["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "network");
        }),
    ];
    let rootfs = bundle.join("rootfs");
    let run_bundle = || {
        let mut c = common::e2e::command(&["run", "--bundle", bundle.to_str().unwrap()]);
        c.stdin(Stdio::null());
        common::e2e::finish(c)
    };
    assert!(rootfs.join("bin/busybox").exists());
    assert_eq!(run_bundle().code, Some(0), "the bundle as exported runs");
    // Each capability set as the bundle gives it (ours are one list five times).
    let mut v = original.clone();
    v["process"]["capabilities"] = serde_json::json!({
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "permitted": ["CAP_KILL"], "effective": ["CAP_KILL"]
    });
    v["process"]["args"] =
        serde_json::json!(["/bin/sh", "-c", "grep -E '^Cap(Bnd|Prm|Eff|Inh|Amb)' /proc/self/status"]);
    std::fs::write(&config, serde_json::to_string(&v).unwrap()).unwrap();
    let mut c = common::e2e::command(&["run", "--bundle", bundle.to_str().unwrap()]);
    c.stdin(Stdio::null());
    let out = common::e2e::finish(c);
    for want in [
        "CapBnd:\t0000000000000420",
        "CapPrm:\t0000000000000020",
        "CapEff:\t0000000000000020",
        "CapAmb:\t0000000000000000",
    ] {
        assert!(out.stdout.contains(want), "{want}: {out}");
    }
    for (name, edit) in edits {
        let mut v = original.clone();
        edit(&mut v);
        std::fs::write(&config, serde_json::to_string(&v).unwrap()).unwrap();
        let out = run_bundle();
        assert_eq!(out.code, Some(125), "{name}: {out}");
        assert!(out.stderr.contains(name), "the error names {name}: {out}");
    }
}
