//! `sandbox prune [--older-than DURATION]`: remove the store's images (all,
//! or those not used for DURATION) and the layers only they used; a layer
//! a running sandbox uses stays.

use std::fmt::Write as _;
use std::process::ExitCode;

use sandbox::image::store::Store;

use crate::cli::report;

pub fn run(older_than: Option<&str>) -> ExitCode {
    let before = match older_than.map(sandbox::profile::units::parse_duration) {
        None => u64::MAX,
        Some(Ok(d)) => now().saturating_sub(d.as_secs()),
        Some(Err(e)) => return report::error(&format!("--older-than: {e} (write 30m, 12h or 7d)")),
    };
    let Some(store) = Store::existing(&Store::default_root()) else {
        return report::out("no image store: nothing to remove\n");
    };
    let pruned = sandbox::image::prune::prune(&store, before);
    match pruned {
        Ok(p) => {
            let mut text = String::new();
            for i in &p.images {
                let _ = writeln!(text, "removed {i}");
            }
            for i in &p.in_use {
                let _ = writeln!(text, "kept {i}: a running sandbox uses it");
            }
            let _ = writeln!(
                text,
                "{} layers removed, {} freed",
                p.layers,
                sandbox::image::store::megabytes(p.bytes)
            );
            report::out(&text)
        }
        Err(e) => report::error(&e.to_string()),
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
