use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::*;
use crate::sys::xattr::lgetxattr;

/// A destination and, beside it, a sentinel directory that no layer may touch.
struct Fixture {
    tmp: tempfile::TempDir,
    dest: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        std::fs::create_dir(tmp.path().join("sentinel")).unwrap();
        std::fs::write(tmp.path().join("sentinel/keep"), b"keep").unwrap();
        Fixture { tmp, dest }
    }

    fn unpack(&self, bytes: &[u8], opts: &Options) -> Result<Unpacked> {
        let got = unpack(&mut &bytes[..], &self.dest, "layer 1 of test", opts);
        self.nothing_outside();
        got
    }

    fn nothing_outside(&self) {
        let mut top: Vec<_> =
            std::fs::read_dir(self.tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        top.sort();
        assert_eq!(top, ["dest", "sentinel"], "nothing was written beside dest");
        let inside: Vec<_> = std::fs::read_dir(self.tmp.path().join("sentinel"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(inside, ["keep"], "the sentinel directory is unchanged");
        assert_eq!(std::fs::read(self.tmp.path().join("sentinel/keep")).unwrap(), b"keep");
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.dest.join(rel)
    }
}

fn root() -> Options {
    Options { as_root: true, ..Options::default() }
}

fn rootless() -> Options {
    Options { as_root: false, ..Options::default() }
}

/// A header with `path` and `link` written raw (the builder refuses `..`).
fn header(path: &[u8], kind: EntryType, size: u64, mode: u32, link: &[u8]) -> Header {
    let mut h = Header::new_gnu();
    h.as_old_mut().name[..path.len()].copy_from_slice(path);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    h
}

#[derive(Clone, Copy)]
enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    DirMode(&'a str, u32),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Node(&'a str, EntryType, u32, u32),
    Pax(&'a [(&'a str, &'a [u8])]),
}

fn pax_body(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let body = key.len() + value.len() + 3;
        let mut len = body + 1;
        while len != body + len.to_string().len() {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

fn append(builder: &mut tar::Builder<impl Write>, entry: E<'_>) {
    let (h, data): (Header, Vec<u8>) = match entry {
        E::File(p, d) => (header(p.as_bytes(), EntryType::Regular, d.len() as u64, 0o644, b""), d.to_vec()),
        E::Dir(p) => (header(p.as_bytes(), EntryType::Directory, 0, 0o755, b""), vec![]),
        E::DirMode(p, m) => (header(p.as_bytes(), EntryType::Directory, 0, m, b""), vec![]),
        E::Sym(p, t) => (header(p.as_bytes(), EntryType::Symlink, 0, 0o777, t.as_bytes()), vec![]),
        E::Hard(p, t) => (header(p.as_bytes(), EntryType::Link, 0, 0o644, t.as_bytes()), vec![]),
        E::Node(p, k, major, minor) => {
            let mut h = header(p.as_bytes(), k, 0, 0o600, b"");
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
            h.set_cksum();
            (h, vec![])
        }
        E::Pax(records) => {
            let body = pax_body(records);
            (header(b"PaxHeader", EntryType::XHeader, body.len() as u64, 0o644, b""), body)
        }
    };
    builder.append(&h, &data[..]).unwrap();
}

fn tar_of(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for &e in entries {
        append(&mut b, e);
    }
    b.into_inner().unwrap()
}

fn err_of(f: &Fixture, entries: &[E<'_>], opts: &Options) -> String {
    f.unpack(&tar_of(entries), opts).unwrap_err().to_string()
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    lgetxattr(&path, &CString::new(name).unwrap()).ok()
}

fn is_whiteout(path: &Path) -> bool {
    let md = std::fs::symlink_metadata(path).unwrap();
    md.file_type().is_char_device() && md.rdev() == 0
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    for opts in [root(), rootless()] {
        let f = Fixture::new();
        let got = f
            .unpack(
                &tar_of(&[
                    E::Dir("a/"),
                    E::File("a/.wh.b", b""),
                    E::File("a/c", b"replaced"),
                    E::File("a/.wh.c", b""),
                    E::File("new/deep/.wh.gone", b""),
                    E::Dir("o/"),
                    E::File("o/.wh..wh..opq", b""),
                    E::File("o/.wh..wh.plnk", b""),
                    E::Node("n", EntryType::Char, 0, 0),
                ]),
                &opts,
            )
            .unwrap();
        for w in ["a/b", "a/c", "new/deep/gone", "n"] {
            assert!(is_whiteout(&f.at(w)), "{w}");
        }
        assert!(!f.at("a/.wh.b").exists() && !f.at("o/.wh..wh..opq").exists());
        assert_eq!(xattr(&f.at("o"), "user.overlay.opaque").as_deref(), Some(&b"y"[..]));
        let trusted = xattr(&f.at("o"), "trusted.overlay.opaque");
        assert_eq!(trusted.is_some(), opts.as_root, "trusted.overlay.opaque only as root");
        assert!(got.skipped.iter().any(|s| s.contains("aufs")), "{:?}", got.skipped);
    }
}

#[test]
fn whiteouts_of_nothing_are_refused() {
    for bad in ["a/.wh..", "a/.wh.", ".wh.."] {
        let f = Fixture::new();
        let err = err_of(&f, &[E::File(bad, b"")], &root());
        assert!(err.contains("whiteout"), "{bad}: {err}");
    }
}

#[test]
fn opaque_root_of_the_layer() {
    let f = Fixture::new();
    f.unpack(&tar_of(&[E::File(".wh..wh..opq", b"")]), &rootless()).unwrap();
    assert_eq!(xattr(&f.dest, "user.overlay.opaque").as_deref(), Some(&b"y"[..]));
}

#[test]
fn absolute_paths_are_made_relative() {
    let f = Fixture::new();
    f.unpack(&tar_of(&[E::File("/etc/passwd", b"root"), E::File("//./x//y", b"y")]), &root()).unwrap();
    assert_eq!(std::fs::read(f.at("etc/passwd")).unwrap(), b"root");
    assert_eq!(std::fs::read(f.at("x/y")).unwrap(), b"y");
}

#[test]
fn dotdot_is_refused() {
    for bad in ["../sentinel/x", "a/../../sentinel/keep", "/../x", "a/.."] {
        let f = Fixture::new();
        let err = err_of(&f, &[E::File(bad, b"evil")], &root());
        assert!(err.contains("..") && err.contains("entry"), "{bad}: {err}");
    }
}

#[test]
fn nothing_goes_through_a_symlink() {
    let f = Fixture::new();
    let err = err_of(&f, &[E::Sym("a", "/etc"), E::File("a/passwd", b"evil")], &root());
    assert!(err.contains("a/passwd") && err.contains("symlink `a`") && err.contains("/etc"), "{err}");
    let f = Fixture::new();
    let err = err_of(&f, &[E::Sym("b", "../sentinel"), E::File("b/keep", b"evil")], &rootless());
    assert!(err.contains("b/keep") && err.contains("symlink `b`"), "{err}");
    let f = Fixture::new();
    let err = err_of(&f, &[E::Dir("d/"), E::Sym("d/up", "../.."), E::Dir("d/up/sentinel/")], &root());
    assert!(err.contains("symlink `d/up`"), "{err}");
}

#[test]
fn hard_links_stay_in_the_layer() {
    let f = Fixture::new();
    let err = err_of(&f, &[E::Hard("h", "../../etc/passwd")], &root());
    assert!(err.contains("`h`") && err.contains(".."), "{err}");
    let f = Fixture::new();
    let err = err_of(&f, &[E::File("f", b"x"), E::Sym("s", "f"), E::Hard("h", "s")], &root());
    assert!(err.contains("not a regular file"), "{err}");
    let f = Fixture::new();
    let err = err_of(&f, &[E::Sym("d", "/etc"), E::Hard("h", "d/passwd")], &root());
    assert!(err.contains("symlink `d`"), "{err}");
    let f = Fixture::new();
    let err = err_of(&f, &[E::Hard("h", "/etc/passwd")], &root());
    assert!(err.contains("does not have"), "{err}");
    let f = Fixture::new();
    f.unpack(&tar_of(&[E::File("f", b"x"), E::Hard("g", "/f"), E::Hard("f", "f")]), &root()).unwrap();
    assert_eq!(std::fs::metadata(f.at("g")).unwrap().nlink(), 2);
    assert_eq!(std::fs::read(f.at("f")).unwrap(), b"x");
}

#[test]
fn later_entries_replace_earlier_ones() {
    let f = Fixture::new();
    f.unpack(
        &tar_of(&[
            E::Dir("x/"),
            E::Dir("x/sub/"),
            E::File("x/sub/y", b"y"),
            E::File("x", b"file now"),
            E::Sym("l", "/etc/passwd"),
            E::File("l", b"plain"),
            E::Dir("d/"),
            E::File("d/f", b"kept"),
            E::DirMode("d/", 0o750),
            E::File("s", b"old"),
            E::Sym("s", "elsewhere"),
        ]),
        &root(),
    )
    .unwrap();
    assert_eq!(std::fs::read(f.at("x")).unwrap(), b"file now");
    assert!(std::fs::symlink_metadata(f.at("l")).unwrap().is_file());
    assert_eq!(std::fs::read(f.at("l")).unwrap(), b"plain");
    assert_eq!(std::fs::read(f.at("d/f")).unwrap(), b"kept");
    assert_eq!(std::fs::metadata(f.at("d")).unwrap().permissions().mode() & 0o7777, 0o750);
    assert_eq!(std::fs::read_link(f.at("s")).unwrap(), Path::new("elsewhere"));
}

#[test]
fn device_nodes_only_as_root() {
    let f = Fixture::new();
    let got = f
        .unpack(
            &tar_of(&[
                E::Node("dev/null", EntryType::Char, 1, 3),
                E::Node("dev/sda", EntryType::Block, 8, 0),
            ]),
            &rootless(),
        )
        .unwrap();
    assert!(!f.at("dev/null").exists() && !f.at("dev/sda").exists());
    assert!(got.skipped.iter().any(|s| s == "dev/sda: a device node (rootless)"), "{:?}", got.skipped);
    let f = Fixture::new();
    f.unpack(
        &tar_of(&[E::Node("dev/null", EntryType::Char, 1, 3), E::Node("fifo", EntryType::Fifo, 0, 0)]),
        &root(),
    )
    .unwrap();
    let md = std::fs::symlink_metadata(f.at("dev/null")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), nix::sys::stat::makedev(1, 3));
    assert!(std::fs::symlink_metadata(f.at("fifo")).unwrap().file_type().is_fifo());
    let f = Fixture::new();
    f.unpack(&tar_of(&[E::Node("fifo", EntryType::Fifo, 0, 0)]), &rootless()).unwrap();
    assert!(std::fs::symlink_metadata(f.at("fifo")).unwrap().file_type().is_fifo());
}

#[test]
fn overlay_xattrs_are_dropped() {
    let records: &[(&str, &[u8])] = &[
        ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
        ("SCHILY.xattr.user.overlay.opaque", b"y"),
        ("SCHILY.xattr.user.kept", b"value"),
        ("SCHILY.xattr.security.selinux", b"system_u"),
    ];
    for opts in [root(), rootless()] {
        let f = Fixture::new();
        let got = f
            .unpack(&tar_of(&[E::Pax(records), E::Dir("d/"), E::Pax(records), E::File("f", b"x")]), &opts)
            .unwrap();
        for p in ["d", "f"] {
            assert_eq!(xattr(&f.at(p), "trusted.overlay.redirect"), None, "{p}");
            assert_eq!(xattr(&f.at(p), "user.overlay.opaque"), None, "{p}");
            assert_eq!(xattr(&f.at(p), "user.kept").as_deref(), Some(&b"value"[..]), "{p}");
        }
        for s in
            ["f: xattr trusted.overlay.redirect", "d: xattr user.overlay.opaque", "f: xattr security.selinux"]
        {
            assert!(got.skipped.iter().any(|k| k.starts_with(s)), "{s}: {:?}", got.skipped);
        }
    }
}

#[test]
fn limits_stop_a_layer() {
    let small = |f: fn(&mut Limits)| {
        let mut o = root();
        f(&mut o.limits);
        o
    };
    let f = Fixture::new();
    let many: Vec<String> = (0..5).map(|i| format!("f{i}")).collect();
    let entries: Vec<E<'_>> = many.iter().map(|p| E::File(p, b"")).collect();
    let err = err_of(&f, &entries, &small(|l| l.max_entries = 3));
    assert!(err.contains("max_entries") && err.contains("layer 1 of test"), "{err}");
    let f = Fixture::new();
    let err =
        err_of(&f, &[E::File("a", b"0123456789"), E::File("b", b"0123456789")], &small(|l| l.max_bytes = 15));
    assert!(err.contains("max_bytes") && err.contains("`b`"), "{err}");
    assert!(!f.at("b").exists(), "the size is checked before writing");
    let f = Fixture::new();
    let long = "d/".repeat(60) + "f";
    let err = err_of(
        &f,
        &[E::Pax(&[("path", long.as_bytes())]), E::File("short", b"")],
        &small(|l| l.max_path = 100),
    );
    assert!(err.contains("max_path") && err.contains("121 bytes"), "{err}");
}

#[test]
fn a_gzip_bomb_trips_the_ratio() {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let size = 100u64 << 20;
    b.append(&header(b"zeros", EntryType::Regular, size, 0o644, b""), std::io::repeat(0).take(size)).unwrap();
    let gz = b.into_inner().unwrap().finish().unwrap();
    let f = Fixture::new();
    let mut o = root();
    o.limits.max_ratio = 20;
    let err = f.unpack(&gz, &o).unwrap_err().to_string();
    assert!(err.contains("max_ratio") && err.contains("layer 1 of test"), "{err}");
    // The same layer under the default ratio is fine (zeros compress ~1000x,
    // so the default must be raised to let it through).
    o.limits.max_ratio = 10_000;
    let f = Fixture::new();
    assert_eq!(f.unpack(&gz, &o).unwrap().size, size);
}

fn compressed(tar: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(tar, 3).unwrap(),
        Compression::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
    }
}

#[test]
fn every_compression_and_the_diff_id() {
    let mut tar = tar_of(&[E::Dir("etc/"), E::File("etc/hostname", b"box\n"), E::Sym("bin", "usr/bin")]);
    tar.extend_from_slice(&[0; 4096]); // padding after the end: part of the diff-id
    for c in [Compression::None, Compression::Gzip, Compression::Zstd, Compression::Xz] {
        let blob = compressed(&tar, c);
        assert_eq!(Compression::detect(&blob), c);
        let f = Fixture::new();
        let got = f.unpack(&blob, &rootless()).unwrap();
        assert_eq!(got.diff_id, Digest::of(&tar), "{c:?}");
        assert_eq!((got.size, got.entries), (4, 3), "{c:?}");
        assert_eq!(std::fs::read(f.at("etc/hostname")).unwrap(), b"box\n");
    }
}

#[test]
fn a_read_only_directory_is_filled_and_ends_read_only() {
    for opts in [root(), rootless()] {
        let f = Fixture::new();
        f.unpack(
            &tar_of(&[
                E::DirMode("ro/", 0o555),
                E::File("ro/f", b"x"),
                E::Dir("ro/sub/"),
                E::File("ro/sub/g", b""),
            ]),
            &opts,
        )
        .unwrap();
        let md = std::fs::metadata(f.at("ro")).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o555);
        assert_eq!(md.mtime(), 1_000_000, "contents did not bump the time");
        assert_eq!(std::fs::read(f.at("ro/f")).unwrap(), b"x");
        assert_eq!(std::fs::metadata(f.at("ro/f")).unwrap().mtime(), 1_000_000);
        std::fs::set_permissions(f.at("ro"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn setuid_and_owners_kept_as_root() {
    let f = Fixture::new();
    let mut h = header(b"bin/su", EntryType::Regular, 2, 0o4755, b"");
    h.set_uid(1000);
    h.set_gid(1001);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"su"[..]).unwrap();
    f.unpack(&b.into_inner().unwrap(), &root()).unwrap();
    let md = std::fs::metadata(f.at("bin/su")).unwrap();
    assert_eq!((md.mode() & 0o7777, md.uid(), md.gid()), (0o4755, 1000, 1001));
    assert_eq!(std::fs::metadata(f.at("bin")).unwrap().mode() & 0o7777, 0o755, "an implied directory");
}

#[test]
fn unknown_types_and_a_busy_destination_are_refused() {
    let f = Fixture::new();
    let err = err_of(&f, &[E::Node("sparse", EntryType::GNUSparse, 0, 0)], &root());
    assert!(err.contains("layer 1 of test"), "{err}");
    let f = Fixture::new();
    let err = err_of(&f, &[E::Node("odd", EntryType::new(b'Z'), 0, 0)], &root());
    assert!(err.contains("`odd`") && err.contains("type `Z`"), "{err}");
    let f = Fixture::new();
    let err = err_of(&f, &[E::File("/.", b"")], &root());
    assert!(err.contains("own directory"), "{err}");
    let f = Fixture::new();
    std::fs::write(f.at("old"), b"").unwrap();
    let err = f.unpack(&tar_of(&[]), &root()).unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
}

/// A small deterministic generator: no dependency, same bytes every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_and_truncated_input_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..200 {
        let len = usize::try_from(rng.next() % 3000).unwrap();
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next().to_le_bytes()[0]).collect();
        match round % 4 {
            1 if len > 2 => bytes[..2].copy_from_slice(&[0x1f, 0x8b]),
            2 if len > 6 => bytes[..6].copy_from_slice(&[0xfd, b'7', b'z', b'X', b'Z', 0]),
            3 if len > 4 => bytes[..4].copy_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]),
            _ => {}
        }
        let f = Fixture::new();
        let _ = f.unpack(&bytes, &rootless());
    }
    let tar = tar_of(&[E::Dir("a/"), E::File("a/f", &[7; 3000]), E::Sym("a/l", "f"), E::Hard("a/h", "a/f")]);
    let gz = compressed(&tar, Compression::Gzip);
    for cut in (1..tar.len()).step_by(97) {
        let f = Fixture::new();
        let got = f.unpack(&tar[..cut], &root());
        if (512..512 + 512 + 3000).contains(&cut) {
            assert!(got.is_err(), "cut inside the file at {cut}");
        }
        let f = Fixture::new();
        assert!(f.unpack(&gz[..cut.min(gz.len() - 1)], &root()).is_err(), "gzip cut at {cut}");
    }
    // Flipped bytes in a valid tar.
    for i in (0..tar.len()).step_by(31) {
        let mut bad = tar.clone();
        bad[i] ^= 0x5a;
        let f = Fixture::new();
        let _ = f.unpack(&bad, &root());
    }
}

#[test]
fn skipped_lines_are_bounded() {
    // Each rootless device node is a line; a hostile layer has millions.
    let f = Fixture::new();
    let names: Vec<String> = (0..1000).map(|i| format!("dev/n{i}")).collect();
    let entries: Vec<E<'_>> = names.iter().map(|n| E::Node(n, EntryType::Block, 8, 0)).collect();
    let got = f.unpack(&tar_of(&entries), &rootless()).unwrap();
    assert!(got.skipped.len() <= 101, "{}", got.skipped.len());
    assert_eq!(got.skipped.last().map(String::as_str), Some("… and 900 more"));
}
