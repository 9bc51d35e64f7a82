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
    /// The caller's first subordinate uid and gid ranges (/etc/subuid, /etc/subgid).
    pub subuid: Option<IdRange>,
    pub subgid: Option<IdRange>,
}

/// A range of ids: `count` ids from `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    pub start: u32,
    pub count: u32,
}

impl HostContext {
    /// The calling process's working directory, ids and environment.
    pub fn current() -> HostContext {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let home = env.get("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
        let uid = nix::unistd::geteuid().as_raw();
        // Files, not NSS: the same lookup newuidmap makes.
        let name = user_name(&std::fs::read_to_string("/etc/passwd").unwrap_or_default(), uid);
        let range = |file: &str| {
            subid_range(&std::fs::read_to_string(file).unwrap_or_default(), name.as_deref(), uid)
        };
        HostContext {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            home,
            uid,
            gid: nix::unistd::getegid().as_raw(),
            env,
            subuid: range("/etc/subuid"),
            subgid: range("/etc/subgid"),
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
            subuid: Some(IdRange { start: 100_000, count: 65_536 }),
            subgid: Some(IdRange { start: 100_000, count: 65_536 }),
        }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

/// The name of `uid` in passwd-format text.
fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.get(2)?.parse::<u32>().ok()? == uid).then(|| f[0].to_owned())
    })
}

/// The first `name:start:count` (or `uid:start:count`) line for this user.
pub fn subid_range(text: &str, name: Option<&str>, uid: u32) -> Option<IdRange> {
    let uid = uid.to_string();
    text.lines().find_map(|l| {
        let mut f = l.trim().split(':');
        let who = f.next()?;
        if Some(who) != name && who != uid {
            return None;
        }
        let start = f.next()?.parse().ok()?;
        let count = f.next()?.parse().ok().filter(|c| *c > 0)?;
        Some(IdRange { start, count })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_by_name_or_uid() {
        let text = "# comment\nalice:100000:65536\n1001:300000:1000\nbob:x:1\n";
        assert_eq!(subid_range(text, Some("alice"), 1000), Some(IdRange { start: 100_000, count: 65_536 }));
        assert_eq!(subid_range(text, Some("carol"), 1001), Some(IdRange { start: 300_000, count: 1000 }));
        assert_eq!(subid_range(text, Some("bob"), 1002), None, "malformed lines are no range");
        assert_eq!(
            user_name("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n", 1000).as_deref(),
            Some("alice")
        );
    }
}
