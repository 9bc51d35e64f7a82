//! cgroupfs access: control files, cgroup directories and member pids, each
//! failure naming the operation and the path.
//!
//! The three operations whose effect cgroupfs makes its own (mkdir fills the
//! directory with control files, rmdir and writes are refused by its rules)
//! go through `kernel`: [`real`] in the program; in the unit tests, the fake
//! kernel of `tests/fake.rs`, over a temporary directory, since a plain
//! directory cannot populate a new cgroup or refuse a write with EBUSY, and
//! the drivers' behaviour under those rules is what those tests check. The
//! choice is made once, here, at compile time; no production function holds
//! a test hook.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::limits::Write;
#[cfg(test)]
use super::tests::fake::hooked as kernel;
use crate::error::{Result, SetupError};
#[cfg(not(test))]
use real as kernel;

/// cgroupfs's operations on the real file system.
pub mod real {
    use std::io::Write as _;
    use std::path::Path;

    pub fn write(path: &Path, value: &str) -> std::io::Result<()> {
        std::fs::OpenOptions::new().write(true).truncate(true).open(path)?.write_all(value.as_bytes())
    }

    pub fn mkdir(dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir(dir)
    }

    pub fn rmdir(dir: &Path) -> std::io::Result<()> {
        std::fs::remove_dir(dir)
    }
}

/// Write `value` to `dir/file` in one write(2), as cgroupfs expects.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    kernel::write(&path, value)
        .map_err(|e| SetupError::io(format!("write {value:?} to {}", path.display()), &e))
}

pub fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|e| SetupError::io(format!("read {}", path.display()), &e))
}

/// The pids listed in `dir/cgroup.procs` (empty when it cannot be read).
pub fn pids(dir: &Path) -> Vec<i32> {
    read(dir, "cgroup.procs")
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// The words of a list file (`cgroup.controllers`, `cgroup.subtree_control`).
pub fn words(dir: &Path, file: &str) -> Result<Vec<String>> {
    Ok(read(dir, file)?.split_whitespace().map(str::to_owned).collect())
}

pub fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

pub fn mkdir(dir: &Path) -> Result<()> {
    kernel::mkdir(dir).map_err(|e| SetupError::io(format!("create cgroup {}", dir.display()), &e))
}

pub fn rmdir(dir: &Path) -> Result<()> {
    kernel::rmdir(dir).map_err(|e| SetupError::io(format!("remove cgroup {}", dir.display()), &e))
}

/// Remove a cgroup directory, retrying while the kernel still counts exiting
/// members (EBUSY) and calling `nudge` (a kill) between tries, until
/// `deadline`. A directory already gone counts as removed.
pub fn rmdir_patiently(dir: &Path, deadline: Instant, mut nudge: impl FnMut()) -> Result<()> {
    let mut pause = Duration::from_micros(500);
    loop {
        match rmdir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.errno == Some(Errno::ENOENT) => return Ok(()),
            Err(e) if e.errno == Some(Errno::EBUSY) && Instant::now() < deadline => {
                nudge();
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => {
                let left = pids(dir);
                return Err(if left.is_empty() {
                    e
                } else {
                    e.detail(format!("processes still in it: {left:?}"))
                });
            }
        }
    }
}

/// Create the cgroup `dir` and any missing parents below `mount`, outermost
/// first, calling `prepare(dir, is_last)` on each new one. Returns what it
/// created; on failure removes it again. An existing `dir` is an error: we
/// only ever remove cgroups we created.
pub fn create_chain(
    mount: &Path,
    dir: &Path,
    mut prepare: impl FnMut(&Path, bool) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    if dir.exists() {
        return Err(SetupError::sys(format!("create cgroup {}", dir.display()), Errno::EEXIST)
            .fix("another sandbox uses this cgroup; choose another linux.cgroupsPath or name"));
    }
    let mut missing = vec![dir.to_path_buf()];
    while let Some(parent) = missing.last().and_then(|d| d.parent()).filter(|p| !p.exists()) {
        if !parent.starts_with(mount) || parent == mount {
            return Err(SetupError::sys(format!("create cgroup {}", dir.display()), Errno::ENOENT)
                .detail(format!("the hierarchy is not mounted at {}", mount.display())));
        }
        missing.push(parent.to_path_buf());
    }
    missing.reverse();
    let last = missing.len() - 1;
    let mut created = Vec::new();
    for (i, d) in missing.into_iter().enumerate() {
        let step = mkdir(&d).and_then(|()| {
            created.push(d.clone());
            prepare(&d, i == last)
        });
        if let Err(e) = step {
            for c in created.iter().rev() {
                let _ = rmdir(c);
            }
            return Err(e);
        }
    }
    Ok(created)
}

/// Cgroups below `dir` (made inside the sandbox), deepest first.
pub fn descendants(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(descendants(&entry.path()));
                out.push(entry.path());
            }
        }
    }
    out
}

/// Apply one setting's writes in `dir`: for each, the first file that exists
/// gets its value. On failure, the human reason (for an error or a skip line).
pub fn apply(dir: &Path, writes: &[Write]) -> std::result::Result<(), String> {
    for w in writes {
        let Some((file, value)) = w.choices.iter().find(|(f, _)| exists(dir, f)) else {
            let names: Vec<&str> = w.choices.iter().map(|(f, _)| *f).collect();
            return Err(format!(
                "no {} in {} ({})",
                names.join(" or "),
                dir.display(),
                absent_hint(names[0])
            ));
        };
        write(dir, file, value).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Why a control file of an enabled controller can be missing.
fn absent_hint(file: &str) -> &'static str {
    match file {
        "memory.swap.max" | "memory.memsw.limit_in_bytes" => {
            "swap accounting is off: a kernel without it, or booted with swapaccount=0"
        }
        "io.bfq.weight" | "blkio.weight" => "no I/O scheduler with weights: select bfq for the disks",
        "cpu.max" | "cpu.cfs_quota_us" => "the kernel lacks CFS bandwidth control",
        _ => "the kernel does not offer it",
    }
}
