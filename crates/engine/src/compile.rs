//! Loading a project: YAML → checked, compiled flows. Every problem found is
//! reported (file:line:col), not just the first; nothing half-loaded escapes.
//! Dependencies between variables, models, rules and tables are inferred
//! from the expressions; a cycle is reported with its path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use riskflow_expr::{Env, Program, Type};

use crate::cell::{COLUMN_VAR, Test, parse_cell};
use crate::diag::{Diagnostic, Locator};
use crate::fieldtype::{FieldType, parse_money};
use crate::flow::*;
use crate::models::{self, Model};
use crate::project::*;
use crate::table::{self, Row, Table};

/// A loaded project: flows ready to run.
pub struct Project {
    pub name: String,
    pub root: PathBuf,
    pub flows: IndexMap<String, Arc<Flow>>,
    pub sources: Vec<DataSource>,
    /// Findings that do not stop the project from running (table analysis).
    pub warnings: Vec<Diagnostic>,
}

/// An HTTP data source.
#[derive(Debug, Clone)]
pub struct DataSource {
    pub name: String,
    pub url: String,
    pub method: String,
    pub timeout_ms: u64,
    pub retries: u32,
    pub cache_ttl_s: u64,
    pub headers: Vec<(String, String)>,
}

/// Names the engine defines for every flow.
pub const BUILTINS: &[&str] = &["decision", "reasons", "tags", "manual_review"];

fn diag(file: &Path, line: usize, col: usize, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line,
        col,
        message: message.into(),
    }
}

fn yaml_error(file: &Path, e: &serde_norway::Error) -> Diagnostic {
    let (line, col) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    diag(file, line, col, format!("invalid YAML: {e}"))
}

/// `${NAME:-default}` → `overrides[NAME]`, else the environment's NAME, else the default.
pub fn expand_env(s: &str, overrides: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('}') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let inner = &rest[i + 2..i + j];
        let (name, default) = inner.split_once(":-").unwrap_or((inner, ""));
        let value = overrides
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .unwrap_or_else(|| default.to_string());
        out.push_str(&value);
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out
}

/// Loads and compiles the project in `root`.
pub fn load(root: &Path) -> Result<Project, Vec<Diagnostic>> {
    load_with(root, &HashMap::new())
}

/// Like [`load`], with values for `${NAME}` placeholders that take precedence over the environment.
pub fn load_with(root: &Path, vars: &HashMap<String, String>) -> Result<Project, Vec<Diagnostic>> {
    let pfile = root.join("riskflow.yaml");
    let text = std::fs::read_to_string(&pfile)
        .map_err(|e| vec![diag(&pfile, 1, 1, format!("cannot read project file: {e}"))])?;
    let pf: ProjectFile =
        serde_norway::from_str(&text).map_err(|e| vec![yaml_error(&pfile, &e)])?;
    let sources: Vec<DataSource> = pf
        .datasources
        .iter()
        .map(|(name, d)| DataSource {
            name: name.clone(),
            url: expand_env(&d.url, vars),
            method: d.method.to_ascii_uppercase(),
            timeout_ms: d.timeout_ms,
            retries: d.retries,
            cache_ttl_s: d.cache_ttl_s,
            headers: d
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), expand_env(v, vars)))
                .collect(),
        })
        .collect();
    let mut errors = Vec::new();
    for s in &sources {
        if !matches!(s.method.as_str(), "GET" | "POST") {
            errors.push(
                Locator {
                    file: &pfile,
                    text: &text,
                }
                .at(
                    &s.name,
                    "method",
                    format!("data source {}: method must be GET or POST", s.name),
                ),
            );
        }
    }
    let flow_files: Vec<PathBuf> = if pf.flows.is_empty() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("flows"))
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    } else {
        pf.flows.iter().map(|f| root.join(f)).collect()
    };
    if flow_files.is_empty() {
        errors.push(diag(
            &pfile,
            1,
            1,
            "the project has no flows (add flows/*.yaml or list them under `flows:`)",
        ));
    }
    let mut flows = IndexMap::new();
    let mut warnings = Vec::new();
    for f in flow_files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                errors.push(diag(&f, 1, 1, format!("cannot read flow file: {e}")));
                continue;
            }
        };
        match compile_flow(root, &f, &text, &sources) {
            Ok((flow, w)) => {
                warnings.extend(w);
                if flows.contains_key(&flow.name) {
                    errors.push(diag(
                        &f,
                        1,
                        1,
                        format!("flow {} is defined twice", flow.name),
                    ));
                } else {
                    flows.insert(flow.name.clone(), Arc::new(flow));
                }
            }
            Err(mut d) => errors.append(&mut d),
        }
    }
    if errors.is_empty() {
        Ok(Project {
            name: pf.name,
            root: root.to_path_buf(),
            flows,
            sources,
            warnings,
        })
    } else {
        Err(errors)
    }
}

struct Builder<'a> {
    root: &'a Path,
    loc: Locator<'a>,
    env: Env,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn cel(&mut self, anchor: &str, src: &str, what: &str) -> Option<Program> {
        match Program::compile(src, &self.env) {
            Ok(p) => Some(p),
            Err(e) => {
                self.errors.push(self.loc.cel(anchor, src, what, &e));
                None
            }
        }
    }
    fn err(&mut self, anchor: &str, needle: &str, msg: impl Into<String>) {
        let d = self.loc.at(anchor, needle, msg);
        self.errors.push(d);
    }
    fn field_type(&mut self, anchor: &str, ty: &str) -> FieldType {
        match FieldType::parse(ty) {
            Some(t) => t,
            None => {
                self.err(
                    anchor,
                    ty,
                    format!("unknown type {ty:?} (expected one of {})", FieldType::NAMES),
                );
                FieldType::Any
            }
        }
    }
}

/// A node under construction: its kind, name, and the slots it reads.
struct Pending {
    name: String,
    kind: NodeKind,
    out_slots: Vec<usize>,
    reads: Vec<usize>,
    extra_deps: Vec<usize>,
    traced: bool,
}

fn compile_flow(
    root: &Path,
    file: &Path,
    text: &str,
    sources: &[DataSource],
) -> Result<(Flow, Vec<Diagnostic>), Vec<Diagnostic>> {
    let ff: FlowFile = serde_norway::from_str(text).map_err(|e| vec![yaml_error(file, &e)])?;
    let mut b = Builder {
        root,
        loc: Locator { file, text },
        env: Env::new(),
        errors: vec![],
        warnings: vec![],
    };

    // ---- declarations: inputs, builtins, models, rule sets, tables
    let input_slot = b.env.declare("input", Type::map(Type::String, Type::Dyn));
    b.env.close("input");
    let mut inputs = Vec::new();
    for (name, def) in &ff.inputs {
        let l = def.long();
        let ty = b.field_type(name, &l.ty);
        let slot = b.env.declare(&format!("input.{name}"), ty.cel_type());
        inputs.push(InputField {
            key: riskflow_expr::Key::from(name.as_str()),
            name: name.clone(),
            ty,
            required: l.required,
            slot,
            one_of: l.one_of,
            min: l.min,
            max: l.max,
        });
    }
    if let Some(k) = &ff.key
        && !ff.inputs.contains_key(k)
    {
        b.err("key", k, format!("key {k:?} is not an input of this flow"));
    }
    let builtin_types = [
        Type::String,
        Type::list(Type::String),
        Type::list(Type::String),
        Type::Bool,
    ];
    let builtin_slots: Vec<usize> = BUILTINS
        .iter()
        .zip(builtin_types)
        .map(|(n, t)| b.env.declare(n, t))
        .collect();
    let mut model_slots = Vec::new();
    for name in ff.models.keys() {
        let s = b.env.declare(&format!("models.{name}.score"), Type::Double);
        let p = b
            .env
            .declare(&format!("models.{name}.probability"), Type::Double);
        let r = b
            .env
            .declare(&format!("models.{name}.reasons"), Type::list(Type::String));
        model_slots.push(vec![s, p, r]);
    }
    let mut ruleset_slots = Vec::new();
    for name in ff.rulesets.keys() {
        let fields = [
            ("hit", Type::Bool),
            ("hits", Type::list(Type::String)),
            ("reasons", Type::list(Type::String)),
            ("decision", Type::String),
            ("review", Type::Bool),
        ];
        ruleset_slots.push(
            fields
                .into_iter()
                .map(|(f, t)| b.env.declare(&format!("rules.{name}.{f}"), t))
                .collect::<Vec<_>>(),
        );
    }
    let mut table_slots = Vec::new();
    for (name, t) in &ff.tables {
        let mut slots = vec![b.env.declare(&format!("tables.{name}.matched"), Type::Bool)];
        for (col, ty) in &t.outputs {
            let ft = b.field_type(col, ty).cel_type();
            let is_list = matches!(
                t.hit_policy,
                TableHitPolicy::Collect | TableHitPolicy::RuleOrder
            ) && t.aggregate.is_none();
            let ct = match (is_list, t.aggregate) {
                (true, _) => Type::list(ft),
                (false, Some(Aggregate::Count)) => Type::Int,
                (false, Some(_)) if ft == Type::Int => Type::Int,
                (false, Some(_)) => Type::Double,
                (false, None) => ft,
            };
            slots.push(b.env.declare(&format!("tables.{name}.{col}"), ct));
        }
        table_slots.push(slots);
    }
    let column_slot = b.env.declare(COLUMN_VAR, Type::Dyn);
    let mut outputs_decl: Vec<(String, FieldType, Option<String>)> = Vec::new();
    for (name, def) in &ff.outputs {
        let (ty, expr) = match def {
            OutputDef::Short(t) => (t.clone(), None),
            OutputDef::Long(l) => (l.ty.clone(), l.expr.clone()),
        };
        let ft = b.field_type(name, &ty);
        outputs_decl.push((name.clone(), ft, expr));
    }
    let mut output_slots = HashMap::new();
    for (name, ft, _) in &outputs_decl {
        if !BUILTINS.contains(&name.as_str()) {
            output_slots.insert(
                name.clone(),
                b.env.declare(&format!("output.{name}"), ft.cel_type()),
            );
        }
    }

    // ---- variables: declare, find dependencies, order, compile with inferred types
    for name in ff.variables.keys() {
        if BUILTINS.contains(&name.as_str())
            || ["input", "models", "rules", "tables", "output"].contains(&name.as_str())
        {
            b.err(name, name, format!("variable name {name:?} is reserved"));
        }
        if name.contains('.') {
            b.err(
                name,
                name,
                format!("variable name {name:?} may not contain '.'"),
            );
        }
        b.env.declare(name, Type::Dyn);
    }
    let var_slot: HashMap<String, usize> = ff
        .variables
        .keys()
        .filter_map(|n| b.env.slot(n).map(|s| (n.clone(), s)))
        .collect();
    let slot_var: HashMap<usize, &str> = var_slot.iter().map(|(n, s)| (*s, n.as_str())).collect();
    let var_exprs = |def: &VariableDef| -> Vec<String> {
        match def {
            VariableDef::Expr(e) => vec![e.clone()],
            VariableDef::Long(l) => l
                .expr
                .iter()
                .cloned()
                .chain(l.request.values().cloned())
                .collect(),
        }
    };
    // First pass (types all dyn): which variables each variable reads.
    let mut var_deps: IndexMap<&str, Vec<&str>> = IndexMap::new();
    for (name, def) in &ff.variables {
        let mut deps = Vec::new();
        for src in var_exprs(def) {
            // Errors are reported by the second pass, with the final types.
            if let Ok(p) = Program::compile(&src, &b.env) {
                deps.extend(
                    p.references()
                        .into_iter()
                        .filter_map(|s| slot_var.get(&s).copied()),
                );
            }
        }
        var_deps.insert(name.as_str(), deps);
    }
    let order = match topo_order(&var_deps) {
        Ok(o) => o,
        Err(cycle) => {
            let first = cycle.first().copied().unwrap_or("");
            b.err(
                first,
                first,
                format!("variables form a cycle: {}", cycle.join(" → ")),
            );
            return Err(b.errors);
        }
    };
    let mut pending: Vec<Pending> = Vec::new();
    for name in order {
        let slot = var_slot[name];
        // `name: "expr"` is the long form with only `expr`.
        let short;
        let l: &VariableLong = match &ff.variables[name] {
            VariableDef::Expr(src) => {
                short = VariableLong {
                    expr: Some(src.clone()),
                    ..VariableLong::default()
                };
                &short
            }
            VariableDef::Long(l) => l,
        };
        let declared = l.ty.as_ref().map(|t| b.field_type(name, t));
        match (&l.expr, &l.source) {
            (Some(src), None) => {
                if let Some(p) = b.cel(name, src, &format!("variable {name}")) {
                    let ty = match &declared {
                        Some(d) if !d.accepts(p.result_type()) => {
                            b.err(
                                name,
                                src,
                                format!(
                                    "variable {name} is declared {} but its expression has type {}",
                                    l.ty.as_deref().unwrap_or(""),
                                    p.result_type()
                                ),
                            );
                            d.cel_type()
                        }
                        Some(d) => d.cel_type(),
                        None => p.result_type().clone(),
                    };
                    b.env.declare(name, ty);
                    pending.push(Pending {
                        name: name.to_string(),
                        reads: p.references(),
                        kind: NodeKind::Expr(p),
                        out_slots: vec![slot],
                        extra_deps: vec![],
                        traced: true,
                    });
                }
            }
            (None, Some(source)) => {
                let Some(si) = sources.iter().position(|s| &s.name == source) else {
                    let known: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
                    b.err(name, source, format!("variable {name}: unknown data source {source:?} (riskflow.yaml defines: {})", known.join(", ")));
                    continue;
                };
                let mut request = Vec::new();
                let mut reads = Vec::new();
                for (field, src) in &l.request {
                    if let Some(p) = b.cel(
                        name,
                        src,
                        &format!("variable {name}, request field {field}"),
                    ) {
                        reads.extend(p.references());
                        request.push((field.clone(), p));
                    }
                }
                let response = l.response.as_ref().and_then(|src| {
                            let mut renv = Env::new();
                            renv.declare("response", Type::Dyn);
                            match Program::compile(src, &renv) {
                                Ok(p) => Some(p),
                                Err(e) => {
                                    b.errors.push(b.loc.cel(name, src, &format!("variable {name}, response mapping (only `response` is in scope)"), &e));
                                    None
                                }
                            }
                        });
                if let Some(d) = &declared {
                    b.env.declare(name, d.cel_type());
                }
                let (default, reason) = match &l.on_error {
                    Some(oe) => (oe.default.clone(), oe.reason.as_deref().map(Arc::from)),
                    None => (None, None),
                };
                pending.push(Pending {
                    name: name.to_string(),
                    kind: NodeKind::Source(SourceNode {
                        source: si,
                        source_name: Arc::from(source.as_str()),
                        request,
                        response,
                        default,
                        reason,
                    }),
                    out_slots: vec![slot],
                    reads,
                    extra_deps: vec![],
                    traced: true,
                });
            }
            (Some(_), Some(_)) => b.err(
                name,
                name,
                format!("variable {name} has both `expr` and `source`; pick one"),
            ),
            (None, None) => b.err(
                name,
                name,
                format!("variable {name} needs `expr` or `source`"),
            ),
        }
    }

    // ---- models
    for (mi, (name, def)) in ff.models.iter().enumerate() {
        let mut features = Vec::new();
        let mut feature_names = Vec::new();
        let mut reads = Vec::new();
        let mut feature_types = Vec::new();
        for (fname, src) in &def.features {
            if let Some(p) = b.cel(name, src, &format!("model {name}, feature {fname}")) {
                reads.extend(p.references());
                feature_types.push(p.result_type().clone());
                features.push(p);
                feature_names.push(fname.clone());
            }
        }
        if let Some(model) = build_model(&mut b, name, def, &feature_names, &feature_types) {
            if let Some(n) = model.feature_count()
                && n != features.len()
                && !features.is_empty()
            {
                b.err(
                    name,
                    name,
                    format!(
                        "model {name} reads {n} features but {} are defined under `features`",
                        features.len()
                    ),
                );
            }
            pending.push(Pending {
                name: format!("models.{name}"),
                kind: NodeKind::Model(ModelNode {
                    model: Arc::new(model),
                    feature_keys: Arc::new(
                        feature_names
                            .iter()
                            .map(|n| Arc::from(n.as_str()))
                            .collect(),
                    ),
                    feature_names,
                    features,
                }),
                out_slots: model_slots[mi].clone(),
                reads,
                extra_deps: vec![],
                traced: false,
            });
        }
    }

    // ---- rule sets
    let decisions: Vec<Arc<str>> = ff.decisions.iter().map(|d| Arc::from(d.as_str())).collect();
    let default_decision = match ff.decisions.iter().position(|d| *d == ff.default_decision) {
        Some(i) => i,
        None => {
            b.err(
                "default_decision",
                &ff.default_decision,
                format!(
                    "default_decision {:?} is not one of the decisions {:?}",
                    ff.default_decision, ff.decisions
                ),
            );
            0
        }
    };
    let mut settable: Vec<String> = Vec::new();
    let mut ruleset_nodes = Vec::new();
    for (ri, (rs_name, rs)) in ff.rulesets.iter().enumerate() {
        let mut rules = Vec::new();
        let mut reads = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in &rs.rules {
            if !seen.insert(r.id.clone()) {
                b.err(
                    &r.id,
                    &r.id,
                    format!("rule id {} appears twice in rule set {rs_name}", r.id),
                );
            }
            let Some(when) = b.cel(&r.id, &r.when, &format!("rule {}", r.id)) else {
                continue;
            };
            if !matches!(when.result_type(), Type::Bool | Type::Dyn) {
                b.err(
                    &r.id,
                    &r.when,
                    format!(
                        "rule {}: condition has type {}, expected bool",
                        r.id,
                        when.result_type()
                    ),
                );
            }
            reads.extend(when.references());
            let decision = match &r.then.decision {
                Some(d) => match ff.decisions.iter().position(|x| x == d) {
                    Some(i) => Some(i),
                    None => {
                        b.err(
                            &r.id,
                            d,
                            format!(
                                "rule {}: decision {d:?} is not one of {:?}",
                                r.id, ff.decisions
                            ),
                        );
                        None
                    }
                },
                None => None,
            };
            let mut set = Vec::new();
            for (out, src) in &r.then.set {
                let Some((_, ft, _)) = outputs_decl.iter().find(|(n, _, _)| n == out) else {
                    b.err(
                        &r.id,
                        out,
                        format!("rule {} sets {out:?}, which is not a declared output", r.id),
                    );
                    continue;
                };
                if BUILTINS.contains(&out.as_str()) {
                    b.err(&r.id, out, format!("rule {} sets {out:?}; use `decision`, `reason`, `tags`, `review` for the built-in outputs", r.id));
                    continue;
                }
                let ft = ft.clone();
                if let Some(p) = b.cel(&r.id, src, &format!("rule {}, set {out}", r.id)) {
                    if !ft.accepts(p.result_type()) {
                        b.err(
                            &r.id,
                            src,
                            format!(
                                "rule {} sets {out} ({}) to a {}",
                                r.id,
                                ft.describe(),
                                p.result_type()
                            ),
                        );
                    }
                    reads.extend(p.references());
                    let idx = settable.iter().position(|s| s == out).unwrap_or_else(|| {
                        settable.push(out.clone());
                        settable.len() - 1
                    });
                    set.push((idx, p));
                }
            }
            rules.push(Rule {
                id: Arc::from(r.id.as_str()),
                when,
                decision,
                reason: r.then.reason.as_deref().map(Arc::from),
                tags: r.then.tags.iter().map(|t| Arc::from(t.as_str())).collect(),
                review: r.then.review,
                set,
                enabled: r.enabled,
            });
        }
        if rs.hit_policy == RuleHitPolicy::Priority {
            rules.sort_by(|a, c| {
                let sa = rs
                    .rules
                    .iter()
                    .find(|r| *r.id == *a.id)
                    .map(|r| r.salience)
                    .unwrap_or(0);
                let sc = rs
                    .rules
                    .iter()
                    .find(|r| *r.id == *c.id)
                    .map(|r| r.salience)
                    .unwrap_or(0);
                sc.cmp(&sa)
            });
        }
        ruleset_nodes.push(pending.len());
        pending.push(Pending {
            name: format!("rules.{rs_name}"),
            kind: NodeKind::RuleSet(RuleSetNode {
                policy: rs.hit_policy,
                rules,
            }),
            out_slots: ruleset_slots[ri].clone(),
            reads,
            extra_deps: vec![],
            traced: false,
        });
    }

    // ---- decision tables
    for (ti, (tname, tdef)) in ff.tables.iter().enumerate() {
        if let Some((node, reads)) = build_table(&mut b, tname, tdef, column_slot) {
            pending.push(Pending {
                name: format!("tables.{tname}"),
                kind: NodeKind::Table(node),
                out_slots: table_slots[ti].clone(),
                reads,
                extra_deps: vec![],
                traced: false,
            });
        }
    }

    // ---- finalize and outputs
    let finalize_idx = pending.len();
    pending.push(Pending {
        name: "decision".into(),
        kind: NodeKind::Finalize(FinalizeNode {
            rulesets: ruleset_nodes.clone(),
        }),
        out_slots: builtin_slots.clone(),
        reads: vec![],
        extra_deps: ruleset_nodes.clone(),
        traced: false,
    });
    let mut outputs = Vec::new();
    for (name, ft, expr) in &outputs_decl {
        if let Some(bi) = BUILTINS.iter().position(|n| n == name) {
            if expr.is_some() {
                b.err(
                    name,
                    name,
                    format!("output {name} is built in; it cannot have an `expr`"),
                );
            }
            outputs.push(OutputField {
                name: name.clone(),
                ty: ft.clone(),
                slot: builtin_slots[bi],
                node: finalize_idx,
            });
            continue;
        }
        let slot = output_slots[name];
        let program = expr
            .as_ref()
            .and_then(|src| b.cel(name, src, &format!("output {name}")));
        if let Some(p) = &program
            && !ft.accepts(p.result_type())
        {
            let src = expr.as_deref().unwrap_or("");
            b.err(
                name,
                src,
                format!(
                    "output {name} is declared {} but its expression has type {}",
                    ft.describe(),
                    p.result_type()
                ),
            );
        }
        let override_index = settable.iter().position(|s| s == name);
        if program.is_none() && override_index.is_none() && expr.is_none() {
            b.err(
                name,
                name,
                format!("output {name} has no `expr` and no rule sets it"),
            );
        }
        let reads = program.as_ref().map(|p| p.references()).unwrap_or_default();
        outputs.push(OutputField {
            name: name.clone(),
            ty: ft.clone(),
            slot,
            node: pending.len(),
        });
        pending.push(Pending {
            name: format!("output.{name}"),
            kind: NodeKind::Output {
                program,
                override_index,
            },
            out_slots: vec![slot],
            reads,
            extra_deps: if override_index.is_some() {
                vec![finalize_idx]
            } else {
                vec![]
            },
            traced: false,
        });
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }

    // ---- dependency graph over all nodes, global topological order
    let mut producer: HashMap<usize, usize> = HashMap::new();
    for (i, p) in pending.iter().enumerate() {
        for s in &p.out_slots {
            producer.insert(*s, i);
        }
    }
    let mut input_map_needed = false;
    let deps: Vec<Vec<usize>> = pending
        .iter()
        .map(|p| {
            let mut d: Vec<usize> = p
                .reads
                .iter()
                .filter_map(|s| producer.get(s).copied())
                .chain(p.extra_deps.iter().copied())
                .collect();
            input_map_needed |= p.reads.contains(&input_slot);
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    // Tables read `input` through their cells too; any use of the whole map counts.
    let names: Vec<String> = pending.iter().map(|p| p.name.clone()).collect();
    let order = match topo_indices(&deps) {
        Ok(o) => o,
        Err(cycle) => {
            let path: Vec<&str> = cycle.iter().map(|i| names[*i].as_str()).collect();
            return Err(vec![b.loc.at(
                path[0].rsplit('.').next().unwrap_or(""),
                "",
                format!("dependency cycle: {}", path.join(" → ")),
            )]);
        }
    };
    let mut new_index = vec![0; pending.len()];
    for (new, old) in order.iter().enumerate() {
        new_index[*old] = new;
    }
    let mut slots_pending: Vec<Option<Pending>> = pending.into_iter().map(Some).collect();
    let mut nodes = Vec::with_capacity(order.len());
    for old in &order {
        let p = slots_pending[*old].take().expect("each node once");
        let mut kind = p.kind;
        if let NodeKind::Finalize(f) = &mut kind {
            f.rulesets = f.rulesets.iter().map(|i| new_index[*i]).collect();
        }
        let short = ["models.", "rules.", "tables."]
            .iter()
            .find_map(|pre| p.name.strip_prefix(pre))
            .unwrap_or(&p.name);
        nodes.push(Node {
            key: Arc::from(p.name.as_str()),
            short: Arc::from(short),
            name: p.name,
            kind,
            out_slots: p.out_slots,
            deps: deps[*old].iter().map(|d| new_index[*d]).collect(),
            traced: p.traced,
        });
    }
    for o in &mut outputs {
        o.node = new_index[o.node];
    }
    let roots: Vec<usize> = outputs.iter().map(|o| o.node).collect();
    let full_plan = Plan {
        outputs: (0..outputs.len()).collect(),
        ..build_plan(&nodes, &roots)
    };
    let node_keys = Arc::new(nodes.iter().map(|n| n.key.clone()).collect());
    let flow = Flow {
        name: ff.name,
        description: ff.description,
        mode: ff.mode,
        key: ff.key,
        inputs,
        input_slot,
        input_map_needed,
        nodes,
        node_keys,
        outputs,
        decisions,
        default_decision,
        slot_count: b.env.slot_count(),
        full_plan,
        settable_outputs: settable.len(),
    };
    Ok((flow, b.warnings))
}

fn build_model(
    b: &mut Builder<'_>,
    name: &str,
    def: &ModelDef,
    feature_names: &[String],
    feature_types: &[Type],
) -> Option<Model> {
    let read = |b: &mut Builder<'_>, file: &Option<String>| -> Option<String> {
        let Some(f) = file else {
            b.err(name, name, format!("model {name} needs a `file`"));
            return None;
        };
        match std::fs::read_to_string(b.root.join(f)) {
            Ok(t) => Some(t),
            Err(e) => {
                b.err(name, f, format!("model {name}: cannot read {f}: {e}"));
                None
            }
        }
    };
    let loaded = match def.kind.as_str() {
        "xgboost" => read(b, &def.file).map(|t| models::XgBoost::from_json(&t).map(Model::XgBoost)),
        "lightgbm" => {
            read(b, &def.file).map(|t| models::LightGbm::from_text(&t).map(Model::LightGbm))
        }
        "logistic" => {
            let lr: LogisticDef = inline_or_file(b, name, &def.logistic, &def.file)?;
            let mut coefficients = Vec::new();
            for f in feature_names {
                coefficients.push(*lr.coefficients.get(f).or_else(|| {
                    b.err(
                        name,
                        f,
                        format!("model {name}: no coefficient for feature {f}"),
                    );
                    None
                })?);
            }
            for c in lr.coefficients.keys() {
                if !feature_names.contains(c) {
                    b.err(
                        name,
                        c,
                        format!("model {name}: coefficient {c} names no feature"),
                    );
                }
            }
            Some(Ok(Model::Logistic(models::Logistic {
                intercept: lr.intercept,
                coefficients,
            })))
        }
        "scorecard" => {
            let sc: ScorecardDef = inline_or_file(b, name, &def.scorecard, &def.file)?;
            if sc.characteristics.len() != feature_names.len()
                || sc
                    .characteristics
                    .iter()
                    .zip(feature_names)
                    .any(|(c, f)| &c.feature != f)
            {
                b.err(name, name, format!("model {name}: characteristics must list the features in the same order as `features`"));
                return None;
            }
            let mut chars = Vec::new();
            for (ch, ty) in sc.characteristics.iter().zip(feature_types) {
                let mut bins = Vec::new();
                for bin in &ch.bins {
                    let test = match &bin.when {
                        Some(w) => match parse_cell(w, *ty == Type::String) {
                            Ok(Test::Expr(_)) => {
                                b.err(
                                    name,
                                    w,
                                    format!("model {name}: bin {w:?} must be a literal test"),
                                );
                                None
                            }
                            Ok(t) => Some(t),
                            Err(e) => {
                                b.err(
                                    name,
                                    w,
                                    format!("model {name}, characteristic {}: {e}", ch.feature),
                                );
                                None
                            }
                        },
                        None => None,
                    };
                    bins.push(models::scorecard_bin(
                        test,
                        bin.missing,
                        bin.otherwise,
                        bin.points,
                    ));
                }
                chars.push(models::scorecard_characteristic(
                    Arc::from(ch.reason.as_str()),
                    bins,
                ));
            }
            Some(Ok(Model::Scorecard(models::Scorecard {
                base_points: sc.base_points,
                characteristics: chars,
                scaling: sc.scaling.map(|s| (s.base_score, s.base_odds, s.pdo)),
                reason_count: def.reason_count,
            })))
        }
        other => {
            b.err(
                name,
                other,
                format!(
                    "model {name}: unknown type {other:?} (scorecard, logistic, xgboost, lightgbm)"
                ),
            );
            None
        }
    }?;
    match loaded {
        Ok(m) => Some(m),
        Err(e) => {
            b.err(
                name,
                def.file.as_deref().unwrap_or(name),
                format!("model {name}: {e}"),
            );
            None
        }
    }
}

/// A model definition given inline in the flow, or in its own YAML file.
fn inline_or_file<T: Clone + serde::de::DeserializeOwned>(
    b: &mut Builder<'_>,
    name: &str,
    inline: &Option<T>,
    file: &Option<String>,
) -> Option<T> {
    if let Some(t) = inline {
        return Some(t.clone());
    }
    let Some(f) = file else {
        b.err(
            name,
            name,
            format!("model {name} needs a `file` or an inline definition"),
        );
        return None;
    };
    let text = match std::fs::read_to_string(b.root.join(f)) {
        Ok(t) => t,
        Err(e) => {
            b.err(name, f, format!("model {name}: cannot read {f}: {e}"));
            return None;
        }
    };
    match serde_norway::from_str::<T>(&text) {
        Ok(t) => Some(t),
        Err(e) => {
            let (line, col) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            b.errors.push(diag(
                &b.root.join(f),
                line,
                col,
                format!("model {name}: {e}"),
            ));
            None
        }
    }
}

fn build_table(
    b: &mut Builder<'_>,
    tname: &str,
    tdef: &TableDef,
    column_slot: usize,
) -> Option<(TableNode, Vec<usize>)> {
    let path = b.root.join(&tdef.file);
    let sheet = match table::read_sheet(&path, tdef.sheet.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            b.err(
                tname,
                &tdef.file,
                format!("table {tname}: {}: {e}", tdef.file),
            );
            return None;
        }
    };
    let tfile = path.clone();
    let terr = |line: usize, msg: String| diag(&tfile, line, 1, msg);
    let col_of = |name: &str| sheet.header.iter().position(|h| h == name);
    let mut errors = Vec::new();
    for h in &sheet.header {
        if !tdef.inputs.contains_key(h)
            && !tdef.outputs.contains_key(h)
            && h != "priority"
            && !h.is_empty()
            && h != "description"
        {
            errors.push(terr(
                1,
                format!(
                    "table {tname}: column {h:?} is neither an input nor an output in the flow"
                ),
            ));
        }
    }
    let mut input_progs = Vec::new();
    let mut reads = Vec::new();
    let mut string_cols = Vec::new();
    let mut input_types = Vec::new();
    let mut input_cols = Vec::new();
    // Position of a declared column in the sheet's header, or an error naming it.
    let mut locate = |kind: &str, col: &str, found: &mut Vec<usize>| match col_of(col) {
        Some(c) => found.push(c),
        None => errors.push(terr(
            1,
            format!("table {tname}: {kind} column {col:?} is not in the sheet's header"),
        )),
    };
    for (col, src) in &tdef.inputs {
        locate("input", col, &mut input_cols);
        if let Some(p) = b.cel(tname, src, &format!("table {tname}, input {col}")) {
            reads.extend(p.references());
            string_cols.push(*p.result_type() == Type::String);
            input_types.push(p.result_type().clone());
            input_progs.push(p);
        }
    }
    let mut output_cols = Vec::new();
    let mut output_types = Vec::new();
    for (col, ty) in &tdef.outputs {
        locate("output", col, &mut output_cols);
        output_types.push(FieldType::parse(ty).unwrap_or(FieldType::Any));
    }
    let prio_col = col_of("priority");
    if tdef.hit_policy == TableHitPolicy::Priority && prio_col.is_none() {
        errors.push(terr(
            1,
            format!("table {tname}: hit policy priority needs a `priority` column"),
        ));
    }
    if tdef.aggregate.is_some()
        && (tdef.hit_policy != TableHitPolicy::Collect || tdef.outputs.len() != 1)
    {
        errors.push(terr(
            1,
            format!(
                "table {tname}: `aggregate` needs hit policy collect and exactly one output column"
            ),
        ));
    }
    if !errors.is_empty() || input_progs.len() != tdef.inputs.len() {
        b.errors.extend(errors);
        return None;
    }
    let mut rows = Vec::new();
    for (line, cells) in &sheet.rows {
        let get = |c: usize| cells.get(c).map(String::as_str).unwrap_or("");
        let mut tests = Vec::new();
        let mut exprs = Vec::new();
        for (k, c) in input_cols.iter().enumerate() {
            match parse_cell(get(*c), string_cols[k]) {
                Ok(Test::Expr(src)) => {
                    b.env.declare(COLUMN_VAR, input_types[k].clone());
                    match Program::compile(&src, &b.env) {
                        Ok(p) => {
                            reads.extend(p.references().into_iter().filter(|s| *s != column_slot));
                            exprs.push(Some(p));
                        }
                        Err(e) => {
                            errors.push(terr(
                                *line,
                                format!(
                                    "table {tname}, column {}: {}",
                                    sheet.header[*c],
                                    e.render(&src).replace(COLUMN_VAR, "?")
                                ),
                            ));
                            exprs.push(None);
                        }
                    }
                    tests.push(Test::Expr(src));
                }
                Ok(t) => {
                    tests.push(t);
                    exprs.push(None);
                }
                Err(e) => {
                    errors.push(terr(
                        *line,
                        format!("table {tname}, column {}: {e}", sheet.header[*c]),
                    ));
                    tests.push(Test::Any);
                    exprs.push(None);
                }
            }
        }
        let mut outs = Vec::new();
        for (k, c) in output_cols.iter().enumerate() {
            let raw = get(*c).trim();
            let v = if raw.is_empty() {
                Ok(riskflow_expr::Value::Null)
            } else if output_types[k] == FieldType::Money {
                parse_money(raw).map(riskflow_expr::Value::Int)
            } else {
                crate::cell::literal(raw, output_types[k] == FieldType::String)
            };
            match v {
                Ok(v) => outs.push(v),
                Err(e) => errors.push(terr(
                    *line,
                    format!("table {tname}, column {}: {e}", sheet.header[*c]),
                )),
            }
        }
        let priority = prio_col
            .map(|c| get(c).trim().parse::<i64>().unwrap_or(0))
            .unwrap_or(0);
        rows.push(Row {
            line: *line,
            tests,
            exprs,
            outputs: outs,
            priority,
        });
    }
    b.env.declare(COLUMN_VAR, Type::Dyn);
    if !errors.is_empty() {
        b.errors.extend(errors);
        return None;
    }
    let mut t = Table::new(
        tname.to_string(),
        tdef.hit_policy,
        tdef.aggregate,
        tdef.inputs.keys().cloned().collect(),
        tdef.outputs.keys().cloned().collect(),
        rows,
    );
    t.integer_columns = input_types.iter().map(|ty| *ty == Type::Int).collect();
    match table::analyze(&t, tdef.complete) {
        Ok(findings) => {
            for f in findings {
                let d = diag(&path, f.line, 1, format!("table {tname}: {}", f.message));
                if tdef.complete || tdef.hit_policy == TableHitPolicy::Unique {
                    b.errors.push(d);
                } else {
                    b.warnings.push(d);
                }
            }
        }
        Err(note) => {
            if tdef.complete {
                b.warnings
                    .push(diag(&path, 1, 1, format!("table {tname}: {note}")));
            }
        }
    }
    Some((
        TableNode {
            table: Arc::new(t),
            inputs: input_progs,
            column_slot,
        },
        reads,
    ))
}

/// Orders names so that each comes after what it reads; Err(cycle path) on a cycle.
fn topo_order<'a>(deps: &IndexMap<&'a str, Vec<&'a str>>) -> Result<Vec<&'a str>, Vec<&'a str>> {
    let names: Vec<&str> = deps.keys().copied().collect();
    let idx: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let d: Vec<Vec<usize>> = names
        .iter()
        .map(|n| deps[n].iter().filter_map(|x| idx.get(x).copied()).collect())
        .collect();
    topo_indices(&d)
        .map(|o| o.into_iter().map(|i| names[i]).collect())
        .map_err(|c| c.into_iter().map(|i| names[i]).collect())
}

/// Depth-first topological sort; on a cycle, returns the cycle's path (first node repeated at the end).
fn topo_indices(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let n = deps.len();
    let mut mark = vec![Mark::New; n];
    let mut order = Vec::with_capacity(n);
    for start in 0..n {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next dependency to visit)
        let mut stack = vec![(start, 0usize)];
        mark[start] = Mark::Active;
        while let Some(&mut (v, ref mut i)) = stack.last_mut() {
            if *i < deps[v].len() {
                let w = deps[v][*i];
                *i += 1;
                match mark[w] {
                    Mark::New => {
                        mark[w] = Mark::Active;
                        stack.push((w, 0));
                    }
                    Mark::Active => {
                        let pos = stack.iter().position(|(x, _)| *x == w).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[pos..].iter().map(|(x, _)| *x).collect();
                        cycle.push(w);
                        return Err(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[v] = Mark::Done;
                order.push(v);
                stack.pop();
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_report_their_path() {
        let deps = vec![vec![1], vec![2], vec![0]];
        let c = topo_indices(&deps).unwrap_err();
        assert_eq!(c, vec![0, 1, 2, 0]);
        assert_eq!(
            topo_indices(&[vec![], vec![0], vec![0, 1]]).unwrap(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn env_expansion() {
        let mut vars = HashMap::new();
        assert_eq!(
            expand_env("http://${RISKFLOW_TEST_UNSET_VAR:-127.0.0.1:9}/x", &vars),
            "http://127.0.0.1:9/x"
        );
        vars.insert("RISKFLOW_TEST_UNSET_VAR".to_string(), "h:1".to_string());
        assert_eq!(
            expand_env("http://${RISKFLOW_TEST_UNSET_VAR:-127.0.0.1:9}/x", &vars),
            "http://h:1/x"
        );
    }
}
