//! `riskflow serve` as a real process: kill -9 mid-stream loses nothing
//! acknowledged and invents nothing; SIGTERM finishes in-flight work and
//! gives leases back; two nodes on one PostgreSQL decide each application
//! exactly once.

#![allow(clippy::unwrap_used)]

#[path = "../../store/tests/support/pg.rs"]
mod pg;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use riskflow_store::Store;
use riskflow_stub::receiver::Receiver;
use serde_json::{Value as Json, json};

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../server/tests/project")
}

struct Node {
    child: Child,
    base: String,
}

fn spawn(db: &str, log: &Path, extra: &[&str]) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_riskflow"))
        .arg("serve")
        .arg(project())
        .args([
            "--database",
            db,
            "--listen",
            "127.0.0.1:0",
            "--quiet",
            "--stub",
        ])
        .args(extra)
        .env("RISKFLOW_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}; see {}", log.display()))
        .to_string();
    Node { child, base }
}

impl Node {
    fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t.elapsed() < within,
                "the server did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Json {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn settle(client: &reqwest::Client, base: &str, id: &str) -> Json {
    let t = Instant::now();
    loop {
        let d = get_json(client, &format!("{base}/v1/decisions/{id}")).await;
        if d["status"] != "pending" {
            return d;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "{id} still pending");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_nothing_acknowledged_and_invents_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/riskflow.db", dir.path().display());
    let log = dir.path().join("server.log");
    let (rx, addr) = Receiver::spawn().await.unwrap();
    let client = reqwest::Client::new();
    // Short leases so the restarted node reclaims the killed node's jobs soon.
    let mut first = spawn(&db, &log, &["--lease-ms", "3000"]);
    let r = client
        .post(format!("{}/v1/webhooks", first.base))
        .json(&json!({"url": format!("http://{addr}/hook"), "events": ["decision.completed"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let sent: Arc<Mutex<HashSet<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (acked, sent, stop, client, base) = (
            acked.clone(),
            sent.clone(),
            stop.clone(),
            client.clone(),
            first.base.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let customer = format!("K-{t}-{i}");
                i += 1;
                sent.lock().unwrap().insert(customer.clone());
                let r = client
                    .post(format!("{base}/v1/flows/scored/applications"))
                    .json(&json!({"customer": customer, "amount": 10}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 202 => {
                        let id = r.json::<Json>().await.unwrap()["id"]
                            .as_str()
                            .unwrap()
                            .to_string();
                        acked.lock().unwrap().insert(id, customer);
                    }
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }));
    }
    // Let the stream run, with jobs being decided and events going out, then kill -9.
    let t = Instant::now();
    while acked.lock().unwrap().len() < 300 && t.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.signal("-KILL");
    first.wait_exit(Duration::from_secs(10));
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300, "only {} acknowledged", acked.len());

    // Restart on the same database: every acknowledged application is decided.
    let second = spawn(&db, &log, &["--lease-ms", "1000"]);
    for id in acked.keys() {
        let d = settle(&client, &second.base, id).await;
        assert_eq!(d["status"], "completed", "{d}");
        assert_eq!(
            d["request"]["customer"].as_str(),
            acked.get(id).map(String::as_str)
        );
        let ev = get_json(
            &client,
            &format!("{}/v1/decisions/{id}/events", second.base),
        )
        .await;
        let events: HashSet<&str> = ev["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        assert_eq!(events.len(), 1, "exactly one decision event for {id}: {ev}");
    }
    // At least one delivered event per acknowledged application.
    let ok = rx
        .wait_for(Duration::from_secs(90), |got| {
            let seen: HashSet<String> = got
                .iter()
                .filter_map(|e| e.json()["data"]["decision_id"].as_str().map(String::from))
                .collect();
            acked.keys().all(|id| seen.contains(id))
        })
        .await;
    assert!(
        ok,
        "some acknowledged applications never had an event delivered"
    );
    drop(second);

    // Nothing invented: every stored application was sent, and none twice.
    let store = Store::open(&db).await.unwrap();
    let total = store
        .scalar("SELECT COUNT(*) FROM decisions")
        .await
        .unwrap();
    let mut q = riskflow_store::DecisionQuery {
        limit: 1000,
        ..Default::default()
    };
    let mut customers = Vec::new();
    loop {
        let page = store.decisions(&q).await.unwrap();
        customers.extend(
            page.items
                .iter()
                .map(|d| d.request["customer"].as_str().unwrap().to_string()),
        );
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(customers.len() as i64, total);
    let sent = sent.lock().unwrap().clone();
    assert!(
        customers.iter().all(|c| sent.contains(c)),
        "a decision nobody asked for"
    );
    assert_eq!(
        customers.iter().collect::<HashSet<_>>().len(),
        customers.len(),
        "an application stored twice"
    );
    let stored_events = store
        .scalar("SELECT COUNT(*) - COUNT(DISTINCT decision_id) FROM outbox")
        .await
        .unwrap();
    assert_eq!(stored_events, 0, "a decision with two events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_gives_leases_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/riskflow.db", dir.path().display());
    let log = dir.path().join("server.log");
    let client = reqwest::Client::new();
    let mut node = spawn(&db, &log, &["--shutdown-grace-ms", "300"]);

    // A synchronous decision that takes 2 s (the stub is slow for SLOW* devices).
    let base = node.base.clone();
    let c = client.clone();
    let in_flight = tokio::spawn(async move {
        c.post(format!("{base}/v1/flows/scored/decisions"))
            .json(&json!({"customer": "SLOW-sync", "amount": 1}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    // A queued application whose job will still be running when the grace period ends.
    let a: Json = client
        .post(format!("{}/v1/flows/scored/applications", node.base))
        .json(&json!({"customer": "SLOW-async", "amount": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = a["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // No new connections once shutdown has begun.
    let late = client.get(format!("{}/healthz", node.base)).send().await;
    assert!(
        late.is_err() || late.unwrap().status() == 503,
        "accepted a request after SIGTERM"
    );

    let r = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was cut off");
    assert_eq!(r.status(), 200);
    let body: Json = r.json().await.unwrap();
    assert!(body["outputs"]["decision"].is_string(), "{body}");
    let status = node.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}");

    // The job's lease was given back, uncounted, and the application is still pending.
    let store = Store::open(&db).await.unwrap();
    let free = store
        .scalar("SELECT COUNT(*) FROM jobs WHERE lease_owner IS NULL AND attempts = 0")
        .await
        .unwrap();
    assert_eq!(
        free,
        1,
        "the lease was not given back; see {}",
        log.display()
    );
    assert_eq!(
        store.decision(&id).await.unwrap().status,
        riskflow_store::Status::Pending
    );
    store.close().await;

    // The next node decides it.
    let next = spawn(&db, &log, &[]);
    let d = settle(&client, &next.base, &id).await;
    assert_eq!(d["status"], "completed");
    assert_eq!(d["attempts"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_decide_each_of_10000_applications_once() {
    let Some(db) = pg::fresh_database("two_nodes").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let nodes = [
        spawn(&db, &log, &["--node", "node-a"]),
        spawn(&db, &log, &["--node", "node-b"]),
    ];
    let client = reqwest::Client::new();
    const N: usize = 10_000;
    const CLIENTS: usize = 32;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let client = client.clone();
        let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            for i in (c..N).step_by(CLIENTS) {
                let r = client
                    .post(format!("{}/v1/flows/quick/applications", bases[i % 2]))
                    .json(&json!({"customer": format!("N-{i}"), "amount": "10.00", "age": 30 + (i % 50), "channel": "web"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                n += 1;
            }
            n
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    assert_eq!(accepted, N);
    let store = Store::open(&db).await.unwrap();
    let t = Instant::now();
    while store
        .scalar("SELECT COUNT(*) FROM decisions WHERE status = 'pending'")
        .await
        .unwrap()
        > 0
    {
        assert!(t.elapsed() < Duration::from_secs(300), "not all decided");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let count = |sql: &'static str| {
        let store = store.clone();
        async move { store.scalar(sql).await.unwrap() }
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM decisions WHERE status = 'completed'").await,
        N as i64
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM outbox WHERE kind = 'decision.completed'").await,
        N as i64
    );
    assert_eq!(
        count("SELECT COUNT(DISTINCT decision_id) FROM outbox").await,
        N as i64
    );
    assert_eq!(count("SELECT COUNT(*) FROM jobs").await, 0);
    assert_eq!(
        count("SELECT COUNT(*) FROM decisions WHERE attempts <> 1").await,
        0,
        "no job ran twice"
    );
    let by_node = count("SELECT COUNT(DISTINCT decided_by) FROM decisions").await;
    assert_eq!(by_node, 2, "both nodes took work");
}
