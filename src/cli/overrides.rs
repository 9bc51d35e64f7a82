//! The flags that change a profile from the command line (`run`,
//! `explain`), as docker and podman spell them, each turned into a
//! `--set` of the profile key it stands for.

use std::path::PathBuf;

use clap::Args;
use sandbox::profile::overrides::Overrides;

#[derive(Args, Debug, Default, Clone)]
pub struct OverrideArgs {
    /// Bind mount SOURCE:TARGET[:ro|rw] (read-only unless rw; a relative
    /// SOURCE is relative to the current directory).
    #[arg(short = 'v', long = "mount", value_name = "SRC:DST[:MODE]")]
    mounts: Vec<String>,
    /// Set KEY=VALUE in the environment; KEY alone passes the caller's value.
    #[arg(short, long, value_name = "KEY[=VALUE]")]
    env: Vec<String>,
    /// Read environment variables from FILE (KEY=VALUE lines, # comments).
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// The command's working directory (process.cwd).
    #[arg(short, long, value_name = "DIR")]
    workdir: Option<String>,
    /// network.mode: none, host or nat.
    #[arg(long, value_name = "MODE")]
    network: Option<String>,
    /// Publish a port of a nat sandbox on the host (added to network.ports):
    /// HOST:SANDBOX or ADDR:HOST:SANDBOX (ports or ranges), /udp after for UDP; on 127.0.0.1
    /// unless ADDR says otherwise.
    #[arg(short, long = "publish", value_name = "[ADDR:]HOST:SANDBOX")]
    publish: Vec<String>,
    /// limits.memory, e.g. 512MiB.
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// limits.cpus, e.g. 1.5.
    #[arg(long, value_name = "N")]
    cpus: Option<String>,
    /// limits.pids.
    #[arg(long, value_name = "N")]
    pids: Option<String>,
    /// limits.timeout: seconds, or 90s, 10m, 2h.
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Any profile key, e.g. --set limits.memory=4GiB (VALUE is TOML, or a string).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

impl OverrideArgs {
    /// The overrides, in a fixed order: the shorthands, then `--set`
    /// (which wins over a shorthand for the same key).
    pub fn overrides(&self) -> Result<Overrides, String> {
        let mut o = Overrides::default();
        for m in &self.mounts {
            o.mount(m)?;
        }
        for file in &self.env_file {
            for item in env_file(file)? {
                o.env(&item);
            }
        }
        for e in &self.env {
            o.env(e);
        }
        if let Some(dir) = &self.workdir {
            o.string(&["process", "cwd"], dir);
        }
        for p in &self.publish {
            o.publish(p);
        }
        let shorthands = [
            (&self.network, ["network", "mode"]),
            (&self.memory, ["limits", "memory"]),
            (&self.cpus, ["limits", "cpus"]),
            (&self.pids, ["limits", "pids"]),
            (&self.timeout, ["limits", "timeout"]),
        ];
        for (value, path) in shorthands {
            if let Some(v) = value {
                o.value(&path, v);
            }
        }
        for s in &self.sets {
            o.set(s)?;
        }
        Ok(o)
    }
}

/// docker's env file: `KEY=VALUE` or `KEY` lines; blank lines and `#` comments skipped.
fn env_file(path: &PathBuf) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--env-file {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}
