//! `sandbox ps [-a] [--format table|json]`: the named sandboxes (running;
//! `-a` also the ended), and `sandbox ps [--format table|json] ID
//! [PS-ARGS]`, runc's ps: the pids of the container's cgroups as JSON, or
//! ps(1)'s lines for them.

use std::fmt::Write;
use std::process::ExitCode;

use sandbox::container::named::Phase;

use crate::cli::oci::{Global, open};
use crate::cli::report;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// The named sandboxes of --root, as a table or JSON.
pub fn sandboxes(g: &Global, all: bool, format: Format) -> ExitCode {
    let rows: Vec<serde_json::Value> = g
        .root()
        .list()
        .into_iter()
        .filter_map(|r| {
            let named = r.sandbox.clone()?;
            let phase = Phase::of(&r);
            let pid = if phase.ended() { 0 } else { r.process.pid };
            let code = match &phase {
                Phase::Exited(e) => serde_json::json!(e.code),
                _ => serde_json::Value::Null,
            };
            (all || !phase.ended()).then(|| {
                serde_json::json!({
                    "name": r.id, "profile": named.profile, "status": phase.text(), "pid": pid,
                    "created": r.created, "command": named.command, "exit_code": code,
                })
            })
        })
        .collect();
    if let Format::Json = format {
        return report::json(&serde_json::json!(rows));
    }
    let mut text = String::from("NAME\tSTATUS\tPID\tCREATED\tPROFILE\tCOMMAND\n");
    for r in &rows {
        let command: Vec<&str> =
            r["command"].as_array().into_iter().flatten().filter_map(|a| a.as_str()).collect();
        let created = r["created"].as_str().unwrap_or_default();
        // To the second: the nanoseconds are for machines (--format json).
        let created = created.get(..19).map_or_else(|| created.to_owned(), |c| c.replace('T', " "));
        let fields = [&r["name"], &r["status"], &r["pid"]]
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{created}\t{}\t{}",
            fields[0],
            fields[1],
            fields[2],
            r["profile"].as_str().unwrap_or_default(),
            command.join(" ")
        );
    }
    report::out(&text)
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
