//! `sandbox pull PROFILE|REF`: fetch and unpack a reference, or every image
//! of a profile, into the store — asking registries again even when the
//! store has the reference. Prints each one's digest and reference.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use sandbox::image::reference::Source;
use sandbox::image::resolve::Fetch;
use sandbox::profile::host::HostContext;
use sandbox::profile::load_profile_over;
use sandbox::profile::overrides::Overrides;

use crate::cli::images::{image_sources, resolve_all};
use crate::cli::report;

pub fn run(target: &str, quiet: bool, host: &HostContext) -> ExitCode {
    let sources = match Source::parse(target) {
        Ok(Some(source)) => vec![absolute(&source, host)],
        Ok(None) => {
            let loaded = load_profile_over(Some(Path::new(target)), host, &Overrides::default(), &[]);
            let Some(model) = &loaded.model else { return report::diagnostics(&loaded) };
            image_sources(model)
        }
        Err(e) => return report::error(&format!("pull {target}: {e}")),
    };
    if sources.is_empty() {
        return report::error(&format!("pull {target}: the profile has no image or archive layers"));
    }
    match resolve_all(&sources, Fetch::Pull, quiet) {
        Ok(images) => {
            let mut text = String::new();
            for r in &images {
                let _ = writeln!(text, "{} {}", r.digest, r.source);
            }
            report::out(&text)
        }
        Err(e) => report::error(&e.to_string()),
    }
}

/// A source whose relative path is relative to the current directory.
pub fn absolute(source: &Source, host: &HostContext) -> Source {
    match source.path() {
        Some(p) if p.is_relative() => source.with_path(host.cwd.join(p)),
        _ => source.clone(),
    }
}
