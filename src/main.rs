//! The `sandbox` command line: parse the arguments, hand them to the verb's
//! file in cli/, exit with the status it returns. Nothing here prints.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use sandbox::profile::host::HostContext;

/// Declarative Linux sandboxes: TOML/YAML profiles compiled to OCI runtime specs.
#[derive(Parser)]
#[command(name = "sandbox", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check profiles and print every problem; exit 1 if any profile has one.
    Check {
        #[arg(required = true, value_name = "PROFILE")]
        profiles: Vec<PathBuf>,
    },
    /// Run a profile's command in its sandbox, in the foreground; exit with its status.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["profile", "bundle"])))]
    Run {
        #[arg(value_name = "PROFILE")]
        profile: Option<PathBuf>,
        /// Run a plain OCI bundle (DIR/config.json and its rootfs) instead of a profile.
        #[arg(long, value_name = "DIR", conflicts_with = "profile")]
        bundle: Option<PathBuf>,
        /// The command and arguments to run instead of the profile's.
        #[arg(last = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Write a runnable OCI bundle (config.json and rootfs/) for runc or crun.
    Bundle {
        #[arg(value_name = "PROFILE")]
        profile: PathBuf,
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print the OCI runtime config.json a profile compiles to.
    Spec {
        #[arg(value_name = "PROFILE")]
        profile: PathBuf,
    },
    /// Print the merged profile, each value with the <file:line> that set it.
    Explain {
        #[arg(value_name = "PROFILE")]
        profile: PathBuf,
    },
    /// Print the JSON Schema of the profile format.
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let host = HostContext::current();
    match cli.command {
        Command::Check { profiles } => cli::check::run(&profiles, &host),
        Command::Run { profile, bundle, command } => {
            let source = match (profile, bundle) {
                (_, Some(dir)) => cli::run::Source::Bundle(dir),
                (Some(path), None) => cli::run::Source::Profile(path),
                (None, None) => unreachable!("clap requires a profile or --bundle"),
            };
            cli::run::run(source, command, &host)
        }
        Command::Bundle { profile, dir } => cli::bundle::run(&profile, &dir, &host),
        Command::Spec { profile } => cli::spec::run(&profile, &host),
        Command::Explain { profile } => cli::explain::run(&profile, &host),
        Command::Schema => cli::schema::run(),
    }
}
