//! Diagnostics: errors found while loading a project, each naming the file,
//! line and column, all reported at once.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

/// Finds where things are in a YAML file's text, so that errors found after
/// deserializing (which loses positions) can still point at the source.
pub struct Locator<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Locator<'_> {
    /// Position of `needle`, preferring its first occurrence after `anchor`
    /// (e.g. the rule id or the variable name it belongs to).
    pub fn find(&self, anchor: &str, needle: &str) -> (usize, usize) {
        let start = if anchor.is_empty() {
            0
        } else {
            self.key_offset(anchor).unwrap_or(0)
        };
        let off = self.text[start..]
            .find(needle)
            .map(|o| o + start)
            .or_else(|| self.text.find(needle))
            .unwrap_or(start);
        line_col(self.text, off)
    }

    fn key_offset(&self, anchor: &str) -> Option<usize> {
        for pat in [
            format!("{anchor}:"),
            format!("id: {anchor}"),
            format!("\"{anchor}\""),
            anchor.to_string(),
        ] {
            if let Some(o) = self.text.find(&pat) {
                return Some(o);
            }
        }
        None
    }

    pub fn at(&self, anchor: &str, needle: &str, message: impl Into<String>) -> Diagnostic {
        let (line, col) = self.find(anchor, needle);
        Diagnostic {
            file: self.file.to_path_buf(),
            line,
            col,
            message: message.into(),
        }
    }

    /// A CEL error inside `expr`, positioned at the offending character.
    pub fn cel(
        &self,
        anchor: &str,
        expr: &str,
        what: &str,
        err: &riskflow_expr::CompileError,
    ) -> Diagnostic {
        let (line, col) = self.find(anchor, expr);
        let (eline, ecol) = err.line_col(expr);
        let (line, col) = if eline == 1 {
            (line, col + ecol - 1)
        } else {
            (line + eline - 1, ecol)
        };
        let rendered = err.render(expr);
        let detail = rendered
            .split_once('\n')
            .map(|(_, rest)| rest)
            .unwrap_or("");
        Diagnostic {
            file: self.file.to_path_buf(),
            line,
            col,
            message: format!("{what}: {}\n{detail}", err.message),
        }
    }
}

pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    riskflow_expr::error::line_col(text, offset)
}
