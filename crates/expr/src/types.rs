//! Static types used by the checker.

use std::fmt;

/// A CEL type as the checker sees it. `Dyn` is unknown until run time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Dyn,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Timestamp,
    Duration,
    List(Box<Type>),
    Map(Box<Type>, Box<Type>),
    /// The type of type values (`int`, `type(x)`).
    Type,
}

impl Type {
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }
    pub fn map(k: Type, v: Type) -> Type {
        Type::Map(Box::new(k), Box::new(v))
    }
    pub fn is_dyn(&self) -> bool {
        matches!(self, Type::Dyn)
    }
    pub fn is_numeric(&self) -> bool {
        matches!(self, Type::Int | Type::Uint | Type::Double)
    }

    /// Whether a value of type `other` may flow where `self` is expected.
    pub fn accepts(&self, other: &Type) -> bool {
        match (self, other) {
            (Type::Dyn, _) | (_, Type::Dyn) => true,
            (Type::List(a), Type::List(b)) => a.accepts(b),
            (Type::Map(k1, v1), Type::Map(k2, v2)) => k1.accepts(k2) && v1.accepts(v2),
            (a, b) => a == b,
        }
    }

    /// The most specific type both values can have: equal types stay,
    /// otherwise `dyn` (element-wise for lists and maps).
    pub fn join(&self, other: &Type) -> Type {
        match (self, other) {
            (a, b) if a == b => a.clone(),
            (Type::List(a), Type::List(b)) => Type::list(a.join(b)),
            (Type::Map(k1, v1), Type::Map(k2, v2)) => Type::map(k1.join(k2), v1.join(v2)),
            _ => Type::Dyn,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Dyn => f.write_str("dyn"),
            Type::Null => f.write_str("null"),
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Uint => f.write_str("uint"),
            Type::Double => f.write_str("double"),
            Type::String => f.write_str("string"),
            Type::Bytes => f.write_str("bytes"),
            Type::Timestamp => f.write_str("timestamp"),
            Type::Duration => f.write_str("duration"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Map(k, v) => write!(f, "map({k}, {v})"),
            Type::Type => f.write_str("type"),
        }
    }
}
