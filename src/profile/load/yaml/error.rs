//! A serde-saphyr error → one [`Diag`]: at the line and column the parser
//! names, saying what is wrong in the profile's terms and how to fix it.
//! The library's own messages are not shown: they name its options and
//! budgets (`DuplicateKeyPolicy`, `max_depth`, ...), which a profile's
//! author cannot set.

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::granit_parser::ErrorKind;
use serde_saphyr::{Error, ExternalMessageSource, Location, Locations};

use super::{KEY_NAME, MAX_NODES, MAX_SCALAR_BYTES};
use crate::profile::diag::Diag;
use crate::profile::load::node::MAX_DEPTH;
use crate::profile::source::{FileId, Span};

/// The diagnostic for a document serde-saphyr refused.
pub(super) fn diag(file: FileId, text: &str, err: &Error) -> Diag {
    let span = err.location().map_or(Span::new(file, 0, 0), |l| span_at(file, text, l));
    let problem = describe(cause(err), &text[span.start..]);
    let diag = Diag::at(problem.code, span, problem.message).help(problem.help);
    match alias_locations(err) {
        Some(l) if l.defined_location != Location::UNKNOWN => {
            diag.label(span_at(file, text, l.defined_location), "the anchor this alias copies")
        }
        _ => diag,
    }
}

/// What went wrong and how to fix it.
struct Problem {
    code: &'static str,
    message: String,
    help: String,
}

impl Problem {
    fn syntax(message: impl Into<String>, help: impl Into<String>) -> Self {
        Problem { code: "profile::syntax", message: message.into(), help: help.into() }
    }
}

/// The error itself, without the wrappers that only add context (the alias
/// that copied the failing value, a source snippet).
fn cause(mut err: &Error) -> &Error {
    while let Error::AliasError { error, .. } | Error::WithSnippet { error, .. } = err {
        err = error;
    }
    err
}

/// Where the anchor is, when the error happened in a value an alias copied.
fn alias_locations(mut err: &Error) -> Option<Locations> {
    loop {
        match err {
            Error::AliasError { locations, .. } => return Some(*locations),
            Error::WithSnippet { error, .. } => err = error,
            _ => return None,
        }
    }
}

/// `rest` is the text from the error's place on.
fn describe(err: &Error, rest: &str) -> Problem {
    match err {
        Error::ExternalMessage { source, .. } => match source.as_ref() {
            ExternalMessageSource::Parser(scan) => scanner(scan.kind()),
            _ => unsupported(),
        },
        Error::DuplicateMappingKey { key, .. } => duplicate_key(key.as_deref()),
        Error::MultipleDocuments { .. } => two_documents(),
        Error::UnknownAnchor { .. } => unknown_anchor(rest),
        Error::Budget { breach, .. } => over_budget(breach),
        Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. }
        | Error::AliasReplayCounterOverflow { .. } => copies_too_much(),
        Error::NonFiniteFloat { value, .. } => Problem::syntax(
            format!("`{}` is not a finite number", value.escape_debug()),
            "write a finite number, or quote the value if it is text",
        ),
        Error::Eof { .. } => ends_early(),
        Error::SerdeInvalidType { expected, .. } if expected == KEY_NAME => Problem::syntax(
            "a key must be a name",
            "write the key as plain text, e.g. `cwd:`; a list, table or null cannot be a key",
        ),
        _ => unsupported(),
    }
}

/// A scanner error: the text is not YAML.
fn scanner(kind: &ErrorKind) -> Problem {
    indentation(kind)
        .or_else(|| quoting(kind))
        .or_else(|| brackets(kind))
        .or_else(|| markers(kind))
        .unwrap_or_else(|| match kind {
            ErrorKind::RecursionLimitExceeded => too_deep(),
            ErrorKind::UnexpectedEof
            | ErrorKind::UnexpectedEofBlockSequence
            | ErrorKind::UnexpectedEofBlockMapping => ends_early(),
            ErrorKind::InvalidDocumentEnd | ErrorKind::MultipleDocumentsUnsupported => two_documents(),
            _ => unsupported(),
        })
}

fn indentation(kind: &ErrorKind) -> Option<Problem> {
    let (message, help) = match kind {
        ErrorKind::ExpectedBlockMappingKey => (
            "this line's indentation matches no key above it",
            "indent a key like the other keys of its table, with spaces",
        ),
        ErrorKind::MappingValueNotAllowed => (
            "`:` inside a value",
            "if this line is a key, indent it like the other keys of its table; if the `:` belongs to the value, quote the value",
        ),
        ErrorKind::InvalidIndentation => (
            "invalid indentation",
            "indent a table's keys alike, and deeper than the key that holds the table, with spaces",
        ),
        ErrorKind::ExpectedBlockSequenceEntry => (
            "expected a list item (`- `) at this indentation",
            "indent this line like the other items of its list, or like the keys of its table",
        ),
        ErrorKind::BlockSequenceEntryNotAllowed | ErrorKind::BlockEntryInFlowCollection => (
            "a list item (`- `) cannot start here",
            "start the list on the line after its key, one `- item` a line, or write it inline as `[a, b]`",
        ),
        ErrorKind::InvalidSimpleKey | ErrorKind::SimpleKeyExpected | ErrorKind::MappingKeyNotAllowed => {
            ("a key without its `:`", "write `key: value` on one line")
        }
        ErrorKind::InvalidFlowScalarIndent | ErrorKind::InvalidQuotedScalarIndent => (
            "a continued value is indented too little",
            "indent every line of a multi-line value deeper than its key",
        ),
        ErrorKind::InvalidBlockScalarIndent => (
            "a line of this `|` or `>` text is indented less than its first line",
            "indent every line of the text at least as deep as its first",
        ),
        ErrorKind::ZeroBlockScalarIndent | ErrorKind::InvalidBlockScalarHeader => (
            "invalid `|` or `>` header",
            "end the key's line with `|` or `>` alone, and write the text indented on the lines below",
        ),
        ErrorKind::TabInIndentation
        | ErrorKind::TabInBlockIndentation
        | ErrorKind::TabNotAllowed
        | ErrorKind::TabAtBlockScalarStart
        | ErrorKind::TabInPlainScalar => (
            "a tab where YAML allows only spaces",
            "indent with spaces: YAML does not allow tabs in indentation",
        ),
        _ => return None,
    };
    Some(Problem::syntax(message, help))
}

fn quoting(kind: &ErrorKind) -> Option<Problem> {
    let (message, help) = match kind {
        ErrorKind::UnclosedQuotedScalar => ("unclosed quote", "end the string with the quote it starts with"),
        ErrorKind::InvalidTrailingSingleQuotedScalar | ErrorKind::InvalidTrailingDoubleQuotedScalar => {
            ("text after a closing quote", "quote the whole value, or end it at the closing quote")
        }
        ErrorKind::UnknownQuotedScalarEscape
        | ErrorKind::InvalidQuotedScalarHexEscape
        | ErrorKind::InvalidLowSurrogateHexEscape
        | ErrorKind::InvalidLowSurrogate
        | ErrorKind::MissingLowSurrogate
        | ErrorKind::UnpairedLowSurrogate
        | ErrorKind::InvalidUnicodeEscape => (
            "invalid `\\` escape in a double-quoted string",
            "write a backslash as `\\\\`, or use single quotes, in which `\\` is itself",
        ),
        ErrorKind::DocumentIndicatorInQuotedScalar => {
            ("a line of a quoted string starts with `---` or `...`", "indent the string's continuation lines")
        }
        ErrorKind::CommentInterceptedScalar => {
            ("a comment inside a multi-line value", "quote the value, or move the comment after it")
        }
        _ => return None,
    };
    Some(Problem::syntax(message, help))
}

fn brackets(kind: &ErrorKind) -> Option<Problem> {
    Some(match kind {
        ErrorKind::UnclosedFlowCollection { open } => {
            Problem::syntax(format!("unclosed `{open}`"), format!("close it with `{}`", closing(*open)))
        }
        ErrorKind::MismatchedFlowCollectionEnd { open, close } => Problem::syntax(
            format!("`{open}` closed by `{close}`"),
            format!("close `{open}` with `{}`", closing(*open)),
        ),
        ErrorKind::MisplacedFlowCollectionEnd => Problem::syntax(
            "a closing bracket with nothing to close",
            "remove it, or add the `[` or `{` it closes",
        ),
        ErrorKind::ExpectedFlowSequenceSeparator => Problem::syntax(
            "expected `,` or `]` in this inline list",
            "separate the items with `,` and close the list with `]`",
        ),
        ErrorKind::ExpectedFlowMappingSeparator => Problem::syntax(
            "expected `,` or `}` in this inline table",
            "separate the entries with `,` and close the table with `}`",
        ),
        ErrorKind::UnexpectedEofFlowSequence
        | ErrorKind::UnexpectedEofFlowMapping
        | ErrorKind::UnexpectedEofImplicitFlowMapping => Problem::syntax(
            "the profile ends inside an inline list or table",
            "close every `[` with `]` and every `{` with `}`",
        ),
        ErrorKind::InvalidColonPlacement | ErrorKind::FlowMappingValueAdjacentCollection => Problem::syntax(
            "a `:` out of place in an inline list or table",
            "close the list or table before the next key, or quote items that contain `:`",
        ),
        ErrorKind::PlainScalarStartsWithDashFlowIndicator => {
            Problem::syntax("a value cannot start with `-` and one of `,[]{}`", "quote the value")
        }
        _ => return None,
    })
}

/// The bracket that closes `open`.
fn closing(open: char) -> char {
    match open {
        '[' => ']',
        '{' => '}',
        other => other,
    }
}

/// YAML's indicator characters (`:`, `#`, `&`, `!`, `%`, ...) used wrongly.
fn markers(kind: &ErrorKind) -> Option<Problem> {
    let (message, help) = match kind {
        ErrorKind::InvalidMappingValueWhitespace => (
            "a `:` after a key needs a space after it",
            "write `key: value`, or quote a value that contains `:`",
        ),
        ErrorKind::CommentNotSeparated => (
            "a `#` comment needs a space before it",
            "put a space before `#`, or quote the value if `#` is part of it",
        ),
        ErrorKind::UnexpectedCharacter { character } => {
            return Some(Problem::syntax(
                format!("a value cannot start with `{}`", character.escape_debug()),
                "quote the value",
            ));
        }
        ErrorKind::ExpectedNodeContent => {
            ("expected a value here", "write a value, quoting it if it starts with one of `*&!|>%@`")
        }
        ErrorKind::MissingAnchorOrAliasName => (
            "`&` or `*` without a name",
            "name the anchor (`&name`) or alias (`*name`), or quote a value that starts with `&` or `*`",
        ),
        ErrorKind::ExpectedTagBang
        | ErrorKind::UndeclaredTagHandle
        | ErrorKind::InvalidGlobalTagCharacter
        | ErrorKind::InvalidTagTerminator
        | ErrorKind::MissingTagUri
        | ErrorKind::UnclosedVerbatimTag
        | ErrorKind::InvalidTagEscape
        | ErrorKind::InvalidTagUtf8LeadingByte
        | ErrorKind::InvalidTagUtf8TrailingByte
        | ErrorKind::InvalidTagUtf8 => {
            ("invalid `!` tag", "remove the tag (profiles need none), or quote a value that starts with `!`")
        }
        ErrorKind::DuplicateVersionDirective
        | ErrorKind::UnsupportedYamlMajorVersion
        | ErrorKind::DuplicateTagDirective
        | ErrorKind::MissingDocumentEndBeforeDirective
        | ErrorKind::DirectiveDisallowed
        | ErrorKind::InvalidDirectiveTerminator
        | ErrorKind::MissingYamlVersionSeparator
        | ErrorKind::MissingDirectiveName
        | ErrorKind::InvalidDirectiveName
        | ErrorKind::DirectiveByteLimitExceeded { .. }
        | ErrorKind::TooManyReservedDirectiveParams { .. }
        | ErrorKind::YamlVersionTooLong
        | ErrorKind::MissingYamlVersion
        | ErrorKind::InvalidTagDirectiveTerminator => {
            ("invalid `%` directive", "remove the `%` line: profiles need no directives")
        }
        ErrorKind::BomInsideDocument => {
            ("a byte-order mark inside the profile", "remove it: only a file's first character may be one")
        }
        _ => return None,
    };
    Some(Problem::syntax(message, help))
}

fn duplicate_key(key: Option<&str>) -> Problem {
    let message =
        key.map_or_else(|| "duplicate key".to_owned(), |k| format!("duplicate key `{}`", k.escape_debug()));
    Problem::syntax(message, "a key appears once in its table: remove one, or merge the two")
}

fn two_documents() -> Problem {
    Problem::syntax(
        "a second YAML document in the profile",
        "a profile is one document: remove the `---` or `...` line, or move what follows it to a file named in `extends`",
    )
}

/// `rest` starts at the alias (`*name`) the parser could not resolve.
fn unknown_anchor(rest: &str) -> Problem {
    let name: String = rest
        .strip_prefix('*')
        .unwrap_or("")
        .chars()
        .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
        .collect();
    if name.is_empty() {
        return Problem::syntax(
            "an alias names no anchor defined before it",
            "define the anchor (`&name`) on a value above the alias (`*name`), or fix the name",
        );
    }
    let name = name.escape_debug();
    Problem::syntax(
        format!("`*{name}` names no anchor defined before it"),
        format!("define `&{name}` on a value above this line, or fix the name"),
    )
}

fn over_budget(breach: &BudgetBreach) -> Problem {
    let help = "profiles are small; split this one with `extends`";
    match breach {
        BudgetBreach::Depth { .. } => too_deep(),
        BudgetBreach::Nodes { .. } => Problem::syntax(format!("more than {MAX_NODES} values"), help),
        BudgetBreach::ScalarBytes { .. } => {
            Problem::syntax(format!("more than {} MiB of text in values", MAX_SCALAR_BYTES >> 20), help)
        }
        BudgetBreach::Documents { .. } => two_documents(),
        BudgetBreach::Aliases { .. }
        | BudgetBreach::Anchors { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::RecordedAnchorEvents { .. }
        | BudgetBreach::RecordedAnchorBytes { .. }
        | BudgetBreach::MergeKeys { .. } => copies_too_much(),
        _ => Problem::syntax("the profile is too large to read", help),
    }
}

fn too_deep() -> Problem {
    Problem {
        code: "profile::too-deep",
        message: format!("nested deeper than {MAX_DEPTH} levels"),
        help: "no profile setting nests this deep; flatten the value".to_owned(),
    }
}

fn copies_too_much() -> Problem {
    Problem::syntax(
        "anchors and aliases (`&name`, `*name`) copy more than a profile may hold",
        "write the values out, or copy less through aliases",
    )
}

fn ends_early() -> Problem {
    Problem::syntax("the profile ends in the middle of an entry", "complete the last entry, or remove it")
}

/// An error this code has no words for (the library's kinds grow with its
/// versions): the span says where, and the library's words are not shown.
fn unsupported() -> Problem {
    Problem::syntax(
        "YAML a profile cannot hold",
        "write plain YAML: tables of `key: value` lines, lists, strings, numbers and booleans",
    )
}

/// Where a location is in `text`. The start comes from its line and column:
/// scanner errors (bad indentation, an unclosed quote, a tab) carry only
/// those, no byte offset. The length is kept when the location has one for
/// that same start; otherwise the span covers the one character there.
fn span_at(file: FileId, text: &str, loc: Location) -> Span {
    let start = offset_of(text, loc.line(), loc.column());
    let s = loc.span();
    let len = match (s.byte_offset(), s.byte_len()) {
        (Some(at), Some(len)) if usize::try_from(at).ok() == Some(start) => usize::try_from(len).unwrap_or(0),
        _ => text[start..].chars().next().filter(|&c| c != '\n').map_or(0, char::len_utf8),
    };
    Span::new(file, start, (start + len).min(text.len()))
}

/// The byte offset of a 1-based line and character column. Past the end of
/// its line (an error at the line break) is the line's end; past the last
/// line (an error at the end of input) is the end of the text.
pub(super) fn offset_of(text: &str, line: u64, column: u64) -> usize {
    let skip = usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX);
    let line_start = if skip == 0 {
        0
    } else {
        text.match_indices('\n').nth(skip - 1).map_or(text.len(), |(at, _)| at + 1)
    };
    let rest = &text[line_start..];
    let line_end = line_start + rest.find('\n').unwrap_or(rest.len());
    let column = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    text[line_start..line_end].char_indices().nth(column).map_or(line_end, |(at, _)| line_start + at)
}
