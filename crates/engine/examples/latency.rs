//! Latency distribution of full decisions, in process, on one thread, with
//! data-source answers supplied: p50 / p99 / p99.9 over many runs.
//!
//!     cargo run --release -p riskflow-engine --example latency [-- ITERATIONS [FLOW]]

#![allow(clippy::unwrap_used)] // a measuring tool: a panic is a broken run

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use riskflow_engine::{Answers, DecideOptions};
use serde_json::{Value as Json, json};

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/lending");
    let project = riskflow_engine::load(&root).unwrap();
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
    println!(
        "{:<18} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "flow", "trace", "p50 µs", "p99 µs", "p99.9 µs", "max µs"
    );
    let only = std::env::args().nth(2);
    for flow in ["loan_extension", "large_withdrawal", "credit_new"] {
        if only.as_deref().is_some_and(|o| o != flow) {
            continue;
        }
        let f = &project.flows[flow];
        let input: Json = serde_json::from_str(
            &std::fs::read_to_string(root.join("requests").join(format!("{flow}.json"))).unwrap(),
        )
        .unwrap();
        for trace in [false, true] {
            if trace && std::env::var_os("LATENCY_NO_TRACE").is_some() {
                continue;
            }
            let opts = DecideOptions { trace };
            for _ in 0..iterations / 10 {
                f.decide(&input, &answers, opts).unwrap();
            }
            let mut ns: Vec<u64> = Vec::with_capacity(iterations);
            for _ in 0..iterations {
                let t = Instant::now();
                let d = f.decide(&input, &answers, opts).unwrap();
                ns.push(t.elapsed().as_nanos() as u64);
                std::hint::black_box(d);
            }
            ns.sort_unstable();
            let q = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)] as f64 / 1000.0;
            println!(
                "{flow:<18} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                trace,
                q(0.5),
                q(0.99),
                q(0.999),
                q(1.0)
            );
        }
    }
}
