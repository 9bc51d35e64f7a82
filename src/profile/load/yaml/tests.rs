use std::fmt::Write as _;
use std::path::PathBuf;

use super::error::offset_of;
use super::{options, parse};
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

#[test]
fn a_misindented_key_says_to_indent_it_like_its_siblings() {
    let (_, _, _, diag) = refused(MISINDENTED_DEEPER);
    assert_eq!(diag.code, "profile::syntax");
    assert_eq!(diag.message, "`:` inside a value");
    let help = diag.help.unwrap();
    assert!(help.contains("indent it like the other keys of its table"), "{help}");
    let (_, _, _, diag) = refused(&MISINDENTED_DEEPER.replace("   timeout", " timeout"));
    assert_eq!(diag.message, "this line's indentation matches no key above it");
}

#[test]
fn messages_say_what_is_wrong_in_the_profiles_terms() {
    let message = |text: &str| refused(text).3.message;
    assert_eq!(message("a: \"x\n"), "unclosed quote");
    assert_eq!(message("a:\n\tb: 1\n"), "a tab where YAML allows only spaces");
    assert_eq!(message("limits:\n  pids: 1\n  pids: 2\n"), "duplicate key `pids`");
    assert_eq!(message("a: [1, 2\n"), "unclosed `[`");
    assert_eq!(message("a: [1, 2}\n"), "`[` closed by `}`");
    assert_eq!(message("a: 1\n---\nb: 2\n"), "a second YAML document in the profile");
    assert_eq!(message("a: &x [1]\nb: *y\n"), "`*y` names no anchor defined before it");
    assert_eq!(message("a: .nan\n"), "`.nan` is not a finite number");
    assert_eq!(message("[a]: 1\n"), "a key must be a name");
    assert_eq!(message(&format!("a: [{}]\n", vec!["x"; 60_000].join(","))), "more than 50000 values");
}

#[test]
fn nesting_past_the_limit_is_too_deep_as_in_toml() {
    for text in
        [format!("a: {}{}\n", "[".repeat(40), "]".repeat(40)), format!("a: {}\n", "[".repeat(100_000))]
    {
        let (_, _, _, diag) = refused(&text);
        assert_eq!((diag.code, diag.message.as_str()), ("profile::too-deep", "nested deeper than 32 levels"));
    }
}

#[test]
fn an_alias_bomb_is_refused_at_the_alias_with_its_anchor_labelled() {
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (this, prev) in ('b'..='l').zip('a'..) {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{this}: &{this} [{}]", vec![format!("*{prev}"); 10].join(", "));
    }
    let (_, _, covered, diag) = refused(&text);
    assert_eq!(diag.message, "anchors and aliases (`&name`, `*name`) copy more than a profile may hold");
    assert!(covered.starts_with('*'), "at an alias: {covered:?}");
    let anchor = &diag.secondary.first().expect("the anchor is labelled").span;
    assert!(text[anchor.start..].starts_with('['), "at the anchored value: {:?}", &text[anchor.start..]);
}

/// Each a different mistake; together they reach every kind of error the
/// parser and the deserializer raise on a profile.
const MISTAKES: &[&str] = &[
    MISINDENTED_DEEPER,
    "limits:\n  pids: 1\n timeout: 2\n",
    "a:\n\tb: 1\n",
    "a:\n  b: 1\n\tc: 2\n",
    "a: \"x\n",
    "a: 'x\n",
    "a: \"x\\q\"\n",
    "a: \"x\" y\n",
    "a: [1, 2\n",
    "a: [1, 2}\n",
    "a: {b: 1\n",
    "a: [a, b\nc: 1\n",
    "a: [a, b,, c]\n",
    "limits:\n  pids: 1\n  pids: 2\n",
    "a: {b: 1, b: 2}\n",
    "a: 1\n---\nb: 2\n",
    "a: 1\n...\nb: 2\n",
    "a: &x [1]\nb: *y\n",
    "a: b: c\n",
    "a:\n  - x\n  y: 1\n",
    "a: - x\n",
    "a: @x\n",
    "a: `x\n",
    "a: !<x\n",
    "%YAML 1.2\n%YAML 1.2\n---\na: 1\n",
    "a: |0\n  x\n",
    "a: .nan\n",
    "a: 1e999\n",
    "[a]: 1\n",
    "a: &\n",
];

/// Every field name serde-saphyr's options and budgets have, read from
/// their debug form so a new option is covered too, and the names of its
/// API types.
fn library_names() -> Vec<String> {
    let debug = format!("{:#?}", options());
    let mut names: Vec<String> = debug
        .lines()
        .filter_map(|line| line.trim().split_once(':'))
        .map(|(name, _)| name.to_owned())
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    assert!(
        names.iter().any(|n| n == "max_depth") && names.iter().any(|n| n == "strict_booleans"),
        "{names:?}"
    );
    names.extend(
        ["Options", "Budget", "BudgetBreach", "AliasLimits", "DuplicateKeyPolicy", "from_str"]
            .map(String::from),
    );
    names
}

fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == word)
}

/// Whether `said` has the library's "at line 3, column 8".
fn names_a_position(said: &str) -> bool {
    ["line ", "column "].iter().any(|word| {
        said.match_indices(word)
            .any(|(at, _)| said[at + word.len()..].starts_with(|c: char| c.is_ascii_digit()))
    })
}

#[test]
fn no_message_names_a_library_option() {
    let names = library_names();
    for text in MISTAKES {
        let (_, _, _, diag) = refused(text);
        let help = diag.help.clone().unwrap_or_default();
        assert!(!help.is_empty(), "{text:?}: every syntax error says how to fix it");
        for said in [&diag.message, &help] {
            let found: Vec<&String> = names.iter().filter(|n| has_word(said, n)).collect();
            assert!(found.is_empty(), "{text:?}: {said:?} names {found:?}");
            // Where it is, is the span's job.
            assert!(!names_a_position(said), "{text:?}: {said:?}");
        }
    }
}
