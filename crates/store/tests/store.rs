//! One suite, two backends: every test runs on SQLite (a temp file) and on
//! PostgreSQL (see support/pg.rs).

#![allow(clippy::unwrap_used)]

mod support {
    pub mod pg;
}

use std::time::Duration;

use riskflow_store::writer::{Done, Finish, NewApplication, NewDecision, Op, Writer};
use riskflow_store::*;

async fn on_both<F, Fut>(name: &str, f: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    f(Store::open(&url).await.unwrap()).await;
    if let Some(url) = support::pg::fresh_database(name).await {
        let s = Store::open(&url).await.unwrap();
        assert_eq!(s.backend(), Backend::Postgres);
        f(s).await;
    }
}

fn app(flow: &str, idem: Option<&str>) -> NewApplication {
    NewApplication {
        id: new_id("dec_"),
        flow: flow.into(),
        release: "r1".into(),
        key: Some("cust-1".into()),
        idempotency_key: idem.map(String::from),
        request: r#"{"amount": 100}"#.into(),
        created_ms: now_ms(),
    }
}

fn finish(owner: &str, id: &str, status: Status) -> Finish {
    Finish {
        owner: owner.into(),
        id: id.into(),
        status,
        release: "r1".into(),
        outcome: Some("approve".into()),
        outputs: Some(r#"{"decision":"approve"}"#.into()),
        trace: None,
        error: None,
        attempts: 1,
        duration_us: 10,
        event: NewEvent {
            id: new_id("evt_"),
            kind: "decision.completed".into(),
            decision_id: id.into(),
            payload: "{}".into(),
            amqp: false,
        },
    }
}

async fn accept(w: &Writer, a: NewApplication) -> (String, bool) {
    match w.submit(Op::Accept(a)).await.unwrap() {
        Done::Accepted { id, existing } => (id, existing),
        d => panic!("{d:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_log_filters_and_pages() {
    on_both("log", |s| async move {
        let w = Writer::spawn(s.clone());
        let mut ids = Vec::new();
        let mut pending = Vec::new();
        for i in 0..25 {
            let id = new_id("dec_");
            ids.push(id.clone());
            let w = w.clone();
            pending.push(tokio::spawn(async move {
                w.submit(Op::Log(NewDecision {
                    id,
                    flow: if i % 2 == 0 { "a" } else { "b" }.into(),
                    release: "r1".into(),
                    status: Status::Completed,
                    outcome: Some(if i % 5 == 0 { "reject" } else { "approve" }.into()),
                    key: Some(format!("k{}", i % 3)),
                    request: format!(r#"{{"i": {i}}}"#),
                    outputs: Some(r#"{"decision": "approve"}"#.into()),
                    trace: Some(r#"{"variables": {"x": 1}}"#.into()),
                    error: None,
                    created_ms: now_ms(),
                    duration_us: 42,
                    node: "n1".into(),
                }))
                .await
            }));
        }
        for p in pending {
            assert_eq!(p.await.unwrap().unwrap(), Done::Logged);
        }
        let d = s.decision(&ids[3]).await.unwrap();
        assert_eq!(d.flow, "b");
        assert_eq!(d.request["i"], 3);
        assert_eq!(d.trace.unwrap()["variables"]["x"], 1);
        assert_eq!(d.mode, Mode::Sync);
        assert_eq!(d.decided_by.as_deref(), Some("n1"));
        assert!(matches!(
            s.decision("dec_nope").await,
            Err(StoreError::NotFound(_))
        ));

        let mut q = DecisionQuery {
            flow: Some("a".into()),
            limit: 5,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = s.decisions(&q).await.unwrap();
            assert!(
                page.items
                    .iter()
                    .all(|d| d.flow == "a" && d.trace.is_none())
            );
            seen.extend(page.items.iter().map(|d| d.id.clone()));
            match page.next {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 13);
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "newest first, no repeats across pages");

        let rejects = s
            .decisions(&DecisionQuery {
                outcome: Some("reject".into()),
                key: Some("k0".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        // i in {0, 15}: i % 5 == 0 and i % 3 == 0
        assert_eq!(rejects.items.len(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_accept_and_exclusive_claims() {
    on_both("queue", |s| async move {
        let w = Writer::spawn(s.clone());
        let (id, existing) = accept(&w, app("f", Some("key-1"))).await;
        assert!(!existing);
        let (again, existing) = accept(&w, app("f", Some("key-1"))).await;
        assert_eq!((again.as_str(), existing), (id.as_str(), true));
        for _ in 0..9 {
            accept(&w, app("f", None)).await;
        }
        assert_eq!(s.stats().await.unwrap().queue_depth, 10);

        // Two workers claim at once: disjoint sets covering the queue.
        let (a, b) = tokio::join!(
            s.claim("A", 6, Duration::from_secs(30), None),
            s.claim("B", 6, Duration::from_secs(30), None)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.len() + b.len(), 10);
        assert!(a.iter().all(|j| !b.iter().any(|k| k.id == j.id)));
        assert!(
            a.iter()
                .chain(&b)
                .all(|j| j.attempts == 1 && j.request["amount"] == 100)
        );

        // Only the holder can finish a job.
        let j = &a[0];
        let stolen = w
            .submit(Op::Finish(finish("B", &j.id, Status::Completed)))
            .await
            .unwrap();
        assert_eq!(stolen, Done::Finished(false));
        let done = w
            .submit(Op::Finish(finish("A", &j.id, Status::Completed)))
            .await
            .unwrap();
        assert_eq!(done, Done::Finished(true));
        let again = w
            .submit(Op::Finish(finish("A", &j.id, Status::Completed)))
            .await
            .unwrap();
        assert_eq!(again, Done::Finished(false), "a job is decided once");
        let d = s.decision(&j.id).await.unwrap();
        assert_eq!((d.status, d.mode), (Status::Completed, Mode::Async));
        assert_eq!(d.outputs.unwrap()["decision"], "approve");

        // Graceful shutdown gives B's leases back without counting the attempt.
        let released = s.release("B").await.unwrap();
        assert_eq!(released as usize, b.len());
        let c = s
            .claim("C", 100, Duration::from_secs(30), None)
            .await
            .unwrap();
        assert_eq!(c.len(), b.len());
        assert!(c.iter().all(|j| j.attempts == 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_leases_are_reclaimed_and_retries_dead_letter() {
    on_both("lease", |s| async move {
        let w = Writer::spawn(s.clone());
        let (id, _) = accept(&w, app("f", None)).await;
        let first = s
            .claim("A", 1, Duration::from_millis(1), None)
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = s
            .claim("B", 1, Duration::from_secs(30), None)
            .await
            .unwrap();
        assert_eq!(
            (second[0].id.as_str(), second[0].attempts),
            (id.as_str(), 2)
        );
        // A's lease is gone: its late result is refused.
        let late = w
            .submit(Op::Finish(finish("A", &id, Status::Completed)))
            .await
            .unwrap();
        assert_eq!(late, Done::Finished(false));

        // A retry is not runnable before its delay.
        assert!(
            s.retry_later("B", &id, Duration::from_secs(60), "bureau 503")
                .await
                .unwrap()
        );
        assert!(
            s.claim("B", 1, Duration::from_secs(30), None)
                .await
                .unwrap()
                .is_empty()
        );
        s.execute_raw("UPDATE jobs SET run_at_ms = 0")
            .await
            .unwrap();
        let third = s
            .claim("B", 1, Duration::from_secs(30), None)
            .await
            .unwrap();
        assert_eq!(third[0].attempts, 3);

        let mut dead = finish("B", &id, Status::DeadLettered);
        dead.error = Some("bureau 503".into());
        dead.event.kind = "application.dead_lettered".into();
        assert_eq!(
            w.submit(Op::Finish(dead)).await.unwrap(),
            Done::Finished(true)
        );
        let letters = s.dead_letters(10).await.unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].last_error.as_deref(), Some("bureau 503"));
        assert_eq!(s.decision(&id).await.unwrap().status, Status::DeadLettered);
        assert!(
            s.claim("B", 1, Duration::from_secs(30), None)
                .await
                .unwrap()
                .is_empty()
        );

        s.redrive(&id).await.unwrap();
        assert!(matches!(s.redrive(&id).await, Err(StoreError::NotFound(_))));
        assert_eq!(s.decision(&id).await.unwrap().status, Status::Pending);
        let again = s
            .claim("C", 1, Duration::from_secs(30), Some(&["f".into()]))
            .await
            .unwrap();
        assert_eq!(again[0].attempts, 1);
        assert!(
            s.claim("C", 1, Duration::from_secs(30), Some(&["other".into()]))
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_matching_webhooks_once_each() {
    on_both("events", |s| async move {
        let w = Writer::spawn(s.clone());
        let hook = |id: &str, events: &[&str]| Webhook {
            id: id.into(),
            url: format!("http://127.0.0.1:9/{id}"),
            secret: "s".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            created_ms: now_ms(),
        };
        s.create_webhook(&hook("wh_done", &["decision.completed"]))
            .await
            .unwrap();
        s.create_webhook(&hook("wh_all", &["*"])).await.unwrap();
        s.create_webhook(&hook("wh_dead", &["application.dead_lettered"]))
            .await
            .unwrap();
        assert!(matches!(
            s.create_webhook(&hook("wh_all", &["*"])).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.webhooks().await.unwrap().len(), 3);

        let (id, _) = accept(&w, app("f", None)).await;
        s.claim("A", 1, Duration::from_secs(30), None)
            .await
            .unwrap();
        let mut f = finish("A", &id, Status::Completed);
        f.event.amqp = true;
        w.submit(Op::Finish(f)).await.unwrap();

        let ds = s
            .claim_deliveries("D", 100, Duration::from_secs(30))
            .await
            .unwrap();
        let mut targets: Vec<_> = ds.iter().map(|d| d.target.as_str()).collect();
        targets.sort();
        assert_eq!(targets, ["amqp", "wh_all", "wh_done"]);
        assert!(
            ds.iter()
                .all(|d| d.kind == "decision.completed" && d.attempts == 1)
        );
        assert!(
            s.claim_deliveries("E", 100, Duration::from_secs(30))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.stats().await.unwrap().pending_deliveries, 3);

        for d in &ds {
            if d.target == "wh_all" {
                s.delivery_failed("D", &d.id, "connection refused", Some(Duration::ZERO))
                    .await
                    .unwrap();
            } else {
                s.delivered("D", &d.id).await.unwrap();
            }
        }
        let retry = s
            .claim_deliveries("D", 100, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(retry.len(), 1);
        assert_eq!((retry[0].target.as_str(), retry[0].attempts), ("wh_all", 2));
        s.delivered("D", &retry[0].id).await.unwrap();
        let status = s.deliveries_of(&id).await.unwrap();
        assert!(status.iter().all(|d| d.state == "delivered"), "{status:?}");
        assert_eq!(s.stats().await.unwrap().pending_deliveries, 0);

        s.delete_webhook("wh_done").await.unwrap();
        assert!(matches!(
            s.delete_webhook("wh_done").await,
            Err(StoreError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn bad_urls_are_invalid_not_panics() {
    for url in [
        "mysql://x",
        "sqlite://",
        "",
        "postgres://nobody@127.0.0.1:1/x",
    ] {
        let e = Store::open(url).await.err().unwrap();
        assert!(
            matches!(e, StoreError::Invalid(_) | StoreError::Unavailable(_)),
            "{url}: {e:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_leases() {
    on_both("heartbeat", |s| async move {
        let w = Writer::spawn(s.clone());
        accept(&w, app("f", None)).await;
        let held = s
            .claim("A", 1, Duration::from_millis(300), None)
            .await
            .unwrap();
        let ids = vec![held[0].id.clone()];
        // Someone else's heartbeat does nothing; the holder's extends the lease.
        s.heartbeat("B", &ids, Duration::from_secs(30))
            .await
            .unwrap();
        s.heartbeat("A", &ids, Duration::from_secs(30))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            s.claim("B", 1, Duration::from_secs(30), None)
                .await
                .unwrap()
                .is_empty(),
            "the heartbeat kept A's lease past its first expiry"
        );
    })
    .await;
}
