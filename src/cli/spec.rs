//! `sandbox spec PROFILE`: the OCI runtime config.json a profile compiles to.

use std::path::Path;
use std::process::ExitCode;

use sandbox::profile::host::HostContext;

use crate::cli::report;

pub fn run(profile: &Path, host: &HostContext) -> ExitCode {
    match super::compile(profile, host) {
        Ok(bundle) => report::out(&sandbox::spec::to_json(&bundle.spec)),
        Err(code) => code,
    }
}
