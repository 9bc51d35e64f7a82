//! `sandbox wait NAME`: wait for the sandbox to end; exit with its status.

use std::process::ExitCode;

use sandbox::container::named::{Phase, wait_gone};

use crate::cli::oci::Global;
use crate::cli::report;

pub fn run(g: &Global, name: &str) -> ExitCode {
    let root = g.root();
    loop {
        let c = match root.open(name) {
            Ok(c) => c,
            Err(e) => return report::error(&e.to_string()),
        };
        let Some(named) = c.record.sandbox.clone() else {
            return report::error(&format!("wait {name}: not a named sandbox"));
        };
        match Phase::of(&c.record) {
            Phase::Exited(e) => return ExitCode::from(u8::try_from(e.code).unwrap_or(125)),
            Phase::Lost => {
                report::error(&format!("wait {name}: its monitor was killed; its status is unknown"));
                return ExitCode::from(125);
            }
            _ => {}
        }
        drop(c);
        wait_gone(named.monitor, None);
    }
}
