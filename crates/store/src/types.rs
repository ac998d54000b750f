//! What the store keeps and hands back.

use serde::Serialize;
use serde_json::Value as Json;

use crate::{Result, StoreError};

/// How a decision was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The caller waited for the answer.
    Sync,
    /// Accepted, queued, decided by a worker.
    Async,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Async => "async",
        }
    }
    pub(crate) fn parse(s: &str) -> Result<Mode> {
        match s {
            "sync" => Ok(Mode::Sync),
            "async" => Ok(Mode::Async),
            _ => Err(StoreError::Corrupt(format!("unknown mode {s:?}"))),
        }
    }
}

/// Where a decision is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted and queued; no answer yet.
    Pending,
    /// Decided: outputs are recorded.
    Completed,
    /// The flow failed for a reason retrying cannot fix (an expression error).
    Failed,
    /// Retries ran out (data sources kept failing); can be re-driven.
    DeadLettered,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::DeadLettered => "dead_lettered",
        }
    }
    pub fn parse(s: &str) -> Result<Status> {
        match s {
            "pending" => Ok(Status::Pending),
            "completed" => Ok(Status::Completed),
            "failed" => Ok(Status::Failed),
            "dead_lettered" => Ok(Status::DeadLettered),
            _ => Err(StoreError::Invalid(format!(
                "unknown status {s:?}: expected pending, completed, failed or dead_lettered"
            ))),
        }
    }
}

/// One row of the decision log: the request, the outputs, every
/// intermediate value (in `trace`), the release that decided, timings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    pub id: String,
    pub flow: String,
    pub release: String,
    pub mode: Mode,
    pub status: Status,
    pub outcome: Option<String>,
    pub key: Option<String>,
    pub request: Json,
    pub outputs: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Json>,
    pub error: Option<String>,
    pub attempts: u32,
    pub created_ms: i64,
    pub decided_ms: Option<i64>,
    pub duration_us: Option<i64>,
    /// The node that decided.
    pub decided_by: Option<String>,
}

/// A filter on the decision log.
#[derive(Debug, Clone, Default)]
pub struct DecisionQuery {
    pub flow: Option<String>,
    pub outcome: Option<String>,
    pub key: Option<String>,
    pub status: Option<Status>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    pub limit: u32,
}

/// One page of results and the cursor of the next, if any.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub flow: String,
    /// Attempts including this one.
    pub attempts: u32,
    pub request: Json,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: String,
    pub flow: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub dead_ms: i64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stats {
    pub queue_depth: u64,
    pub oldest_job_age_s: f64,
    pub dead_letters: u64,
    pub pending_deliveries: u64,
    pub outbox_lag_s: f64,
}

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    /// Event kinds, or `*` for all.
    pub events: Vec<String>,
    pub created_ms: i64,
}

/// A claimed event delivery: the event and where it goes.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub target: String,
    pub attempts: u32,
    pub kind: String,
    pub payload: String,
    /// `None` for the RabbitMQ target, or when the webhook was deleted.
    pub webhook: Option<Webhook>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryStatus {
    pub event_id: String,
    pub kind: String,
    pub target: String,
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub delivered_ms: Option<i64>,
}

/// An event to put in the outbox with a state change.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub kind: String,
    pub decision_id: String,
    pub payload: String,
    /// Also deliver to the RabbitMQ exchange.
    pub amqp: bool,
}
