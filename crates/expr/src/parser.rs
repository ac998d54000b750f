//! Recursive-descent parser for the CEL grammar (see the crate doc), with
//! macro expansion. Nesting depth is bounded so hostile input cannot overflow
//! the stack.

use crate::ast::{BinOp, Comprehension, Expr, ExprKind, Literal, MacroKind};
use crate::error::{CompileError, Span};
use crate::lexer::{RESERVED, Tok, tokenize};

/// Deepest nesting of sub-expressions accepted.
pub const MAX_DEPTH: usize = 64;
/// Deepest expression tree accepted (long operator chains nest without parentheses).
pub const MAX_TREE_DEPTH: usize = 512;

#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    pub macros: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { macros: true }
    }
}

pub fn parse(src: &str) -> Result<Expr, CompileError> {
    parse_with(src, ParseOptions::default())
}

pub fn parse_with(src: &str, opts: ParseOptions) -> Result<Expr, CompileError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        opts,
    };
    let e = p.expr()?;
    let (tok, span) = p.peek_full();
    if *tok != Tok::Eof {
        return Err(CompileError::parse(
            format!(
                "unexpected {} after the end of the expression",
                tok.describe()
            ),
            span,
        ));
    }
    if tree_depth(&e) > MAX_TREE_DEPTH {
        return Err(CompileError::parse(
            format!("expression is nested more than {MAX_TREE_DEPTH} levels deep"),
            e.span,
        ));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    pos: usize,
    depth: usize,
    opts: ParseOptions,
}

fn mk(span: Span, kind: ExprKind) -> Expr {
    Expr { span, kind }
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }
    fn peek_full(&self) -> (&Tok, Span) {
        let (t, s) = &self.toks[self.pos.min(self.toks.len() - 1)];
        (t, *s)
    }
    fn span(&self) -> Span {
        self.toks[self.pos.min(self.toks.len() - 1)].1
    }
    fn bump(&mut self) -> (Tok, Span) {
        let t = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: Tok, what: &str) -> Result<Span, CompileError> {
        let (tok, span) = self.peek_full();
        if *tok == t {
            self.bump();
            Ok(span)
        } else {
            Err(CompileError::parse(
                format!("expected {what}, found {}", tok.describe()),
                span,
            ))
        }
    }

    fn enter(&mut self) -> Result<(), CompileError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(CompileError::parse(
                format!("expression nested more than {MAX_DEPTH} levels deep"),
                self.span(),
            ));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, CompileError> {
        self.enter()?;
        let cond = self.or()?;
        let out = if self.eat(&Tok::Question) {
            let t = self.or()?;
            self.expect(Tok::Colon, "':' of the conditional")?;
            let f = self.expr()?;
            let span = cond.span.to(f.span);
            mk(
                span,
                ExprKind::Cond(Box::new(cond), Box::new(t), Box::new(f)),
            )
        } else {
            cond
        };
        self.depth -= 1;
        Ok(out)
    }

    fn or(&mut self) -> Result<Expr, CompileError> {
        let mut l = self.and()?;
        while self.eat(&Tok::OrOr) {
            let r = self.and()?;
            l = mk(l.span.to(r.span), ExprKind::Or(Box::new(l), Box::new(r)));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, CompileError> {
        let mut l = self.relation()?;
        while self.eat(&Tok::AndAnd) {
            let r = self.relation()?;
            l = mk(l.span.to(r.span), ExprKind::And(Box::new(l), Box::new(r)));
        }
        Ok(l)
    }

    fn relation(&mut self) -> Result<Expr, CompileError> {
        let mut l = self.addition()?;
        loop {
            let op = match self.peek() {
                Tok::EqEq => BinOp::Eq,
                Tok::NotEq => BinOp::Ne,
                Tok::Lt => BinOp::Lt,
                Tok::Le => BinOp::Le,
                Tok::Gt => BinOp::Gt,
                Tok::Ge => BinOp::Ge,
                Tok::In => BinOp::In,
                _ => return Ok(l),
            };
            self.bump();
            let r = self.addition()?;
            l = mk(
                l.span.to(r.span),
                ExprKind::Binary(op, Box::new(l), Box::new(r)),
            );
        }
    }

    fn addition(&mut self) -> Result<Expr, CompileError> {
        let mut l = self.multiplication()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(l),
            };
            self.bump();
            let r = self.multiplication()?;
            l = mk(
                l.span.to(r.span),
                ExprKind::Binary(op, Box::new(l), Box::new(r)),
            );
        }
    }

    fn multiplication(&mut self) -> Result<Expr, CompileError> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Rem,
                _ => return Ok(l),
            };
            self.bump();
            let r = self.unary()?;
            l = mk(
                l.span.to(r.span),
                ExprKind::Binary(op, Box::new(l), Box::new(r)),
            );
        }
    }

    fn unary(&mut self) -> Result<Expr, CompileError> {
        let start = self.span();
        match self.peek() {
            Tok::Bang => {
                let mut n = 0;
                while self.eat(&Tok::Bang) {
                    n += 1;
                }
                let mut e = self.member()?;
                for _ in 0..n {
                    e = mk(start.to(e.span), ExprKind::Not(Box::new(e)));
                }
                Ok(e)
            }
            Tok::Minus => {
                let mut n = 0;
                while self.eat(&Tok::Minus) {
                    n += 1;
                }
                let lit_start = self.pos;
                // `-9223372036854775808` does not fit before negation: take the literal here.
                if let (Some(v), Some((next, _))) =
                    (self.raw_int_at(lit_start), self.toks.get(lit_start + 1))
                    && v == 1u64 << 63
                    && !matches!(next, Tok::Dot | Tok::LBracket)
                {
                    let (_, span) = self.bump();
                    let mut e = mk(start.to(span), ExprKind::Lit(Literal::Int(i64::MIN)));
                    for _ in 1..n {
                        e = mk(start.to(e.span), ExprKind::Neg(Box::new(e)));
                    }
                    return Ok(e);
                }
                let mut e = self.member()?;
                // The innermost minus folds into a numeric literal, so that
                // -9223372036854775808 is representable.
                let is_bare_literal = self.pos == lit_start + 1;
                if is_bare_literal {
                    if let Some(v) = self.raw_int_at(lit_start) {
                        let lit = if v == 1u64 << 63 {
                            i64::MIN
                        } else if v < 1u64 << 63 {
                            -(v as i64)
                        } else {
                            return Err(CompileError::parse(
                                "integer literal out of range",
                                e.span,
                            ));
                        };
                        e = mk(start.to(e.span), ExprKind::Lit(Literal::Int(lit)));
                        n -= 1;
                    } else if let ExprKind::Lit(Literal::Double(d)) = e.kind {
                        e = mk(start.to(e.span), ExprKind::Lit(Literal::Double(-d)));
                        n -= 1;
                    }
                }
                for _ in 0..n {
                    e = mk(start.to(e.span), ExprKind::Neg(Box::new(e)));
                }
                Ok(e)
            }
            _ => self.member(),
        }
    }

    fn raw_int_at(&self, pos: usize) -> Option<u64> {
        match self.toks.get(pos) {
            Some((Tok::Int(v), _)) => Some(*v),
            _ => None,
        }
    }

    fn member(&mut self) -> Result<Expr, CompileError> {
        let mut e = self.primary()?;
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    let (tok, span) = self.bump();
                    let name = match tok {
                        Tok::Ident(s) | Tok::QuotedIdent(s) => s,
                        Tok::True => "true".into(),
                        Tok::False => "false".into(),
                        Tok::Null => "null".into(),
                        Tok::In => "in".into(),
                        other => {
                            return Err(CompileError::parse(
                                format!(
                                    "expected a field name after '.', found {}",
                                    other.describe()
                                ),
                                span,
                            ));
                        }
                    };
                    if self.peek() == &Tok::LParen {
                        self.bump();
                        let args = self.args(Tok::RParen)?;
                        let end = self.expect(Tok::RParen, "')'")?;
                        e = self.call(Some(e), name, args, span.to(end))?;
                    } else {
                        e = mk(
                            e.span.to(span),
                            ExprKind::Select {
                                operand: Box::new(e),
                                field: name,
                            },
                        );
                    }
                }
                Tok::LBracket => {
                    self.bump();
                    let idx = self.expr()?;
                    let end = self.expect(Tok::RBracket, "']'")?;
                    e = mk(
                        e.span.to(end),
                        ExprKind::Index {
                            operand: Box::new(e),
                            index: Box::new(idx),
                        },
                    );
                }
                Tok::LBrace if e.qualified_name().is_some() => {
                    return Err(CompileError::parse(
                        "message construction is not supported (riskflow has no protobuf messages)",
                        self.span(),
                    ));
                }
                _ => return Ok(e),
            }
        }
    }

    fn args(&mut self, close: Tok) -> Result<Vec<Expr>, CompileError> {
        let mut out = Vec::new();
        if *self.peek() == close {
            return Ok(out);
        }
        loop {
            out.push(self.expr()?);
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
            if *self.peek() == close {
                return Ok(out);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, CompileError> {
        let (tok, span) = self.bump();
        let lit = |l| Ok(mk(span, ExprKind::Lit(l)));
        match tok {
            Tok::Int(v) => {
                if v > i64::MAX as u64 {
                    return Err(CompileError::parse("integer literal out of range", span));
                }
                lit(Literal::Int(v as i64))
            }
            Tok::Uint(v) => lit(Literal::Uint(v)),
            Tok::Double(v) => lit(Literal::Double(v)),
            Tok::Str(s) => lit(Literal::String(s)),
            Tok::Bytes(b) => lit(Literal::Bytes(b)),
            Tok::True => lit(Literal::Bool(true)),
            Tok::False => lit(Literal::Bool(false)),
            Tok::Null => lit(Literal::Null),
            Tok::LParen => {
                let e = self.expr()?;
                self.expect(Tok::RParen, "')'")?;
                Ok(e)
            }
            Tok::LBracket => {
                self.enter()?;
                let items = self.args(Tok::RBracket)?;
                let end = self.expect(Tok::RBracket, "']' closing the list")?;
                self.depth -= 1;
                Ok(mk(span.to(end), ExprKind::List(items)))
            }
            Tok::LBrace => {
                self.enter()?;
                let mut entries = Vec::new();
                while *self.peek() != Tok::RBrace {
                    let k = self.expr()?;
                    self.expect(Tok::Colon, "':' after a map key")?;
                    let v = self.expr()?;
                    entries.push((k, v));
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
                let end = self.expect(Tok::RBrace, "'}' closing the map")?;
                self.depth -= 1;
                Ok(mk(span.to(end), ExprKind::Map(entries)))
            }
            Tok::Dot => {
                let (tok2, span2) = self.bump();
                match tok2 {
                    Tok::Ident(name) => self.ident_or_call(format!(".{name}"), span.to(span2)),
                    other => Err(CompileError::parse(
                        format!(
                            "expected an identifier after '.', found {}",
                            other.describe()
                        ),
                        span2,
                    )),
                }
            }
            Tok::Ident(name) => {
                if RESERVED.contains(&name.as_str()) {
                    return Err(CompileError::parse(
                        format!("'{name}' is a reserved word"),
                        span,
                    ));
                }
                self.ident_or_call(name, span)
            }
            other => Err(CompileError::parse(
                format!("unexpected {}", other.describe()),
                span,
            )),
        }
    }

    fn ident_or_call(&mut self, name: String, span: Span) -> Result<Expr, CompileError> {
        if self.peek() == &Tok::LParen {
            self.bump();
            let args = self.args(Tok::RParen)?;
            let end = self.expect(Tok::RParen, "')'")?;
            return self.call(None, name, args, span.to(end));
        }
        Ok(mk(span, ExprKind::Ident(name)))
    }

    fn call(
        &mut self,
        target: Option<Expr>,
        func: String,
        mut args: Vec<Expr>,
        span: Span,
    ) -> Result<Expr, CompileError> {
        let span = match &target {
            Some(t) => t.span.to(span),
            None => span,
        };
        if self.opts.macros
            && let Some(e) = expand_macro(&target, &func, &mut args, span)?
        {
            return Ok(e);
        }
        Ok(mk(
            span,
            ExprKind::Call {
                target: target.map(Box::new),
                func,
                args,
            },
        ))
    }
}

/// Depth of the tree, computed without recursion so that it is safe on any input.
fn tree_depth(root: &Expr) -> usize {
    let mut max = 0;
    let mut stack = vec![(root, 1usize)];
    while let Some((e, d)) = stack.pop() {
        max = max.max(d);
        stack.extend(children(e).into_iter().map(|c| (c, d + 1)));
    }
    max
}

fn children(e: &Expr) -> Vec<&Expr> {
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::Ident(_) => vec![],
        ExprKind::Select { operand, .. } | ExprKind::Has { operand, .. } => vec![operand],
        ExprKind::Index { operand, index } => vec![operand, index],
        ExprKind::Call { target, args, .. } => {
            target.iter().map(|t| &**t).chain(args.iter()).collect()
        }
        ExprKind::Not(x) | ExprKind::Neg(x) => vec![x],
        ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Binary(_, a, b) => vec![a, b],
        ExprKind::Cond(a, b, c) => vec![a, b, c],
        ExprKind::List(items) => items.iter().collect(),
        ExprKind::Map(entries) => entries.iter().flat_map(|(k, v)| [k, v]).collect(),
        ExprKind::Comprehension(c) => [&c.range, &c.body]
            .into_iter()
            .chain(c.filter.iter())
            .collect(),
    }
}

fn var_name(e: &Expr, what: &str) -> Result<String, CompileError> {
    match &e.kind {
        ExprKind::Ident(n) if !n.starts_with('.') => Ok(n.clone()),
        _ => Err(CompileError::parse(
            format!("{what} must be a simple identifier"),
            e.span,
        )),
    }
}

fn expand_macro(
    target: &Option<Expr>,
    func: &str,
    args: &mut Vec<Expr>,
    span: Span,
) -> Result<Option<Expr>, CompileError> {
    let n = args.len();
    if target.is_none() {
        if func == "has" && n == 1 {
            let arg = args.pop().expect("one argument");
            return match arg.kind {
                ExprKind::Select { operand, field } => {
                    Ok(Some(mk(span, ExprKind::Has { operand, field })))
                }
                _ => Err(CompileError::parse(
                    "has() needs a field selection such as has(a.b)",
                    arg.span,
                )),
            };
        }
        return Ok(None);
    }
    let Some(t) = target else { return Ok(None) };
    if func == "bind" && n == 3 && matches!(&t.kind, ExprKind::Ident(c) if c == "cel") {
        let body = args.pop().expect("3 args");
        let init = args.pop().expect("3 args");
        let var = var_name(&args[0], "cel.bind's variable")?;
        return Ok(Some(comp(
            span,
            MacroKind::Bind,
            init,
            var,
            None,
            None,
            body,
        )));
    }
    let kind = match (func, n) {
        ("all", 2 | 3) => MacroKind::All,
        ("exists", 2 | 3) => MacroKind::Exists,
        ("exists_one" | "existsOne", 2 | 3) => MacroKind::ExistsOne,
        ("map", 2 | 3) => MacroKind::Map,
        ("filter", 2) => MacroKind::Filter,
        ("transformList", 3 | 4) => MacroKind::TransformList,
        ("transformMap", 3 | 4) => MacroKind::TransformMap,
        _ => return Ok(None),
    };
    let range = t.clone();
    let two_vars = match kind {
        MacroKind::All | MacroKind::Exists | MacroKind::ExistsOne => n == 3,
        MacroKind::TransformList | MacroKind::TransformMap => true,
        _ => false,
    };
    let var1 = var_name(&args[0], "the iteration variable")?;
    let (var2, rest) = if two_vars {
        let v2 = var_name(&args[1], "the iteration variable")?;
        if v2 == var1 {
            return Err(CompileError::parse(
                "the two iteration variables must differ",
                args[1].span,
            ));
        }
        (Some(v2), args.split_off(2))
    } else {
        (None, args.split_off(1))
    };
    let mut rest = rest.into_iter();
    let (filter, body) = match (kind, rest.len()) {
        (MacroKind::Map | MacroKind::TransformList | MacroKind::TransformMap, 2) => {
            let f = rest.next().expect("2");
            (Some(f), rest.next().expect("2"))
        }
        _ => (None, rest.next().expect("1")),
    };
    Ok(Some(comp(span, kind, range, var1, var2, filter, body)))
}

fn comp(
    span: Span,
    kind: MacroKind,
    range: Expr,
    var1: String,
    var2: Option<String>,
    filter: Option<Expr>,
    body: Expr,
) -> Expr {
    mk(
        span,
        ExprKind::Comprehension(Box::new(Comprehension {
            kind,
            range,
            var1,
            var2,
            filter,
            body,
        })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_folding() {
        let e = parse("-9223372036854775808").unwrap();
        assert_eq!(e.kind, ExprKind::Lit(Literal::Int(i64::MIN)));
        let e = parse("a || b && c").unwrap();
        assert!(matches!(e.kind, ExprKind::Or(_, _)));
        assert!(parse("9223372036854775808").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = "[".repeat(100_000);
        assert!(parse(&src).is_err());
        let src = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse(&src).is_err());
    }

    #[test]
    fn errors_name_the_place() {
        let err = parse("a > 1 &&").unwrap_err();
        assert_eq!(err.message, "unexpected end of expression");
        assert_eq!(err.span.start, 8);
    }
}
