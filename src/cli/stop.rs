//! `sandbox stop [-t SECONDS] NAME`: TERM to its pid 1 (the init forwards
//! it to the command), then after SECONDS (default 10) KILL to every
//! process in it, as `docker stop` does; returns once its monitor has
//! recorded the end.

use std::process::ExitCode;
use std::time::Duration;

use sandbox::container::named::{Phase, wait_gone};
use sandbox::container::{Root, kill};

use crate::cli::oci::Global;
use crate::cli::report;

/// How long the monitor may take to record the end after a KILL.
const AFTER_KILL: Duration = Duration::from_secs(10);

pub fn run(g: &Global, name: &str, seconds: u64) -> ExitCode {
    match stop(&g.root(), name, Duration::from_secs(seconds)) {
        Ok(()) => report::out(&format!("{name}\n")),
        Err(text) => report::error(&text),
    }
}

/// Stop sandbox `name`; also used by `rm -f` (with no grace).
pub fn stop(root: &Root, name: &str, grace: Duration) -> Result<(), String> {
    let c = root.open(name).map_err(|e| e.to_string())?;
    let Some(named) = c.record.sandbox.clone() else {
        return Err(format!("stop {name}: not a named sandbox; use `sandbox kill` and `sandbox delete`"));
    };
    if Phase::of(&c.record).ended() {
        return Ok(());
    }
    if grace.is_zero() {
        drop(c);
    } else {
        let _ = kill::kill(&c, libc::SIGTERM, false);
        drop(c);
        if wait_gone(named.monitor, Some(grace)) {
            return Ok(());
        }
    }
    let c = root.open(name).map_err(|e| e.to_string())?;
    let _ = kill::kill(&c, libc::SIGKILL, true);
    drop(c);
    if wait_gone(named.monitor, Some(AFTER_KILL)) {
        Ok(())
    } else {
        Err(format!(
            "stop {name}: its monitor (pid {}) has not ended; `sandbox rm -f {name}` removes it",
            named.monitor.pid
        ))
    }
}
