//! Running a flow: validate the input against the declared types, then walk
//! the plan — expressions, data-source waves (concurrent), models, rule sets,
//! tables, the decision — writing every value into its slot. The same inputs
//! and the same data-source answers always give the same outputs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use indexmap::IndexMap;
use riskflow_expr::{Program, Value, json};
use serde_json::Value as Json;

use crate::flow::*;
use crate::trace::*;

/// Why a decision could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecideError {
    /// The input violates the flow's declared types: every bad field, and why.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    InvalidInput(Vec<FieldError>),
    /// An expression failed while evaluating (division by zero, missing key, …).
    #[error("{node}: {message}")]
    Eval { node: String, message: String },
    /// A data source failed and the variable has no default.
    #[error("data source for {variable} failed: {message}")]
    Source { variable: String, message: String },
    /// The named output does not exist.
    #[error("{0}")]
    UnknownOutput(String),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A decision: the outputs, and the trace when asked for.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Decision {
    pub flow: String,
    pub outputs: IndexMap<String, Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
}

/// One data-source call to make.
#[derive(Debug, Clone)]
pub struct SourceCall {
    pub variable: String,
    pub source: usize,
    pub request: Json,
}

/// The outcome of a call: the body, how it was obtained, how many attempts it took.
pub type SourceResult = Result<(Json, &'static str, u32), (String, u32)>;

/// Something that answers data-source calls (HTTP in production, canned in tests).
pub trait Fetcher: Send + Sync {
    fn fetch_all(
        &self,
        calls: Vec<SourceCall>,
    ) -> impl std::future::Future<Output = Vec<SourceResult>> + Send;
}

/// Answers given with the request (variable name → response body): tests,
/// benchmarks and replays supply them; a missing answer is an error.
#[derive(Debug, Clone, Default)]
pub struct Answers(pub HashMap<String, Json>);

impl Fetcher for Answers {
    async fn fetch_all(&self, calls: Vec<SourceCall>) -> Vec<SourceResult> {
        calls.iter().map(|c| self.answer(c)).collect()
    }
}

impl Answers {
    pub(crate) fn answer(&self, c: &SourceCall) -> SourceResult {
        self.lookup(&c.variable)
            .map(|(body, via, attempts)| (body.clone(), via, attempts))
    }

    /// The supplied answer for a call, borrowed. `{"$error": "…"}` records a
    /// failed call, so tests and replays can exercise fallbacks.
    fn lookup(&self, variable: &str) -> Result<(&Json, &'static str, u32), (String, u32)> {
        match self.0.get(variable) {
            Some(Json::Object(o)) if o.len() == 1 && o.contains_key("$error") => {
                Err((o["$error"].as_str().unwrap_or("error").to_string(), 1))
            }
            Some(j) => Ok((j, "supplied", 0)),
            None => Err((
                format!("no answer supplied for data-source variable {variable}"),
                0,
            )),
        }
    }

    pub fn contains(&self, variable: &str) -> bool {
        self.0.contains_key(variable)
    }
}

/// Options for one decision.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecideOptions {
    pub trace: bool,
}

struct Run<'f> {
    flow: &'f Flow,
    slots: Vec<Value>,
    trace: Option<Trace>,
    /// When tracing: the last time a node finished.
    last: Instant,
    hits: Vec<Vec<usize>>,
    overrides: Vec<Option<Value>>,
    fallback_reasons: Vec<Arc<str>>,
}

impl Flow {
    /// Decides with every data-source answer supplied (no I/O): the fast path
    /// for flows without data sources, and for tests, benchmarks and replays.
    pub fn decide(
        &self,
        input: &Json,
        answers: &Answers,
        opts: DecideOptions,
    ) -> Result<Decision, DecideError> {
        self.decide_plan(&self.full_plan, input, answers, opts)
    }

    /// Like [`Flow::decide`], computing only what `plan` (from [`Flow::plan`]) needs.
    pub fn decide_plan(
        &self,
        plan: &Plan,
        input: &Json,
        answers: &Answers,
        opts: DecideOptions,
    ) -> Result<Decision, DecideError> {
        let started = Instant::now();
        let mut run = self.start(input, opts)?;
        for step in &plan.steps {
            match step {
                Step::Compute(n) => run.compute(*n)?,
                Step::Fetch(ns) => {
                    for n in ns {
                        run.supplied_source(*n, answers)?;
                    }
                }
            }
        }
        Ok(run.finish(started, plan))
    }

    /// Decides, calling data sources through `fetcher`; calls that are ready
    /// together are made together.
    pub async fn decide_async<F: Fetcher>(
        &self,
        input: &Json,
        fetcher: &F,
        opts: DecideOptions,
    ) -> Result<Decision, DecideError> {
        self.decide_plan_async(&self.full_plan, input, fetcher, opts)
            .await
    }

    /// Like [`Flow::decide_async`], computing only what `plan` needs.
    pub async fn decide_plan_async<F: Fetcher>(
        &self,
        plan: &Plan,
        input: &Json,
        fetcher: &F,
        opts: DecideOptions,
    ) -> Result<Decision, DecideError> {
        let started = Instant::now();
        let mut run = self.start(input, opts)?;
        for step in &plan.steps {
            match step {
                Step::Compute(n) => run.compute(*n)?,
                Step::Fetch(ns) => {
                    let calls = ns
                        .iter()
                        .map(|n| run.call(*n))
                        .collect::<Result<Vec<_>, _>>()?;
                    let t = Instant::now();
                    let results = fetcher.fetch_all(calls.clone()).await;
                    if let Some(tr) = &mut run.trace {
                        let names: Vec<&str> = calls.iter().map(|c| c.variable.as_str()).collect();
                        tr.timings_us.push(
                            Arc::from(format!("fetch[{}]", names.join(","))),
                            t.elapsed().as_secs_f64() * 1e6,
                        );
                        run.last = Instant::now();
                    }
                    for ((n, c), r) in ns.iter().zip(calls).zip(results) {
                        run.finish_source(*n, c, r)?;
                    }
                }
            }
        }
        Ok(run.finish(started, plan))
    }

    /// Checks the input against the declared types without deciding (a
    /// queue accepts only what a worker will be able to decide).
    pub fn check_input(&self, input: &Json) -> Result<(), DecideError> {
        let mut slots = vec![Value::Null; self.slot_count];
        self.bind_input(input, &mut slots)
    }

    /// Checks and converts the input; every problem is listed.
    pub fn bind_input(&self, input: &Json, slots: &mut [Value]) -> Result<(), DecideError> {
        let Json::Object(obj) = input else {
            return Err(DecideError::InvalidInput(vec![FieldError {
                field: "(input)".into(),
                message: "expected a JSON object".into(),
            }]));
        };
        let mut errors = Vec::new();
        let mut present = 0;
        let mut map = self
            .input_map_needed
            .then(|| riskflow_expr::value::map_with_capacity(self.inputs.len()));
        for f in &self.inputs {
            let field = obj.get(&f.name);
            present += usize::from(field.is_some());
            match field {
                None | Some(Json::Null) => {
                    if f.required {
                        errors.push(FieldError {
                            field: f.name.clone(),
                            message: format!("required; expected {}", f.ty.describe()),
                        });
                    }
                }
                Some(j) => match f.ty.from_json(j) {
                    Ok(v) => {
                        if let Some(msg) = f.constraint_violation(&v) {
                            errors.push(FieldError {
                                field: f.name.clone(),
                                message: msg,
                            });
                        }
                        if let Some(m) = &mut map {
                            m.insert(f.key.clone(), v.clone());
                        }
                        slots[f.slot] = v;
                    }
                    Err(message) => errors.push(FieldError {
                        field: f.name.clone(),
                        message,
                    }),
                },
            }
        }
        // Only when some key matched no declared input: find which (the rare, slow path).
        for k in obj.keys().filter(|_| present != obj.len()) {
            if !self.inputs.iter().any(|f| &f.name == k) {
                errors.push(FieldError {
                    field: k.clone(),
                    message: format!("unknown field (flow {} does not declare it)", self.name),
                });
            }
        }
        if !errors.is_empty() {
            return Err(DecideError::InvalidInput(errors));
        }
        if let Some(m) = map {
            slots[self.input_slot] = Value::map(m);
        }
        Ok(())
    }

    fn start(&self, input: &Json, opts: DecideOptions) -> Result<Run<'_>, DecideError> {
        let mut slots = vec![Value::Null; self.slot_count];
        self.bind_input(input, &mut slots)?;
        Ok(Run {
            flow: self,
            slots,
            trace: opts.trace.then(|| Trace {
                variables: crate::trace::Variables {
                    names: self.node_keys.clone(),
                    items: Vec::with_capacity(self.nodes.len()),
                },
                timings_us: crate::trace::Entries(Vec::with_capacity(self.nodes.len().min(32))),
                ..Trace::default()
            }),
            last: Instant::now(),
            hits: vec![Vec::new(); self.nodes.len()],
            overrides: vec![None; self.settable_outputs],
            fallback_reasons: Vec::new(),
        })
    }
}

impl InputField {
    fn constraint_violation(&self, v: &Value) -> Option<String> {
        if let (Some(allowed), Value::String(s)) = (&self.one_of, v)
            && !allowed.iter().any(|a| a == &**s)
        {
            return Some(format!("{s:?} is not one of {allowed:?}"));
        }
        let x = match (&self.ty, v) {
            (crate::fieldtype::FieldType::Money, Value::Int(c)) => Some(*c as f64 / 100.0),
            (_, v) => v.as_f64(),
        };
        if let Some(x) = x {
            if self.min.is_some_and(|m| x < m) {
                return Some(format!(
                    "{x} is below the minimum {}",
                    self.min.unwrap_or_default()
                ));
            }
            if self.max.is_some_and(|m| x > m) {
                return Some(format!(
                    "{x} is above the maximum {}",
                    self.max.unwrap_or_default()
                ));
            }
        }
        None
    }
}

fn eval_err(node: &str, e: impl std::fmt::Display) -> DecideError {
    DecideError::Eval {
        node: node.to_string(),
        message: e.to_string(),
    }
}

impl Run<'_> {
    fn eval(&self, p: &Program, node: &str) -> Result<Value, DecideError> {
        p.eval(&self.slots[..]).map_err(|e| eval_err(node, e))
    }

    fn compute(&mut self, n: usize) -> Result<(), DecideError> {
        let flow = self.flow;
        let node = &flow.nodes[n];
        // Models, rule sets, tables and the decision are timed one by one; a
        // CEL variable takes about as long as reading the clock, so variables
        // are timed together (the trace's `(variables)` entry).
        let heavy = !matches!(node.kind, NodeKind::Expr(_) | NodeKind::Output { .. });
        if heavy && let Some(tr) = &mut self.trace {
            let now = Instant::now();
            tr.expr_us += (now - self.last).as_secs_f64() * 1e6;
            self.last = now;
        }
        match &node.kind {
            NodeKind::Expr(p) => {
                let v = self.eval(p, &node.name)?;
                self.slots[node.out_slots[0]] = v;
            }
            NodeKind::Source(_) => unreachable!("sources are fetched, not computed"),
            NodeKind::Model(m) => self.model(node, m)?,
            NodeKind::RuleSet(rs) => self.ruleset(n, node, rs)?,
            NodeKind::Table(tn) => self.table(node, tn)?,
            NodeKind::Finalize(f) => self.finalize(node, f),
            NodeKind::Output {
                program,
                override_index,
            } => {
                let v = match override_index.and_then(|i| self.overrides[i].clone()) {
                    Some(v) => v,
                    None => match program {
                        Some(p) => self.eval(p, &node.name)?,
                        None => Value::Null,
                    },
                };
                self.slots[node.out_slots[0]] = v;
            }
        }
        if let Some(tr) = &mut self.trace {
            if heavy {
                let now = Instant::now();
                tr.timings_us
                    .push(node.key.clone(), (now - self.last).as_secs_f64() * 1e6);
                self.last = now;
            }
            if node.traced {
                tr.variables
                    .items
                    .push((n as u32, self.slots[node.out_slots[0]].clone()));
            }
        }
        Ok(())
    }

    fn call(&self, n: usize) -> Result<SourceCall, DecideError> {
        let node = &self.flow.nodes[n];
        let NodeKind::Source(s) = &node.kind else {
            unreachable!("fetch steps hold sources")
        };
        let mut body = serde_json::Map::new();
        for (field, p) in &s.request {
            body.insert(field.clone(), json::to_json(&self.eval(p, &node.name)?));
        }
        Ok(SourceCall {
            variable: node.name.clone(),
            source: s.source,
            request: Json::Object(body),
        })
    }

    /// A data source answered from supplied answers: converted in place, no
    /// request built or body cloned unless the trace wants them.
    fn supplied_source(&mut self, n: usize, answers: &Answers) -> Result<(), DecideError> {
        let result = answers
            .lookup(&self.flow.nodes[n].name)
            .map(|(body, via, attempts)| (json::from_json(body), via, attempts));
        // The request is built only for the trace: nothing is sent.
        let request = if self.trace.is_some() {
            self.call(n)?.request
        } else {
            Json::Null
        };
        self.finish_source_value(n, request, result)
    }

    fn finish_source(
        &mut self,
        n: usize,
        call: SourceCall,
        result: SourceResult,
    ) -> Result<(), DecideError> {
        let converted = result.map(|(body, via, attempts)| (json::from_json(&body), via, attempts));
        self.finish_source_value(n, call.request, converted)
    }

    fn finish_source_value(
        &mut self,
        n: usize,
        request: Json,
        result: Result<(Value, &'static str, u32), (String, u32)>,
    ) -> Result<(), DecideError> {
        let node = &self.flow.nodes[n];
        let NodeKind::Source(s) = &node.kind else {
            unreachable!("fetch steps hold sources")
        };
        let (value, via, attempts, response, error) = match result {
            Ok((v, via, attempts)) => {
                let body = self.trace.is_some().then(|| v.clone());
                let mapped = match &s.response {
                    Some(p) => p.eval(&[v][..]).map_err(|e| DecideError::Source {
                        variable: node.name.clone(),
                        message: format!("response mapping failed: {e}"),
                    })?,
                    None => v,
                };
                (mapped, via, attempts, body, None)
            }
            Err((message, attempts)) => match &s.default {
                Some(d) => {
                    if let Some(r) = &s.reason {
                        self.fallback_reasons.push(r.clone());
                    }
                    (json::from_json(d), "default", attempts, None, Some(message))
                }
                None => {
                    return Err(DecideError::Source {
                        variable: node.name.clone(),
                        message,
                    });
                }
            },
        };
        if let Some(tr) = &mut self.trace {
            tr.sources.push(SourceTrace {
                variable: node.key.clone(),
                source: s.source_name.clone(),
                request,
                response,
                error,
                via,
                attempts,
            });
            tr.variables.items.push((n as u32, value.clone()));
        }
        self.slots[node.out_slots[0]] = value;
        Ok(())
    }

    fn model(&mut self, node: &Node, m: &ModelNode) -> Result<(), DecideError> {
        let mut xs = Vec::with_capacity(m.features.len());
        for (p, name) in m.features.iter().zip(&m.feature_names) {
            xs.push(self.eval(p, &format!("{}.{name}", node.name))?);
        }
        let pred = m
            .model
            .predict(&xs, &m.feature_names)
            .map_err(|e| eval_err(&node.name, e))?;
        let reasons: Vec<Value> = pred
            .reasons
            .iter()
            .map(|r| Value::String(r.clone()))
            .collect();
        self.slots[node.out_slots[0]] = Value::Double(pred.score);
        self.slots[node.out_slots[1]] = pred.probability.map(Value::Double).unwrap_or(Value::Null);
        self.slots[node.out_slots[2]] = Value::list(reasons);
        if let Some(tr) = &mut self.trace {
            tr.models.push(ModelTrace {
                model: node.short.clone(),
                score: pred.score,
                probability: pred.probability,
                reasons: pred.reasons,
                features: crate::trace::Features {
                    names: m.feature_keys.clone(),
                    values: xs,
                },
            });
        }
        Ok(())
    }

    fn ruleset(&mut self, n: usize, node: &Node, rs: &RuleSetNode) -> Result<(), DecideError> {
        let mut hits = Vec::new();
        for (i, r) in rs.rules.iter().enumerate() {
            if !r.enabled {
                continue;
            }
            let hit = r
                .when
                .eval_bool(&self.slots[..])
                .map_err(|e| eval_err(&format!("{} rule {}", node.name, r.id), e))?;
            if hit {
                hits.push(i);
                if rs.policy != crate::project::RuleHitPolicy::All {
                    break;
                }
            }
        }
        let mut strongest: Option<usize> = None;
        let mut ids = Vec::with_capacity(hits.len());
        let mut reasons = Vec::new();
        let mut review = false;
        for &i in &hits {
            let r = &rs.rules[i];
            ids.push(Value::String(r.id.clone()));
            if let Some(reason) = &r.reason {
                reasons.push(Value::String(reason.clone()));
            }
            if let Some(d) = r.decision {
                strongest = Some(strongest.map_or(d, |s| s.min(d)));
            }
            review |= r.review;
        }
        let s = &node.out_slots;
        self.slots[s[0]] = Value::Bool(!hits.is_empty());
        self.slots[s[1]] = Value::list(ids);
        self.slots[s[2]] = Value::list(reasons);
        self.slots[s[3]] = strongest
            .map(|d| Value::String(self.flow.decisions[d].clone()))
            .unwrap_or(Value::Null);
        self.slots[s[4]] = Value::Bool(review);
        self.hits[n] = hits;
        Ok(())
    }

    fn table(&mut self, node: &Node, tn: &TableNode) -> Result<(), DecideError> {
        let mut inputs = Vec::with_capacity(tn.inputs.len());
        for p in &tn.inputs {
            inputs.push(self.eval(p, &node.name)?);
        }
        let col = tn.column_slot;
        let slots = &mut self.slots;
        let result = tn
            .table
            .eval(&inputs, |p, v| {
                slots[col] = v.clone();
                match p.eval(&slots[..]) {
                    Ok(Value::Bool(b)) => Ok(b),
                    Ok(other) => Err(format!(
                        "cell gave {}, expected bool",
                        other.type_name().name()
                    )),
                    Err(e) => Err(e.to_string()),
                }
            })
            .map_err(|e| eval_err(&node.name, e))?;
        let s = &node.out_slots;
        self.slots[s[0]] = Value::Bool(!result.rows.is_empty());
        for (k, v) in result.outputs.iter().enumerate() {
            self.slots[s[k + 1]] = v.clone();
        }
        if let Some(tr) = &mut self.trace {
            // The vectors the evaluation made move into the trace: no copies.
            tr.tables.push(TableTrace {
                table: tn.table.clone(),
                inputs,
                rows: result.rows,
                outputs: result.outputs,
            });
        }
        Ok(())
    }

    fn finalize(&mut self, node: &Node, f: &FinalizeNode) {
        let flow = self.flow;
        let mut decision = None::<usize>;
        let mut reasons: Vec<Value> = Vec::new();
        let mut tags: Vec<Value> = Vec::new();
        let mut review = false;
        let mut hit_traces = Vec::new();
        for &rs_node in &f.rulesets {
            let NodeKind::RuleSet(rs) = &flow.nodes[rs_node].kind else {
                continue;
            };
            for &i in &self.hits[rs_node] {
                let r = &rs.rules[i];
                if let Some(d) = r.decision {
                    decision = Some(decision.map_or(d, |x| x.min(d)));
                }
                if let Some(reason) = &r.reason
                    && !reasons.iter().any(|x| x.as_str() == Some(reason))
                {
                    reasons.push(Value::String(reason.clone()));
                }
                for t in &r.tags {
                    if !tags.iter().any(|x| x.as_str() == Some(t)) {
                        tags.push(Value::String(t.clone()));
                    }
                }
                review |= r.review;
                for (idx, p) in &r.set {
                    if self.overrides[*idx].is_none() {
                        // Evaluated against the values at decision time; an error leaves the output to its expression.
                        self.overrides[*idx] = p.eval(&self.slots[..]).ok();
                    }
                }
                if self.trace.is_some() {
                    hit_traces.push(RuleHit {
                        ruleset: flow.nodes[rs_node].short.clone(),
                        rule: r.id.clone(),
                        decision: r.decision.map(|d| flow.decisions[d].clone()),
                        reason: r.reason.clone(),
                        tags: r.tags.clone(),
                        review: r.review,
                    });
                }
            }
        }
        for r in &self.fallback_reasons {
            if !reasons.iter().any(|x| x.as_str() == Some(r)) {
                reasons.push(Value::String(r.clone()));
            }
        }
        let d = decision.unwrap_or(flow.default_decision);
        let review_decision = flow.decisions.iter().position(|x| &**x == "review");
        let s = &node.out_slots;
        self.slots[s[0]] = Value::String(flow.decisions[d].clone());
        self.slots[s[1]] = Value::list(reasons);
        self.slots[s[2]] = Value::list(tags);
        // A case a rule rejects outright needs no reviewer: review only below the strongest decision.
        self.slots[s[3]] = Value::Bool((review || Some(d) == review_decision) && d != 0);
        if let Some(tr) = &mut self.trace {
            tr.rules = hit_traces;
        }
    }

    fn finish(mut self, started: Instant, plan: &Plan) -> Decision {
        let flow = self.flow;
        let outputs = plan
            .outputs
            .iter()
            .map(|i| &flow.outputs[*i])
            .map(|o| (o.name.clone(), o.ty.to_json(&self.slots[o.slot])))
            .collect();
        if let Some(tr) = &mut self.trace {
            let now = Instant::now();
            let vars = tr.expr_us + (now - self.last).as_secs_f64() * 1e6;
            static VARIABLES: std::sync::LazyLock<Arc<str>> =
                std::sync::LazyLock::new(|| Arc::from("(variables)"));
            tr.timings_us.push(VARIABLES.clone(), vars);
            tr.total_us = (now - started).as_secs_f64() * 1e6;
        }
        Decision {
            flow: flow.name.clone(),
            outputs,
            trace: self.trace,
        }
    }
}
