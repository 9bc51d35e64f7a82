//! `sandbox explain [--all] [OVERRIDES] PROFILE`: the merged profile, each
//! value with the `<file:line>` that set it (`command line` for an
//! override; with `--all`, `default` for what the profile leaves out);
//! printed even beside problems, which it helps to find.

use std::path::Path;
use std::process::ExitCode;

use sandbox::profile::host::HostContext;
use sandbox::profile::profile_name;

use crate::cli::overrides::OverrideArgs;
use crate::cli::report;

pub fn run(profile: &Path, overrides: &OverrideArgs, all: bool, host: &HostContext) -> ExitCode {
    let overrides = match overrides.overrides() {
        Ok(o) => o,
        Err(e) => return report::error(&e),
    };
    let loaded = crate::cli::images::loaded(profile, host, &overrides);
    let Some(tree) = &loaded.merged else {
        return report::diagnostics(&loaded);
    };
    let text = if all {
        sandbox::profile::explain::explain_all(tree, &loaded.sources, &profile_name(profile))
    } else {
        sandbox::profile::explain::explain(tree, &loaded.sources)
    };
    if !loaded.diags.is_empty() {
        report::diagnostics(&loaded);
    }
    report::out(&text)
}
