//! Test images, built once per test binary from the busybox rootfs with
//! Debian's umoci and skopeo (the tools users build and copy images with;
//! skopeo verifies every digest as it copies), so our reader is checked
//! against theirs: an OCI layout of four layers
//! (the rootfs; files with odd owners and modes; a whiteout; an opaque
//! directory) and a config, the same as an oci-archive and a
//! docker-archive, and the rootfs as a gzip tarball.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::e2e::{busybox_rootfs, open_tempdir};

pub struct Fixtures {
    _dir: tempfile::TempDir,
    /// An OCI layout with the image tagged `t`.
    pub layout: PathBuf,
    pub oci_archive: PathBuf,
    /// Holds `test/img:t`.
    pub docker_archive: PathBuf,
    pub rootfs_tar: PathBuf,
}

/// Whether umoci and skopeo are here (scripts/test.sh installs them).
pub fn tools() -> bool {
    ["umoci", "skopeo"]
        .iter()
        .all(|t| Command::new(t).arg("--version").output().is_ok_and(|o| o.status.success()))
}

pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(build)
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn build() -> Fixtures {
    let dir = open_tempdir("sandbox-images-");
    let d = dir.path();
    let extra = d.join("extra");
    std::fs::create_dir_all(extra.join("srv")).unwrap();
    std::fs::create_dir_all(extra.join("data")).unwrap();
    std::fs::write(extra.join("data/old"), "hidden by the opaque layer\n").unwrap();
    std::fs::write(extra.join("srv/owned"), "odd owner\n").unwrap();
    set_mode(&extra.join("srv/owned"), 0o640);
    std::fs::copy(busybox_rootfs().join("bin/busybox"), extra.join("srv/suid")).unwrap();
    set_mode(&extra.join("srv/suid"), 0o4755);
    if super::e2e::is_root() {
        sh(&["chown", "1234:5678", extra.join("srv/owned").to_str().unwrap()]);
    }
    let layout = d.join("layout");
    let image = format!("{}:t", layout.display());
    let bundle = d.join("bundle");
    let rootless: &[&str] = if super::e2e::is_root() { &[] } else { &["--rootless"] };
    let umoci = |verb: &str, extra: &[&str]| {
        let mut args = vec!["umoci", verb];
        args.extend_from_slice(rootless);
        args.extend_from_slice(&["--image", &image]);
        args.extend_from_slice(extra);
        sh(&args);
    };
    let repack = || umoci("repack", &["--refresh-bundle", bundle.to_str().unwrap()]);
    sh(&["umoci", "init", "--layout", layout.to_str().unwrap()]);
    sh(&["umoci", "new", "--image", &image]);
    // `umoci insert` (0.4.7) writes truncated layers; unpack + repack does
    // not: each repack is one layer of what changed in the bundle.
    umoci("unpack", &[bundle.to_str().unwrap()]);
    let root = bundle.join("rootfs");
    sh(&["cp", "-a", &format!("{}/.", busybox_rootfs().display()), root.to_str().unwrap()]);
    repack();
    sh(&["cp", "-a", &format!("{}/.", extra.display()), root.to_str().unwrap()]);
    repack();
    std::fs::remove_file(root.join("etc/marker")).unwrap();
    repack();
    // umoci writes deletions as `.wh.NAME` only; an opaque directory, by hand.
    let opaque = tar_of(&[("data/.wh..wh..opq", b""), ("data/fresh", b"from the top layer\n")]);
    append_layer(&layout, &opaque);
    sh(&[
        "umoci",
        "config",
        "--image",
        &image,
        "--config.env",
        "GREETING=hello from the image",
        "--config.workingdir",
        "/data",
        "--config.user",
        "user",
        "--config.entrypoint",
        "/bin/sh",
        "--config.cmd",
        "-c",
        "--config.cmd",
        "echo $GREETING; pwd; id -u",
    ]);
    let oci_archive = d.join("image-oci.tar");
    let docker_archive = d.join("image-docker.tar");
    sh(&[
        "skopeo",
        "copy",
        "-q",
        &format!("oci:{image}"),
        &format!("oci-archive:{}:t", oci_archive.display()),
    ]);
    sh(&[
        "skopeo",
        "copy",
        "-q",
        &format!("oci:{image}"),
        &format!("docker-archive:{}:test/img:t", docker_archive.display()),
    ]);
    let rootfs_tar = d.join("rootfs.tar.gz");
    sh(&["tar", "-C", busybox_rootfs().to_str().unwrap(), "-czf", rootfs_tar.to_str().unwrap(), "."]);
    open_tree(d);
    Fixtures { _dir: dir, layout, oci_archive, docker_archive, rootfs_tar }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
}

/// Let the rootless tier's user read what root built.
fn open_tree(dir: &Path) {
    sh(&["chmod", "-R", "a+rX", dir.to_str().unwrap()]);
}

/// A store of the test's own (in the rootless tier, its user's).
pub fn store() -> tempfile::TempDir {
    // The store refuses a root another user owns: the rootless tier's is
    // its user's, private, as its own default would be.
    let dir = open_tempdir("sandbox-store-");
    if super::e2e::rootless() {
        let uid = nix::unistd::Uid::from_raw(super::e2e::e2e_uid());
        nix::unistd::chown(dir.path(), Some(uid), None).unwrap();
        set_mode(dir.path(), 0o700);
    }
    dir
}

/// `sha256:HEX` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let sum = sha2::Sha256::digest(bytes);
    let mut out = String::from("sha256:");
    for b in sum {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A tar holding `files` (path, content), each a regular file 0644 owned by root.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *content).unwrap();
    }
    b.into_inner().unwrap()
}

/// Write an OCI layout at `dir` with one image tagged `t` of the given
/// uncompressed layer tars (bottom first) and `cmd`; returns the blob
/// path of each layer (for tests that tamper with one).
pub fn write_layout(dir: &Path, layers: &[Vec<u8>], cmd: &[&str]) -> Vec<PathBuf> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = digest(bytes);
        let path = blobs.join(&d["sha256:".len()..]);
        std::fs::write(&path, bytes).unwrap();
        (d, bytes.len(), path)
    };
    let stored: Vec<_> = layers.iter().map(|l| put(l)).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Cmd": cmd },
        "rootfs": { "type": "layers", "diff_ids": stored.iter().map(|(d, _, _)| d.clone()).collect::<Vec<_>>() },
    });
    let (config_digest, config_size, _) = put(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
        "layers": stored.iter().map(|(d, s, _)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s })).collect::<Vec<_>>(),
    });
    let (m_digest, m_size, _) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m_digest, "size": m_size,
                        "annotations": { "org.opencontainers.image.ref.name": "t" } }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    stored.into_iter().map(|(_, _, p)| p).collect()
}

/// Add the uncompressed layer `tar` on top of the only image of `layout`
/// (a new config and manifest, the index pointing at them).
pub fn append_layer(layout: &Path, tar: &[u8]) {
    let blob = |d: &str| layout.join("blobs/sha256").join(&d["sha256:".len()..]);
    let put = |bytes: &[u8]| {
        let d = digest(bytes);
        std::fs::write(blob(&d), bytes).unwrap();
        (d, bytes.len())
    };
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let entry = &mut index["manifests"][0];
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(entry["digest"].as_str().unwrap())).unwrap()).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap())
            .unwrap();
    let (layer, size) = put(tar);
    config["rootfs"]["diff_ids"].as_array_mut().unwrap().push(layer.clone().into());
    let (c, c_size) = put(config.to_string().as_bytes());
    manifest["config"]["digest"] = c.into();
    manifest["config"]["size"] = c_size.into();
    manifest["layers"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": size }));
    let (m, m_size) = put(manifest.to_string().as_bytes());
    entry["digest"] = m.into();
    entry["size"] = m_size.into();
    std::fs::write(&index_path, index.to_string()).unwrap();
}
