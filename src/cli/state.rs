//! `sandbox state ID`: the OCI state JSON.

use std::process::ExitCode;

use crate::cli::oci::{Global, open};
use crate::cli::report;

pub fn run(g: &Global, id: &str) -> ExitCode {
    match open(g, id) {
        Ok(c) => report::json(&c.record.oci_state()),
        Err(code) => code,
    }
}
