//! The decision trace: a product feature with its own stable shape (see
//! docs/formats.md). Every variable value, every data-source call, model
//! scores with reason codes, rules hit, table rows matched, and timings.
//!
//! Capturing is cheap by design: values are kept as CEL values (reference
//! counted, cloned in O(1)) and names as shared strings; they become JSON only
//! when the trace is serialized.

use std::sync::Arc;

use riskflow_expr::Value;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value as Json;

/// Name → value pairs, in order, serialized as a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct Entries<V>(pub Vec<(Arc<str>, V)>);

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<V> Entries<V> {
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, name: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| v)
    }
    pub fn push(&mut self, name: Arc<str>, v: V) {
        self.0.push((name, v));
    }
}

impl<V: Serialize> Serialize for Entries<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(&**k, v)?;
        }
        m.end()
    }
}

/// Variable values by node index; names are resolved when serialized, so
/// recording a value costs no string handling at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variables {
    pub names: Arc<Vec<Arc<str>>>,
    pub items: Vec<(u32, Value)>,
}

impl Variables {
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.items
            .iter()
            .find(|(i, _)| self.names.get(*i as usize).is_some_and(|n| &**n == name))
            .map(|(_, v)| v)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.items
            .iter()
            .map(|(i, v)| (self.names.get(*i as usize).map(|n| &**n).unwrap_or("?"), v))
    }
}

impl Serialize for Variables {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.items.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Trace {
    /// Variable name → value, in evaluation order (money in minor units).
    pub variables: Variables,
    pub sources: Vec<SourceTrace>,
    pub models: Vec<ModelTrace>,
    pub rules: Vec<RuleHit>,
    pub tables: Vec<TableTrace>,
    /// Microseconds per model, rule set, table, data-source wave and the
    /// decision, in evaluation order, then `(variables)`: all CEL variables and
    /// outputs together.
    pub timings_us: Entries<f64>,
    pub total_us: f64,
    /// Time in CEL variables so far (reported as `(variables)`).
    #[serde(skip)]
    pub expr_us: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceTrace {
    pub variable: Arc<str>,
    pub source: Arc<str>,
    pub request: Json,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `"call"`, `"cache"`, `"supplied"` (answer given with the request) or `"default"` (failed, default used).
    pub via: &'static str,
    pub attempts: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelTrace {
    pub model: Arc<str>,
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    pub reasons: Vec<Arc<str>>,
    /// Feature name → value fed to the model.
    pub features: Features,
}

/// Feature values with the model's (shared) feature names, serialized as an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub names: Arc<Vec<Arc<str>>>,
    pub values: Vec<Value>,
}

impl Serialize for Features {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Named(&self.names, &self.values).serialize(s)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleHit {
    pub ruleset: Arc<str>,
    pub rule: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Arc<str>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub review: bool,
}

/// A table evaluation: serialized as `{table, inputs, lines, outputs}` with
/// column names and file lines looked up from the table when written.
#[derive(Clone)]
pub struct TableTrace {
    pub table: Arc<crate::table::Table>,
    /// Column inputs, in the table's input order.
    pub inputs: Vec<Value>,
    /// Indices of the rows that produced the result.
    pub rows: Vec<usize>,
    /// One value per output column.
    pub outputs: Vec<Value>,
}

impl TableTrace {
    /// Lines of the table file that matched (1-based, header is line 1).
    pub fn lines(&self) -> Vec<usize> {
        self.rows.iter().map(|r| self.table.rows[*r].line).collect()
    }
}

impl std::fmt::Debug for TableTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableTrace")
            .field("table", &self.table.name)
            .field("lines", &self.lines())
            .finish()
    }
}

impl PartialEq for TableTrace {
    fn eq(&self, o: &Self) -> bool {
        Arc::ptr_eq(&self.table, &o.table)
            && self.inputs == o.inputs
            && self.rows == o.rows
            && self.outputs == o.outputs
    }
}

struct Named<'a>(&'a [Arc<str>], &'a [Value]);

impl Serialize for Named<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.1.len()))?;
        for (k, v) in self.0.iter().zip(self.1) {
            m.serialize_entry(&**k, v)?;
        }
        m.end()
    }
}

impl Serialize for TableTrace {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let t = &self.table;
        let mut st = s.serialize_struct("TableTrace", 4)?;
        st.serialize_field("table", &*t.key)?;
        st.serialize_field("inputs", &Named(&t.input_keys, &self.inputs))?;
        st.serialize_field("lines", &self.lines())?;
        st.serialize_field("outputs", &Named(&t.output_keys, &self.outputs))?;
        st.end()
    }
}
