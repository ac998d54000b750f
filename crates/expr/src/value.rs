//! Runtime values: the CEL types, map keys with CEL's cross-type numeric
//! equality, and conversions to and from JSON.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use indexmap::IndexMap;

use crate::error::EvalError;
use crate::time::{Duration, Timestamp};

/// A CEL value. Cloning is cheap: aggregates and strings are reference counted.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    String(Arc<str>),
    Bytes(Arc<[u8]>),
    List(Arc<List>),
    Map(Arc<Map>),
    Timestamp(Timestamp),
    Duration(Duration),
    Type(TypeName),
}

/// A list. Dereferences to its elements. A long list that is searched with
/// `in` more than once builds a hash index of itself (strings or ints) on
/// the second search, so repeated membership tests against the same list —
/// a blacklist held by a flow, a cached data-source answer — cost a hash
/// lookup instead of a scan. A list searched once is only scanned.
pub struct List {
    items: Vec<Value>,
    searches: std::sync::atomic::AtomicU32,
    index: std::sync::OnceLock<ListIndex>,
}

enum ListIndex {
    Strings(std::collections::HashSet<Arc<str>>),
    Ints(std::collections::HashSet<i64>),
    /// Mixed or other element types: scan.
    None,
}

/// Lists shorter than this are always scanned.
const INDEX_MIN_LEN: usize = 32;

impl List {
    pub fn new(items: Vec<Value>) -> List {
        List {
            items,
            searches: std::sync::atomic::AtomicU32::new(0),
            index: std::sync::OnceLock::new(),
        }
    }

    pub fn as_slice(&self) -> &[Value] {
        &self.items
    }

    /// Membership by CEL equality, using the index when there is one.
    pub fn contains(&self, item: &Value) -> bool {
        if self.items.len() >= INDEX_MIN_LEN {
            let idx = match self.index.get() {
                Some(idx) => Some(idx),
                None if self
                    .searches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    >= 1 =>
                {
                    Some(self.index.get_or_init(|| self.build_index()))
                }
                None => None,
            };
            match (idx, item) {
                (Some(ListIndex::Strings(set)), Value::String(s)) => return set.contains(&**s),
                (Some(ListIndex::Strings(_)), _) => return false,
                (Some(ListIndex::Ints(set)), Value::Int(i)) => return set.contains(i),
                _ => {}
            }
        }
        match item {
            Value::String(s) => self
                .items
                .iter()
                .any(|v| matches!(v, Value::String(x) if x.len() == s.len() && **x == **s)),
            Value::Int(i) => self.items.iter().any(|v| match v {
                Value::Int(x) => x == i,
                other => other.cel_eq(item),
            }),
            _ => self.items.iter().any(|v| v.cel_eq(item)),
        }
    }

    fn build_index(&self) -> ListIndex {
        if self.items.iter().all(|v| matches!(v, Value::String(_))) {
            ListIndex::Strings(
                self.items
                    .iter()
                    .filter_map(|v| {
                        if let Value::String(s) = v {
                            Some(s.clone())
                        } else {
                            None
                        }
                    })
                    .collect(),
            )
        } else if self.items.iter().all(|v| matches!(v, Value::Int(_))) {
            ListIndex::Ints(
                self.items
                    .iter()
                    .filter_map(|v| {
                        if let Value::Int(i) = v {
                            Some(*i)
                        } else {
                            None
                        }
                    })
                    .collect(),
            )
        } else {
            ListIndex::None
        }
    }
}

impl std::ops::Deref for List {
    type Target = [Value];
    fn deref(&self) -> &[Value] {
        &self.items
    }
}

impl fmt::Debug for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.items.iter()).finish()
    }
}

/// The runtime type of a value, as returned by `type(x)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeName {
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    List,
    Map,
    Timestamp,
    Duration,
    Type,
}

impl TypeName {
    pub fn name(self) -> &'static str {
        match self {
            TypeName::Null => "null_type",
            TypeName::Bool => "bool",
            TypeName::Int => "int",
            TypeName::Uint => "uint",
            TypeName::Double => "double",
            TypeName::String => "string",
            TypeName::Bytes => "bytes",
            TypeName::List => "list",
            TypeName::Map => "map",
            TypeName::Timestamp => "google.protobuf.Timestamp",
            TypeName::Duration => "google.protobuf.Duration",
            TypeName::Type => "type",
        }
    }
    pub fn from_name(s: &str) -> Option<TypeName> {
        Some(match s {
            "null_type" => TypeName::Null,
            "bool" => TypeName::Bool,
            "int" => TypeName::Int,
            "uint" => TypeName::Uint,
            "double" => TypeName::Double,
            "string" => TypeName::String,
            "bytes" => TypeName::Bytes,
            "list" => TypeName::List,
            "map" => TypeName::Map,
            "google.protobuf.Timestamp" => TypeName::Timestamp,
            "google.protobuf.Duration" => TypeName::Duration,
            "type" => TypeName::Type,
            _ => return None,
        })
    }
}

/// A map key: int, uint, bool or string. `1`, `1u` (and a lookup by `1.0`)
/// denote the same key, as CEL's heterogeneous equality requires.
#[derive(Debug, Clone)]
pub enum Key {
    Int(i64),
    Uint(u64),
    Bool(bool),
    String(Arc<str>),
}

impl Key {
    pub fn from_value(v: &Value) -> Result<Key, EvalError> {
        match v {
            Value::Int(i) => Ok(Key::Int(*i)),
            Value::Uint(u) => Ok(Key::Uint(*u)),
            Value::Bool(b) => Ok(Key::Bool(*b)),
            Value::String(s) => Ok(Key::String(s.clone())),
            other => Err(EvalError::invalid(format!(
                "unsupported key type {}",
                other.type_name().name()
            ))),
        }
    }
    /// The key a lookup by `v` means, or None when no key can equal `v`.
    pub fn for_lookup(v: &Value) -> Option<Key> {
        match v {
            Value::Double(d) => {
                if d.fract() == 0.0
                    && *d >= -9.223_372_036_854_776e18
                    && *d < 9.223_372_036_854_776e18
                {
                    Some(Key::Int(*d as i64))
                } else if d.fract() == 0.0 && *d >= 0.0 && *d < 1.844_674_407_370_955_2e19 {
                    Some(Key::Uint(*d as u64))
                } else {
                    None
                }
            }
            other => Key::from_value(other).ok(),
        }
    }
    pub fn to_value(&self) -> Value {
        match self {
            Key::Int(i) => Value::Int(*i),
            Key::Uint(u) => Value::Uint(*u),
            Key::Bool(b) => Value::Bool(*b),
            Key::String(s) => Value::String(s.clone()),
        }
    }
    fn norm(&self) -> (u8, i128) {
        match self {
            Key::Int(i) => (0, *i as i128),
            Key::Uint(u) => (0, *u as i128),
            Key::Bool(b) => (1, *b as i128),
            Key::String(_) => (2, 0),
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        match (self, other) {
            (Key::String(a), Key::String(b)) => a == b,
            _ => self.norm() == other.norm(),
        }
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Key::String(s) => {
                2u8.hash(state);
                s.hash(state)
            }
            other => other.norm().hash(state),
        }
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        Key::String(Arc::from(s))
    }
}

/// A CEL map, insertion-ordered. Keys hash with FxHash: map fields are read
/// on every decision (`bureau.score`), and SipHash's DoS resistance buys
/// nothing for keys that come from the project or a trusted data source.
pub type Map = IndexMap<Key, Value, rustc_hash::FxBuildHasher>;

/// An empty map with room for `n` entries.
pub fn map_with_capacity(n: usize) -> Map {
    Map::with_capacity_and_hasher(n, rustc_hash::FxBuildHasher)
}

impl Value {
    pub fn string(s: impl AsRef<str>) -> Value {
        Value::String(Arc::from(s.as_ref()))
    }
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(List::new(items)))
    }
    pub fn map(m: Map) -> Value {
        Value::Map(Arc::new(m))
    }

    pub fn type_name(&self) -> TypeName {
        match self {
            Value::Null => TypeName::Null,
            Value::Bool(_) => TypeName::Bool,
            Value::Int(_) => TypeName::Int,
            Value::Uint(_) => TypeName::Uint,
            Value::Double(_) => TypeName::Double,
            Value::String(_) => TypeName::String,
            Value::Bytes(_) => TypeName::Bytes,
            Value::List(_) => TypeName::List,
            Value::Map(_) => TypeName::Map,
            Value::Timestamp(_) => TypeName::Timestamp,
            Value::Duration(_) => TypeName::Duration,
            Value::Type(_) => TypeName::Type,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Uint(u) => Some(*u as f64),
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// CEL equality: numbers compare by value across int/uint/double,
    /// aggregates element-wise, different types are unequal.
    pub fn cel_eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (String(a), String(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Timestamp(a), Timestamp(b)) => a == b,
            (Duration(a), Duration(b)) => a == b,
            (Type(a), Type(b)) => a == b,
            (List(a), List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.cel_eq(y))
            }
            (Map(a), Map(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v.cel_eq(w)))
            }
            _ => match num_cmp(self, other) {
                Some(o) => o == Ordering::Equal,
                None => false,
            },
        }
    }

    /// CEL ordering for `<`, `<=`, `>`, `>=`; None when the types do not compare
    /// (or a NaN is involved, which compares false rather than erroring).
    pub fn cel_cmp(&self, other: &Value) -> Result<Option<Ordering>, EvalError> {
        use Value::*;
        Ok(match (self, other) {
            (Bool(a), Bool(b)) => Some(a.cmp(b)),
            (String(a), String(b)) => Some(a.cmp(b)),
            (Bytes(a), Bytes(b)) => Some(a.cmp(b)),
            (Timestamp(a), Timestamp(b)) => Some(a.cmp(b)),
            (Duration(a), Duration(b)) => Some(a.cmp(b)),
            (Int(_) | Uint(_) | Double(_), Int(_) | Uint(_) | Double(_)) => num_cmp(self, other),
            _ => {
                return Err(EvalError::new(
                    crate::error::EvalErrorKind::NoMatchingOverload,
                    format!(
                        "no matching overload: cannot compare {} with {}",
                        self.type_name().name(),
                        other.type_name().name()
                    ),
                ));
            }
        })
    }
}

/// Numeric comparison across int, uint and double, exact for large integers.
pub fn num_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    use Value::*;
    match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Uint(x), Uint(y)) => Some(x.cmp(y)),
        (Int(x), Uint(y)) => Some((*x as i128).cmp(&(*y as i128))),
        (Uint(x), Int(y)) => Some((*x as i128).cmp(&(*y as i128))),
        (Double(x), Double(y)) => x.partial_cmp(y),
        // int/uint against double compare as doubles, as the reference implementation does.
        (Double(x), Int(y)) => x.partial_cmp(&(*y as f64)),
        (Double(x), Uint(y)) => x.partial_cmp(&(*y as f64)),
        (Int(x), Double(y)) => (*x as f64).partial_cmp(y),
        (Uint(x), Double(y)) => (*x as f64).partial_cmp(y),
        _ => None,
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.cel_eq(other)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::json::to_json(self))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}
impl From<u64> for Value {
    fn from(u: u64) -> Value {
        Value::Uint(u)
    }
}
impl From<f64> for Value {
    fn from(d: f64) -> Value {
        Value::Double(d)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::string(s)
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Arc::from(s))
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::list(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_membership_with_and_without_the_index() {
        let strings = List::new((0..100).map(|i| Value::from(format!("d{i}"))).collect());
        let ints = List::new((0..100).map(Value::Int).collect());
        let mixed = List::new(
            (0..100)
                .map(|i| {
                    if i % 2 == 0 {
                        Value::Int(i)
                    } else {
                        Value::Double(i as f64)
                    }
                })
                .collect(),
        );
        // The first search scans, later ones use the index; both agree.
        for _ in 0..3 {
            assert!(strings.contains(&Value::from("d99")));
            assert!(!strings.contains(&Value::from("d100")));
            assert!(!strings.contains(&Value::Int(5)));
            assert!(ints.contains(&Value::Int(42)));
            assert!(!ints.contains(&Value::Int(420)));
            assert!(
                ints.contains(&Value::Double(42.0)),
                "numeric equality across types"
            );
            assert!(ints.contains(&Value::Uint(7)));
            assert!(mixed.contains(&Value::Int(3)), "3.0 is in the list");
            assert!(!mixed.contains(&Value::Int(101)));
        }
        assert!(matches!(strings.index.get(), Some(ListIndex::Strings(_))));
        assert!(matches!(mixed.index.get(), Some(ListIndex::None)));
    }
}
