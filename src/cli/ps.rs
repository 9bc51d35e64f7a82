//! `sandbox ps [--format table|json] ID [PS-ARGS]`: runc's ps — the pids
//! of the container's cgroups as JSON, or ps(1)'s lines for them.

use std::process::ExitCode;

use crate::cli::oci::{Global, open};
use crate::cli::report;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn run(g: &Global, id: &str, format: Format, ps_args: &[String]) -> ExitCode {
    let c = match open(g, id) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let pids = sandbox::container::kill::members(&c);
    match format {
        Format::Json => report::json(&serde_json::json!(pids)),
        Format::Table => table(&pids, ps_args),
    }
}

/// ps(1) with the caller's arguments (default `-ef`), keeping the header
/// and the lines whose PID column is one of `pids`.
fn table(pids: &[i32], ps_args: &[String]) -> ExitCode {
    let args: Vec<String> = if ps_args.is_empty() { vec!["-ef".into()] } else { ps_args.to_vec() };
    let output = match std::process::Command::new("ps").args(&args).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            return report::error(&format!("ps {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr)));
        }
        Err(e) => return report::error(&format!("run ps: {e}")),
    };
    let mut lines = output.lines();
    let Some(header) = lines.next() else { return report::error("ps printed nothing") };
    let Some(column) = header.split_whitespace().position(|h| h == "PID") else {
        return report::error("ps: no PID column in its output");
    };
    let mut text = format!("{header}\n");
    for line in lines {
        let pid = line.split_whitespace().nth(column).and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            text.push_str(line);
            text.push('\n');
        }
    }
    report::out(&text)
}
