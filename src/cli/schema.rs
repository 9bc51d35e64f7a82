//! `sandbox schema`: the JSON Schema of the profile format.

use std::process::ExitCode;

use crate::cli::report;

pub fn run() -> ExitCode {
    report::out(&sandbox::profile::schema::json())
}
