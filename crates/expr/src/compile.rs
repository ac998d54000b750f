//! Checker and compiler in one pass: resolves names against the
//! environment (locals, container-qualified declarations, type names),
//! infers a static type for every sub-expression, reports type errors with
//! their span, and emits the evaluator's node tree.

use std::sync::Arc;

use crate::ast::{BinOp, Comprehension, Expr, ExprKind, Literal, MacroKind};
use crate::env::Env;
use crate::error::{CompileError, EvalError, EvalErrorKind};
use crate::eval::{Comp, Node};
use crate::functions;
use crate::types::Type;
use crate::value::{Key, TypeName, Value};

pub(crate) struct Compiler<'e> {
    env: &'e Env,
    /// When false (conformance's `disable_check`), unknown names and type
    /// mismatches become run-time errors instead of compile errors.
    strict: bool,
    scopes: Vec<(String, usize, Type)>,
    pub n_locals: usize,
}

type C = Result<(Node, Type), CompileError>;

impl<'e> Compiler<'e> {
    pub fn new(env: &'e Env, strict: bool) -> Self {
        Compiler {
            env,
            strict,
            scopes: Vec::new(),
            n_locals: 0,
        }
    }

    fn local(&self, name: &str) -> Option<(usize, Type)> {
        self.scopes
            .iter()
            .rev()
            .find(|(n, _, _)| n == name)
            .map(|(_, i, t)| (*i, t.clone()))
    }

    fn fail(&self, e: CompileError, kind: EvalErrorKind) -> C {
        if self.strict {
            Err(e)
        } else {
            Ok((Node::Fail(EvalError::new(kind, e.message)), Type::Dyn))
        }
    }

    /// Resolves a (possibly dotted, possibly leading-dot) name to a declared
    /// variable, trying the container's prefixes from the most specific.
    fn resolve(&self, name: &str) -> Option<(usize, Type, Arc<str>)> {
        if let Some(abs) = name.strip_prefix('.') {
            return self
                .env
                .var(abs)
                .map(|(s, t)| (s, t.clone(), Arc::from(abs)));
        }
        for cand in self.env.candidates(name) {
            if let Some((s, t)) = self.env.var(&cand) {
                return Some((s, t.clone(), Arc::from(cand.as_str())));
            }
        }
        None
    }

    pub fn compile(&mut self, e: &Expr) -> C {
        match &e.kind {
            ExprKind::Lit(l) => Ok(literal(l)),
            ExprKind::Ident(name) => self.ident(e, name),
            ExprKind::Select { operand, field } => {
                if let Some(q) = operand.qualified_name() {
                    let first = q.trim_start_matches('.').split('.').next().unwrap_or("");
                    if (q.starts_with('.') || self.local(first).is_none())
                        && let Some((slot, ty, name)) = self.resolve(&format!("{q}.{field}"))
                    {
                        return Ok((Node::Var(slot, name), ty));
                    }
                }
                self.check_closed(operand, field, e)?;
                let (n, t) = self.compile(operand)?;
                let ty = match &t {
                    Type::Map(_, v) => (**v).clone(),
                    Type::Dyn => Type::Dyn,
                    other => {
                        let msg =
                            format!("type {other} does not support field selection (.{field})");
                        return self.fail(
                            CompileError::check(msg, e.span),
                            EvalErrorKind::NoMatchingOverload,
                        );
                    }
                };
                Ok((Node::Field(Box::new(n), Key::from(field.as_str())), ty))
            }
            ExprKind::Has { operand, field } => {
                self.check_closed(operand, field, e)?;
                let (n, t) = self.compile(operand)?;
                if !matches!(t, Type::Map(_, _) | Type::Dyn) {
                    let msg = format!("has() needs a map or message, got {t}");
                    return self.fail(
                        CompileError::check(msg, e.span),
                        EvalErrorKind::NoMatchingOverload,
                    );
                }
                Ok((
                    Node::Has(Box::new(n), Key::from(field.as_str())),
                    Type::Bool,
                ))
            }
            ExprKind::Index { operand, index } => {
                let (c, ct) = self.compile(operand)?;
                let (i, it) = self.compile(index)?;
                let ty = match &ct {
                    Type::List(el) => {
                        if !matches!(it, Type::Int | Type::Uint | Type::Dyn) {
                            let msg = format!("list index must be an int, got {it}");
                            return self.fail(
                                CompileError::check(msg, index.span),
                                EvalErrorKind::InvalidArgument,
                            );
                        }
                        (**el).clone()
                    }
                    Type::Map(_, v) => (**v).clone(),
                    Type::Dyn => Type::Dyn,
                    other => {
                        let msg = format!("type {other} cannot be indexed");
                        return self.fail(
                            CompileError::check(msg, e.span),
                            EvalErrorKind::NoMatchingOverload,
                        );
                    }
                };
                Ok((Node::Index(Box::new(c), Box::new(i)), ty))
            }
            ExprKind::Not(x) => {
                let (n, t) = self.compile(x)?;
                self.expect_bool(&t, x, "!")?;
                Ok((Node::Not(Box::new(n)), Type::Bool))
            }
            ExprKind::Neg(x) => {
                let (n, t) = self.compile(x)?;
                if !matches!(t, Type::Int | Type::Double | Type::Duration | Type::Dyn) {
                    let msg = format!("no matching overload for '-' applied to {t}");
                    return self.fail(
                        CompileError::check(msg, e.span),
                        EvalErrorKind::NoMatchingOverload,
                    );
                }
                Ok((Node::Neg(Box::new(n)), t))
            }
            ExprKind::And(l, r) | ExprKind::Or(l, r) => {
                let (ln, lt) = self.compile(l)?;
                let (rn, rt) = self.compile(r)?;
                let op = if matches!(e.kind, ExprKind::And(..)) {
                    "&&"
                } else {
                    "||"
                };
                self.expect_bool(&lt, l, op)?;
                self.expect_bool(&rt, r, op)?;
                let node = if op == "&&" {
                    Node::And(Box::new(ln), Box::new(rn))
                } else {
                    Node::Or(Box::new(ln), Box::new(rn))
                };
                Ok((node, Type::Bool))
            }
            ExprKind::Cond(c, t, f) => {
                let (cn, ct) = self.compile(c)?;
                self.expect_bool(&ct, c, "?:")?;
                let (tn, tt) = self.compile(t)?;
                let (fn_, ft) = self.compile(f)?;
                Ok((Node::Cond(Box::new((cn, tn, fn_))), tt.join(&ft)))
            }
            ExprKind::Binary(op, l, r) => {
                let (ln, lt) = self.compile(l)?;
                let (rn, rt) = self.compile(r)?;
                let ty = match functions::binary_type(*op, &lt, &rt) {
                    Some(t) => t,
                    None => {
                        let msg = format!(
                            "no matching overload for '{}' applied to ({lt}, {rt})",
                            op.symbol()
                        );
                        return self.fail(
                            CompileError::check(msg, e.span),
                            EvalErrorKind::NoMatchingOverload,
                        );
                    }
                };
                if *op == BinOp::Eq || *op == BinOp::Ne {
                    // Comparing values that can never be equal is almost always a bug in a rule.
                    if self.strict && is_scalar(&lt) && is_scalar(&rt) && !comparable(&lt, &rt) {
                        let msg = format!(
                            "'{}' compares {lt} with {rt}, which are never equal",
                            op.symbol()
                        );
                        return self.fail(
                            CompileError::check(msg, e.span),
                            EvalErrorKind::NoMatchingOverload,
                        );
                    }
                }
                // double ⊕ double cannot fail: a typed float path without `Value`s (scores, ratios).
                if lt == Type::Double
                    && rt == Type::Double
                    && matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div)
                {
                    return Ok((Node::ArithF(*op, Box::new(ln), Box::new(rn)), ty));
                }
                // `variable <op> literal` is the commonest rule shape: one node, no dispatch on operands.
                if let (Node::Var(slot, name), Node::Const(c)) = (&ln, &rn)
                    && matches!(
                        op,
                        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
                    )
                {
                    return Ok((
                        Node::CmpVarConst(*op, *slot, Box::new((c.clone(), name.clone()))),
                        ty,
                    ));
                }
                Ok((Node::Bin(*op, Box::new(ln), Box::new(rn)), ty))
            }
            ExprKind::List(items) => {
                let mut nodes = Vec::with_capacity(items.len());
                let mut elem: Option<Type> = None;
                for it in items {
                    let (n, t) = self.compile(it)?;
                    elem = Some(match elem {
                        None => t,
                        Some(prev) => prev.join(&t),
                    });
                    nodes.push(n);
                }
                let ty = Type::list(elem.unwrap_or(Type::Dyn));
                Ok((const_fold_list(nodes), ty))
            }
            ExprKind::Map(entries) => {
                let mut nodes = Vec::with_capacity(entries.len());
                let (mut kt, mut vt): (Option<Type>, Option<Type>) = (None, None);
                for (k, v) in entries {
                    let (kn, ktt) = self.compile(k)?;
                    if !matches!(
                        ktt,
                        Type::Int | Type::Uint | Type::Bool | Type::String | Type::Dyn
                    ) {
                        let msg = format!("unsupported map key type {ktt}");
                        return self.fail(
                            CompileError::check(msg, k.span),
                            EvalErrorKind::InvalidArgument,
                        );
                    }
                    let (vn, vtt) = self.compile(v)?;
                    kt = Some(kt.map_or(ktt.clone(), |p| p.join(&ktt)));
                    vt = Some(vt.map_or(vtt.clone(), |p| p.join(&vtt)));
                    nodes.push((kn, vn));
                }
                Ok((
                    Node::Map(nodes),
                    Type::map(kt.unwrap_or(Type::Dyn), vt.unwrap_or(Type::Dyn)),
                ))
            }
            ExprKind::Call { target, func, args } => self.call(e, target.as_deref(), func, args),
            ExprKind::Comprehension(c) => self.comprehension(c),
        }
    }

    /// `input.agee` on a closed `input` is an error naming the fields it has.
    fn check_closed(&self, operand: &Expr, field: &str, e: &Expr) -> Result<(), CompileError> {
        let Some(q) = operand.qualified_name() else {
            return Ok(());
        };
        if q.starts_with('.') || self.local(q.split('.').next().unwrap_or("")).is_some() {
            return Ok(());
        }
        let Some((_, _, name)) = self.resolve(&q) else {
            return Ok(());
        };
        if !self.strict
            || !self.env.is_closed(&name)
            || self.env.var(&format!("{name}.{field}")).is_some()
        {
            return Ok(());
        }
        let fields = self.env.fields_of(&name);
        let mut msg = format!("'{name}' has no field '{field}'");
        match fields
            .iter()
            .map(|f| (crate::env::edit_distance(f, field), f))
            .min_by_key(|(d, _)| *d)
        {
            Some((d, f)) if d <= 2 => msg.push_str(&format!(" (did you mean '{name}.{f}'?)")),
            _ => msg.push_str(&format!(" (it has: {})", fields.join(", "))),
        }
        Err(CompileError::check(msg, e.span))
    }

    fn expect_bool(&self, t: &Type, e: &Expr, op: &str) -> Result<(), CompileError> {
        if self.strict && !matches!(t, Type::Bool | Type::Dyn) {
            return Err(CompileError::check(
                format!("'{op}' needs a bool, got {t}"),
                e.span,
            ));
        }
        Ok(())
    }

    fn ident(&mut self, e: &Expr, name: &str) -> C {
        if !name.starts_with('.')
            && let Some((i, t)) = self.local(name)
        {
            return Ok((Node::Local(i), t));
        }
        if let Some((slot, ty, full)) = self.resolve(name) {
            return Ok((Node::Var(slot, full), ty));
        }
        if let Some(tn) = TypeName::from_name(name.trim_start_matches('.')) {
            return Ok((Node::Const(Value::Type(tn)), Type::Type));
        }
        let mut msg = format!("undeclared reference to '{name}'");
        if let Some(s) = self.env.suggest(name) {
            msg.push_str(&format!(" (did you mean '{s}'?)"));
        }
        self.fail(CompileError::check(msg, e.span), EvalErrorKind::Unbound)
    }

    fn call(&mut self, e: &Expr, target: Option<&Expr>, func: &str, args: &[Expr]) -> C {
        // `math.greatest(…)`: a namespaced global function, not a member call.
        if let Some(t) = target
            && let Some(q) = t.qualified_name()
        {
            let full = format!("{}.{func}", q.trim_start_matches('.'));
            if self.local(&q).is_none()
                && self.resolve(&q).is_none()
                && let Some(b) = functions::lookup(&full, false, args.len())
            {
                return self.emit_call(e, &full, b, args.iter().collect());
            }
        }
        let mut all: Vec<&Expr> = Vec::with_capacity(args.len() + 1);
        if let Some(t) = target {
            all.push(t);
        }
        all.extend(args.iter());
        let Some(b) = functions::lookup(func, target.is_some(), all.len()) else {
            let msg = if functions::NAMES.contains(&func) {
                format!(
                    "function '{func}' does not take {} argument(s) in this form",
                    all.len()
                )
            } else {
                format!("undeclared reference to function '{func}'")
            };
            return self.fail(
                CompileError::check(msg, e.span),
                EvalErrorKind::NoMatchingOverload,
            );
        };
        // A constant pattern is compiled once, here.
        if func == "matches"
            && all.len() == 2
            && let ExprKind::Lit(Literal::String(pat)) = &all[1].kind
        {
            let re = match regex::Regex::new(pat) {
                Ok(re) => re,
                Err(err) => {
                    let msg = format!("invalid regular expression: {err}");
                    return self.fail(
                        CompileError::check(msg, all[1].span),
                        EvalErrorKind::InvalidArgument,
                    );
                }
            };
            let (n, t) = self.compile(all[0])?;
            if !matches!(t, Type::String | Type::Dyn) {
                let msg = format!("no matching overload for 'matches' applied to {t}");
                return self.fail(
                    CompileError::check(msg, e.span),
                    EvalErrorKind::NoMatchingOverload,
                );
            }
            return Ok((Node::Matches(Box::new(n), Arc::new(re)), Type::Bool));
        }
        self.emit_call(e, func, b, all)
    }

    fn emit_call(&mut self, e: &Expr, func: &str, b: functions::Builtin, args: Vec<&Expr>) -> C {
        let mut nodes = Vec::with_capacity(args.len());
        let mut types = Vec::with_capacity(args.len());
        for a in args {
            let (n, t) = self.compile(a)?;
            nodes.push(n);
            types.push(t);
        }
        let ty = match (b.ret)(&types) {
            Some(t) => t,
            None => {
                let shown: Vec<String> = types.iter().map(|t| t.to_string()).collect();
                let msg = format!(
                    "no matching overload for '{func}' applied to ({})",
                    shown.join(", ")
                );
                return self.fail(
                    CompileError::check(msg, e.span),
                    EvalErrorKind::NoMatchingOverload,
                );
            }
        };
        // Conversions of constants fold now, so `duration('1h')` costs nothing per evaluation.
        if nodes.iter().all(|n| matches!(n, Node::Const(_))) {
            let vals: Vec<Value> = nodes
                .iter()
                .map(|n| match n {
                    Node::Const(v) => v.clone(),
                    _ => Value::Null,
                })
                .collect();
            return Ok(match (b.imp)(&vals) {
                Ok(v) => (Node::Const(v), ty),
                Err(err) => (Node::Fail(err), ty),
            });
        }
        let mut it = nodes.into_iter();
        let node = match it.len() {
            1 => Node::Call1(
                b.imp,
                Box::new(it.next().unwrap_or(Node::Const(Value::Null))),
            ),
            2 => {
                let a = it.next().unwrap_or(Node::Const(Value::Null));
                let c = it.next().unwrap_or(Node::Const(Value::Null));
                Node::Call2(b.imp, Box::new((a, c)))
            }
            _ => Node::CallN(b.imp, it.collect()),
        };
        Ok((node, ty))
    }

    fn comprehension(&mut self, c: &Comprehension) -> C {
        let (range, rt) = self.compile(&c.range)?;
        let (t1, t2) = match (&rt, c.var2.is_some()) {
            (Type::List(el), false) => ((**el).clone(), Type::Dyn),
            (Type::List(el), true) => (Type::Int, (**el).clone()),
            (Type::Map(k, v), _) => ((**k).clone(), (**v).clone()),
            (Type::Dyn, _) => (Type::Dyn, Type::Dyn),
            _ if c.kind == MacroKind::Bind => (rt.clone(), Type::Dyn),
            (other, _) => {
                let msg = format!("cannot iterate over {other}");
                return self.fail(
                    CompileError::check(msg, c.range.span),
                    EvalErrorKind::NoMatchingOverload,
                );
            }
        };
        let v1 = self.n_locals;
        self.n_locals += 1;
        self.scopes.push((c.var1.clone(), v1, t1.clone()));
        let v2 = c.var2.as_ref().map(|name| {
            let i = self.n_locals;
            self.n_locals += 1;
            self.scopes.push((name.clone(), i, t2.clone()));
            i
        });
        let filter = match &c.filter {
            Some(f) => {
                let (n, t) = self.compile(f)?;
                self.expect_bool(&t, f, "filter")?;
                Some(n)
            }
            None => None,
        };
        let (body, bt) = self.compile(&c.body)?;
        self.scopes
            .truncate(self.scopes.len() - 1 - usize::from(v2.is_some()));
        let ty = match c.kind {
            MacroKind::All | MacroKind::Exists | MacroKind::ExistsOne => {
                self.expect_bool(&bt, &c.body, "predicate")?;
                Type::Bool
            }
            MacroKind::Filter => {
                self.expect_bool(&bt, &c.body, "filter")?;
                match &rt {
                    Type::Map(k, _) => Type::list((**k).clone()),
                    other => other.clone(),
                }
            }
            MacroKind::Map | MacroKind::TransformList => Type::list(bt),
            MacroKind::TransformMap => Type::map(t1, bt),
            MacroKind::Bind => bt,
        };
        let node = Node::Comp(Box::new(Comp {
            kind: c.kind,
            range,
            v1,
            v2,
            filter,
            body,
        }));
        Ok((node, ty))
    }
}

fn is_scalar(t: &Type) -> bool {
    matches!(
        t,
        Type::Bool
            | Type::Int
            | Type::Uint
            | Type::Double
            | Type::String
            | Type::Bytes
            | Type::Timestamp
            | Type::Duration
    )
}

fn comparable(a: &Type, b: &Type) -> bool {
    (a.is_numeric() && b.is_numeric()) || a.accepts(b) || b.accepts(a)
}

fn literal(l: &Literal) -> (Node, Type) {
    let (v, t) = match l {
        Literal::Null => (Value::Null, Type::Null),
        Literal::Bool(b) => (Value::Bool(*b), Type::Bool),
        Literal::Int(i) => (Value::Int(*i), Type::Int),
        Literal::Uint(u) => (Value::Uint(*u), Type::Uint),
        Literal::Double(d) => (Value::Double(*d), Type::Double),
        Literal::String(s) => (Value::string(s), Type::String),
        Literal::Bytes(b) => (Value::Bytes(Arc::from(b.as_slice())), Type::Bytes),
    };
    (Node::Const(v), t)
}

/// A list literal of constants becomes one constant (so `x in ['a', 'b']` allocates nothing).
fn const_fold_list(nodes: Vec<Node>) -> Node {
    if nodes.iter().all(|n| matches!(n, Node::Const(_))) {
        let vals = nodes
            .into_iter()
            .map(|n| match n {
                Node::Const(v) => v,
                _ => Value::Null,
            })
            .collect();
        Node::Const(Value::list(vals))
    } else {
        Node::List(nodes)
    }
}
