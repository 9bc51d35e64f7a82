//! `sandbox run [PROFILE] [-- CMD...]` and `sandbox run --bundle DIR`: run
//! the sandbox in the foreground and exit with its command's status; with
//! `-d`, in the background under a name (`cli/monitor.rs`); with `--name`,
//! in the foreground under a name (`exec`, `ps`, `kill` reach it). Without
//! a profile, the built-in defaults on the host's root. `sandbox run
//! [--bundle DIR] [-d] ID` is runc's: create and start container ID, then
//! (without -d) wait for it and delete it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use sandbox::container::Root;
use sandbox::container::named::{self, Named};
use sandbox::profile::host::HostContext;
use sandbox::runtime::exit::{Failure, Note};
use sandbox::spec::Bundle;
use sandbox::spec::extension::Terminal;

use crate::cli::oci::{CreateOpts, Global};
use crate::cli::overrides::OverrideArgs;
use crate::cli::report;

// Each flag is one of docker's or runc's, spelled as they spell them.
#[allow(clippy::struct_excessive_bools)]
#[derive(Args, Debug)]
pub struct RunArgs {
    /// A profile file (none: the built-in defaults), or (runc's form) the
    /// id of the container to make.
    #[arg(value_name = "PROFILE|ID")]
    target: Option<String>,
    /// The command and arguments to run instead of the profile's.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
    /// Run in the background and print the sandbox's name (runc's form:
    /// return once the container runs).
    #[arg(short, long)]
    detach: bool,
    /// Name the sandbox, for exec, attach, logs, stop and rm [default with -d: PROFILE-XXXX]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Remove the named sandbox when it ends.
    #[arg(long)]
    rm: bool,
    /// Give the command a terminal (with -d: for `sandbox attach`).
    #[arg(short, long)]
    tty: bool,
    /// With -d: keep stdin open, for `sandbox attach`.
    #[arg(short, long)]
    interactive: bool,
    /// Refuse to run unless every image and file is what PROFILE.lock pins.
    #[arg(long)]
    locked: bool,
    /// Print no progress while images are pulled and unpacked.
    #[arg(short, long)]
    quiet: bool,
    /// runc's form: keep the container (stopped) after it exits.
    #[arg(long)]
    keep: bool,
    /// Accepted: sandbox never makes itself a subreaper (the container's
    /// process is its own child).
    #[arg(long)]
    no_subreaper: bool,
    #[command(flatten)]
    overrides: OverrideArgs,
    #[command(flatten)]
    opts: CreateOpts,
}

pub fn run(g: &Global, args: &RunArgs, host: &HostContext) -> ExitCode {
    let bundle_given = args.opts.bundle.is_some();
    match args.target.clone() {
        Some(t) if !bundle_given && looks_like_profile(&t) => profile(g, Some(Path::new(&t)), args, host),
        Some(id) => super::create::create_and_start(g, &id, &args.opts, args.detach, args.keep),
        None if bundle_given => bundle(args),
        None if !args.command.is_empty() => profile(g, None, args, host),
        None => report::error("run: give a profile, a command after --, --bundle DIR, or a container id"),
    }
}

/// A path to a profile rather than a container id (which has no `/`).
fn looks_like_profile(target: &str) -> bool {
    let path = Path::new(target);
    path.is_file()
        || target.contains('/')
        || path.extension().is_some_and(|e| e == "toml" || e == "yaml" || e == "yml")
}

/// Any failure of sandbox itself, an invalid profile included (docker's).
const SETUP: u8 = 125;

fn profile(g: &Global, path: Option<&Path>, args: &RunArgs, host: &HostContext) -> ExitCode {
    let overrides = match args.overrides.overrides() {
        Ok(o) => o,
        Err(e) => return setup_error(&e),
    };
    let Ok(ready) = super::images::ready(path, host, &overrides, args.quiet, args.locked) else {
        return ExitCode::from(SETUP);
    };
    // The images' layers stay held (prune leaves them) until we return.
    let (mut bundle, _images) = (ready.bundle, ready.images);
    set_command(&mut bundle, &args.command);
    if args.tty {
        bundle.ext.terminal = Terminal::Always;
    } else if args.detach {
        bundle.ext.terminal = Terminal::Never;
    }
    bundle.sync_annotations();
    let shown = path.map_or_else(|| "-".to_owned(), |p| p.display().to_string());
    let named = Named {
        profile: shown.clone(),
        command: bundle.spec.process().as_ref().and_then(|p| p.args().clone()).unwrap_or_default(),
        detached: args.detach,
        remove: args.rm,
        interactive: args.interactive || args.tty,
        ..Named::default()
    };
    let name = args.name.clone().or_else(|| args.detach.then(|| named::generate_name(&shown)));
    match name {
        Some(name) if args.detach => super::monitor::start(&g.root(), &name, &bundle, named),
        Some(name) => foreground(&bundle, Some(&(g.root(), name, named))),
        None => foreground(&bundle, None),
    }
}

fn set_command(bundle: &mut Bundle, command: &[String]) {
    if !command.is_empty() {
        if let Some(process) = bundle.spec.process_mut() {
            process.set_args(Some(command.to_vec()));
        }
    }
}

/// `--bundle DIR`: a bundle directory another tool wrote.
fn bundle(args: &RunArgs) -> ExitCode {
    let dir: PathBuf = args.opts.bundle.clone().unwrap_or_default();
    let mut bundle = match sandbox::spec::dir::read(&dir) {
        Ok(b) => b,
        Err(e) => return report::failure(&Failure::Setup(e)),
    };
    set_command(&mut bundle, &args.command);
    foreground(&bundle, None)
}

/// Run it here, to its end; with a name, recorded where `exec` finds it.
fn foreground(bundle: &Bundle, name: Option<&(Root, String, Named)>) -> ExitCode {
    if let Some((root, name, named)) = name {
        if let Err(e) = named::register(root, name, bundle, named.clone()) {
            return setup_error(&e.to_string());
        }
    }
    let mut on_start = |launched: &sandbox::runtime::launch::Launched| match name {
        Some((root, name, _)) => named::started(root, name, launched),
        None => Ok(()),
    };
    let outcome = sandbox::runtime::launch::run(bundle, &mut |note| report::note(&note), &mut on_start);
    if let Some((root, name, _)) = name {
        if let Err(e) = named::ended(root, name, &outcome) {
            report::note(&Note::Cleanup(e));
        }
    }
    match outcome {
        Ok(exit) => report::exit(exit),
        Err(failure) => report::failure(&failure),
    }
}

fn setup_error(text: &str) -> ExitCode {
    report::error(text);
    ExitCode::from(SETUP)
}
