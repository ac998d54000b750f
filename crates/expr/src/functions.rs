//! The standard library: operators, conversions, string and time functions.
//! Each function is a plain `fn(&[Value])` chosen at compile time by name and
//! arity; it dispatches on the runtime types of its arguments.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::ast::BinOp;
use crate::error::{EvalError, EvalErrorKind};
use crate::time::{Duration, TimeField, Timestamp};
use crate::types::Type;
use crate::value::{Key, Value};

pub(crate) type Impl = fn(&[Value]) -> Result<Value, EvalError>;
/// Result type for the static argument types, or None when no overload fits.
pub(crate) type RetType = fn(&[Type]) -> Option<Type>;

pub(crate) struct Builtin {
    pub imp: Impl,
    pub ret: RetType,
}

type R = Result<Value, EvalError>;

fn no_overload(name: &str, args: &[Value]) -> EvalError {
    let types: Vec<&str> = args.iter().map(|a| a.type_name().name()).collect();
    EvalError::new(
        EvalErrorKind::NoMatchingOverload,
        format!(
            "no matching overload for '{name}' applied to ({})",
            types.join(", ")
        ),
    )
}

// ---------------------------------------------------------------- operators

pub(crate) fn negate(v: Value) -> R {
    match v {
        Value::Int(i) => i
            .checked_neg()
            .map(Value::Int)
            .ok_or_else(|| EvalError::overflow("integer")),
        Value::Double(d) => Ok(Value::Double(-d)),
        Value::Duration(d) => Ok(Value::Duration(d.negated()?)),
        other => Err(no_overload("-_", &[other])),
    }
}

/// Comparisons and membership: `==`, `!=`, `<`, `<=`, `>`, `>=`, `in`.
#[inline(always)]
pub(crate) fn compare(op: BinOp, a: &Value, b: &Value) -> Result<bool, EvalError> {
    use Value::*;
    // Same-type fast paths first: they are what rules compare.
    let ord = match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Double(x), Double(y)) => x.partial_cmp(y),
        _ => match op {
            BinOp::Eq => return Ok(a.cel_eq(b)),
            BinOp::Ne => return Ok(!a.cel_eq(b)),
            BinOp::In => return contains(b, a),
            _ => a.cel_cmp(b)?,
        },
    };
    Ok(match ord {
        None => op == BinOp::Ne,
        Some(o) => match op {
            BinOp::Eq => o == Ordering::Equal,
            BinOp::Ne => o != Ordering::Equal,
            BinOp::Lt => o == Ordering::Less,
            BinOp::Le => o != Ordering::Greater,
            BinOp::Gt => o == Ordering::Greater,
            BinOp::Ge => o != Ordering::Less,
            _ => return contains(b, a),
        },
    })
}

#[inline]
pub(crate) fn binary(op: BinOp, a: &Value, b: &Value) -> R {
    use Value::*;
    // Double arithmetic cannot fail: the common case of scores and ratios.
    if let (Double(x), Double(y)) = (a, b) {
        match op {
            BinOp::Add => return Ok(Double(x + y)),
            BinOp::Sub => return Ok(Double(x - y)),
            BinOp::Mul => return Ok(Double(x * y)),
            BinOp::Div => return Ok(Double(x / y)),
            _ => {}
        }
    }
    if matches!(
        op,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::In
    ) {
        return compare(op, a, b).map(Bool);
    }
    let ovf = || EvalError::overflow("integer");
    let r = match (op, a, b) {
        (BinOp::Add, Int(x), Int(y)) => Int(x.checked_add(*y).ok_or_else(ovf)?),
        (BinOp::Sub, Int(x), Int(y)) => Int(x.checked_sub(*y).ok_or_else(ovf)?),
        (BinOp::Mul, Int(x), Int(y)) => Int(x.checked_mul(*y).ok_or_else(ovf)?),
        (BinOp::Div, Int(x), Int(y)) => {
            if *y == 0 {
                return Err(EvalError::new(
                    EvalErrorKind::DivisionByZero,
                    "division by zero",
                ));
            }
            Int(x.checked_div(*y).ok_or_else(ovf)?)
        }
        (BinOp::Rem, Int(x), Int(y)) => {
            if *y == 0 {
                return Err(EvalError::new(
                    EvalErrorKind::DivisionByZero,
                    "modulus by zero",
                ));
            }
            Int(x.checked_rem(*y).ok_or_else(ovf)?)
        }
        (BinOp::Add, Uint(x), Uint(y)) => Uint(x.checked_add(*y).ok_or_else(ovf)?),
        (BinOp::Sub, Uint(x), Uint(y)) => Uint(x.checked_sub(*y).ok_or_else(ovf)?),
        (BinOp::Mul, Uint(x), Uint(y)) => Uint(x.checked_mul(*y).ok_or_else(ovf)?),
        (BinOp::Div, Uint(x), Uint(y)) => {
            if *y == 0 {
                return Err(EvalError::new(
                    EvalErrorKind::DivisionByZero,
                    "division by zero",
                ));
            }
            Uint(x / y)
        }
        (BinOp::Rem, Uint(x), Uint(y)) => {
            if *y == 0 {
                return Err(EvalError::new(
                    EvalErrorKind::DivisionByZero,
                    "modulus by zero",
                ));
            }
            Uint(x % y)
        }
        (BinOp::Add, Double(x), Double(y)) => Double(x + y),
        (BinOp::Sub, Double(x), Double(y)) => Double(x - y),
        (BinOp::Mul, Double(x), Double(y)) => Double(x * y),
        (BinOp::Div, Double(x), Double(y)) => Double(x / y),
        (BinOp::Add, String(x), String(y)) => {
            let mut s = std::string::String::with_capacity(x.len() + y.len());
            s.push_str(x);
            s.push_str(y);
            Value::from(s)
        }
        (BinOp::Add, Bytes(x), Bytes(y)) => {
            let mut v = Vec::with_capacity(x.len() + y.len());
            v.extend_from_slice(x);
            v.extend_from_slice(y);
            Bytes(Arc::from(v))
        }
        (BinOp::Add, List(x), List(y)) => {
            let mut v = Vec::with_capacity(x.len() + y.len());
            v.extend(x.iter().cloned());
            v.extend(y.iter().cloned());
            Value::list(v)
        }
        (BinOp::Add, Timestamp(t), Duration(d)) | (BinOp::Add, Duration(d), Timestamp(t)) => {
            Timestamp(t.plus(*d)?)
        }
        (BinOp::Add, Duration(x), Duration(y)) => Duration(x.plus(*y)?),
        (BinOp::Sub, Timestamp(t), Duration(d)) => Timestamp(t.minus(*d)?),
        (BinOp::Sub, Timestamp(x), Timestamp(y)) => Duration(x.diff(*y)?),
        (BinOp::Sub, Duration(x), Duration(y)) => Duration(x.minus(*y)?),
        _ => return Err(no_overload(op_name(op), &[a.clone(), b.clone()])),
    };
    Ok(r)
}

fn op_name(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "_+_",
        BinOp::Sub => "_-_",
        BinOp::Mul => "_*_",
        BinOp::Div => "_/_",
        BinOp::Rem => "_%_",
        _ => op.symbol(),
    }
}

/// Static result type of a binary operator, or None when no overload fits.
pub(crate) fn binary_type(op: BinOp, a: &Type, b: &Type) -> Option<Type> {
    use Type::{Bool, Bytes, Double, Duration, Dyn, Int, List, Map, String, Timestamp, Uint};
    match op {
        BinOp::Eq | BinOp::Ne => Some(Bool),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let ok = a.is_dyn()
                || b.is_dyn()
                || (a.is_numeric() && b.is_numeric())
                || (a == b && matches!(a, Bool | String | Bytes | Timestamp | Duration));
            ok.then_some(Bool)
        }
        BinOp::In => match b {
            Dyn => Some(Bool),
            List(e) => e
                .accepts(a)
                .then_some(Bool)
                .or((e.is_numeric() && a.is_numeric()).then_some(Bool)),
            Map(k, _) => k
                .accepts(a)
                .then_some(Bool)
                .or((k.is_numeric() && a.is_numeric()).then_some(Bool)),
            _ => None,
        },
        _ => {
            if a.is_dyn() && b.is_dyn() {
                return Some(Dyn);
            }
            if a.is_dyn() || b.is_dyn() {
                let k = if a.is_dyn() { b } else { a };
                return match (op, k) {
                    (BinOp::Sub, Timestamp) => Some(Dyn),
                    (BinOp::Add, Timestamp | Duration) => Some(Dyn),
                    (BinOp::Rem, Int | Uint) => Some(k.clone()),
                    (BinOp::Rem, _) => None,
                    (_, Int | Uint | Double) => Some(k.clone()),
                    (BinOp::Add, String | Bytes | List(_)) => Some(k.clone()),
                    (BinOp::Sub, Duration) => Some(Duration),
                    _ => None,
                };
            }
            match (op, a, b) {
                (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div, x, y)
                    if x == y && x.is_numeric() =>
                {
                    Some(x.clone())
                }
                (BinOp::Rem, Int, Int) => Some(Int),
                (BinOp::Rem, Uint, Uint) => Some(Uint),
                (BinOp::Add, String, String) => Some(String),
                (BinOp::Add, Bytes, Bytes) => Some(Bytes),
                (BinOp::Add, List(x), List(y)) => Some(crate::types::Type::list(x.join(y))),
                (BinOp::Add, Timestamp, Duration) | (BinOp::Add, Duration, Timestamp) => {
                    Some(Timestamp)
                }
                (BinOp::Add, Duration, Duration) | (BinOp::Sub, Duration, Duration) => {
                    Some(Duration)
                }
                (BinOp::Sub, Timestamp, Duration) => Some(Timestamp),
                (BinOp::Sub, Timestamp, Timestamp) => Some(Duration),
                _ => None,
            }
        }
    }
}

fn contains(container: &Value, item: &Value) -> Result<bool, EvalError> {
    match container {
        Value::List(l) => Ok(l.contains(item)),
        Value::Map(m) => Ok(Key::for_lookup(item).is_some_and(|k| m.contains_key(&k))),
        other => Err(no_overload("@in", &[item.clone(), other.clone()])),
    }
}

pub(crate) fn index(c: &Value, i: &Value) -> R {
    match c {
        Value::List(l) => {
            let idx = match i {
                Value::Int(n) => *n,
                Value::Uint(n) => i64::try_from(*n).unwrap_or(i64::MAX),
                Value::Double(d) if d.fract() == 0.0 && d.is_finite() => *d as i64,
                other => {
                    return Err(EvalError::invalid(format!(
                        "invalid list index of type {}",
                        other.type_name().name()
                    )));
                }
            };
            usize::try_from(idx)
                .ok()
                .and_then(|n| l.get(n))
                .cloned()
                .ok_or_else(|| {
                    EvalError::new(
                        EvalErrorKind::IndexOutOfBounds,
                        format!("index {idx} out of range for a list of {}", l.len()),
                    )
                })
        }
        Value::Map(m) => {
            if !matches!(
                i,
                Value::Int(_)
                    | Value::Uint(_)
                    | Value::Double(_)
                    | Value::Bool(_)
                    | Value::String(_)
            ) {
                return Err(EvalError::invalid(format!(
                    "unsupported key type {}",
                    i.type_name().name()
                )));
            }
            let k = Key::for_lookup(i);
            match k.as_ref().and_then(|k| m.get(k)) {
                Some(v) => Ok(v.clone()),
                None => Err(crate::eval::missing_key(
                    &k.unwrap_or_else(|| Key::String(Arc::from(i.to_string()))),
                )),
            }
        }
        other => Err(no_overload("_[_]", &[other.clone(), i.clone()])),
    }
}

// ------------------------------------------------------------ the library

macro_rules! ret {
    ($t:expr) => {{
        fn f(_: &[Type]) -> Option<Type> {
            Some($t)
        }
        f as RetType
    }};
}

/// Finds a function by name for a call with `argc` arguments (the receiver
/// of a member call counts as the first argument).
pub(crate) fn lookup(name: &str, member: bool, argc: usize) -> Option<Builtin> {
    let b = |imp: Impl, ret: RetType| Some(Builtin { imp, ret });
    match (name, member, argc) {
        ("size", _, 1) => b(size, |a| match &a[0] {
            Type::String | Type::Bytes | Type::List(_) | Type::Map(_, _) | Type::Dyn => {
                Some(Type::Int)
            }
            _ => None,
        }),
        ("contains", true, 2) => b(contains_str, str_pred),
        ("startsWith", true, 2) => b(starts_with, str_pred),
        ("endsWith", true, 2) => b(ends_with, str_pred),
        ("matches", _, 2) => b(matches, str_pred),
        ("int", false, 1) => b(to_int, ret!(Type::Int)),
        ("uint", false, 1) => b(to_uint, ret!(Type::Uint)),
        ("double", false, 1) => b(to_double, ret!(Type::Double)),
        ("string", false, 1) => b(to_string, ret!(Type::String)),
        ("bytes", false, 1) => b(to_bytes, ret!(Type::Bytes)),
        ("bool", false, 1) => b(to_bool, ret!(Type::Bool)),
        ("timestamp", false, 1) => b(to_timestamp, ret!(Type::Timestamp)),
        ("duration", false, 1) => b(to_duration, ret!(Type::Duration)),
        ("dyn", false, 1) => b(|a| Ok(a[0].clone()), ret!(Type::Dyn)),
        ("type", false, 1) => b(|a| Ok(Value::Type(a[0].type_name())), ret!(Type::Type)),
        ("getFullYear", true, 1 | 2) => b(|a| time_field(a, TimeField::FullYear), ts_field),
        ("getMonth", true, 1 | 2) => b(|a| time_field(a, TimeField::Month), ts_field),
        ("getDate", true, 1 | 2) => b(|a| time_field(a, TimeField::Date), ts_field),
        ("getDayOfMonth", true, 1 | 2) => b(|a| time_field(a, TimeField::DayOfMonth), ts_field),
        ("getDayOfWeek", true, 1 | 2) => b(|a| time_field(a, TimeField::DayOfWeek), ts_field),
        ("getDayOfYear", true, 1 | 2) => b(|a| time_field(a, TimeField::DayOfYear), ts_field),
        ("getHours", true, 1 | 2) => b(|a| time_field(a, TimeField::Hours), ts_or_dur_field),
        ("getMinutes", true, 1 | 2) => b(|a| time_field(a, TimeField::Minutes), ts_or_dur_field),
        ("getSeconds", true, 1 | 2) => b(|a| time_field(a, TimeField::Seconds), ts_or_dur_field),
        ("getMilliseconds", true, 1 | 2) => {
            b(|a| time_field(a, TimeField::Milliseconds), ts_or_dur_field)
        }
        // strings extension (the subset risk rules use)
        ("lowerAscii", true, 1) => b(
            |a| map_str(a, "lowerAscii", |s| s.to_ascii_lowercase()),
            ret!(Type::String),
        ),
        ("upperAscii", true, 1) => b(
            |a| map_str(a, "upperAscii", |s| s.to_ascii_uppercase()),
            ret!(Type::String),
        ),
        ("trim", true, 1) => b(
            |a| map_str(a, "trim", |s| s.trim().to_string()),
            ret!(Type::String),
        ),
        ("indexOf", true, 2) => b(index_of, ret!(Type::Int)),
        ("split", true, 2) => b(split, ret!(Type::list(Type::String))),
        ("join", true, 1 | 2) => b(join, ret!(Type::String)),
        ("replace", true, 3) => b(replace, ret!(Type::String)),
        ("substring", true, 2 | 3) => b(substring, ret!(Type::String)),
        // math extension (the subset risk rules use)
        ("math.greatest", false, 1..) => b(|a| extreme(a, Ordering::Greater), num_extreme),
        ("math.least", false, 1..) => b(|a| extreme(a, Ordering::Less), num_extreme),
        ("math.abs", false, 1) => b(abs, |a| Some(a[0].clone())),
        ("math.ceil", false, 1) => b(|a| map_f64(a, "math.ceil", f64::ceil), ret!(Type::Double)),
        ("math.floor", false, 1) => b(|a| map_f64(a, "math.floor", f64::floor), ret!(Type::Double)),
        ("math.round", false, 1) => b(|a| map_f64(a, "math.round", f64::round), ret!(Type::Double)),
        ("math.sqrt", false, 1) => b(|a| map_f64(a, "math.sqrt", f64::sqrt), ret!(Type::Double)),
        ("math.log", false, 1) => b(|a| map_f64(a, "math.log", f64::ln), ret!(Type::Double)),
        ("math.exp", false, 1) => b(|a| map_f64(a, "math.exp", f64::exp), ret!(Type::Double)),
        _ => None,
    }
}

/// All function names, for "did you mean" hints.
pub(crate) const NAMES: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "timestamp",
    "duration",
    "dyn",
    "type",
    "getFullYear",
    "getMonth",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "lowerAscii",
    "upperAscii",
    "trim",
    "indexOf",
    "split",
    "join",
    "replace",
    "substring",
    "math.greatest",
    "math.least",
    "math.abs",
    "math.ceil",
    "math.floor",
    "math.round",
    "math.sqrt",
    "math.log",
    "math.exp",
];

fn str_pred(a: &[Type]) -> Option<Type> {
    a.iter()
        .all(|t| matches!(t, Type::String | Type::Dyn))
        .then_some(Type::Bool)
}
fn ts_field(a: &[Type]) -> Option<Type> {
    matches!(a[0], Type::Timestamp | Type::Dyn).then_some(Type::Int)
}
fn ts_or_dur_field(a: &[Type]) -> Option<Type> {
    matches!(a[0], Type::Timestamp | Type::Duration | Type::Dyn).then_some(Type::Int)
}
fn num_extreme(a: &[Type]) -> Option<Type> {
    let first = &a[0];
    if a.iter().all(|t| t == first) && first.is_numeric() {
        Some(first.clone())
    } else {
        Some(Type::Dyn)
    }
}

fn size(a: &[Value]) -> R {
    let n = match &a[0] {
        Value::String(s) => s.chars().count(),
        Value::Bytes(b) => b.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        _ => return Err(no_overload("size", a)),
    };
    Ok(Value::Int(n as i64))
}

fn two_str<'a>(a: &'a [Value], name: &str) -> Result<(&'a str, &'a str), EvalError> {
    match (&a[0], &a[1]) {
        (Value::String(x), Value::String(y)) => Ok((x, y)),
        _ => Err(no_overload(name, a)),
    }
}
fn contains_str(a: &[Value]) -> R {
    two_str(a, "contains").map(|(x, y)| Value::Bool(x.contains(y)))
}
fn starts_with(a: &[Value]) -> R {
    two_str(a, "startsWith").map(|(x, y)| Value::Bool(x.starts_with(y)))
}
fn ends_with(a: &[Value]) -> R {
    two_str(a, "endsWith").map(|(x, y)| Value::Bool(x.ends_with(y)))
}
fn matches(a: &[Value]) -> R {
    let (s, pat) = two_str(a, "matches")?;
    let re = regex::Regex::new(pat)
        .map_err(|e| EvalError::invalid(format!("invalid regular expression: {e}")))?;
    Ok(Value::Bool(re.is_match(s)))
}

fn map_str(a: &[Value], name: &str, f: impl Fn(&str) -> String) -> R {
    match &a[0] {
        Value::String(s) => Ok(Value::from(f(s))),
        _ => Err(no_overload(name, a)),
    }
}
fn index_of(a: &[Value]) -> R {
    let (s, sub) = two_str(a, "indexOf")?;
    Ok(Value::Int(match s.find(sub) {
        Some(byte) => s[..byte].chars().count() as i64,
        None => -1,
    }))
}
fn split(a: &[Value]) -> R {
    let (s, sep) = two_str(a, "split")?;
    Ok(Value::list(s.split(sep).map(Value::from).collect()))
}
fn join(a: &[Value]) -> R {
    let sep = match a.get(1) {
        Some(Value::String(s)) => s.to_string(),
        None => String::new(),
        Some(_) => return Err(no_overload("join", a)),
    };
    match &a[0] {
        Value::List(l) => {
            let parts: Result<Vec<&str>, _> = l
                .iter()
                .map(|v| v.as_str().ok_or_else(|| no_overload("join", a)))
                .collect();
            Ok(Value::from(parts?.join(&sep)))
        }
        _ => Err(no_overload("join", a)),
    }
}
fn replace(a: &[Value]) -> R {
    match (&a[0], &a[1], &a[2]) {
        (Value::String(s), Value::String(from), Value::String(to)) => {
            Ok(Value::from(s.replace(&**from, to)))
        }
        _ => Err(no_overload("replace", a)),
    }
}
fn substring(a: &[Value]) -> R {
    let s = match &a[0] {
        Value::String(s) => s,
        _ => return Err(no_overload("substring", a)),
    };
    let chars: Vec<char> = s.chars().collect();
    let idx = |v: &Value| match v {
        Value::Int(i) => Ok(*i),
        _ => Err(no_overload("substring", a)),
    };
    let start = idx(&a[1])?;
    let end = match a.get(2) {
        Some(v) => idx(v)?,
        None => chars.len() as i64,
    };
    if start < 0 || end < start || end as usize > chars.len() {
        return Err(EvalError::new(
            EvalErrorKind::IndexOutOfBounds,
            format!(
                "substring({start}, {end}) out of range for a string of {} characters",
                chars.len()
            ),
        ));
    }
    Ok(Value::from(
        chars[start as usize..end as usize]
            .iter()
            .collect::<String>(),
    ))
}

fn extreme(a: &[Value], want: Ordering) -> R {
    let items: Vec<Value> = match a {
        [Value::List(l)] => l.to_vec(),
        _ => a.to_vec(),
    };
    let mut best: Option<Value> = None;
    for v in items {
        if !matches!(v, Value::Int(_) | Value::Uint(_) | Value::Double(_)) {
            return Err(no_overload("math.greatest/least", &[v]));
        }
        best = match best {
            None => Some(v),
            Some(b) => {
                if crate::value::num_cmp(&v, &b) == Some(want) {
                    Some(v)
                } else {
                    Some(b)
                }
            }
        };
    }
    best.ok_or_else(|| EvalError::invalid("math.greatest/least of an empty list"))
}
fn abs(a: &[Value]) -> R {
    match &a[0] {
        Value::Int(i) => i
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| EvalError::overflow("integer")),
        Value::Uint(u) => Ok(Value::Uint(*u)),
        Value::Double(d) => Ok(Value::Double(d.abs())),
        _ => Err(no_overload("math.abs", a)),
    }
}
fn map_f64(a: &[Value], name: &str, f: fn(f64) -> f64) -> R {
    match &a[0] {
        Value::Double(d) => Ok(Value::Double(f(*d))),
        Value::Int(i) => Ok(Value::Double(f(*i as f64))),
        Value::Uint(u) => Ok(Value::Double(f(*u as f64))),
        _ => Err(no_overload(name, a)),
    }
}

// ------------------------------------------------------------ conversions

fn range_err(what: &str) -> EvalError {
    EvalError::range(format!("{what} out of range"))
}

fn to_int(a: &[Value]) -> R {
    match &a[0] {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Uint(u) => i64::try_from(*u)
            .map(Value::Int)
            .map_err(|_| range_err("int")),
        Value::Double(d) => {
            if d.is_nan() || *d <= -9.223_372_036_854_776e18 || *d >= 9.223_372_036_854_776e18 {
                Err(range_err("int"))
            } else {
                Ok(Value::Int(*d as i64))
            }
        }
        Value::String(s) => s
            .parse()
            .map(Value::Int)
            .map_err(|_| EvalError::invalid(format!("cannot convert {s:?} to int"))),
        Value::Timestamp(t) => Ok(Value::Int(t.seconds())),
        _ => Err(no_overload("int", a)),
    }
}

fn to_uint(a: &[Value]) -> R {
    match &a[0] {
        Value::Uint(u) => Ok(Value::Uint(*u)),
        Value::Int(i) => u64::try_from(*i)
            .map(Value::Uint)
            .map_err(|_| range_err("uint")),
        Value::Double(d) => {
            if d.is_nan() || *d < 0.0 || *d >= 1.844_674_407_370_955_2e19 {
                Err(range_err("uint"))
            } else {
                Ok(Value::Uint(*d as u64))
            }
        }
        Value::String(s) => s
            .parse()
            .map(Value::Uint)
            .map_err(|_| EvalError::invalid(format!("cannot convert {s:?} to uint"))),
        _ => Err(no_overload("uint", a)),
    }
}

fn to_double(a: &[Value]) -> R {
    match &a[0] {
        Value::Double(d) => Ok(Value::Double(*d)),
        Value::Int(i) => Ok(Value::Double(*i as f64)),
        Value::Uint(u) => Ok(Value::Double(*u as f64)),
        Value::String(s) => s
            .parse()
            .map(Value::Double)
            .map_err(|_| EvalError::invalid(format!("cannot convert {s:?} to double"))),
        _ => Err(no_overload("double", a)),
    }
}

/// Formats a double the way CEL prints it with `string()`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if d != 0.0 && (d.abs() >= 1e21 || d.abs() < 1e-6) {
        let s = format!("{d:e}");
        // Rust prints 1e21 as "1e21"; CEL (Go) as "1e+21".
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{d}")
    }
}

fn to_string(a: &[Value]) -> R {
    Ok(match &a[0] {
        Value::String(s) => Value::String(s.clone()),
        Value::Int(i) => Value::from(i.to_string()),
        Value::Uint(u) => Value::from(u.to_string()),
        Value::Double(d) => Value::from(format_double(*d)),
        Value::Bool(b) => Value::from(b.to_string()),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => Value::from(s),
            Err(_) => return Err(EvalError::invalid("bytes are not valid UTF-8")),
        },
        Value::Timestamp(t) => Value::from(t.to_rfc3339()),
        Value::Duration(d) => Value::from(d.to_cel_string()),
        Value::Type(t) => Value::from(t.name()),
        _ => return Err(no_overload("string", a)),
    })
}

fn to_bytes(a: &[Value]) -> R {
    match &a[0] {
        Value::Bytes(b) => Ok(Value::Bytes(b.clone())),
        Value::String(s) => Ok(Value::Bytes(Arc::from(s.as_bytes()))),
        _ => Err(no_overload("bytes", a)),
    }
}

fn to_bool(a: &[Value]) -> R {
    match &a[0] {
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::String(s) => match &**s {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Value::Bool(true)),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(Value::Bool(false)),
            _ => Err(EvalError::invalid(format!("cannot convert {s:?} to bool"))),
        },
        _ => Err(no_overload("bool", a)),
    }
}

fn to_timestamp(a: &[Value]) -> R {
    match &a[0] {
        Value::Timestamp(t) => Ok(Value::Timestamp(*t)),
        Value::String(s) => Ok(Value::Timestamp(Timestamp::parse(s)?)),
        Value::Int(i) => Ok(Value::Timestamp(Timestamp::new(*i, 0)?)),
        _ => Err(no_overload("timestamp", a)),
    }
}

fn to_duration(a: &[Value]) -> R {
    match &a[0] {
        Value::Duration(d) => Ok(Value::Duration(*d)),
        Value::String(s) => Ok(Value::Duration(Duration::parse(s)?)),
        Value::Int(i) => Ok(Value::Duration(Duration::from_secs(*i)?)),
        _ => Err(no_overload("duration", a)),
    }
}

fn time_field(a: &[Value], field: TimeField) -> R {
    let tz = match a.get(1) {
        None => None,
        Some(Value::String(s)) => Some(&**s),
        Some(_) => return Err(no_overload("time accessor", a)),
    };
    match &a[0] {
        Value::Timestamp(t) => Ok(Value::Int(t.field(field, tz)?)),
        Value::Duration(d) if tz.is_none() => {
            let unit = match field {
                TimeField::Hours => Duration::HOUR,
                TimeField::Minutes => Duration::MINUTE,
                TimeField::Seconds => Duration::SECOND,
                TimeField::Milliseconds => Duration::MILLI,
                _ => return Err(no_overload("duration accessor", a)),
            };
            Ok(Value::Int(d.total(unit)))
        }
        _ => Err(no_overload("time accessor", a)),
    }
}
