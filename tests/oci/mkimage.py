#!/usr/bin/env python3
"""Build a tiny busybox-static image with no network and no image tools.

Outputs (any subset):
  --oci-archive FILE   OCI image-layout tar (oci-layout, index.json, blobs/sha256/*)
  --rootfs-tar FILE    the plain rootfs tar (for `podman import` / `ctr` --rootfs)
  --rootfs-dir DIR     the rootfs unpacked into DIR (for bundles run directly)

The single layer is an uncompressed tar with fixed mtimes and uid/gid 0, so the
digests only change when the busybox binary or the file list changes.
"""
import argparse, hashlib, io, json, os, platform, shutil, stat, tarfile, time

APPLETS = ["sh", "true", "false", "sleep", "cat", "echo", "ls", "id", "ps",
           "top", "env", "kill", "mkdir", "rm", "touch", "grep", "head",
           "hostname", "mount", "readlink", "stat", "wc", "test", "uname", "dd"]
MTIME = 1700000000
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm",
        "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(
            platform.machine(), platform.machine())

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n"


def entries(busybox, applets):
    """(name, type, mode, payload) in tar order."""
    out = []
    for d, mode in [("bin", 0o755), ("dev", 0o755), ("etc", 0o755),
                    ("proc", 0o555), ("root", 0o700), ("sys", 0o555),
                    ("tmp", 0o1777), ("usr", 0o755), ("usr/bin", 0o755),
                    ("var", 0o755), ("run", 0o755)]:
        out.append((d, tarfile.DIRTYPE, mode, None))
    with open(busybox, "rb") as f:
        out.append(("bin/busybox", tarfile.REGTYPE, 0o755, f.read()))
    for a in applets:
        out.append(("bin/" + a, tarfile.SYMTYPE, 0o777, "busybox"))
    out.append(("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD.encode()))
    out.append(("etc/group", tarfile.REGTYPE, 0o644, GROUP.encode()))
    out.append(("etc/hostname", tarfile.REGTYPE, 0o644, b"busybox\n"))
    return out


def make_tar(ents, prefix=""):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, typ, mode, payload in ents:
            ti = tarfile.TarInfo(prefix + name)
            ti.type, ti.mode, ti.mtime = typ, mode, MTIME
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            if typ == tarfile.REGTYPE:
                ti.size = len(payload)
                t.addfile(ti, io.BytesIO(payload))
            elif typ == tarfile.SYMTYPE:
                ti.linkname = payload
                t.addfile(ti)
            else:
                t.addfile(ti)
    return buf.getvalue()


def write_rootfs_dir(ents, root):
    os.makedirs(root, exist_ok=True)
    for name, typ, mode, payload in ents:
        p = os.path.join(root, name)
        if typ == tarfile.DIRTYPE:
            os.makedirs(p, exist_ok=True)
            os.chmod(p, mode)
        elif typ == tarfile.SYMTYPE:
            if os.path.lexists(p):
                os.unlink(p)
            os.symlink(payload, p)
        else:
            with open(p, "wb") as f:
                f.write(payload)
            os.chmod(p, mode)


def blob(obj):
    data = obj if isinstance(obj, bytes) else json.dumps(
        obj, sort_keys=True, separators=(",", ":")).encode()
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def oci_archive(layer, name, out):
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(MTIME))
    config = {
        "created": created,
        "architecture": ARCH,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created": created, "created_by": "tests/oci/mkimage.py"}],
    }
    cfg, cfg_digest = blob(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cfg_digest, "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": len(layer)}],
    }
    man, man_digest = blob(manifest)
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": man_digest, "size": len(man),
            "platform": {"architecture": ARCH, "os": "linux"},
            "annotations": {
                # containerd (ctr import) and podman (libimage
                # nameFromAnnotations) both take the full name from here.
                "io.containerd.image.name": name,
                # the OCI spec's own annotation carries only the tag
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    }
    files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
             ("index.json", blob(index)[0])]
    for data in (layer, cfg, man):
        files.append(("blobs/sha256/" + hashlib.sha256(data).hexdigest(), data))
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        for d in ("blobs", "blobs/sha256"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, MTIME
            t.addfile(ti)
        for n, data in files:
            ti = tarfile.TarInfo(n)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, MTIME
            t.addfile(ti, io.BytesIO(data))
    return man_digest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--busybox", default=shutil.which("busybox") or "/bin/busybox")
    ap.add_argument("--name", default="localhost/busybox:test")
    ap.add_argument("--oci-archive")
    ap.add_argument("--rootfs-tar")
    ap.add_argument("--rootfs-dir")
    ap.add_argument("--applet", action="append", default=[])
    a = ap.parse_args()
    bb = os.path.realpath(a.busybox)
    with open(bb, "rb") as f:
        if f.read(4) != b"\x7fELF":
            ap.error(f"{bb} is not an ELF binary")
    ents = entries(bb, APPLETS + a.applet)
    layer = make_tar(ents)
    if a.rootfs_tar:
        with open(a.rootfs_tar, "wb") as f:
            f.write(layer)
    if a.rootfs_dir:
        write_rootfs_dir(ents, a.rootfs_dir)
    if a.oci_archive:
        print(oci_archive(layer, a.name, a.oci_archive))


if __name__ == "__main__":
    main()
