//! riskflow against its peers, side by side in one run, on identical inputs:
//!  - rule expressions: riskflow-expr vs cel (cel-rust) vs zen-expression
//!  - decision tables (1,000 and 10,000 rows, first hit, precompiled):
//!    riskflow-engine vs zen-engine's decision-table node
//! Run: cd benches/peers && cargo bench   (see docs/benchmarks.md)

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use riskflow_engine::project::TableHitPolicy;
use riskflow_engine::table::{Row, Table, parse_tests};
use riskflow_expr::{Env, Key, Map, Program, Type, Value};
use serde_json::json;

const WEIGHTED: &str = "0.12 * f0 + 0.08 * f1 + 0.15 * f2 + 0.05 * f3 + 0.2 * f4 + 0.1 * f5 + 0.07 * f6 + 0.09 * f7 + 0.06 * f8 + 0.08 * f9";

struct Case {
    name: &'static str,
    cel: &'static str,
    zen: &'static str,
}

const CASES: &[Case] = &[
    Case { name: "and_compare", cel: "amount > 5000.0 && age < 25", zen: "amount > 5000.0 and age < 25" },
    Case { name: "in_list_100", cel: "device_id in blacklist", zen: "device_id in blacklist" },
    Case { name: "or_has", cel: "apps_7d > 3 || has(input.referrer)", zen: "apps_7d > 3 or input.referrer != null" },
    Case { name: "weighted_10", cel: WEIGHTED, zen: WEIGHTED },
];

fn context() -> serde_json::Value {
    let blacklist: Vec<String> = (0..100).map(|i| format!("dev-{i:04}")).collect();
    let mut ctx = json!({
        "amount": 6000.0, "age": 22, "device_id": "dev-0099", "blacklist": blacklist, "apps_7d": 2,
        "input": {"amount": 6000.0},
    });
    for i in 0..10 {
        ctx[format!("f{i}")] = json!(i as f64 * 1.5);
    }
    ctx
}

fn expressions(c: &mut Criterion) {
    let ctx = context();
    // riskflow: declared variables bound to slots.
    let mut env = Env::new();
    let mut slots = Vec::new();
    for (k, v) in ctx.as_object().unwrap() {
        let ty = match k.as_str() {
            "amount" => Type::Double,
            "age" | "apps_7d" => Type::Int,
            "device_id" => Type::String,
            "blacklist" => Type::list(Type::String),
            "input" => Type::map(Type::String, Type::Dyn),
            _ => Type::Double,
        };
        env.declare(k, ty);
        slots.push(riskflow_expr::json::from_json(v));
    }
    let _ = (Key::from("x"), Map::default());
    // cel-rust
    let mut cel_ctx = cel::Context::default();
    for (k, v) in ctx.as_object().unwrap() {
        cel_ctx.add_variable(k.clone(), v.clone()).unwrap();
    }
    // zen-expression
    let zen_ctx: zen_expression::Variable = ctx.clone().into();
    let mut vm = zen_expression::vm::VM::new();

    let mut g = c.benchmark_group("expr");
    for case in CASES {
        let ours = Program::compile(case.cel, &env).unwrap();
        let theirs = cel::Program::compile(case.cel).unwrap();
        let zen = zen_expression::compile_expression(case.zen).unwrap();
        // Same answers from all three.
        let a = ours.eval(&slots[..]).unwrap();
        let b = theirs.execute(&cel_ctx).unwrap();
        let z = zen.evaluate_with(zen_ctx.clone(), &mut vm).unwrap();
        println!("{}: riskflow={a} cel={b:?} zen={z:?}", case.name);
        g.bench_function(format!("{}/riskflow", case.name), |bch| bch.iter(|| ours.eval(black_box(&slots[..]))));
        g.bench_function(format!("{}/cel-rust", case.name), |bch| bch.iter(|| theirs.execute(black_box(&cel_ctx))));
        g.bench_function(format!("{}/zen-expression", case.name), |bch| {
            bch.iter(|| zen.evaluate_with(black_box(zen_ctx.clone()), &mut vm))
        });
    }
    g.finish();
}

/// The rows of the engine's own table bench (crates/engine/benches/engine.rs).
fn table_cells(n: usize) -> Vec<[String; 3]> {
    (0..n)
        .map(|i| {
            let lo = 300 + (i % 50) * 10;
            let grade = ["A", "B", "C", "D", "E"][(i / 50) % 5];
            let band = i / 250;
            [format!("[{lo}..{})", lo + 10), format!("\"{grade}\""), format!("{band}")]
        })
        .collect()
}

fn riskflow_table(cells: &[[String; 3]]) -> Table {
    let rows = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let tests = parse_tests(&[&c[0], &c[1], &c[2]], &[false, true, false]).unwrap();
            Row { line: i + 2, exprs: tests.iter().map(|_| None).collect(), tests, outputs: vec![Value::Int(i as i64)], priority: 0 }
        })
        .collect();
    Table::new("t".into(), TableHitPolicy::First, None, vec!["score".into(), "grade".into(), "band".into()], vec!["row".into()], rows)
}

fn zen_decision(cells: &[[String; 3]]) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"_id": format!("r{i}"), "i_score": c[0], "i_grade": c[1], "i_band": c[2], "o_row": i.to_string()}))
        .collect();
    json!({
        "nodes": [
            {"id": "in", "name": "request", "type": "inputNode", "content": {}},
            {"id": "dt", "name": "table", "type": "decisionTableNode", "content": {
                "hitPolicy": "first",
                "inputs": [
                    {"id": "i_score", "name": "score", "field": "score"},
                    {"id": "i_grade", "name": "grade", "field": "grade"},
                    {"id": "i_band", "name": "band", "field": "band"}
                ],
                "outputs": [{"id": "o_row", "name": "row", "field": "row"}],
                "rules": rules,
                "inputField": null, "outputPath": null, "executionMode": "single", "passThrough": false
            }},
            {"id": "out", "name": "response", "type": "outputNode", "content": {}}
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "dt"},
            {"id": "e2", "sourceId": "dt", "targetId": "out"}
        ]
    })
}

fn tables(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut g = c.benchmark_group("table");
    for n in [1_000usize, 10_000] {
        let cells = table_cells(n);
        let target = n * 9 / 10;
        let lo: i64 = cells[target][0][1..cells[target][0].find("..").unwrap()].parse().unwrap();
        let grade = cells[target][1].trim_matches('"').to_string();
        let band: i64 = cells[target][2].parse().unwrap();

        let ours = riskflow_table(&cells);
        let input = vec![Value::Int(lo + 5), Value::from(grade.as_str()), Value::Int(band)];
        assert_eq!(ours.eval(&input, |_, _| Ok(false)).unwrap().outputs, vec![Value::Int(target as i64)]);

        let content: zen_engine::model::DecisionContent = serde_json::from_value(zen_decision(&cells)).unwrap();
        let engine = zen_engine::DecisionEngine::default();
        let decision = engine.create_decision(Arc::new(content)).unwrap();
        let zen_input: zen_expression::Variable = json!({"score": lo + 5, "grade": grade, "band": band}).into();
        let answer = rt.block_on(decision.evaluate(zen_input.clone())).unwrap();
        println!("{n} rows: riskflow row {target}, zen {}", answer.result.to_value());
        g.bench_function(format!("first_hit_{n}/riskflow"), |b| b.iter(|| ours.eval(black_box(&input), |_, _| Ok(false))));
        g.bench_function(format!("first_hit_{n}/zen-engine"), |b| {
            b.iter(|| rt.block_on(decision.evaluate(black_box(zen_input.clone()))))
        });
    }
    g.finish();
}

criterion_group!(benches, expressions, tables);
criterion_main!(benches);

