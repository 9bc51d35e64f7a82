//! `sandbox logs [-f] NAME`: the output of a sandbox started with `run -d`
//! (the last 1–2 MiB of it); `-f` follows it until the sandbox ends.

use std::process::ExitCode;
use std::time::Duration;

use sandbox::container::log::Follow;

use crate::cli::oci::Global;
use crate::cli::report;

/// How often `-f` looks for more.
const POLL: Duration = Duration::from_millis(100);

pub fn run(g: &Global, name: &str, follow: bool) -> ExitCode {
    let root = g.root();
    let c = match root.open(name) {
        Ok(c) => c,
        Err(e) => return report::error(&e.to_string()),
    };
    let named = c.record.sandbox.clone().unwrap_or_default();
    if !named.detached {
        return report::error(&format!(
            "logs {name}: no log is kept for a sandbox in the foreground; its output went to its `sandbox run`"
        ));
    }
    let dir = c.dir.clone();
    drop(c);
    let mut out = std::io::stdout().lock();
    let mut reader = match Follow::start(&dir, &mut out) {
        Ok(r) => r,
        Err(e) => return report::error(&e.to_string()),
    };
    if !follow {
        return ExitCode::SUCCESS;
    }
    // Until the monitor has gone (it waits for the keeper) and nothing more came.
    loop {
        let running = named.monitor.alive();
        match reader.more(&mut out) {
            Ok(true) => {}
            Ok(false) if !running => return ExitCode::SUCCESS,
            Ok(false) => std::thread::sleep(POLL),
            Err(e) => return report::error(&e.to_string()),
        }
    }
}
