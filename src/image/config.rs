//! An image's config as the profile's defaults: one more source, below
//! every file of the profile, so the profile overrides each value and
//! `explain` names the origin (`image oci:/srv/img:1 config`).

use std::fmt::Write as _;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, SFlag};

use super::manifest::ProcessConfig;

/// `/etc/passwd` and `/etc/group` larger than this are not read.
const MAX_ID_FILE: u64 = 1 << 20;

/// The label its source gets in messages.
pub fn label(source: &str) -> String {
    format!("image {source} config")
}

/// The config as TOML: `[process]` command (Entrypoint + Cmd), cwd, env,
/// user (a name resolved in the image's own `/etc/passwd`, `layers` top
/// last). An unresolvable user is an error naming it.
pub fn defaults(config: &ProcessConfig, layers: &[PathBuf]) -> Result<String, String> {
    let mut out = String::from("[process]\n");
    let command: Vec<&String> =
        config.entrypoint.iter().flatten().chain(config.cmd.iter().flatten()).collect();
    if !command.is_empty() {
        let words: Vec<String> = command.iter().map(|s| string(s)).collect();
        let _ = writeln!(out, "command = [{}]", words.join(", "));
    }
    if let Some(dir) = config.working_dir.as_deref().filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "cwd = {}", string(dir));
    }
    if let Some(user) = config.user.as_deref().filter(|u| !u.is_empty()) {
        let (uid, gid) = user_ids(user, layers)?;
        let _ = writeln!(out, "user = {{ uid = {uid}, gid = {gid} }}");
    }
    // A name given twice is given its last value, as docker does (twice in
    // a TOML table is an error: the image would not load at all).
    let env: std::collections::BTreeMap<&str, &str> =
        config.env.iter().flatten().filter_map(|e| e.split_once('=')).collect();
    if !env.is_empty() {
        out.push_str("[process.env]\n");
        for (k, v) in env {
            let _ = writeln!(out, "{} = {}", string(k), string(v));
        }
    }
    Ok(out)
}

/// A TOML basic string (JSON's escapes are TOML's; TOML also forbids a
/// raw DEL, which JSON leaves as it is).
fn string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes").replace('\u{7f}', "\\u007f")
}

/// `User` as the image means it: `uid`, `uid:gid`, `name`, `name:group`;
/// a user without a group gets its passwd entry's group (0 if a number
/// with no entry, as docker does).
fn user_ids(user: &str, layers: &[PathBuf]) -> Result<(u32, u32), String> {
    let (name, group) = match user.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (user, None),
    };
    let passwd = lookup_file(layers, "etc/passwd");
    let entry = passwd.as_deref().and_then(|p| find(p, name, 2));
    let uid = match name.parse::<u32>() {
        Ok(n) => n,
        Err(_) => entry
            .as_ref()
            .and_then(|e| e[2].parse().ok())
            .ok_or_else(|| not_found("user", name, "etc/passwd"))?,
    };
    let gid = match group {
        Some(g) => g.parse::<u32>().or_else(|_| {
            let groups = lookup_file(layers, "etc/group");
            let found = groups.as_deref().and_then(|t| find(t, g, 2)).and_then(|e| e[2].parse().ok());
            found.ok_or_else(|| not_found("group", g, "etc/group"))
        })?,
        None => entry.and_then(|e| e[3].parse().ok()).unwrap_or(0),
    };
    Ok((uid, gid))
}

fn not_found(kind: &str, name: &str, file: &str) -> String {
    format!("the image's User names {kind} `{name}`, which its /{file} does not have")
}

/// The line of a passwd/group file whose name or id (field `id`) is `key`.
fn find(text: &str, key: &str, id: usize) -> Option<Vec<String>> {
    text.lines()
        .map(|l| l.split(':').map(str::to_owned).collect::<Vec<_>>())
        .find(|f| f.len() > 3 && (f[0] == key || f[id] == key))
}

/// The file at `rel` in the topmost layer that has it, read without
/// following any symlink (a hostile image's `/etc/passwd -> /etc/shadow`
/// of the host must not be read).
fn lookup_file(layers: &[PathBuf], rel: &str) -> Option<String> {
    layers.iter().rev().find_map(|layer| read_beneath(layer, rel))
}

fn read_beneath(dir: &Path, rel: &str) -> Option<String> {
    let root =
        nix::fcntl::open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
    let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW).resolve(
        ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    );
    let found = openat2(&root, rel, how).ok()?;
    // Only a regular file is opened for reading: opening a FIFO would wait
    // forever, and a device node (a root store keeps them) is the host's
    // device, whose driver acts on the open (a watchdog starts counting).
    let st = nix::sys::stat::fstat(&found).ok()?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return None;
    }
    let reopen = format!("/proc/self/fd/{}", found.as_raw_fd());
    let fd = nix::fcntl::open(reopen.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
    let mut text = String::new();
    std::fs::File::from(fd).take(MAX_ID_FILE).read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_becomes_the_process_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let config = ProcessConfig {
            env: Some(vec!["PATH=/bin".into(), "Q=a\"b\nc".into()]),
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(vec!["echo hi".into()]),
            working_dir: Some("/srv".into()),
            user: Some("app".into()),
        };
        let text = defaults(&config, &[dir.path().to_path_buf()]).unwrap();
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let process = parsed["process"].as_table().unwrap();
        assert_eq!(process["command"].as_array().unwrap().len(), 3);
        assert_eq!(process["user"]["uid"].as_integer(), Some(1000));
        assert_eq!(process["user"]["gid"].as_integer(), Some(1001));
        assert_eq!(process["env"]["Q"].as_str(), Some("a\"b\nc"));
        let layers = [dir.path().to_path_buf()];
        assert_eq!(user_ids("app:staff", &layers), Ok((1000, 50)));
        assert_eq!(user_ids("7", &layers), Ok((7, 0)));
        assert!(user_ids("nobody", &layers).unwrap_err().contains("nobody"));
    }

    #[test]
    fn any_env_value_and_a_repeated_name_load() {
        let config = ProcessConfig {
            env: Some(vec!["A=1".into(), "D=x\u{7f}y\u{1b}[2J".into(), "A=2".into()]),
            ..ProcessConfig::default()
        };
        let text = defaults(&config, &[]).unwrap();
        let parsed: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let env = parsed["process"]["env"].as_table().unwrap();
        assert_eq!(env["A"].as_str(), Some("2"), "the last value, as docker");
        assert_eq!(env["D"].as_str(), Some("x\u{7f}y\u{1b}[2J"));
    }

    #[test]
    fn a_fifo_passwd_is_not_opened() {
        // An image's /etc/passwd as a FIFO: opening it to read would block
        // the launcher forever (nothing writes it).
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        nix::unistd::mkfifo(&dir.path().join("etc/passwd"), Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        let layers = vec![dir.path().to_path_buf()];
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(user_ids("app", &layers)).unwrap());
        let got = rx.recv_timeout(std::time::Duration::from_secs(5)).expect("the lookup returns");
        assert!(got.is_err(), "{got:?}");
    }

    #[test]
    fn a_symlinked_passwd_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("etc/passwd")).unwrap();
        assert!(user_ids("root", &[dir.path().to_path_buf()]).is_err());
    }
}
