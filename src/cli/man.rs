//! `sandbox man [DIR]`: the man pages, generated from the clap tree that
//! parses the command line: sandbox.1 and one page per verb
//! (sandbox-run.1, ...) written into DIR, or sandbox.1 on stdout.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::report;

pub fn run(dir: Option<&Path>, cmd: &clap::Command) -> ExitCode {
    // `sandbox help VERB` is no page of its own (clap_mangen drops it from
    // DIR; the same for the page on stdout).
    let cmd = super::visible(cmd).disable_help_subcommand(true);
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page).expect("writing to memory cannot fail");
        return report::out(&String::from_utf8_lossy(&page));
    };
    match std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report::error(&format!("write the man pages into {}: {e}", dir.display())),
    }
}
