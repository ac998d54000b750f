//! Where a decision spends its time: input binding, and per-node timings from the trace.
//!
//!     cargo run --release -p riskflow-engine --example phases

#![allow(clippy::unwrap_used)]
use std::path::PathBuf;
use std::time::Instant;
fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/lending");
    let project = riskflow_engine::load(&root).unwrap();
    for flow in ["loan_extension", "credit_new"] {
        let f = &project.flows[flow];
        let input: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("requests").join(format!("{flow}.json"))).unwrap(),
        )
        .unwrap();
        let n = 20000;
        let t = Instant::now();
        for _ in 0..n {
            let mut slots = vec![riskflow_expr::Value::Null; f.slot_count];
            f.bind_input(&input, &mut slots).unwrap();
            std::hint::black_box(slots);
        }
        println!(
            "{flow}: bind_input {:.2} µs, {} slots, {} nodes, plan {} steps",
            t.elapsed().as_secs_f64() * 1e6 / n as f64,
            f.slot_count,
            f.nodes.len(),
            f.full_plan.steps.len()
        );
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(serde_json::to_string(&input).unwrap());
        }
        println!(
            "  (serialize input {:.2} µs)",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        let answers = riskflow_engine::Answers(std::collections::HashMap::from([
            (
                "bureau".to_string(),
                serde_json::json!({"hit": true, "score": 742, "delinquencies_24m": 0, "max_dpd_12m": 0, "open_accounts": 1, "inquiries_6m": 3, "total_debt": 44410.77, "oldest_account_months": 6, "utilization": 0.03, "bankruptcy": false, "collections": false}),
            ),
            (
                "device".to_string(),
                serde_json::json!({"risk_score": 22, "emulator": false, "proxy": false, "accounts_on_device": 2, "first_seen_days": 251, "country": "CN"}),
            ),
        ]));
        let mut sum: std::collections::HashMap<String, f64> = Default::default();
        for _ in 0..2000 {
            let d = f
                .decide(
                    &input,
                    &answers,
                    riskflow_engine::DecideOptions { trace: true },
                )
                .unwrap();
            for (k, v) in d.trace.unwrap().timings_us.0 {
                *sum.entry(k.to_string()).or_default() += v / 2000.0;
            }
        }
        let mut v: Vec<_> = sum.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = v.iter().map(|x| x.1).sum();
        println!("  traced node time total {total:.2} µs; top:");
        for (k, t) in v.iter().take(12) {
            println!("    {k:<30} {t:.3}");
        }
    }
}
