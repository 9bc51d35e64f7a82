//! When a limit cannot be applied because the cgroup would be made where
//! the caller may not write (a rootless caller with no delegated cgroup),
//! the refusal says how to get one. Found by asking the kernel whether we
//! may write the directory the cgroup would be made in, so the advice is
//! given only when that is the cause (not for a controller the kernel
//! lacks, a read-only cgroupfs, or a root caller).

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::{AccessFlags, access};

use super::hierarchy::Hierarchy;

/// Where the sandbox's cgroup would be made in directories not the caller's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Undelegated {
    /// The v2 directory, when v2 was to take limits.
    pub v2: Option<PathBuf>,
    /// The v1 hierarchies that were to take limits.
    pub v1: Vec<Hierarchy>,
}

impl Undelegated {
    /// Of these (hierarchy, cgroup directory) pairs, which the caller may
    /// not create a cgroup in: the deepest existing directory at or above
    /// each cgroup is not writable (EACCES, EPERM).
    pub fn find(v2: Option<(&Path, &Path)>, v1: &[(&Hierarchy, PathBuf)]) -> Undelegated {
        let not_ours = |mount: &Path, dir: &Path| {
            let existing = existing(mount, dir);
            matches!(access(&existing, AccessFlags::W_OK), Err(Errno::EACCES | Errno::EPERM))
                .then_some(existing)
        };
        Undelegated {
            v2: v2.and_then(|(mount, dir)| not_ours(mount, dir)),
            v1: v1
                .iter()
                .filter(|(h, dir)| not_ours(&h.mount, dir).is_some())
                .map(|(h, _)| (*h).clone())
                .collect(),
        }
    }

    /// How to get a cgroup (and the way out without one), for `uid`; `None`
    /// when every cgroup could be made.
    pub fn fix(&self, uid: u32) -> Option<String> {
        if self.v2.is_none() && self.v1.is_empty() {
            return None;
        }
        let mut ways = Vec::new();
        if let Some(dir) = &self.v2 {
            ways.push(format!(
                "{} is not yours: run the launcher in a delegated scope, \
                 `systemd-run --user --scope -p Delegate=yes sandbox run …`",
                dir.display()
            ));
        }
        let mut path = "NAME below a cgroup you own".to_owned();
        if let Some(first) = self.v1.first() {
            let own = format!("user-{uid}");
            let mounts: Vec<String> = self.v1.iter().map(|h| h.mount.display().to_string()).collect();
            let these = if mounts.len() == 1 { "hierarchy {} is" } else { "hierarchies {} are" };
            ways.push(format!(
                "the cgroup v1 {} not yours, and systemd delegates controllers only on cgroup v2 \
                 (there, `systemd-run --user --scope -p Delegate=yes sandbox run …` gives the launcher one): \
                 as root, `mkdir H/{own} && chown -R {uid} H/{own}` for each hierarchy H, then start the \
                 launcher in them (`echo $$ > H/{own}/cgroup.procs` from its shell)",
                these.replace("{}", &mounts.join(", "))
            ));
            path = format!("`{}`", first.root.join(own).join("NAME").display());
        }
        ways.push(format!(
            "or run an OCI bundle (`sandbox bundle`) whose linux.cgroupsPath is {path} \
             (a profile has no key for it)"
        ));
        ways.push("or set `enforce = \"best-effort\"` under [limits] to run without these limits".to_owned());
        Some(format!("no cgroup is delegated to uid {uid}: {}", ways.join("; ")))
    }
}

/// The deepest existing directory at or above `dir`, not above `mount`.
fn existing(mount: &Path, dir: &Path) -> PathBuf {
    let mut at = dir.to_path_buf();
    while !at.exists() && at != mount && at.pop() {}
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(mount: &str, controller: &str) -> Hierarchy {
        Hierarchy {
            mount: mount.into(),
            root: "/".into(),
            current: "/".into(),
            controllers: vec![controller.to_owned()],
        }
    }

    #[test]
    fn the_fix_names_each_way_to_a_cgroup_for_the_hierarchies_denied() {
        assert_eq!(Undelegated::default().fix(1000), None, "nothing denied: no advice");
        let hybrid = Undelegated {
            v2: None,
            v1: vec![v1("/sys/fs/cgroup/memory", "memory"), v1("/sys/fs/cgroup/pids", "pids")],
        };
        let fix = hybrid.fix(1000).unwrap();
        assert!(
            fix.starts_with(
                "no cgroup is delegated to uid 1000: the cgroup v1 hierarchies /sys/fs/cgroup/memory, \
                 /sys/fs/cgroup/pids are not yours"
            ),
            "{fix}"
        );
        assert!(fix.contains("`mkdir H/user-1000 && chown -R 1000 H/user-1000`"), "{fix}");
        assert!(fix.contains("linux.cgroupsPath is `/user-1000/NAME`"), "{fix}");
        assert!(fix.contains("a profile has no key for it"), "{fix}");
        assert!(
            fix.ends_with("set `enforce = \"best-effort\"` under [limits] to run without these limits"),
            "{fix}"
        );
        let v2 = Undelegated { v2: Some("/sys/fs/cgroup/user.slice".into()), v1: Vec::new() };
        let fix = v2.fix(1000).unwrap();
        assert!(fix.contains("/sys/fs/cgroup/user.slice is not yours: run the launcher in a delegated scope, `systemd-run --user --scope -p Delegate=yes sandbox run …`"), "{fix}");
        assert!(
            !fix.contains("cgroup v1") && fix.contains("linux.cgroupsPath is NAME below a cgroup you own"),
            "{fix}"
        );
        let one = Undelegated { v2: None, v1: vec![v1("/sys/fs/cgroup/memory", "memory")] };
        assert!(one.fix(7).unwrap().contains("hierarchy /sys/fs/cgroup/memory is not yours"));
    }

    #[test]
    fn the_existing_directory_is_the_deepest_one_there() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        assert_eq!(existing(dir.path(), &deep), dir.path());
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        assert_eq!(existing(dir.path(), &deep), dir.path().join("a"));
        // Root may write anywhere: nothing is denied to it.
        if nix::unistd::geteuid().is_root() {
            let h = v1(&dir.path().display().to_string(), "memory");
            assert_eq!(Undelegated::find(None, &[(&h, deep)]), Undelegated::default());
        }
    }
}
