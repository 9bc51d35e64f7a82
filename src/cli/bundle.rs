//! `sandbox bundle PROFILE DIR`: a runnable OCI bundle for runc or crun.

use std::path::Path;
use std::process::ExitCode;

use sandbox::profile::host::HostContext;

use crate::cli::report;

pub fn run(profile: &Path, dir: &Path, host: &HostContext) -> ExitCode {
    let bundle = match super::compile(profile, host) {
        Ok(bundle) => bundle,
        Err(code) => return code,
    };
    match sandbox::spec::dir::write(&bundle, dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report::error(&format!("bundle {}: {e}", dir.display())),
    }
}
