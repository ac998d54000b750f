//! Decision-table cells: CEL unary tests. A cell is `-` (any), a literal,
//! a comparison (`> 500`), a range (`[18..25)`), a list of literals
//! (`"A","B"`, `not("A","B")`), or any CEL expression in which `?` stands
//! for the column's input.

use std::cmp::Ordering;

use riskflow_expr::{Value, ast::Literal, parser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Ne,
}

/// One end of a range: the bound and whether it is included.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub value: Value,
    pub inclusive: bool,
}

/// A parsed cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Any,
    Eq(Value),
    OneOf(Vec<Value>),
    NotOneOf(Vec<Value>),
    Cmp(CmpOp, Value),
    Range {
        lo: Option<Bound>,
        hi: Option<Bound>,
    },
    /// A CEL expression over `?`; the string is the rewritten source using [`COLUMN_VAR`].
    Expr(String),
}

impl std::fmt::Display for Test {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |vs: &[Value]| {
            vs.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Test::Any => f.write_str("-"),
            Test::Eq(v) => write!(f, "{v}"),
            Test::OneOf(vs) => f.write_str(&list(vs)),
            Test::NotOneOf(vs) => write!(f, "not({})", list(vs)),
            Test::Cmp(op, v) => {
                let s = match op {
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                    CmpOp::Ne => "!=",
                };
                write!(f, "{s} {v}")
            }
            Test::Range { lo, hi } => {
                let (open, a) = match lo {
                    Some(b) => (if b.inclusive { "[" } else { "(" }, b.value.to_string()),
                    None => ("(", String::new()),
                };
                let (close, z) = match hi {
                    Some(b) => (if b.inclusive { "]" } else { ")" }, b.value.to_string()),
                    None => (")", String::new()),
                };
                write!(f, "{open}{a}..{z}{close}")
            }
            Test::Expr(src) => f.write_str(&src.replace(COLUMN_VAR, "?")),
        }
    }
}

/// The name `?` is rewritten to in expression cells.
pub const COLUMN_VAR: &str = "__column";

impl Test {
    /// Whether `v` passes this test (expression cells are evaluated elsewhere).
    pub fn matches(&self, v: &Value) -> bool {
        match self {
            Test::Any => true,
            Test::Eq(x) => x.cel_eq(v),
            Test::OneOf(xs) => xs.iter().any(|x| x.cel_eq(v)),
            Test::NotOneOf(xs) => !xs.iter().any(|x| x.cel_eq(v)),
            Test::Cmp(op, x) => match v.cel_cmp(x) {
                Ok(Some(o)) => match op {
                    CmpOp::Lt => o == Ordering::Less,
                    CmpOp::Le => o != Ordering::Greater,
                    CmpOp::Gt => o == Ordering::Greater,
                    CmpOp::Ge => o != Ordering::Less,
                    CmpOp::Ne => o != Ordering::Equal,
                },
                _ => *op == CmpOp::Ne && !x.cel_eq(v),
            },
            Test::Range { lo, hi } => {
                let above = lo.as_ref().is_none_or(|b| match v.cel_cmp(&b.value) {
                    Ok(Some(Ordering::Greater)) => true,
                    Ok(Some(Ordering::Equal)) => b.inclusive,
                    _ => false,
                });
                let below = hi.as_ref().is_none_or(|b| match v.cel_cmp(&b.value) {
                    Ok(Some(Ordering::Less)) => true,
                    Ok(Some(Ordering::Equal)) => b.inclusive,
                    _ => false,
                });
                above && below
            }
            Test::Expr(_) => false,
        }
    }
}

/// Parses a cell. `string_column` lets analysts write bare words (`gold`) in
/// columns whose input is a string.
pub fn parse_cell(raw: &str, string_column: bool) -> Result<Test, String> {
    let s = raw.trim();
    if s.is_empty() || s == "-" {
        return Ok(Test::Any);
    }
    if s.contains('?') && !in_quotes_only(s) {
        return Ok(Test::Expr(rewrite_question(s)));
    }
    if let Some(rest) = s.strip_prefix("not(").and_then(|r| r.strip_suffix(')')) {
        return literal_list(rest, string_column).map(Test::NotOneOf);
    }
    for (prefix, op) in [
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("!=", CmpOp::Ne),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return Ok(Test::Cmp(op, literal(rest.trim(), string_column)?));
        }
    }
    if let Some(rest) = s.strip_prefix("==") {
        return Ok(Test::Eq(literal(rest.trim(), string_column)?));
    }
    if (s.starts_with('[') || s.starts_with('(') || s.starts_with(']')) && s.contains("..") {
        return range(s);
    }
    let items = literal_list(s, string_column)?;
    if items.len() == 1 {
        Ok(Test::Eq(items.into_iter().next().unwrap_or(Value::Null)))
    } else {
        Ok(Test::OneOf(items))
    }
}

/// The characters of `s` with their byte offsets, marking those outside
/// quoted strings (`"…"` or `'…'`) — where `?` and `,` mean something.
fn unquoted(s: &str) -> impl Iterator<Item = (usize, char, bool)> + '_ {
    let mut quote: Option<char> = None;
    s.char_indices().map(move |(i, c)| {
        let outside = quote.is_none();
        match quote {
            None if c == '"' || c == '\'' => quote = Some(c),
            Some(q) if c == q => quote = None,
            _ => {}
        }
        (i, c, outside && c != '"' && c != '\'')
    })
}

/// True when every `?` is inside a quoted string.
fn in_quotes_only(s: &str) -> bool {
    !unquoted(s).any(|(_, c, outside)| outside && c == '?')
}

fn rewrite_question(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for (_, c, outside) in unquoted(s) {
        if outside && c == '?' {
            out.push_str(COLUMN_VAR);
        } else {
            out.push(c);
        }
    }
    out
}

fn range(s: &str) -> Result<Test, String> {
    let bad = || format!("invalid range {s:?}: expected e.g. [18..25), (600..], [..0.3]");
    let open = s.chars().next().ok_or_else(bad)?;
    let close = s.chars().last().ok_or_else(bad)?;
    let lo_incl = open == '[';
    let hi_incl = close == ']';
    if !matches!(close, ']' | ')' | '[') {
        return Err(bad());
    }
    let inner = &s[1..s.len() - 1];
    let (a, b) = inner.split_once("..").ok_or_else(bad)?;
    let bound = |t: &str, inclusive: bool| -> Result<Option<Bound>, String> {
        let t = t.trim();
        if t.is_empty() {
            return Ok(None);
        }
        Ok(Some(Bound {
            value: literal(t, false)?,
            inclusive,
        }))
    };
    Ok(Test::Range {
        lo: bound(a, lo_incl)?,
        hi: bound(b, hi_incl)?,
    })
}

fn literal_list(s: &str, string_column: bool) -> Result<Vec<Value>, String> {
    split_top_level(s)
        .into_iter()
        .map(|part| literal(part.trim(), string_column))
        .collect()
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, _, _) in unquoted(s).filter(|(_, c, outside)| *outside && *c == ',') {
        parts.push(&s[start..i]);
        start = i + 1;
    }
    parts.push(&s[start..]);
    parts
}

/// A literal cell value: a number, a quoted string, true/false/null, or a bare word in a string column.
pub fn literal(s: &str, string_column: bool) -> Result<Value, String> {
    match parser::parse(s) {
        Ok(e) => match e.kind {
            riskflow_expr::ast::ExprKind::Lit(l) => Ok(match l {
                Literal::Null => Value::Null,
                Literal::Bool(b) => Value::Bool(b),
                Literal::Int(i) => Value::Int(i),
                Literal::Uint(u) => Value::Uint(u),
                Literal::Double(d) => Value::Double(d),
                Literal::String(s) => Value::string(s),
                Literal::Bytes(_) => return Err(format!("bytes are not allowed in a cell: {s}")),
            }),
            riskflow_expr::ast::ExprKind::Ident(_) if string_column => Ok(Value::string(s)),
            _ => Err(format!(
                "{s:?} is not a literal; write an expression with ? (e.g. `? > x`) for computed tests"
            )),
        },
        Err(_) if string_column && !s.is_empty() && !s.contains(['"', '\'']) => {
            Ok(Value::string(s))
        }
        Err(e) => Err(format!("cannot read cell {s:?}: {}", e.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Test {
        parse_cell(s, false).unwrap()
    }

    #[test]
    fn cell_forms() {
        assert_eq!(t("-"), Test::Any);
        assert_eq!(t(""), Test::Any);
        assert_eq!(t("42"), Test::Eq(Value::Int(42)));
        assert_eq!(t("> 500"), Test::Cmp(CmpOp::Gt, Value::Int(500)));
        assert_eq!(
            t("\"A\",\"B\""),
            Test::OneOf(vec![Value::from("A"), Value::from("B")])
        );
        assert!(matches!(t("[18..25)"), Test::Range { .. }));
        assert_eq!(
            t("? % 2 == 0"),
            Test::Expr(format!("{COLUMN_VAR} % 2 == 0"))
        );
        assert_eq!(
            parse_cell("gold", true).unwrap(),
            Test::Eq(Value::from("gold"))
        );
        assert!(parse_cell("gold", false).is_err());
        assert!(parse_cell("[1..", false).is_err());
    }

    #[test]
    fn quotes_protect_commas_and_question_marks() {
        assert_eq!(
            t("\"a,b\",'c'"),
            Test::OneOf(vec![Value::from("a,b"), Value::from("c")])
        );
        assert_eq!(t("\"what?\""), Test::Eq(Value::from("what?")));
        assert_eq!(t("? == 'x?'"), Test::Expr(format!("{COLUMN_VAR} == 'x?'")));
    }

    #[test]
    fn ranges_respect_inclusivity() {
        let r = t("[18..25)");
        assert!(r.matches(&Value::Int(18)));
        assert!(r.matches(&Value::Int(24)));
        assert!(!r.matches(&Value::Int(25)));
        assert!(r.matches(&Value::Double(24.9)));
        let open = t("(600..]");
        assert!(!open.matches(&Value::Int(600)));
        assert!(open.matches(&Value::Int(10_000)));
        assert!(t("not(\"X\")").matches(&Value::from("Y")));
    }
}
