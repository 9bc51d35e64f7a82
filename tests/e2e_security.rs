//! Tier 3: seccomp, Landlock and limits seen from inside the sandbox.

mod common;

use common::e2e::{busybox_profile, rootless, run, skip_unless, skip_unless_root};

fn sh(script: &str) -> Vec<&str> {
    vec!["/bin/sh", "-c", script]
}

#[test]
fn seccomp_refuses_what_the_profile_denies() {
    if skip_unless_root() {
        return;
    }
    // busybox `unshare` and `mount` go through the unshare and mount syscalls.
    let out = run(
        &busybox_profile(""),
        &sh("unshare -n true; echo unshare=$?; mount -t tmpfs t /tmp; echo mount=$?"),
    );
    assert!(out.stdout.contains("unshare=1") && out.stdout.contains("mount=1"), "{out}");
    assert!(
        out.stderr.contains("unshare(0x40000000): Operation not permitted"),
        "EPERM from the default filter: {out}"
    );
    // mount is refused by the filter too: unconfined, root inside may mount (it keeps no
    // capabilities by default, so grant CAP_SYS_ADMIN to tell the two apart).
    let admin = busybox_profile("[security]\ncapabilities = [\"SYS_ADMIN\"]\n");
    let out = run(&admin, &sh("mount -t tmpfs t /tmp; echo mount=$?"));
    assert!(out.stdout.contains("mount=1"), "seccomp refuses mount even with CAP_SYS_ADMIN: {out}");
    let open = busybox_profile("[security]\ncapabilities = [\"SYS_ADMIN\"]\nseccomp = \"unconfined\"\n");
    let out = run(&open, &sh("mount -t tmpfs t /tmp; echo mount=$?"));
    assert!(out.stdout.contains("mount=0"), "without the filter, CAP_SYS_ADMIN mounts: {out}");
    let p =
        busybox_profile("[security]\nseccomp = { deny = [\"mkdir\", \"mkdirat\"], errno = \"EACCES\" }\n");
    let out = run(&p, &sh("mkdir /tmp/d; echo mkdir=$?"));
    assert!(out.stdout.contains("mkdir=1"), "{out}");
    assert!(out.stderr.contains("Permission denied"), "the configured errno: {out}");
    let out = run(
        &busybox_profile("[security]\nseccomp = \"unconfined\"\n"),
        &sh("grep Seccomp: /proc/self/status"),
    );
    assert!(out.stdout.contains("Seccomp:\t0"), "{out}");
}

#[test]
fn landlock_allows_only_the_listed_paths() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile(
        "[security.landlock]\nexecute = [\"/bin\"]\nread = [\"/etc\"]\nwrite = [\"/tmp\", \"/dev/null\"]\n\n[[mount]]\ntype = \"tmpfs\"\ntarget = \"/tmp\"\n",
    );
    let out = run(
        &p,
        &sh(
            "cat /etc/marker; echo hi > /tmp/f && cat /tmp/f; echo x > /etc/marker; echo etcw=$?; ls /root; echo root=$?",
        ),
    );
    println!("{out}");
    assert!(out.stdout.contains("lower layer"), "read allowed: {out}");
    assert!(out.stdout.contains("hi\n"), "write allowed in /tmp: {out}");
    assert!(out.stdout.contains("etcw=1"), "write denied in /etc: {out}");
    assert!(out.stdout.contains("root=1"), "read denied elsewhere: {out}");
    assert!(out.stderr.contains("Permission denied"), "EACCES: {out}");
}

/// An execve Landlock refuses names the list and the path to add, and
/// only when that is the cause.
#[test]
fn landlock_says_which_list_an_execve_lacks() {
    if skip_unless_root() {
        return;
    }
    let tools = common::e2e::open_tempdir("sandbox-tools-");
    let script = tools.path().join("run");
    std::fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let profile = |execute: &str| {
        busybox_profile(&format!(
            "[[mount]]\nsource = \"{}\"\ntarget = \"/opt\"\n\n[security.landlock]\nexecute = {execute}\nread = [\"/etc\"]\n",
            tools.path().display()
        ))
    };
    let p = profile("[\"/opt\", \"/etc\"]");
    let out = run(&p, &["/bin/true"]);
    println!("{out}");
    assert_eq!(out.code, Some(126), "{out}");
    assert!(
        out.stderr.contains("Landlock: /bin/true (which is /bin/busybox) is under no path of security.landlock.execute [/opt, /etc] or write []"),
        "names the program and the lists: {out}"
    );
    assert!(
        out.stderr.contains("add /bin/busybox, or a directory above it, to security.landlock.execute"),
        "{out}"
    );
    let out = run(&p, &["/opt/run"]);
    assert_eq!(out.code, Some(126), "{out}");
    assert!(
        out.stderr.contains("/bin/sh (which is /bin/busybox), the interpreter of /opt/run, is under no path"),
        "a covered script names its interpreter: {out}"
    );
    // Covered, but not executable for another reason (no x bit): no hint.
    let out = run(&p, &["/etc/marker"]);
    assert_eq!(out.code, Some(126), "{out}");
    assert!(out.stderr.contains("execute /etc/marker: EACCES (Permission denied)"), "{out}");
    assert!(!out.stderr.contains("Landlock"), "no hint where Landlock is not the cause: {out}");
    // The fix it gives works.
    let out = run(&profile("[\"/opt\", \"/bin/busybox\"]"), &["/opt/run"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "ran\n"), "{out}");
}

#[test]
fn landlock_limits_tcp_connect() {
    if skip_unless_root() {
        return;
    }
    // Two listeners inside the sandbox's own network namespace; only one port is allowed.
    let p = busybox_profile(
        "[security.landlock]\nexecute = [\"/bin\"]\nread = [\"/\"]\nwrite = [\"/dev/null\"]\ntcp_bind = [8001, 8002]\ntcp_connect = [8001]\n",
    );
    let script = "nc -l -p 8001 -e true & nc -l -p 8002 -e true & sleep 0.3; \
                  echo | nc -w 1 127.0.0.1 8001; echo ok=$?; echo | nc -w 1 127.0.0.1 8002; echo no=$?";
    let out = run(&p, &sh(script));
    println!("{out}");
    assert!(out.stdout.contains("ok=0"), "allowed port: {out}");
    assert!(out.stdout.contains("no=1"), "denied port: {out}");
}

#[test]
fn memory_limit_kills_a_hog_with_137() {
    if skip_unless_root() {
        return;
    }
    if skip_unless(
        std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
            || std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        "no memory cgroup",
    ) {
        return;
    }
    let p = busybox_profile("[limits]\nmemory = \"32MiB\"\nmemory_swap = \"32MiB\"\n");
    if rootless() {
        let out = run(&p, &sh("true"));
        assert_eq!(out.code, Some(125), "rootless without a delegated cgroup: {out}");
        assert!(out.stderr.contains("memory limit"), "names the limit: {out}");
        return;
    }
    // Grow a shell variable past the limit.
    let out = run(&p, &sh("x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"));
    println!("{out}");
    assert_eq!(out.code, Some(137), "{out}");
    assert!(out.stderr.contains("out of memory"), "{out}");
}

/// The launcher joins v1 cgroups while the child builds its root; the
/// child's cgroup namespace must still be made after that, so that its root
/// is the sandbox's cgroup in every hierarchy (`/` on each line), not the
/// launcher's (`/sandbox-...`).
#[test]
fn the_cgroup_namespace_is_rooted_at_the_sandboxs_cgroups() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("[limits]\nmemory = \"64MiB\"\npids = 64\n");
    if rootless() {
        let out = run(&p, &sh("true"));
        assert_eq!(out.code, Some(125), "rootless without a delegated cgroup: {out}");
        return;
    }
    let out = run(&p, &["/bin/cat", "/proc/self/cgroup"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.lines().count() > 1, "{out}");
    for line in out.stdout.lines() {
        assert!(line.ends_with(":/"), "{line} in {out}");
    }
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("[limits]\npids = 16\n");
    if rootless() {
        let out = run(&p, &sh("true"));
        assert_eq!(out.code, Some(125), "rootless without a delegated cgroup: {out}");
        assert!(out.stderr.contains("pids limit"), "names the limit: {out}");
        return;
    }
    let started = std::time::Instant::now();
    // Fork until the kernel refuses; busybox sh gives up with status 2.
    let out = run(&p, &sh("while true; do sleep 30 & done"));
    println!("{out}");
    assert!(out.stderr.contains("can't fork: Resource temporarily unavailable"), "fork hit pids.max: {out}");
    assert_eq!(out.code, Some(2), "the sandbox exits with the shell's status: {out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the sleeps died with the sandbox");
}

/// The rootless tier's user has no cgroup of its own: a required limit is
/// refused, and the refusal says how to get one (and the way out without).
#[test]
fn a_limit_without_a_delegated_cgroup_says_how_to_get_one() {
    if skip_unless_root() || common::e2e::rootless_tier_only() {
        return;
    }
    let uid = common::e2e::e2e_uid();
    let out = run(&busybox_profile("[limits]\nmemory = \"64MiB\"\npids = 64\n"), &["/bin/true"]);
    println!("{out}");
    assert_eq!(out.code, Some(125), "{out}");
    assert!(
        out.stderr.contains("memory limit") && out.stderr.contains("pids limit"),
        "names the limits: {out}"
    );
    assert!(out.stderr.contains(&format!("no cgroup is delegated to uid {uid}: ")), "says why: {out}");
    assert!(out.stderr.contains("`systemd-run --user --scope -p Delegate=yes sandbox run …`"), "{out}");
    if out.stderr.contains("the cgroup v1 hierarch") {
        // v1 (this machine's hybrid setup), which systemd delegates to no user.
        let own = format!("user-{uid}");
        assert!(out.stderr.contains(&format!("`mkdir H/{own} && chown -R {uid} H/{own}`")), "{out}");
        assert!(out.stderr.contains(&format!("linux.cgroupsPath is `/{own}/NAME`")), "{out}");
    } else {
        assert!(out.stderr.contains("is not yours: run the launcher in a delegated scope"), "{out}");
    }
    assert!(out.stderr.contains("(a profile has no key for it)"), "invents no profile key: {out}");
    assert!(out.stderr.contains("or set `enforce = \"best-effort\"` under [limits]"), "{out}");
}

#[test]
fn rlimits_apply() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("[limits.rlimits]\nnofile = 64\ncore = 0\n");
    let out = run(&p, &sh("ulimit -n; ulimit -c"));
    assert_eq!(out.stdout, "64\n0\n", "{out}");
}
