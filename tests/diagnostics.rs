//! One fixture per diagnostic kind under tests/fixtures/diagnostics, named
//! after its code; each must produce that diagnostic (and only that kind),
//! and its rendered text is snapshotted.

mod common;

use std::collections::BTreeSet;

use common::{load, rendered};

#[test]
fn each_fixture_produces_its_diagnostic() {
    let dir = common::root().join("tests/fixtures/diagnostics");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    assert!(names.len() >= 40, "expected a fixture per diagnostic kind");
    for path in names {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let expected = format!("profile::{stem}");
        let loaded = load(&common::relative(&path));
        let codes: BTreeSet<&str> = loaded.diags.iter().map(|d| d.code).collect();
        println!("{}: {codes:?}", common::relative(&path));
        assert_eq!(codes, BTreeSet::from([expected.as_str()]), "{}:\n{}", path.display(), rendered(&loaded));
        assert!(loaded.model.is_none(), "a profile with problems yields no model");
        insta::assert_snapshot!(format!("diag_{stem}"), rendered(&loaded));
    }
}

#[test]
fn five_mistakes_are_all_reported_with_their_spans() {
    let loaded = load("tests/fixtures/five-mistakes.toml");
    let text = rendered(&loaded);
    assert_eq!(loaded.diags.len(), 5, "{text}");
    let codes: BTreeSet<&str> = loaded.diags.iter().map(|d| d.code).collect();
    assert_eq!(codes.len(), 5, "five different kinds: {codes:?}");
    let source = &loaded.sources.get(loaded.diags[0].primary.as_ref().unwrap().span.file).text;
    // Each span covers exactly the offending text, on five different lines.
    let snippets: Vec<&str> = loaded
        .diags
        .iter()
        .map(|d| d.primary.as_ref().expect("every mistake has a span").span)
        .map(|s| &source[s.start..s.end])
        .collect();
    assert_eq!(snippets, ["comand", "\"sometimes\"", "\"2 gigs\"", "\"NET_BIND_SERVICES\"", "\"usr\""]);
    insta::assert_snapshot!("five_mistakes", text);
}

#[test]
fn every_nat_mistake_is_reported_at_its_line() {
    let loaded = load("tests/fixtures/nat-mistakes.toml");
    let text = rendered(&loaded);
    let at: Vec<(&str, usize)> = loaded
        .diags
        .iter()
        .map(|d| {
            (
                d.code,
                loaded
                    .sources
                    .line_col(d.primary.as_ref().unwrap().span.file, d.primary.as_ref().unwrap().span.start)
                    .0,
            )
        })
        .collect();
    let expected = [
        ("profile::publish", 4),
        ("profile::publish-conflict", 4),
        ("profile::publish", 4),
        ("profile::egress", 9),
        ("profile::egress-rule", 10),
        ("profile::egress", 11),
        ("profile::egress-rule", 12),
        ("profile::egress-rule", 13),
    ];
    assert_eq!(at, expected, "{text}");
    insta::assert_snapshot!("nat_mistakes", text);
}

#[test]
fn yaml_diagnostics_point_at_line_and_column() {
    let loaded = load("tests/fixtures/five-mistakes.yaml");
    assert_eq!(loaded.diags.len(), 5, "{}", rendered(&loaded));
    let positions: Vec<(usize, usize)> = loaded
        .diags
        .iter()
        .map(|d| d.primary.as_ref().unwrap().span)
        .map(|s| loaded.sources.line_col(s.file, s.start))
        .collect();
    assert_eq!(positions, [(2, 3), (3, 13), (5, 11), (7, 18), (10, 9)]);
    insta::assert_snapshot!("five_mistakes_yaml", rendered(&loaded));
}

#[test]
fn duplicate_targets_label_both_places_across_files() {
    let loaded = load("tests/fixtures/extends/dup-child.toml");
    assert_eq!(loaded.diags.len(), 1, "{}", rendered(&loaded));
    let diag = &loaded.diags[0];
    assert_eq!(diag.code, "profile::duplicate-target");
    let files: BTreeSet<_> =
        std::iter::once(diag.primary.as_ref().unwrap()).chain(&diag.secondary).map(|l| l.span.file).collect();
    assert_eq!(files.len(), 2, "one label in each file");
    insta::assert_snapshot!("duplicate_across_files", rendered(&loaded));
}
