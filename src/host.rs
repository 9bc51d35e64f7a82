//! The facts about the caller that a profile may refer to. Read once at the
//! edge (`HostContext::current`) so that everything after it is a pure
//! function of the profile and this value, and tests can fix it.

use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct HostContext {
    pub cwd: PathBuf,
    pub home: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub env: BTreeMap<String, String>,
}

impl HostContext {
    /// The calling process's working directory, ids and environment.
    pub fn current() -> HostContext {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let home = env.get("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
        HostContext {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            home,
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            env,
        }
    }

    /// A fixed context for tests and snapshots.
    pub fn fixed() -> HostContext {
        let env = [("HOME", "/home/dev"), ("TERM", "xterm-256color"), ("USER", "dev"), ("LANG", "C.UTF-8")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        HostContext {
            cwd: PathBuf::from("/home/dev/project"),
            home: PathBuf::from("/home/dev"),
            uid: 1000,
            gid: 1000,
            env,
        }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}
