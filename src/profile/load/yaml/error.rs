//! A serde-saphyr error → one [`Diag`] at the place the parser names.

use serde_saphyr::{Error, Location};

use crate::profile::diag::Diag;
use crate::profile::source::{FileId, Span};

/// The diagnostic for a document serde-saphyr refused.
pub(super) fn diag(file: FileId, text: &str, err: &Error) -> Diag {
    let span = err.location().map_or(Span::new(file, 0, 0), |l| span_at(file, text, l));
    let message = err.to_string();
    let message = message.lines().next().unwrap_or("invalid YAML").trim();
    Diag::at("profile::syntax", span, message)
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
