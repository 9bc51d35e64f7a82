//! The whole front half on arbitrary input: load (TOML or YAML), `extends`
//! and variables, typing, validation, compilation to an OCI spec, and the
//! rendering of diagnostics and of `explain`. Any panic, hang or runaway
//! allocation is a finding.
//!
//! Input: the first byte picks the format (even: TOML, odd: YAML; seeds use
//! `t` and `y`), the rest is the profile text, converted lossily to UTF-8.
//! The profile is named as if it lived in [`DIR`], which holds no files, so
//! relative `extends` names do not exist.

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sandbox::compile::compile;
use sandbox::spec::to_json;
use sandbox::profile::diag::render;
use sandbox::profile::explain::explain;
use sandbox::profile::host::HostContext;
use sandbox::profile::load_profile_text;

const DIR: &str = "/tmp/sandbox-fuzz";

static HOST: LazyLock<HostContext> = LazyLock::new(HostContext::fixed);

static PATHS: LazyLock<[PathBuf; 2]> = LazyLock::new(|| {
    // An empty directory, so that the profile's own directory exists.
    std::fs::create_dir_all(DIR).expect("create the fuzzing directory");
    [PathBuf::from(DIR).join("p.toml"), PathBuf::from(DIR).join("p.yaml")]
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let path = &PATHS[usize::from(selector & 1)];
    let text = String::from_utf8_lossy(rest).into_owned();
    let loaded = load_profile_text(path, text, &HOST);
    assert_eq!(loaded.model.is_some(), loaded.diags.is_empty(), "a model exactly when there are no diagnostics");
    if let Some(model) = &loaded.model {
        let compiled = compile(model, &HOST);
        let json = to_json(&compiled.spec);
        assert!(!json.is_empty());
    }
    let _ = render(&loaded.sources, &loaded.diags, false);
    if let Some(tree) = &loaded.merged {
        let _ = explain(tree, &loaded.sources);
    }
});
