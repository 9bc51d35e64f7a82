//! `sandbox explain PROFILE`: the merged profile, each value with the
//! `<file:line>` that set it; printed even beside problems, which it helps
//! to find.

use std::path::Path;
use std::process::ExitCode;

use sandbox::profile::host::HostContext;
use sandbox::profile::load_profile;

use crate::cli::report;

pub fn run(profile: &Path, host: &HostContext) -> ExitCode {
    let loaded = load_profile(profile, host);
    let Some(tree) = &loaded.merged else {
        return report::diagnostics(&loaded);
    };
    let text = sandbox::profile::explain::explain(tree, &loaded.sources);
    if !loaded.diags.is_empty() {
        report::diagnostics(&loaded);
    }
    report::out(&text)
}
