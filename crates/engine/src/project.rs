//! The on-disk project format (YAML), as written by users. Documented in
//! `docs/formats.md`; a JSON Schema for editors is in `docs/schema/`.
//! These types are only the syntax: [`crate::compile`] gives them meaning.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::Deserialize;

/// `riskflow.yaml` at the project root.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Flow files, relative to the project root. Default: every `flows/*.yaml`.
    #[serde(default)]
    pub flows: Vec<String>,
    /// HTTP data sources variables can call.
    #[serde(default)]
    pub datasources: IndexMap<String, DataSourceDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSourceDef {
    /// URL; `${NAME:-default}` is replaced from the environment.
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub retries: u32,
    /// How long a response may be reused for the same request, in seconds (0 = no cache).
    #[serde(default)]
    pub cache_ttl_s: u64,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_method() -> String {
    "POST".into()
}
fn default_timeout() -> u64 {
    500
}

/// One flow file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowFile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub mode: FlowMode,
    /// The input that identifies the subject (customer, account): the
    /// decision log is searchable by it.
    #[serde(default)]
    pub key: Option<String>,
    pub inputs: IndexMap<String, FieldDef>,
    #[serde(default)]
    pub variables: IndexMap<String, VariableDef>,
    #[serde(default)]
    pub models: IndexMap<String, ModelDef>,
    #[serde(default)]
    pub rulesets: IndexMap<String, RuleSetDef>,
    #[serde(default)]
    pub tables: IndexMap<String, TableDef>,
    /// Decisions from strongest to weakest; the strongest hit wins.
    #[serde(default = "default_decisions")]
    pub decisions: Vec<String>,
    /// The decision when no rule decides.
    #[serde(default = "default_decision")]
    pub default_decision: String,
    #[serde(default)]
    pub outputs: IndexMap<String, OutputDef>,
}

fn default_decisions() -> Vec<String> {
    vec!["reject".into(), "review".into(), "approve".into()]
}
fn default_decision() -> String {
    "approve".into()
}

#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FlowMode {
    #[default]
    Sync,
    Async,
}

/// An input or output field: `amount: money`, or `{type: string, required: false}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FieldDef {
    Short(String),
    Long(FieldLong),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldLong {
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// Allowed values (strings) — anything else is rejected.
    #[serde(default, rename = "enum")]
    pub one_of: Option<Vec<String>>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

fn yes() -> bool {
    true
}

impl FieldDef {
    pub fn long(&self) -> FieldLong {
        match self {
            FieldDef::Short(t) => FieldLong {
                ty: t.trim_end_matches('?').to_string(),
                required: !t.ends_with('?'),
                description: None,
                one_of: None,
                min: None,
                max: None,
            },
            FieldDef::Long(l) => l.clone(),
        }
    }
}

/// A variable: a CEL expression (`name: "expr"`), or a data-source call.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum VariableDef {
    Expr(String),
    Long(Box<VariableLong>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableLong {
    #[serde(default)]
    pub expr: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Declared type, checked against the expression's inferred type.
    #[serde(default, rename = "type")]
    pub ty: Option<String>,
    /// Data source name (from `riskflow.yaml`).
    #[serde(default)]
    pub source: Option<String>,
    /// Request body: field → CEL expression.
    #[serde(default)]
    pub request: IndexMap<String, String>,
    /// CEL over `response` mapping the answer to the variable's value. Default: the whole body.
    #[serde(default)]
    pub response: Option<String>,
    /// What happens when the call fails after its retries.
    #[serde(default)]
    pub on_error: Option<OnError>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnError {
    /// Value used instead (JSON/YAML). Absent: the decision fails.
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    /// Reason code added to the decision when the default was used.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDef {
    #[serde(rename = "type")]
    pub kind: String,
    /// Model file relative to the project root (XGBoost JSON, LightGBM text, or YAML for scorecards / logistic).
    #[serde(default)]
    pub file: Option<String>,
    /// Feature name → CEL expression. For tree models the order is the model's feature order.
    #[serde(default)]
    pub features: IndexMap<String, String>,
    /// Scorecard definition inline (instead of `file`).
    #[serde(default)]
    pub scorecard: Option<ScorecardDef>,
    /// Logistic regression inline (instead of `file`).
    #[serde(default)]
    pub logistic: Option<LogisticDef>,
    /// How many reason codes to report.
    #[serde(default = "default_reasons")]
    pub reason_count: usize,
}

fn default_reasons() -> usize {
    4
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScorecardDef {
    #[serde(default)]
    pub base_points: f64,
    pub characteristics: Vec<CharacteristicDef>,
    /// Optional score → probability scaling (points to double the odds).
    #[serde(default)]
    pub scaling: Option<ScalingDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingDef {
    pub base_score: f64,
    /// Good:bad odds at `base_score`.
    pub base_odds: f64,
    pub pdo: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharacteristicDef {
    /// Feature name (a key of the model's `features`).
    pub feature: String,
    /// Reason code reported when this characteristic costs points.
    pub reason: String,
    pub bins: Vec<BinDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinDef {
    /// A decision-table cell test (`[18..25)`, `< 600`, `"A","B"`, `-`); absent with `missing: true` or `else: true`.
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default, rename = "else")]
    pub otherwise: bool,
    pub points: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogisticDef {
    pub intercept: f64,
    pub coefficients: IndexMap<String, f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetDef {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub hit_policy: RuleHitPolicy,
    pub rules: Vec<RuleDef>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RuleHitPolicy {
    /// Stop at the first rule that fires.
    First,
    /// Fire every rule whose condition holds (collect).
    #[default]
    All,
    /// Evaluate by salience (highest first) and keep the first that fires.
    Priority,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    pub when: String,
    #[serde(default)]
    pub salience: i64,
    #[serde(default)]
    pub then: ActionDef,
    /// A disabled rule is compiled and checked but never fires.
    #[serde(default = "yes")]
    pub enabled: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDef {
    #[serde(default)]
    pub decision: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Route the case to manual review.
    #[serde(default)]
    pub review: bool,
    /// Output name → CEL expression.
    #[serde(default)]
    pub set: IndexMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableDef {
    /// CSV or XLSX file relative to the project root.
    pub file: String,
    /// XLSX sheet (default: the first).
    #[serde(default)]
    pub sheet: Option<String>,
    #[serde(default)]
    pub hit_policy: TableHitPolicy,
    /// For `collect`: aggregate the (single) output column.
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
    /// Input column → CEL expression giving the value the column tests.
    pub inputs: IndexMap<String, String>,
    /// Output column → type.
    pub outputs: IndexMap<String, String>,
    /// The analyst asserts every input combination matches some row; `check` reports gaps.
    #[serde(default)]
    pub complete: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TableHitPolicy {
    Unique,
    #[default]
    First,
    Priority,
    Any,
    Collect,
    RuleOrder,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Sum,
    Min,
    Max,
    Count,
}

/// An output: `decision: string`, or `{type: money, expr: "…", default: …}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OutputDef {
    Short(String),
    Long(OutputLong),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputLong {
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub expr: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A test file: cases of input → expected outputs for one flow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    pub flow: String,
    /// Canned data-source answers shared by every case (variable name → response JSON).
    #[serde(default)]
    pub sources: IndexMap<String, serde_json::Value>,
    pub cases: Vec<TestCase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    pub input: serde_json::Value,
    /// Per-case data-source answers (variable name → response JSON), overriding the file's.
    #[serde(default)]
    pub sources: IndexMap<String, serde_json::Value>,
    /// Output name → expected value; outputs not named are not compared.
    pub expect: IndexMap<String, serde_json::Value>,
}
