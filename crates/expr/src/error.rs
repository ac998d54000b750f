//! Errors of every stage, each carrying the source span it is about, and the
//! rendering of a span as `line:column` with a caret under the source.

use std::fmt;

/// A byte range in the expression source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// Which stage rejected the expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Parse,
    Check,
}

/// A parse or type-check error: what went wrong and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    pub stage: Stage,
    pub message: String,
    pub span: Span,
}

impl CompileError {
    pub fn parse(message: impl Into<String>, span: Span) -> Self {
        CompileError {
            stage: Stage::Parse,
            message: message.into(),
            span,
        }
    }
    pub fn check(message: impl Into<String>, span: Span) -> Self {
        CompileError {
            stage: Stage::Check,
            message: message.into(),
            span,
        }
    }

    /// 1-based line and column (in characters) of the error's start.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        line_col(source, self.span.start as usize)
    }

    /// `line:col: message` followed by the offending source line and a caret
    /// under the error, as users see it.
    pub fn render(&self, source: &str) -> String {
        let start = (self.span.start as usize).min(source.len());
        let (line, col) = line_col(source, start);
        let text = source.lines().nth(line - 1).unwrap_or("");
        let width = {
            let end = (self.span.end as usize).clamp(start, source.len());
            let same_line = source
                .get(start..end)
                .map(|s| s.split('\n').next().unwrap_or(""));
            same_line.map(|s| s.chars().count()).unwrap_or(1).max(1)
        };
        format!(
            "{line}:{col}: {}\n | {text}\n | {}{}",
            self.message,
            " ".repeat(col - 1),
            "^".repeat(width)
        )
    }
}

/// 1-based line and character column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let mut line = 1;
    let mut col = 1;
    for (i, c) in source.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// What kind of runtime failure an evaluation hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvalErrorKind {
    /// An arithmetic result does not fit its type.
    Overflow,
    /// Integer division or modulus by zero.
    DivisionByZero,
    /// A map has no such key, or an object no such field.
    NoSuchKey,
    /// A list index outside the list.
    IndexOutOfBounds,
    /// No overload of an operator or function accepts these argument types.
    NoMatchingOverload,
    /// A conversion or constructor got a value it cannot represent.
    InvalidArgument,
    /// A timestamp or duration outside the supported range.
    Range,
    /// A variable that was declared but not bound.
    Unbound,
}

/// A runtime error. One pointer wide, so `Result<Value, EvalError>` stays
/// small on the hot path; errors themselves are rare.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError(Box<(EvalErrorKind, Box<str>)>);

impl EvalError {
    pub fn new(kind: EvalErrorKind, message: impl Into<String>) -> Self {
        EvalError(Box::new((kind, message.into().into_boxed_str())))
    }
    pub fn kind(&self) -> EvalErrorKind {
        self.0.0
    }
    pub fn message(&self) -> &str {
        &self.0.1
    }
    pub fn overflow(what: &str) -> Self {
        Self::new(EvalErrorKind::Overflow, format!("{what} overflow"))
    }
    pub fn no_overload(op: &str) -> Self {
        Self::new(
            EvalErrorKind::NoMatchingOverload,
            format!("no matching overload for '{op}'"),
        )
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(EvalErrorKind::InvalidArgument, msg)
    }
    pub fn range(msg: impl Into<String>) -> Self {
        Self::new(EvalErrorKind::Range, msg)
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for EvalError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_error() {
        let err = CompileError::parse("unexpected token", Span::new(9, 10));
        let src = "a > 1 &&\n  b ) c";
        // offset 9 is the first character of line 2
        assert_eq!(err.line_col(src), (2, 1));
        let rendered = CompileError::parse("unexpected ')'", Span::new(13, 14)).render(src);
        assert_eq!(rendered, "2:5: unexpected ')'\n |   b ) c\n |     ^");
    }
}
