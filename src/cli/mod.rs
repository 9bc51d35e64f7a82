//! One file per verb; each returns the status to exit with. Only
//! [`report`] prints.

pub mod attach;
pub mod bundle;
pub mod check;
pub mod completions;
pub mod create;
pub mod delete;
pub mod exec;
pub mod explain;
pub mod features;
pub mod image_list;
pub mod images;
pub mod kill;
pub mod list;
pub mod lock;
pub mod logs;
pub mod man;
pub mod monitor;
pub mod oci;
pub mod overrides;
pub mod pause;
pub mod progress;
pub mod prune;
pub mod ps;
pub mod pull;
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

use clap::Command;
use sandbox::profile::host::HostContext;
use sandbox::spec::Bundle;

/// Load, check and compile a profile (its images resolved); its
/// diagnostics, printed, otherwise.
fn compile(path: &Path, host: &HostContext) -> Result<Bundle, ExitCode> {
    let overrides = sandbox::profile::overrides::Overrides::default();
    images::ready(Some(path), host, &overrides, false, false).map(|r| r.bundle)
}

/// The command line users are shown: `cmd` without its hidden verbs
/// (`monitor`, which only `run -d` starts), for completions and man pages.
/// `clap_complete` would offer hidden verbs (clap-rs/clap#1335) and a clap
/// `Command` cannot drop a subcommand, so the root is put together again
/// from its own parts; the tests below check it says what `cmd` says.
pub fn visible(cmd: &Command) -> Command {
    let mut root = Command::new(env!("CARGO_BIN_NAME"))
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(cmd.is_propagate_version_set())
        .subcommand_required(cmd.is_subcommand_required_set())
        .arg_required_else_help(cmd.is_arg_required_else_help_set())
        .args(cmd.get_arguments().cloned())
        .groups(cmd.get_groups().cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = cmd.get_about() {
        root = root.about(about.clone());
    }
    if let Some(about) = cmd.get_long_about() {
        root = root.long_about(about.clone());
    }
    root
}

#[cfg(test)]
mod tests {
    use clap::{Command, CommandFactory};

    fn names(cmd: &Command) -> Vec<String> {
        cmd.get_subcommands().map(|s| s.get_name().to_owned()).collect()
    }

    #[test]
    fn the_visible_command_line_is_the_parsers_without_its_hidden_verbs() {
        let mut full = crate::Cli::command();
        let mut visible = super::visible(&full);
        assert!(names(&full).iter().any(|n| n == "monitor"), "the hidden verb this guards against");
        let shown: Vec<String> = names(&full).into_iter().filter(|n| n != "monitor").collect();
        assert_eq!(names(&visible), shown);
        // Built, as the parser is: global flags propagated, usage lines named `sandbox VERB`.
        full.build();
        visible.build();
        assert_eq!(visible.render_long_help().to_string(), full.render_long_help().to_string());
        assert_eq!(visible.render_version(), full.render_version());
        for verb in shown {
            let help = |cmd: &mut Command| {
                let sub = cmd.find_subcommand_mut(&verb).expect("a verb of the tree");
                sub.render_long_help().to_string()
            };
            assert_eq!(help(&mut visible), help(&mut full), "sandbox {verb} --help");
        }
    }
}
