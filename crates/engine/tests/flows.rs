//! Behaviour of flows through the engine's public interface: the example
//! project's cases, the trace, determinism, pruning, data sources over real
//! HTTP, and what bad projects and bad inputs get.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::collections::HashMap;
use std::path::PathBuf;

use proptest::prelude::*;
use riskflow_engine::testing::{CaseOutcome, load_tests, run_tests};
use riskflow_engine::{
    Answers, DecideError, DecideOptions, Project, http::HttpFetcher, load, load_with,
};
use serde_json::{Value as Json, json};

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/lending")
}

fn example() -> Project {
    load(&example_dir()).unwrap_or_else(|d| panic!("{d:#?}"))
}

fn request(name: &str) -> Json {
    serde_json::from_str(
        &std::fs::read_to_string(example_dir().join("requests").join(name)).unwrap(),
    )
    .unwrap()
}

#[test]
fn example_project_cases_pass() {
    let p = example();
    let files = load_tests(&p).unwrap();
    let results = run_tests(&p, &files);
    assert!(results.len() >= 20, "only {} cases", results.len());
    let failed: Vec<_> = results
        .iter()
        .filter(|r| r.outcome != CaseOutcome::Pass)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn credit_new_has_the_promised_size() {
    let p = example();
    let s = p.flows["credit_new"].summary();
    let (vars, rules) = (s.variables, s.rules);
    assert_eq!((s.sources, s.models, s.tables), (2, 2, 2));
    assert!(vars >= 150, "{vars} variables");
    assert!(rules >= 190, "{rules} rules");
}

#[test]
fn loan_extension_trace() {
    let p = example();
    let d = p.flows["loan_extension"]
        .decide(
            &request("loan_extension.json"),
            &Answers::default(),
            DecideOptions { trace: true },
        )
        .unwrap();
    insta::assert_json_snapshot!(d, {
        ".trace.timings_us" => "[timings]",
        ".trace.total_us" => "[us]",
    });
}

#[test]
fn credit_new_trace_with_recorded_answers() {
    let p = example();
    let answers: HashMap<String, Json> = serde_json::from_value(json!({
        "bureau": {"hit": true, "score": 780, "delinquencies_24m": 0, "max_dpd_12m": 0, "open_accounts": 4, "inquiries_6m": 1,
                   "total_debt": 30000.0, "oldest_account_months": 96, "utilization": 0.2, "bankruptcy": false, "collections": false},
        "device": {"$error": "device_risk after 2 attempt(s): timed out after 150 ms"}
    }))
    .unwrap();
    let d = p.flows["credit_new"]
        .decide(
            &request("credit_new.json"),
            &Answers(answers),
            DecideOptions { trace: true },
        )
        .unwrap();
    let t = d.trace.as_ref().unwrap();
    assert_eq!(t.sources.len(), 2);
    assert_eq!(
        t.sources
            .iter()
            .find(|s| &*s.variable == "device")
            .unwrap()
            .via,
        "default"
    );
    assert!(
        d.outputs["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("DEVICE_CHECK_UNAVAILABLE"))
    );
    assert_eq!(t.models.len(), 2);
    assert_eq!(t.tables.len(), 2);
    assert!(t.variables.len() >= 100);
    // Everything in the trace is plain JSON that round-trips.
    let text = serde_json::to_string(&d).unwrap();
    let back: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(back["outputs"], serde_json::to_value(&d.outputs).unwrap());
}

#[test]
fn only_the_needed_subgraph_is_computed() {
    let p = example();
    let f = &p.flows["loan_extension"];
    let full = f.plan(None).unwrap();
    let fee_only = f.plan(Some(&["extension_fee"])).unwrap();
    assert!(fee_only.steps.len() < full.steps.len());
    let names = |plan: &riskflow_engine::flow::Plan| -> Vec<String> {
        plan.steps
            .iter()
            .filter_map(|s| match s {
                riskflow_engine::flow::Step::Compute(n) => Some(f.nodes[*n].name.clone()),
                _ => None,
            })
            .collect()
    };
    // tenure_days feeds nothing the outputs need, so it is never computed.
    assert!(!names(&full).contains(&"tenure_days".to_string()));
    assert!(names(&fee_only).contains(&"fee_per_day".to_string()));
    assert!(!names(&fee_only).contains(&"output.new_due_date".to_string()));
    assert!(f.plan(Some(&["nope"])).is_err());
    // Deciding with the smaller plan returns just that output, computed from just what it needs.
    let d = f
        .decide_plan(
            &fee_only,
            &request("loan_extension.json"),
            &Answers::default(),
            DecideOptions { trace: true },
        )
        .unwrap();
    assert_eq!(
        serde_json::to_value(&d.outputs).unwrap(),
        json!({"extension_fee": "52.08"})
    );
    let t = d.trace.unwrap();
    assert!(t.variables.get("fee_per_day").is_some());
    assert!(
        t.variables.get("new_due_date").is_none(),
        "not needed for the fee"
    );
}

#[test]
fn data_sources_are_called_concurrently_over_http() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let addr = riskflow_stub::spawn(([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let vars = HashMap::from([("RISKFLOW_SOURCES".to_string(), format!("http://{addr}"))]);
        let p = load_with(&example_dir(), &vars).unwrap();
        let f = &p.flows["credit_new"];
        // Both calls are in one wave of the plan.
        let waves: Vec<usize> = f
            .full_plan
            .steps
            .iter()
            .filter_map(|s| {
                if let riskflow_engine::flow::Step::Fetch(v) = s {
                    Some(v.len())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(waves, vec![2]);
        let fetcher = HttpFetcher::new(p.sources.clone());
        let d = f
            .decide_async(
                &request("credit_new.json"),
                &fetcher,
                DecideOptions { trace: true },
            )
            .await
            .unwrap();
        let t = d.trace.unwrap();
        assert!(
            t.sources
                .iter()
                .all(|s| s.via == "call" && s.response.is_some()),
            "{:?}",
            t.sources
        );
        // A second decision for the same bureau request is served from the cache (credit_bureau has cache_ttl_s).
        let d2 = f
            .decide_async(
                &request("credit_new.json"),
                &fetcher,
                DecideOptions { trace: true },
            )
            .await
            .unwrap();
        assert_eq!(
            d2.trace
                .unwrap()
                .sources
                .iter()
                .find(|s| &*s.variable == "bureau")
                .unwrap()
                .via,
            "cache"
        );
        // A failing device service: retried, then the declared default and reason.
        let mut failing = request("credit_new.json");
        failing["device_id"] = json!("FAIL-1");
        let d3 = f
            .decide_async(&failing, &fetcher, DecideOptions { trace: true })
            .await
            .unwrap();
        let dev = d3
            .trace
            .as_ref()
            .unwrap()
            .sources
            .iter()
            .find(|s| &*s.variable == "device")
            .unwrap()
            .clone();
        assert_eq!((dev.via, dev.attempts), ("default", 2));
        assert!(dev.error.unwrap().contains("503"));
        assert!(
            d3.outputs["reasons"]
                .as_array()
                .unwrap()
                .contains(&json!("DEVICE_CHECK_UNAVAILABLE"))
        );
    });
}

#[test]
fn a_source_without_default_fails_the_decision_with_its_name() {
    let dir = project(&[(
        "flows/f.yaml",
        "name: f\ninputs: { id: string }\nvariables:\n  b:\n    source: s\n    request: { id: input.id }\noutputs:\n  v: { type: any, expr: b }\n",
    )]);
    let vars = HashMap::from([("S_URL".to_string(), "http://127.0.0.1:9".to_string())]);
    let p = load_with(dir.path(), &vars).unwrap();
    let err = p.flows["f"]
        .decide(
            &json!({"id": "x"}),
            &Answers::default(),
            DecideOptions::default(),
        )
        .unwrap_err();
    assert!(
        matches!(err, DecideError::Source { ref variable, .. } if variable == "b"),
        "{err}"
    );
}

#[test]
fn bad_inputs_list_every_field() {
    let p = example();
    let mut req = request("loan_extension.json");
    req["age"] = json!("thirty");
    req["principal"] = json!("12.345");
    req["extension_days"] = json!(365);
    req["channel"] = json!("fax");
    req.as_object_mut().unwrap().remove("loan_id");
    req["colour"] = json!("red");
    let err = p.flows["loan_extension"]
        .decide(&req, &Answers::default(), DecideOptions::default())
        .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @r#"invalid input: loan_id: required; expected a string; principal: amount 12.345 has more than 2 decimal places; extension_days: 365 is above the maximum 90; age: expected an integer, got "thirty"; channel: "fax" is not one of ["app", "web", "branch"]; colour: unknown field (flow loan_extension does not declare it)"#);
    let err = p.flows["loan_extension"]
        .decide(
            &json!([1, 2]),
            &Answers::default(),
            DecideOptions::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("expected a JSON object"));
}

/// A throwaway project: riskflow.yaml plus the given files.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("riskflow.yaml"), "name: t\ndatasources:\n  s: { url: \"${S_URL:-http://127.0.0.1:9}/x\", retries: 0, timeout_ms: 50 }\n").unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn errors(files: &[(&str, &str)]) -> String {
    let dir = project(files);
    let diags = match load(dir.path()) {
        Ok(_) => return "no errors".into(),
        Err(d) => d,
    };
    let root = dir.path().to_string_lossy().to_string();
    diags
        .iter()
        .map(|d| d.to_string().replace(&root, "<project>"))
        .collect::<Vec<_>>()
        .join("\n")
}

const FLOW_HEAD: &str = "name: f\ninputs:\n  amount: money\n  age: int\n";

#[test]
fn project_errors_name_file_line_and_column() {
    insta::assert_snapshot!(
        "cycle",
        errors(&[(
            "flows/f.yaml",
            &format!(
                "{FLOW_HEAD}variables:\n  a: \"b + 1\"\n  b: \"c * 2\"\n  c: \"a - input.age\"\noutputs:\n  decision: string\n"
            )
        )])
    );
    insta::assert_snapshot!(
        "unknown_name_and_type_error",
        errors(&[(
            "flows/f.yaml",
            &format!(
                "{FLOW_HEAD}variables:\n  young: \"input.agee < 25\"\nrulesets:\n  r:\n    rules:\n      - id: R1\n        when: \"input.amount + 'x' > 3\"\n        then: {{ decision: reject }}\n      - id: R2\n        when: \"input.age\"\n        then: {{ decision: maybe }}\noutputs:\n  decision: string\n  limit: {{ type: money, expr: \"input.amount * 1.5\" }}\n"
            ),
        )])
    );
    insta::assert_snapshot!(
        "malformed_yaml",
        errors(&[(
            "flows/f.yaml",
            "name: f\ninputs:\n  amount: money\n   age: int\n"
        )])
    );
    insta::assert_snapshot!(
        "missing_model_and_source",
        errors(&[(
            "flows/f.yaml",
            &format!(
                "{FLOW_HEAD}variables:\n  b:\n    source: nope\nmodels:\n  m:\n    type: xgboost\n    file: models/missing.json\n    features: {{ a: input.age }}\noutputs:\n  decision: string\n"
            ),
        )])
    );
    insta::assert_snapshot!(
        "bad_table",
        errors(&[
            (
                "flows/f.yaml",
                &format!(
                    "{FLOW_HEAD}tables:\n  t:\n    file: tables/t.csv\n    hit_policy: unique\n    inputs: {{ age: input.age }}\n    outputs: {{ limit: money }}\noutputs:\n  decision: string\n"
                )
            ),
            (
                "tables/t.csv",
                "age,limit\n[18..30),1000.00\n[25..40),2000.00\n[40..,oops\n"
            ),
        ])
    );
    insta::assert_snapshot!(
        "table_analysis",
        errors(&[
            (
                "flows/f.yaml",
                &format!(
                    "{FLOW_HEAD}tables:\n  t:\n    file: tables/t.csv\n    hit_policy: unique\n    complete: true\n    inputs: {{ age: input.age }}\n    outputs: {{ limit: money }}\noutputs:\n  decision: string\n"
                )
            ),
            (
                "tables/t.csv",
                "age,limit\n[18..30),1000.00\n[25..40),2000.00\n[50..40),0\n>= 60,500.00\n"
            ),
        ])
    );
}

#[test]
fn rule_hit_policies() {
    let flow = |policy: &str| {
        format!(
            "name: f\ninputs: {{ age: int }}\nrulesets:\n  r:\n    hit_policy: {policy}\n    rules:\n      - {{ id: LOW, when: input.age < 30, salience: 1, then: {{ decision: review, reason: LOW }} }}\n      - {{ id: HIGH, when: input.age < 20, salience: 9, then: {{ decision: reject, reason: HIGH }} }}\n      - {{ id: OFF, when: 'true', enabled: false, then: {{ reason: OFF }} }}\noutputs:\n  decision: string\n  reasons: list<string>\n  hits: {{ type: list<string>, expr: rules.r.hits }}\n"
        )
    };
    for (policy, want) in [
        (
            "all",
            json!({"decision": "reject", "reasons": ["LOW", "HIGH"], "hits": ["LOW", "HIGH"]}),
        ),
        (
            "first",
            json!({"decision": "review", "reasons": ["LOW"], "hits": ["LOW"]}),
        ),
        (
            "priority",
            json!({"decision": "reject", "reasons": ["HIGH"], "hits": ["HIGH"]}),
        ),
    ] {
        let dir = project(&[("flows/f.yaml", &flow(policy))]);
        let p = load(dir.path()).unwrap_or_else(|d| panic!("{d:#?}"));
        let d = p.flows["f"]
            .decide(
                &json!({"age": 15}),
                &Answers::default(),
                DecideOptions::default(),
            )
            .unwrap();
        assert_eq!(serde_json::to_value(&d.outputs).unwrap(), want, "{policy}");
    }
}

#[test]
fn tables_load_from_xlsx() {
    let xlsx =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/limits.xlsx"))
            .unwrap();
    let dir = project(&[(
        "flows/f.yaml",
        "name: f\ninputs: { rating: string, income: money }\ntables:\n  limits:\n    file: tables/limits.xlsx\n    hit_policy: first\n    complete: true\n    inputs: { rating: input.rating, income: input.income / 100 }\n    outputs: { limit: money }\noutputs:\n  limit: { type: money, expr: tables.limits.limit }\n",
    )]);
    std::fs::create_dir_all(dir.path().join("tables")).unwrap();
    std::fs::write(dir.path().join("tables/limits.xlsx"), xlsx).unwrap();
    let p = load(dir.path()).unwrap_or_else(|d| panic!("{d:#?}"));
    let f = &p.flows["f"];
    let limit = |rating: &str, income: &str| {
        let d = f
            .decide(
                &json!({"rating": rating, "income": income}),
                &Answers::default(),
                DecideOptions { trace: true },
            )
            .unwrap();
        (
            d.outputs["limit"].clone(),
            d.trace.unwrap().tables[0].lines(),
        )
    };
    assert_eq!(limit("B", "12000.00"), (json!("50000.00"), vec![2]));
    assert_eq!(limit("A", "900.00"), (json!("20000.00"), vec![3]));
    assert_eq!(limit("C", "6000.00"), (json!("8000.50"), vec![4]));
    assert_eq!(limit("C", "60000.00"), (json!("0.00"), vec![5]));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Same inputs, same project ⇒ identical outputs; tracing does not change them.
    #[test]
    fn decisions_are_deterministic(amount in 0i64..10_000_000, balance in 0i64..10_000_000, n in 0i64..10, kyc in 0i64..4, hour in 0u32..24, sigs in any::<(bool, bool, bool)>()) {
        let p = example();
        let f = &p.flows["large_withdrawal"];
        let input = json!({
            "account_id": "A", "amount": format!("{}.{:02}", amount / 100, amount % 100), "balance": format!("{}.00", balance / 100),
            "currency": "CNY", "destination_account_age_days": 10, "destination_is_new": sigs.0, "withdrawals_24h": n,
            "withdrawn_24h": "100.00", "avg_withdrawal_90d": "900.00", "device_changed": sigs.1,
            "login_country": if sigs.2 { "US" } else { "CN" }, "home_country": "CN", "account_age_days": 20, "kyc_level": kyc,
            "request_time": format!("2026-11-23T{hour:02}:00:00+08:00"),
        });
        let a = f.decide(&input, &Answers::default(), DecideOptions::default()).unwrap();
        let b = f.decide(&input, &Answers::default(), DecideOptions { trace: true }).unwrap();
        prop_assert_eq!(&a.outputs, &b.outputs);
        let c = f.decide(&input, &Answers::default(), DecideOptions::default()).unwrap();
        prop_assert_eq!(a, c);
    }

    /// Arbitrary JSON never panics a flow: it is decided or rejected with a message.
    #[test]
    fn random_json_never_panics(v in arb_json()) {
        let p = example();
        for f in p.flows.values() {
            match f.decide(&v, &Answers::default(), DecideOptions::default()) {
                Ok(_) => {}
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    /// Arbitrary bytes as a flow file never panic the loader.
    #[test]
    fn random_flow_files_never_panic(text in "(name: f\ninputs:\n  a: int\n)?[ -~\n]{0,200}") {
        let dir = project(&[("flows/f.yaml", &text)]);
        let _ = load(dir.path());
    }
}

fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Json::from),
        "[a-z0-9.:+-]{0,12}".prop_map(Json::from),
    ];
    let field = prop_oneof![
        Just("amount"),
        Just("age"),
        Just("balance"),
        Just("principal"),
        Just("request_time"),
        Just("kyc_level"),
        Just("extension_days"),
        Just("prior_applications"),
        Just("x"),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            proptest::collection::vec((field.clone(), inner), 0..6).prop_map(|kv| Json::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}
