//! Test harness: a real server on an ephemeral port (SQLite in a temp dir or
//! a fresh PostgreSQL database), the data-source stub, and a webhook receiver
//! that records what it is sent.

#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../../store/tests/support/pg.rs"]
pub mod pg;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use riskflow_server::{Config, Server};
use serde_json::{Value as Json, json};

pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/project")
}

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub state: riskflow_server::AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

/// Which databases a test runs on: SQLite always, PostgreSQL when present.
pub async fn databases(test: &str) -> Vec<(String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![(
        format!("sqlite://{}/riskflow.db", dir.path().display()),
        Some(dir),
    )];
    if let Some(url) = pg::fresh_database(test).await {
        out.push((url, None));
    }
    out
}

pub async fn start(
    url: &str,
    dir: Option<tempfile::TempDir>,
    tweak: impl FnOnce(&mut Config),
) -> TestServer {
    let stub = riskflow_stub::spawn(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let mut config = Config::new(project_dir());
    config.database_url = url.to_string();
    config
        .project_vars
        .insert("RISKFLOW_SOURCES".into(), format!("http://{stub}"));
    config.poll = Duration::from_millis(20);
    config.retry_base = Duration::from_millis(10);
    config.node = format!("test-{}", fastrand::u32(..));
    tweak(&mut config);
    let server = Server::start(config).await.unwrap();
    let state = server.state().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    TestServer {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        state,
        stop: Some(tx),
        task: Some(task),
        _dir: dir,
    }
}

impl TestServer {
    pub async fn post(&self, path: &str, body: &Json) -> (StatusCode, HeaderMap, Json) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Json::Null))
    }

    /// Queues an application; asserts the 202 and its Location; the id.
    pub async fn apply(&self, flow: &str, input: &Json) -> String {
        let (s, h, a) = self
            .post(&format!("/v1/flows/{flow}/applications"), input)
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{a}");
        let id = a["id"].as_str().unwrap().to_string();
        assert_eq!(h["location"], format!("/v1/decisions/{id}"));
        id
    }

    async fn send_get(&self, path: &str) -> reqwest::Response {
        let url = format!("{}{path}", self.base);
        self.client.get(url).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Json) {
        let r = self.send_get(path).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Json::Null))
    }

    pub async fn text(&self, path: &str) -> String {
        self.send_get(path).await.text().await.unwrap()
    }

    /// Polls `GET /v1/decisions/{id}` until it is no longer pending.
    pub async fn settled(&self, id: &str) -> Json {
        let t = Instant::now();
        loop {
            let (s, d) = self.get(&format!("/v1/decisions/{id}")).await;
            assert_eq!(s, StatusCode::OK, "{d}");
            if d["status"] != "pending" {
                return d;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{id} still pending: {d}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }
}

pub use riskflow_stub::receiver::{Received, Receiver};

/// Waits (30 s at most) until `pred` holds over what `rx` received.
pub async fn wait_for(rx: &Receiver, what: &str, pred: impl Fn(&[Received]) -> bool) {
    assert!(
        rx.wait_for(Duration::from_secs(30), pred).await,
        "timed out waiting for {what}"
    );
}

pub fn subscribe_body(addr: SocketAddr, events: &[&str]) -> Json {
    json!({"url": format!("http://{addr}/hook"), "events": events, "secret": "0123456789abcdef-secret"})
}
