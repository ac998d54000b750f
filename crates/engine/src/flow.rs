//! A compiled flow: the variable DAG as nodes with slots, and the plan that
//! evaluates the sub-graph the requested outputs need.

use std::sync::Arc;

use riskflow_expr::Program;
use serde_json::Value as Json;

use crate::fieldtype::FieldType;
use crate::models::Model;
use crate::project::{FlowMode, RuleHitPolicy};
use crate::table::Table;

pub struct Flow {
    pub name: String,
    pub description: Option<String>,
    pub mode: FlowMode,
    /// The input naming the subject (customer, account), for the decision log.
    pub key: Option<String>,
    pub inputs: Vec<InputField>,
    /// Slot of `input` (the whole input as a map), filled only when some expression reads it.
    pub input_slot: usize,
    pub input_map_needed: bool,
    pub nodes: Vec<Node>,
    /// Node names by index, shared with traces.
    pub node_keys: Arc<Vec<Arc<str>>>,
    pub outputs: Vec<OutputField>,
    /// Decisions from strongest to weakest.
    pub decisions: Vec<Arc<str>>,
    pub default_decision: usize,
    pub slot_count: usize,
    /// The plan for all outputs.
    pub full_plan: Plan,
    /// How many outputs rule actions may `set`.
    pub settable_outputs: usize,
}

pub struct InputField {
    pub name: String,
    /// `name` as a map key of the `input` map.
    pub key: riskflow_expr::Key,
    pub ty: FieldType,
    pub required: bool,
    pub slot: usize,
    pub one_of: Option<Vec<String>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

pub struct OutputField {
    pub name: String,
    pub ty: FieldType,
    pub slot: usize,
    /// Index of the node that computes it.
    pub node: usize,
}

pub struct Node {
    pub name: String,
    /// `name` as a shared string, for traces.
    pub key: Arc<str>,
    /// The name without its `models.` / `rules.` / `tables.` prefix.
    pub short: Arc<str>,
    pub kind: NodeKind,
    /// Slots this node writes.
    pub out_slots: Vec<usize>,
    /// Nodes that must run first.
    pub deps: Vec<usize>,
    /// Whether the value appears in the trace's variables.
    pub traced: bool,
}

pub enum NodeKind {
    /// A CEL variable.
    Expr(Program),
    /// An HTTP data-source call.
    Source(SourceNode),
    Model(ModelNode),
    RuleSet(RuleSetNode),
    Table(TableNode),
    /// Aggregates rule hits into decision, reasons, tags, manual_review and `set` overrides.
    Finalize(FinalizeNode),
    /// A declared output computed by an expression; a rule's `set` may override it.
    Output {
        program: Option<Program>,
        override_index: Option<usize>,
    },
}

pub struct SourceNode {
    pub source: usize,
    pub source_name: Arc<str>,
    pub request: Vec<(String, Program)>,
    pub response: Option<Program>,
    pub default: Option<Json>,
    pub reason: Option<Arc<str>>,
}

pub struct ModelNode {
    pub model: Arc<Model>,
    pub feature_names: Vec<String>,
    pub feature_keys: Arc<Vec<Arc<str>>>,
    pub features: Vec<Program>,
}

pub struct RuleSetNode {
    pub policy: RuleHitPolicy,
    /// In evaluation order (by salience for PRIORITY).
    pub rules: Vec<Rule>,
}

pub struct Rule {
    pub id: Arc<str>,
    pub when: Program,
    pub decision: Option<usize>,
    pub reason: Option<Arc<str>>,
    pub tags: Vec<Arc<str>>,
    pub review: bool,
    /// (index into the flow's settable outputs, value)
    pub set: Vec<(usize, Program)>,
    pub enabled: bool,
}

pub struct TableNode {
    pub table: Arc<Table>,
    pub inputs: Vec<Program>,
    /// Slot of the cell variable `?` for expression cells.
    pub column_slot: usize,
}

pub struct FinalizeNode {
    pub rulesets: Vec<usize>,
}

/// What to evaluate for a request, in order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// The outputs this plan computes (indices into `Flow::outputs`).
    pub outputs: Vec<usize>,
}

#[derive(Debug, Clone)]
pub enum Step {
    Compute(usize),
    /// Data-source nodes whose calls may run concurrently.
    Fetch(Vec<usize>),
}

/// What a flow is made of, for `riskflow check` and dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub inputs: usize,
    /// CEL variables and data-source variables.
    pub variables: usize,
    pub sources: usize,
    pub models: usize,
    pub rules: usize,
    pub tables: usize,
    pub outputs: usize,
}

impl Flow {
    pub fn summary(&self) -> Summary {
        let count =
            |pred: fn(&NodeKind) -> bool| self.nodes.iter().filter(|n| pred(&n.kind)).count();
        Summary {
            inputs: self.inputs.len(),
            variables: count(|k| matches!(k, NodeKind::Expr(_) | NodeKind::Source(_))),
            sources: count(|k| matches!(k, NodeKind::Source(_))),
            models: count(|k| matches!(k, NodeKind::Model(_))),
            rules: self
                .nodes
                .iter()
                .map(|n| {
                    if let NodeKind::RuleSet(r) = &n.kind {
                        r.rules.len()
                    } else {
                        0
                    }
                })
                .sum(),
            tables: count(|k| matches!(k, NodeKind::Table(_))),
            outputs: self.outputs.len(),
        }
    }

    /// The plan that computes the named outputs (all when `None`): only the
    /// nodes they depend on, data-source calls that are ready together batched.
    pub fn plan(&self, outputs: Option<&[&str]>) -> Result<Plan, String> {
        let Some(names) = outputs else {
            return Ok(self.full_plan.clone());
        };
        let mut outputs = Vec::new();
        for n in names {
            let i = self
                .outputs
                .iter()
                .position(|o| o.name == *n)
                .ok_or_else(|| {
                    let known: Vec<&str> = self.outputs.iter().map(|o| o.name.as_str()).collect();
                    format!(
                        "flow {} has no output {n:?} (it has: {})",
                        self.name,
                        known.join(", ")
                    )
                })?;
            outputs.push(i);
        }
        let roots: Vec<usize> = outputs.iter().map(|i| self.outputs[*i].node).collect();
        Ok(Plan {
            outputs,
            ..build_plan(&self.nodes, &roots)
        })
    }
}

/// Topologically ordered steps for the closure of `roots`; nodes are already
/// indexed in a topological order, so the closure sorted by index is an order.
pub fn build_plan(nodes: &[Node], roots: &[usize]) -> Plan {
    let mut needed = vec![false; nodes.len()];
    let mut stack: Vec<usize> = roots.to_vec();
    while let Some(n) = stack.pop() {
        if !needed[n] {
            needed[n] = true;
            stack.extend(nodes[n].deps.iter().copied());
        }
    }
    // Wave scheduling: a data-source call waits only for its own dependencies,
    // and all calls ready at the same point are issued together.
    let mut done = vec![false; nodes.len()];
    let mut steps = Vec::new();
    let mut pending: Vec<usize> = (0..nodes.len()).filter(|i| needed[*i]).collect();
    while !pending.is_empty() {
        let mut progressed = true;
        while progressed {
            progressed = false;
            let mut rest = Vec::with_capacity(pending.len());
            for &n in &pending {
                let ready = nodes[n].deps.iter().all(|d| done[*d]);
                if ready && !matches!(nodes[n].kind, NodeKind::Source(_)) {
                    steps.push(Step::Compute(n));
                    done[n] = true;
                    progressed = true;
                } else {
                    rest.push(n);
                }
            }
            pending = rest;
        }
        let fetch: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|n| {
                matches!(nodes[*n].kind, NodeKind::Source(_))
                    && nodes[*n].deps.iter().all(|d| done[*d])
            })
            .collect();
        if fetch.is_empty() {
            break; // unreachable for an acyclic graph
        }
        for n in &fetch {
            done[*n] = true;
        }
        pending.retain(|n| !done[*n]);
        steps.push(Step::Fetch(fetch));
    }
    Plan {
        steps,
        outputs: Vec::new(),
    }
}
