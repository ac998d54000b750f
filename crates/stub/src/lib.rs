//! A stand-in for the example project's HTTP data sources — a credit bureau
//! and a device-risk service — so the demo and the tests need no internet.
//! Answers are a deterministic function of the request. Special inputs
//! exercise failure handling: an id or device starting with `FAIL` gets a
//! 503, one starting with `SLOW` an answer after 2 s.
//!
//! This is test and demo tooling; nothing in the product depends on it.

pub mod receiver;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::{Json, Router, routing::post};
use serde_json::{Value, json};

fn hash(s: &str) -> u64 {
    // FNV-1a: stable across runs and platforms.
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x1000_0000_01b3)
    })
}

async fn misbehave(key: &str) -> Option<StatusCode> {
    if key.starts_with("FAIL") {
        return Some(StatusCode::SERVICE_UNAVAILABLE);
    }
    if key.starts_with("SLOW") {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    None
}

/// `POST /bureau/report` `{"id_number": …}` → a credit report.
async fn bureau(Json(req): Json<Value>) -> Result<Json<Value>, StatusCode> {
    let id = req
        .get("id_number")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(code) = misbehave(&id).await {
        return Err(code);
    }
    if id.starts_with("NOHIT") {
        return Ok(Json(json!({"hit": false})));
    }
    let h = hash(&id);
    let score = 450 + (h % 400) as i64;
    let thin = h.is_multiple_of(17);
    Ok(Json(json!({
        "hit": true,
        "score": score,
        "delinquencies_24m": if score < 550 { (h >> 8) % 4 } else { (h >> 8) % 2 * ((h >> 9) % 2) },
        "max_dpd_12m": if score < 520 { 30 + (h >> 12) % 60 } else { 0 },
        "open_accounts": if thin { 0 } else { 1 + (h >> 16) % 12 },
        "inquiries_6m": (h >> 20) % 9,
        "total_debt": ((h >> 24) % 6_000_000) as f64 / 100.0,
        "oldest_account_months": if thin { 0 } else { 6 + (h >> 32) % 240 },
        "utilization": ((h >> 40) % 100) as f64 / 100.0,
        "bankruptcy": h.is_multiple_of(97),
        "collections": (h >> 44).is_multiple_of(7),
    })))
}

/// `POST /device/risk` `{"device_id": …, "ip": …}` → a device-risk assessment.
async fn device(Json(req): Json<Value>) -> Result<Json<Value>, StatusCode> {
    let id = req
        .get("device_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(code) = misbehave(&id).await {
        return Err(code);
    }
    let h = hash(&id);
    let country = ["CN", "CN", "CN", "HK", "SG", "US"][((h >> 24) % 6) as usize];
    Ok(Json(json!({
        "risk_score": (h % 100) as i64,
        "emulator": id.starts_with("EMU") || h.is_multiple_of(53),
        "proxy": h.is_multiple_of(29),
        "accounts_on_device": 1 + (h >> 8) % 5,
        "first_seen_days": (h >> 16) % 900,
        "country": country,
    })))
}

pub fn app() -> Router {
    Router::new()
        .route("/bureau/report", post(bureau))
        .route("/device/risk", post(device))
}

/// Binds `addr` (port 0 picks a free port) and serves in the background; returns the bound address.
pub async fn spawn(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app()).await;
    });
    Ok(bound)
}
