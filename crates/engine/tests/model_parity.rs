//! Parity with the reference libraries: models trained by
//! `tools/train_models.py` on the German credit data, predictions recorded
//! from XGBoost and LightGBM themselves (missing values included). Every
//! riskflow prediction must be within 1e-6 of the library's.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::path::PathBuf;

use riskflow_engine::models::{LightGbm, XgBoost};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap()
}

/// (features with NaN for missing, expected predictions by column name)
fn rows() -> (Vec<String>, Vec<Vec<f64>>) {
    let mut rdr = csv::Reader::from_path(dir().join("parity.csv")).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let rows = rdr
        .records()
        .map(|r| {
            r.unwrap()
                .iter()
                .map(|c| {
                    if c.is_empty() {
                        f64::NAN
                    } else {
                        c.parse().unwrap()
                    }
                })
                .collect()
        })
        .collect();
    (header, rows)
}

fn check(column: &str, predict: impl Fn(&[f64]) -> f64) -> f64 {
    let (header, rows) = rows();
    let n_features = header.iter().position(|h| h == "xgb_binary").unwrap();
    let col = header.iter().position(|h| h == column).unwrap();
    assert!(rows.len() >= 100);
    assert!(
        rows.iter()
            .any(|r| r[..n_features].iter().any(|x| x.is_nan())),
        "parity data must include missing values"
    );
    let max = rows
        .iter()
        .map(|r| (predict(&r[..n_features]) - r[col]).abs())
        .fold(0.0, f64::max);
    println!("{column}: max |diff| = {max:e} over {} rows", rows.len());
    max
}

#[test]
fn xgboost_binary_logistic() {
    let m = XgBoost::from_json(&read("xgb_binary.json")).unwrap();
    assert!(check("xgb_binary", |x| m.predict(x).probability.unwrap()) <= 1e-6);
}

#[test]
fn xgboost_regression() {
    let m = XgBoost::from_json(&read("xgb_regression.json")).unwrap();
    assert!(check("xgb_regression", |x| m.predict(x).score) <= 1e-6);
}

#[test]
fn lightgbm_binary() {
    let m = LightGbm::from_text(&read("lgb_binary.txt")).unwrap();
    assert!(check("lgb_binary", |x| m.predict(x).probability.unwrap()) <= 1e-6);
}

#[test]
fn lightgbm_regression() {
    let m = LightGbm::from_text(&read("lgb_regression.txt")).unwrap();
    assert!(check("lgb_regression", |x| m.predict(x).score) <= 1e-6);
}

#[test]
fn malformed_models_are_errors_not_panics() {
    assert!(XgBoost::from_json("{}").is_err());
    assert!(XgBoost::from_json("not json").is_err());
    assert!(
        LightGbm::from_text("tree\nobjective=binary\nTree=0\nnum_leaves=3\nleaf_value=1 2\n")
            .is_err()
    );
    assert!(LightGbm::from_text("").is_err());
    let truncated = &read("xgb_binary.json")[..5000];
    assert!(XgBoost::from_json(truncated).is_err());
}
