//! `sandbox update --resources FILE ID`: new cgroup limits for a running
//! container (linux.resources as JSON; `-` reads standard input).

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use crate::cli::oci::{Global, open};
use crate::cli::report;

/// The largest resources document read.
const MAX: u64 = 1 << 20;

pub fn run(g: &Global, id: &str, resources: &Path) -> ExitCode {
    let mut text = String::new();
    let read = if resources == Path::new("-") {
        std::io::stdin().take(MAX).read_to_string(&mut text)
    } else {
        std::fs::File::open(resources).and_then(|f| f.take(MAX).read_to_string(&mut text))
    };
    if let Err(e) = read {
        return report::error(&format!("update: read {}: {e}", resources.display()));
    }
    let parsed: oci_spec::runtime::LinuxResources = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            return report::error(&format!("update: {} is not linux.resources: {e}", resources.display()));
        }
    };
    let c = match open(g, id) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match sandbox::container::update::update(&c, &parsed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report::error(&e.to_string()),
    }
}
