//! The `riskflow` binary as users run it: output, exit codes (0 ok, 1 failed
//! evaluation or tests, 2 bad input) and messages that name the place.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn riskflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_riskflow"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_riskflow"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim_end().to_string()
}
fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim_end().to_string()
}

#[test]
fn eval_prints_json_and_exit_codes() {
    let o = riskflow(&[
        "eval",
        "[1, 2.0, 'x', b'hi', duration('90m'), timestamp('2024-01-01T00:00:00+08:00'), {'a': 1u}]",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        out(&o),
        r#"[1,2.0,"x","aGk=","5400s","2023-12-31T16:00:00Z",{"a":1}]"#
    );
    let o = riskflow(&[
        "eval",
        "x.amount > 5000.0 && x.age < 25",
        "--vars",
        r#"{"x": {"amount": 6000.0, "age": 22}}"#,
    ]);
    assert_eq!((o.status.code(), out(&o)), (Some(0), "true".to_string()));
    let o = riskflow(&["eval", "1 / 0"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(err(&o), "error: division by zero");
    let o = riskflow(&["eval", "1 +"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        err(&o),
        "error: 1:4: unexpected end of expression\n | 1 +\n |    ^"
    );
    let o = riskflow(&["eval", "x", "--vars", "{bad"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("--vars: malformed JSON at 1:2"),
        "{}",
        err(&o)
    );
}

#[test]
fn check_and_test_the_example() {
    let o = riskflow(&["check", "examples/lending"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).contains(
            "credit_new: 27 inputs, 157 variables (2 data sources), 2 models, 199 rules, 2 tables"
        ),
        "{}",
        out(&o)
    );
    let o = riskflow(&["test", "examples/lending"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).ends_with("23 passed, 0 failed"), "{}", out(&o));
}

#[test]
fn decide_prints_the_decision() {
    let o = riskflow(&[
        "decide",
        "examples/lending",
        "loan_extension",
        "--input",
        "examples/lending/requests/loan_extension.json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let d: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(d["outputs"]["decision"], "approve");
    assert_eq!(d["outputs"]["extension_fee"], "52.08");
    assert!(d.get("trace").is_none());
    let o = riskflow(&[
        "decide",
        "examples/lending",
        "credit_new",
        "--input",
        "examples/lending/requests/credit_new.json",
        "--stub",
        "--trace",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let d: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(d["trace"]["sources"].as_array().unwrap().len(), 2);
    assert!(d["trace"]["variables"].as_object().unwrap().len() > 100);
}

#[test]
fn decide_rejects_bad_requests_with_exit_2() {
    let o = with_stdin(
        &[
            "decide",
            "examples/lending",
            "loan_extension",
            "--input",
            "-",
        ],
        "{\"loan_id\": \"x\",\n  \"age\": }",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).starts_with("error: -:2:10: malformed JSON"),
        "{}",
        err(&o)
    );
    let o = riskflow(&["decide", "examples/lending", "no_such_flow", "--input", "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        err(&o),
        "error: unknown flow \"no_such_flow\" (the project has: credit_new, large_withdrawal, loan_extension)"
    );
    let o = with_stdin(
        &[
            "decide",
            "examples/lending",
            "large_withdrawal",
            "--input",
            "-",
        ],
        r#"{"amount": "1.234"}"#,
    );
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(
        e.contains("amount: amount 1.234 has more than 2 decimal places"),
        "{e}"
    );
    assert!(e.contains("account_id: required; expected a string"), "{e}");
}

#[test]
fn broken_projects_report_every_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("riskflow.yaml"), "name: broken\n").unwrap();
    std::fs::create_dir(dir.path().join("flows")).unwrap();
    std::fs::write(
        dir.path().join("flows/f.yaml"),
        "name: f\ninputs:\n  age: int\nvariables:\n  a: \"input.age +\"\n  b: \"nope > 1\"\noutputs:\n  decision: string\n",
    )
    .unwrap();
    let o = riskflow(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o).replace(dir.path().to_str().unwrap(), "<dir>");
    insta::assert_snapshot!(e, @r"
    <dir>/flows/f.yaml:5:18: variable a: unexpected end of expression
     | input.age +
     |            ^
    <dir>/flows/f.yaml:6:7: variable b: undeclared reference to 'nope'
     | nope > 1
     | ^^^^
    2 error(s) in <dir>
    ");
    // A failing test case prints a diff and exits 1.
    std::fs::write(dir.path().join("flows/f.yaml"), "name: f\ninputs:\n  age: int\nrulesets:\n  r:\n    rules:\n      - { id: R1, when: input.age < 18, then: { decision: reject, reason: MINOR } }\noutputs:\n  decision: string\n").unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(
        dir.path().join("tests/t.yaml"),
        "flow: f\ncases:\n  - { name: minor, input: { age: 16 }, expect: { decision: approve } }\n",
    )
    .unwrap();
    let o = riskflow(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o).contains("- expected \"approve\"\n        + actual   \"reject\""),
        "{}",
        out(&o)
    );
}
