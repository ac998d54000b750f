//! Invariants over arbitrary input: the parser and evaluator never panic,
//! and user-facing errors name the place.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use proptest::prelude::*;
use riskflow_expr::{Env, Options, Program, Type, Value};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let src = String::from_utf8_lossy(&bytes);
        let env = Env::new();
        let _ = Program::compile_with(&src, &env, Options { macros: true, check: false }).map(|p| p.eval(&[] as &[Value]));
    }

    #[test]
    fn random_expressions_never_panic(src in "[a-z0-9 +*/%<>=!&|?:.,'\\[\\]{}()-]{0,40}") {
        let mut env = Env::new();
        env.declare("a", Type::Int);
        env.declare("b", Type::Dyn);
        if let Ok(p) = Program::compile_with(&src, &env, Options { macros: true, check: false }) {
            let _ = p.eval(&[Value::Int(i64::MAX), Value::Int(0)][..]);
        }
    }

    #[test]
    fn integer_addition_matches_checked_arithmetic(a in any::<i64>(), b in any::<i64>()) {
        let mut env = Env::new();
        env.declare("a", Type::Int);
        env.declare("b", Type::Int);
        let p = Program::compile("a + b", &env).unwrap();
        let got = p.eval(&[Value::Int(a), Value::Int(b)][..]);
        match a.checked_add(b) {
            Some(sum) => prop_assert_eq!(got.unwrap(), Value::Int(sum)),
            None => prop_assert!(got.is_err()),
        }
    }
}

fn compile_err(src: &str) -> String {
    let mut env = Env::new();
    env.declare("amount", Type::Double);
    env.declare("age", Type::Int);
    env.declare("country", Type::String);
    Program::compile(src, &env).unwrap_err().render(src)
}

#[test]
fn error_messages() {
    insta::assert_snapshot!(compile_err("amount > 5000.0 &&"), @r"
    1:19: unexpected end of expression
     | amount > 5000.0 &&
     |                   ^
    ");
    insta::assert_snapshot!(compile_err("ammount > 5000.0"), @r"
    1:1: undeclared reference to 'ammount' (did you mean 'amount'?)
     | ammount > 5000.0
     | ^^^^^^^
    ");
    insta::assert_snapshot!(compile_err("age + 'x' > 3"), @r"
    1:1: no matching overload for '+' applied to (int, string)
     | age + 'x' > 3
     | ^^^^^^^^^
    ");
    insta::assert_snapshot!(compile_err("country == 3"), @r"
    1:1: '==' compares string with int, which are never equal
     | country == 3
     | ^^^^^^^^^^^^
    ");
    insta::assert_snapshot!(compile_err("age > 1 && 'x'"), @r"
    1:12: '&&' needs a bool, got string
     | age > 1 && 'x'
     |            ^^^
    ");
}

#[test]
fn evaluation_errors_are_values_not_panics() {
    let env = Env::new();
    for src in [
        "1 / 0",
        "9223372036854775807 + 1",
        "[1][5]",
        "{'a': 1}['b']",
        "timestamp('x')",
        "int(1e99)",
    ] {
        let p = Program::compile(src, &env).unwrap();
        assert!(p.eval(&[] as &[Value]).is_err(), "{src} should fail");
    }
}
