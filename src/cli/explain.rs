//! `sandbox explain [OVERRIDES] PROFILE`: the merged profile, each value
//! with the `<file:line>` that set it (`command line` for an override);
//! printed even beside problems, which it helps to find.

use std::path::Path;
use std::process::ExitCode;

use sandbox::profile::host::HostContext;
use sandbox::profile::load_profile_with;

use crate::cli::overrides::OverrideArgs;
use crate::cli::report;

pub fn run(profile: &Path, overrides: &OverrideArgs, host: &HostContext) -> ExitCode {
    let overrides = match overrides.overrides() {
        Ok(o) => o,
        Err(e) => return report::error(&e),
    };
    let loaded = load_profile_with(profile, host, &overrides);
    let Some(tree) = &loaded.merged else {
        return report::diagnostics(&loaded);
    };
    let text = sandbox::profile::explain::explain(tree, &loaded.sources);
    if !loaded.diags.is_empty() {
        report::diagnostics(&loaded);
    }
    report::out(&text)
}
