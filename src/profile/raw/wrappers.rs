//! Leaf types of the raw profile that need the span-aware deserializer:
//! [`Sp`] (a value and its span), [`OneOf`] (a scalar form or a collection
//! form of one key) and [`Lit`] (a string or a number, resolved later).
//! Each asks `raw::de` for itself by a reserved newtype name.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserialize, Deserializer, EnumAccess, SeqAccess, VariantAccess, Visitor};

use crate::profile::source::{FileId, Sp, Span};

pub(super) const SPANNED: &str = "$sandbox::Sp";
pub(super) const ONE_OF: &str = "$sandbox::OneOf";
pub(super) const SCALAR: &str = "$sandbox::Lit";
pub(super) const SCALAR_VARIANT: &str = "scalar";
pub(super) const COLLECTION_VARIANT: &str = "collection";

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sp<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SpVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for SpVisitor<T> {
            type Value = Sp<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value with its span")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sp<T>, A::Error> {
                let missing = || de::Error::custom("span-aware deserializer required");
                let file: u32 = seq.next_element()?.ok_or_else(missing)?;
                let start: usize = seq.next_element()?.ok_or_else(missing)?;
                let end: usize = seq.next_element()?.ok_or_else(missing)?;
                let value: T = seq.next_element()?.ok_or_else(missing)?;
                Ok(Sp::new(value, Span::new(FileId(file), start, end)))
            }
        }
        d.deserialize_newtype_struct(SPANNED, SpVisitor(PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for Sp<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        T::json_schema(g)
    }
}

/// A key that takes either a scalar (`user = "root"`) or a collection
/// (`user = { uid = 1000, gid = 1000 }`).
#[derive(Debug)]
pub enum OneOf<A, B> {
    Scalar(A),
    Collection(B),
}

impl<'de, A: Deserialize<'de>, B: Deserialize<'de>> Deserialize<'de> for OneOf<A, B> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OneOfVisitor<A, B>(PhantomData<(A, B)>);
        impl<'de, A: Deserialize<'de>, B: Deserialize<'de>> Visitor<'de> for OneOfVisitor<A, B> {
            type Value = OneOf<A, B>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar or a collection")
            }
            fn visit_enum<E: EnumAccess<'de>>(self, data: E) -> Result<OneOf<A, B>, E::Error> {
                let (form, variant): (String, _) = data.variant()?;
                if form == SCALAR_VARIANT {
                    variant.newtype_variant().map(OneOf::Scalar)
                } else {
                    variant.newtype_variant().map(OneOf::Collection)
                }
            }
        }
        d.deserialize_newtype_struct(ONE_OF, OneOfVisitor(PhantomData))
    }
}

impl<A: JsonSchema, B: JsonSchema> JsonSchema for OneOf<A, B> {
    fn schema_name() -> Cow<'static, str> {
        format!("{}_or_{}", A::schema_name(), B::schema_name()).into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({ "anyOf": [g.subschema_for::<A>(), g.subschema_for::<B>()] })
    }
}

/// A string or a number, for values with units (`"512MiB"` or `536870912`).
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Str(String),
    Int(i128),
    Float(f64),
}

impl fmt::Display for Lit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lit::Str(s) => write!(f, "\"{s}\""),
            Lit::Int(i) => write!(f, "{i}"),
            Lit::Float(x) => write!(f, "{x}"),
        }
    }
}

impl<'de> Deserialize<'de> for Lit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LitVisitor;
        impl Visitor<'_> for LitVisitor {
            type Value = Lit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E>(self, v: &str) -> Result<Lit, E> {
                Ok(Lit::Str(v.to_owned()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Lit, E> {
                Ok(Lit::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Lit, E> {
                Ok(Lit::Int(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Lit, E> {
                Ok(Lit::Int(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Lit, E> {
                Ok(Lit::Float(v))
            }
        }
        d.deserialize_newtype_struct(SCALAR, LitVisitor)
    }
}

impl JsonSchema for Lit {
    fn schema_name() -> Cow<'static, str> {
        "StringOrNumber".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "integer", "number"] })
    }
}
