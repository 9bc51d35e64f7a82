//! Diagnostics: every problem found in a profile, each with a code, a
//! message, labelled spans and help, rendered with miette.

use std::collections::HashSet;
use std::fmt;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, SourceSpan,
};

use crate::profile::source::{SourceMap, Span};

/// A labelled span.
#[derive(Clone, Debug)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One problem in a profile.
#[derive(Clone, Debug)]
pub struct Diag {
    /// Stable code, e.g. `profile::unknown-key`; fixtures are named after it.
    pub code: &'static str,
    pub message: String,
    /// The place the problem is; `None` for problems of a whole file.
    pub primary: Option<Label>,
    /// Other places involved (the first of two duplicates, ...).
    pub secondary: Vec<Label>,
    pub help: Option<String>,
}

impl Diag {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Diag { code, message: message.into(), primary: None, secondary: Vec::new(), help: None }
    }

    /// Shorthand for the common case: a message at one span.
    pub fn at(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diag::new(code, message).label(span, "")
    }

    #[must_use]
    pub fn label(mut self, span: Span, text: impl Into<String>) -> Self {
        let label = Label { span, text: text.into() };
        if self.primary.is_none() {
            self.primary = Some(label);
        } else {
            self.secondary.push(label);
        }
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// The diagnostics collected while loading one profile.
#[derive(Debug, Default)]
pub struct Diags {
    list: Vec<Diag>,
    /// Spans whose value was replaced by a placeholder after a type error:
    /// later checks on them would only repeat the first complaint.
    poisoned: HashSet<Span>,
    /// Problems found beyond [`MAX_KEPT`]: counted, not kept.
    dropped: usize,
}

impl Diags {
    pub fn push(&mut self, diag: Diag) {
        if let Some(primary) = &diag.primary {
            if self.poisoned.contains(&primary.span) {
                return;
            }
        }
        if self.list.len() >= MAX_KEPT {
            self.dropped += 1;
        } else {
            self.list.push(diag);
        }
    }

    /// Record a problem at `span` and silence later ones at the same span.
    pub fn poison(&mut self, diag: Diag) {
        let span = diag.primary.as_ref().map(|l| l.span);
        self.push(diag);
        if let Some(span) = span {
            self.silence(span);
        }
    }

    /// Whether another problem would be kept; when not, hot paths call
    /// [`Diags::count`] instead of building a diagnostic only to drop it.
    pub fn has_room(&self) -> bool {
        self.list.len() < MAX_KEPT
    }

    /// Count a problem without keeping it.
    pub fn count(&mut self) {
        self.dropped += 1;
    }

    /// Silence later problems at `span` (its value was already reported).
    pub fn silence(&mut self, span: Span) {
        self.poisoned.insert(span);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len() + self.dropped
    }

    /// The kept problems, and how many more were found.
    pub fn into_parts(self) -> (Vec<Diag>, usize) {
        (self.list, self.dropped)
    }
}

/// Problems beyond this many are counted, not kept: nobody reads the
/// ten-thousandth, and keeping each costs time and memory on hostile input.
pub const MAX_KEPT: usize = 200;

/// Source lines longer than this are not quoted (the renderer handles long
/// lines badly, and a quote of them helps nobody): the location is named.
const MAX_QUOTED_LINE: usize = 4096;

/// Render diagnostics as text: miette's graphical report, without colour
/// when `color` is false (tests snapshot this form), wrapped at 100 columns.
pub fn render(sources: &SourceMap, diags: &[Diag], color: bool) -> String {
    render_width(sources, diags, color, 100)
}

/// [`render`] wrapped at `width` columns.
pub fn render_width(sources: &SourceMap, diags: &[Diag], color: bool, width: usize) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(width).with_links(false);
    let mut out = String::new();
    for diag in diags {
        let report = to_miette(sources, diag);
        // Writing to a String cannot fail.
        let _ = handler.render_report(&mut out, &report);
        out.push('\n');
    }
    out
}

/// A self-contained miette diagnostic: message, code, help, and the labels
/// of one file. Labels in other files become related diagnostics.
struct Report {
    inner: MietteDiagnostic,
    source: Option<NamedSource<String>>,
    related: Vec<Report>,
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.code()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.help()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.inner.labels()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
    }
}

fn to_miette(sources: &SourceMap, diag: &Diag) -> Report {
    let mut inner = MietteDiagnostic::new(diag.message.clone()).with_code(diag.code);
    if let Some(help) = &diag.help {
        inner = inner.with_help(help.clone());
    }
    let Some(primary) = &diag.primary else {
        return Report { inner, source: None, related: Vec::new() };
    };
    if line_len(sources, primary.span) > MAX_QUOTED_LINE {
        let at = sources.line_col(primary.span.file, primary.span.start);
        let path = sources.get(primary.span.file).name();
        let inner = MietteDiagnostic::new(format!("{} (at {path}:{}:{})", diag.message, at.0, at.1))
            .with_code(diag.code);
        let inner = match &diag.help {
            Some(h) => inner.with_help(h.clone()),
            None => inner,
        };
        return Report { inner, source: None, related: Vec::new() };
    }
    let file = primary.span.file;
    let mut labels = Vec::new();
    let mut related = Vec::new();
    for (i, label) in std::iter::once(primary).chain(&diag.secondary).enumerate() {
        let text = (!label.text.is_empty()).then(|| label.text.clone());
        let span = SourceSpan::from(label.span.start..label.span.end);
        if label.span.file == file {
            labels.push(if i == 0 {
                LabeledSpan::new_primary_with_span(text, span)
            } else {
                LabeledSpan::new_with_span(text, span)
            });
        } else {
            let note =
                MietteDiagnostic::new(label.text.clone()).with_label(LabeledSpan::new_with_span(None, span));
            related.push(Report { inner: note, source: Some(named(sources, label.span)), related: vec![] });
        }
    }
    inner = inner.with_labels(labels);
    Report { inner, source: Some(named(sources, primary.span)), related }
}

/// The length of the line a span starts on.
fn line_len(sources: &SourceMap, span: Span) -> usize {
    let bytes = sources.get(span.file).text.as_bytes();
    let at = span.start.min(bytes.len());
    let start = bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let end = bytes[at..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| at + i);
    end - start
}

fn named(sources: &SourceMap, span: Span) -> NamedSource<String> {
    let file = sources.get(span.file);
    NamedSource::new(file.name(), file.text.clone())
}
