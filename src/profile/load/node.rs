//! The format-neutral document tree: what TOML and YAML both parse into.
//! Every node carries its span, so merging, variable expansion and typing
//! all keep track of where each value was written.

use crate::profile::source::{Sp, Span};

/// Deeper documents are rejected: no profile needs more, and it bounds the
/// recursion of every later pass.
pub const MAX_DEPTH: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Wide enough for every u64 and i64; wider literals are rejected at parse.
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: Sp<String>,
    pub value: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

impl Node {
    pub fn new(value: Value, span: Span) -> Self {
        Node { value, span }
    }

    /// The kind of value, as the diagnostics name it.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a table",
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key.value == key).map(|e| &e.value),
            _ => None,
        }
    }

    /// Remove a top-level key and return its entry.
    pub fn take(&mut self, key: &str) -> Option<Entry> {
        match &mut self.value {
            Value::Map(entries) => {
                let i = entries.iter().position(|e| e.key.value == key)?;
                Some(entries.remove(i))
            }
            _ => None,
        }
    }
}
