//! `sandbox kill ID [SIGNAL] [--all]`: runc's kill.

use std::process::ExitCode;

use sandbox::container::kill;

use crate::cli::oci::{Global, open};
use crate::cli::report;

pub fn run(g: &Global, id: &str, signal: &str, all: bool) -> ExitCode {
    let signal = match kill::parse_signal(signal) {
        Ok(s) => s,
        Err(e) => return report::error(&e.to_string()),
    };
    let c = match open(g, id) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match kill::kill(&c, signal, all) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report::error(&e.to_string()),
    }
}
