//! The command line: exit codes, streams, help and version.

mod common;

use std::process::{Command, Output};

fn sandbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(args)
        .current_dir(common::root())
        .output()
        .expect("sandbox runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_passes_every_shipped_profile() {
    let profiles: Vec<String> = common::shipped_profiles().iter().map(|p| common::relative(p)).collect();
    let args: Vec<&str> = std::iter::once("check").chain(profiles.iter().map(String::as_str)).collect();
    let out = sandbox(&args);
    println!("{}", text(&out.stdout));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches(": ok").count(), profiles.len());
}

#[test]
fn check_reports_all_five_mistakes_on_stderr_and_exits_1() {
    let out = sandbox(&["check", "tests/fixtures/five-mistakes.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(out.stdout.is_empty(), "diagnostics go to stderr");
    for code in ["unknown-key", "unknown-value", "size", "capability", "relative-path"] {
        assert!(err.contains(&format!("profile::{code}")), "missing {code} in:\n{err}");
    }
    assert!(err.contains("5 problems"), "{err}");
}

#[test]
fn check_of_several_profiles_fails_if_any_fails() {
    let out = sandbox(&["check", "profiles/base.toml", "tests/fixtures/diagnostics/size.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("profiles/base.toml: ok"));
}

#[test]
fn spec_prints_json_and_explain_prints_provenance() {
    let out = sandbox(&["spec", "profiles/dev-shell.toml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).expect("spec is JSON");
    assert_eq!(spec["process"]["args"], serde_json::json!(["/bin/bash", "-l"]));

    let out = sandbox(&["explain", "profiles/ci-test.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let explained = text(&out.stdout);
    assert!(explained.contains("process.command[0] = \"/bin/sh\""), "{explained}");
    assert!(explained.contains("profiles/base.toml:"), "{explained}");
}

#[test]
fn explain_all_adds_the_defaults_marked_default() {
    let out = sandbox(&["explain", "--all", "--set", "limits.pids=64", "profiles/dev-shell.toml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let explained = text(&out.stdout);
    let has = |start: &str, end: &str| explained.lines().any(|l| l.starts_with(start) && l.ends_with(end));
    assert!(has("process.init = true ", "# default"), "{explained}");
    assert!(has("network.hostname = \"dev-shell\" ", "# default"), "{explained}");
    assert!(has("network.mode = \"host\" ", "profiles/dev-shell.toml:31"), "set, not defaulted: {explained}");
    assert!(has("limits.pids = 64 ", "# command line:1"), "{explained}");
    assert!(!text(&sandbox(&["explain", "profiles/dev-shell.toml"]).stdout).contains("# default"));
}

#[test]
fn spec_of_a_bad_profile_fails_with_diagnostics() {
    let out = sandbox(&["spec", "tests/fixtures/diagnostics/range.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("profile::range"));
}

#[test]
fn help_version_and_usage_errors() {
    let out = sandbox(&["--help"]);
    assert!(out.status.success());
    for sub in ["check", "spec", "explain", "schema"] {
        assert!(text(&out.stdout).contains(sub), "--help lists {sub}");
    }
    let out = sandbox(&["--version"]);
    assert_eq!(text(&out.stdout).trim(), format!("sandbox {}", env!("CARGO_PKG_VERSION")));
    let out = sandbox(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "a usage error is a failure of sandbox itself: 125, as docker's"
    );
    assert!(text(&out.stderr).contains("PROFILE"));
    let out = sandbox(&["schema"]);
    assert!(out.status.success());
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("schema is JSON");
}
