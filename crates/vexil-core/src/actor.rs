//! The evaluation context: who is asking, with which properties, and the caller's clock and
//! random draw (the core has neither).

use crate::time::Timestamp;

/// A property value, as Flipper's `flipper_properties` may hold it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// Ruby's `nil`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (never NaN when it comes from JSON).
    Float(f64),
    /// A string.
    Str(&'a str),
}

/// A property value that owns its string: what a caller building contexts from JSON, a
/// command line or a wire format holds, and lends to a [`Context`] as a [`Value`].
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedValue {
    /// Ruby's `nil`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(alloc::string::String),
}

impl OwnedValue {
    /// The borrowed value a [`Context`] takes.
    pub fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Null => Value::Null,
            OwnedValue::Bool(b) => Value::Bool(*b),
            OwnedValue::Int(i) => Value::Int(*i),
            OwnedValue::Float(f) => Value::Float(*f),
            OwnedValue::Str(s) => Value::Str(s),
        }
    }

    /// A JSON scalar as Flipper's properties hold it: integral numbers written without a
    /// fraction are Integers, others Floats (`1` and `1.0` differ in Ruby). None for arrays
    /// and objects, which properties cannot hold.
    #[cfg(feature = "json")]
    pub fn from_json(v: &serde_json::Value) -> Option<OwnedValue> {
        use serde_json::Value as Json;
        Some(match v {
            Json::Null => OwnedValue::Null,
            Json::Bool(b) => OwnedValue::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => OwnedValue::Int(i),
                None => OwnedValue::Float(n.as_f64()?),
            },
            Json::String(s) => OwnedValue::Str(s.clone()),
            Json::Array(_) | Json::Object(_) => return None,
        })
    }
}

/// One actor: its Flipper id (`User:42`) and properties for expressions and feature groups.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Actor<'a> {
    /// The flipper id, `<Model>:<id>` by GitLab's convention.
    pub id: &'a str,
    /// Properties by name. Flipper adds `flipper_id` itself; one given here is shadowed.
    pub properties: &'a [(&'a str, Value<'a>)],
}

impl<'a> Actor<'a> {
    /// An actor with no properties.
    pub const fn new(id: &'a str) -> Self {
        Actor { id, properties: &[] }
    }

    /// An actor with properties.
    pub const fn with_properties(id: &'a str, properties: &'a [(&'a str, Value<'a>)]) -> Self {
        Actor { id, properties }
    }

    /// The value of property `name`, with `flipper_id` as Flipper's expression gate sees it.
    pub fn property(&self, name: &str) -> Option<Value<'a>> {
        if name == "flipper_id" {
            return Some(Value::Str(self.id));
        }
        self.properties.iter().find(|(k, _)| *k == name).map(|&(_, v)| v)
    }
}

/// Everything an evaluation depends on besides the snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Context<'a> {
    /// The actors, usually one. None: only the boolean, time and expression gates can open.
    pub actors: &'a [Actor<'a>],
    /// A uniform draw from `[0, 1)` for the percentage-of-time gate and `Random`.
    pub random: f64,
    /// The time for `Now`.
    pub now: Timestamp,
}

impl<'a> Context<'a> {
    /// A context with the given actors, random draw and time.
    pub const fn new(actors: &'a [Actor<'a>], random: f64, now: Timestamp) -> Self {
        Context { actors, random, now }
    }
}

/// How a snapshot stores an actor id: ids of the form `<Kind>:<decimal>` (by far the most
/// common: `User:42`) as a kind and a number, everything else as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ActorKey<'a> {
    Numeric { kind: &'a str, key: u64 },
    Text(&'a str),
}

/// A kind's first eight bytes as a little-endian word (zero-padded): kinds are short
/// (`User`, `Project`), so one comparison of words and lengths usually settles equality.
#[inline]
pub(crate) fn kind_word(kind: &[u8]) -> u64 {
    let mut word = 0u64;
    for (i, &b) in kind.iter().take(8).enumerate() {
        word |= u64::from(b) << (8 * i);
    }
    word
}

impl<'a> ActorKey<'a> {
    /// Splits at the first `:`; on the hot path of every actor check, so written as plain
    /// loops over bytes.
    #[inline]
    pub fn of(id: &'a str) -> Self {
        let bytes = id.as_bytes();
        let Some(colon) = bytes.iter().position(|&b| b == b':') else {
            return ActorKey::Text(id);
        };
        if colon == 0 {
            return ActorKey::Text(id);
        }
        match canonical_u64(&bytes[colon + 1..]) {
            Some(key) => ActorKey::Numeric { kind: &id[..colon], key },
            None => ActorKey::Text(id),
        }
    }
}

/// The number a decimal text stands for, if it is written the one way `u64::to_string`
/// writes it (no sign, no leading zeros), so that the id text can be rebuilt exactly.
#[inline(always)]
pub(crate) fn canonical_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 || (bytes[0] == b'0' && bytes.len() > 1) {
        return None;
    }
    if bytes.len() < 20 {
        // At most 19 digits cannot overflow.
        let mut value: u64 = 0;
        for &b in bytes {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            value = value * 10 + u64::from(d);
        }
        return Some(value);
    }
    let mut value: u64 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_numeric_ids_only_when_lossless() {
        assert_eq!(ActorKey::of("User:42"), ActorKey::Numeric { kind: "User", key: 42 });
        assert_eq!(ActorKey::of("User:0"), ActorKey::Numeric { kind: "User", key: 0 });
        for text in
            ["User:042", "User:", ":42", "User:4a", "User:+4", "Ci::Runner:5", "42", "", "User:18446744073709551616"]
        {
            assert_eq!(ActorKey::of(text), ActorKey::Text(text), "{text}");
        }
        assert_eq!(ActorKey::of("User:18446744073709551615"), ActorKey::Numeric { kind: "User", key: u64::MAX });
    }
}

#[cfg(all(test, feature = "json"))]
mod owned_value_tests {
    use super::OwnedValue;

    #[test]
    fn json_scalars_keep_rubys_integer_float_distinction() {
        let parse = |text: &str| OwnedValue::from_json(&serde_json::from_str(text).unwrap());
        assert_eq!(parse("1"), Some(OwnedValue::Int(1)));
        assert_eq!(parse("1.0"), Some(OwnedValue::Float(1.0)));
        assert_eq!(parse("-7"), Some(OwnedValue::Int(-7)));
        assert_eq!(parse("18446744073709551615"), Some(OwnedValue::Float(18446744073709551615.0)));
        assert_eq!(parse("null"), Some(OwnedValue::Null));
        assert_eq!(parse("\"gold\""), Some(OwnedValue::Str("gold".into())));
        assert_eq!(parse("[1]"), None);
        assert_eq!(parse("{}"), None);
    }
}
