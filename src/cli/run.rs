//! `sandbox run PROFILE [-- CMD...]` and `sandbox run --bundle DIR`: run
//! the sandbox in the foreground and exit with its command's status.

use std::path::PathBuf;
use std::process::ExitCode;

use sandbox::profile::host::HostContext;
use sandbox::runtime::exit::Failure;

use crate::cli::report;

/// What to run: a profile, or a bundle directory another tool wrote.
pub enum Source {
    Profile(PathBuf),
    Bundle(PathBuf),
}

pub fn run(source: Source, command: Vec<String>, host: &HostContext) -> ExitCode {
    let bundle = match source {
        Source::Bundle(dir) => {
            sandbox::spec::dir::read(&dir).map_err(|e| report::failure(&Failure::Setup(e)))
        }
        Source::Profile(path) => super::compile(&path, host),
    };
    let mut bundle = match bundle {
        Ok(bundle) => bundle,
        Err(code) => return code,
    };
    if !command.is_empty() {
        if let Some(process) = bundle.spec.process_mut() {
            process.set_args(Some(command));
        }
    }
    match sandbox::runtime::launch::run(&bundle, &mut |note| report::note(&note)) {
        Ok(exit) => report::exit(exit),
        Err(failure) => report::failure(&failure),
    }
}
