//! The compile-time environment: declared variables (each bound to a slot)
//! and the container used to resolve unqualified names.

use std::collections::HashMap;

use crate::types::Type;

/// Declarations an expression is checked against. Each variable gets a slot
/// number; evaluation reads variable values from an activation by slot.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, (usize, Type)>,
    names: Vec<String>,
    container: Option<String>,
    /// Map-typed variables whose fields are exactly their declared `name.field` children.
    closed: std::collections::HashSet<String>,
}

impl Env {
    pub fn new() -> Env {
        Env::default()
    }

    /// Declares a variable (dotted names such as `input.amount` are allowed)
    /// and returns its slot. Re-declaring a name replaces its type and keeps its slot.
    pub fn declare(&mut self, name: &str, ty: Type) -> usize {
        if let Some(entry) = self.vars.get_mut(name) {
            entry.1 = ty;
            return entry.0;
        }
        let slot = self.names.len();
        self.names.push(name.to_string());
        self.vars.insert(name.to_string(), (slot, ty));
        slot
    }

    /// Declares that the map variable `name` has no fields but its declared
    /// `name.field` children: selecting any other field is a compile error
    /// (how a flow's `input.agee` typo is caught).
    pub fn close(&mut self, name: &str) {
        self.closed.insert(name.to_string());
    }

    pub(crate) fn is_closed(&self, name: &str) -> bool {
        self.closed.contains(name)
    }

    /// Declared fields of a closed variable, for hints.
    pub(crate) fn fields_of(&self, name: &str) -> Vec<&str> {
        let prefix = format!("{name}.");
        self.names
            .iter()
            .filter_map(|n| n.strip_prefix(&prefix))
            .filter(|f| !f.contains('.'))
            .collect()
    }

    /// Sets the container (namespace) that unqualified names resolve in.
    pub fn set_container(&mut self, container: &str) {
        self.container = (!container.is_empty()).then(|| container.to_string());
    }

    pub fn var(&self, name: &str) -> Option<(usize, &Type)> {
        self.vars.get(name).map(|(s, t)| (*s, t))
    }

    pub fn slot(&self, name: &str) -> Option<usize> {
        self.vars.get(name).map(|(s, _)| *s)
    }

    /// Number of slots an activation for this environment has.
    pub fn slot_count(&self) -> usize {
        self.names.len()
    }

    /// Variable names in slot order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Names `name` may refer to, most specific first: with container
    /// `a.b`, `x` may be `a.b.x`, `a.x` or `x`.
    pub(crate) fn candidates(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(c) = &self.container {
            let mut prefix: &str = c;
            loop {
                out.push(format!("{prefix}.{name}"));
                match prefix.rfind('.') {
                    Some(i) => prefix = &prefix[..i],
                    None => break,
                }
            }
        }
        out.push(name.to_string());
        out
    }

    /// The declared name closest to `name`, for "did you mean" hints.
    pub(crate) fn suggest(&self, name: &str) -> Option<&str> {
        self.names
            .iter()
            .map(|n| (edit_distance(n, name), n))
            .filter(|(d, n)| *d <= 2.max(n.len() / 4))
            .min_by_key(|(d, _)| *d)
            .map(|(_, n)| n.as_str())
    }
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
