//! Events published to a real RabbitMQ with publisher confirms. The broker is
//! `RISKFLOW_TEST_AMQP_URL` or one on the default local port
//! (`scripts/services.sh start-rabbitmq`); without one the test says it was
//! skipped, except under `CI=true`, where it fails.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use riskflow_server::AmqpConfig;
use serde_json::{Value as Json, json};

async fn broker() -> Option<String> {
    let url = std::env::var("RISKFLOW_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let probe = tokio::time::timeout(
        Duration::from_secs(5),
        lapin::Connection::connect(&url, lapin::ConnectionProperties::default()),
    )
    .await;
    match probe {
        Ok(Ok(c)) => {
            let _ = c.close(0, "probe".into()).await;
            Some(url)
        }
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true but no RabbitMQ at {url}: run scripts/services.sh start-rabbitmq")
        }
        _ => {
            eprintln!("SKIPPED amqp: no RabbitMQ at {url} (scripts/services.sh start-rabbitmq)");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_are_published_to_rabbitmq_with_confirms() {
    let Some(url) = broker().await else { return };
    let exchange = format!("riskflow.test.{}", fastrand::u32(..));
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/db", dir.path().display());
    let cfg = AmqpConfig {
        url: url.clone(),
        exchange: exchange.clone(),
        routing_key: "{flow}.{type}".into(),
    };
    let srv = start(&db, Some(dir), |c| c.amqp = Some(cfg)).await;

    // A consumer bound to the exchange the server declared.
    let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        q.name().as_str().into(),
        exchange.as_str().into(),
        "scored.decision.completed".into(),
        QueueBindOptions::default(),
        Default::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            q.name().as_str().into(),
            "test".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();

    let mut ids = HashSet::new();
    for i in 0..5 {
        let a_id = srv
            .apply(
                "scored",
                &json!({"customer": format!("Q-{i}"), "amount": 1}),
            )
            .await;
        ids.insert(a_id);
    }
    let mut got = HashSet::new();
    while got.len() < ids.len() {
        let d = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .expect("no message from RabbitMQ within 30 s")
            .unwrap()
            .unwrap();
        let body: Json = serde_json::from_slice(&d.data).unwrap();
        assert_eq!(
            d.properties.message_id().as_ref().map(|m| m.to_string()),
            body["id"].as_str().map(String::from),
            "the message id is the stable event id"
        );
        assert_eq!(body["type"], "decision.completed");
        got.insert(body["data"]["decision_id"].as_str().unwrap().to_string());
    }
    assert_eq!(got, ids);
    for id in &ids {
        let (_, ev) = srv.get(&format!("/v1/decisions/{id}/events")).await;
        let amqp = ev["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["target"] == "amqp")
            .cloned();
        // Recorded as delivered once the broker confirmed (the record may trail the message).
        let mut state = amqp.map(|e| e["state"].clone());
        for _ in 0..100 {
            if state == Some(json!("delivered")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            let (_, ev) = srv.get(&format!("/v1/decisions/{id}/events")).await;
            state = ev["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["target"] == "amqp")
                .map(|e| e["state"].clone());
        }
        assert_eq!(state, Some(json!("delivered")));
    }
    srv.stop().await;
}
