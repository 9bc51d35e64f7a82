//! TOML → [`Node`], with exact spans for every key and value.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::node::{Entry, MAX_DEPTH, Node, Value};
use crate::profile::diag::{Diag, Diags};
use crate::profile::source::{FileId, Sp, Span};

/// Parse a TOML document. Syntax errors are all reported (the parser
/// recovers); the tree is returned only when there were none.
pub fn parse(file: FileId, text: &str, diags: &mut Diags) -> Option<Node> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            diags.push(Diag::at(
                "profile::syntax",
                Span::new(file, span.start, span.end),
                e.message().trim(),
            ));
        }
        return None;
    }
    let span = Span::new(file, 0, text.len());
    let table = doc.into_inner();
    let before = diags.len();
    let node = Node::new(Value::Map(convert_table(file, table, 1, diags)), span);
    (diags.len() == before).then_some(node)
}

fn convert_table(file: FileId, table: DeTable<'_>, depth: usize, diags: &mut Diags) -> Vec<Entry> {
    table
        .into_iter()
        .map(|(k, v)| {
            let key_span = span_of(file, &k);
            let key = Sp::new(k.into_inner().into_owned(), key_span);
            Entry { key, value: convert(file, v, depth + 1, diags) }
        })
        .collect()
}

fn convert(file: FileId, v: Spanned<DeValue<'_>>, depth: usize, diags: &mut Diags) -> Node {
    let span = span_of(file, &v);
    if depth > MAX_DEPTH {
        diags.push(Diag::at("profile::too-deep", span, format!("nested deeper than {MAX_DEPTH} levels")));
        return Node::new(Value::Null, span);
    }
    let value = match v.into_inner() {
        DeValue::String(s) => Value::Str(s.into_owned()),
        DeValue::Integer(i) => match i128::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
            Ok(n) if i64::try_from(n).is_ok() || u64::try_from(n).is_ok() => Value::Int(n),
            _ => {
                diags.push(Diag::at("profile::number-range", span, "integer out of range (beyond 64 bits)"));
                Value::Null
            }
        },
        DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
            Ok(x) => Value::Float(x),
            Err(_) => Value::Str(f.as_str().to_owned()),
        },
        DeValue::Boolean(b) => Value::Bool(b),
        DeValue::Datetime(d) => Value::Str(d.to_string()),
        DeValue::Array(items) => {
            Value::Seq(items.into_iter().map(|item| convert(file, item, depth + 1, diags)).collect())
        }
        DeValue::Table(t) => Value::Map(convert_table(file, t, depth, diags)),
    };
    Node::new(value, span)
}

fn span_of<T>(file: FileId, s: &Spanned<T>) -> Span {
    let r = s.span();
    Span::new(file, r.start, r.end)
}
