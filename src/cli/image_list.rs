//! `sandbox images [--format table|json]`: the store's references, their
//! digests, unpacked sizes and last use.

use std::fmt::Write as _;
use std::process::ExitCode;

use sandbox::image::store::Store;

use crate::cli::ps::Format;
use crate::cli::report;

pub fn run(format: Format) -> ExitCode {
    // No store yet: no images (listing makes none).
    let records = Store::existing(&Store::default_root()).map(|s| s.records()).unwrap_or_default();
    let rows: Vec<serde_json::Value> = records
        .into_iter()
        .map(|(r, used, _)| {
            serde_json::json!({
                "reference": r.reference, "digest": r.digest.to_string(), "layers": r.layers.len(),
                "size": r.size, "pulled": r.pulled, "last_used": used,
            })
        })
        .collect();
    if let Format::Json = format {
        return report::json(&serde_json::json!(rows));
    }
    let now = super::prune::now();
    let mut text = String::from("REFERENCE\tDIGEST\tLAYERS\tSIZE\tLAST USED\n");
    for r in &rows {
        let ago = now.saturating_sub(r["last_used"].as_u64().unwrap_or(0));
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{}\t{} ago",
            r["reference"].as_str().unwrap_or_default(),
            &r["digest"].as_str().unwrap_or_default().get(..19).unwrap_or_default(),
            r["layers"],
            sandbox::image::store::megabytes(r["size"].as_u64().unwrap_or(0)),
            human(ago)
        );
    }
    report::out(&text)
}

fn human(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}
