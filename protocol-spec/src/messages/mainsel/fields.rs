//! Field values and ordered JSON objects.
//!
//! A record's `fields` object is kept exactly as the sender wrote it: the value
//! kinds (`null`, integer, number, string) and the key order survive a parse →
//! serialize round trip. Interpreting a value for a configured field is a
//! separate step ([`crate::value`]), so a message can be parsed before the
//! configuration it must match is known.
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One wire value of a record field, uninterpreted.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// JSON `null`: the field is empty.
    Null,
    /// A JSON number written without fraction or exponent. JSON parsers give
    /// `i64` or `u64`; `i128` holds both without a sign flag.
    Integer(i128),
    /// Any other JSON number (a fraction or exponent was written).
    Number(f64),
    /// A JSON string: base64 for bitmasks, text for strings, decimal digits
    /// for integers sent as strings.
    String(String),
}

impl FieldValue {
    /// The kind of value, for error messages that must not echo the value
    /// itself (field values are patient data).
    pub fn kind(&self) -> ValueKind {
        match self {
            FieldValue::Null => ValueKind::Null,
            FieldValue::Integer(_) => ValueKind::Integer,
            FieldValue::Number(_) => ValueKind::Number,
            FieldValue::String(_) => ValueKind::String,
        }
    }
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        FieldValue::String(s.to_owned())
    }
}

impl From<String> for FieldValue {
    fn from(s: String) -> Self {
        FieldValue::String(s)
    }
}

impl From<i64> for FieldValue {
    fn from(i: i64) -> Self {
        FieldValue::Integer(i.into())
    }
}

impl From<u64> for FieldValue {
    fn from(i: u64) -> Self {
        FieldValue::Integer(i.into())
    }
}

impl From<f64> for FieldValue {
    fn from(x: f64) -> Self {
        FieldValue::Number(x)
    }
}

/// The JSON kind of a [`FieldValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Null,
    Integer,
    Number,
    String,
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueKind::Null => "null",
            ValueKind::Integer => "an integer",
            ValueKind::Number => "a non-integer number",
            ValueKind::String => "a string",
        })
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Null => s.serialize_unit(),
            // Prefer the 64-bit forms: every JSON backend supports them, and
            // every integer a JSON parser produces fits one of them.
            FieldValue::Integer(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    s.serialize_i64(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    s.serialize_u64(v)
                } else {
                    s.serialize_i128(*i)
                }
            }
            FieldValue::Number(x) => s.serialize_f64(*x),
            FieldValue::String(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldValueVisitor)
    }
}

struct FieldValueVisitor;

impl<'de> Visitor<'de> for FieldValueVisitor {
    type Value = FieldValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field value: null, a number or a string")
    }

    fn visit_unit<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<FieldValue, D::Error> {
        FieldValue::deserialize(d)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<FieldValue, E> {
        Ok(FieldValue::Integer(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<FieldValue, E> {
        Ok(FieldValue::Integer(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<FieldValue, E> {
        Ok(FieldValue::Integer(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<FieldValue, E> {
        Ok(FieldValue::Number(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldValue, E> {
        Ok(FieldValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<FieldValue, E> {
        Ok(FieldValue::String(v))
    }
}

/// A JSON object that keeps its keys in the sender's order and rejects a key
/// given twice. Lookups are linear: the maps on the wire are small (a
/// record's fields) or only read by clients (the jobs list).
///
/// Most JSON readers silently keep the last of two equal keys. For a record's
/// fields that would drop patient data without a word, so a duplicate key is
/// a parse error here.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<V> {
    entries: Vec<(String, V)>,
}

/// A record's `fields` object: field name → wire value, in the sender's order.
pub type FieldMap = OrderedMap<FieldValue>;

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap {
            entries: Vec::new(),
        }
    }
}

impl<V> OrderedMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, keeping the key's position if it exists, else
    /// appending it. Returns the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: V) -> Option<V> {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in insertion (wire) order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
}

impl<K: Into<String>, V> FromIterator<(K, V)> for OrderedMap<V> {
    /// Later entries replace earlier ones with the same key (like
    /// [`OrderedMap::insert`]); only *parsing* rejects duplicates.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = OrderedMap::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl<V> IntoIterator for OrderedMap<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(OrderedMapVisitor(PhantomData))
    }
}

struct OrderedMapVisitor<V>(PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedMapVisitor<V> {
    type Value = OrderedMap<V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut entries: Vec<(String, V)> = Vec::with_capacity(access.size_hint().unwrap_or(0));
        let mut seen = HashSet::new();
        while let Some(key) = access.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {key:?} in object"
                )));
            }
            let value = access.next_value()?;
            entries.push((key, value));
        }
        Ok(OrderedMap { entries })
    }
}
