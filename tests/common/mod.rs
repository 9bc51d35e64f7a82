//! Shared helpers for the pure tests: load with a fixed caller, render
//! without colour, and make output independent of where the checkout is.

#![allow(dead_code)] // each test binary uses a different part

pub mod e2e;
pub mod images;
pub mod netlab;
pub mod registry;
pub mod tmux;

use std::path::{Path, PathBuf};

use sandbox::profile::host::HostContext;
use sandbox::profile::{Loaded, load_profile};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn load(relative: &str) -> Loaded {
    load_profile(&root().join(relative), &HostContext::fixed())
}

/// Replace the checkout's absolute path so snapshots hold on any machine.
pub fn redact(text: &str) -> String {
    text.replace(&root().display().to_string(), "[REPO]")
}

pub fn rendered(loaded: &Loaded) -> String {
    // Wide enough never to wrap: where the checkout is must not move line breaks.
    redact(&sandbox::profile::diag::render_width(&loaded.sources, &loaded.diags, false, 1000))
}

pub fn spec_json(loaded: &Loaded) -> String {
    let model =
        loaded.model.as_ref().unwrap_or_else(|| panic!("profile has problems:\n{}", rendered(loaded)));
    sandbox::spec::to_json(&sandbox::compile::compile(model, &HostContext::fixed()).spec)
}

/// The shipped profiles, sorted.
pub fn shipped_profiles() -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = std::fs::read_dir(root().join("profiles"))
        .expect("profiles/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("toml" | "yaml" | "yml")))
        .collect();
    list.sort();
    list
}

pub fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}
