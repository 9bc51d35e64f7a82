//! `sandbox completions SHELL`: the shell's completion script, generated
//! from the clap tree that parses the command line, so it cannot go stale.

use std::process::ExitCode;

use clap::ValueEnum;

use crate::cli::report;

/// The shells `scripts/install.sh` installs completions for.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub fn run(shell: Shell, cmd: &clap::Command) -> ExitCode {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = super::visible(cmd);
    let name = cmd.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut cmd, name, &mut script);
    report::out(&String::from_utf8_lossy(&script))
}
