//! The OCI lifecycle (runc's command line: `create`, `start`, `state`,
//! `kill`, `delete`, `exec`, `ps`, `pause`, `resume`, `update`, `list`)
//! over a state directory, with no daemon: each verb is a process that
//! locks the container's directory, reads its record, acts, and writes the
//! record back atomically.
//!
//! ```text
//! ROOT/                   --root; /run/sandbox, or $XDG_RUNTIME_DIR/sandbox
//!   ID/                   one per container, 0700; flock(2)ed by each verb
//!     state.json          the Record (state.rs)
//!     config.json         the spec as created (exec joins with its confinement)
//!     start.sock          the start gate while `created` (runtime/process/gate.rs)
//! ```
//!
//! The container's process outlives `create`: the caller (containerd's shim,
//! conmon) is its subreaper and reaps it. `delete` removes the cgroups and
//! the directory; a `create` killed at any step leaves a record that reads
//! `stopped`, and the watcher has already removed what it made.

pub mod create;
pub mod delete;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod kill;
pub mod log;
pub mod named;
pub mod pause;
pub mod start;
pub mod state;
pub mod update;
pub mod wait;

use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;

use crate::error::{Result, SetupError};
use state::Record;

/// The prefix of a directory being prepared aside: no id has an `@`.
const ASIDE: &str = "@new-";

/// The state directory of all containers (`--root`).
pub struct Root {
    pub dir: PathBuf,
}

/// One container, its directory locked for as long as this value lives.
pub struct Container {
    pub dir: PathBuf,
    pub record: Record,
    _lock: Flock<OwnedFd>,
}

impl Root {
    /// `--root`, else `/run/sandbox` for root and `$XDG_RUNTIME_DIR/sandbox`
    /// for others (runc's choice).
    pub fn default_dir() -> PathBuf {
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(xdg) if !nix::unistd::geteuid().is_root() => Path::new(&xdg).join("sandbox"),
            _ => PathBuf::from("/run/sandbox"),
        }
    }

    pub fn new(dir: PathBuf) -> Root {
        Root { dir }
    }

    /// Make the directory of a new container `id` and lock it; an id in use
    /// is an error.
    pub fn make(&self, id: &str) -> Result<(PathBuf, Flock<OwnedFd>)> {
        check_id(id)?;
        self.make_root()?;
        let dir = self.dir.join(id);
        match nix::unistd::mkdir(&dir, Mode::from_bits_truncate(0o700)) {
            Ok(()) => {}
            Err(nix::errno::Errno::EEXIST) => {
                return Err(SetupError::new(format!("create container {id}"))
                    .detail("a container with that id exists")
                    .fix(format!("choose another id, or `sandbox delete {id}` first")));
            }
            Err(e) => return Err(SetupError::sys(format!("create {}", dir.display()), e)),
        }
        let lock = lock(&dir)?;
        Ok((dir, lock))
    }

    /// A new, empty directory in which to prepare container `id` before
    /// [`Root::install`] puts it in place; those of processes that died
    /// before installing theirs are removed first.
    pub fn aside(&self, id: &str) -> Result<PathBuf> {
        self.make_root()?;
        self.sweep();
        let dir = self.dir.join(format!("{ASIDE}{id}.{}", std::process::id()));
        nix::unistd::mkdir(&dir, Mode::from_bits_truncate(0o700))
            .map_err(|e| SetupError::sys(format!("create {}", dir.display()), e))?;
        Ok(dir)
    }

    /// Rename a prepared directory to container `id`'s, unless `id` exists.
    pub fn install(&self, aside: &Path, id: &str) -> Result<()> {
        let cwd = nix::fcntl::AT_FDCWD;
        nix::fcntl::renameat2(cwd, aside, cwd, &self.dir.join(id), nix::fcntl::RenameFlags::RENAME_NOREPLACE)
            .map_err(|e| SetupError::sys(format!("create container {id}"), e))
    }

    /// Remove what processes that died before installing left aside.
    fn sweep(&self) {
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let pid = file.strip_prefix(ASIDE).and_then(|rest| rest.rsplit('.').next()?.parse::<i32>().ok());
            if pid.is_some_and(|p| std::fs::metadata(format!("/proc/{p}")).is_err()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    fn make_root(&self) -> Result<()> {
        // 0700: the ids and records are the caller's business alone.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| SetupError::io(format!("create the state directory {}", self.dir.display()), &e))
    }

    /// Whether container `id` has a directory here.
    pub fn exists(&self, id: &str) -> bool {
        check_id(id).is_ok() && self.dir.join(id).is_dir()
    }

    /// Open and lock container `id`.
    pub fn open(&self, id: &str) -> Result<Container> {
        check_id(id)?;
        let dir = self.dir.join(id);
        let lock = lock(&dir).map_err(|e| match e.errno {
            Some(nix::errno::Errno::ENOENT) => SetupError::new(format!("find container {id}"))
                .detail("container does not exist")
                .fix("`sandbox list` shows the containers of this --root"),
            _ => e,
        })?;
        // A create holds the lock from mkdir to its last write: a directory
        // we could lock without a record is what a create killed before
        // its first write left, a container as stopped as can be.
        let record = match Record::read(&dir) {
            Err(_) if !dir.join("state.json").exists() => Record::orphan(id),
            read => read?,
        };
        Ok(Container { dir, record, _lock: lock })
    }

    /// Every container's record, sorted by id (unlocked: records are
    /// replaced atomically). A directory without a readable record is
    /// skipped; what dead processes left aside is removed.
    pub fn list(&self) -> Vec<Record> {
        self.sweep();
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut records: Vec<Record> =
            entries.flatten().filter_map(|e| Record::read(&e.path()).ok()).collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        records
    }
}

impl Container {
    pub fn save(&self) -> Result<()> {
        self.record.write(&self.dir)
    }

    /// Remove the directory (the lock goes with the value).
    pub fn remove_dir(self) -> Result<()> {
        std::fs::remove_dir_all(&self.dir)
            .map_err(|e| SetupError::io(format!("remove {}", self.dir.display()), &e))
    }

    /// The spec it was created with (its copy, not the bundle's file, which
    /// may have changed since).
    pub fn spec(&self) -> Result<oci_spec::runtime::Spec> {
        let path = self.dir.join("config.json");
        oci_spec::runtime::Spec::load(&path)
            .map_err(|e| SetupError::new(format!("read {}", path.display())).detail(e.to_string()))
    }

    pub fn gate_path(&self) -> PathBuf {
        self.dir.join("start.sock")
    }
}

/// runc's rule: letters, digits, `_+-.`, not `.` or `..`; at most 1024
/// bytes. An id is a directory name under --root, so nothing else is
/// let through.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        return Ok(());
    }
    Err(SetupError::new("check the container id")
        .detail(format!("{id:?} is not a valid id"))
        .fix("use letters, digits and _+-. only"))
}

/// An exclusive flock on the container's directory, waited for: verbs on
/// one container run one at a time.
fn lock(dir: &Path) -> Result<Flock<OwnedFd>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(dir, flags, Mode::empty())
        .map_err(|e| SetupError::sys(format!("open {}", dir.display()), e))?;
    Flock::lock(fd, FlockArg::LockExclusive)
        .map_err(|(_, e)| SetupError::sys(format!("lock {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_cannot_leave_the_state_directory() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "a\0b", "é"] {
            assert!(super::check_id(bad).is_err(), "{bad:?}");
        }
        for good in ["abc", "a-b_c.d+e", "0123456789abcdef", "..."] {
            assert!(super::check_id(good).is_ok(), "{good:?}");
        }
    }
}
