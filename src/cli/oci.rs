//! What the OCI runtime verbs share: runc's global flags, and the flags of
//! `create` (also `run ID`) and `exec`.

use std::path::PathBuf;

use clap::Args;
use sandbox::container::Root;

use crate::cli::report;

#[derive(Args, Debug)]
pub struct Global {
    /// State directory of the containers [default: `/run/sandbox`, or `$XDG_RUNTIME_DIR/sandbox`]
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Also write errors and warnings to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// text, or json (runc's JSON lines).
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Also log each call's arguments (at level debug).
    #[arg(long, global = true)]
    pub debug: bool,
    /// cgroupsPath is systemd's `SLICE:PREFIX:NAME`: sandbox places the
    /// container where systemd would (SLICE's path/PREFIX-NAME.scope),
    /// through cgroupfs; it does not ask systemd for a scope.
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
}

impl Global {
    pub fn start_log(&self) {
        if let Some(path) = &self.log {
            report::log_to(path.clone(), self.log_format == "json");
        }
        if self.debug {
            report::debug(&format!("{:?}", std::env::args().collect::<Vec<_>>()));
        }
    }

    pub fn root(&self) -> Root {
        Root::new(self.root.clone().unwrap_or_else(Root::default_dir))
    }
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    pub id: String,
    #[command(flatten)]
    pub opts: CreateOpts,
}

/// `create`'s flags, shared with `run ID`.
#[derive(Args, Debug, Default)]
pub struct CreateOpts {
    /// The bundle directory [default: the current directory]
    #[arg(short, long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Write the container's pid to FILE.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Send the terminal's master side to this unix socket.
    #[arg(long, value_name = "SOCK")]
    pub console_socket: Option<PathBuf>,
    /// Pass N more descriptors (3, 4, ...) into the container.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// runc's `MS_MOVE` instead of `pivot_root`: refused (always `pivot_root`).
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted: sandbox never makes a new session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
}

// Each flag is one of runc's (and -i, docker's), spelled as they spell them.
#[allow(clippy::struct_excessive_bools)]
#[derive(Args, Debug)]
pub struct ExecArgs {
    pub id: String,
    /// The command and its arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// The whole process as JSON (config.json's `process`).
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Give the process a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Accepted (docker's -i): the process always reads our stdin.
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(long, value_name = "SOCK")]
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs; its caller's subreaper reaps it.
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// KEY=VALUE, added to the container's environment.
    #[arg(short, long)]
    pub env: Vec<String>,
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// UID[:GID].
    #[arg(short, long)]
    pub user: Option<String>,
    /// Supplementary group ids.
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Accepted and refused when set: AppArmor/SELinux are not applied.
    #[arg(long)]
    pub apparmor: Option<String>,
    #[arg(long)]
    pub process_label: Option<String>,
    /// Set `no_new_privs` for this process (the container's setting otherwise).
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a capability (`CAP_NAME`) to every set of this process, as runc does.
    #[arg(short = 'c', long = "cap")]
    pub caps: Vec<String>,
}

/// Open container `id` under the global --root, or print why not.
pub fn open(g: &Global, id: &str) -> Result<sandbox::container::Container, std::process::ExitCode> {
    g.root().open(id).map_err(|e| report::error(&e.to_string()))
}
