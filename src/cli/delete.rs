//! `sandbox delete [--force] ID`: runc's delete.

use std::process::ExitCode;

use crate::cli::oci::{Global, open};
use crate::cli::report;

pub fn run(g: &Global, id: &str, force: bool) -> ExitCode {
    match remove(g, id, force) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

pub fn remove(g: &Global, id: &str, force: bool) -> Result<(), ExitCode> {
    let c = open(g, id)?;
    sandbox::container::delete::delete(c, force, &mut |n| report::note(&n)).map_err(|f| report::failure(&f))
}
