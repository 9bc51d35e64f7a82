//! Tiers 3 and 4, attacked from inside: a hostile command tries to reach
//! the host through what the launcher hands it (descriptors, its init,
//! mounts, host services, per-user kernel budgets) and through the
//! privileges a root caller has. Each test states the attack, runs the
//! probe (tests/probe/probe.c) or busybox inside, and checks what the
//! attack reached and that the host is unchanged.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::e2e::{
    HostState, Outcome, Started, busybox_profile, finish, launcher, probe, profile, rootless, run, run_with,
    skip_unless_root, writable_tempdir,
};

fn sh(script: &str) -> Vec<&str> {
    vec!["/bin/sh", "-c", script]
}

/// The value of `key=` lines the probe printed.
fn values<'a>(out: &'a Outcome, key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}=");
    out.stdout.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect()
}

fn value<'a>(out: &'a Outcome, key: &str) -> &'a str {
    values(out, key).first().copied().unwrap_or_else(|| panic!("no {key}= in {out}"))
}

/// A profile over the host root with the probe bound at /probe.
fn host_profile(extra: &str) -> common::e2e::Profile {
    let dir = probe().parent().unwrap().display().to_string();
    profile(&format!(
        "[process]\nterminal = \"never\"\n{extra}\n[[mount]]\nsource = \"{dir}\"\ntarget = \"/probe\"\n"
    ))
}

/// `sandbox run PROFILE -- CMD` started by a shell that first opens `fds`
/// (redirections, without close-on-exec): what a make jobserver or a CI
/// runner leaves open.
fn run_holding(fds: &str, p: &common::e2e::Profile, cmd: &[&str]) -> Outcome {
    let mut c = Command::new("/bin/sh");
    c.args(["-c", &format!("exec {fds}; exec \"$@\""), "sh"]);
    c.args(launcher()).args(["run", p.path.to_str().unwrap(), "--"]).args(cmd).stdin(Stdio::null());
    finish(c)
}

/// Issue 10, item 1: a directory descriptor the caller left open is a path
/// back to the host root (`/proc/self/fd/N/../..`). Only 0, 1 and 2 cross.
#[test]
fn descriptors_the_caller_left_open_do_not_cross() {
    if skip_unless_root() {
        return;
    }
    let host = HostState::now();
    for extra in ["", "init = false\n"] {
        let p = busybox_profile(extra);
        let out = run_holding("7</ 8</etc/hostname 9<>/dev/null", &p, &["/bin/probe", "fds"]);
        assert_eq!(out.code, Some(0), "{extra}{out}");
        let fds: Vec<&str> = values(&out, "fd").iter().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(fds, ["0", "1", "2"], "{extra}{out}");
        let out = run_holding("7</ 8</etc", &p, &["/bin/probe", "escape"]);
        assert_eq!(values(&out, "escaped"), Vec::<&str>::new(), "{extra}{out}");
        assert_eq!(value(&out, "escape"), "done", "{out}");
    }
    host.assert_unchanged("descriptors");
}

/// Item 2: pid 1 of the sandbox is a copy of the launcher. It must not show
/// the caller's environment or arguments, nor let the command read its
/// memory, use its descriptors (the status pipe, a cgroup directory) or
/// trace it — with the default seccomp filter and without one, so the
/// kernel's own checks are what is tested.
#[test]
fn the_sandboxs_init_shows_and_lends_nothing() {
    if skip_unless_root() {
        return;
    }
    let host = HostState::now();
    let secret = "hunter2-not-for-the-sandbox";
    for extra in ["", "[security]\nseccomp = \"unconfined\"\n"] {
        let p = busybox_profile(extra);
        let script =
            "echo cmdline=$(tr '\\0' ' ' < /proc/1/cmdline); cat /proc/1/environ 2>&1; /bin/probe init 1";
        let out = run_with(&p, &sh(script), |c| {
            c.env("SANDBOX_TEST_SECRET", secret);
        });
        assert!(!out.stdout.contains(secret), "the caller's environment leaks: {out}");
        assert!(!value(&out, "cmdline").contains("p.toml"), "the launcher's arguments show: {out}");
        for key in ["environ", "mem", "ptrace", "vm_read"] {
            assert_ne!(value(&out, key), "ok", "{key} of pid 1 is reachable ({extra}): {out}");
        }
        assert!(values(&out, "init_fd").is_empty(), "{out}");
        assert!(!out.stdout.lines().any(|l| l.ends_with("_write=ok")), "{out}");
        assert!(!out.stdout.lines().any(|l| l.starts_with("getfd") && l.ends_with("=ok")), "{out}");
        // The status init reports: four bytes written to any of its
        // descriptors must not turn a failing command into a success.
        let forge = "for f in /proc/1/fd/*; do head -c 4 /dev/zero > $f; done 2>/dev/null; exit 3";
        assert_eq!(run(&p, &sh(forge)).code, Some(3), "the verdict was forged ({extra})");
    }
    host.assert_unchanged("init");
}

/// Item 2, seen from the host: init holds no descriptor of the launcher's
/// beyond what it needs (no cgroup directory, no file of the caller's).
#[test]
fn init_keeps_no_directory_or_file_of_the_launcher() {
    if skip_unless_root() {
        return;
    }
    let limits = if rootless() { "" } else { "[limits]\npids = 64\n" };
    let p = busybox_profile(limits);
    let mut started = Started::run(&p, &["/bin/sh", "-c", "echo ready; sleep 30"], Stdio::null());
    assert_eq!(started.line(), "ready\n");
    let launcher = started.pid().as_raw();
    let inits: Vec<i32> = descendants(launcher)
        .into_iter()
        .filter(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            status.lines().any(|l| l.starts_with("NSpid:") && l.ends_with("\t1"))
        })
        .collect();
    let mut held = Vec::new();
    for pid in &inits {
        for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
            held.push(std::fs::read_link(entry.path()).unwrap().display().to_string());
        }
    }
    let _ = started.child.kill();
    let _ = started.child.wait();
    assert_eq!(inits.len(), 1, "one init: {inits:?}");
    let paths: Vec<&String> = held.iter().filter(|t| t.starts_with('/') && !t.starts_with("/dev/")).collect();
    assert!(paths.is_empty(), "init holds {paths:?} (all: {held:?})");
}

/// Every process below `pid` (children first).
fn descendants(pid: i32) -> Vec<i32> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let mut out = Vec::new();
    for child in children.split_whitespace().filter_map(|c| c.parse::<i32>().ok()) {
        out.push(child);
        out.extend(descendants(child));
    }
    out
}

/// Item 3: with the host's network the sandbox gets the host's /sys, bound
/// read-only; every mount under it (cgroup v1 and v2 hierarchies) must be
/// read-only too, or a process with no capabilities moves itself out of
/// its cgroup or changes a host cgroup's settings.
#[test]
fn no_host_cgroup_or_sysfs_tree_is_writable() {
    if skip_unless_root() {
        return;
    }
    let host = HostState::now();
    let p = busybox_profile("[network]\nmode = \"host\"\n");
    // Target, options and file system type of every mount.
    let script = "awk '{for (i = 7; $i != \"-\"; i++); print $5, $6, $(i+1)}' /proc/self/mountinfo; \
                  v=$(cat /sys/fs/cgroup/pids/notify_on_release) && /bin/probe write /sys/fs/cgroup/pids/notify_on_release $v";
    let out = run(&p, &sh(script));
    let mounts: Vec<Vec<&str>> =
        out.stdout.lines().filter(|l| l.starts_with('/')).map(|l| l.split(' ').collect()).collect();
    assert!(mounts.iter().any(|m| m[0].starts_with("/sys/fs/cgroup/")), "the host's cgroup trees: {out}");
    for m in &mounts {
        let host_tree = m[0].starts_with("/sys") || matches!(m[2], "sysfs" | "cgroup" | "cgroup2");
        assert!(!host_tree || m[1].starts_with("ro"), "{} is writable ({}): {out}", m[0], m[1]);
    }
    assert_ne!(values(&out, "write").first().copied(), Some("ok"), "a host cgroup file was written: {out}");
    host.assert_unchanged("cgroupfs");
}

/// A copy of `profiles/build-untrusted.toml` in a project of its own: a C
/// program, a Makefile writing to out/, and the probe. `build.toml` is the
/// shipped profile (rootless, where this host delegates no cgroup, with its
/// limits best effort); `attack.toml` adds the probe to what may execute.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = common::e2e::open_tempdir("sandbox-project-");
        let root = dir.path();
        std::fs::create_dir_all(root.join("profiles")).unwrap();
        std::fs::create_dir_all(root.join("out")).unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/build-untrusted.toml");
        std::fs::copy(shipped, root.join("profiles/build-untrusted.toml")).unwrap();
        let limits = if rootless() { "[limits]\nenforce = \"best-effort\"\n" } else { "" };
        let build = format!("extends = [\"build-untrusted.toml\"]\n{limits}");
        std::fs::write(root.join("profiles/build.toml"), build).unwrap();
        let attack = "extends = [\"build.toml\"]\n[security.landlock]\nexecute = [\"/src/probe\"]\n";
        std::fs::write(root.join("profiles/attack.toml"), attack).unwrap();
        std::fs::copy(probe(), root.join("probe")).unwrap();
        std::fs::write(root.join("hello.c"), "int main(void) { return 42; }\n").unwrap();
        std::fs::write(root.join("Makefile"), "/out/hello: hello.c\n\tcc -o $@ hello.c\n").unwrap();
        if let Some(user) = common::e2e::e2e_user() {
            let out = Command::new("chown").args(["-R", &user]).arg(root).output().unwrap();
            assert!(out.status.success());
        }
        Project { dir }
    }

    fn run(&self, profile: &str, cmd: &[&str]) -> Outcome {
        let path = self.dir.path().join("profiles").join(profile);
        let mut c = common::e2e::command(&["run", path.to_str().unwrap()]);
        if !cmd.is_empty() {
            c.arg("--").args(cmd);
        }
        finish(c)
    }

    /// Files under out/ with a set-id bit.
    fn setid_outputs(&self) -> Vec<String> {
        use std::os::unix::fs::PermissionsExt;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(self.dir.path().join("out")).unwrap().flatten() {
            let mode = entry.metadata().unwrap().permissions().mode();
            if mode & 0o6000 != 0 {
                found.push(format!("{} {mode:o}", entry.file_name().to_string_lossy()));
            }
        }
        found
    }
}

/// Item 4: the shipped build profile launched by root. Its command must not
/// read root-only host files, nor leave a set-id file in its output
/// directory for a host user to run; and it still builds into /out, with
/// the outputs belonging to the caller.
#[test]
fn the_build_profile_cannot_use_a_root_callers_privileges() {
    if skip_unless_root() {
        return;
    }
    let host = HostState::now();
    let project = Project::new();
    let built = project.run("build.toml", &[]);
    let hello = project.dir.path().join("out/hello");
    assert_eq!(built.code, Some(0), "the build runs: {built}");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&hello).unwrap());
    let caller = if rootless() { common::e2e::e2e_uid() } else { 0 };
    assert_eq!(owner, caller, "outputs belong to the caller");
    assert_eq!(Command::new(&hello).status().unwrap().code(), Some(42), "the output runs");
    let out = project.run("attack.toml", &["/src/probe", "read", "/etc/shadow"]);
    assert_ne!(value(&out, "open"), "ok", "a root-only host file was read: {out}");
    let out = project.run("attack.toml", &["/src/probe", "suid", "/out"]);
    assert!(values(&out, "setid").is_empty(), "{out}");
    assert_eq!(project.setid_outputs(), Vec::<String>::new(), "set-id files left on the host: {out}");
    host.assert_unchanged("root caller");
}

/// Item 4, the other shipped profile: the dev shell, run by root, still
/// works on the project (its writes there belong to the caller) and still
/// cannot read root-only host files.
#[test]
fn the_dev_shell_works_on_the_project_but_not_on_the_host() {
    if skip_unless_root() {
        return;
    }
    let project = common::e2e::writable_tempdir("sandbox-devshell-");
    std::fs::create_dir(project.path().join("profiles")).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/dev-shell.toml");
    let profile = project.path().join("profiles/dev-shell.toml");
    std::fs::copy(shipped, &profile).unwrap();
    let script = "cd /work && echo made > made && ls -n made && cat /etc/shadow; echo shadow=$?";
    let mut c = common::e2e::command(&["run", profile.to_str().unwrap(), "--", "/bin/sh", "-c", script]);
    c.stdin(Stdio::null());
    let out = finish(c);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("shadow=1"), "/etc/shadow was read: {out}");
    let made = std::fs::metadata(project.path().join("made")).unwrap();
    let caller = if rootless() { common::e2e::e2e_uid() } else { 0 };
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&made), caller, "the project's new file is the caller's");
}

/// Item 5: "no network" also means no host services. A host service's
/// pathname socket must not connect from a `host:/` sandbox without
/// network, unless the profile binds that socket in on purpose: not in
/// /run (a tmpfs below the host root on most machines), not under /tmp,
/// and as root without a user namespace, not on any other file system
/// mounted below the host root.
#[test]
fn host_services_behind_unix_sockets_are_out_of_reach() {
    if skip_unless_root() {
        return;
    }
    let under_tmp = common::e2e::open_tempdir("sandbox-service-");
    let elsewhere =
        tempfile::Builder::new().prefix("service-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let p = host_profile("");
    let mut places = vec![(Path::new("/run"), &p), (under_tmp.path(), &p)];
    let as_host_root = host_profile("[namespaces]\nuser = \"host\"\n");
    if !rootless() {
        places.push((elsewhere.path(), &as_host_root));
    }
    for (dir, profile) in places {
        let sock = dir.join("service.sock");
        let out = service(dir, profile, sock.to_str().unwrap());
        assert_ne!(value(&out, "connect"), "ok", "the host service at {} was reached: {out}", sock.display());
        let bound = host_profile(&format!(
            "[[mount]]\nsource = \"{}\"\ntarget = \"/service.sock\"\n",
            sock.display()
        ));
        let out = service(dir, &bound, "/service.sock");
        assert_eq!(value(&out, "connect"), "ok", "a socket the profile binds in works: {out}");
    }
}

/// `probe connect TARGET` in a sandbox of `profile`, while a unix socket
/// service listens at `dir`/service.sock on a tmpfs mounted at `dir`. All in
/// a mount namespace of the test's own: the host's mounts stay as they were.
fn service(dir: &Path, profile: &common::e2e::Profile, target: &str) -> Outcome {
    let script = format!(
        "mount -t tmpfs -o mode=0755 service {d} || exit 1; {probe} listen {d}/service.sock >/dev/null 2>&1 & \
         sleep 0.3; exec \"$@\"",
        d = dir.display(),
        probe = probe().display(),
    );
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "/bin/sh", "-c", &script, "sh"]);
    c.args(launcher()).args(["run", profile.path.to_str().unwrap(), "--", "/probe/probe", "connect", target]);
    finish(c)
}

/// Item 6: per-user kernel budgets. A sandbox that takes every inotify
/// instance, or every byte of POSIX message queue, it can get must leave
/// some to its caller's uid on the host.
#[test]
fn a_sandbox_cannot_exhaust_the_callers_per_user_budgets() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("");
    for (hog, ask) in [("inotify", "inotify1"), ("mqueue", "mqueue1")] {
        let mut started = Started::run(&p, &["/bin/probe", hog], Stdio::piped());
        let line = started.line();
        // While the sandbox holds all it could get, the caller's uid asks for one.
        let mut words = launcher();
        words.pop(); // the launcher's binary: the probe runs instead, as the same user
        words.push(probe().display().to_string());
        words.push(ask.into());
        let host = Command::new(&words[0]).args(&words[1..]).output().unwrap();
        drop(started.child.stdin.take());
        let _ = started.child.wait();
        println!("inside: {line}");
        assert!(line.starts_with(&format!("{hog}=")), "{line}");
        let host = String::from_utf8_lossy(&host.stdout);
        assert_eq!(
            host.trim(),
            format!("{ask}=ok"),
            "the caller's uid got none while the sandbox ran ({line})"
        );
    }
}

/// Item 13: two sandboxes on one persistent upper directory would corrupt
/// it (overlayfs: "upperdir is in-use ... undefined behavior"). The second
/// is refused with an error naming the directory, and runs once the first
/// has ended.
#[test]
fn a_persistent_upper_is_used_by_one_sandbox_at_a_time() {
    if skip_unless_root() {
        return;
    }
    let keep = writable_tempdir("sandbox-upper-");
    let p = profile(&format!(
        "[rootfs]\nlayers = [\"{{ROOTFS}}\"]\nwritable = {{ dir = \"{}\" }}\n[process]\nterminal = \"never\"\n",
        keep.path().display()
    ));
    let mut first = Started::run(&p, &["/bin/sh", "-c", "echo ready; sleep 30"], Stdio::null());
    assert_eq!(first.line(), "ready\n");
    let second = run(&p, &["/bin/true"]);
    let _ = first.child.kill();
    let _ = first.child.wait();
    assert_eq!(second.code, Some(125), "{second}");
    assert!(second.stderr.contains(&keep.path().display().to_string()), "names the directory: {second}");
    assert!(second.stderr.contains("in use"), "{second}");
    // Free again once the first has ended: its init holds the lock until
    // it is gone too, a moment after its launcher.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let again = run(&p, &["/bin/true"]);
        if again.code == Some(0) {
            break;
        }
        assert!(again.stderr.contains("in use"), "{again}");
        assert!(std::time::Instant::now() < deadline, "the lock was not released: {again}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Beyond the list: a directory the profile names for its persistent upper
/// is the profile's, but what is inside it comes from the repository: an
/// `upper` that is a symlink must not point the sandbox's writes at a host
/// directory.
#[test]
fn a_symlinked_upper_does_not_redirect_writes_to_the_host() {
    if skip_unless_root() {
        return;
    }
    let keep = writable_tempdir("sandbox-upper-");
    let victim = writable_tempdir("sandbox-victim-");
    std::os::unix::fs::symlink(victim.path(), keep.path().join("upper")).unwrap();
    let p = profile(&format!(
        "[rootfs]\nlayers = [\"{{ROOTFS}}\"]\nwritable = {{ dir = \"{}\" }}\n[process]\nterminal = \"never\"\n",
        keep.path().display()
    ));
    let out = run(&p, &sh("echo planted > /planted"));
    assert!(!victim.path().join("planted").exists(), "a write landed in the symlink's target: {out}");
    assert_eq!(out.code, Some(125), "refused: {out}");
    assert!(out.stderr.contains("symlink"), "{out}");
}
