//! `sandbox start ID`: runc's start.

use std::process::ExitCode;

use crate::cli::oci::{Global, open};
use crate::cli::report;

pub fn run(g: &Global, id: &str) -> ExitCode {
    let c = match open(g, id) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match sandbox::container::start::start(c, &mut |n| report::note(&n)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report::failure(&failure),
    }
}
