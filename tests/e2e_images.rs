//! Tier 3: images and archives as root filesystem layers, from inside the
//! sandbox: each transport runs; whiteouts delete, opaque directories hide,
//! owners and modes are the image's, the image's config applies under the
//! profile; a second start unpacks nothing; tampered blobs, hostile tars
//! and interrupted or concurrent pulls leave the store sound and the host
//! unchanged. Each test has a store of its own (`SANDBOX_STORE`); the
//! rootless tier runs them again as its user.

mod common;

use std::path::Path;
use std::process::Command;

use common::e2e::{HostState, Outcome, finish, rootless, skip_unless};
use common::images::{fixtures, store, tools};

fn skip() -> bool {
    skip_unless(tools(), "umoci and skopeo are missing (scripts/test.sh installs them)")
}

/// `sandbox ARGS` with the store at `store`.
fn sandbox(store: &Path, args: &[&str]) -> Outcome {
    let mut c = common::e2e::command(args);
    c.env("SANDBOX_STORE", store).stdin(std::process::Stdio::null());
    finish(c)
}

fn profile_with(layer: &str, extra: &str) -> common::e2e::Profile {
    // Rootless, the caller's one id is root inside: the image's `user`
    // (uid 1000) has no id to map to, so the profile overrides it.
    let user = if rootless() { "user = \"root\"\n" } else { "" };
    common::e2e::profile(&format!(
        "[rootfs]\nlayers = [{layer:?}]\n\n[process]\nterminal = \"never\"\n{user}{extra}"
    ))
}

/// Every file below `dir`, for "nothing was left" checks.
fn files_under(dir: &Path) -> Vec<String> {
    let out = Command::new("find").arg(dir).arg("-mindepth").arg("1").output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn an_oci_layout_applies_whiteouts_opaque_dirs_owners_and_its_config() {
    if skip() {
        return;
    }
    let host = HostState::now();
    let store = store();
    let layout = format!("oci:{}:t", fixtures().layout.display());
    let p = profile_with(&layout, "");
    // The image's own command: Entrypoint + Cmd, its Env and WorkingDir.
    let out = sandbox(store.path(), &["run", p.path.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[..2], ["hello from the image", "/data"], "{out}");
    let uid = if rootless() { "0" } else { "1000" };
    assert_eq!(lines[2], uid, "the image's User (user = uid 1000; rootless: the profile's root)");
    let script = "test ! -e /etc/marker && echo whiteout; ls /data; stat -c '%u:%g %a' /srv/owned /srv/suid; \
                  cat /etc/passwd | head -1; test -e /etc/marker.wh || echo clean";
    let out = sandbox(store.path(), &["run", p.path.to_str().unwrap(), "--", "/bin/sh", "-c", script]);
    assert_eq!(out.code, Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "whiteout", "an upper layer's whiteout deletes /etc/marker: {out}");
    assert_eq!(lines[1], "fresh", "the opaque /data hides the lower layer's old file: {out}");
    if rootless() {
        // Unpacked rootless, every file is the caller's: root inside.
        assert_eq!(lines[2..4], ["0:0 640", "0:0 4755"], "{out}");
    } else {
        assert_eq!(
            lines[2..4],
            ["1234:5678 640", "0:0 4755"],
            "owners, modes and setuid as the image says: {out}"
        );
    }
    assert_eq!(lines[5], "clean", "{out}");
    host.assert_unchanged("an image run");
}

#[test]
fn every_transport_runs_and_a_second_start_unpacks_nothing() {
    if skip() {
        return;
    }
    let f = fixtures();
    let store = store();
    for layer in [
        format!("oci-archive:{}:t", f.oci_archive.display()),
        format!("docker-archive:{}:test/img:t", f.docker_archive.display()),
        format!("tar:{}", f.rootfs_tar.display()),
    ] {
        let p = profile_with(&layer, "");
        let cmd = ["run", p.path.to_str().unwrap(), "--", "/bin/sh", "-c", "cat /etc/passwd | head -1"];
        let first = sandbox(store.path(), &cmd);
        assert_eq!(first.code, Some(0), "{layer}: {first}");
        assert_eq!(first.stdout, "root:x:0:0:root:/root:/bin/sh\n", "{layer}: {first}");
        assert!(
            first.stderr.contains("unpacked") || first.stderr.contains("already unpacked"),
            "{layer}: {first}"
        );
        let again = sandbox(store.path(), &cmd);
        assert_eq!((again.code, again.stdout.as_str()), (Some(0), first.stdout.as_str()), "{layer}: {again}");
        assert!(!again.stderr.contains("unpacked"), "{layer}: a second start unpacks nothing: {again}");
    }
    let images = sandbox(store.path(), &["images", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&images.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3, "{images}");
    // The docker archive and the OCI archive are the same image: their
    // layers are unpacked once and shared (4 image layers + the tarball's 1).
    let layers = std::fs::read_dir(store.path().join("layers/sha256"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(layers, 5, "{:?}", files_under(&store.path().join("layers/sha256")));
}

#[test]
fn explain_names_the_image_config_as_the_origin_and_the_profile_wins() {
    if skip() {
        return;
    }
    let store = store();
    let layout = format!("oci:{}:t", fixtures().layout.display());
    let p = profile_with(&layout, "cwd = \"/srv\"\n");
    let out = sandbox(store.path(), &["explain", p.path.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{out}");
    let origin = format!("image {layout} config");
    let greeting = out.stdout.lines().find(|l| l.contains("GREETING")).unwrap_or_default();
    assert!(greeting.contains(&origin), "{greeting}\n{out}");
    let cwd = out.stdout.lines().find(|l| l.starts_with("process.cwd")).unwrap_or_default();
    assert!(cwd.contains("/srv") && cwd.contains("p.toml"), "the profile's cwd overrides the image's: {cwd}");
    let run = sandbox(store.path(), &["run", p.path.to_str().unwrap(), "--", "/bin/pwd"]);
    assert_eq!(run.stdout, "/srv\n", "{run}");
}

#[test]
fn more_layers_than_one_mount_option_page_holds_still_mount() {
    if skip() {
        return;
    }
    let store = store();
    let dir = common::e2e::open_tempdir("sandbox-many-");
    // 300 layers: as /proc/self/fd/N paths they would not fit the one page
    // of mount options; each adds a file, and the last reads them all.
    let mut layers = vec![common::images::tar_of(&[])];
    layers[0] = tar_from_dir(common::e2e::busybox_rootfs());
    for i in 1..300 {
        layers.push(common::images::tar_of(&[(&format!("many/{i:03}"), b"x")]));
    }
    common::images::write_layout(dir.path(), &layers, &["/bin/sh", "-c", "ls /many | wc -l"]);
    let p = profile_with(&format!("oci:{}:t", dir.path().display()), "");
    let out = sandbox(store.path(), &["run", "--quiet", p.path.to_str().unwrap()]);
    assert_eq!((out.code, out.stdout.trim()), (Some(0), "299"), "{out}");
    assert!(out.stderr.is_empty(), "--quiet prints nothing: {out}");
}

#[test]
fn a_tampered_blob_is_refused_and_nothing_of_it_is_kept() {
    if skip() {
        return;
    }
    let store = store();
    let dir = common::e2e::open_tempdir("sandbox-tampered-");
    let good = tar_from_dir(common::e2e::busybox_rootfs());
    let evil = common::images::tar_of(&[("etc/evil", b"planted")]);
    let blobs = common::images::write_layout(dir.path(), &[good, evil], &["/bin/true"]);
    // Same size, one byte changed: the digest check must catch it.
    let mut bytes = std::fs::read(&blobs[1]).unwrap();
    bytes[600] ^= 1;
    std::fs::write(&blobs[1], &bytes).unwrap();
    let p = profile_with(&format!("oci:{}:t", dir.path().display()), "");
    let out = sandbox(store.path(), &["run", p.path.to_str().unwrap()]);
    assert_eq!(out.code, Some(125), "{out}");
    let name = blobs[1].file_name().unwrap().to_str().unwrap();
    assert!(out.stderr.contains("verify layer 2/2") && out.stderr.contains(name), "names the blob: {out}");
    // The good layer may stay (it verified); the tampered one left nothing.
    let layers = std::fs::read_dir(store.path().join("layers/sha256"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(layers, 1, "{:?}", files_under(store.path()));
    assert!(
        files_under(&store.path().join("tmp")).is_empty(),
        "{:?}",
        files_under(&store.path().join("tmp"))
    );
    assert!(files_under(&store.path().join("images")).is_empty(), "no record of a failed import");
}

/// An uncompressed tar of `dir`, by the system's tar (test input only).
fn tar_from_dir(dir: &Path) -> Vec<u8> {
    let out = Command::new("tar").arg("-C").arg(dir).args(["-cf", "-", "."]).output().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn a_lock_pins_images_and_files_and_locked_refuses_drift() {
    if skip() {
        return;
    }
    let store = store();
    let layout = format!("oci:{}:t", fixtures().layout.display());
    let p = profile_with(&layout, "");
    std::fs::write(p.dir.path().join("base.toml"), "[process]\nenv = { A = \"1\" }\n").unwrap();
    let text = std::fs::read_to_string(&p.path).unwrap();
    std::fs::write(&p.path, format!("extends = [\"base.toml\"]\n{text}")).unwrap();
    // The lock is written beside the profile, by the rootless tier's user too.
    std::fs::set_permissions(p.dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let path = p.path.to_str().unwrap();
    let lock = sandbox(store.path(), &["lock", "--quiet", path]);
    assert_eq!(lock.code, Some(0), "{lock}");
    let lock_path = format!("{path}.lock");
    let written = std::fs::read_to_string(&lock_path).unwrap();
    assert!(written.contains("base.toml") && written.contains(&layout), "{written}");
    let ok = sandbox(store.path(), &["run", "--locked", path, "--", "/bin/true"]);
    assert_eq!(ok.code, Some(0), "{ok}");
    assert_eq!(sandbox(store.path(), &["check", path]).code, Some(0));
    // A changed file: refused, named, with both digests.
    std::fs::write(p.dir.path().join("base.toml"), "[process]\nenv = { A = \"2\" }\n").unwrap();
    let drift = sandbox(store.path(), &["run", "--locked", path, "--", "/bin/true"]);
    assert_eq!(drift.code, Some(125), "{drift}");
    assert!(
        drift.stderr.contains("file base.toml: locked sha256:") && drift.stderr.contains(", now sha256:"),
        "{drift}"
    );
    let check = sandbox(store.path(), &["check", path]);
    assert_eq!(check.code, Some(1), "check reports the stale lock: {check}");
    assert!(check.stderr.contains("stale") && check.stderr.contains("base.toml"), "{check}");
    // A wrong image pin: refused with the reference and both digests.
    assert_eq!(sandbox(store.path(), &["lock", "-q", path]).code, Some(0));
    let locked = std::fs::read_to_string(&lock_path).unwrap();
    let wrong = format!("sha256:{}", "0".repeat(64));
    let start = locked.find(&format!("\"{layout}\" = \"")).unwrap() + layout.len() + 6;
    let real = locked[start..start + 71].to_owned();
    std::fs::write(&lock_path, locked.replace(&real, &wrong)).unwrap();
    let pinned = sandbox(store.path(), &["run", "--locked", path, "--", "/bin/true"]);
    assert_eq!(pinned.code, Some(125), "{pinned}");
    assert!(pinned.stderr.contains(&format!("image {layout}: locked {wrong}, now {real}")), "{pinned}");
    // Without a lock, --locked says how to make one.
    std::fs::remove_file(&lock_path).unwrap();
    let none = sandbox(store.path(), &["run", "--locked", path, "--", "/bin/true"]);
    assert!(none.code == Some(125) && none.stderr.contains("sandbox lock"), "{none}");
}

#[test]
fn check_reports_an_image_neither_the_lock_nor_the_store_has() {
    if skip() {
        return;
    }
    let store = store();
    let layout = format!("oci:{}:t", fixtures().layout.display());
    let p = profile_with(&layout, "");
    std::fs::set_permissions(p.dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let path = p.path.to_str().unwrap();
    assert_eq!(sandbox(store.path(), &["lock", "--quiet", path]).code, Some(0));
    // A change adds an image nobody pulled yet (a fresh checkout, CI): the
    // lock does not pin it, and that is what `check` must say.
    let added = format!("tar:{}", fixtures().rootfs_tar.display());
    let text = std::fs::read_to_string(&p.path).unwrap();
    let layers = text.replace(&format!("[{layout:?}]"), &format!("[{added:?}, {layout:?}]"));
    assert_ne!(layers, text);
    std::fs::write(&p.path, layers).unwrap();
    let check = sandbox(store.path(), &["check", path]);
    assert_eq!(check.code, Some(1), "{check}");
    assert!(check.stderr.contains("stale") && check.stderr.contains(&format!("image {added}")), "{check}");
}

#[test]
fn concurrent_pulls_share_the_work_and_leave_one_copy() {
    if skip() {
        return;
    }
    let store = store();
    let layout = format!("oci:{}:t", fixtures().layout.display());
    let pulls: Vec<_> = (0..3)
        .map(|_| {
            let mut c = common::e2e::command(&["pull", "-q", &layout]);
            c.env("SANDBOX_STORE", store.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let outs: Vec<_> = pulls.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for out in &outs {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, outs[0].stdout, "every pull resolves the same digest");
    }
    let layers = std::fs::read_dir(store.path().join("layers/sha256"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(layers, 4);
    assert!(
        files_under(&store.path().join("tmp")).is_empty(),
        "{:?}",
        files_under(&store.path().join("tmp"))
    );
}

#[test]
fn a_pull_killed_at_any_moment_leaves_nothing_a_run_would_trust() {
    if skip() {
        return;
    }
    let clean = store();
    let layout = format!("oci:{}:t", fixtures().layout.display());
    assert_eq!(sandbox(clean.path(), &["pull", "-q", &layout]).code, Some(0));
    let store = store();
    let rounds: u64 = std::env::var("SANDBOX_KILL_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(12);
    for round in 0..rounds {
        let mut c = common::e2e::command(&["pull", "-q", &layout]);
        c.env("SANDBOX_STORE", store.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(round * 25));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever is in place is whole: each layer is exactly the clean one.
        let placed = std::fs::read_dir(store.path().join("layers/sha256")).into_iter().flatten().flatten();
        for entry in placed {
            if entry.path().is_dir() {
                let twin = clean.path().join("layers/sha256").join(entry.file_name());
                assert_same_tree(
                    &entry.path(),
                    &twin,
                    &format!("round {round}: a partial layer is in place"),
                );
            }
        }
    }
    let p = profile_with(&layout, "");
    let out = sandbox(store.path(), &["run", "-q", p.path.to_str().unwrap(), "--", "/bin/true"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(files_under(&store.path().join("tmp")).is_empty(), "the next open swept the dead pulls' work");
}

#[test]
fn a_hostile_tarball_is_refused_by_entry_and_writes_nothing_outside() {
    if skip() {
        return;
    }
    let store = store();
    let dir = common::e2e::open_tempdir("sandbox-hostile-");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    // Written raw: the tar crate's own setter refuses `..`.
    let name = b"../../../../../../tmp/sandbox-escaped";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    b.append(&h, &b"evil"[..]).unwrap();
    let tar = dir.path().join("evil.tar");
    std::fs::write(&tar, b.into_inner().unwrap()).unwrap();
    let p = profile_with(&format!("tar:{}", tar.display()), "");
    let out = sandbox(store.path(), &["run", p.path.to_str().unwrap(), "--", "/bin/true"]);
    assert_eq!(out.code, Some(125), "{out}");
    assert!(out.stderr.contains("sandbox-escaped"), "the error names the entry: {out}");
    assert!(!Path::new("/tmp/sandbox-escaped").exists(), "nothing was written outside the layer");
    assert!(files_under(&store.path().join("layers/sha256")).is_empty(), "{:?}", files_under(store.path()));
}

#[test]
fn prune_keeps_what_a_running_sandbox_uses_and_removes_the_rest() {
    if skip() {
        return;
    }
    let _serial = common::e2e::serial();
    let store = store();
    let state = common::e2e::writable_tempdir("sandbox-prune-state-");
    let layout = format!("oci:{}:t", fixtures().layout.display());
    let tar = format!("tar:{}", fixtures().rootfs_tar.display());
    assert_eq!(sandbox(store.path(), &["pull", "-q", &tar]).code, Some(0));
    let p = profile_with(&layout, "");
    let root = state.path().to_str().unwrap();
    let started = sandbox(
        store.path(),
        &[
            "--root",
            root,
            "run",
            "-d",
            "-q",
            "--name",
            "held",
            p.path.to_str().unwrap(),
            "--",
            "/bin/sleep",
            "60",
        ],
    );
    assert_eq!(started.code, Some(0), "{started}");
    let pruned = sandbox(store.path(), &["prune"]);
    assert_eq!(pruned.code, Some(0), "{pruned}");
    assert!(pruned.stdout.contains(&format!("removed {tar}")), "{pruned}");
    assert!(pruned.stdout.contains(&format!("kept {layout}")), "{pruned}");
    let ls = sandbox(store.path(), &["--root", root, "exec", "held", "/bin/cat", "/data/fresh"]);
    assert_eq!(ls.stdout, "from the top layer\n", "the running sandbox still has its layers: {ls}");
    assert_eq!(sandbox(store.path(), &["--root", root, "rm", "-f", "held"]).code, Some(0));
    let pruned = sandbox(store.path(), &["prune"]);
    assert!(pruned.stdout.contains(&format!("removed {layout}")), "{pruned}");
    assert!(files_under(&store.path().join("layers/sha256")).is_empty(), "{:?}", files_under(store.path()));
    assert!(files_under(&store.path().join("blobs/sha256")).is_empty());
    let images = sandbox(store.path(), &["images"]);
    assert_eq!(images.stdout.lines().count(), 1, "only the header: {images}");
}

/// Every entry below `dir`: path, type, mode, owner, size, device, link
/// target and the content's digest, sorted: two trees with equal lists
/// are the same tree.
fn tree(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let content = if m.is_file() {
                common::images::digest(&std::fs::read(&path).unwrap())
            } else {
                String::new()
            };
            let link = std::fs::read_link(&path).map(|l| l.display().to_string()).unwrap_or_default();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            // A directory's size is its file system's business (tmpfs and ext4 differ).
            let size = if m.is_dir() { 0 } else { m.size() };
            out.push(format!(
                "{rel} {:o} {}:{} {size} {} {link} {content}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.rdev()
            ));
            if m.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_registry_image_runs_and_its_second_start_needs_no_registry() {
    if skip_registry() {
        return;
    }
    let store = store();
    let registry = common::registry::Registry::start(None);
    let dest = push_fixture(&registry, None);
    let p = profile_with(&dest, "");
    let script = "test ! -e /etc/marker && ls /data && echo $GREETING";
    let out = sandbox(store.path(), &["run", p.path.to_str().unwrap(), "--", "/bin/sh", "-c", script]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, "fresh\nhello from the image\n", "{out}");
    assert_eq!(out.stderr.matches(": unpacked ").count(), 4, "four layers pulled and unpacked: {out}");
    drop(registry);
    let again = sandbox(store.path(), &["run", p.path.to_str().unwrap(), "--", "/bin/sh", "-c", script]);
    assert_eq!(
        (again.code, again.stdout.as_str()),
        (Some(0), out.stdout.as_str()),
        "no registry needed: {again}"
    );
    // `pull` asks again, and says so when the registry is gone.
    let pull = sandbox(store.path(), &["pull", &dest]);
    assert_ne!(pull.code, Some(0), "{pull}");
    assert!(pull.stderr.contains("127.0.0.1"), "names the registry: {pull}");
}

#[test]
fn a_registry_with_basic_auth_takes_credentials_from_the_auth_file_only() {
    if skip_registry() {
        return;
    }
    let store = store();
    let registry = common::registry::Registry::start(Some(("team", "s3cret-pass")));
    let dest = push_fixture(&registry, Some("team:s3cret-pass"));
    let p = profile_with(&dest, "");
    // A home of its own: no ~/.docker/config.json but the test's.
    let home = common::e2e::open_tempdir("sandbox-home-");
    let mut c = common::e2e::command(&["run", p.path.to_str().unwrap(), "--", "/bin/true"]);
    c.env("SANDBOX_STORE", store.path())
        .env("HOME", home.path())
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(std::process::Stdio::null());
    let denied = finish(c);
    assert_eq!(denied.code, Some(125), "{denied}");
    assert!(denied.stderr.contains(&registry.host), "names the registry: {denied}");
    let auth_dir = common::e2e::open_tempdir("sandbox-auth-");
    let auth = auth_dir.path().join("auth.json");
    let token = "dGVhbTpzM2NyZXQtcGFzcw=="; // base64("team:s3cret-pass")
    std::fs::write(&auth, format!(r#"{{"auths":{{"{}":{{"auth":"{token}"}}}}}}"#, registry.host)).unwrap();
    std::fs::set_permissions(&auth, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let mut c =
        common::e2e::command(&["run", "-q", p.path.to_str().unwrap(), "--", "/bin/cat", "/data/fresh"]);
    c.env("SANDBOX_STORE", store.path()).env("HOME", home.path()).env("REGISTRY_AUTH_FILE", &auth);
    c.stdin(std::process::Stdio::null());
    let ok = finish(c);
    assert_eq!((ok.code, ok.stdout.as_str()), (Some(0), "from the top layer\n"), "{ok}");
    assert!(!denied.stderr.contains("s3cret") && !ok.stderr.contains("s3cret"), "no secret in messages");
}

/// Unmounts the test's own tmpfs, even when the test fails.
struct Unmount<'a>(&'a Path);
impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn a_full_disk_leaves_the_store_consistent() {
    if skip() || common::e2e::skip_unless_root() {
        return;
    }
    // A store on a 4 MiB tmpfs of the test's own: the image needs more.
    let dir = common::e2e::writable_tempdir("sandbox-full-");
    // Owned by whoever runs the sandbox: a store must be its user's.
    let owner = if rootless() { common::e2e::e2e_uid() } else { 0 };
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size=4m,mode=0700,uid={owner}"), "tmpfs"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(mounted.success());
    let _unmount = Unmount(dir.path());
    let layout = format!("oci:{}:t", fixtures().layout.display());
    let full = sandbox(dir.path(), &["pull", "-q", &layout]);
    assert_eq!(full.code, Some(1), "{full}");
    assert!(full.stderr.contains("ENOSPC"), "says the disk is full: {full}");
    assert!(files_under(&dir.path().join("tmp")).is_empty(), "{:?}", files_under(&dir.path().join("tmp")));
    assert!(files_under(&dir.path().join("images")).is_empty(), "no record of an image it could not hold");
    // What it did put in place is whole, and a pull with room completes it.
    let clean = store();
    assert_eq!(sandbox(clean.path(), &["pull", "-q", &layout]).code, Some(0));
    for entry in std::fs::read_dir(dir.path().join("layers/sha256")).unwrap().flatten() {
        if entry.path().is_dir() {
            assert_eq!(
                tree(&entry.path()),
                tree(&clean.path().join("layers/sha256").join(entry.file_name()))
            );
        }
    }
}

/// `a` and `b` are the same tree; the message lists only what differs.
fn assert_same_tree(a: &Path, b: &Path, what: &str) {
    let (ta, tb) = (tree(a), tree(b));
    let only_a: Vec<&String> = ta.iter().filter(|l| !tb.contains(l)).collect();
    let only_b: Vec<&String> = tb.iter().filter(|l| !ta.contains(l)).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "{what}: {} has {only_a:?}, {} has {only_b:?}",
        a.display(),
        b.display()
    );
}

fn skip_registry() -> bool {
    let here = Command::new("docker-registry").arg("--version").output().is_ok();
    skip() || skip_unless(here, "docker-registry is missing (scripts/test.sh installs it)")
}

/// Push the fixture image to `registry` with skopeo; its `docker://` reference.
fn push_fixture(registry: &common::registry::Registry, creds: Option<&str>) -> String {
    let layout = format!("oci:{}:t", fixtures().layout.display());
    let dest = format!("docker://{}/test/img:t", registry.host);
    let mut copy = Command::new("skopeo");
    copy.args(["--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]);
    if let Some(c) = creds {
        copy.args(["--dest-creds", c]);
    }
    common::registry::run(copy.args([&layout, &dest]));
    dest
}
