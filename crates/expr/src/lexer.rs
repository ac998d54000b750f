//! Lexer: source text to tokens with spans. String and bytes literals are
//! decoded here (escapes, raw and triple-quoted forms).

use crate::error::{CompileError, Span};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An integer literal without sign; may exceed `i64::MAX` (for `-9223372036854775808`).
    Int(u64),
    Uint(u64),
    Double(f64),
    Str(String),
    Bytes(Vec<u8>),
    Ident(String),
    /// A backtick-quoted field name.
    QuotedIdent(String),
    True,
    False,
    Null,
    In,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Dot,
    Comma,
    Colon,
    Question,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    AndAnd,
    OrOr,
    Eof,
}

impl Tok {
    pub fn describe(&self) -> String {
        match self {
            Tok::Int(v) => format!("integer {v}"),
            Tok::Uint(v) => format!("unsigned integer {v}u"),
            Tok::Double(v) => format!("number {v}"),
            Tok::Str(_) => "string literal".into(),
            Tok::Bytes(_) => "bytes literal".into(),
            Tok::Ident(s) | Tok::QuotedIdent(s) => format!("identifier '{s}'"),
            Tok::Eof => "end of expression".into(),
            other => format!("'{}'", other.symbol()),
        }
    }
    fn symbol(&self) -> &'static str {
        match self {
            Tok::True => "true",
            Tok::False => "false",
            Tok::Null => "null",
            Tok::In => "in",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Dot => ".",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::Question => "?",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Bang => "!",
            Tok::EqEq => "==",
            Tok::NotEq => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            _ => "?",
        }
    }
}

/// Words that may not be used as identifiers (but may be field names).
pub const RESERVED: &[&str] = &[
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

pub fn tokenize(src: &str) -> Result<Vec<(Tok, Span)>, CompileError> {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
    };
    let mut out = Vec::new();
    loop {
        let (tok, span) = lx.next()?;
        let end = tok == Tok::Eof;
        out.push((tok, span));
        if end {
            return Ok(out);
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self, k: usize) -> u8 {
        self.bytes.get(self.pos + k).copied().unwrap_or(0)
    }

    fn skip_trivia(&mut self) {
        loop {
            match self.peek(0) {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0c => self.pos += 1,
                b'/' if self.peek(1) == b'/' => {
                    while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn next(&mut self) -> Result<(Tok, Span), CompileError> {
        self.skip_trivia();
        let start = self.pos;
        if self.pos >= self.bytes.len() {
            return Ok((Tok::Eof, Span::new(start, start)));
        }
        let c = self.bytes[self.pos];
        let two = |lx: &mut Self, t: Tok| {
            lx.pos += 2;
            t
        };
        let one = |lx: &mut Self, t: Tok| {
            lx.pos += 1;
            t
        };
        let tok = match c {
            b'(' => one(self, Tok::LParen),
            b')' => one(self, Tok::RParen),
            b'[' => one(self, Tok::LBracket),
            b']' => one(self, Tok::RBracket),
            b'{' => one(self, Tok::LBrace),
            b'}' => one(self, Tok::RBrace),
            b',' => one(self, Tok::Comma),
            b':' => one(self, Tok::Colon),
            b'?' => one(self, Tok::Question),
            b'+' => one(self, Tok::Plus),
            b'-' => one(self, Tok::Minus),
            b'*' => one(self, Tok::Star),
            b'/' => one(self, Tok::Slash),
            b'%' => one(self, Tok::Percent),
            b'=' if self.peek(1) == b'=' => two(self, Tok::EqEq),
            b'!' if self.peek(1) == b'=' => two(self, Tok::NotEq),
            b'!' => one(self, Tok::Bang),
            b'<' if self.peek(1) == b'=' => two(self, Tok::Le),
            b'<' => one(self, Tok::Lt),
            b'>' if self.peek(1) == b'=' => two(self, Tok::Ge),
            b'>' => one(self, Tok::Gt),
            b'&' if self.peek(1) == b'&' => two(self, Tok::AndAnd),
            b'|' if self.peek(1) == b'|' => two(self, Tok::OrOr),
            b'.' if self.peek(1).is_ascii_digit() => self.number()?,
            b'.' => one(self, Tok::Dot),
            b'0'..=b'9' => self.number()?,
            b'"' | b'\'' => self.string(false, false)?,
            b'`' => self.quoted_ident()?,
            b'r' | b'R' if matches!(self.peek(1), b'"' | b'\'') => {
                self.pos += 1;
                self.string(true, false)?
            }
            b'b' | b'B' if matches!(self.peek(1), b'"' | b'\'') => {
                self.pos += 1;
                self.string(false, true)?
            }
            b'b' | b'B'
                if matches!(self.peek(1), b'r' | b'R') && matches!(self.peek(2), b'"' | b'\'') =>
            {
                self.pos += 2;
                self.string(true, true)?
            }
            b'r' | b'R'
                if matches!(self.peek(1), b'b' | b'B') && matches!(self.peek(2), b'"' | b'\'') =>
            {
                self.pos += 2;
                self.string(true, true)?
            }
            c if c == b'_' || c.is_ascii_alphabetic() => {
                while self.peek(0) == b'_' || self.peek(0).is_ascii_alphanumeric() {
                    self.pos += 1;
                }
                match &self.src[start..self.pos] {
                    "true" => Tok::True,
                    "false" => Tok::False,
                    "null" => Tok::Null,
                    "in" => Tok::In,
                    s => Tok::Ident(s.to_string()),
                }
            }
            _ => {
                let ch = self.src[start..].chars().next().unwrap_or('?');
                return Err(CompileError::parse(
                    format!("unexpected character '{ch}'"),
                    Span::new(start, start + ch.len_utf8()),
                ));
            }
        };
        Ok((tok, Span::new(start, self.pos)))
    }

    fn quoted_ident(&mut self) -> Result<Tok, CompileError> {
        let start = self.pos;
        self.pos += 1;
        let body_start = self.pos;
        while self.pos < self.bytes.len() && self.bytes[self.pos] != b'`' {
            let b = self.bytes[self.pos];
            if !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/' | b' ')) {
                return Err(CompileError::parse(
                    "invalid character in quoted identifier",
                    Span::new(self.pos, self.pos + 1),
                ));
            }
            self.pos += 1;
        }
        if self.pos >= self.bytes.len() {
            return Err(CompileError::parse(
                "unterminated quoted identifier",
                Span::new(start, self.pos),
            ));
        }
        let name = self.src[body_start..self.pos].to_string();
        self.pos += 1;
        Ok(Tok::QuotedIdent(name))
    }

    fn number(&mut self) -> Result<Tok, CompileError> {
        let start = self.pos;
        let err =
            |msg: &str, end: usize| CompileError::parse(msg.to_string(), Span::new(start, end));
        if self.peek(0) == b'0' && matches!(self.peek(1), b'x' | b'X') {
            self.pos += 2;
            let ds = self.pos;
            while self.peek(0).is_ascii_hexdigit() {
                self.pos += 1;
            }
            let v = u64::from_str_radix(&self.src[ds..self.pos], 16)
                .map_err(|_| err("invalid hexadecimal literal", self.pos))?;
            return self.int_suffix(v);
        }
        while self.peek(0).is_ascii_digit() {
            self.pos += 1;
        }
        let mut is_float = false;
        if self.peek(0) == b'.' && self.peek(1).is_ascii_digit() {
            is_float = true;
            self.pos += 1;
            while self.peek(0).is_ascii_digit() {
                self.pos += 1;
            }
        }
        if matches!(self.peek(0), b'e' | b'E') {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(0), b'+' | b'-') {
                self.pos += 1;
            }
            if self.peek(0).is_ascii_digit() {
                is_float = true;
                while self.peek(0).is_ascii_digit() {
                    self.pos += 1;
                }
            } else {
                self.pos = save;
            }
        }
        let text = &self.src[start..self.pos];
        if is_float {
            let v: f64 = text.parse().map_err(|_| err("invalid number", self.pos))?;
            return Ok(Tok::Double(v));
        }
        let v: u64 = text
            .parse()
            .map_err(|_| err("integer literal out of range", self.pos))?;
        self.int_suffix(v)
    }

    fn int_suffix(&mut self, v: u64) -> Result<Tok, CompileError> {
        if matches!(self.peek(0), b'u' | b'U') {
            self.pos += 1;
            Ok(Tok::Uint(v))
        } else {
            Ok(Tok::Int(v))
        }
    }

    fn string(&mut self, raw: bool, bytes: bool) -> Result<Tok, CompileError> {
        let start = self.pos;
        let q = self.bytes[self.pos];
        let triple = self.peek(1) == q && self.peek(2) == q;
        self.pos += if triple { 3 } else { 1 };
        let mut out: Vec<u8> = Vec::new();
        loop {
            if self.pos >= self.bytes.len() {
                return Err(CompileError::parse(
                    "unterminated string literal",
                    Span::new(start, self.pos),
                ));
            }
            let c = self.bytes[self.pos];
            if c == q && (!triple || (self.peek(1) == q && self.peek(2) == q)) {
                self.pos += if triple { 3 } else { 1 };
                break;
            }
            if !triple && (c == b'\n' || c == b'\r') {
                return Err(CompileError::parse(
                    "newline in string literal",
                    Span::new(start, self.pos),
                ));
            }
            if c == b'\\' && !raw {
                self.escape(&mut out, bytes)?;
                continue;
            }
            if c == b'\\' && raw {
                // In raw strings a backslash is literal, but `\<quote>` does not end the string.
                out.push(c);
                self.pos += 1;
                if self.peek(0) == q && !triple {
                    out.push(q);
                    self.pos += 1;
                }
                continue;
            }
            out.push(c);
            self.pos += 1;
        }
        if bytes {
            Ok(Tok::Bytes(out))
        } else {
            String::from_utf8(out).map(Tok::Str).map_err(|_| {
                CompileError::parse(
                    "string literal is not valid UTF-8",
                    Span::new(start, self.pos),
                )
            })
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>, bytes: bool) -> Result<(), CompileError> {
        let esc_start = self.pos;
        let bad = |lx: &Self, msg: &str| {
            CompileError::parse(
                msg.to_string(),
                Span::new(esc_start, lx.pos.max(esc_start + 1)),
            )
        };
        self.pos += 1;
        let c = self.peek(0);
        self.pos += 1;
        let simple = match c {
            b'a' => Some(7u8),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' => Some(b'\\'),
            b'?' => Some(b'?'),
            b'"' => Some(b'"'),
            b'\'' => Some(b'\''),
            b'`' => Some(b'`'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let take_digits = |lx: &mut Self, n: usize, radix: u32| -> Result<u32, CompileError> {
            let s = lx
                .src
                .get(lx.pos..lx.pos + n)
                .ok_or_else(|| bad(lx, "truncated escape sequence"))?;
            let v =
                u32::from_str_radix(s, radix).map_err(|_| bad(lx, "invalid escape sequence"))?;
            lx.pos += n;
            Ok(v)
        };
        match c {
            b'x' | b'X' => {
                let v = take_digits(self, 2, 16)?;
                push_code(out, v, bytes, || bad(self, "invalid escape"))
            }
            b'u' => {
                let v = take_digits(self, 4, 16)?;
                if bytes {
                    return Err(bad(self, "\\u escapes are not allowed in bytes literals"));
                }
                push_char(out, v, || bad(self, "invalid unicode escape"))
            }
            b'U' => {
                let v = take_digits(self, 8, 16)?;
                if bytes {
                    return Err(bad(self, "\\U escapes are not allowed in bytes literals"));
                }
                push_char(out, v, || bad(self, "invalid unicode escape"))
            }
            b'0'..=b'3' => {
                self.pos -= 1;
                let v = take_digits(self, 3, 8)?;
                push_code(out, v, bytes, || bad(self, "invalid escape"))
            }
            _ => Err(bad(self, "invalid escape sequence")),
        }
    }
}

fn push_code(
    out: &mut Vec<u8>,
    v: u32,
    bytes: bool,
    err: impl Fn() -> CompileError,
) -> Result<(), CompileError> {
    if bytes {
        out.push(u8::try_from(v).map_err(|_| err())?);
        Ok(())
    } else {
        push_char(out, v, err)
    }
}

fn push_char(
    out: &mut Vec<u8>,
    v: u32,
    err: impl Fn() -> CompileError,
) -> Result<(), CompileError> {
    let ch = char::from_u32(v).ok_or_else(err)?;
    let mut buf = [0u8; 4];
    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    Ok(())
}
