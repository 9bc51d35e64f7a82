//! Source files and byte spans: every value a profile sets remembers the file
//! and the bytes it came from, across `extends`, so diagnostics and `explain`
//! can point at it.

use std::fmt;
use std::path::{Path, PathBuf};

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start, end: end.max(start) }
    }
}

/// A value with the span it was written at.
#[derive(Clone, Debug, PartialEq)]
pub struct Sp<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Sp<T> {
    pub fn new(value: T, span: Span) -> Self {
        Sp { value, span }
    }
}

/// One loaded profile file.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user named it (or as `extends` resolved it).
    pub path: PathBuf,
    pub text: String,
    /// What to call it instead of its path: a source that is no file
    /// (the command line's overrides, the built-in defaults).
    pub label: Option<String>,
}

impl SourceFile {
    /// How messages name it: its label, or its path.
    pub fn name(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.path.display().to_string())
    }
}

/// Every file read while loading one profile, in load order.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, path: PathBuf, text: String) -> FileId {
        self.add_labelled(path, text, None)
    }

    /// A source that is no file: `path` only anchors its relative paths.
    pub fn add_labelled(&mut self, path: PathBuf, text: String, label: Option<String>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).expect("fewer than 2^32 files"));
        self.files.push(SourceFile { path, text, label });
        id
    }

    /// Every file, in the order they were added.
    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn path(&self, id: FileId) -> &Path {
        &self.get(id).path
    }

    /// 1-based line and column of a byte offset (column counts characters).
    pub fn line_col(&self, file: FileId, offset: usize) -> (usize, usize) {
        let text = &self.get(file).text;
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// `path:line` of a span, for `explain` and related notes.
    pub fn location(&self, span: Span) -> Location {
        let (line, _) = self.line_col(span.file, span.start);
        Location { name: self.get(span.file).name(), line }
    }
}

/// `file:line`, printed.
pub struct Location {
    pub name: String,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.line)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
