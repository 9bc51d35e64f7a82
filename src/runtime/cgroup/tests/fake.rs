//! A fake cgroupfs over a temporary directory: every hierarchy is a
//! directory the fake knows the kind of. mkdir fills a new cgroup with the
//! control files a kernel would show; writes follow the kernel's rules the
//! drivers depend on (no-internal-processes, controllers handed down by
//! `cgroup.subtree_control`, moving a pid out of its old cgroup, rmdir only
//! of an empty cgroup); every write is logged for the tests to read back.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;

use crate::runtime::cgroup::files::real;

/// The operations of cgroupfs a fake kernel implements.
pub trait Kernel {
    fn mkdir(&self, dir: &Path) -> io::Result<()>;
    fn rmdir(&self, dir: &Path) -> io::Result<()>;
    fn write(&self, file: &Path, value: &str) -> io::Result<()>;
}

thread_local! {
    /// Per thread: each test runs on its own, so parallel tests do not see
    /// each other's fakes.
    static KERNEL: RefCell<Option<Rc<dyn Kernel>>> = const { RefCell::new(None) };
}

/// Route this thread's cgroupfs operations to `kernel` until the guard drops.
fn install(kernel: Rc<dyn Kernel>) -> Installed {
    KERNEL.with(|k| *k.borrow_mut() = Some(kernel));
    Installed
}

pub struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        KERNEL.with(|k| *k.borrow_mut() = None);
    }
}

/// What `files` calls in the unit tests: the installed fake kernel, or the
/// real file system when none is (the tests against this machine's cgroups).
pub mod hooked {
    use std::path::Path;

    use super::{KERNEL, Kernel, real};

    fn with<T>(f: impl FnOnce(&dyn Kernel) -> T) -> Option<T> {
        let kernel = KERNEL.with(|k| k.borrow().clone());
        kernel.map(|k| f(&*k))
    }

    pub fn write(path: &Path, value: &str) -> std::io::Result<()> {
        with(|k| k.write(path, value)).unwrap_or_else(|| real::write(path, value))
    }

    pub fn mkdir(dir: &Path) -> std::io::Result<()> {
        with(|k| k.mkdir(dir)).unwrap_or_else(|| real::mkdir(dir))
    }

    pub fn rmdir(dir: &Path) -> std::io::Result<()> {
        with(|k| k.rmdir(dir)).unwrap_or_else(|| real::rmdir(dir))
    }
}

/// What the fake kernel supports, as the tests vary it.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    /// Swap accounting: `memory.memsw.limit_in_bytes` (v1), `memory.swap.max` (v2).
    pub swap: bool,
    /// v1 blkio.weight (CFQ, gone from modern kernels).
    pub cfq: bool,
    /// BFQ's weight: v1 blkio.bfq.weight (as here), v2 io.bfq.weight.
    pub bfq: bool,
}

/// This machine: swap accounting, BFQ, no CFQ.
pub const ALL: Features = Features { swap: true, cfq: false, bfq: true };

#[derive(Clone, Debug)]
enum Kind {
    V1(Vec<String>),
    V2(BTreeSet<String>),
}

pub struct Fake {
    pub tmp: tempfile::TempDir,
    features: Features,
    kinds: RefCell<Vec<(PathBuf, Kind)>>,
    /// Every write that went through: (path relative to the temp dir, value).
    pub log: RefCell<Vec<(String, String)>>,
}

impl Fake {
    pub fn new(features: Features) -> Rc<Fake> {
        Rc::new(Fake {
            tmp: tempfile::tempdir().unwrap(),
            features,
            kinds: RefCell::default(),
            log: RefCell::default(),
        })
    }

    pub fn install(self: &Rc<Self>) -> Installed {
        install(self.clone())
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel.trim_start_matches('/'))
    }

    /// Mount a v1 hierarchy at `<tmp>/<dir>` with these controllers.
    pub fn v1(&self, dir: &str, controllers: &[&str]) -> PathBuf {
        let mount = self.path(dir);
        self.kinds
            .borrow_mut()
            .push((mount.clone(), Kind::V1(controllers.iter().map(|c| (*c).to_owned()).collect())));
        self.cgroup(&mount);
        mount
    }

    /// Mount a cgroup2 hierarchy at `<tmp>/<dir>` whose root offers `controllers`.
    pub fn v2(&self, dir: &str, controllers: &[&str]) -> PathBuf {
        let mount = self.path(dir);
        let offered = controllers.iter().map(|c| (*c).to_owned()).collect();
        self.kinds.borrow_mut().push((mount.clone(), Kind::V2(offered)));
        self.cgroup(&mount);
        mount
    }

    /// An existing cgroup (and its missing parents), as some other party made it.
    pub fn cgroup(&self, dir: &Path) {
        let mut missing = vec![dir.to_path_buf()];
        while let Some(p) = missing.last().unwrap().parent().filter(|p| !p.exists()) {
            missing.push(p.to_path_buf());
        }
        for d in missing.iter().rev() {
            fs::create_dir_all(d).unwrap();
            self.populate(d);
        }
    }

    #[allow(clippy::unused_self)] // reads as the fake's, like `set`
    pub fn get(&self, dir: &Path, file: &str) -> String {
        fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("read {}/{file}: {e}", dir.display()))
    }

    /// Set a file directly, as the kernel or another party would.
    #[allow(clippy::unused_self)]
    pub fn set(&self, dir: &Path, file: &str, value: &str) {
        fs::write(dir.join(file), value).unwrap();
    }

    /// The values written to files whose relative path ends with `suffix`.
    pub fn writes(&self, suffix: &str) -> Vec<String> {
        self.log.borrow().iter().filter(|(p, _)| p.ends_with(suffix)).map(|(_, v)| v.clone()).collect()
    }

    /// The position in the log of the first write to a file ending with `suffix`.
    pub fn order(&self, suffix: &str) -> usize {
        self.log
            .borrow()
            .iter()
            .position(|(p, _)| p.ends_with(suffix))
            .unwrap_or_else(|| panic!("no write to {suffix}"))
    }

    /// Every directory under the temp dir, relative, sorted.
    pub fn dirs(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for e in fs::read_dir(dir).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    out.push(e.path().strip_prefix(base).unwrap().display().to_string());
                    walk(&e.path(), base, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.tmp.path(), self.tmp.path(), &mut out);
        out.sort();
        out
    }

    fn kind(&self, path: &Path) -> (PathBuf, Kind) {
        let kinds = self.kinds.borrow();
        let (mount, kind) =
            kinds.iter().find(|(m, _)| path.starts_with(m)).expect("a path inside a fake hierarchy");
        (mount.clone(), kind.clone())
    }

    /// Create the control files a kernel shows in `dir` (keeping existing values).
    fn populate(&self, dir: &Path) {
        let (mount, kind) = self.kind(dir);
        let mut files: Vec<(&str, &str)> = vec![("cgroup.procs", "")];
        let controllers: Vec<String> = match &kind {
            Kind::V1(c) => {
                files.extend([("tasks", ""), ("notify_on_release", "0"), ("cgroup.clone_children", "0")]);
                c.clone()
            }
            Kind::V2(root) => {
                let offered: Vec<String> = if dir == mount {
                    root.iter().cloned().collect()
                } else {
                    words(&dir.parent().unwrap().join("cgroup.subtree_control"))
                };
                fs::write(dir.join("cgroup.controllers"), offered.join(" ")).unwrap();
                files.extend([("cgroup.subtree_control", ""), ("cgroup.events", "populated 0\nfrozen 0\n")]);
                if dir != mount {
                    files.extend([("cgroup.kill", ""), ("cgroup.freeze", "0"), ("cgroup.type", "domain")]);
                }
                offered.iter().map(|c| format!("v2:{c}")).collect()
            }
        };
        for c in &controllers {
            files.extend(controller_files(c, dir == mount, self.features));
        }
        for (name, value) in files {
            if !dir.join(name).exists() {
                fs::write(dir.join(name), value).unwrap();
            }
        }
        if let Kind::V2(_) = kind {
            Fake::prune_v2(dir);
        }
    }

    /// Drop the files of controllers a v2 cgroup no longer has.
    fn prune_v2(dir: &Path) {
        let have = words(&dir.join("cgroup.controllers"));
        for e in fs::read_dir(dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let prefix = name.split('.').next().unwrap_or_default().to_owned();
            if e.file_type().unwrap().is_file() && prefix != "cgroup" && !have.contains(&prefix) {
                fs::remove_file(e.path()).unwrap();
            }
        }
    }

    fn subtree_control(&self, dir: &Path, mount: &Path, value: &str) -> io::Result<()> {
        let offered = words(&dir.join("cgroup.controllers"));
        let mut now: BTreeSet<String> = words(&dir.join("cgroup.subtree_control")).into_iter().collect();
        for token in value.split_whitespace() {
            let (op, c) = token.split_at(1);
            if op == "+" && !offered.iter().any(|o| o == c) {
                return Err(Errno::ENOENT.into());
            }
            // The no-internal-processes rule, as the kernel applies it:
            // domain controllers are refused in a populated cgroup, threaded
            // ones are let through (and the cgroup becomes a thread root).
            let threaded = matches!(c, "cpu" | "cpuset" | "pids" | "perf_event");
            if op == "+" && dir != mount && !threaded && !words(&dir.join("cgroup.procs")).is_empty() {
                return Err(Errno::EBUSY.into());
            }
            if op == "+" {
                now.insert(c.to_owned())
            } else {
                now.remove(c)
            };
        }
        fs::write(dir.join("cgroup.subtree_control"), now.into_iter().collect::<Vec<_>>().join(" "))?;
        for e in fs::read_dir(dir)?.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            self.populate(&e.path());
        }
        Ok(())
    }

    fn attach(dir: &Path, mount: &Path, kind: &Kind, pid: &str) -> io::Result<()> {
        if matches!(kind, Kind::V2(_))
            && dir != mount
            && !words(&dir.join("cgroup.subtree_control")).is_empty()
        {
            return Err(Errno::EBUSY.into());
        }
        for procs in files_named(mount, "cgroup.procs") {
            let kept: Vec<String> = words(&procs).into_iter().filter(|p| p != pid).collect();
            fs::write(&procs, lines(&kept))?;
        }
        let mut list = words(&dir.join("cgroup.procs"));
        list.push(pid.to_owned());
        fs::write(dir.join("cgroup.procs"), lines(&list))
    }
}

impl Kernel for Fake {
    fn mkdir(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir(dir)?;
        self.populate(dir);
        Ok(())
    }

    fn rmdir(&self, dir: &Path) -> io::Result<()> {
        if !dir.exists() {
            return Err(Errno::ENOENT.into());
        }
        let entries: Vec<_> = fs::read_dir(dir)?.flatten().collect();
        if entries.iter().any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            || !words(&dir.join("cgroup.procs")).is_empty()
        {
            return Err(Errno::EBUSY.into());
        }
        for e in entries {
            fs::remove_file(e.path())?;
        }
        fs::remove_dir(dir)
    }

    fn write(&self, file: &Path, value: &str) -> io::Result<()> {
        if !file.exists() {
            return Err(Errno::ENOENT.into());
        }
        let (mount, kind) = self.kind(file);
        let dir = file.parent().unwrap();
        match (file.file_name().unwrap().to_str().unwrap(), &kind) {
            ("cgroup.subtree_control", Kind::V2(_)) => self.subtree_control(dir, &mount, value)?,
            ("cgroup.procs", _) => Fake::attach(dir, &mount, &kind, value.trim())?,
            ("cgroup.kill", _) => {
                // The members die: gone from every hierarchy.
                let dead: Vec<String> =
                    files_named(dir, "cgroup.procs").iter().flat_map(|p| words(p)).collect();
                for (m, _) in self.kinds.borrow().iter() {
                    for procs in files_named(m, "cgroup.procs") {
                        let kept: Vec<String> =
                            words(&procs).into_iter().filter(|p| !dead.contains(p)).collect();
                        fs::write(&procs, lines(&kept))?;
                    }
                }
            }
            _ => fs::write(file, value)?,
        }
        let rel = file.strip_prefix(self.tmp.path()).unwrap().display().to_string();
        self.log.borrow_mut().push((rel, value.to_owned()));
        Ok(())
    }
}

fn words(path: &Path) -> Vec<String> {
    fs::read_to_string(path).unwrap_or_default().split_whitespace().map(str::to_owned).collect()
}

/// Every file called `name` at or below `dir`.
fn files_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = vec![dir.join(name)];
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(files_named(&e.path(), name));
        }
    }
    out.retain(|p| p.exists());
    out
}

/// A pid list as cgroup.procs shows it: one a line.
fn lines(pids: &[String]) -> String {
    pids.iter().flat_map(|p| [p.as_str(), "\n"]).collect()
}

/// The files controller `c` ("v2:NAME" for v2) shows in a cgroup (`top`:
/// the hierarchy's root), with the optional ones this fake kernel has.
fn controller_files(c: &str, top: bool, f: Features) -> Vec<(&'static str, &'static str)> {
    let mut files: Vec<(&str, &str)> = match c {
        "memory" => vec![
            ("memory.limit_in_bytes", "9223372036854771712"),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"),
        ],
        "cpu" => {
            vec![("cpu.shares", "1024"), ("cpu.cfs_quota_us", "-1"), ("cpu.cfs_period_us", "100000")]
        }
        "pids" | "v2:pids" => vec![("pids.max", "max"), ("pids.current", "0")],
        "freezer" => vec![("freezer.state", "THAWED")],
        "cpuset" => {
            vec![("cpuset.cpus", if top { "0-1" } else { "" }), ("cpuset.mems", if top { "0" } else { "" })]
        }
        "v2:memory" => {
            vec![("memory.max", "max"), ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")]
        }
        "v2:cpu" => vec![("cpu.max", "max 100000"), ("cpu.weight", "100")],
        "v2:io" => vec![("io.weight", "default 100")],
        _ => vec![],
    };
    match c {
        "memory" if f.swap => files.push(("memory.memsw.limit_in_bytes", "9223372036854771712")),
        "v2:memory" if f.swap => files.push(("memory.swap.max", "max")),
        "blkio" if f.cfq => files.push(("blkio.weight", "500")),
        "blkio" if f.bfq => files.push(("blkio.bfq.weight", "100")),
        "v2:io" if f.bfq => files.push(("io.bfq.weight", "100")),
        _ => {}
    }
    files
}
