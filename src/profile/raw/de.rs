//! A serde deserializer over [`Node`] that never stops at the first
//! mistake. A value of the wrong type is reported at its span and replaced by
//! a placeholder (and its span is poisoned so later checks stay quiet); an
//! unknown key is reported with "did you mean" from the struct's field list;
//! so one run finds every problem in a profile.

use std::cell::RefCell;
use std::fmt;

use serde::de::value::{StrDeserializer, U32Deserializer, U64Deserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::wrappers::{COLLECTION_VARIANT, ONE_OF, SCALAR, SCALAR_VARIANT, SPANNED};
use crate::profile::diag::{Diag, Diags};
use crate::profile::load::node::{Entry, Node, Value};
use crate::profile::source::{Sp, Span};
use crate::profile::suggest::closest;

/// Type `node` as `T`, collecting every problem into `diags`. `None` only
/// when a problem could not be recovered from (it is in `diags` too).
pub fn from_node<T: DeserializeOwned>(node: &Node, diags: &mut Diags) -> Option<T> {
    let cell = RefCell::new(std::mem::take(diags));
    let result = T::deserialize(NodeDe { node, diags: &cell, unknown: None });
    *diags = cell.into_inner();
    match result {
        Ok(value) => Some(value),
        Err(e) => {
            diags.push(Diag::at("profile::type", e.span.unwrap_or(node.span), e.message));
            None
        }
    }
}

#[derive(Debug)]
pub struct Error {
    message: String,
    span: Option<Span>,
}

impl Error {
    fn at(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error { message: msg.to_string(), span: None }
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    diags: &'a RefCell<Diags>,
    /// Set when this value belongs to a key of a struct: the key and the
    /// struct's fields, for the unknown-key report.
    unknown: Option<(&'a Sp<String>, &'static [&'static str])>,
}

impl<'a> NodeDe<'a> {
    fn child(&self, node: &'a Node) -> NodeDe<'a> {
        NodeDe { node, diags: self.diags, unknown: None }
    }

    fn mismatch(&self, expected: &str) {
        let message = format!("expected {expected}, found {}", self.node.kind());
        self.diags.borrow_mut().poison(Diag::at("profile::type", self.node.span, message));
    }

    fn is_scalar(&self) -> bool {
        !matches!(self.node.value, Value::Seq(_) | Value::Map(_))
    }

    fn int<T: TryFrom<i128> + Default>(&self, name: &str) -> T {
        if let Value::Int(i) = self.node.value {
            T::try_from(i).unwrap_or_else(|_| {
                let message = format!("{i} is out of range for this key ({name})");
                self.diags.borrow_mut().poison(Diag::at("profile::range", self.node.span, message));
                T::default()
            })
        } else {
            self.mismatch("an integer");
            T::default()
        }
    }

    fn map(&self, fields: &'static [&'static str]) -> MapDe<'a> {
        let entries: &'a [Entry] = if let Value::Map(entries) = &self.node.value {
            entries
        } else {
            self.mismatch("a table");
            &[]
        };
        MapDe { entries: entries.iter(), current: None, fields, diags: self.diags }
    }

    fn seq(&self) -> SeqDe<'a> {
        let items: &'a [Node] = if let Value::Seq(items) = &self.node.value {
            items
        } else {
            self.mismatch("a list");
            &[]
        };
        SeqDe { items: items.iter(), diags: self.diags }
    }
}

macro_rules! ints {
    ($($method:ident $visit:ident $ty:ty),*) => {$(
        fn $method<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
            v.$visit(self.int::<$ty>(stringify!($ty)))
        }
    )*};
}

impl<'a> de::Deserializer<'a> for NodeDe<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Int(i) => match (i64::try_from(*i), u64::try_from(*i)) {
                (Ok(n), _) => v.visit_i64(n),
                (_, Ok(n)) => v.visit_u64(n),
                _ => v.visit_i128(*i),
            },
            Value::Float(x) => v.visit_f64(*x),
            Value::Str(s) => v.visit_str(s),
            Value::Seq(_) => v.visit_seq(self.seq()),
            Value::Map(_) => v.visit_map(self.map(&[])),
        }
    }

    ints!(deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16, deserialize_u32 visit_u32 u32,
          deserialize_u64 visit_u64 u64, deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16,
          deserialize_i32 visit_i32 i32, deserialize_i64 visit_i64 i64);

    fn deserialize_bool<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        if let Value::Bool(b) = self.node.value {
            return v.visit_bool(b);
        }
        self.mismatch("true or false");
        v.visit_bool(false)
    }

    fn deserialize_f32<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_f64(v)
    }

    #[allow(clippy::cast_precision_loss)] // integers written for a float key are small
    fn deserialize_f64<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        match self.node.value {
            Value::Float(x) => v.visit_f64(x),
            Value::Int(i) => v.visit_f64(i as f64),
            _ => {
                self.mismatch("a number");
                v.visit_f64(0.0)
            }
        }
    }

    fn deserialize_str<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        if let Value::Str(s) = &self.node.value {
            return v.visit_str(s);
        }
        self.mismatch("a string");
        v.visit_str("")
    }

    fn deserialize_string<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_char<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        match self.node.value {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(self, _: &'static str, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(self, name: &'static str, v: V) -> Result<V::Value, Error> {
        match name {
            SPANNED => v.visit_seq(SpanSeq { de: Some(self), step: 0 }),
            ONE_OF => v.visit_enum(OneOfAccess { de: self }),
            SCALAR => match self.node.value {
                Value::Str(_) | Value::Int(_) | Value::Float(_) => self.deserialize_any(v),
                _ => {
                    self.mismatch("a string or a number");
                    v.visit_str("")
                }
            },
            _ => v.visit_newtype_struct(self),
        }
    }

    fn deserialize_seq<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_seq(self.seq())
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _: &'static str,
        _: usize,
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_map(self.map(&[]))
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_map(self.map(fields))
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        let choices = variants.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        match &self.node.value {
            Value::Str(s) if variants.contains(&s.as_str()) => v.visit_enum(str_de(s)),
            Value::Str(s) => {
                let mut diag =
                    Diag::at("profile::unknown-value", self.node.span, format!("unknown value \"{s}\""))
                        .help(format!("expected one of {choices}"));
                if let Some(guess) = closest(s, variants.iter().copied()) {
                    diag = diag.help(format!("did you mean \"{guess}\"? expected one of {choices}"));
                }
                self.diags.borrow_mut().poison(diag);
                v.visit_enum(str_de(variants[0]))
            }
            _ => {
                self.mismatch(&format!("one of {choices}"));
                v.visit_enum(str_de(variants[0]))
            }
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        if let Some((key, fields)) = self.unknown {
            if !self.diags.borrow().has_room() {
                self.diags.borrow_mut().count();
                return v.visit_unit();
            }
            let known = fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
            let help = match closest(&key.value, fields.iter().copied()) {
                Some(guess) => format!("did you mean `{guess}`? known keys here: {known}"),
                None => format!("known keys here: {known}"),
            };
            let diag =
                Diag::at("profile::unknown-key", key.span, format!("unknown key `{}`", key.value)).help(help);
            self.diags.borrow_mut().push(diag);
        }
        v.visit_unit()
    }
}

fn str_de(s: &str) -> StrDeserializer<'_, Error> {
    s.into_deserializer()
}

struct MapDe<'a> {
    entries: std::slice::Iter<'a, Entry>,
    current: Option<&'a Entry>,
    fields: &'static [&'static str],
    diags: &'a RefCell<Diags>,
}

impl<'a> de::MapAccess<'a> for MapDe<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.current = Some(entry);
        seed.deserialize(str_de(&entry.key.value)).map(Some).map_err(|e| e.at(entry.key.span))
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let entry = self.current.take().expect("serde asks for a value after its key");
        let unknown = (!self.fields.is_empty()).then_some((&entry.key, self.fields));
        let de = NodeDe { node: &entry.value, diags: self.diags, unknown };
        seed.deserialize(de).map_err(|e| e.at(entry.value.span))
    }
}

struct SeqDe<'a> {
    items: std::slice::Iter<'a, Node>,
    diags: &'a RefCell<Diags>,
}

impl<'a> de::SeqAccess<'a> for SeqDe<'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let de = NodeDe { node, diags: self.diags, unknown: None };
        seed.deserialize(de).map(Some).map_err(|e| e.at(node.span))
    }
}

/// Feeds `Sp<T>`: file, start, end, then the value itself.
struct SpanSeq<'a> {
    de: Option<NodeDe<'a>>,
    step: u8,
}

impl<'a> de::SeqAccess<'a> for SpanSeq<'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some(de) = &self.de else { return Ok(None) };
        let span = de.node.span;
        self.step += 1;
        match self.step {
            1 => seed.deserialize(U32Deserializer::<Error>::new(span.file.0)).map(Some),
            2 => seed.deserialize(U64Deserializer::<Error>::new(span.start as u64)).map(Some),
            3 => seed.deserialize(U64Deserializer::<Error>::new(span.end as u64)).map(Some),
            _ => {
                let de = self.de.take().expect("checked above");
                let child = NodeDe { node: de.node, diags: de.diags, unknown: None };
                seed.deserialize(child).map(Some)
            }
        }
    }
}

/// Feeds `OneOf<A, B>`: the variant says which form the value has.
struct OneOfAccess<'a> {
    de: NodeDe<'a>,
}

impl<'a> de::EnumAccess<'a> for OneOfAccess<'a> {
    type Error = Error;
    type Variant = NodeVariant<'a>;

    fn variant_seed<S: DeserializeSeed<'a>>(self, seed: S) -> Result<(S::Value, NodeVariant<'a>), Error> {
        let form = if self.de.is_scalar() { SCALAR_VARIANT } else { COLLECTION_VARIANT };
        let tag = seed.deserialize(str_de(form))?;
        Ok((tag, NodeVariant { de: self.de.child(self.de.node) }))
    }
}

struct NodeVariant<'a> {
    de: NodeDe<'a>,
}

impl<'a> de::VariantAccess<'a> for NodeVariant<'a> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'a>>(self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(self.de)
    }

    fn tuple_variant<V: Visitor<'a>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self.de, v)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self.de, "", fields, v)
    }
}
