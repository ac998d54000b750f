//! Decision tables: rows of unary-test cells loaded from CSV or XLSX, an
//! index that makes evaluation sub-linear in the number of rows, the DMN hit
//! policies, and the static analysis behind `riskflow check` (overlaps in
//! UNIQUE tables, rows that can never match, gaps in complete tables).
//!
//! The index: for each column whose cells are all literal tests, the value
//! axis is cut into elementary regions at every literal in the column; each
//! region keeps a bitset of the rows that accept it. A lookup binary-searches
//! (numbers) or hashes (strings, bools) the input into its region and ANDs
//! the column bitsets, so only rows that pass every indexed column are
//! visited. Columns with expression cells (`? …`) are checked row by row.

use std::collections::HashMap;
use std::path::Path;

use riskflow_expr::{Key, Program, Value};

use crate::cell::{Test, parse_cell};
use crate::project::{Aggregate, TableHitPolicy};

/// Raw cells as read from the file, with the 1-based line of each row.
#[derive(Debug, Clone)]
pub struct Sheet {
    pub header: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Reads a CSV or XLSX (`.xlsx`, `.xlsm`) sheet.
pub fn read_sheet(path: &Path, sheet: Option<&str>) -> Result<Sheet, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => read_csv(path),
        "xlsx" | "xlsm" | "xls" | "ods" => read_xlsx(path, sheet),
        _ => Err(format!(
            "unsupported table file type {ext:?} (use .csv or .xlsx)"
        )),
    }
}

fn read_csv(path: &Path) -> Result<Sheet, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .comment(Some(b'#'))
        .from_path(path)
        .map_err(|e| e.to_string())?;
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| match e.position() {
            Some(p) => format!("line {}: {e}", p.line()),
            None => e.to_string(),
        })?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        rows.push((line, rec.iter().map(|c| c.to_string()).collect()));
    }
    Ok(Sheet { header, rows })
}

fn read_xlsx(path: &Path, sheet: Option<&str>) -> Result<Sheet, String> {
    use calamine::{Data, Reader, open_workbook_auto};
    let mut wb = open_workbook_auto(path).map_err(|e| e.to_string())?;
    let name = match sheet {
        Some(s) => s.to_string(),
        None => wb
            .sheet_names()
            .first()
            .cloned()
            .ok_or("the workbook has no sheets")?,
    };
    let range = wb
        .worksheet_range(&name)
        .map_err(|e| format!("sheet {name:?}: {e}"))?;
    let cell = |d: &Data| match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                format!("{f}")
            }
        }
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    };
    let start_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    let mut it = range.rows().enumerate();
    let header = match it.next() {
        Some((_, r)) => r.iter().map(|c| cell(c).trim().to_string()).collect(),
        None => return Err(format!("sheet {name:?} is empty")),
    };
    let rows = it
        .map(|(i, r)| (start_row + i + 1, r.iter().map(cell).collect::<Vec<_>>()))
        .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
        .collect();
    Ok(Sheet { header, rows })
}

/// A compiled table.
pub struct Table {
    pub name: String,
    pub policy: TableHitPolicy,
    pub aggregate: Option<Aggregate>,
    /// Input column names, in sheet order of `inputs`.
    pub input_names: Vec<String>,
    pub output_names: Vec<String>,
    pub rows: Vec<Row>,
    /// Shared names for traces.
    pub key: std::sync::Arc<str>,
    pub input_keys: Vec<std::sync::Arc<str>>,
    pub output_keys: Vec<std::sync::Arc<str>>,
    /// Input columns whose values are integers (analysis picks integer examples there).
    pub integer_columns: Vec<bool>,
    /// Per input column: the index, when every cell is a literal test.
    index: Vec<Option<ColumnIndex>>,
}

pub struct Row {
    /// 1-based line in the source file.
    pub line: usize,
    pub tests: Vec<Test>,
    /// Compiled programs for `Test::Expr` cells (same positions as `tests`).
    pub exprs: Vec<Option<Program>>,
    pub outputs: Vec<Value>,
    pub priority: i64,
}

/// Bitset of rows.
#[derive(Clone, Debug, PartialEq)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(words: usize) -> Bits {
        Bits(vec![0; words])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
}

enum ColumnIndex {
    /// Numeric axis: sorted cut points; region 2k+1 is the point cuts[k],
    /// region 2k the open interval below it; `regions[2*len]` is above the last cut.
    Numeric {
        cuts: Vec<f64>,
        regions: Vec<Bits>,
        other: Bits,
    },
    /// Discrete values (strings, bools): one bitset per literal, `other` for anything else.
    Discrete {
        map: HashMap<Key, Bits>,
        other: Bits,
    },
}

/// How many bitset words an index may hold before the column is left unindexed.
const MAX_INDEX_WORDS: usize = 8 << 20;

impl ColumnIndex {
    fn build(col: usize, rows: &[Row], words: usize) -> Option<ColumnIndex> {
        let mut numbers: Vec<f64> = Vec::new();
        let mut discrete: Vec<Value> = Vec::new();
        for r in rows {
            for v in test_literals(&r.tests[col])? {
                match v {
                    Value::Int(_) | Value::Uint(_) | Value::Double(_) => {
                        numbers.push(v.as_f64().unwrap_or(f64::NAN))
                    }
                    Value::String(_) | Value::Bool(_) => discrete.push(v.clone()),
                    _ => return None,
                }
            }
        }
        if !numbers.is_empty() && !discrete.is_empty() {
            return None;
        }
        let fill = |rep: &Value| {
            let mut b = Bits::new(words);
            for (i, r) in rows.iter().enumerate() {
                if r.tests[col].matches(rep) {
                    b.set(i);
                }
            }
            b
        };
        if !numbers.is_empty() {
            let other = fill(&Value::Null);
            numbers.retain(|n| !n.is_nan());
            numbers.sort_by(|a, b| a.total_cmp(b));
            numbers.dedup();
            if (2 * numbers.len() + 1) * words > MAX_INDEX_WORDS {
                return None;
            }
            let regions = region_representatives(&numbers)
                .iter()
                .map(|rep| fill(&Value::Double(*rep)))
                .collect();
            Some(ColumnIndex::Numeric {
                cuts: numbers,
                regions,
                other,
            })
        } else {
            let mut map = HashMap::new();
            for v in discrete {
                let k = Key::from_value(&v).ok()?;
                map.entry(k).or_insert_with(|| fill(&v));
            }
            // "anything else" for a discrete column: a value equal to no literal.
            let other_value = Value::string("\u{0}riskflow-other");
            Some(ColumnIndex::Discrete {
                map,
                other: fill(&other_value),
            })
        }
    }

    fn lookup(&self, v: &Value) -> &Bits {
        match self {
            ColumnIndex::Numeric {
                cuts,
                regions,
                other,
            } => match v.as_f64() {
                Some(x) if !x.is_nan() => {
                    let region = match cuts.binary_search_by(|c| c.total_cmp(&x)) {
                        Ok(k) => 2 * k + 1,
                        Err(k) => 2 * k,
                    };
                    &regions[region]
                }
                _ => other,
            },
            ColumnIndex::Discrete { map, other } => match Key::from_value(v) {
                Ok(k) => map.get(&k).unwrap_or(other),
                Err(_) => other,
            },
        }
    }
}

/// One representative per elementary region around sorted cut points.
fn region_representatives(cuts: &[f64]) -> Vec<f64> {
    let mut reps = Vec::with_capacity(2 * cuts.len() + 1);
    for (k, c) in cuts.iter().enumerate() {
        let below = if k == 0 {
            c - 1.0 - c.abs()
        } else {
            (cuts[k - 1] + c) / 2.0
        };
        reps.push(below);
        reps.push(*c);
    }
    let last = cuts.last().copied().unwrap_or(0.0);
    reps.push(last + 1.0 + last.abs());
    reps
}

/// The literals a test mentions, or None when it is not a literal test.
fn test_literals(t: &Test) -> Option<Vec<&Value>> {
    Some(match t {
        Test::Any => vec![],
        Test::Eq(v) => vec![v],
        Test::OneOf(vs) | Test::NotOneOf(vs) => vs.iter().collect(),
        Test::Cmp(_, v) => vec![v],
        Test::Range { lo, hi } => lo.iter().chain(hi.iter()).map(|b| &b.value).collect(),
        Test::Expr(_) => return None,
    })
}

/// An error while evaluating a table.
#[derive(Debug, Clone, PartialEq)]
pub enum TableError {
    /// UNIQUE: more than one row matched.
    NotUnique { lines: Vec<usize> },
    /// ANY: matching rows disagree on their outputs.
    AnyConflict { lines: Vec<usize> },
    /// An expression cell failed.
    Cell {
        line: usize,
        column: String,
        message: String,
    },
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableError::NotUnique { lines } => {
                write!(f, "hit policy UNIQUE but rows on lines {lines:?} all match")
            }
            TableError::AnyConflict { lines } => write!(
                f,
                "hit policy ANY but matching rows on lines {lines:?} give different outputs"
            ),
            TableError::Cell {
                line,
                column,
                message,
            } => write!(f, "line {line}, column {column}: {message}"),
        }
    }
}

/// The result of a table evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct TableResult {
    /// Indices (into `rows`) of the rows that produced the result.
    pub rows: Vec<usize>,
    /// One value per output column: a scalar for single-hit policies, a list for
    /// COLLECT / RULE ORDER, the aggregate for COLLECT with an aggregator.
    pub outputs: Vec<Value>,
}

impl Table {
    pub fn new(
        name: String,
        policy: TableHitPolicy,
        aggregate: Option<Aggregate>,
        input_names: Vec<String>,
        output_names: Vec<String>,
        rows: Vec<Row>,
    ) -> Table {
        let words = rows.len().div_ceil(64).max(1);
        let index = (0..input_names.len())
            .map(|c| ColumnIndex::build(c, &rows, words))
            .collect();
        let integer_columns = vec![false; input_names.len()];
        let key = std::sync::Arc::from(name.as_str());
        let input_keys = input_names
            .iter()
            .map(|n| std::sync::Arc::from(n.as_str()))
            .collect();
        let output_keys = output_names
            .iter()
            .map(|n| std::sync::Arc::from(n.as_str()))
            .collect();
        Table {
            key,
            input_keys,
            output_keys,
            name,
            policy,
            aggregate,
            input_names,
            output_names,
            rows,
            integer_columns,
            index,
        }
    }

    /// Whether every input column is indexed (no row-by-row scan of any column).
    pub fn fully_indexed(&self) -> bool {
        self.index.iter().all(Option::is_some)
    }

    /// Evaluates with the column inputs; `eval_cell` evaluates an expression cell
    /// of `(row, column)` against the input value.
    pub fn eval(
        &self,
        inputs: &[Value],
        mut eval_cell: impl FnMut(&Program, &Value) -> Result<bool, String>,
    ) -> Result<TableResult, TableError> {
        let mut candidates: Option<Bits> = None;
        for (c, idx) in self.index.iter().enumerate() {
            if let Some(idx) = idx {
                let b = idx.lookup(&inputs[c]);
                candidates = Some(match candidates {
                    None => b.clone(),
                    Some(mut acc) => {
                        for (w, x) in acc.0.iter_mut().zip(b.0.iter()) {
                            *w &= x;
                        }
                        acc
                    }
                });
            }
        }
        let single = matches!(self.policy, TableHitPolicy::First);
        let mut hits = Vec::new();
        let mut check_row = |i: usize, hits: &mut Vec<usize>| -> Result<bool, TableError> {
            let row = &self.rows[i];
            for (c, idx) in self.index.iter().enumerate() {
                if idx.is_some() {
                    continue;
                }
                let ok = match (&row.tests[c], &row.exprs[c]) {
                    (Test::Expr(_), Some(p)) => {
                        eval_cell(p, &inputs[c]).map_err(|message| TableError::Cell {
                            line: row.line,
                            column: self.input_names[c].clone(),
                            message,
                        })?
                    }
                    (t, _) => t.matches(&inputs[c]),
                };
                if !ok {
                    return Ok(false);
                }
            }
            hits.push(i);
            Ok(single)
        };
        match &candidates {
            Some(bits) => {
                'outer: for (w, word) in bits.0.iter().enumerate() {
                    let mut word = *word;
                    while word != 0 {
                        let i = w * 64 + word.trailing_zeros() as usize;
                        word &= word - 1;
                        if check_row(i, &mut hits)? {
                            break 'outer;
                        }
                    }
                }
            }
            None => {
                for i in 0..self.rows.len() {
                    if check_row(i, &mut hits)? {
                        break;
                    }
                }
            }
        }
        self.apply_policy(hits)
    }

    fn apply_policy(&self, hits: Vec<usize>) -> Result<TableResult, TableError> {
        let n_out = self.output_names.len();
        let none = || TableResult {
            rows: vec![],
            outputs: vec![Value::Null; n_out],
        };
        let one = |i: usize| TableResult {
            rows: vec![i],
            outputs: self.rows[i].outputs.clone(),
        };
        let lines = |hits: &[usize]| hits.iter().map(|i| self.rows[*i].line).collect::<Vec<_>>();
        Ok(match self.policy {
            TableHitPolicy::First => hits.first().map(|i| one(*i)).unwrap_or_else(none),
            TableHitPolicy::Unique => match hits.len() {
                0 => none(),
                1 => one(hits[0]),
                _ => {
                    return Err(TableError::NotUnique {
                        lines: lines(&hits),
                    });
                }
            },
            TableHitPolicy::Any => {
                let Some(first) = hits.first() else {
                    return Ok(none());
                };
                let out = &self.rows[*first].outputs;
                if hits.iter().any(|i| {
                    self.rows[*i]
                        .outputs
                        .iter()
                        .zip(out)
                        .any(|(a, b)| !a.cel_eq(b))
                }) {
                    return Err(TableError::AnyConflict {
                        lines: lines(&hits),
                    });
                }
                one(*first)
            }
            TableHitPolicy::Priority => hits
                .iter()
                .copied()
                .max_by(|a, b| {
                    self.rows[*a]
                        .priority
                        .cmp(&self.rows[*b].priority)
                        .then(b.cmp(a))
                })
                .map(one)
                .unwrap_or_else(none),
            TableHitPolicy::RuleOrder | TableHitPolicy::Collect => {
                let mut outputs = Vec::with_capacity(n_out);
                for c in 0..n_out {
                    let vals: Vec<Value> = hits
                        .iter()
                        .map(|i| self.rows[*i].outputs[c].clone())
                        .collect();
                    outputs.push(match (self.policy, self.aggregate) {
                        (TableHitPolicy::Collect, Some(agg)) => aggregate(agg, &vals),
                        _ => Value::list(vals),
                    });
                }
                TableResult {
                    rows: hits,
                    outputs,
                }
            }
        })
    }
}

fn aggregate(agg: Aggregate, vals: &[Value]) -> Value {
    if agg == Aggregate::Count {
        return Value::Int(vals.len() as i64);
    }
    let all_int = vals.iter().all(|v| matches!(v, Value::Int(_)));
    if all_int {
        let ints = vals.iter().filter_map(|v| {
            if let Value::Int(i) = v {
                Some(*i)
            } else {
                None
            }
        });
        return match agg {
            Aggregate::Sum => Value::Int(ints.fold(0i64, |a, b| a.saturating_add(b))),
            Aggregate::Min => ints.min().map(Value::Int).unwrap_or(Value::Null),
            Aggregate::Max => ints.max().map(Value::Int).unwrap_or(Value::Null),
            Aggregate::Count => Value::Null,
        };
    }
    let fs = vals.iter().filter_map(Value::as_f64);
    match agg {
        Aggregate::Sum => Value::Double(fs.sum()),
        Aggregate::Min => fs
            .reduce(f64::min)
            .map(Value::Double)
            .unwrap_or(Value::Null),
        Aggregate::Max => fs
            .reduce(f64::max)
            .map(Value::Double)
            .unwrap_or(Value::Null),
        Aggregate::Count => Value::Null,
    }
}

/// Parses a row's cells (the column's input is a string when `string_cols[c]`).
pub fn parse_tests(cells: &[&str], string_cols: &[bool]) -> Result<Vec<Test>, (usize, String)> {
    cells
        .iter()
        .zip(string_cols)
        .enumerate()
        .map(|(c, (s, sc))| parse_cell(s, *sc).map_err(|e| (c, e)))
        .collect()
}

// ------------------------------------------------------------------ analysis

/// A finding of `riskflow check` about a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub line: usize,
    pub message: String,
}

/// Representative values of a column: one per elementary region.
fn column_reps(rows: &[Row], col: usize, integer: bool) -> Option<Vec<Value>> {
    let mut numbers = Vec::new();
    let mut discrete: Vec<Value> = Vec::new();
    for r in rows {
        for v in test_literals(&r.tests[col])? {
            match v {
                Value::Int(_) | Value::Uint(_) | Value::Double(_) => {
                    numbers.push(v.as_f64().unwrap_or(0.0))
                }
                other => {
                    if !discrete.iter().any(|d| d.cel_eq(other)) {
                        discrete.push(other.clone())
                    }
                }
            }
        }
    }
    if !numbers.is_empty() {
        numbers.sort_by(|a, b| a.total_cmp(b));
        numbers.dedup();
        if integer {
            // Integer inputs: one integer per region, skipping regions that hold none.
            let mut reps = Vec::new();
            let first = numbers[0];
            reps.push(Value::Int(first.ceil() as i64 - 1));
            for (k, c) in numbers.iter().enumerate() {
                if c.fract() == 0.0 {
                    reps.push(Value::Int(*c as i64));
                }
                let next = numbers.get(k + 1).copied().unwrap_or(f64::INFINITY);
                let candidate = c.floor() + 1.0;
                if candidate < next {
                    reps.push(Value::Int(candidate as i64));
                }
            }
            return Some(reps);
        }
        Some(
            region_representatives(&numbers)
                .into_iter()
                .map(Value::Double)
                .collect(),
        )
    } else if discrete.is_empty() {
        Some(vec![Value::Null])
    } else {
        if !discrete.iter().all(|d| matches!(d, Value::Bool(_))) || discrete.len() < 2 {
            discrete.push(Value::string("(any other value)"));
        }
        Some(discrete)
    }
}

fn show(input_names: &[String], combo: &[Value]) -> String {
    let parts: Vec<String> = input_names
        .iter()
        .zip(combo)
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    parts.join(", ")
}

const MAX_COMBOS: usize = 200_000;

/// Overlaps (UNIQUE/ANY), rows that can never match, and gaps (when `complete`).
pub fn analyze(t: &Table, complete: bool) -> Result<Vec<Finding>, String> {
    let cols = t.input_names.len();
    let mut reps = Vec::with_capacity(cols);
    for c in 0..cols {
        match column_reps(&t.rows, c, t.integer_columns[c]) {
            Some(r) => reps.push(r),
            None => {
                return Err(format!(
                    "column {} has expression cells; overlap and gap analysis covers literal tests only",
                    t.input_names[c]
                ));
            }
        }
    }
    let mut findings = Vec::new();
    // Per row and column, which representatives it accepts.
    let accepts: Vec<Vec<Vec<usize>>> = t
        .rows
        .iter()
        .map(|r| {
            (0..cols)
                .map(|c| {
                    (0..reps[c].len())
                        .filter(|k| r.tests[c].matches(&reps[c][*k]))
                        .collect()
                })
                .collect()
        })
        .collect();
    for (i, r) in t.rows.iter().enumerate() {
        if let Some(c) = (0..cols).find(|c| accepts[i][*c].is_empty()) {
            findings.push(Finding {
                line: r.line,
                message: format!(
                    "row can never match: no value of {} passes {}",
                    t.input_names[c], r.tests[c]
                ),
            });
        }
    }
    if matches!(t.policy, TableHitPolicy::Unique | TableHitPolicy::Any) {
        for i in 0..t.rows.len() {
            for j in i + 1..t.rows.len() {
                let mut combo = Vec::with_capacity(cols);
                let overlap = (0..cols).all(|c| {
                    match accepts[i][c].iter().find(|k| accepts[j][c].contains(k)) {
                        Some(k) => {
                            combo.push(reps[c][*k].clone());
                            true
                        }
                        None => false,
                    }
                });
                let same_out = t.rows[i]
                    .outputs
                    .iter()
                    .zip(&t.rows[j].outputs)
                    .all(|(a, b)| a.cel_eq(b));
                if overlap && !(t.policy == TableHitPolicy::Any && same_out) {
                    findings.push(Finding {
                        line: t.rows[j].line,
                        message: format!(
                            "overlaps the row on line {}: both match {}",
                            t.rows[i].line,
                            show(&t.input_names, &combo)
                        ),
                    });
                }
            }
        }
    }
    if t.policy == TableHitPolicy::First {
        // A row is shadowed when every input it accepts is caught by an earlier row.
        for (i, r) in t.rows.iter().enumerate() {
            let n: usize = accepts[i].iter().map(|a| a.len()).product();
            if n == 0 || n > MAX_COMBOS / 10 {
                continue;
            }
            let mut shadowed = true;
            let mut example = None;
            for_each_combo(&accepts[i], |ks| {
                let earlier = (0..i).find(|&j| (0..cols).all(|c| accepts[j][c].contains(&ks[c])));
                match earlier {
                    Some(j) => {
                        if example.is_none() {
                            example = Some((j, ks.to_vec()));
                        }
                        true
                    }
                    None => {
                        shadowed = false;
                        false
                    }
                }
            });
            if shadowed && let Some((j, ks)) = example {
                let combo: Vec<Value> = ks
                    .iter()
                    .enumerate()
                    .map(|(c, k)| reps[c][*k].clone())
                    .collect();
                findings.push(Finding {
                        line: r.line,
                        message: format!(
                            "row can never match: earlier rows catch every input it accepts (e.g. {} goes to line {})",
                            show(&t.input_names, &combo),
                            t.rows[j].line
                        ),
                    });
            }
        }
    }
    if complete {
        let all: Vec<Vec<usize>> = reps.iter().map(|r| (0..r.len()).collect()).collect();
        let n: usize = all.iter().map(|a| a.len()).product();
        if n > MAX_COMBOS {
            return Err(format!(
                "too many input combinations ({n}) to check completeness exhaustively"
            ));
        }
        let mut gaps = 0;
        for_each_combo(&all, |ks| {
            let hit = (0..t.rows.len()).any(|j| (0..cols).all(|c| accepts[j][c].contains(&ks[c])));
            if !hit {
                gaps += 1;
                if gaps <= 5 {
                    let combo: Vec<Value> = ks
                        .iter()
                        .enumerate()
                        .map(|(c, k)| reps[c][*k].clone())
                        .collect();
                    findings.push(Finding {
                        line: t
                            .rows
                            .first()
                            .map(|r| r.line.saturating_sub(1))
                            .unwrap_or(1),
                        message: format!(
                            "table is declared complete but no row matches {}",
                            show(&t.input_names, &combo)
                        ),
                    });
                }
            }
            true
        });
    }
    Ok(findings)
}

/// Calls `f` with every combination (one index per column); stops when `f` returns false.
fn for_each_combo(choices: &[Vec<usize>], mut f: impl FnMut(&[usize]) -> bool) {
    if choices.iter().any(|c| c.is_empty()) {
        return;
    }
    let mut pos = vec![0usize; choices.len()];
    let mut ks: Vec<usize> = choices.iter().map(|c| c[0]).collect();
    loop {
        if !f(&ks) {
            return;
        }
        let mut c = choices.len();
        loop {
            if c == 0 {
                return;
            }
            c -= 1;
            pos[c] += 1;
            if pos[c] < choices[c].len() {
                ks[c] = choices[c][pos[c]];
                break;
            }
            pos[c] = 0;
            ks[c] = choices[c][0];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: usize, cells: &[&str], out: i64) -> Row {
        let tests = parse_tests(cells, &vec![true; cells.len()]).unwrap();
        Row {
            line,
            exprs: tests.iter().map(|_| None).collect(),
            tests,
            outputs: vec![Value::Int(out)],
            priority: 0,
        }
    }

    fn table(policy: TableHitPolicy, rows: Vec<Row>) -> Table {
        Table::new(
            "t".into(),
            policy,
            None,
            vec!["score".into(), "grade".into()],
            vec!["limit".into()],
            rows,
        )
    }

    fn no_cells(_: &Program, _: &Value) -> Result<bool, String> {
        Ok(false)
    }

    #[test]
    fn first_hit_uses_the_index() {
        let t = table(
            TableHitPolicy::First,
            vec![
                row(2, &["< 600", "-"], 0),
                row(3, &["[600..700)", "A,B"], 1000),
                row(4, &[">= 600", "-"], 500),
            ],
        );
        assert!(t.fully_indexed());
        let r = t
            .eval(&[Value::Int(650), Value::from("B")], no_cells)
            .unwrap();
        assert_eq!(r.outputs, vec![Value::Int(1000)]);
        let r = t
            .eval(&[Value::Int(650), Value::from("C")], no_cells)
            .unwrap();
        assert_eq!(r.outputs, vec![Value::Int(500)]);
        let r = t
            .eval(&[Value::Double(599.5), Value::from("C")], no_cells)
            .unwrap();
        assert_eq!(r.outputs, vec![Value::Int(0)]);
    }

    fn scores(policy: TableHitPolicy, aggregate: Option<Aggregate>) -> Table {
        let mut rows = vec![
            row(2, &["> 0", "-"], 10),
            row(3, &["> 5", "A"], 20),
            row(4, &["> 5", "-"], 30),
        ];
        rows[1].priority = 5;
        rows[2].priority = 1;
        Table::new(
            "t".into(),
            policy,
            aggregate,
            vec!["score".into(), "grade".into()],
            vec!["v".into()],
            rows,
        )
    }

    #[test]
    fn hit_policies() {
        let input = [Value::Int(9), Value::from("A")];
        let out = |t: Table| t.eval(&input, no_cells).map(|r| (r.rows, r.outputs));
        let v = Value::Int;
        assert_eq!(
            out(scores(TableHitPolicy::First, None)),
            Ok((vec![0], vec![v(10)]))
        );
        assert_eq!(
            out(scores(TableHitPolicy::Priority, None)),
            Ok((vec![1], vec![v(20)]))
        );
        assert_eq!(
            out(scores(TableHitPolicy::RuleOrder, None)),
            Ok((vec![0, 1, 2], vec![Value::list(vec![v(10), v(20), v(30)])]))
        );
        assert_eq!(
            out(scores(TableHitPolicy::Collect, None)).map(|r| r.1),
            Ok(vec![Value::list(vec![v(10), v(20), v(30)])])
        );
        assert_eq!(
            out(scores(TableHitPolicy::Collect, Some(Aggregate::Sum))).map(|r| r.1),
            Ok(vec![v(60)])
        );
        assert_eq!(
            out(scores(TableHitPolicy::Collect, Some(Aggregate::Min))).map(|r| r.1),
            Ok(vec![v(10)])
        );
        assert_eq!(
            out(scores(TableHitPolicy::Collect, Some(Aggregate::Max))).map(|r| r.1),
            Ok(vec![v(30)])
        );
        assert_eq!(
            out(scores(TableHitPolicy::Collect, Some(Aggregate::Count))).map(|r| r.1),
            Ok(vec![v(3)])
        );
        assert_eq!(
            out(scores(TableHitPolicy::Unique, None)),
            Err(TableError::NotUnique {
                lines: vec![2, 3, 4]
            })
        );
        assert_eq!(
            out(scores(TableHitPolicy::Any, None)),
            Err(TableError::AnyConflict {
                lines: vec![2, 3, 4]
            })
        );
        // Nothing matches: null outputs, no rows.
        let none = scores(TableHitPolicy::First, None)
            .eval(&[Value::Int(-1), Value::Null], no_cells)
            .unwrap();
        assert_eq!((none.rows.len(), none.outputs), (0, vec![Value::Null]));
    }

    #[test]
    fn analysis_finds_overlaps_gaps_and_dead_rows() {
        let t = table(
            TableHitPolicy::Unique,
            vec![row(2, &["< 600", "-"], 0), row(3, &["[500..700)", "A"], 1)],
        );
        let f = analyze(&t, true).unwrap();
        assert!(
            f.iter()
                .any(|f| f.line == 3 && f.message.contains("overlaps the row on line 2")),
            "{f:?}"
        );
        assert!(
            f.iter().any(|f| f.message.contains("no row matches")),
            "{f:?}"
        );
        let t = table(
            TableHitPolicy::First,
            vec![row(2, &["-", "A,B"], 0), row(3, &["> 5", "A"], 1)],
        );
        let f = analyze(&t, false).unwrap();
        assert!(
            f.iter()
                .any(|f| f.line == 3 && f.message.contains("never match")),
            "{f:?}"
        );
    }
}
