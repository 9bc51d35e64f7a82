//! `sandbox rm [-f] NAME...`: remove ended sandboxes (with `-f`, running
//! ones too, killed first): processes, cgroups, state and log.

use std::process::ExitCode;
use std::time::Duration;

use sandbox::container::Root;
use sandbox::container::named::Phase;

use crate::cli::oci::Global;
use crate::cli::report;

pub fn run(g: &Global, names: &[String], force: bool) -> ExitCode {
    let root = g.root();
    let mut code = ExitCode::SUCCESS;
    for name in names {
        match remove(&root, name, force) {
            Ok(()) => {
                let _ = report::out(&format!("{name}\n"));
            }
            Err(text) => code = report::error(&text),
        }
    }
    code
}

/// Remove sandbox `name`; with `force`, stop it first when it runs.
pub fn remove(root: &Root, name: &str, force: bool) -> Result<(), String> {
    let c = root.open(name).map_err(|e| e.to_string())?;
    if c.record.sandbox.is_none() {
        return Err(format!("rm {name}: not a named sandbox; `sandbox delete {name}` removes a container"));
    }
    let phase = Phase::of(&c.record);
    drop(c);
    match (phase.ended(), force) {
        (true, _) => {}
        (false, true) => super::stop::stop(root, name, Duration::ZERO)?,
        (false, false) => {
            return Err(format!(
                "rm {name}: it is {}; `sandbox stop {name}` first, or `sandbox rm -f {name}`",
                phase.text()
            ));
        }
    }
    // Whatever is left (a lost sandbox's processes and cgroups) goes too.
    let c = root.open(name).map_err(|e| e.to_string())?;
    sandbox::container::delete::delete(c, true, &mut |n| report::note(&n)).map_err(|f| f.error().to_string())
}
