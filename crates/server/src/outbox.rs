//! The outbox dispatcher: delivers committed events at least once — to
//! webhooks (HMAC-SHA256 signed, retried with backoff) and to a RabbitMQ
//! exchange (publisher confirms). The event id is stable across retries so
//! receivers can drop duplicates.
//!
//! Webhook requests carry:
//! - `riskflow-event-id`, `riskflow-event-type`
//! - `riskflow-timestamp`: Unix seconds when this attempt was signed
//! - `riskflow-signature`: `v1=` + hex HMAC-SHA256(secret, "{timestamp}.{body}")

use std::time::Duration;

use futures_util::future::join_all;
use hmac::{Hmac, Mac};
use metrics::counter;
use riskflow_store::{AMQP_TARGET, Delivery};
use sha2::Sha256;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;

/// Where events go on RabbitMQ.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// `amqp://user:pass@host:port/vhost`
    pub url: String,
    /// A durable topic exchange, declared at start.
    pub exchange: String,
    /// Routing key; `{type}` and `{flow}` are replaced (default `{type}`).
    pub routing_key: String,
}

/// The signature header value for `body` signed at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // new_from_slice accepts keys of any length for HMAC.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A claimed delivery is ours this long: longer than a webhook attempt (10 s
/// timeout), short enough that a crashed node's deliveries go out soon.
const DELIVERY_LEASE: Duration = Duration::from_secs(15);

pub struct Dispatcher {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Dispatcher {
    pub fn start(state: AppState, amqp: Option<Amqp>) -> Dispatcher {
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(run(state, amqp, rx));
        Dispatcher { stop, task }
    }

    /// Finishes the deliveries in hand and stops.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run(state: AppState, amqp: Option<Amqp>, mut stop: watch::Receiver<bool>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let owner = format!("{}-outbox", state.config.node);
    while !*stop.borrow() {
        let batch = match state
            .store
            .claim_deliveries(&owner, 64, DELIVERY_LEASE)
            .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "claiming deliveries");
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = state.events.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        join_all(batch.into_iter().map(|d| {
            let (state, client, owner, amqp) = (&state, &client, &owner, &amqp);
            async move {
                let result = deliver(client, amqp.as_ref(), &d).await;
                let kind = if d.target == AMQP_TARGET {
                    "amqp"
                } else {
                    "webhook"
                };
                let outcome = match &result {
                    Ok(()) => state.store.delivered(owner, &d.id).await,
                    Err(e) => {
                        let retry = (d.attempts < state.config.max_deliveries
                            && d.webhook.is_some()
                            || d.target == AMQP_TARGET)
                            .then(|| delivery_backoff(d.attempts));
                        state.store.delivery_failed(owner, &d.id, e, retry).await
                    }
                };
                counter!("riskflow_event_deliveries_total", "target" => kind,
                    "result" => if result.is_ok() { "delivered" } else { "failed" })
                .increment(1);
                if let Err(e) = outcome {
                    tracing::warn!(delivery = %d.id, error = %e, "recording a delivery");
                }
            }
        }))
        .await;
    }
}

/// 1 s, 2 s, 4 s … at most an hour, with jitter.
fn delivery_backoff(attempts: u32) -> Duration {
    let secs = (1u64 << attempts.saturating_sub(1).min(12)).min(3600);
    Duration::from_secs(secs).mul_f64(0.5 + fastrand::f64())
}

async fn deliver(
    client: &reqwest::Client,
    amqp: Option<&Amqp>,
    d: &Delivery,
) -> Result<(), String> {
    if d.target == AMQP_TARGET {
        return match amqp {
            Some(a) => a.publish(d).await,
            None => Err("RabbitMQ is not configured on this node".into()),
        };
    }
    let Some(hook) = &d.webhook else {
        return Err("the webhook was deleted".into());
    };
    let ts = chrono::Utc::now().timestamp();
    let resp = client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("riskflow-event-id", &d.event_id)
        .header("riskflow-event-type", &d.kind)
        .header("riskflow-timestamp", ts.to_string())
        .header(
            "riskflow-signature",
            sign(&hook.secret, ts, d.payload.as_bytes()),
        )
        .body(d.payload.clone())
        .send()
        .await
        .map_err(|e| format!("POST {}: {e}", hook.url))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("POST {}: HTTP {}", hook.url, resp.status()))
    }
}

/// A RabbitMQ channel in confirm mode.
pub struct Amqp {
    config: AmqpConfig,
    channel: lapin::Channel,
    _connection: lapin::Connection,
}

impl Amqp {
    pub async fn connect(config: &AmqpConfig) -> Result<Amqp, String> {
        use lapin::options::{ConfirmSelectOptions, ExchangeDeclareOptions};
        let conn = lapin::Connection::connect(&config.url, lapin::ConnectionProperties::default())
            .await
            .map_err(|e| format!("connecting to {}: {e}", redact(&config.url)))?;
        let channel = conn.create_channel().await.map_err(|e| e.to_string())?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        channel
            .exchange_declare(
                config.exchange.as_str().into(),
                lapin::ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .map_err(|e| format!("declaring exchange {}: {e}", config.exchange))?;
        Ok(Amqp {
            config: config.clone(),
            channel,
            _connection: conn,
        })
    }

    async fn publish(&self, d: &Delivery) -> Result<(), String> {
        let flow = serde_json::from_str::<serde_json::Value>(&d.payload)
            .ok()
            .and_then(|p| p["data"]["flow"].as_str().map(String::from))
            .unwrap_or_default();
        let key = self
            .config
            .routing_key
            .replace("{type}", &d.kind)
            .replace("{flow}", &flow);
        let props = lapin::BasicProperties::default()
            .with_content_type("application/json".into())
            .with_message_id(d.event_id.as_str().into())
            .with_type(d.kind.as_str().into())
            .with_delivery_mode(2);
        let confirm = self
            .channel
            .basic_publish(
                self.config.exchange.as_str().into(),
                key.as_str().into(),
                Default::default(),
                d.payload.as_bytes(),
                props,
            )
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        if confirm.is_ack() {
            Ok(())
        } else {
            Err("RabbitMQ did not confirm the message".into())
        }
    }
}

/// `url` with its credentials masked, for logs and messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(a)) if a > s => format!("{}***{}", &url[..s + 3], &url[a..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac() {
        // Reference: python3 -c "import hmac,hashlib;print(hmac.new(b'whsec',b'1700000000.{}',hashlib.sha256).hexdigest())"
        assert_eq!(
            sign("whsec", 1_700_000_000, b"{}"),
            "v1=7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af"
        );
        assert_ne!(
            sign("whsec", 1_700_000_001, b"{}"),
            sign("whsec", 1_700_000_000, b"{}")
        );
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("amqp://guest:pw@host:5672/%2f"),
            "amqp://***@host:5672/%2f"
        );
        assert_eq!(redact("amqp://host"), "amqp://host");
    }
}
