//! The decision trace: a product feature with its own stable shape (see
//! docs/formats.md). Every variable value, every data-source call, model
//! scores with reason codes, rules hit, table rows matched, and timings.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value as Json;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Trace {
    /// Variable name → value, in evaluation order.
    pub variables: IndexMap<String, Json>,
    pub sources: Vec<SourceTrace>,
    pub models: Vec<ModelTrace>,
    pub rules: Vec<RuleHit>,
    pub tables: Vec<TableTrace>,
    /// Node name → microseconds spent, in evaluation order.
    pub timings_us: IndexMap<String, f64>,
    pub total_us: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceTrace {
    pub variable: String,
    pub source: String,
    pub request: Json,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `"call"`, `"cache"`, `"supplied"` (answer given with the request) or `"default"` (failed, default used).
    pub via: String,
    pub attempts: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelTrace {
    pub model: String,
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    pub reasons: Vec<String>,
    /// Feature name → value fed to the model.
    pub features: IndexMap<String, Json>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleHit {
    pub ruleset: String,
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub review: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableTrace {
    pub table: String,
    /// Column name → input value.
    pub inputs: IndexMap<String, Json>,
    /// Lines of the table file that matched (1-based, header is line 1).
    pub lines: Vec<usize>,
    pub outputs: IndexMap<String, Json>,
}
