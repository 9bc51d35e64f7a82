//! `sandbox check PROFILE...`: every problem of every profile; 1 if any.

use std::path::PathBuf;
use std::process::ExitCode;

use sandbox::profile::host::HostContext;
use sandbox::profile::load_profile;

use crate::cli::report;

pub fn run(profiles: &[PathBuf], host: &HostContext) -> ExitCode {
    let mut failed = false;
    for path in profiles {
        let loaded = load_profile(path, host);
        if loaded.diags.is_empty() {
            report::checked(path);
        } else {
            failed = true;
            report::diagnostics(&loaded);
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
