//! Declared field types of inputs and outputs, and the conversion of JSON
//! request bodies to CEL values with errors that name every bad field.
//!
//! Money is carried as an integer number of minor units (cents) so that no
//! amount ever passes through a float: JSON `"1234.56"` or `1234.56` becomes
//! the CEL int `123456`, and an output of type money prints as `"1234.56"`.

use std::str::FromStr;
use std::sync::Arc;

use riskflow_expr::{Key, Type, Value, time::Duration, time::Timestamp};
use rust_decimal::Decimal;
use serde_json::Value as Json;

/// Digits after the decimal point of money amounts.
pub const MONEY_SCALE: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    Int,
    Double,
    String,
    Money,
    Timestamp,
    Duration,
    List(Box<FieldType>),
    /// Any JSON object; fields read as `x.field`.
    Map,
    /// An object with declared fields (`{days_ago: int, status: string, note: string?}`):
    /// every field typed, required unless marked `?`, no others.
    Record(Vec<RecordField>),
    /// Anything JSON.
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordField {
    pub name: String,
    pub ty: FieldType,
    pub required: bool,
}

/// Splits on commas outside `<…>` and `{…}`.
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '<' | '{' => depth += 1,
            '>' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl FieldType {
    pub fn parse(s: &str) -> Option<FieldType> {
        let s = s.trim();
        if let Some(body) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            let mut fields: Vec<RecordField> = Vec::new();
            for part in split_top(body) {
                let (name, ty) = part.split_once(':')?;
                let ty = ty.trim();
                let (ty, required) = match ty.strip_suffix('?') {
                    Some(t) => (t, false),
                    None => (ty, true),
                };
                let name = name.trim();
                let valid = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !fields.iter().any(|f| f.name == name);
                if !valid {
                    return None;
                }
                fields.push(RecordField {
                    name: name.to_string(),
                    ty: FieldType::parse(ty)?,
                    required,
                });
            }
            return Some(FieldType::Record(fields));
        }
        if let Some(inner) = s.strip_prefix("list<").and_then(|r| r.strip_suffix('>')) {
            return FieldType::parse(inner).map(|t| FieldType::List(Box::new(t)));
        }
        Some(match s {
            "bool" => FieldType::Bool,
            "int" => FieldType::Int,
            "double" => FieldType::Double,
            "string" => FieldType::String,
            "money" => FieldType::Money,
            "timestamp" => FieldType::Timestamp,
            "duration" => FieldType::Duration,
            "list" => FieldType::List(Box::new(FieldType::Any)),
            "map" | "object" => FieldType::Map,
            "any" => FieldType::Any,
            _ => return None,
        })
    }

    pub const NAMES: &'static str = "bool, int, double, string, money, timestamp, duration, list<T>, map, {field: type, …}, any";

    /// The CEL type expressions see.
    pub fn cel_type(&self) -> Type {
        match self {
            FieldType::Bool => Type::Bool,
            FieldType::Int | FieldType::Money => Type::Int,
            FieldType::Double => Type::Double,
            FieldType::String => Type::String,
            FieldType::Timestamp => Type::Timestamp,
            FieldType::Duration => Type::Duration,
            FieldType::List(t) => Type::list(t.cel_type()),
            FieldType::Map | FieldType::Record(_) => Type::map(Type::String, Type::Dyn),
            FieldType::Any => Type::Dyn,
        }
    }

    /// Whether a CEL value of static type `t` may be stored in a field of this type.
    pub fn accepts(&self, t: &Type) -> bool {
        match (self, t) {
            (_, Type::Dyn) => true,
            (FieldType::Any, _) => true,
            (FieldType::Double, Type::Int | Type::Uint) => true,
            (FieldType::List(inner), Type::List(e)) => inner.accepts(e),
            (me, t) => me.cel_type().accepts(t),
        }
    }

    /// Converts a JSON value; the error says what was expected.
    pub fn from_json(&self, j: &Json) -> Result<Value, String> {
        let got = || describe(j);
        match (self, j) {
            (FieldType::Any, j) => Ok(riskflow_expr::json::from_json(j)),
            (FieldType::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
            // JSON Schema's integers: 80.0 is the integer 80.
            (FieldType::Int, Json::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                        .map(|f| f as i64)
                })
                .map(Value::Int)
                .ok_or_else(|| format!("expected an integer, got {n}")),
            (FieldType::Double, Json::Number(n)) => n
                .as_f64()
                .map(Value::Double)
                .ok_or_else(|| format!("expected a number, got {n}")),
            (FieldType::String, Json::String(s)) => Ok(Value::string(s)),
            (FieldType::Money, Json::Number(n)) => parse_money(&n.to_string())
                .and_then(|m| {
                    if m.unsigned_abs() < MONEY_LIMIT_MINOR {
                        Ok(m)
                    } else {
                        Err(format!(
                            "amount {n} is too large (at most 15 digits before the point)"
                        ))
                    }
                })
                .map(Value::Int),
            (FieldType::Money, Json::String(s)) => parse_money_text(s).map(Value::Int),
            (FieldType::Timestamp, Json::String(s)) => Timestamp::parse(s)
                .map(Value::Timestamp)
                .map_err(|_| format!("expected an RFC 3339 timestamp, got {s:?}")),
            (FieldType::Duration, Json::String(s)) => {
                Duration::parse(s).map(Value::Duration).map_err(|_| {
                    format!("expected a duration such as \"90s\" or \"1h30m\", got {s:?}")
                })
            }
            (FieldType::List(inner), Json::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, it) in items.iter().enumerate() {
                    out.push(inner.from_json(it).map_err(|e| format!("[{i}]: {e}"))?);
                }
                Ok(Value::list(out))
            }
            (FieldType::Map, Json::Object(o)) => {
                let mut m = riskflow_expr::value::map_with_capacity(o.len());
                for (k, v) in o {
                    m.insert(
                        Key::String(Arc::from(k.as_str())),
                        riskflow_expr::json::from_json(v),
                    );
                }
                Ok(Value::map(m))
            }
            (FieldType::Record(fields), Json::Object(o)) => {
                let mut m = riskflow_expr::value::map_with_capacity(fields.len());
                for f in fields {
                    match o.get(&f.name) {
                        None | Some(Json::Null) if f.required => {
                            return Err(format!(
                                "{}: required; expected {}",
                                f.name,
                                f.ty.describe()
                            ));
                        }
                        None | Some(Json::Null) => {}
                        Some(v) => {
                            let v = f.ty.from_json(v).map_err(|e| format!("{}: {e}", f.name))?;
                            m.insert(Key::String(Arc::from(f.name.as_str())), v);
                        }
                    }
                }
                if let Some(k) = o.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
                    return Err(format!("{k}: unknown field"));
                }
                Ok(Value::map(m))
            }
            (t, _) => Err(format!("expected {}, got {}", t.describe(), got())),
        }
    }

    /// Converts a CEL value to JSON for an output of this type.
    pub fn to_json(&self, v: &Value) -> Json {
        match (self, v) {
            (FieldType::Money, Value::Int(cents)) => Json::String(format_money(*cents)),
            (FieldType::Double, Value::Int(i)) => Json::from(*i as f64),
            _ => riskflow_expr::json::to_json(v),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            FieldType::Bool => "a boolean".into(),
            FieldType::Int => "an integer".into(),
            FieldType::Double => "a number".into(),
            FieldType::String => "a string".into(),
            FieldType::Money => {
                format!("an amount of money (a decimal with at most {MONEY_SCALE} places)")
            }
            FieldType::Timestamp => "an RFC 3339 timestamp".into(),
            FieldType::Duration => "a duration string".into(),
            FieldType::List(t) => format!("a list of {}", t.describe()),
            FieldType::Record(fields) => format!(
                "an object {{{}}}",
                fields
                    .iter()
                    .map(|f| format!(
                        "{}: {}{}",
                        f.name,
                        f.ty.describe(),
                        if f.required { "" } else { " (optional)" }
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            FieldType::Map => "an object".into(),
            FieldType::Any => "any value".into(),
        }
    }
}

fn describe(j: &Json) -> String {
    match j {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => format!("{s:?}"),
        Json::Array(_) => "a list".into(),
        Json::Object(_) => "an object".into(),
    }
}

/// Parses a decimal amount into minor units, exactly; rejects more than
/// `MONEY_SCALE` decimal places and amounts that do not fit.
pub fn parse_money(s: &str) -> Result<i64, String> {
    if let Some(minor) = parse_plain_money(s) {
        return Ok(minor);
    }
    let d = Decimal::from_str(s.trim())
        .or_else(|_| Decimal::from_scientific(s.trim()))
        .map_err(|_| format!("expected an amount of money, got {s:?}"))?;
    let d = d.normalize();
    if d.scale() > MONEY_SCALE {
        return Err(format!(
            "amount {s} has more than {MONEY_SCALE} decimal places"
        ));
    }
    let minor = d
        .checked_mul(Decimal::from(10i64.pow(MONEY_SCALE)))
        .ok_or_else(|| format!("amount {s} is too large"))?;
    i64::try_from(minor).map_err(|_| format!("amount {s} is too large"))
}

/// Amounts in requests stay below 10^15 major units (15 digits before the point).
pub const MONEY_LIMIT_MINOR: u64 = 100_000_000_000_000_000;

/// A money amount written as a JSON string: exactly `-?digits(.d{1,2})?`
/// with at most 15 digits before the point (the OpenAPI pattern says the
/// same), so what the schema allows and what is accepted agree.
pub fn parse_money_text(s: &str) -> Result<i64, String> {
    if let Some(minor) = parse_plain_money(s) {
        return Ok(minor);
    }
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let plain =
        !int.is_empty() && digits(int) && digits(frac) && (frac.len() > 2 || int.len() > 15);
    Err(if plain && int.len() > 15 {
        format!("amount {s} is too large (at most 15 digits before the point)")
    } else if plain {
        format!("amount {s} has more than {MONEY_SCALE} decimal places")
    } else {
        format!("expected an amount of money such as \"1234.56\", got {s:?}")
    })
}

/// The common shape `[-]digits[.d[d]]`, parsed without a `Decimal`; None
/// sends anything else (exponents, more places, overflow) to the full parser.
fn parse_plain_money(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty()
        || (frac.is_empty() && body.ends_with('.'))
        || int.len() > 15
        || frac.len() > 2
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut minor: i64 = int.parse().ok()?;
    let mut scale = 1;
    for b in frac.bytes() {
        minor = minor * 10 + i64::from(b - b'0');
        scale *= 10;
    }
    minor *= 100 / scale;
    Some(if neg { -minor } else { minor })
}

/// Formats minor units as a decimal string with exactly `MONEY_SCALE` places.
pub fn format_money(minor: i64) -> String {
    Decimal::new(minor, MONEY_SCALE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact() {
        assert_eq!(parse_money("1234.56"), Ok(123456));
        assert_eq!(parse_money("0.1"), Ok(10));
        assert_eq!(parse_money("1e3"), Ok(100000));
        assert_eq!(parse_money("-12.5"), Ok(-1250));
        assert_eq!(parse_money("7"), Ok(700));
        assert_eq!(parse_money("0.07"), Ok(7));
        assert_eq!(parse_money_text("0.07"), Ok(7));
        let rec = FieldType::parse("list<{days: int, status: string, fee: money?}>").unwrap();
        let ok = rec
            .from_json(&serde_json::json!([{"days": 3, "status": "ok", "fee": "1.50"}]))
            .unwrap();
        assert_eq!(
            riskflow_expr::json::to_json(&ok),
            serde_json::json!([{"days": 3, "status": "ok", "fee": 150}])
        );
        assert_eq!(
            rec.from_json(&serde_json::json!([{"days": 3}]))
                .unwrap_err(),
            "[0]: status: required; expected a string"
        );
        assert_eq!(
            rec.from_json(&serde_json::json!([{"days": 3, "status": "x", "y": 1}]))
                .unwrap_err(),
            "[0]: y: unknown field"
        );
        assert!(FieldType::parse("{a: int, a: int}").is_none());
        assert!(FieldType::parse("{a: nope}").is_none());
        assert_eq!(parse_money_text("-12.5"), Ok(-1250));
        for bad in ["1e3", " 12", "12.", ".5", "1,000", "", "-"] {
            assert!(
                parse_money_text(bad)
                    .unwrap_err()
                    .contains("expected an amount"),
                "{bad}"
            );
        }
        assert!(
            parse_money_text("1.234")
                .unwrap_err()
                .contains("decimal places")
        );
        assert!(
            parse_money_text("1234567890123456")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(parse_money("1.50"), Ok(150));
        assert_eq!(parse_money("1.500"), Ok(150), "trailing zeros are exact");
        assert!(parse_money("1.").is_ok());
        assert!(parse_money(".5").is_err() || parse_money(".5") == Ok(50));
        assert!(parse_money("--1").is_err());
        assert!(parse_money("1.005").is_err());
        assert!(parse_money("abc").is_err());
        assert!(parse_money("99999999999999999999").is_err());
        assert_eq!(format_money(123456), "1234.56");
        assert_eq!(format_money(-5), "-0.05");
        assert_eq!(format_money(100), "1.00");
    }

    #[test]
    fn json_numbers_become_money_without_floats() {
        let v: Json = serde_json::from_str("0.29").unwrap();
        assert_eq!(FieldType::Money.from_json(&v), Ok(Value::Int(29)));
    }
}
