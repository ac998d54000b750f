//! The evaluator: a tree of compiled nodes with variables bound to slots,
//! functions bound to function pointers and constant regexes precompiled, so
//! evaluation does no parsing, name hashing or lookups by name.

use std::sync::Arc;

use crate::ast::{BinOp, MacroKind};
use crate::error::{EvalError, EvalErrorKind};
use crate::functions::{self, Impl};
use crate::value::{Key, Map, Value};

/// Where evaluation reads declared variables from, by slot.
pub trait Activation {
    fn get(&self, slot: usize) -> Option<&Value>;
}

impl Activation for [Value] {
    #[inline]
    fn get(&self, slot: usize) -> Option<&Value> {
        <[Value]>::get(self, slot)
    }
}

impl Activation for Vec<Value> {
    #[inline]
    fn get(&self, slot: usize) -> Option<&Value> {
        self.as_slice().get(slot)
    }
}

impl Activation for [Option<Value>] {
    #[inline]
    fn get(&self, slot: usize) -> Option<&Value> {
        <[Option<Value>]>::get(self, slot).and_then(|v| v.as_ref())
    }
}

pub(crate) enum Node {
    Const(Value),
    Var(usize, Arc<str>),
    Local(usize),
    Not(Box<Node>),
    Neg(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cond(Box<(Node, Node, Node)>),
    Bin(BinOp, Box<Node>, Box<Node>),
    /// A comparison of a variable with a constant: (op, slot, (constant, variable name)).
    CmpVarConst(BinOp, usize, Box<(Value, Arc<str>)>),
    /// `+ - * /` on two operands the checker proved to be doubles.
    ArithF(BinOp, Box<Node>, Box<Node>),
    Index(Box<Node>, Box<Node>),
    Field(Box<Node>, Key),
    Has(Box<Node>, Key),
    List(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Call1(Impl, Box<Node>),
    Call2(Impl, Box<(Node, Node)>),
    CallN(Impl, Vec<Node>),
    Matches(Box<Node>, Arc<regex::Regex>),
    Comp(Box<Comp>),
    /// Fails at run time (an unknown name when checking is disabled).
    Fail(EvalError),
}

pub(crate) struct Comp {
    pub kind: MacroKind,
    pub range: Node,
    pub v1: usize,
    pub v2: Option<usize>,
    pub filter: Option<Node>,
    pub body: Node,
}

pub(crate) struct Frame<'a, A: Activation + ?Sized> {
    pub vars: &'a A,
    /// Comprehension variables (empty for expressions without macros).
    pub locals: &'a mut [Value],
}

type R = Result<Value, EvalError>;

fn bool_of(v: &Value, op: &str) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(EvalError::new(
            EvalErrorKind::NoMatchingOverload,
            format!(
                "no matching overload for '{op}': expected bool, got {}",
                other.type_name().name()
            ),
        )),
    }
}

impl Node {
    /// Slots of the declared variables this node reads, with duplicates.
    pub(crate) fn collect_vars(&self, out: &mut Vec<usize>) {
        match self {
            Node::Const(_) | Node::Local(_) | Node::Fail(_) => {}
            Node::Var(s, _) | Node::CmpVarConst(_, s, _) => out.push(*s),
            Node::Not(e)
            | Node::Neg(e)
            | Node::Field(e, _)
            | Node::Has(e, _)
            | Node::Call1(_, e)
            | Node::Matches(e, _) => e.collect_vars(out),
            Node::And(a, b)
            | Node::Or(a, b)
            | Node::Bin(_, a, b)
            | Node::ArithF(_, a, b)
            | Node::Index(a, b) => {
                a.collect_vars(out);
                b.collect_vars(out);
            }
            Node::Call2(_, ab) => {
                ab.0.collect_vars(out);
                ab.1.collect_vars(out);
            }
            Node::Cond(c) => {
                c.0.collect_vars(out);
                c.1.collect_vars(out);
                c.2.collect_vars(out);
            }
            Node::List(items) | Node::CallN(_, items) => {
                items.iter().for_each(|i| i.collect_vars(out))
            }
            Node::Map(entries) => entries.iter().for_each(|(k, v)| {
                k.collect_vars(out);
                v.collect_vars(out);
            }),
            Node::Comp(c) => {
                c.range.collect_vars(out);
                c.body.collect_vars(out);
                if let Some(f) = &c.filter {
                    f.collect_vars(out);
                }
            }
        }
    }

    /// Leaves (constants, variables, locals) are read in place, never cloned, by operators.
    #[inline]
    fn is_leaf(&self) -> bool {
        matches!(self, Node::Const(_) | Node::Var(..) | Node::Local(_))
    }

    #[inline(always)]
    fn leaf<'a, A: Activation + ?Sized>(
        &'a self,
        f: &'a Frame<'_, A>,
    ) -> Result<&'a Value, EvalError> {
        match self {
            Node::Const(v) => Ok(v),
            Node::Var(slot, name) => f.vars.get(*slot).ok_or_else(|| unbound(name)),
            Node::Local(i) => Ok(&f.locals[*i]),
            _ => Err(EvalError::invalid("internal: not a leaf")),
        }
    }

    /// Evaluates two operands and hands them to `k` by reference: leaves in
    /// place, other nodes into temporaries.
    #[inline(always)]
    fn with_operands<A: Activation + ?Sized, T>(
        l: &Node,
        r: &Node,
        f: &mut Frame<'_, A>,
        k: impl FnOnce(&Value, &Value) -> Result<T, EvalError>,
    ) -> Result<T, EvalError> {
        let lt = if l.is_leaf() { None } else { Some(l.eval(f)?) };
        let rt = if r.is_leaf() { None } else { Some(r.eval(f)?) };
        let a = match &lt {
            Some(v) => v,
            None => l.leaf(f)?,
        };
        let b = match &rt {
            Some(v) => v,
            None => r.leaf(f)?,
        };
        k(a, b)
    }

    /// Evaluates a node that must yield a bool, without building a `Value`
    /// for comparisons and logical operators — the shape of most rule conditions.
    pub(crate) fn eval_bool<A: Activation + ?Sized>(
        &self,
        f: &mut Frame<'_, A>,
    ) -> Result<bool, EvalError> {
        match self {
            Node::Const(Value::Bool(b)) => Ok(*b),
            Node::Var(..) | Node::Local(_) => bool_of(self.leaf(f)?, "condition"),
            Node::CmpVarConst(op, slot, c) => match f.vars.get(*slot) {
                Some(v) => functions::compare(*op, v, &c.0),
                None => Err(unbound(&c.1)),
            },
            Node::Not(e) => Ok(!e.eval_bool(f)?),
            Node::And(l, r) => {
                // CEL's commutative short-circuit: false wins over errors on either side.
                let lv = l.eval_bool(f);
                if let Ok(false) = lv {
                    return Ok(false);
                }
                match (lv, r.eval_bool(f)) {
                    (_, Ok(false)) => Ok(false),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                    _ => Ok(true),
                }
            }
            Node::Or(l, r) => {
                let lv = l.eval_bool(f);
                if let Ok(true) = lv {
                    return Ok(true);
                }
                match (lv, r.eval_bool(f)) {
                    (_, Ok(true)) => Ok(true),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                    _ => Ok(false),
                }
            }
            Node::Bin(
                op @ (BinOp::Eq
                | BinOp::Ne
                | BinOp::Lt
                | BinOp::Le
                | BinOp::Gt
                | BinOp::Ge
                | BinOp::In),
                l,
                r,
            ) => Self::with_operands(l, r, f, |a, b| functions::compare(*op, a, b)),
            Node::Has(c, k) => {
                let tmp = if c.is_leaf() { None } else { Some(c.eval(f)?) };
                let v = match &tmp {
                    Some(v) => v,
                    None => c.leaf(f)?,
                };
                match v {
                    Value::Map(m) => Ok(m.contains_key(k)),
                    other => Err(EvalError::new(
                        EvalErrorKind::NoMatchingOverload,
                        format!("has() does not apply to {}", other.type_name().name()),
                    )),
                }
            }
            Node::Matches(s, re) => {
                let tmp = if s.is_leaf() { None } else { Some(s.eval(f)?) };
                match tmp.as_ref().map_or_else(|| s.leaf(f), Ok)? {
                    Value::String(s) => Ok(re.is_match(s)),
                    other => Err(EvalError::no_overload(&format!(
                        "matches on {}",
                        other.type_name().name()
                    ))),
                }
            }
            Node::Cond(c) => {
                let (c, t, e) = &**c;
                if c.eval_bool(f)? {
                    t.eval_bool(f)
                } else {
                    e.eval_bool(f)
                }
            }
            other => bool_of(&other.eval(f)?, "condition"),
        }
    }

    /// A double operand: constants and variables are read inline, anything else recurses.
    #[inline(always)]
    fn operand_f64<A: Activation + ?Sized>(&self, f: &mut Frame<'_, A>) -> Result<f64, EvalError> {
        match self {
            Node::Const(Value::Double(d)) => Ok(*d),
            Node::Var(slot, _) => match f.vars.get(*slot) {
                Some(Value::Double(d)) => Ok(*d),
                _ => self.eval_f64(f),
            },
            _ => self.eval_f64(f),
        }
    }

    /// Evaluates a node the checker typed as double, without building `Value`s.
    fn eval_f64<A: Activation + ?Sized>(&self, f: &mut Frame<'_, A>) -> Result<f64, EvalError> {
        match self {
            Node::Const(Value::Double(d)) => Ok(*d),
            Node::ArithF(op, l, r) => {
                let a = l.operand_f64(f)?;
                let b = r.operand_f64(f)?;
                Ok(match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    _ => a / b,
                })
            }
            Node::Var(..) | Node::Local(_) => match self.leaf(f)? {
                Value::Double(d) => Ok(*d),
                other => Err(EvalError::no_overload(&format!(
                    "arithmetic on {}",
                    other.type_name().name()
                ))),
            },
            other => match other.eval(f)? {
                Value::Double(d) => Ok(d),
                v => Err(EvalError::no_overload(&format!(
                    "arithmetic on {}",
                    v.type_name().name()
                ))),
            },
        }
    }

    pub(crate) fn eval<A: Activation + ?Sized>(&self, f: &mut Frame<'_, A>) -> R {
        match self {
            Node::ArithF(..) => Ok(Value::Double(self.eval_f64(f)?)),
            Node::Const(v) => Ok(v.clone()),
            Node::Var(slot, name) => f.vars.get(*slot).cloned().ok_or_else(|| unbound(name)),
            Node::Local(i) => Ok(f.locals[*i].clone()),
            Node::Not(_)
            | Node::And(..)
            | Node::Or(..)
            | Node::Has(..)
            | Node::Matches(..)
            | Node::CmpVarConst(..) => Ok(Value::Bool(self.eval_bool(f)?)),
            Node::Bin(
                BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::In,
                ..,
            ) => Ok(Value::Bool(self.eval_bool(f)?)),
            Node::Neg(e) => functions::negate(e.eval(f)?),
            Node::Cond(c) => {
                let (c, t, e) = &**c;
                if c.eval_bool(f)? {
                    t.eval(f)
                } else {
                    e.eval(f)
                }
            }
            Node::Bin(op, l, r) => {
                Self::with_operands(l, r, f, |a, b| functions::binary(*op, a, b))
            }
            Node::Index(c, i) => Self::with_operands(c, i, f, functions::index),
            Node::Field(c, k) => {
                let tmp = if c.is_leaf() { None } else { Some(c.eval(f)?) };
                match tmp.as_ref().map_or_else(|| c.leaf(f), Ok)? {
                    Value::Map(m) => m.get(k).cloned().ok_or_else(|| no_such_key(k)),
                    other => Err(EvalError::new(
                        EvalErrorKind::NoMatchingOverload,
                        format!(
                            "type {} does not support field selection",
                            other.type_name().name()
                        ),
                    )),
                }
            }
            Node::Call1(imp, a) => {
                let a = a.eval(f)?;
                imp(&[a])
            }
            Node::Call2(imp, ab) => {
                let a = ab.0.eval(f)?;
                let b = ab.1.eval(f)?;
                imp(&[a, b])
            }
            Node::List(items) => list(items, f),
            Node::Map(entries) => map(entries, f),
            Node::CallN(imp, args) => call_n(*imp, args, f),
            Node::Comp(c) => c.eval(f),
            Node::Fail(e) => Err(e.clone()),
        }
    }
}

// Rarely hot variants live out of line, keeping `Node::eval`'s stack frame small.

#[inline(never)]
fn list<A: Activation + ?Sized>(items: &[Node], f: &mut Frame<'_, A>) -> R {
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        out.push(i.eval(f)?);
    }
    Ok(Value::list(out))
}

#[inline(never)]
fn map<A: Activation + ?Sized>(entries: &[(Node, Node)], f: &mut Frame<'_, A>) -> R {
    let mut m = crate::value::map_with_capacity(entries.len());
    for (k, v) in entries {
        let key = Key::from_value(&k.eval(f)?)?;
        let val = v.eval(f)?;
        if m.insert(key.clone(), val).is_some() {
            return Err(EvalError::invalid(format!(
                "repeated key {} in map literal",
                key.to_value()
            )));
        }
    }
    Ok(Value::map(m))
}

#[inline(never)]
fn call_n<A: Activation + ?Sized>(imp: Impl, args: &[Node], f: &mut Frame<'_, A>) -> R {
    let mut vals = Vec::with_capacity(args.len());
    for a in args {
        vals.push(a.eval(f)?);
    }
    imp(&vals)
}

#[cold]
fn unbound(name: &str) -> EvalError {
    EvalError::new(
        EvalErrorKind::Unbound,
        format!("no value for variable '{name}'"),
    )
}

fn no_such_key(k: &Key) -> EvalError {
    let shown = match k {
        Key::String(s) => format!("'{s}'"),
        other => other.to_value().to_string(),
    };
    EvalError::new(EvalErrorKind::NoSuchKey, format!("no such key: {shown}"))
}

pub(crate) fn missing_key(k: &Key) -> EvalError {
    no_such_key(k)
}

impl Comp {
    #[inline(never)]
    fn eval<A: Activation + ?Sized>(&self, f: &mut Frame<'_, A>) -> R {
        let range = self.range.eval(f)?;
        if self.kind == MacroKind::Bind {
            f.locals[self.v1] = range;
            return self.body.eval(f);
        }
        // (first var, second var) per element: list → (elem) or (index, elem); map → (key) or (key, value)
        // Elements are bound by position — no list of pairs is built.
        let n = match &range {
            Value::List(l) => l.len(),
            Value::Map(m) => m.len(),
            other => {
                return Err(EvalError::no_overload(&format!(
                    "comprehension over {}",
                    other.type_name().name()
                )));
            }
        };
        // (first var, second var) per element: list → (index, elem); map → (key, value)
        let item = |idx: usize| -> (Value, Value) {
            match &range {
                Value::List(l) => (Value::Int(idx as i64), l[idx].clone()),
                Value::Map(m) => m
                    .get_index(idx)
                    .map(|(k, v)| (k.to_value(), v.clone()))
                    .unwrap_or((Value::Null, Value::Null)),
                _ => (Value::Null, Value::Null),
            }
        };
        let is_list = matches!(range, Value::List(_));
        let bind = |f: &mut Frame<'_, A>, (a, b): (Value, Value)| match self.v2 {
            Some(v2) => {
                f.locals[self.v1] = a;
                f.locals[v2] = b;
            }
            None => f.locals[self.v1] = if is_list { b } else { a },
        };
        match self.kind {
            MacroKind::All | MacroKind::Exists => {
                let want = self.kind == MacroKind::Exists;
                let mut err = None;
                for it in (0..n).map(item) {
                    bind(f, it);
                    match self.body.eval_bool(f) {
                        Ok(b) if b == want => return Ok(Value::Bool(want)),
                        Ok(_) => {}
                        Err(e) => {
                            if err.is_none() {
                                err = Some(e)
                            }
                        }
                    }
                }
                match err {
                    Some(e) => Err(e),
                    None => Ok(Value::Bool(!want)),
                }
            }
            MacroKind::ExistsOne => {
                let mut hits = 0;
                for it in (0..n).map(item) {
                    bind(f, it);
                    if self.body.eval_bool(f)? {
                        hits += 1;
                    }
                }
                Ok(Value::Bool(hits == 1))
            }
            MacroKind::Map | MacroKind::Filter | MacroKind::TransformList => {
                let mut out = Vec::new();
                for it in (0..n).map(item) {
                    let elem = if self.v2.is_some() || is_list {
                        it.1.clone()
                    } else {
                        it.0.clone()
                    };
                    bind(f, it);
                    if let Some(p) = &self.filter
                        && !bool_of(&p.eval(f)?, "filter")?
                    {
                        continue;
                    }
                    if self.kind == MacroKind::Filter {
                        if self.body.eval_bool(f)? {
                            out.push(elem);
                        }
                    } else {
                        out.push(self.body.eval(f)?);
                    }
                }
                Ok(Value::list(out))
            }
            MacroKind::TransformMap => {
                let mut out = Map::default();
                for it in (0..n).map(item) {
                    let key = Key::from_value(&it.0)?;
                    bind(f, it);
                    if let Some(p) = &self.filter
                        && !bool_of(&p.eval(f)?, "transformMap")?
                    {
                        continue;
                    }
                    out.insert(key, self.body.eval(f)?);
                }
                Ok(Value::map(out))
            }
            MacroKind::Bind => unreachable!("handled above"),
        }
    }
}
