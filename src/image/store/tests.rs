use super::*;

#[test]
fn an_open_root_is_closed_and_another_users_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    Store::open(&root).unwrap();
    assert_eq!(fs::metadata(&root).unwrap().mode() & 0o777, 0o700, "closed to others");
    if nix::unistd::geteuid().is_root() {
        // A store another user made (the `/tmp/sandbox` fallback, say)
        // may hold layers that user planted under a digest's name.
        nix::unistd::chown(&root, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        let err = Store::open(&root).err().expect("refused").to_string();
        assert!(err.contains("65534"), "{err}");
    }
}

#[test]
fn a_file_rewritten_with_its_old_mtime_has_another_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.tar");
    fs::write(&path, b"good").unwrap();
    let before = Stamp::of(&path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    fs::write(&path, b"evil").unwrap();
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(
            u64::try_from(before.mtime_ns / 1_000_000_000).unwrap(),
            u32::try_from(before.mtime_ns % 1_000_000_000).unwrap(),
        );
    File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
    assert_ne!(Stamp::of(&path), Some(before), "same inode, size and mtime, other bytes");
}
