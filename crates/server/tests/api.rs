//! The HTTP API end to end, on SQLite and on PostgreSQL: bad input, sync
//! decisions and the decision log, queued applications, retries and dead
//! letters, signed webhooks.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{Value as Json, json};
use tower::ServiceExt;

fn quick_input() -> Json {
    json!({"customer": "C-1", "amount": "250.00", "age": 30, "channel": "app"})
}

/// Calls the router without a socket.
async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    ct: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Json) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Json::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_one_envelope_and_never_a_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/db", dir.path().display());
    let srv = start(&url, None, |c| c.body_limit = 4096).await;
    let app = riskflow_server_router(&srv);
    let j = Some("application/json");
    // method, uri, content type, body, status, code
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/flows/quick/decisions",
            j,
            b"{\"customer\": ".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/flows/quick/decisions",
            j,
            b"".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/flows/nope/decisions",
            j,
            b"{}".to_vec(),
            404,
            "unknown_flow",
        ),
        (
            "POST",
            "/v1/flows/quick/decisions",
            Some("text/plain"),
            b"{}".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/v1/flows/quick/decisions",
            None,
            b"{}".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/v1/flows/quick/decisions",
            j,
            vec![b' '; 5000],
            413,
            "payload_too_large",
        ),
        (
            "POST",
            "/v1/flows/quick/decisions",
            j,
            b"[1, 2]".to_vec(),
            422,
            "invalid_input",
        ),
        (
            "POST",
            "/v1/flows/quick/applications",
            j,
            b"{\"age\": -1}".to_vec(),
            422,
            "invalid_input",
        ),
        (
            "DELETE",
            "/v1/flows/quick/decisions",
            j,
            b"{}".to_vec(),
            405,
            "method_not_allowed",
        ),
        ("GET", "/v2/anything", None, vec![], 404, "not_found"),
        (
            "GET",
            "/v1/decisions/dec_missing",
            None,
            vec![],
            404,
            "not_found",
        ),
        (
            "GET",
            "/v1/decisions?limit=lots",
            None,
            vec![],
            400,
            "bad_request",
        ),
        (
            "GET",
            "/v1/decisions?status=maybe",
            None,
            vec![],
            400,
            "bad_request",
        ),
        (
            "GET",
            "/v1/decisions?from=yesterday",
            None,
            vec![],
            400,
            "bad_request",
        ),
        (
            "POST",
            "/v1/webhooks",
            j,
            b"{\"url\": \"ftp://x\", \"events\": [\"nope\"]}".to_vec(),
            422,
            "invalid_input",
        ),
        (
            "DELETE",
            "/v1/webhooks/wh_missing",
            None,
            vec![],
            404,
            "not_found",
        ),
        (
            "POST",
            "/v1/dead-letters/dec_missing/redrive",
            None,
            vec![],
            404,
            "not_found",
        ),
    ];
    for (method, uri, ct, body, status, code) in cases {
        let (s, b) = call(&app, method, uri, ct, body).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {uri}: {b}"
        );
        assert!(
            b["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(b["error"].as_object().unwrap().contains_key("details"));
    }

    // A type error lists every bad field and why.
    let (s, b) = call(
        &app,
        "POST",
        "/v1/flows/quick/decisions",
        j,
        br#"{"customer": 7, "amount": "12.345", "age": 200, "channel": "fax"}"#.to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    insta::assert_json_snapshot!("invalid_input", b);
    let (_, b) = call(
        &app,
        "POST",
        "/v1/flows/quick/decisions",
        j,
        b"{\"a\": tru}".to_vec(),
    )
    .await;
    insta::assert_json_snapshot!("malformed_json", b);
    srv.stop().await;
}

fn riskflow_server_router(srv: &TestServer) -> axum::Router {
    riskflow_server::router(srv.state.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_decisions_are_logged_with_every_value() {
    for (url, dir) in databases("sync_log").await {
        let srv = start(&url, dir, |_| {}).await;
        let (s, _, d) = srv.post("/v1/flows/quick/decisions", &quick_input()).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        assert_eq!(d["outputs"]["decision"], "approve");
        assert!(d.get("trace").is_none());
        let id = d["id"].as_str().unwrap().to_string();

        // The log has the request, every intermediate value, outputs, release, timings.
        let (s, log) = srv.get(&format!("/v1/decisions/{id}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(log["request"], quick_input());
        assert_eq!(log["trace"]["variables"]["big"], false);
        assert_eq!(log["outputs"], d["outputs"]);
        assert_eq!(
            (log["status"].as_str(), log["mode"].as_str()),
            (Some("completed"), Some("sync"))
        );
        assert_eq!(log["release"], d["release"]);
        assert_eq!(log["key"], "C-1");
        assert!(log["duration_us"].as_i64().unwrap() > 0);

        let mut big = quick_input();
        big["amount"] = json!("5000.00");
        big["customer"] = json!("C-2");
        let (_, _, t) = srv.post("/v1/flows/quick/decisions?trace=true", &big).await;
        assert_eq!(t["outputs"]["decision"], "review");
        assert_eq!(t["trace"]["variables"]["big"], true);
        for i in 0..7 {
            let mut x = quick_input();
            x["customer"] = json!(format!("P-{i}"));
            srv.post("/v1/flows/quick/decisions", &x).await;
        }

        let (_, reviews) = srv.get("/v1/decisions?flow=quick&outcome=review").await;
        assert_eq!(reviews["items"].as_array().unwrap().len(), 1);
        assert_eq!(reviews["items"][0]["key"], "C-2");
        let (_, by_key) = srv.get("/v1/decisions?key=C-1").await;
        assert_eq!(by_key["items"][0]["id"], json!(id));
        // Cursor paging: 9 decisions, pages of 4, newest first, each once.
        let mut seen = Vec::new();
        let mut next = String::new();
        loop {
            let (_, page) = srv.get(&format!("/v1/decisions?limit=4{next}")).await;
            seen.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["id"].as_str().unwrap().to_string()),
            );
            match page["next"].as_str() {
                Some(c) => next = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 9);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 9);
        let (_, future) = srv.get("/v1/decisions?from=2999-01-01T00:00:00Z").await;
        assert!(future["items"].as_array().unwrap().is_empty());
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_are_decided_once_and_events_are_signed() {
    for (url, dir) in databases("apps").await {
        let srv = start(&url, dir, |_| {}).await;
        let (rx, addr) = Receiver::spawn().await.unwrap();
        let (s, _, hook) = srv
            .post(
                "/v1/webhooks",
                &subscribe_body(addr, &["decision.completed"]),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{hook}");
        let (_, hooks) = srv.get("/v1/webhooks").await;
        assert_eq!(hooks["items"].as_array().unwrap().len(), 1);
        assert!(
            hooks["items"][0].get("secret").is_none(),
            "the secret is shown once"
        );

        let mut ids = HashSet::new();
        for i in 0..20 {
            let a_id = srv
                .apply(
                    "scored",
                    &json!({"customer": format!("D-{i}"), "amount": 100}),
                )
                .await;
            ids.insert(a_id);
        }
        // Idempotency: the same key gives the same id and no second job.
        let req = |k: &str| {
            srv.client
                .post(format!("{}/v1/flows/scored/applications", srv.base))
                .header("idempotency-key", k)
                .json(&json!({"customer": "D-idem", "amount": 1}))
                .send()
        };
        let first = req("k-1").await.unwrap();
        let first_id = first.json::<Json>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let again = req("k-1").await.unwrap();
        assert_eq!(again.status(), StatusCode::ACCEPTED);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.json::<Json>().await.unwrap()["id"], json!(first_id));
        ids.insert(first_id);

        for id in &ids {
            let d = srv.settled(id).await;
            assert_eq!(d["status"], "completed", "{d}");
            assert_eq!(d["mode"], "async");
            assert!(d["outputs"]["risk_score"].is_i64());
            assert!(
                d["trace"]["sources"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty())
            );
        }
        wait_for(&rx, "an event per application", |ev| {
            ev.iter()
                .map(|e| {
                    e.json()["data"]["decision_id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect::<HashSet<_>>()
                .len()
                == ids.len()
        })
        .await;
        let secret = "0123456789abcdef-secret";
        let mut per_decision: HashMap<String, HashSet<String>> = HashMap::new();
        for e in rx.events() {
            let ts: i64 = e.headers["riskflow-timestamp"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                e.headers["riskflow-signature"].to_str().unwrap(),
                riskflow_server::sign(secret, ts, e.body.as_bytes()),
                "signature over timestamp.body"
            );
            let j = e.json();
            assert_eq!(
                e.headers["riskflow-event-id"].to_str().unwrap(),
                j["id"].as_str().unwrap()
            );
            assert_eq!(j["type"], "decision.completed");
            per_decision
                .entry(j["data"]["decision_id"].as_str().unwrap().into())
                .or_default()
                .insert(j["id"].as_str().unwrap().into());
        }
        assert!(
            per_decision.values().all(|evs| evs.len() == 1),
            "one event per decision"
        );
        assert_eq!(per_decision.keys().cloned().collect::<HashSet<_>>(), ids);

        let (_, delivered) = srv
            .get(&format!(
                "/v1/decisions/{}/events",
                ids.iter().next().unwrap()
            ))
            .await;
        assert_eq!(delivered["items"][0]["state"], "delivered");
        let id = hook["id"].as_str().unwrap();
        let del = srv
            .client
            .delete(format!("{}/v1/webhooks/{id}", srv.base))
            .send()
            .await
            .unwrap();
        assert_eq!(del.status(), StatusCode::NO_CONTENT);
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_sources_retry_then_dead_letter_and_can_be_redriven() {
    for (url, dir) in databases("dead").await {
        let srv = start(&url, dir, |c| c.max_attempts = 3).await;
        let (rx, addr) = Receiver::spawn().await.unwrap();
        // The receiver fails twice first: deliveries are retried.
        rx.fail_next(2);
        srv.post(
            "/v1/webhooks",
            &subscribe_body(addr, &["application.dead_lettered", "decision.failed"]),
        )
        .await;

        let a_id = srv
            .apply("scored", &json!({"customer": "FAIL-1", "amount": 5}))
            .await;
        let id = &a_id;
        let d = srv.settled(id).await;
        assert_eq!(
            (d["status"].as_str(), d["attempts"].as_i64()),
            (Some("dead_lettered"), Some(3)),
            "{d}"
        );
        assert!(d["error"].as_str().unwrap().contains("device_risk"), "{d}");
        let (_, letters) = srv.get("/v1/dead-letters").await;
        assert_eq!(letters["items"][0]["id"], json!(id));
        assert!(
            letters["items"][0]["last_error"]
                .as_str()
                .unwrap()
                .contains("503")
        );

        // An expression error fails at once: retrying cannot fix it.
        let f_id = srv.apply("fragile", &json!({"a": 1, "b": 0})).await;
        let fd = srv.settled(&f_id).await;
        assert_eq!(
            (fd["status"].as_str(), fd["attempts"].as_i64()),
            (Some("failed"), Some(1)),
            "{fd}"
        );

        wait_for(&rx, "the dead-letter and failure events", |ev| {
            ev.len() >= 2
        })
        .await;
        let kinds: HashSet<String> = rx
            .events()
            .iter()
            .map(|e| e.json()["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            kinds,
            HashSet::from([
                "application.dead_lettered".to_string(),
                "decision.failed".to_string()
            ])
        );

        let (s, _, r) = srv
            .post(&format!("/v1/dead-letters/{id}/redrive"), &json!({}))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{r}");
        let again = srv.settled(id).await;
        assert_eq!(
            again["status"], "dead_lettered",
            "still failing, dead-lettered again"
        );
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_openapi_describe_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(
        &format!("sqlite://{}/db", dir.path().display()),
        None,
        |_| {},
    )
    .await;
    srv.post("/v1/flows/quick/decisions", &quick_input()).await;
    let a_id = srv
        .apply("scored", &json!({"customer": "M-1", "amount": 5}))
        .await;
    srv.settled(&a_id).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let text = srv.text("/metrics").await;
    for name in [
        "riskflow_http_request_duration_seconds_bucket{route=\"/v1/flows/{flow}/decisions\",flow=\"quick\",status=\"200\"",
        "riskflow_queue_depth",
        "riskflow_queue_oldest_job_age_seconds",
        "riskflow_worker_busy_ratio",
        "riskflow_outbox_lag_seconds",
        "riskflow_source_duration_seconds_bucket{source=\"device\"",
        "riskflow_jobs_total{flow=\"scored\",status=\"completed\"}",
    ] {
        assert!(text.contains(name), "missing {name} in:\n{text}");
    }
    let (_, spec) = srv.get("/openapi.json").await;
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().unwrap();
    for p in [
        "/v1/flows/quick/decisions",
        "/v1/flows/scored/applications",
        "/v1/decisions",
        "/v1/decisions/{id}",
        "/v1/webhooks",
        "/v1/dead-letters/{id}/redrive",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "{p}");
    }
    let quick = &paths["/v1/flows/quick/decisions"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(
        quick["properties"]["channel"]["enum"],
        json!(["app", "web"])
    );
    assert_eq!(quick["properties"]["age"]["maximum"], json!(150.0));
    let docs = srv.text("/docs").await;
    assert!(
        docs.contains("openapi.json") && !docs.contains("https://"),
        "the docs page works offline"
    );
    let (s, ready) = srv.get("/readyz").await;
    assert_eq!(
        (s, ready["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_flow_holds_no_more_jobs_than_its_cap_and_does_not_block_others() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/db", dir.path().display());
    let srv = start(&url, None, |c| {
        c.flow_concurrency.insert("scored".into(), 2);
    })
    .await;
    // SLOW* devices take 2 s at the stub.
    let mut ids = Vec::new();
    for i in 0..3 {
        let a_id = srv
            .apply(
                "scored",
                &json!({"customer": format!("SLOW-{i}"), "amount": 1}),
            )
            .await;
        ids.push(a_id);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let leased = srv
        .state
        .store
        .scalar("SELECT COUNT(*) FROM jobs WHERE lease_owner IS NOT NULL")
        .await
        .unwrap();
    assert_eq!(
        leased, 2,
        "the cap of 2 is respected; the third job waits in the queue"
    );
    // Another flow is not held up by the capped one.
    let t = std::time::Instant::now();
    let f_id = srv.apply("fragile", &json!({"a": 6, "b": 3})).await;
    let fd = srv.settled(&f_id).await;
    assert_eq!(fd["outputs"]["ratio"], 2);
    assert!(
        t.elapsed() < std::time::Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    for id in &ids {
        assert_eq!(srv.settled(id).await["status"], "completed");
    }
    srv.stop().await;
}
