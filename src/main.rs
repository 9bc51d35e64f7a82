//! The `sandbox` command line: parse the arguments, hand them to the verb's
//! file in cli/, exit with the status it returns. Nothing here prints.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use cli::oci::{CreateArgs, ExecArgs, Global};
use sandbox::profile::host::HostContext;

/// Declarative Linux sandboxes: TOML/YAML profiles compiled to OCI runtime specs.
/// Also an OCI runtime with runc's command line (create, start, state, kill,
/// delete, exec, ...), for containerd and podman.
#[derive(Parser)]
#[command(name = "sandbox", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
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
    /// With an ID (runc's form): create and start container ID from --bundle.
    Run(cli::run::RunArgs),
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
        /// Also every default the profile leaves out, marked `default`; all in the format's order.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        overrides: cli::overrides::OverrideArgs,
    },
    /// Print the JSON Schema of the profile format.
    Schema,
    /// Fetch and unpack an image or archive (a reference, or every one a
    /// profile names) into the store, asking a registry again.
    Pull {
        #[arg(value_name = "PROFILE|REF")]
        target: String,
        /// Print no progress.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write PROFILE.lock: the digest of every image, archive and file the
    /// profile is made of (`run --locked` refuses anything else).
    Lock {
        #[arg(value_name = "PROFILE")]
        profile: PathBuf,
        /// Print no progress.
        #[arg(short, long)]
        quiet: bool,
    },
    /// The store's images: reference, digest, layers, size, last use.
    Images {
        #[arg(short, long, default_value = "table")]
        format: cli::ps::Format,
    },
    /// Remove images (all, or those unused for a time) and the layers only
    /// they use; layers of running sandboxes stay.
    Prune {
        /// Only images not used for this long (30m, 12h, 7d).
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
    },
    /// Print the completion script for SHELL (scripts/install.sh installs them).
    Completions {
        #[arg(value_name = "SHELL")]
        shell: cli::completions::Shell,
    },
    /// Write the man pages (sandbox.1, sandbox-run.1, ...) into DIR; without DIR, print sandbox.1.
    Man {
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Create container ID from a bundle, stopped before its command runs.
    Create(CreateArgs),
    /// Run the command of created container ID.
    Start { id: String },
    /// Print the OCI state of container ID.
    State { id: String },
    /// Send a signal (default TERM) to container ID.
    Kill {
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
        /// Signal every process in the container.
        #[arg(short, long)]
        all: bool,
    },
    /// Remove container ID and everything it holds.
    Delete {
        id: String,
        /// Also a running or paused container (it is killed).
        #[arg(short, long)]
        force: bool,
    },
    /// Run another process in container ID.
    Exec(ExecArgs),
    /// List the named sandboxes (-a: also the ended); with an ID, runc's:
    /// the processes of container ID.
    Ps {
        id: Option<String>,
        /// Also the sandboxes that have ended.
        #[arg(short, long)]
        all: bool,
        #[arg(short, long, default_value = "table")]
        format: cli::ps::Format,
        /// Arguments for ps(1) (table format).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Stop a named sandbox: TERM, then KILL after --time seconds.
    Stop {
        name: String,
        #[arg(short, long, default_value_t = 10, value_name = "SECONDS")]
        time: u64,
    },
    /// Remove named sandboxes that have ended (-f: also running ones).
    Rm {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        #[arg(short, long)]
        force: bool,
    },
    /// Wait for a named sandbox to end; exit with its status.
    Wait { name: String },
    /// Print the output of a sandbox started with `run -d` (-f: follow it).
    Logs {
        name: String,
        #[arg(short, long)]
        follow: bool,
    },
    /// Attach to the terminal of a sandbox started with `run -d` (Ctrl-P Ctrl-Q detaches).
    Attach { name: String },
    /// Freeze every process of container ID.
    Pause { id: String },
    /// Thaw container ID.
    Resume { id: String },
    /// Change the cgroup limits of container ID.
    Update {
        id: String,
        /// The new linux.resources as JSON ("-": standard input).
        #[arg(short, long, value_name = "FILE")]
        resources: PathBuf,
    },
    /// The monitor of a sandbox started with `run -d` (started by it).
    #[command(hide = true)]
    Monitor {
        name: String,
        #[arg(long)]
        keep_log: bool,
    },
    /// Print what this runtime supports (runtime-spec features.json).
    Features,
    /// List the containers of --root.
    #[command(alias = "ls")]
    List {
        #[arg(short, long, default_value = "table")]
        format: cli::ps::Format,
        /// Ids only.
        #[arg(short, long)]
        quiet: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return cli::report::usage(&e),
    };
    let host = HostContext::current();
    let g = &cli.global;
    g.start_log();
    match cli.command {
        Command::Check { profiles } => cli::check::run(&profiles, &host),
        Command::Run(args) => cli::run::run(g, &args, &host),
        Command::Bundle { profile, dir } => cli::bundle::run(&profile, &dir, &host),
        Command::Spec { profile } => cli::spec::run(&profile, &host),
        Command::Explain { profile, all, overrides } => cli::explain::run(&profile, &overrides, all, &host),
        Command::Schema => cli::schema::run(),
        Command::Pull { target, quiet } => cli::pull::run(&target, quiet, &host),
        Command::Lock { profile, quiet } => cli::lock::run(&profile, quiet, &host),
        Command::Images { format } => cli::image_list::run(format),
        Command::Prune { older_than } => cli::prune::run(older_than.as_deref()),
        Command::Completions { shell } => cli::completions::run(shell, &Cli::command()),
        Command::Man { dir } => cli::man::run(dir.as_deref(), &Cli::command()),
        Command::Create(args) => cli::create::run(g, &args),
        Command::Start { id } => cli::start::run(g, &id),
        Command::State { id } => cli::state::run(g, &id),
        Command::Kill { id, signal, all } => cli::kill::run(g, &id, &signal, all),
        Command::Delete { id, force } => cli::delete::run(g, &id, force),
        Command::Exec(args) => cli::exec::run(g, &args),
        Command::Ps { id: Some(id), format, ps_args, .. } => cli::ps::run(g, &id, format, &ps_args),
        Command::Ps { id: None, format, all, .. } => cli::ps::sandboxes(g, all, format),
        Command::Stop { name, time } => cli::stop::run(g, &name, time),
        Command::Rm { names, force } => cli::rm::run(g, &names, force),
        Command::Wait { name } => cli::wait::run(g, &name),
        Command::Logs { name, follow } => cli::logs::run(g, &name, follow),
        Command::Attach { name } => cli::attach::run(g, &name),
        Command::Pause { id } => cli::pause::run(g, &id, true),
        Command::Resume { id } => cli::pause::run(g, &id, false),
        Command::Update { id, resources } => cli::update::run(g, &id, &resources),
        Command::Features => cli::features::run(),
        Command::Monitor { name, keep_log } => cli::monitor::run(&g.root(), &name, keep_log),
        Command::List { format, quiet } => cli::list::run(g, format, quiet),
    }
}
