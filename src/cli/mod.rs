//! One file per verb; each returns the status to exit with. Only
//! [`report`] prints.

pub mod attach;
pub mod bundle;
pub mod check;
pub mod create;
pub mod delete;
pub mod exec;
pub mod explain;
pub mod features;
pub mod kill;
pub mod list;
pub mod logs;
pub mod monitor;
pub mod oci;
pub mod overrides;
pub mod pause;
pub mod ps;
pub mod report;
pub mod rm;
pub mod run;
pub mod schema;
pub mod spec;
pub mod start;
pub mod state;
pub mod stop;
pub mod update;
pub mod wait;

use std::path::Path;
use std::process::ExitCode;

use sandbox::profile::host::HostContext;
use sandbox::profile::{Loaded, load_profile};
use sandbox::spec::Bundle;

/// Load, check and compile a profile; its diagnostics, printed, otherwise.
fn compile(path: &Path, host: &HostContext) -> Result<Bundle, ExitCode> {
    let loaded: Loaded = load_profile(path, host);
    match &loaded.model {
        Some(model) => Ok(sandbox::compile::compile(model, host)),
        None => Err(report::diagnostics(&loaded)),
    }
}
