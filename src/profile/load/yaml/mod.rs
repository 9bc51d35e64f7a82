//! YAML → [`Node`], through serde-saphyr's span-aware deserializer. Its
//! budget bounds alias expansion, node count and nesting, so alias bombs and
//! deep documents end in an error instead of a hang.

mod error;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, Location, Options, Spanned};

use super::node::{Entry, MAX_DEPTH, Node, Value};
use crate::profile::diag::{Diag, Diags};
use crate::profile::source::{FileId, Sp, Span};

/// Most values a document may have, and most bytes of text in them: a
/// profile has a few hundred values.
const MAX_NODES: usize = 50_000;
const MAX_SCALAR_BYTES: usize = 4 << 20;

/// What a key is expected to be: the error for anything else is told by it.
const KEY_NAME: &str = "a key name";

/// Parse a YAML document (one document; aliases expanded within budget).
pub fn parse(file: FileId, text: &str, diags: &mut Diags) -> Option<Node> {
    match serde_saphyr::from_str_with_options::<Option<YNode>>(text, options()) {
        Ok(Some(node)) => {
            let before = diags.len();
            let node = node.into_node(file, text, diags);
            (diags.len() == before).then_some(node)
        }
        Ok(None) => Some(Node::new(Value::Map(Vec::new()), Span::new(file, 0, text.len()))),
        Err(e) => {
            diags.push(error::diag(file, text, &e));
            None
        }
    }
}

fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_aliases = 1_000;
    budget.max_total_scalar_bytes = MAX_SCALAR_BYTES;
    // Aliases may expand into at most this many events in all: an alias
    // bomb ends here, early, instead of at the node budget.
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = 20_000;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits = alias_limits;
    options.with_snippet = false;
    options.strict_booleans = true;
    options
}

fn span_of(file: FileId, text: &str, loc: Location) -> Span {
    let s = loc.span();
    let start = s.byte_offset().and_then(|o| usize::try_from(o).ok()).unwrap_or(0).min(text.len());
    let len = s.byte_len().and_then(|o| usize::try_from(o).ok()).unwrap_or(0);
    Span::new(file, start, (start + len).min(text.len()))
}

fn looks_integer(s: &str) -> bool {
    let digits = s.trim().trim_start_matches(['-', '+']);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || c == '_')
}

/// What serde-saphyr hands us: a value and where it was referenced.
struct YNode(Spanned<YValue>);

enum YValue {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<YNode>),
    Map(Vec<(Spanned<String>, YNode)>),
}

impl YNode {
    fn into_node(self, file: FileId, text: &str, diags: &mut Diags) -> Node {
        let span = span_of(file, text, self.0.referenced);
        let value = match self.0.value {
            // The YAML crate reads integers too wide for 64 bits as floats;
            // the source text tells them apart.
            YValue::Float(_) if looks_integer(text.get(span.start..span.end).unwrap_or("")) => {
                diags.push(Diag::at("profile::number-range", span, "integer out of range (beyond 64 bits)"));
                Value::Null
            }
            YValue::Null => Value::Null,
            YValue::Bool(b) => Value::Bool(b),
            YValue::Int(i) => Value::Int(i),
            YValue::Float(f) => Value::Float(f),
            YValue::Str(s) => Value::Str(s),
            YValue::Seq(items) => {
                Value::Seq(items.into_iter().map(|n| n.into_node(file, text, diags)).collect())
            }
            YValue::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| Entry {
                        key: Sp::new(k.value, span_of(file, text, k.referenced)),
                        value: v.into_node(file, text, diags),
                    })
                    .collect(),
            ),
        };
        Node::new(value, span)
    }
}

impl<'de> Deserialize<'de> for YNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Spanned::<YValue>::deserialize(d).map(YNode)
    }
}

impl<'de> Deserialize<'de> for YValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = YValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<YValue, E> {
        Ok(YValue::Null)
    }
    fn visit_none<E>(self) -> Result<YValue, E> {
        Ok(YValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<YValue, D::Error> {
        YValue::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<YValue, E> {
        Ok(YValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<YValue, E> {
        Ok(YValue::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<YValue, E> {
        Ok(YValue::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<YValue, E> {
        Ok(YValue::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<YValue, E> {
        i128::try_from(v).map(YValue::Int).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<YValue, E> {
        Ok(YValue::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<YValue, E> {
        Ok(YValue::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<YValue, E> {
        Ok(YValue::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<YNode>()? {
            items.push(item);
        }
        Ok(YValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyString>>()? {
            let value = map.next_value::<YNode>()?;
            entries.push((Spanned::new(key.value.0, key.referenced, key.defined), value));
        }
        Ok(YValue::Map(entries))
    }
}

/// Keys are names: scalars become their text, collections are refused.
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(KEY_NAME)
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}
