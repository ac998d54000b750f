//! JSON in and out. Output follows `riskflow eval`'s contract: ints as
//! integers, doubles always with a decimal point or exponent, timestamps as
//! RFC 3339, durations like `"1.5s"`, bytes as base64.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value as Json;

use crate::value::{Key, Value};

/// Converts a JSON document to a CEL value: integers that fit `i64` become
/// `int`, other numbers `double`; objects become maps with string keys.
pub fn from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::Uint(u)
            } else {
                Value::Double(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::String(Arc::from(s.as_str())),
        Json::Array(a) => Value::list(a.iter().map(from_json).collect()),
        Json::Object(o) => {
            let mut m = crate::value::map_with_capacity(o.len());
            for (k, v) in o {
                m.insert(Key::String(Arc::from(k.as_str())), from_json(v));
            }
            Value::map(m)
        }
    }
}

/// Converts a CEL value to JSON. Non-finite doubles become the strings
/// `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no such numbers).
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Uint(u) => Json::from(*u),
        Value::Double(d) => {
            if d.is_finite() {
                serde_json::Number::from_f64(*d)
                    .map(Json::Number)
                    .unwrap_or(Json::Null)
            } else if d.is_nan() {
                Json::String("NaN".into())
            } else if *d > 0.0 {
                Json::String("Infinity".into())
            } else {
                Json::String("-Infinity".into())
            }
        }
        Value::String(s) => Json::String(s.to_string()),
        Value::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::List(l) => Json::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => {
            let mut o = serde_json::Map::with_capacity(m.len());
            for (k, v) in m.iter() {
                let key = match k {
                    Key::String(s) => s.to_string(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                o.insert(key, to_json(v));
            }
            Json::Object(o)
        }
        Value::Timestamp(t) => Json::String(t.to_rfc3339()),
        Value::Duration(d) => Json::String(d.to_cel_string()),
        Value::Type(t) => Json::String(t.name().to_string()),
    }
}

/// Values serialize the way [`to_json`] renders them, without building a
/// `serde_json::Value` first: traces hold values and pay for JSON only when written.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Uint(u) => s.serialize_u64(*u),
            Value::Double(d) if d.is_finite() => s.serialize_f64(*d),
            Value::String(x) => s.serialize_str(x),
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l.iter() {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m.iter() {
                    match k {
                        Key::String(x) => map.serialize_entry(&**x, v)?,
                        other => map.serialize_entry(&other.to_value().to_string(), v)?,
                    }
                }
                map.end()
            }
            other => to_json(other).serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_keep_their_point() {
        assert_eq!(to_json(&Value::Double(1.0)).to_string(), "1.0");
        assert_eq!(to_json(&Value::Int(1)).to_string(), "1");
        assert_eq!(to_json(&Value::Double(1e300)).to_string(), "1e+300");
    }
}
