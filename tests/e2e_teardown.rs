//! Tier 3: signals, and nothing left behind — after a normal exit, an OOM
//! kill, and a launcher killed with SIGKILL at random moments.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::e2e::{
    busybox_profile, eventually, processes_with, rootless, run, sandbox_cgroups, skip_unless_root,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

#[test]
fn signals_to_the_launcher_reach_the_command() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("");
    for (sig, name) in [(Signal::SIGTERM, "TERM"), (Signal::SIGINT, "INT"), (Signal::SIGUSR1, "USR1")] {
        let script =
            format!("trap 'echo got {name}; exit 3' {name}; echo ready; while true; do sleep 0.05; done");
        let mut child =
            common::e2e::command(&["run", p.path.to_str().unwrap(), "--", "/bin/sh", "-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line, "ready\n");
        kill(Pid::from_raw(i32::try_from(child.id()).unwrap()), sig).unwrap();
        let status = child.wait().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        println!("SIG{name}: {rest:?} {status:?}");
        assert_eq!(rest, format!("got {name}\n"));
        assert_eq!(status.code(), Some(3));
    }
}

/// Without our init the command is pid 1, tied to the launcher by its
/// PDEATHSIG, which it may clear itself: then only the watcher can end it
/// when the launcher is killed with `SIGKILL` (through the cgroup, or
/// rootless, where this host delegates none, through the sandbox's pidfd).
#[test]
fn a_command_that_is_pid_1_dies_with_a_killed_launcher() {
    if skip_unless_root() {
        return;
    }
    // perl (from the host root) clears its PDEATHSIG: prctl(PR_SET_PDEATHSIG, 0).
    let script = "$| = 1; syscall(157, 1, 0) == 0 or die; print qq(ready\\n); sleep 31.7";
    let p = common::e2e::profile(
        "[rootfs]\nlayers = [\"host:/\"]\n[process]\nterminal = \"never\"\ninit = false\n",
    );
    let mut started = common::e2e::Started::run(&p, &["perl", "-e", script], Stdio::null());
    assert_eq!(started.line(), "ready\n", "the command runs, past its prctl");
    kill(started.pid(), Signal::SIGKILL).unwrap();
    started.child.wait().unwrap();
    eventually("the sandbox died with its launcher", || processes_with("sleep 31.7").is_empty());
    eventually("its cgroups are gone", || sandbox_cgroups().is_empty());
}

#[test]
fn nothing_is_left_after_normal_exit_and_oom() {
    if skip_unless_root() {
        return;
    }
    let before = mounts().lines().count();
    let p = busybox_profile("[limits]\nmemory = \"32MiB\"\nmemory_swap = \"32MiB\"\npids = 64\n");
    if rootless() {
        // No delegated cgroup for this user: the limits are refused, clearly.
        let out = run(&p, &["/bin/true"]);
        assert_eq!(out.code, Some(125), "{out}");
        assert!(out.stderr.contains("memory limit") && out.stderr.contains("best-effort"), "{out}");
        assert_eq!(run(&busybox_profile(""), &["/bin/true"]).code, Some(0));
    } else {
        assert_eq!(run(&p, &["/bin/true"]).code, Some(0));
        let out = run(&p, &["/bin/sh", "-c", "x=aaaaaaaa; while true; do x=$x$x; done"]);
        assert_eq!(out.code, Some(137), "{out}");
    }
    eventually("no sandbox cgroup is left", || sandbox_cgroups().is_empty());
    assert_eq!(mounts().lines().count(), before, "no mount appeared on the host");
}

#[test]
fn killing_the_launcher_at_random_moments_leaves_nothing() {
    if skip_unless_root() {
        return;
    }
    // Rootless, no cgroup can be made: then PDEATHSIG alone must end the sandbox.
    let p = busybox_profile(if rootless() { "" } else { "[limits]\npids = 64\n" });
    let marker = format!("marker-{}", std::process::id());
    let before = mounts().lines().count();
    let rounds: u64 = std::env::var("SANDBOX_KILL_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    for round in 0..rounds {
        let script = format!("sleep 30 # {marker}");
        let mut child =
            common::e2e::command(&["run", p.path.to_str().unwrap(), "--", "/bin/sh", "-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
        // From the first microsecond of setup to well into the run.
        let delay = Duration::from_micros((round * 7919) % 25_000);
        std::thread::sleep(delay);
        kill(Pid::from_raw(i32::try_from(child.id()).unwrap()), Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        let survivors = || -> Vec<String> {
            processes_with(&marker)
                .iter()
                .map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default())
                .map(|st| {
                    let keep = ["Name", "State", "PPid", "NSpid", "Uid", "CapEff", "SigBlk", "SigCgt"];
                    st.lines().filter(|l| keep.iter().any(|k| l.starts_with(k))).collect::<Vec<_>>().join(" ")
                })
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_with(&marker).is_empty() {
            assert!(
                Instant::now() < deadline,
                "round {round} (after {delay:?}): the sandbox's processes die; left: {:?}",
                survivors()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        eventually(&format!("round {round} (after {delay:?}): its cgroup is removed"), || {
            sandbox_cgroups().is_empty()
        });
    }
    println!("{rounds} launchers killed; nothing left behind");
    assert_eq!(mounts().lines().count(), before, "no mount appeared on the host");
}
