//! Engine hot paths: decision tables of 1,000 and 10,000 rows (first hit),
//! full decisions of the example flows with data-source answers supplied,
//! and the cost of tracing.

#![allow(clippy::unwrap_used)] // benchmark set-up: a panic is a broken benchmark

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use riskflow_engine::project::TableHitPolicy;
use riskflow_engine::table::{Row, Table, parse_tests};
use riskflow_engine::{Answers, DecideOptions};
use riskflow_expr::Value;
use serde_json::{Value as Json, json};

/// Rows shared with the zen-engine comparison (benches/peers): score band ×
/// grade × income band, each combination once, in order.
pub fn table_cells(n: usize) -> Vec<[String; 3]> {
    (0..n)
        .map(|i| {
            let lo = 300 + (i % 50) * 10;
            let grade = ["A", "B", "C", "D", "E"][(i / 50) % 5];
            let band = i / 250;
            [
                format!("[{lo}..{})", lo + 10),
                format!("\"{grade}\""),
                format!("{band}"),
            ]
        })
        .collect()
}

fn table(n: usize) -> Table {
    let rows = table_cells(n)
        .iter()
        .enumerate()
        .map(|(i, cells)| {
            let tests =
                parse_tests(&[&cells[0], &cells[1], &cells[2]], &[false, true, false]).unwrap();
            Row {
                line: i + 2,
                exprs: tests.iter().map(|_| None).collect(),
                tests,
                outputs: vec![Value::Int(i as i64)],
                priority: 0,
            }
        })
        .collect();
    Table::new(
        format!("t{n}"),
        TableHitPolicy::First,
        None,
        vec!["score".into(), "grade".into(), "band".into()],
        vec!["row".into()],
        rows,
    )
}

fn example() -> riskflow_engine::Project {
    riskflow_engine::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/lending"))
        .unwrap()
}

fn request(name: &str) -> Json {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/lending/requests")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("table");
    for n in [1_000usize, 10_000] {
        let t = table(n);
        // An input that matches a row 90 % of the way down the table.
        let target = n * 9 / 10;
        let cells = &table_cells(n)[target];
        let lo: i64 = cells[0][1..cells[0].find("..").unwrap()].parse().unwrap();
        let input = vec![
            Value::Int(lo + 5),
            Value::from(cells[1].trim_matches('"')),
            Value::Int(cells[2].parse().unwrap()),
        ];
        let r = t.eval(&input, |_, _| Ok(false)).unwrap();
        assert_eq!(r.outputs, vec![Value::Int(target as i64)]);
        g.bench_function(format!("first_hit_{n}_rows"), |b| {
            b.iter(|| t.eval(black_box(&input), |_, _| Ok(false)))
        });
    }
    g.finish();

    // A flow that is one 10,000-row table: the cost of tracing a table decision.
    let dir = std::env::temp_dir().join(format!("riskflow-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::create_dir_all(dir.join("tables")).unwrap();
    std::fs::write(dir.join("riskflow.yaml"), "name: bench\n").unwrap();
    std::fs::write(
        dir.join("flows/t.yaml"),
        "name: t\ninputs: { score: int, grade: string, band: int }\ntables:\n  t:\n    file: tables/t.csv\n    inputs: { score: input.score, grade: input.grade, band: input.band }\n    outputs: { row: int }\noutputs:\n  row: { type: int, expr: tables.t.row }\n",
    )
    .unwrap();
    let mut csv = String::from("score,grade,band,row\n");
    for (i, c) in table_cells(10_000).iter().enumerate() {
        csv.push_str(&format!(
            "{},{},{},{i}\n",
            c[0],
            c[1].trim_matches('"'),
            c[2]
        ));
    }
    std::fs::write(dir.join("tables/t.csv"), csv).unwrap();
    let tp = riskflow_engine::load(&dir).unwrap();
    let tf = tp.flows["t"].clone();
    let input = json!({"score": 305, "grade": "B", "band": 36});
    assert_eq!(
        tf.decide(&input, &Answers::default(), DecideOptions::default())
            .unwrap()
            .outputs["row"],
        json!(9050)
    );
    let mut g = c.benchmark_group("table_decision");
    g.bench_function("rows_10000", |b| {
        b.iter(|| {
            tf.decide(
                black_box(&input),
                &Answers::default(),
                DecideOptions::default(),
            )
        })
    });
    g.bench_function("rows_10000_traced", |b| {
        b.iter(|| {
            tf.decide(
                black_box(&input),
                &Answers::default(),
                DecideOptions { trace: true },
            )
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);

    let p = example();
    let answers = Answers(HashMap::from([
        (
            "bureau".to_string(),
            json!({"hit": true, "score": 742, "delinquencies_24m": 0, "max_dpd_12m": 0, "open_accounts": 1, "inquiries_6m": 3, "total_debt": 44410.77, "oldest_account_months": 6, "utilization": 0.03, "bankruptcy": false, "collections": false}),
        ),
        (
            "device".to_string(),
            json!({"risk_score": 22, "emulator": false, "proxy": false, "accounts_on_device": 2, "first_seen_days": 251, "country": "CN"}),
        ),
    ]));
    let mut g = c.benchmark_group("decision");
    for (flow, req) in [
        ("loan_extension", "loan_extension.json"),
        ("large_withdrawal", "large_withdrawal.json"),
        ("credit_new", "credit_new.json"),
    ] {
        let f = p.flows[flow].clone();
        let input = request(req);
        f.decide(&input, &answers, DecideOptions::default())
            .unwrap();
        g.bench_function(flow.to_string(), |b| {
            b.iter(|| f.decide(black_box(&input), &answers, DecideOptions::default()))
        });
        g.bench_function(format!("{flow}_traced"), |b| {
            b.iter(|| f.decide(black_box(&input), &answers, DecideOptions { trace: true }))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
