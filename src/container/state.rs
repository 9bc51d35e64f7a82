//! A container's record in its state directory (`state.json`), written
//! atomically (a temporary file renamed over it), so a runtime killed at
//! any moment leaves the old record or the new one, never half of one.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, SetupError};

/// The OCI lifecycle's states, and `creating`: the record of a `create`
/// still running (or killed: then the container is as good as stopped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// A process, named so that a reused pid is not mistaken for it: its start
/// time (field 22 of /proc/PID/stat, in clock ticks since boot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proc {
    pub pid: i32,
    pub start: u64,
}

impl Proc {
    /// The process `pid` as it is now; `None` when there is none.
    pub fn of(pid: i32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (letter, ticks) = parse_stat(&stat)?;
        (letter != 'Z' && letter != 'X').then_some(Proc { pid, start: ticks })
    }

    /// Still running, and still the same process (not a zombie).
    pub fn alive(self) -> bool {
        self.pid > 0 && Proc::of(self.pid).is_some_and(|now| now.start == self.start)
    }
}

/// The state letter and start time of a /proc/PID/stat line. The command
/// name (field 2) may hold spaces and parentheses: fields are counted from
/// its last ')'.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let letter = fields.next()?.chars().next()?;
    let ticks = fields.nth(18)?.parse().ok()?;
    Some((letter, ticks))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub oci_version: String,
    pub status: Status,
    /// The container's process (its pid 1, as the host numbers it).
    pub process: Proc,
    /// The `create` that is making it, while `status` is `creating`.
    pub creator: Proc,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339, UTC.
    pub created: String,
    pub owner: String,
    /// Its cgroups, one per hierarchy, in removal order.
    pub cgroup_dirs: Vec<PathBuf>,
    /// Its namespaces, for a caller that cannot read its pid 1's (rootless).
    #[serde(default, skip_serializing_if = "crate::runtime::join::Namespaces::is_empty")]
    pub namespaces: crate::runtime::join::Namespaces,
    /// A sandbox run from a profile under a name (`run --name`, `run -d`);
    /// `None` for an OCI container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<crate::container::named::Named>,
}

impl Record {
    /// The status as it is now: a record says what was; a process that
    /// has ended (or a `create` killed half-way) makes it `stopped`.
    pub fn current_status(&self) -> Status {
        match self.status {
            Status::Creating if self.creator.alive() => Status::Creating,
            Status::Creating | Status::Stopped => Status::Stopped,
            s if self.process.alive() => s,
            _ => Status::Stopped,
        }
    }

    /// The OCI `state` JSON (runtime-spec "Query State"), with runc's
    /// `rootfs`, `created` and `owner`, which containerd reads.
    pub fn oci_state(&self) -> serde_json::Value {
        let status = self.current_status();
        let pid = if matches!(status, Status::Stopped | Status::Creating) { 0 } else { self.process.pid };
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status.name(),
            "pid": pid,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": self.annotations,
        })
    }

    /// The record of a directory a killed create left before writing one.
    pub fn orphan(id: &str) -> Record {
        Record {
            id: id.to_owned(),
            oci_version: "1.0.2".to_owned(),
            status: Status::Stopped,
            process: Proc::default(),
            creator: Proc::default(),
            bundle: PathBuf::new(),
            rootfs: PathBuf::new(),
            annotations: BTreeMap::new(),
            created: String::new(),
            owner: String::new(),
            cgroup_dirs: Vec::new(),
            namespaces: crate::runtime::join::Namespaces::default(),
            sandbox: None,
        }
    }

    pub fn read(dir: &Path) -> Result<Record> {
        let path = dir.join("state.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| SetupError::io(format!("read {}", path.display()), &e))?;
        serde_json::from_str(&text)
            .map_err(|e| SetupError::new(format!("parse {}", path.display())).detail(e.to_string()))
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string(self).expect("a record serializes");
        write_atomically(&dir.join("state.json"), text.as_bytes())
    }
}

/// Write `path` so that a process killed at any moment leaves either its
/// old content or `bytes` (a temporary file renamed over it). Not synced
/// to disk: the state describes processes, which a reboot ends anyway
/// (runc's and crun's state directories live on /run for that reason).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let step = || format!("write {}", path.display());
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{}", std::process::id(), nanos.subsec_nanos()));
    // A new file, never one a symlink someone planted there points at
    // (--pid-file may name a directory others can write).
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(SetupError::io(step(), &e));
    }
    Ok(())
}

/// Now, as RFC 3339 in UTC with nanoseconds (`2026-11-30T19:40:42.123456789Z`).
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("1..=31");
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("1..=12");
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        let line = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(parse_stat(line), Some(('S', 987_654)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_787), (2026, 11, 30));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not_it() {
        let me = Proc::of(i32::try_from(std::process::id()).unwrap()).unwrap();
        assert!(me.alive());
        assert!(!Proc { start: me.start + 1, ..me }.alive());
        assert!(!Proc::default().alive());
    }

    #[test]
    fn a_killed_create_reads_as_stopped() {
        let dead = Proc { pid: i32::MAX, start: 1 };
        let rec = Record {
            id: "x".into(),
            oci_version: "1.2.0".into(),
            status: Status::Creating,
            process: Proc::default(),
            creator: dead,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            annotations: BTreeMap::new(),
            created: now_rfc3339(),
            owner: String::new(),
            cgroup_dirs: Vec::new(),
            namespaces: crate::runtime::join::Namespaces::default(),
            sandbox: None,
        };
        assert_eq!(rec.current_status(), Status::Stopped);
        assert_eq!(rec.oci_state()["pid"], 0);
        assert_eq!(
            Record { status: Status::Running, process: dead, ..rec }.current_status(),
            Status::Stopped
        );
    }
}
