//! `sandbox features`: what this runtime supports, as the runtime-spec's
//! features.json says it.

use std::process::ExitCode;

use crate::cli::report;

pub fn run() -> ExitCode {
    report::json(&sandbox::container::features::features())
}
