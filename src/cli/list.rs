//! `sandbox list [--format table|json] [-q]`: the containers of --root.

use std::process::ExitCode;

use crate::cli::oci::Global;
use crate::cli::ps::Format;
use crate::cli::report;

pub fn run(g: &Global, format: Format, quiet: bool) -> ExitCode {
    let records = g.root().list();
    if quiet {
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        return report::out(&(ids.join("\n") + if ids.is_empty() { "" } else { "\n" }));
    }
    let states: Vec<serde_json::Value> =
        records.iter().map(sandbox::container::state::Record::oci_state).collect();
    if let Format::Json = format {
        return report::json(&serde_json::json!(states));
    }
    let mut text = String::from("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n");
    for s in &states {
        let field = |k: &str| s[k].as_str().map_or_else(|| s[k].to_string(), str::to_owned);
        let row = ["id", "pid", "status", "bundle", "created", "owner"].map(field);
        text.push_str(&row.join("\t"));
        text.push('\n');
    }
    report::out(&text)
}
