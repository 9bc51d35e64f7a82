//! Tier 3: the real binary runs real profiles as root; busybox inside the
//! sandbox reports what it sees.

mod common;

use common::e2e::{busybox_profile, run, skip_unless_root};

fn sh(script: &str) -> Vec<&str> {
    vec!["/bin/sh", "-c", script]
}

#[test]
fn exit_codes_are_the_commands() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("");
    for (script, code) in
        [("exit 0", 0), ("exit 1", 1), ("exit 42", 42), ("kill -9 $$", 137), ("kill -15 $$", 143)]
    {
        let out = run(&p, &sh(script));
        println!("`{script}` → {:?}", out.code);
        assert_eq!(out.code, Some(code), "{script}: {out}");
    }
    let out = run(&p, &["/no/such/program"]);
    assert_eq!(out.code, Some(127), "{out}");
    assert!(out.stderr.contains("execute /no/such/program"), "{out}");
    let out = run(&p, &["/etc/marker"]);
    assert_eq!(out.code, Some(126), "not executable: {out}");
}

#[test]
fn namespaces_differ_from_the_hosts() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("");
    let out = run(
        &p,
        &sh("for n in pid net ipc uts mnt cgroup time; do echo $n $(readlink /proc/self/ns/$n); done"),
    );
    assert_eq!(out.code, Some(0), "{out}");
    for line in out.stdout.lines() {
        let (name, inside) = line.split_once(' ').unwrap();
        let host = std::fs::read_link(format!("/proc/self/ns/{name}")).unwrap();
        let same = inside == host.to_str().unwrap();
        println!("{name}: inside {inside}, host {}", host.display());
        // time is shared by default; everything else is new.
        assert_eq!(same, name == "time", "{name}");
    }
}

#[test]
fn pid_one_hostname_and_init() {
    if skip_unless_root() {
        return;
    }
    let out = run(&busybox_profile("init = false\n"), &sh("echo $$; hostname"));
    assert_eq!(
        out.stdout, "1\np\n",
        "without init the command is pid 1; the hostname is the profile's name: {out}"
    );
    let out = run(&busybox_profile(""), &sh("echo $$; cat /proc/1/cmdline | tr '\\0' ' '"));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "2", "with init, the command is pid 2: {out}");
    // Zombies are reaped: an orphan's parent becomes init, which waits for it.
    let out = run(&busybox_profile(""), &sh("(sleep 0.2 &) ; sleep 0.5; ps -o stat= | grep -c Z || true"));
    assert_eq!(out.stdout.trim(), "0", "no zombie left: {out}");
}

/// The command starts as a fresh program would: no signal blocked or
/// ignored (Rust ignores SIGPIPE in the launcher; that must not leak, or a
/// pipeline's writer would get EPIPE where it dies of SIGPIPE outside).
#[test]
fn the_command_inherits_no_ignored_or_blocked_signal() {
    if skip_unless_root() {
        return;
    }
    for extra in ["", "init = false\n"] {
        let out = run(&busybox_profile(extra), &["/bin/cat", "/proc/self/status"]);
        assert!(out.stdout.contains("SigIgn:\t0000000000000000"), "{extra}{out}");
        assert!(out.stdout.contains("SigBlk:\t0000000000000000"), "{extra}{out}");
    }
}

#[test]
fn privileges_are_dropped() {
    if skip_unless_root() {
        return;
    }
    let out = run(
        &busybox_profile(""),
        &sh("grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|CapInh|NoNewPrivs|Seccomp):' /proc/self/status"),
    );
    println!("{}", out.stdout);
    for want in [
        "CapEff:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
    ] {
        assert!(out.stdout.contains(want), "missing {want}: {out}");
    }
    let out = run(
        &busybox_profile("[security]\ncapabilities = [\"NET_BIND_SERVICE\"]\n"),
        &sh("grep -E '^Cap(Eff|Bnd|Amb):' /proc/self/status"),
    );
    for want in ["CapEff:\t0000000000000400", "CapBnd:\t0000000000000400", "CapAmb:\t0000000000000400"] {
        assert!(out.stdout.contains(want), "missing {want}: {out}");
    }
}

#[test]
fn mounts_are_the_sandboxes_own() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("[[mount]]\ntype = \"tmpfs\"\ntarget = \"/scratch\"\n");
    let out = run(&p, &sh("cat /proc/self/mountinfo | cut -d' ' -f5 | sort"));
    assert_eq!(out.code, Some(0), "{out}");
    let mounts: Vec<&str> = out.stdout.lines().collect();
    println!("{mounts:?}");
    for m in ["/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/scratch"] {
        assert!(mounts.contains(&m), "{m} is mounted: {mounts:?}");
    }
    assert!(
        !mounts.iter().any(|m| m.starts_with("/sys/fs/cgroup/") || m.starts_with("/mnt")),
        "no host mounts: {mounts:?}"
    );
    // Read-only and masked paths.
    let out = run(
        &p,
        &sh(
            "echo 1 > /proc/sys/kernel/domainname; echo ro=$?; echo keys=$(wc -c < /proc/keys); echo x > /dev/null; echo null=$?",
        ),
    );
    assert!(out.stdout.contains("ro=1"), "/proc/sys is read-only: {out}");
    // /proc/keys lists the host's keys outside; masked, it reads as empty.
    assert!(std::fs::read("/proc/keys").is_ok_and(|k| !k.is_empty()), "the host has keys to hide");
    assert!(out.stdout.contains("keys=0\n"), "/proc/keys is masked: {out}");
    assert!(out.stdout.contains("null=0"), "/dev/null works: {out}");
}

#[test]
fn the_tmpfs_upper_never_reaches_the_lower_layer() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("");
    let rootfs = common::e2e::busybox_rootfs();
    let out = run(
        &p,
        &sh("echo new > /tmp/new-file && echo changed > /etc/marker && cat /tmp/new-file /etc/marker"),
    );
    assert_eq!(out.stdout, "new\nchanged\n", "{out}");
    assert!(!rootfs.join("tmp/new-file").exists());
    assert_eq!(std::fs::read_to_string(rootfs.join("etc/marker")).unwrap(), "lower layer\n");
}

#[test]
fn a_persistent_upper_keeps_its_files() {
    if skip_unless_root() {
        return;
    }
    let keep = common::e2e::writable_tempdir("sandbox-upper-");
    let p = common::e2e::profile(&format!(
        "[rootfs]\nlayers = [\"{{ROOTFS}}\"]\nwritable = {{ dir = \"{}\" }}\n[process]\nterminal = \"never\"\n",
        keep.path().display()
    ));
    assert_eq!(run(&p, &sh("echo kept > /kept")).code, Some(0));
    let out = run(&p, &sh("cat /kept"));
    assert_eq!(out.stdout, "kept\n", "{out}");
    assert_eq!(std::fs::read_to_string(keep.path().join("upper/kept")).unwrap(), "kept\n");
}

#[test]
fn a_readonly_root_refuses_writes_and_binds_work() {
    if skip_unless_root() {
        return;
    }
    let data = common::e2e::writable_tempdir("sandbox-data-");
    std::fs::write(data.path().join("in"), "from host\n").unwrap();
    let p = common::e2e::profile(&format!(
        "[rootfs]\nlayers = [\"{{ROOTFS}}\"]\nwritable = \"readonly\"\n[process]\nterminal = \"never\"\n\
         [[mount]]\nsource = \"{0}\"\ntarget = \"/data\"\n\
         [[mount]]\nsource = \"{0}\"\ntarget = \"/data-rw\"\nmode = \"rw\"\n",
        data.path().display()
    ));
    let out = run(
        &p,
        &sh(
            "touch /x; echo root=$?; cat /data/in; touch /data/y; echo ro=$?; echo out > /data-rw/out; echo rw=$?",
        ),
    );
    assert!(out.stdout.contains("root=1"), "{out}");
    assert!(out.stdout.contains("from host"), "{out}");
    assert!(out.stdout.contains("ro=1"), "{out}");
    assert!(out.stdout.contains("rw=0"), "{out}");
    assert_eq!(std::fs::read_to_string(data.path().join("out")).unwrap(), "out\n");
}

/// A read-only root of one directory whose mount points all exist is a
/// read-only bind of it (no overlay); one that lacks a mount point, or whose
/// sandbox keeps `CAP_SYS_ADMIN`, gets the overlay. None touches the directory.
#[test]
fn a_readonly_root_is_a_bind_when_it_can_be() {
    if skip_unless_root() {
        return;
    }
    let root_fs = |mountinfo: &str| {
        mountinfo
            .lines()
            .find(|l| l.split(' ').nth(4) == Some("/"))
            .and_then(|l| l.split(" - ").nth(1))
            .map(|r| r.split(' ').next().unwrap_or_default().to_owned())
    };
    let base =
        "[rootfs]\nlayers = [\"{ROOTFS}\"]\nwritable = \"readonly\"\n[process]\nterminal = \"never\"\n";
    let script = sh("cat /proc/self/mountinfo; touch /x; echo root=$?; ls -d /made 2>/dev/null");
    let plain = run(&common::e2e::profile(base), &script);
    assert!(root_fs(&plain.stdout).is_some_and(|fs| fs != "overlay"), "{plain}");
    assert!(plain.stdout.contains("root=1"), "{plain}");
    let with_new_point = format!("{base}[[mount]]\ntype = \"tmpfs\"\ntarget = \"/made\"\n");
    let overlaid = run(&common::e2e::profile(&with_new_point), &script);
    assert_eq!(root_fs(&overlaid.stdout).as_deref(), Some("overlay"), "{overlaid}");
    assert!(overlaid.stdout.contains("root=1") && overlaid.stdout.contains("/made"), "{overlaid}");
    assert!(!common::e2e::busybox_rootfs().join("made").exists(), "the mount point reached the layer");
    // Keeping CAP_SYS_ADMIN, the sandbox could remount its root writable: a
    // bind would then write through to the layer, so it gets the overlay.
    let admin = format!("{base}[security]\ncapabilities = [\"SYS_ADMIN\"]\nseccomp = \"unconfined\"\n");
    let remounted = run(
        &common::e2e::profile(&admin),
        &sh("cat /proc/self/mountinfo; mount -o remount,rw / && touch /through; echo rc=$?"),
    );
    assert_eq!(root_fs(&remounted.stdout).as_deref(), Some("overlay"), "{remounted}");
    assert!(!common::e2e::busybox_rootfs().join("through").exists(), "a write reached the layer");
}

#[test]
fn the_host_root_runs_dynamically_linked_programs() {
    if skip_unless_root() {
        return;
    }
    let p = common::e2e::profile("[process]\nterminal = \"never\"\n");
    let out = run(&p, &["/usr/bin/env"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("PATH=/usr/local/sbin"), "{out}");
    let out = run(&p, &sh("ls / >/dev/null && id -u && cat /etc/os-release | head -1"));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with("0\n"), "{out}");
}

/// With the host's pid namespace the sandbox sees the host's processes, in
/// a user namespace too (where no procfs can be mounted for it: the host's
/// is bound), and /proc/sys stays read-only.
#[test]
fn the_hosts_pid_namespace_shows_the_hosts_processes() {
    if skip_unless_root() {
        return;
    }
    let p = busybox_profile("[namespaces]\npid = \"host\"\n");
    let host_init = std::fs::read_to_string("/proc/1/comm").unwrap();
    let out = run(&p, &sh("cat /proc/1/comm; echo x > /proc/sys/kernel/domainname; echo ro=$?"));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with(&host_init), "{out}");
    assert!(out.stdout.contains("ro=1"), "{out}");
}

/// Rootless, pasta opens /dev/net/tun with the caller's rights: where the
/// device is closed to them (0600, as on our CI machines) a `nat` run is
/// refused by name before anything starts; where it is open (0666, as
/// distributions ship it) the sandbox gets its interface. The VM lane
/// proves the second case on every run.
#[test]
fn rootless_nat_needs_the_tun_device() {
    if skip_unless_root() || common::e2e::rootless_tier_only() {
        return;
    }
    let p = busybox_profile("[network]\nmode = \"nat\"\n");
    let out = run(&p, &["/bin/sh", "-c", "cat /proc/net/dev"]);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata("/dev/net/tun").unwrap().permissions());
    if mode & 0o006 == 0o006 {
        assert_eq!(out.code, Some(0), "{out}");
        assert!(out.stdout.lines().filter(|l| l.contains(':')).count() >= 2, "lo and pasta's: {out}");
    } else {
        assert_eq!(out.code, Some(125), "{out}");
        assert!(out.stderr.contains("/dev/net/tun") && out.stderr.contains("0666"), "{out}");
    }
}
