//! riskflow's durable state — the decision log, the job queue, the outbox
//! and webhook subscriptions — behind one interface with two backends:
//! SQLite (embedded, WAL, one writer) and PostgreSQL (many nodes, `FOR UPDATE
//! SKIP LOCKED`).
//!
//! Every state change commits atomically: a decision, its log row and its
//! outbox event are one transaction. Hot writes (logging a synchronous
//! decision, accepting an application, completing a job) go through a
//! group-commit writer ([`writer`]) so that many callers share one commit.
//!
//! This crate knows nothing of flows, HTTP or the engine: it stores JSON
//! documents and the columns needed to find them. Errors are kinds
//! ([`StoreError`]), the same on both backends.

mod error;
mod ids;
mod schema;
mod types;
pub mod writer;

pub use error::StoreError;
pub use ids::new_id;
pub use types::*;

use std::str::FromStr;
use std::time::Duration;

use sqlx::AssertSqlSafe;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The handle every part of the server shares (cheap to clone).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Writes. On SQLite exactly one connection (SQLite has one writer).
    write: AnyPool,
    /// Reads. On SQLite a few WAL readers; on PostgreSQL the same pool as `write`.
    read: AnyPool,
}

const SQLITE_PRAGMAS: &str =
    "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;";

impl Store {
    /// Opens (creating the SQLite file and its directory when needed) and
    /// migrates. `url` is `sqlite://path[?synchronous=full|normal]` or `postgres://…`.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let mut synchronous = "FULL";
        let (backend, url) = if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let (file, query) = path.split_once('?').unwrap_or((path, ""));
            if file.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "no file in database URL {url}"
                )));
            }
            if let Some(dir) = std::path::Path::new(file).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("creating {}: {e}", dir.display()))
                })?;
            }
            // `synchronous=normal|full` is ours (FULL by default: a commit
            // survives power loss; NORMAL only a process crash).
            let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
            if let Some(i) = params.iter().position(|p| p.starts_with("synchronous=")) {
                synchronous = match &params[i]["synchronous=".len()..] {
                    "full" | "FULL" => "FULL",
                    "normal" | "NORMAL" => "NORMAL",
                    other => {
                        return Err(StoreError::Invalid(format!(
                            "synchronous={other}: expected full or normal"
                        )));
                    }
                };
                params.remove(i);
            }
            if !params.iter().any(|p| p.starts_with("mode=")) {
                params.push("mode=rwc");
            }
            (
                Backend::Sqlite,
                format!("sqlite://{file}?{}", params.join("&")),
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::Invalid(format!(
                "unsupported database URL {url:?}: expected sqlite://PATH or postgres://…"
            )));
        };
        let opts = AnyConnectOptions::from_str(&url).map_err(StoreError::from)?;
        let pool = |max: u32| {
            let o = AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(10));
            if backend == Backend::Sqlite {
                o.after_connect(move |conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(SQLITE_PRAGMAS).execute(&mut *conn).await?;
                        sqlx::raw_sql(AssertSqlSafe(format!("PRAGMA synchronous={synchronous}")))
                            .execute(conn)
                            .await?;
                        Ok(())
                    })
                })
            } else {
                o
            }
        };
        let (write, read) = match backend {
            Backend::Sqlite => {
                let write = pool(1).connect_with(opts.clone()).await?;
                let store_tmp = Store {
                    backend,
                    write: write.clone(),
                    read: write.clone(),
                };
                // The schema must exist before readers open the file.
                schema::migrate(&store_tmp).await?;
                let read = pool(4).connect_with(opts).await?;
                (write, read)
            }
            Backend::Postgres => {
                let p = pool(16).connect_with(opts).await?;
                (p.clone(), p)
            }
        };
        let store = Store {
            backend,
            write,
            read,
        };
        if backend == Backend::Postgres {
            schema::migrate(&store).await?;
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pools, waiting for connections in use.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    // ---- decision log --------------------------------------------------

    /// One decision with everything recorded about it.
    pub async fn decision(&self, id: &str) -> Result<DecisionRecord> {
        let row = sqlx::query(AssertSqlSafe(format!("{DECISION_SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("decision {id}")))?;
        decision_from_row(&row)
    }

    /// The decision log, newest first, filtered; `cursor` is the last id of
    /// the previous page.
    pub async fn decisions(&self, q: &DecisionQuery) -> Result<Page<DecisionRecord>> {
        let mut sql = format!("{DECISION_SUMMARY_SELECT} WHERE 1=1");
        let mut args: Vec<ArgVal> = Vec::new();
        let mut push = |sql: &mut String, clause: &str, v: ArgVal| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(f) = &q.flow {
            push(&mut sql, " AND flow = ?", ArgVal::S(f.clone()));
        }
        if let Some(o) = &q.outcome {
            push(&mut sql, " AND outcome = ?", ArgVal::S(o.clone()));
        }
        if let Some(k) = &q.key {
            push(&mut sql, " AND key = ?", ArgVal::S(k.clone()));
        }
        if let Some(s) = q.status {
            push(&mut sql, " AND status = ?", ArgVal::S(s.as_str().into()));
        }
        if let Some(t) = q.from_ms {
            push(&mut sql, " AND created_ms >= ?", ArgVal::I(t));
        }
        if let Some(t) = q.to_ms {
            push(&mut sql, " AND created_ms < ?", ArgVal::I(t));
        }
        if let Some(c) = &q.cursor {
            push(&mut sql, " AND id < ?", ArgVal::S(c.clone()));
        }
        let limit = q.limit.clamp(1, 1000);
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for a in args {
            query = match a {
                ArgVal::S(s) => query.bind(s),
                ArgVal::I(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.read).await?;
        let mut items = rows
            .iter()
            .map(decision_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|d| d.id.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    // ---- queue -----------------------------------------------------------

    /// Claims up to `limit` runnable jobs for `owner` until `now + lease`,
    /// counting an attempt for each. Jobs whose lease expired are runnable
    /// again. `flows` restricts the claim to some flows.
    pub async fn claim(
        &self,
        owner: &str,
        limit: u32,
        lease: Duration,
        flows: Option<&[String]>,
    ) -> Result<Vec<Job>> {
        let now = now_ms();
        let until = now + lease.as_millis() as i64;
        let flow_clause = match flows {
            None => String::new(),
            Some([]) => return Ok(Vec::new()),
            Some(fs) => format!(" AND flow IN ({})", placeholders(4, fs.len())),
        };
        let lock = self.skip_locked();
        let sql = format!(
            "UPDATE jobs SET lease_owner = $1, lease_until_ms = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'ready' AND run_at_ms <= $3 \
             AND (lease_until_ms IS NULL OR lease_until_ms < $3){flow_clause} \
             ORDER BY run_at_ms LIMIT {limit}{lock}) \
             RETURNING id, flow, attempts, request"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(owner)
            .bind(until)
            .bind(now);
        for f in flows.unwrap_or_default() {
            q = q.bind(f.as_str());
        }
        let rows = q.fetch_all(&self.write).await?;
        rows.iter()
            .map(|r| {
                Ok(Job {
                    id: r.try_get("id")?,
                    flow: r.try_get("flow")?,
                    attempts: r.try_get::<i64, _>("attempts")? as u32,
                    request: parse_json(&r.try_get::<String, _>("request")?)?,
                })
            })
            .collect()
    }

    /// Extends the leases `owner` holds on `ids`.
    pub async fn heartbeat(&self, owner: &str, ids: &[String], lease: Duration) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let until = now_ms() + lease.as_millis() as i64;
        // On PostgreSQL, skip rows a writer holds (it is finishing them):
        // waiting would lock many rows against a batch that locks them in
        // another order — a deadlock PostgreSQL only breaks after 1 s.
        let sql = format!(
            "UPDATE jobs SET lease_until_ms = $1 WHERE id IN (SELECT id FROM jobs \
             WHERE lease_owner = $2 AND id IN ({}){})",
            placeholders(3, ids.len()),
            self.skip_locked()
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(until).bind(owner);
        for id in ids {
            q = q.bind(id.as_str());
        }
        q.execute(&self.write).await?;
        Ok(())
    }

    /// Gives back every lease `owner` holds (graceful shutdown): the jobs are
    /// runnable at once and the attempt is not counted.
    pub async fn release(&self, owner: &str) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, lease_until_ms = NULL, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END \
             WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected())
    }

    /// Puts a job back for a later attempt, recording the error; `false` when
    /// `owner` no longer holds it.
    pub async fn retry_later(
        &self,
        owner: &str,
        id: &str,
        delay: Duration,
        error: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, lease_until_ms = NULL, run_at_ms = $1, \
             last_error = $2 WHERE id = $3 AND lease_owner = $4",
        )
        .bind(now_ms() + delay.as_millis() as i64)
        .bind(error)
        .bind(id)
        .bind(owner)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Jobs that ran out of attempts, newest first.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT j.id, j.flow, j.attempts, j.last_error, j.created_ms, j.run_at_ms \
             FROM jobs j WHERE j.state = 'dead' ORDER BY j.id DESC LIMIT {}",
            limit.clamp(1, 1000)
        )))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.try_get("id")?,
                    flow: r.try_get("flow")?,
                    attempts: r.try_get::<i64, _>("attempts")? as u32,
                    last_error: r.try_get("last_error")?,
                    created_ms: r.try_get("created_ms")?,
                    dead_ms: r.try_get("run_at_ms")?,
                })
            })
            .collect()
    }

    /// Puts a dead-lettered job back in the queue with fresh attempts.
    pub async fn redrive(&self, id: &str) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query(
            "UPDATE jobs SET state = 'ready', attempts = 0, run_at_ms = $1, \
             lease_owner = NULL, lease_until_ms = NULL WHERE id = $2 AND state = 'dead'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("dead letter {id}")));
        }
        sqlx::query("UPDATE decisions SET status = 'pending', error = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queue depth, oldest job age, pending event deliveries and their age.
    pub async fn stats(&self) -> Result<Stats> {
        let now = now_ms();
        let q = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_ms) AS oldest FROM jobs WHERE state = 'ready'",
        )
        .fetch_one(&self.read)
        .await?;
        let d = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_ms) AS oldest FROM deliveries WHERE state = 'pending'",
        )
        .fetch_one(&self.read)
        .await?;
        let dead = sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE state = 'dead'")
            .fetch_one(&self.read)
            .await?;
        let age = |r: &AnyRow| -> Result<f64> {
            Ok(r.try_get::<Option<i64>, _>("oldest")?
                .map(|t| (now - t).max(0) as f64 / 1000.0)
                .unwrap_or(0.0))
        };
        Ok(Stats {
            queue_depth: q.try_get::<i64, _>("n")? as u64,
            oldest_job_age_s: age(&q)?,
            dead_letters: dead.try_get::<i64, _>("n")? as u64,
            pending_deliveries: d.try_get::<i64, _>("n")? as u64,
            outbox_lag_s: age(&d)?,
        })
    }

    // ---- webhooks and deliveries ------------------------------------------

    pub async fn create_webhook(&self, w: &Webhook) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhooks (id, url, secret, events, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(w.id.as_str())
        .bind(w.url.as_str())
        .bind(w.secret.as_str())
        .bind(format!(",{},", w.events.join(",")))
        .bind(w.created_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let rows =
            sqlx::query("SELECT id, url, secret, events, created_ms FROM webhooks ORDER BY id")
                .fetch_all(&self.read)
                .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM deliveries WHERE target = $1 AND state = 'pending'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("webhook {id}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims due deliveries under a lease, with their event and target.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Delivery>> {
        let now = now_ms();
        let lock = self.skip_locked();
        let sql = format!(
            "UPDATE deliveries SET lease_owner = $1, lease_until_ms = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND next_at_ms <= $3 \
             AND (lease_until_ms IS NULL OR lease_until_ms < $3) ORDER BY next_at_ms LIMIT {limit}{lock}) \
             RETURNING id, event_id, target, attempts"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(owner)
            .bind(now + lease.as_millis() as i64)
            .bind(now)
            .fetch_all(&self.write)
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // The events and webhooks of the whole claim in one query.
        let sql = format!(
            "SELECT d.id AS delivery_id, d.event_id, d.target, d.attempts, o.kind, o.payload, \
             w.id, w.url, w.secret, w.events, w.created_ms \
             FROM deliveries d JOIN outbox o ON o.id = d.event_id \
             LEFT JOIN webhooks w ON w.id = d.target WHERE d.id IN ({})",
            placeholders(1, rows.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in &rows {
            q = q.bind(r.try_get::<String, _>("id")?);
        }
        q.fetch_all(&self.write)
            .await?
            .iter()
            .map(|r| {
                let hook = match r.try_get::<Option<String>, _>("id")? {
                    Some(_) => Some(webhook_from_row(r)?),
                    None => None,
                };
                Ok(Delivery {
                    id: r.try_get("delivery_id")?,
                    event_id: r.try_get("event_id")?,
                    target: r.try_get("target")?,
                    attempts: r.try_get::<i64, _>("attempts")? as u32,
                    kind: r.try_get("kind")?,
                    payload: r.try_get("payload")?,
                    webhook: hook,
                })
            })
            .collect()
    }

    /// Records a successful delivery.
    pub async fn delivered(&self, owner: &str, id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE deliveries SET state = 'delivered', delivered_ms = $1, lease_owner = NULL, \
             lease_until_ms = NULL WHERE id = $2 AND lease_owner = $3",
        )
        .bind(now_ms())
        .bind(id)
        .bind(owner)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Records a failed delivery: retried after `retry_in`, or given up on.
    pub async fn delivery_failed(
        &self,
        owner: &str,
        id: &str,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<()> {
        let (state, next) = match retry_in {
            Some(d) => ("pending", now_ms() + d.as_millis() as i64),
            None => ("failed", now_ms()),
        };
        sqlx::query(
            "UPDATE deliveries SET state = $1, next_at_ms = $2, last_error = $3, \
             lease_owner = NULL, lease_until_ms = NULL WHERE id = $4 AND lease_owner = $5",
        )
        .bind(state)
        .bind(next)
        .bind(error)
        .bind(id)
        .bind(owner)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Deliveries of one decision's events (for the API and the tests).
    pub async fn deliveries_of(&self, decision_id: &str) -> Result<Vec<DeliveryStatus>> {
        let rows = sqlx::query(
            "SELECT d.event_id, o.kind, d.target, d.state, d.attempts, d.last_error, d.delivered_ms \
             FROM deliveries d JOIN outbox o ON o.id = d.event_id WHERE o.decision_id = $1 \
             ORDER BY d.id",
        )
        .bind(decision_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryStatus {
                    event_id: r.try_get("event_id")?,
                    kind: r.try_get("kind")?,
                    target: r.try_get("target")?,
                    state: r.try_get("state")?,
                    attempts: r.try_get::<i64, _>("attempts")? as u32,
                    last_error: r.try_get("last_error")?,
                    delivered_ms: r.try_get("delivered_ms")?,
                })
            })
            .collect()
    }

    /// Runs `sql` on the write pool: tests and tools only.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        Ok(sqlx::query(AssertSqlSafe(sql.to_string()))
            .execute(&self.write)
            .await?
            .rows_affected())
    }

    /// One integer from `sql` (tests and tools).
    #[doc(hidden)]
    pub async fn scalar(&self, sql: &str) -> Result<i64> {
        let r = sqlx::query(AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.read)
            .await?;
        Ok(r.try_get::<i64, _>(0)?)
    }
}

/// The delivery target that stands for the configured RabbitMQ exchange.
pub const AMQP_TARGET: &str = "amqp";

enum ArgVal {
    S(String),
    I(i64),
}

impl Store {
    /// What a claim's subquery appends so nodes skip rows another holds
    /// (SQLite has one writer: nothing to skip).
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }
}

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

const DECISION_SELECT: &str = "SELECT id, flow, release, mode, status, outcome, key, request, \
     outputs, trace, error, attempts, created_ms, decided_ms, duration_us, decided_by FROM decisions";
const DECISION_SUMMARY_SELECT: &str = "SELECT id, flow, release, mode, status, outcome, key, \
     request, outputs, NULL AS trace, error, attempts, created_ms, decided_ms, duration_us, decided_by \
     FROM decisions";

fn parse_json(s: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

fn opt_json(r: &AnyRow, col: &str) -> Result<Option<serde_json::Value>> {
    r.try_get::<Option<String>, _>(col)?
        .map(|s| parse_json(&s))
        .transpose()
}

fn decision_from_row(r: &AnyRow) -> Result<DecisionRecord> {
    let status: String = r.try_get("status")?;
    let mode: String = r.try_get("mode")?;
    Ok(DecisionRecord {
        id: r.try_get("id")?,
        flow: r.try_get("flow")?,
        release: r.try_get("release")?,
        mode: Mode::parse(&mode)?,
        status: Status::parse(&status)?,
        outcome: r.try_get("outcome")?,
        key: r.try_get("key")?,
        request: parse_json(&r.try_get::<String, _>("request")?)?,
        outputs: opt_json(r, "outputs")?,
        trace: opt_json(r, "trace")?,
        error: r.try_get("error")?,
        attempts: r.try_get::<i64, _>("attempts")? as u32,
        created_ms: r.try_get("created_ms")?,
        decided_ms: r.try_get("decided_ms")?,
        duration_us: r.try_get("duration_us")?,
        decided_by: r.try_get("decided_by")?,
    })
}

fn webhook_from_row(r: &AnyRow) -> Result<Webhook> {
    let events: String = r.try_get("events")?;
    Ok(Webhook {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        secret: r.try_get("secret")?,
        events: events
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        created_ms: r.try_get("created_ms")?,
    })
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
