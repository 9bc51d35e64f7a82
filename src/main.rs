//! The `sandbox` command line. Errors are printed once, here.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use sandbox::profile::diag::render;
use sandbox::profile::host::HostContext;
use sandbox::profile::{Loaded, load_profile};

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
        Command::Check { profiles } => {
            let mut failed = false;
            for path in &profiles {
                let loaded = load_profile(path, &host);
                if loaded.diags.is_empty() {
                    println!("{}: ok", path.display());
                } else {
                    failed = true;
                    report(&loaded);
                }
            }
            if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
        }
        Command::Run { profile, bundle, command } => {
            let mut bundle = if let Some(dir) = bundle {
                match sandbox::spec::dir::read(&dir) {
                    Ok(bundle) => bundle,
                    Err(error) => {
                        eprintln!("sandbox: {error}");
                        return exit_code(sandbox::runtime::EXIT_SETUP);
                    }
                }
            } else {
                let loaded = load_profile(&profile.expect("clap requires a profile or --bundle"), &host);
                let Some(model) = &loaded.model else { return report(&loaded) };
                sandbox::compile::compile(model, &host)
            };
            if !command.is_empty() {
                if let Some(process) = bundle.spec.process_mut() {
                    process.set_args(Some(command));
                }
            }
            match sandbox::runtime::launch::run(&bundle) {
                Ok(code) => exit_code(code),
                Err((code, error)) => {
                    eprintln!("sandbox: {error}");
                    exit_code(code)
                }
            }
        }
        Command::Bundle { profile, dir } => {
            let loaded = load_profile(&profile, &host);
            let Some(model) = &loaded.model else { return report(&loaded) };
            let compiled = sandbox::compile::compile(model, &host);
            match sandbox::spec::dir::write(&compiled, &dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sandbox: bundle {}: {e}", dir.display());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Spec { profile } => {
            let loaded = load_profile(&profile, &host);
            let Some(model) = &loaded.model else {
                return report(&loaded);
            };
            let compiled = sandbox::compile::compile(model, &host);
            print_out(&sandbox::spec::to_json(&compiled.spec))
        }
        Command::Explain { profile } => {
            let loaded = load_profile(&profile, &host);
            let Some(tree) = &loaded.merged else {
                return report(&loaded);
            };
            let text = sandbox::profile::explain::explain(tree, &loaded.sources);
            if !loaded.diags.is_empty() {
                report(&loaded);
            }
            print_out(&text)
        }
        Command::Schema => print_out(&sandbox::profile::schema::json()),
    }
}

/// Exit statuses are 0..=255; anything else is reported as a setup failure.
fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(125))
}

/// Print a profile's diagnostics to stderr; returns the failure code.
fn report(loaded: &Loaded) -> ExitCode {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = loaded.redact(&render(&loaded.sources, &loaded.diags, color));
    let count = loaded.diags.len() + loaded.unshown;
    eprint!("{text}");
    if loaded.unshown > 0 {
        eprintln!("… and {} more problems not shown; fix these first", loaded.unshown);
    }
    eprintln!("{count} problem{}", if count == 1 { "" } else { "s" });
    ExitCode::FAILURE
}

/// Write to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print_out(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandbox: write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}
