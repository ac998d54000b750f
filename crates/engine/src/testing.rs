//! Flow test cases (`tests/*.yaml` in a project): input → expected outputs,
//! with recorded data-source answers so that runs are deterministic.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value as Json;

use crate::compile::Project;
use crate::diag::Diagnostic;
use crate::exec::{Answers, DecideOptions};
use crate::project::TestFile;

#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub file: PathBuf,
    pub flow: String,
    pub case: String,
    pub outcome: CaseOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CaseOutcome {
    Pass,
    /// (output, expected, actual)
    Fail(Vec<(String, Json, Json)>),
    /// The decision itself failed.
    Error(String),
}

/// Reads every `tests/*.yaml` of the project.
pub fn load_tests(project: &Project) -> Result<Vec<(PathBuf, TestFile)>, Vec<Diagnostic>> {
    let dir = project.root.join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                errors.push(Diagnostic {
                    file: f.clone(),
                    line: 1,
                    col: 1,
                    message: e.to_string(),
                });
                continue;
            }
        };
        // Merge keys (`<<: *base`) let cases share a base input.
        let parsed = serde_norway::from_str::<serde_norway::Value>(&text).and_then(|mut v| {
            v.apply_merge()?;
            serde_norway::from_value::<TestFile>(v)
        });
        match parsed {
            Ok(tf) => {
                if !project.flows.contains_key(&tf.flow) {
                    errors.push(Diagnostic {
                        file: f.clone(),
                        line: 1,
                        col: 1,
                        message: format!("unknown flow {:?}", tf.flow),
                    });
                }
                out.push((f, tf));
            }
            Err(e) => {
                let (line, col) = e
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((1, 1));
                errors.push(Diagnostic {
                    file: f,
                    line,
                    col,
                    message: format!("invalid test file: {e}"),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Runs every case; data sources answer only from the recorded answers.
pub fn run_tests(project: &Project, files: &[(PathBuf, TestFile)]) -> Vec<CaseResult> {
    let mut results = Vec::new();
    for (path, tf) in files {
        let Some(flow) = project.flows.get(&tf.flow) else {
            continue;
        };
        for case in &tf.cases {
            let mut answers: HashMap<String, Json> = tf
                .sources
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            answers.extend(case.sources.iter().map(|(k, v)| (k.clone(), v.clone())));
            let unknown: Vec<&String> = case
                .expect
                .keys()
                .filter(|k| !flow.outputs.iter().any(|o| &o.name == *k))
                .collect();
            if !unknown.is_empty() {
                let names: Vec<&str> = flow.outputs.iter().map(|o| o.name.as_str()).collect();
                let outcome = CaseOutcome::Error(format!(
                    "expect names unknown output(s) {unknown:?}; the flow's outputs are {names:?}"
                ));
                results.push(CaseResult {
                    file: path.clone(),
                    flow: tf.flow.clone(),
                    case: case.name.clone(),
                    outcome,
                });
                continue;
            }
            let outcome =
                match flow.decide(&case.input, &Answers(answers), DecideOptions::default()) {
                    Err(e) => CaseOutcome::Error(e.to_string()),
                    Ok(d) => {
                        let diffs: Vec<(String, Json, Json)> = case
                            .expect
                            .iter()
                            .filter_map(|(k, want)| {
                                let got = d.outputs.get(k).cloned().unwrap_or(Json::Null);
                                (!same(want, &got)).then(|| (k.clone(), want.clone(), got))
                            })
                            .collect();
                        if diffs.is_empty() {
                            CaseOutcome::Pass
                        } else {
                            CaseOutcome::Fail(diffs)
                        }
                    }
                };
            results.push(CaseResult {
                file: path.clone(),
                flow: tf.flow.clone(),
                case: case.name.clone(),
                outcome,
            });
        }
    }
    results
}

/// Expected equals actual: numbers by value (so `1500` matches money `"1500.00"`), the rest exactly.
fn same(want: &Json, got: &Json) -> bool {
    let num = |j: &Json| match j {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    match (want, got) {
        (Json::Number(_), _) | (_, Json::Number(_)) => match (num(want), num(got)) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
            _ => false,
        },
        (Json::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        _ => want == got,
    }
}
