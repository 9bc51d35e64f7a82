//! Tier 3: named sandboxes from profiles — `run -d`, `exec`, `ps`, `logs`,
//! `attach`, `stop`, `kill`, `wait`, `rm` — driven as a user would, looking
//! from inside the sandbox and checking the host afterwards: no process,
//! cgroup, mount or state left. Each test has a state directory of its own
//! (`--root`). The rootless tier runs the same tests as its user.

mod common;

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::e2e::{
    HostState, Outcome, Profile, eventually, finish, processes_with, sandbox_cgroups, serial,
    skip_unless_root,
};

/// A state directory of the test's own, and the sandbox verbs on it.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        Root { dir: common::e2e::writable_tempdir("sbx-named-") }
    }

    fn command(&self, args: &[&str]) -> Command {
        let root = self.dir.path().to_str().unwrap();
        let mut c = common::e2e::command(&["--root", root]);
        c.args(args).stdin(Stdio::null());
        c
    }

    fn sandbox(&self, args: &[&str]) -> Outcome {
        finish(self.command(args))
    }

    /// `run -d --name NAME PROFILE -- CMD`, which must succeed.
    fn start(&self, name: &str, profile: &Profile, extra: &[&str], cmd: &[&str]) {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend(extra);
        args.extend([profile.path.to_str().unwrap(), "--"]);
        args.extend(cmd);
        let out = self.sandbox(&args);
        assert_eq!(out.code, Some(0), "run -d: {out}");
        assert_eq!(out.stdout, format!("{name}\n"), "run -d prints the name");
    }

    fn ps(&self) -> Vec<serde_json::Value> {
        let out = self.sandbox(&["ps", "-a", "--format", "json"]);
        assert_eq!(out.code, Some(0), "ps: {out}");
        serde_json::from_str::<Vec<serde_json::Value>>(&out.stdout).expect("ps prints JSON")
    }

    fn status(&self, name: &str) -> Option<String> {
        self.ps().into_iter().find(|s| s["name"] == name).map(|s| s["status"].as_str().unwrap().to_owned())
    }

    /// Poll `logs NAME` until it holds `text`.
    fn log_has(&self, name: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.sandbox(&["logs", name]);
            if out.stdout.contains(text) {
                return out.stdout;
            }
            assert!(Instant::now() < deadline, "the log of {name} never said {text:?}: {out}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Nothing is left of any sandbox of this root: no state, no process.
    fn assert_empty(&self, marker: &str) {
        let left: Vec<_> =
            std::fs::read_dir(self.dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "state left behind: {left:?}");
        eventually("the sandbox's processes are gone", || processes_with(marker).is_empty());
    }
}

fn marker(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// The busybox profile with a cgroup (where this tier can make one).
fn profile(extra: &str) -> Profile {
    let limits = if common::e2e::rootless() { "" } else { "[limits]\npids = 64\n" };
    common::e2e::busybox_profile(&format!("{extra}\n{limits}"))
}

#[test]
fn a_named_sandbox_runs_in_the_background_until_stopped_and_removed() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let root = Root::new();
    let m = marker("lifecycle");
    let p = profile("");
    let script = format!("trap 'echo got TERM; exit 3' TERM; echo up; while true; do sleep 0.05; done # {m}");
    root.start("dev", &p, &[], &["/bin/sh", "-c", &script]);
    root.log_has("dev", "up\n");
    let ps = root.ps();
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0]["status"], "running");
    assert_eq!(ps[0]["profile"], p.path.to_str().unwrap());
    assert_eq!(ps[0]["command"][2], script.as_str());
    assert!(ps[0]["pid"].as_i64().unwrap() > 1);
    let table = root.sandbox(&["ps"]);
    assert!(table.stdout.lines().nth(1).is_some_and(|l| l.starts_with("dev\trunning\t")), "{table}");

    let out = root.sandbox(&["exec", "dev", "--", "/bin/sh", "-c", "echo in; exit 7"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(7), "in\n"), "exec: {out}");

    let out = root.sandbox(&["stop", "-t", "5", "dev"]);
    assert_eq!(out.code, Some(0), "stop: {out}");
    assert_eq!(root.status("dev").as_deref(), Some("exited (3)"));
    assert_eq!(root.sandbox(&["ps"]).stdout.lines().count(), 1, "ps without -a shows only running ones");
    assert!(root.log_has("dev", "got TERM").ends_with("up\ngot TERM\n"));
    assert_eq!(root.sandbox(&["wait", "dev"]).code, Some(3), "wait exits with its status");
    let out = root.sandbox(&["exec", "dev", "--", "true"]);
    assert_eq!(out.code, Some(125), "no exec into an ended sandbox: {out}");

    let out = root.sandbox(&["rm", "dev"]);
    assert_eq!(out.code, Some(0), "rm: {out}");
    root.assert_empty(&m);
    host.assert_unchanged("a named sandbox's lifecycle");
}

/// The fields of /proc/self/status that say how a process is confined,
/// its namespaces, cgroup, ids, environment and directory.
const CONFINEMENT: &str = "grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status; \
     for n in user mnt pid net ipc uts cgroup; do readlink /proc/self/ns/$n; done; \
     cat /proc/self/cgroup; env | grep -v -e '^_=' -e '^SHLVL=' -e '^PWD=' | sort; pwd; \
     echo probe > /etc/landlocked 2>/dev/null && echo etc-writable || echo etc-refused";

#[test]
fn exec_is_confined_as_the_sandboxs_own_command() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let root = Root::new();
    let m = marker("confined");
    // Landlock lets the command write only /tmp; seccomp is the default.
    let p = profile(
        "cwd = \"/tmp\"\nenv = { PROFILE_VAR = \"1\" }\n[security]\nseccomp = \"default\"\n\
         [security.landlock]\nread = [\"/\"]\nexecute = [\"/\"]\nwrite = [\"/tmp\"]\n",
    );
    let script = format!("{{ {CONFINEMENT}; }} > /tmp/own; echo ready; sleep 60 # {m}");
    root.start("box", &p, &[], &["/bin/sh", "-c", &script]);
    root.log_has("box", "ready");
    let own = root.sandbox(&["exec", "box", "--", "cat", "/tmp/own"]);
    let exec = root.sandbox(&["exec", "box", "--", "/bin/sh", "-c", CONFINEMENT]);
    assert_eq!((own.code, exec.code), (Some(0), Some(0)), "{own}\n{exec}");
    println!("{}", exec.stdout);
    for field in ["CapEff:", "CapBnd:", "NoNewPrivs:", "Seccomp:", "mnt:[", "pid:[", "0::/"] {
        assert!(own.stdout.contains(field), "the sandbox's own view has {field}: {own}");
    }
    assert!(exec.stdout.contains("NoNewPrivs:\t1") && exec.stdout.contains("Seccomp:\t2"), "{exec}");
    assert!(exec.stdout.contains("PROFILE_VAR=1") && exec.stdout.contains("etc-refused"), "{exec}");
    assert_eq!(own.stdout, exec.stdout, "exec is confined exactly as the sandbox's command");
    assert_eq!(root.sandbox(&["rm", "-f", "box"]).code, Some(0));
    root.assert_empty(&m);
    host.assert_unchanged("exec's confinement");
}

#[test]
fn names_are_unique_generated_and_removed_with_rm() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let root = Root::new();
    let m = marker("names");
    let p = profile("");
    let sleep = format!("sleep 60 # {m}");
    root.start("one", &p, &[], &["/bin/sh", "-c", &sleep]);
    let again = root.sandbox(&["run", "-d", "--name", "one", p.path.to_str().unwrap(), "--", "true"]);
    assert_eq!(again.code, Some(125), "{again}");
    assert!(again.stderr.contains("a sandbox named one exists (running)"), "{again}");
    assert!(again.stderr.contains("sandbox rm -f one"), "the error names the fix: {again}");
    let out = root.sandbox(&["rm", "one"]);
    assert_eq!(out.code, Some(1), "rm of a running sandbox needs -f: {out}");
    assert!(root.status("one").is_some_and(|s| s == "running"), "and leaves it running");

    let out = root.sandbox(&["run", "-d", p.path.to_str().unwrap(), "--", "true"]);
    let name = out.stdout.trim().to_owned();
    assert!(name.starts_with("p-") && name.len() == 6, "a generated name: {out}");
    let _ = root.sandbox(&["wait", &name]);
    assert_eq!(root.status(&name).as_deref(), Some("exited (0)"));

    let out = root.sandbox(&["run", "-d", "--rm", "--name", "gone", p.path.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.code, Some(0), "{out}");
    eventually("--rm removes it once it ends", || root.status("gone").is_none());

    let out = root.sandbox(&["rm", "-f", "one", &name]);
    assert_eq!(out.code, Some(0), "{out}");
    root.assert_empty(&m);
    host.assert_unchanged("names");
}

#[test]
fn a_command_that_cannot_start_is_reported_by_run_d_and_leaves_nothing() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let root = Root::new();
    let p = profile("");
    let out =
        root.sandbox(&["run", "-d", "--name", "nope", p.path.to_str().unwrap(), "--", "/no/such/command"]);
    assert_eq!(out.code, Some(127), "{out}");
    assert!(out.stderr.contains("/no/such/command"), "{out}");
    let out = root.sandbox(&["run", "-d", "--name", "bad", "--memory", "lots", p.path.to_str().unwrap()]);
    assert_eq!(out.code, Some(125), "an invalid override: {out}");
    assert!(out.stderr.contains("command line:1"), "the override's place is named: {out}");
    root.assert_empty("/no/such/command");
}

#[test]
fn the_log_is_bounded_and_followed_to_the_end() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let root = Root::new();
    let p = profile("");
    // 3 MiB of numbered lines, then a last one.
    let script =
        "i=0; while [ $i -lt 49152 ]; do echo \"line $i $(printf %040d 0)\"; i=$((i+1)); done; echo last";
    root.start("chatty", &p, &[], &["/bin/sh", "-c", script]);
    let follow = root.sandbox(&["logs", "-f", "chatty"]);
    assert_eq!(follow.code, Some(0), "logs -f ends with the sandbox: {}", follow.stderr);
    assert!(follow.stdout.ends_with("line 49151 0000000000000000000000000000000000000000\nlast\n"));
    let dir = root.dir.path().join("chatty");
    let kept: u64 =
        ["log", "log.1"].iter().map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len())).sum();
    assert!(kept <= 2 << 20, "the log is bounded: {kept} bytes kept");
    assert!(kept > 1 << 20, "and keeps the last MiB at least: {kept}");
    let logs = root.sandbox(&["logs", "chatty"]);
    assert_eq!(logs.stdout.len() as u64, kept);
    assert!(logs.stdout.ends_with("last\n"));
    assert_eq!(root.sandbox(&["rm", "chatty"]).code, Some(0));
    root.assert_empty("line $i");
}

#[test]
fn attach_types_into_the_sandbox_and_detaches_with_ctrl_p_ctrl_q() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let root = Root::new();
    let m = marker("attach");
    let p = profile("");
    let script = format!("while read l; do echo \"got $l\"; done; echo stdin-closed # {m}");
    root.start("talk", &p, &["-i"], &["/bin/sh", "-c", &script]);
    let mut attach =
        root.command(&["attach", "talk"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut keys = attach.stdin.take().unwrap();
    let mut out = std::io::BufReader::new(attach.stdout.take().unwrap());
    keys.write_all(b"hello\n").unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "got hello\n");
    keys.write_all(b"\x10\x11").unwrap();
    let status = wait_for(&mut attach);
    assert_eq!(status.code(), Some(0), "Ctrl-P Ctrl-Q detaches");
    assert_eq!(root.status("talk").as_deref(), Some("running"), "and leaves it running");
    // A Ctrl-P that is not the detach keys reaches the sandbox.
    let mut attach =
        root.command(&["attach", "talk"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut keys = attach.stdin.take().unwrap();
    keys.write_all(b"a\x10b\n").unwrap();
    let mut out = std::io::BufReader::new(attach.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "got a\x10b\n");
    assert_eq!(root.sandbox(&["stop", "-t", "1", "talk"]).code, Some(0));
    assert_eq!(wait_for(&mut attach).code(), Some(143), "attach ends with the sandbox's status (TERM's)");
    assert_eq!(root.sandbox(&["rm", "talk"]).code, Some(0));
    root.assert_empty(&m);
}

fn wait_for(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "it did not end");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGKILL the `run -d` and then the monitor at moments spread over their
/// whole work: each round leaves a running, a lost or no sandbox, and
/// `rm -f` (when there is one) leaves nothing at all.
#[test]
fn killing_run_d_and_the_monitor_at_random_moments_loses_nothing() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let host = HostState::now();
    let root = Root::new();
    let m = marker("killed");
    let p = profile("");
    let rounds: u64 =
        std::env::var("SANDBOX_KILL_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200) / 4;
    for round in 0..rounds {
        let name = format!("k{round}");
        let script = format!("echo up; sleep 30 # {m}");
        let mut run = root
            .command(&[
                "run",
                "-d",
                "--name",
                &name,
                p.path.to_str().unwrap(),
                "--",
                "/bin/sh",
                "-c",
                &script,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_micros((round * 7919) % 30_000);
        std::thread::sleep(delay);
        let _ = run.kill();
        let _ = run.wait();
        // The monitor (when it got that far), at another moment; not its
        // watcher (a fork of it, with its command line), which is what
        // cleans up after a killed monitor.
        std::thread::sleep(Duration::from_micros((round * 3571) % 20_000));
        let all = monitors(root.dir.path(), &name);
        let keeper_or_watcher = |p: &i32| all.contains(&parent(*p)) || cmdline(*p).contains("--keep-log");
        // Chosen before any is killed: a killed monitor's children are reparented.
        let victims: Vec<i32> = all.iter().copied().filter(|p| !keeper_or_watcher(p)).collect();
        for pid in &victims {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
        }
        let status = root.status(&name);
        if status.is_some() {
            let out = root.sandbox(&["rm", "-f", &name]);
            assert_eq!(out.code, Some(0), "round {round} ({status:?}): rm -f: {out}");
        }
        eventually(&format!("round {round}: the monitors are gone"), || {
            monitors(root.dir.path(), &name).is_empty()
        });
        eventually(&format!("round {round}: the sandbox's processes are gone"), || {
            processes_with(&m).is_empty()
        });
        eventually(&format!("round {round}: its cgroups are gone"), || sandbox_cgroups().is_empty());
        assert!(root.status(&name).is_none(), "round {round}: rm -f removed it");
    }
    println!("{rounds} rounds of killed run -d and monitors; nothing left behind");
    root.assert_empty(&m);
    host.assert_unchanged("killed monitors");
}

fn cmdline(pid: i32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).into_owned()
}

fn parent(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rfind(')').map_or("", |i| &stat[i + 2..]);
    after.split(' ').nth(1).and_then(|p| p.parse().ok()).unwrap_or(0)
}

/// The processes of `sandbox --root ROOT monitor NAME`: the monitor, its
/// watcher and its log keeper.
fn monitors(root: &Path, name: &str) -> Vec<i32> {
    let words = format!("--root\0{}\0monitor\0{name}\0", root.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| cmdline(*pid).contains(&words))
        .collect()
}

#[test]
fn run_takes_overrides_and_runs_the_defaults_without_a_profile() {
    if skip_unless_root() {
        return;
    }
    let _serial = serial();
    let root = Root::new();
    let data = common::e2e::writable_tempdir("sbx-named-data-");
    std::fs::write(data.path().join("in"), "from the host\n").unwrap();
    let env_file = data.path().join("env");
    std::fs::write(&env_file, "# a comment\nFROM_FILE=yes\n").unwrap();
    let p = profile("");
    let mount = format!("{}:/data:rw", data.path().display());
    let out = root.sandbox(&[
        "run",
        "-e",
        "A=1",
        "--env-file",
        env_file.to_str().unwrap(),
        "-w",
        "/data",
        "-v",
        &mount,
        "--set",
        "network.hostname=\"over\"",
        p.path.to_str().unwrap(),
        "--",
        "/bin/sh",
        "-c",
        "echo $A $FROM_FILE; pwd; hostname; cat in; echo out > out",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, "1 yes\n/data\nover\nfrom the host\n");
    assert_eq!(std::fs::read_to_string(data.path().join("out")).unwrap(), "out\n");

    // The host's root, its writes going to a tmpfs that ends with the sandbox.
    let probe = format!("/usr/sandbox-defaults-probe-{}", std::process::id());
    let script =
        format!("grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; touch {probe} && ls {probe}");
    let out = root.sandbox(&["run", "--", "/bin/sh", "-c", &script]);
    assert_eq!(out.code, Some(0), "{out}");
    let expected = format!("CapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n{probe}\n");
    assert_eq!(out.stdout, expected, "the secure defaults");
    assert!(!Path::new(&probe).exists(), "the host's root is not written");

    let bad = root.sandbox(&["run", "--set", "limits.pids=-4", "--network", "everywhere", "--", "true"]);
    assert_eq!(bad.code, Some(125), "{bad}");
    assert!(
        bad.stderr.contains("2 problems") && bad.stderr.contains("command line:"),
        "all of them, at their place: {bad}"
    );
    let usage = root.sandbox(&["run", "--no-such-flag", "--", "true"]);
    assert_eq!(usage.code, Some(125), "a usage error is sandbox's own failure: {usage}");
    let missing = root.sandbox(&["run", p.path.to_str().unwrap(), "--", "/nowhere"]);
    assert_eq!(missing.code, Some(127), "{missing}");
}

#[test]
fn a_terminal_sandbox_is_attached_from_a_terminal_and_left_with_ctrl_p_ctrl_q() {
    if skip_unless_root()
        || common::e2e::skip_unless(common::tmux::installed(), "needs tmux (scripts/test.sh installs it)")
    {
        return;
    }
    let _serial = serial();
    let root = Root::new();
    let m = marker("tty");
    let p = profile("");
    let script = format!("tty; while read l; do echo \"got $l\"; done # {m}");
    root.start("tty", &p, &["-t"], &["/bin/sh", "-c", &script]);
    root.log_has("tty", "/dev/pts/");
    let scratch = common::e2e::open_tempdir("sbx-named-tty-");
    let done = scratch.path().join("attach-status");
    let bin = common::e2e::launcher().join(" ");
    let tmux = common::tmux::Tmux::new("attach");
    tmux.start(
        80,
        24,
        &format!(
            "{bin} --root {} attach tty; echo attach=$? > {}",
            root.dir.path().display(),
            done.display()
        ),
    );
    // Typed at a real terminal, relayed to the sandbox's: its echo and its answer.
    let typed = || {
        let out = tmux.cmd(&["send-keys", "hello", "Enter"]);
        assert!(out.status.success());
        std::thread::sleep(Duration::from_millis(100));
        root.sandbox(&["logs", "tty"]).stdout.contains("got hello")
    };
    eventually("keys typed in attach reach the sandbox's terminal", typed);
    assert!(tmux.cmd(&["send-keys", "C-p", "C-q"]).status.success());
    common::tmux::wait_for_file(&done, "attach=0\n", Duration::from_secs(10));
    assert_eq!(root.status("tty").as_deref(), Some("running"), "detaching leaves it running");
    assert_eq!(root.sandbox(&["rm", "-f", "tty"]).code, Some(0));
    root.assert_empty(&m);
}
