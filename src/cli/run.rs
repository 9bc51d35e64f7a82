//! `sandbox run PROFILE [-- CMD...]` and `sandbox run --bundle DIR`: run
//! the sandbox in the foreground and exit with its command's status.
//! `sandbox run [--bundle DIR] [-d] ID` is runc's: create and start
//! container ID, then (without -d) wait for it and delete it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sandbox::profile::host::HostContext;
use sandbox::runtime::exit::Failure;

use crate::cli::oci::{CreateOpts, Global};
use crate::cli::report;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// A profile file, or (runc's form) the id of the container to make.
    #[arg(value_name = "PROFILE|ID")]
    target: Option<String>,
    /// The command and arguments to run instead of the profile's.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
    /// runc's form: return once the container runs.
    #[arg(short, long)]
    detach: bool,
    /// runc's form: keep the container (stopped) after it exits.
    #[arg(long)]
    keep: bool,
    /// Accepted: sandbox never makes itself a subreaper (the container's
    /// process is its own child).
    #[arg(long)]
    no_subreaper: bool,
    #[command(flatten)]
    opts: CreateOpts,
}

pub fn run(g: &Global, args: RunArgs, host: &HostContext) -> ExitCode {
    let profile =
        args.target.as_ref().map(PathBuf::from).filter(|p| p.is_file() && args.opts.bundle.is_none());
    match (profile, args.target.clone()) {
        (Some(path), _) if !args.detach => foreground(Source::Profile(path), args.command, host),
        (_, Some(id)) => super::create::create_and_start(g, &id, &args.opts, args.detach, args.keep),
        (_, None) => match args.opts.bundle {
            Some(dir) => foreground(Source::Bundle(dir), args.command, host),
            None => report::error("run: give a profile, --bundle DIR, or a container id"),
        },
    }
}

/// What to run: a profile, or a bundle directory another tool wrote.
enum Source {
    Profile(PathBuf),
    Bundle(PathBuf),
}

fn foreground(source: Source, command: Vec<String>, host: &HostContext) -> ExitCode {
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
