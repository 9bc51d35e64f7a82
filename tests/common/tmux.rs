//! A tmux server of a test's own, for what needs a real terminal (a pty the
//! launcher's stdin is, keys typed at it), killed when dropped.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server named after the test process and `name`.
    pub fn new(name: &str) -> Tmux {
        Tmux { socket: format!("sandbox-{name}-{}", std::process::id()) }
    }

    pub fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux runs")
    }

    /// A detached session of `columns` x `rows` running `script` with
    /// tmux's shell (one argument: several would be joined with spaces,
    /// losing their quoting).
    pub fn start(&self, columns: u16, rows: u16, script: &str) {
        let (x, y) = (columns.to_string(), rows.to_string());
        let out = self.cmd(&["new-session", "-d", "-x", &x, "-y", &y, script]);
        assert!(out.status.success(), "tmux: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Whether tmux is there to run.
pub fn installed() -> bool {
    Command::new("tmux").arg("-V").output().is_ok()
}

/// The text of `path` once it ends with `end`, waiting up to `limit`.
pub fn wait_for_file(path: &Path, end: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with(end) {
                return text;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} was not written within {limit:?}", path.display());
}
