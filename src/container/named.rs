//! Named sandboxes: a profile's sandbox kept under a name in the same state
//! directory as OCI containers (`run --name`, `run -d`), so `exec`, `kill`
//! and `ps` work on it as on a container. What it adds to the record is
//! [`Named`]: the profile and command, the process that launched it and
//! records its end (the monitor of `run -d`, or the `sandbox run` itself),
//! and that end.
//!
//! ```text
//! ROOT/NAME/
//!   state.json        the Record, with `sandbox`: Named
//!   config.json       the compiled spec (the extension in its annotations)
//!   log, log.1        the output of a detached sandbox (log.rs), bounded
//!   attach.sock       its terminal, while it runs (attach.rs)
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::state::{Proc, Status, now_rfc3339, write_atomically};
use super::{Container, Root};
use crate::error::{Result, SetupError};
use crate::runtime::exit::{Exit, Failure};
use crate::runtime::launch::Launched;
use crate::spec::{Bundle, Extension};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    /// The profile as the caller named it (`-` for the built-in defaults).
    pub profile: String,
    pub command: Vec<String>,
    /// The process that launched the sandbox and records its end.
    pub monitor: Proc,
    /// Started with `run -d`: its output is in `log`.
    pub detached: bool,
    /// `--rm`: the monitor removes it when it ends.
    pub remove: bool,
    /// `-i`/`-t` with `-d`: its stdin is what `attach` types.
    #[serde(default)]
    pub interactive: bool,
    /// How it ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Ended>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// What `sandbox run` would have exited with (`wait` exits with it).
    pub code: i32,
    /// `exited`, `timed out`, `out of memory`, `failed`.
    pub how: String,
    pub finished: String,
}

/// Where a named sandbox is, for `ps` and the verbs that act on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Running,
    Paused,
    Exited(Ended),
    /// Its monitor died before recording an end (SIGKILL, say): the
    /// watcher has killed the sandbox, its status is unknown.
    Lost,
}

impl Phase {
    pub fn of(record: &super::state::Record) -> Phase {
        let named = record.sandbox.clone().unwrap_or_default();
        if let Some(ended) = named.ended {
            return Phase::Exited(ended);
        }
        match record.current_status() {
            Status::Creating | Status::Created => Phase::Starting,
            Status::Running => Phase::Running,
            Status::Paused => Phase::Paused,
            // Between its pid 1's end and the record of it.
            Status::Stopped if named.monitor.alive() => Phase::Running,
            Status::Stopped => Phase::Lost,
        }
    }

    pub fn text(&self) -> String {
        match self {
            Phase::Starting => "starting".into(),
            Phase::Running => "running".into(),
            Phase::Paused => "paused".into(),
            Phase::Exited(e) if e.how == "exited" => format!("exited ({})", e.code),
            Phase::Exited(e) => format!("{} ({})", e.how, e.code),
            Phase::Lost => "lost (its monitor was killed)".into(),
        }
    }

    pub fn ended(&self) -> bool {
        matches!(self, Phase::Exited(_) | Phase::Lost)
    }
}

/// A name for a sandbox run without `--name`: the profile's, and four
/// random hex digits (`dev-shell-3f9a`).
pub fn generate_name(profile: &str) -> String {
    let stem = Path::new(profile).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let stem: String =
        stem.chars().filter(|c| c.is_ascii_alphanumeric() || "_-.".contains(*c)).take(40).collect();
    // A name that starts like a flag (`-`) or a hidden file (`.`) is not one.
    let stem =
        if stem.starts_with(|c: char| c.is_ascii_alphanumeric()) { stem } else { "sandbox".to_owned() };
    let mut bytes = [0u8; 2];
    // The time's nanoseconds when /dev/urandom cannot be read: a clash is
    // an error naming it, never a shared sandbox.
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_err()
    {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bytes = u16::try_from(nanos.subsec_nanos() & 0xffff).unwrap_or(0).to_be_bytes();
    }
    format!("{stem}-{:02x}{:02x}", bytes[0], bytes[1])
}

/// Make sandbox `name`: its directory, its spec, a `creating` record that
/// names this process as creator and monitor. The directory is made aside
/// and renamed into place whole, so a `run` killed at any moment leaves a
/// registered sandbox or none. A name in use is an error naming it and
/// its state.
pub fn register(root: &Root, name: &str, bundle: &Bundle, named: Named) -> Result<()> {
    super::check_id(name)?;
    let me = Proc::of(i32::try_from(std::process::id()).expect("pids fit in i32")).unwrap_or_default();
    let aside = root.aside(name)?;
    let mut record = super::create::first_record(name, &root.dir.join(name), bundle);
    record.sandbox = Some(Named { monitor: me, ..named });
    let written = write_atomically(&aside.join("config.json"), crate::spec::to_json(&bundle.spec).as_bytes())
        .and_then(|()| record.write(&aside))
        .and_then(|()| root.install(&aside, name));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&aside);
        return Err(match root.open(name) {
            Ok(c) if c.record.sandbox.is_some() => SetupError::new(format!("start sandbox {name}"))
                .detail(format!("a sandbox named {name} exists ({})", Phase::of(&c.record).text()))
                .fix(format!("choose another --name, or `sandbox rm -f {name}` first")),
            _ => e,
        });
    }
    Ok(())
}

/// The bundle sandbox `name` was registered with, and its record: for the
/// monitor, which takes over as its creator and monitor.
pub fn take_over(root: &Root, name: &str) -> Result<(Bundle, Named)> {
    let mut c = root.open(name)?;
    let spec = c.spec()?;
    let ext = spec
        .annotations()
        .as_ref()
        .map(Extension::from_annotations)
        .transpose()
        .map_err(|e| SetupError::new(format!("read the spec of sandbox {name}")).detail(e))?
        .flatten()
        .ok_or_else(|| SetupError::new(format!("read the spec of sandbox {name}")).detail("no extension"))?;
    let me = Proc::of(i32::try_from(std::process::id()).expect("pids fit in i32")).unwrap_or_default();
    let bundle = Bundle { spec, ext, name: name.to_owned() };
    c.record.creator = me;
    c.record.cgroup_dirs = crate::runtime::launch::planned_cgroup_dirs(&bundle);
    if let Some(named) = c.record.sandbox.as_mut() {
        named.monitor = me;
    }
    c.save()?;
    let named = c.record.sandbox.clone().unwrap_or_default();
    Ok((bundle, named))
}

/// Record that its command runs.
pub fn started(root: &Root, name: &str, launched: &Launched) -> Result<()> {
    let mut c = root.open(name)?;
    c.record.status = Status::Running;
    c.record.process = Proc::of(launched.pid.as_raw()).unwrap_or_default();
    c.record.creator = Proc::default();
    c.record.cgroup_dirs.clone_from(&launched.cgroup_dirs);
    c.record.namespaces = launched.namespaces.clone();
    c.save()
}

/// Record how it ended; with `--rm`, or when it never started (a bad
/// command, a setup error: the caller was told), remove it instead. Its
/// processes and cgroups are gone already (the launcher's end).
pub fn ended(root: &Root, name: &str, outcome: &std::result::Result<Exit, Failure>) -> Result<()> {
    let c = root.open(name)?;
    let never_ran = c.record.status == Status::Creating;
    if never_ran || c.record.sandbox.as_ref().is_some_and(|n| n.remove) {
        return c.remove_dir();
    }
    record_end(c, outcome)
}

fn record_end(mut c: Container, outcome: &std::result::Result<Exit, Failure>) -> Result<()> {
    let (code, how) = match outcome {
        Ok(exit @ Exit::TimedOut) => (exit.code(), "timed out"),
        Ok(exit @ Exit::OutOfMemory(_)) => (exit.code(), "out of memory"),
        Ok(exit) => (exit.code(), "exited"),
        Err(failure) => (failure.code(), "failed"),
    };
    c.record.status = Status::Stopped;
    c.record.cgroup_dirs.clear();
    if let Some(named) = c.record.sandbox.as_mut() {
        named.ended = Some(Ended { code, how: how.to_owned(), finished: now_rfc3339() });
    }
    c.save()
}

/// Wait until `monitor` has exited, at most `timeout` (`None`: for ever);
/// whether it has. Through a pidfd, which does not take its pid from
/// whoever reaps it.
pub fn wait_gone(monitor: Proc, timeout: Option<std::time::Duration>) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let Ok(pidfd) = crate::sys::process::pidfd_open(nix::unistd::Pid::from_raw(monitor.pid)) else {
        return true;
    };
    // Opened after the check would pin another process that took the pid.
    if !monitor.alive() {
        return true;
    }
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return false;
        }
        let ms = left.map_or(PollTimeout::NONE, |l| {
            PollTimeout::try_from(i32::try_from(l.as_millis().min(60_000)).unwrap_or(60_000))
                .unwrap_or(PollTimeout::MAX)
        });
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(n) if n > 0 => return true,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return !monitor.alive(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_the_profiles_and_valid_ids() {
        let name = generate_name("profiles/dev-shell.toml");
        assert!(name.starts_with("dev-shell-") && name.len() == "dev-shell-".len() + 4, "{name}");
        assert!(super::super::check_id(&name).is_ok());
        assert!(generate_name("/x/.hidden").starts_with("sandbox-"));
        assert!(generate_name("-").starts_with("sandbox-"));
        assert!(super::super::check_id(&generate_name("a b/$(x).toml")).is_ok());
    }
}
