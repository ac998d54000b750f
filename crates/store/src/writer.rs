//! Group commit: callers hand the writer an operation and wait; the writer
//! takes everything queued, runs it in one transaction and answers each
//! caller after the commit. One fsync then covers hundreds of decisions, so
//! logging every decision durably costs little per decision.
//!
//! When a batch fails, each operation is retried alone, so one bad
//! operation cannot fail its neighbours.

use sqlx::AssertSqlSafe;
use sqlx::{Any, AnyConnection, Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::{Backend, NewEvent, Result, Status, Store, StoreError};

/// A decision made while the caller waited, to be logged.
#[derive(Debug, Clone)]
pub struct NewDecision {
    pub id: String,
    pub flow: String,
    pub release: String,
    pub status: Status,
    pub outcome: Option<String>,
    pub key: Option<String>,
    pub request: String,
    pub outputs: Option<String>,
    pub trace: Option<String>,
    pub error: Option<String>,
    pub created_ms: i64,
    pub duration_us: i64,
    /// The node that decided.
    pub node: String,
}

/// An application to queue.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub id: String,
    pub flow: String,
    pub release: String,
    pub key: Option<String>,
    pub idempotency_key: Option<String>,
    pub request: String,
    pub created_ms: i64,
}

/// A worker's result for a job it holds the lease on.
#[derive(Debug, Clone)]
pub struct Finish {
    pub owner: String,
    pub id: String,
    /// Completed, Failed or DeadLettered.
    pub status: Status,
    pub release: String,
    pub outcome: Option<String>,
    pub outputs: Option<String>,
    pub trace: Option<String>,
    pub error: Option<String>,
    pub attempts: u32,
    pub duration_us: i64,
    pub event: NewEvent,
}

#[derive(Debug, Clone)]
pub enum Op {
    Log(NewDecision),
    Accept(NewApplication),
    Finish(Finish),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Logged,
    /// The application's id; `existing` when the idempotency key was seen before.
    Accepted {
        id: String,
        existing: bool,
    },
    /// `false` when the worker no longer held the job (someone else decided it).
    Finished(bool),
}

type Reply = oneshot::Sender<Result<Done>>;

/// The handle to the group-commit writers.
#[derive(Clone)]
pub struct Writer {
    lanes: Vec<mpsc::Sender<(Op, Reply)>>,
}

/// Operations per transaction, at most.
const MAX_BATCH: usize = 512;
/// How many scheduler turns a small batch waits for more, and what counts as small.
const LINGER_TURNS: usize = 4;
const LINGER_UNTIL: usize = 32;

impl Writer {
    /// Starts the writer tasks: one on SQLite (one writer), four on PostgreSQL.
    pub fn spawn(store: Store) -> Writer {
        let n = match store.backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 4,
        };
        let lanes = (0..n)
            .map(|_| {
                let (tx, rx) = mpsc::channel(8192);
                tokio::spawn(run(store.clone(), rx));
                tx
            })
            .collect();
        Writer { lanes }
    }

    /// Commits `op` (with whatever else is waiting) and answers after the commit.
    pub async fn submit(&self, op: Op) -> Result<Done> {
        let (tx, rx) = oneshot::channel();
        let lane = &self.lanes[fastrand::usize(..self.lanes.len())];
        lane.send((op, tx))
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<(Op, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A small batch gives other tasks a few turns to join it (no timer:
        // tokio's is 1 ms coarse): every commit costs thread hand-offs and a
        // sync, so company is cheap and a lone commit is not.
        for _ in 0..LINGER_TURNS {
            if batch.len() >= LINGER_UNTIL {
                break;
            }
            tokio::task::yield_now().await;
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(x) => batch.push(x),
                    Err(_) => break,
                }
            }
        }
        let ops: Vec<&Op> = batch.iter().map(|(op, _)| op).collect();
        match commit(&store, &ops).await {
            Ok(results) => {
                for ((_, reply), r) in batch.drain(..).zip(results) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) if batch.len() == 1 => {
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
            Err(_) => {
                for (op, reply) in batch.drain(..) {
                    let r = commit(&store, &[&op]).await.map(|mut v| v.remove(0));
                    let _ = reply.send(r);
                }
            }
        }
    }
}

async fn commit(store: &Store, ops: &[&Op]) -> Result<Vec<Done>> {
    let logs: Vec<&NewDecision> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Log(d) => Some(d),
            _ => None,
        })
        .collect();
    if logs.len() == ops.len() && logs.len() <= EXACT_MAX {
        // Only log rows: one INSERT is its own transaction — no BEGIN and
        // COMMIT round trips to the database thread.
        let mut conn = store.write.acquire().await?;
        insert_logged(&mut conn, &logs, true).await?;
        return Ok(vec![Done::Logged; ops.len()]);
    }
    let mut tx = store.write.begin().await?;
    insert_logged(&mut tx, &logs, false).await?;
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        out.push(match op {
            Op::Log(_) => Done::Logged,
            Op::Accept(a) => accept(&mut tx, a).await?,
            Op::Finish(f) => Done::Finished(finish(&mut tx, f).await?),
        });
    }
    tx.commit().await?;
    Ok(out)
}

const LOG_COLS: usize = 13;

/// Many logged decisions in multi-row INSERTs (SQLite allows 32,766 parameters).
/// Rows in the one-statement path.
const EXACT_MAX: usize = 128;

/// `exact`: all rows in one statement (at most EXACT_MAX). Otherwise chunks
/// of a few fixed sizes, inside the caller's transaction.
async fn insert_logged(conn: &mut AnyConnection, logs: &[&NewDecision], exact: bool) -> Result<()> {
    let mut rest = logs;
    while !rest.is_empty() {
        let n = if exact {
            rest.len()
        } else {
            [128, 32, 8, 1]
                .into_iter()
                .find(|&n| n <= rest.len())
                .unwrap_or(1)
        };
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let mut sql = String::with_capacity(200 + chunk.len() * 64);
        sql.push_str(
            "INSERT INTO decisions (id, flow, release, mode, status, outcome, key, request, \
             outputs, trace, error, created_ms, decided_ms, duration_us, decided_by) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * LOG_COLS;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${},${},${},'sync',${},${},${},${},${},${},${},${},${},${},${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10,
                b + 11,
                b + 11,
                b + 12,
                b + 13
            ));
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for d in chunk {
            q = q
                .bind(d.id.as_str())
                .bind(d.flow.as_str())
                .bind(d.release.as_str())
                .bind(d.status.as_str())
                .bind(d.outcome.as_deref())
                .bind(d.key.as_deref())
                .bind(d.request.as_str())
                .bind(d.outputs.as_deref())
                .bind(d.trace.as_deref())
                .bind(d.error.as_deref())
                .bind(d.created_ms)
                .bind(d.duration_us)
                .bind(d.node.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn accept(tx: &mut Transaction<'_, Any>, a: &NewApplication) -> Result<Done> {
    if let Some(k) = &a.idempotency_key {
        let seen = sqlx::query("SELECT id FROM decisions WHERE idempotency_key = $1")
            .bind(k.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(r) = seen {
            return Ok(Done::Accepted {
                id: r.try_get("id")?,
                existing: true,
            });
        }
    }
    sqlx::query(
        "INSERT INTO decisions (id, flow, release, mode, status, key, idempotency_key, request, \
         created_ms) VALUES ($1, $2, $3, 'async', 'pending', $4, $5, $6, $7)",
    )
    .bind(a.id.as_str())
    .bind(a.flow.as_str())
    .bind(a.release.as_str())
    .bind(a.key.as_deref())
    .bind(a.idempotency_key.as_deref())
    .bind(a.request.as_str())
    .bind(a.created_ms)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO jobs (id, flow, state, request, run_at_ms, created_ms) \
         VALUES ($1, $2, 'ready', $3, $4, $4)",
    )
    .bind(a.id.as_str())
    .bind(a.flow.as_str())
    .bind(a.request.as_str())
    .bind(a.created_ms)
    .execute(&mut **tx)
    .await?;
    Ok(Done::Accepted {
        id: a.id.clone(),
        existing: false,
    })
}

async fn finish(tx: &mut Transaction<'_, Any>, f: &Finish) -> Result<bool> {
    let now = crate::now_ms();
    let held = if f.status == Status::DeadLettered {
        sqlx::query(
            "UPDATE jobs SET state = 'dead', lease_owner = NULL, lease_until_ms = NULL, \
             last_error = $1, run_at_ms = $2 WHERE id = $3 AND lease_owner = $4",
        )
        .bind(f.error.as_deref())
        .bind(now)
        .bind(f.id.as_str())
        .bind(f.owner.as_str())
        .execute(&mut **tx)
        .await?
    } else {
        sqlx::query("DELETE FROM jobs WHERE id = $1 AND lease_owner = $2")
            .bind(f.id.as_str())
            .bind(f.owner.as_str())
            .execute(&mut **tx)
            .await?
    };
    if held.rows_affected() != 1 {
        return Ok(false);
    }
    let updated = sqlx::query(
        "UPDATE decisions SET status = $1, release = $2, outcome = $3, outputs = $4, trace = $5, \
         error = $6, attempts = $7, decided_ms = $8, duration_us = $9, decided_by = $10 \
         WHERE id = $11 AND status = 'pending'",
    )
    .bind(f.status.as_str())
    .bind(f.release.as_str())
    .bind(f.outcome.as_deref())
    .bind(f.outputs.as_deref())
    .bind(f.trace.as_deref())
    .bind(f.error.as_deref())
    .bind(i64::from(f.attempts))
    .bind(now)
    .bind(f.duration_us)
    .bind(f.owner.as_str())
    .bind(f.id.as_str())
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!(
            "decision {} is not pending",
            f.id
        )));
    }
    insert_event(tx, &f.event, now).await?;
    Ok(true)
}

/// The event and one delivery per interested target, in the caller's transaction.
async fn insert_event(tx: &mut Transaction<'_, Any>, e: &NewEvent, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, kind, decision_id, payload, created_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(e.id.as_str())
    .bind(e.kind.as_str())
    .bind(e.decision_id.as_str())
    .bind(e.payload.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO deliveries (id, event_id, target, state, next_at_ms, created_ms) \
         SELECT CAST($1 AS TEXT) || ':' || id, $2, id, 'pending', $3, $3 FROM webhooks \
         WHERE events LIKE $4 OR events LIKE '%,*,%'",
    )
    .bind(e.id.as_str())
    .bind(e.id.as_str())
    .bind(now)
    .bind(format!("%,{},%", e.kind))
    .execute(&mut **tx)
    .await?;
    if e.amqp {
        sqlx::query(
            "INSERT INTO deliveries (id, event_id, target, state, next_at_ms, created_ms) \
             VALUES ($1, $2, $3, 'pending', $4, $4)",
        )
        .bind(format!("{}:{}", e.id, crate::AMQP_TARGET))
        .bind(e.id.as_str())
        .bind(crate::AMQP_TARGET)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
