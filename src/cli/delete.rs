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
    // runc's rule, which clients rely on after a failed create: with
    // --force, a container that is not there is deleted already.
    if force && !g.root().exists(id) && sandbox::container::check_id(id).is_ok() {
        return Ok(());
    }
    let c = open(g, id)?;
    sandbox::container::delete::delete(c, force, &mut |n| report::note(&n)).map_err(|f| report::failure(&f))
}
