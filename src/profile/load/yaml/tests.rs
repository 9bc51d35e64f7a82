use std::path::PathBuf;

use super::error::offset_of;
use super::parse;
use crate::profile::diag::{Diag, Diags};
use crate::profile::source::SourceMap;

/// A profile whose line 12 is indented one space deeper than its siblings:
/// the parser reads it as the value above continued, until its `:`.
const MISINDENTED_DEEPER: &str = "\
# A CI step with one misindented key.
description: CI test step

process:
  command: [/bin/sh, -c, \"make test\"]
  cwd: /src
  terminal: never

limits:
  memory: 4GiB
  pids: 1024
   timeout: 30m

security:
  landlock:
    read: [/src]
";

/// Parse `text` as a YAML profile that must be refused with one problem:
/// that problem, with the 1-based line and column its span starts at and
/// the text it covers.
fn refused(text: &str) -> (usize, usize, String, Diag) {
    let mut sources = SourceMap::default();
    let file = sources.add(PathBuf::from("t.yaml"), text.to_owned());
    let mut diags = Diags::default();
    let node = parse(file, &sources.get(file).text, &mut diags);
    assert!(node.is_none(), "{text:?} parsed");
    let (list, dropped) = diags.into_parts();
    assert_eq!((list.len(), dropped), (1, 0), "{text:?}: {list:#?}");
    let diag = list.into_iter().next().unwrap();
    let span = diag.primary.as_ref().expect("a syntax error has a place").span;
    let (line, column) = sources.line_col(file, span.start);
    (line, column, text[span.start..span.end].to_owned(), diag)
}

fn position(text: &str) -> (usize, usize) {
    let (line, column, _, _) = refused(text);
    (line, column)
}

#[test]
fn a_key_indented_deeper_than_its_siblings_is_reported_on_its_line() {
    // The `:` of `timeout:` is where the parser finds the line cannot be a
    // continued value.
    let (line, column, covered, _) = refused(MISINDENTED_DEEPER);
    assert_eq!((line, column, covered.as_str()), (12, 11, ":"));
}

#[test]
fn a_key_indented_less_than_its_siblings_is_reported_at_the_key() {
    let text = MISINDENTED_DEEPER.replace("   timeout", " timeout");
    let (line, column, covered, _) = refused(&text);
    assert_eq!((line, column, covered.as_str()), (12, 2, "t"));
}

#[test]
fn an_unclosed_quote_is_reported_at_the_opening_quote() {
    let text = "description: x\nprocess:\n  cwd: \"/src\n  terminal: never\n";
    let (line, column, covered, _) = refused(text);
    assert_eq!((line, column, covered.as_str()), (3, 8, "\""));
    assert_eq!(position("a: 'x\n"), (1, 4));
}

#[test]
fn a_tab_in_the_indentation_is_reported_on_its_line() {
    // The parser names the first character after the tab.
    assert_eq!(position("description: x\nprocess:\n\tcwd: /src\n"), (3, 2));
    assert_eq!(position("a:\n\t- x\n"), (2, 2));
}

#[test]
fn a_duplicate_key_is_reported_at_the_second_one() {
    let (line, column, covered, _) = refused("description: x\nprocess:\n  cwd: /src\n  cwd: /tmp\n");
    assert_eq!((line, column, covered.as_str()), (4, 3, "cwd"));
    assert_eq!(position("a: {b: 1, b: 2}\n"), (1, 11));
}

#[test]
fn flow_and_document_errors_are_reported_where_the_parser_names() {
    // An inline list left open: the next line's `:` is where it breaks.
    assert_eq!(position("description: x\nprocess:\n  command: [/bin/sh, -c\n  cwd: /src\n"), (4, 6));
    assert_eq!(position("a: [1, 2}\n"), (1, 4));
    assert_eq!(position("a: 1\n---\nb: 2\n"), (3, 1));
    assert_eq!(position("a: &x [1]\nb: *y\n"), (2, 4));
}

#[test]
fn columns_count_characters_not_bytes() {
    // `é` is two bytes: a byte column would land one character early.
    assert_eq!(position("é: \"x\n"), (1, 4));
    assert_eq!(position("# ééé\nlimits:\n  pids: 1\n   é: 2\n"), (4, 5));
}

#[test]
fn windows_line_endings_keep_the_positions() {
    let text = MISINDENTED_DEEPER.replace('\n', "\r\n");
    assert_eq!(position(&text), (12, 11));
}

#[test]
fn offsets_past_a_line_or_the_text_are_clamped() {
    let text = "ab\ncd\n";
    assert_eq!(offset_of(text, 2, 2), 4);
    assert_eq!(offset_of(text, 1, 9), 2, "past the line's end: its line break");
    assert_eq!(offset_of(text, 3, 1), 6, "the empty last line");
    assert_eq!(offset_of(text, 9, 1), 6, "past the last line: the end");
    assert_eq!(offset_of(text, 0, 0), 0, "an unknown location: the start");
}
