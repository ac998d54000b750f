//! The parsed expression tree. Operators are explicit variants; macros
//! (`has`, `all`, `exists`, `exists_one`, `map`, `filter`, …) are expanded by
//! the parser into [`ExprKind::Has`] and [`ExprKind::Comprehension`].

use crate::error::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub span: Span,
    pub kind: ExprKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    String(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacroKind {
    /// `r.all(x, p)` / `r.all(k, v, p)`
    All,
    /// `r.exists(x, p)`
    Exists,
    /// `r.exists_one(x, p)` / `r.existsOne(…)`
    ExistsOne,
    /// `r.map(x, t)` or `r.map(x, p, t)`
    Map,
    /// `r.filter(x, p)`
    Filter,
    /// `r.transformList(i, v, [p,] t)`
    TransformList,
    /// `r.transformMap(k, v, [p,] t)`
    TransformMap,
    /// `cel.bind(x, init, body)`: `range` is the init, `body` the result.
    Bind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comprehension {
    pub kind: MacroKind,
    pub range: Expr,
    /// The iteration variable (the index or key when `var2` is present).
    pub var1: String,
    /// The value variable of two-variable forms.
    pub var2: Option<String>,
    /// Filter predicate for `map(x, p, t)` and the transforms with a filter.
    pub filter: Option<Expr>,
    /// The predicate or transform.
    pub body: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Lit(Literal),
    /// An identifier; a leading `.` marks it as fully qualified from the root.
    Ident(String),
    Select {
        operand: Box<Expr>,
        field: String,
    },
    /// `has(operand.field)`
    Has {
        operand: Box<Expr>,
        field: String,
    },
    Index {
        operand: Box<Expr>,
        index: Box<Expr>,
    },
    Call {
        target: Option<Box<Expr>>,
        func: String,
        args: Vec<Expr>,
    },
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Comprehension(Box<Comprehension>),
}

impl Expr {
    /// The dotted name of an `a.b.c` chain of identifiers and selects, if that is what this is.
    pub fn qualified_name(&self) -> Option<String> {
        match &self.kind {
            ExprKind::Ident(n) => Some(n.clone()),
            ExprKind::Select { operand, field } => {
                operand.qualified_name().map(|p| format!("{p}.{field}"))
            }
            _ => None,
        }
    }
}
