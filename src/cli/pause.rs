//! `sandbox pause ID` and `sandbox resume ID`: freeze and thaw.

use std::process::ExitCode;

use sandbox::container::pause;

use crate::cli::oci::{Global, open};
use crate::cli::report;

pub fn run(g: &Global, id: &str, freeze: bool) -> ExitCode {
    let c = match open(g, id) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let done = if freeze { pause::pause(c) } else { pause::resume(c) };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report::error(&e.to_string()),
    }
}
