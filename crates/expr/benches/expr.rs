//! Evaluation cost of typical rule expressions (compiled once, evaluated many
//! times against slot-bound variables). The same expressions against cel-rust
//! and zen-expression are in benches/peers.

#![allow(clippy::unwrap_used)] // benchmark set-up: a panic is a broken benchmark

use criterion::{Criterion, criterion_group, criterion_main};
use riskflow_expr::{Env, Key, Map, Program, Type, Value};
use std::hint::black_box;

pub const WEIGHTED: &str = "0.12 * f0 + 0.08 * f1 + 0.15 * f2 + 0.05 * f3 + 0.2 * f4 + 0.1 * f5 + 0.07 * f6 + 0.09 * f7 + 0.06 * f8 + 0.08 * f9";

fn bench(c: &mut Criterion) {
    let mut env = Env::new();
    env.declare("amount", Type::Double);
    env.declare("age", Type::Int);
    env.declare("device_id", Type::String);
    env.declare("blacklist", Type::list(Type::String));
    env.declare("apps_7d", Type::Int);
    env.declare("input", Type::map(Type::String, Type::Dyn));
    for i in 0..10 {
        env.declare(&format!("f{i}"), Type::Double);
    }
    let blacklist: Vec<Value> = (0..100)
        .map(|i| Value::from(format!("dev-{i:04}")))
        .collect();
    let mut input = Map::default();
    input.insert(Key::from("amount"), Value::Double(6000.0));
    let mut vars = vec![
        Value::Double(6000.0),
        Value::Int(22),
        Value::from("dev-0099"),
        Value::list(blacklist),
        Value::Int(2),
        Value::map(input),
    ];
    vars.extend((0..10).map(|i| Value::Double(i as f64 * 1.5)));
    let mut g = c.benchmark_group("expr");
    for (name, src) in [
        ("and_compare", "amount > 5000.0 && age < 25"),
        ("in_list_100", "device_id in blacklist"),
        ("or_has", "apps_7d > 3 || has(input.referrer)"),
        ("weighted_10", WEIGHTED),
    ] {
        let p = Program::compile(src, &env).unwrap_or_else(|e| panic!("{}", e.render(src)));
        assert!(p.eval(&vars[..]).is_ok());
        g.bench_function(name, |b| b.iter(|| p.eval(black_box(&vars[..]))));
    }
    g.bench_function("compile_and_compare", |b| {
        b.iter(|| Program::compile(black_box("amount > 5000.0 && age < 25"), &env))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
