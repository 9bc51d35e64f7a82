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
        let stale = if loaded.diags.is_empty() {
            crate::cli::lock::stale(path, host).unwrap_or_default()
        } else {
            Vec::new()
        };
        if !stale.is_empty() {
            failed = true;
            report::error(&format!(
                "{}: its lock is stale:\n  {}\n(review the change, then `sandbox lock {}`)",
                path.display(),
                stale.join("\n  "),
                path.display()
            ));
        } else if loaded.diags.is_empty() {
            report::checked(path);
        } else {
            failed = true;
            report::diagnostics(&loaded);
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
