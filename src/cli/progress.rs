//! How a pull shows itself: on a terminal, a bar per layer as it streams
//! (indicatif), then its line; otherwise one line per layer; nothing with
//! `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sandbox::image::resolve::Progress;

use crate::cli::report;

pub struct Shown {
    quiet: bool,
    terminal: bool,
    bar: Option<ProgressBar>,
}

impl Shown {
    pub fn new(quiet: bool) -> Shown {
        Shown { quiet, terminal: std::io::stderr().is_terminal(), bar: None }
    }
}

impl Progress for Shown {
    fn start(&mut self, name: &str, total: Option<u64>) {
        if self.quiet || !self.terminal {
            return;
        }
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template(
                    "{msg} {bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        bar.set_message(name.to_owned());
        self.bar = Some(bar);
    }

    fn advance(&mut self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn done(&mut self, line: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            report::progress(line);
        }
    }
}
