//! Workers: claim queued applications under a lease, decide them, and
//! commit decision + log + outbox event in one transaction. A node claims
//! only as many jobs as it has free capacity for — overall and per flow —
//! so a busy node leaves work to idle ones (load-aware dispatch). Leases are
//! kept alive by a heartbeat; a crashed node's leases expire and its jobs
//! are claimed again. Data-source failures retry with exponential backoff
//! and jitter; after `max_attempts` the job is dead-lettered.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use riskflow_engine::{DecideError, DecideOptions};
use riskflow_store::writer::{Done, Finish, Op};
use riskflow_store::{Job, NewEvent, Status, new_id};
use serde_json::json;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::AppState;

/// Most jobs claimed in one round trip.
const CLAIM_BATCH: usize = 64;

pub struct Workers {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Workers {
    pub fn start(state: AppState) -> Workers {
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(run(state, rx));
        Workers { stop, task }
    }

    /// Stops claiming, waits (up to the grace period) for jobs in flight,
    /// then gives back every lease still held.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct Pool {
    state: AppState,
    permits: Arc<Semaphore>,
    per_flow: Mutex<HashMap<String, usize>>,
    held: Mutex<HashSet<String>>,
    done: Notify,
}

impl Pool {
    /// What to claim now: `None` for nothing, else (flows filter, how many).
    fn wanted(&self) -> Vec<(Option<Vec<String>>, usize)> {
        let free = self.permits.available_permits().min(CLAIM_BATCH);
        if free == 0 {
            return vec![];
        }
        let caps = &self.state.config.flow_concurrency;
        if caps.is_empty() {
            return vec![(None, free)];
        }
        let running = self.per_flow.lock().map(|m| m.clone()).unwrap_or_default();
        let mut out = Vec::new();
        let mut uncapped = Vec::new();
        for name in self.state.project.flows.keys() {
            let n = running.get(name).copied().unwrap_or(0);
            match caps.get(name) {
                Some(cap) if n < *cap => out.push((Some(vec![name.clone()]), (cap - n).min(free))),
                Some(_) => {}
                None => uncapped.push(name.clone()),
            }
        }
        if !uncapped.is_empty() {
            out.push((Some(uncapped), free));
        }
        out
    }
}

async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let cfg = &state.config;
    let pool = Arc::new(Pool {
        permits: Arc::new(Semaphore::new(cfg.concurrency)),
        per_flow: Mutex::new(HashMap::new()),
        held: Mutex::new(HashSet::new()),
        done: Notify::new(),
        state: state.clone(),
    });
    let heartbeat = tokio::spawn(heartbeat(pool.clone()));
    gauge!("riskflow_worker_capacity").set(cfg.concurrency as f64);
    while !*stop.borrow() {
        let mut claimed = 0;
        for (flows, n) in pool.wanted() {
            let n = n.min(pool.permits.available_permits());
            if n == 0 {
                break;
            }
            match state
                .store
                .claim(&cfg.node, n as u32, cfg.lease, flows.as_deref())
                .await
            {
                Ok(jobs) => {
                    claimed += jobs.len();
                    for job in jobs {
                        start_job(&pool, job);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming jobs");
                    break;
                }
            }
        }
        if claimed > 0 {
            continue;
        }
        tokio::select! {
            _ = state.wake.notified() => {}
            _ = pool.done.notified() => {}
            _ = tokio::time::sleep(cfg.poll) => {}
            _ = stop.changed() => {}
        }
    }
    // Shutdown: let jobs in flight finish, then give back what is still held.
    let all = cfg.concurrency as u32;
    let _ = tokio::time::timeout(cfg.shutdown_grace, pool.permits.acquire_many(all)).await;
    heartbeat.abort();
    match state.store.release(&cfg.node).await {
        Ok(n) if n > 0 => tracing::info!(jobs = n, "gave back leases"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "giving back leases"),
    }
}

fn start_job(pool: &Arc<Pool>, job: Job) {
    let Ok(permit) = pool.permits.clone().try_acquire_owned() else {
        // Cannot happen: we claim no more than the free permits. The lease
        // expires and the job runs elsewhere.
        tracing::error!(job = %job.id, "claimed a job without capacity");
        return;
    };
    if let Ok(mut m) = pool.per_flow.lock() {
        *m.entry(job.flow.clone()).or_default() += 1;
    }
    if let Ok(mut h) = pool.held.lock() {
        h.insert(job.id.clone());
    }
    busy_gauge(pool);
    let pool = pool.clone();
    tokio::spawn(async move {
        let t = Instant::now();
        let (id, flow) = (job.id.clone(), job.flow.clone());
        process(&pool.state, job).await;
        counter!("riskflow_worker_busy_microseconds_total")
            .increment(t.elapsed().as_micros() as u64);
        if let Ok(mut m) = pool.per_flow.lock()
            && let Some(n) = m.get_mut(&flow)
        {
            *n = n.saturating_sub(1);
        }
        if let Ok(mut h) = pool.held.lock() {
            h.remove(&id);
        }
        drop(permit);
        busy_gauge(&pool);
        pool.done.notify_one();
    });
}

fn busy_gauge(pool: &Pool) {
    let cap = pool.state.config.concurrency;
    let busy = cap - pool.permits.available_permits();
    gauge!("riskflow_worker_busy_ratio").set(busy as f64 / cap.max(1) as f64);
}

async fn heartbeat(pool: Arc<Pool>) {
    let cfg = &pool.state.config;
    let every = cfg.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let ids: Vec<String> = pool
            .held
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default();
        if let Err(e) = pool.state.store.heartbeat(&cfg.node, &ids, cfg.lease).await {
            tracing::warn!(error = %e, "lease heartbeat");
        }
    }
}

/// Exponential backoff with jitter: base · 2^(attempt−1) · [0.5, 1.5), at most a minute.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    exp.min(Duration::from_secs(60))
        .mul_f64(0.5 + fastrand::f64())
}

async fn process(state: &AppState, job: Job) {
    let cfg = &state.config;
    let started = Instant::now();
    // A job queued under a release that had its flow: it cannot be decided
    // here, and retrying will not change that.
    let Some(flow) = state.project.flows.get(&job.flow) else {
        let error = format!("flow {} is not in release {}", job.flow, state.release);
        return commit(state, job, Status::Failed, None, Some(error), 0).await;
    };
    let result = flow
        .decide_async(&job.request, &state.fetcher, DecideOptions { trace: true })
        .await;
    let duration_us = started.elapsed().as_micros() as i64;
    let (status, decision, error) = match result {
        Ok(d) => (Status::Completed, Some(d), None),
        Err(e @ DecideError::Source { .. }) if job.attempts < cfg.max_attempts => {
            let delay = backoff(cfg.retry_base, job.attempts);
            counter!("riskflow_job_retries_total", "flow" => job.flow.clone()).increment(1);
            if let Err(se) = state
                .store
                .retry_later(&cfg.node, &job.id, delay, &e.to_string())
                .await
            {
                tracing::warn!(job = %job.id, error = %se, "scheduling a retry");
            }
            return;
        }
        Err(e @ DecideError::Source { .. }) => (Status::DeadLettered, None, Some(e.to_string())),
        Err(e) => (Status::Failed, None, Some(e.to_string())),
    };
    commit(state, job, status, decision, error, duration_us).await;
}

/// Commits a job's result: decision, log row and outbox event in one transaction.
async fn commit(
    state: &AppState,
    job: Job,
    status: Status,
    decision: Option<riskflow_engine::Decision>,
    error: Option<String>,
    duration_us: i64,
) {
    let cfg = &state.config;
    let kind = match status {
        Status::Completed => "decision.completed",
        Status::DeadLettered => "application.dead_lettered",
        _ => "decision.failed",
    };
    let outputs = decision.as_ref().map(|d| json!(d.outputs));
    let outcome = outputs.as_ref().and_then(crate::outcome_of);
    let event_id = new_id("evt_");
    let payload = json!({
        "id": event_id,
        "type": kind,
        "created_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {
            "decision_id": job.id,
            "flow": job.flow,
            "status": status,
            "release": state.release,
            "outcome": outcome,
            "outputs": outputs,
            "error": error,
            "attempts": job.attempts,
        }
    });
    let finish = Finish {
        owner: cfg.node.clone(),
        id: job.id.clone(),
        status,
        release: state.release.clone(),
        outcome,
        outputs: outputs.map(|o| o.to_string()),
        trace: decision
            .and_then(|d| d.trace)
            .and_then(|t| serde_json::to_string(&t).ok()),
        error,
        attempts: job.attempts,
        duration_us,
        event: NewEvent {
            id: event_id,
            kind: kind.into(),
            decision_id: job.id.clone(),
            payload: payload.to_string(),
            amqp: cfg.amqp.is_some(),
        },
    };
    match state.writer.submit(Op::Finish(finish)).await {
        Ok(Done::Finished(true)) => {
            counter!("riskflow_jobs_total", "flow" => job.flow.clone(), "status" => status.as_str())
                .increment(1);
            histogram!("riskflow_job_duration_seconds", "flow" => job.flow)
                .record(duration_us as f64 / 1e6);
            state.events.notify_one();
        }
        Ok(_) => {
            tracing::warn!(job = %job.id, "lease lost before the result was committed; another node decides it")
        }
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "committing a result; the lease will expire and the job run again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 1..=10 {
            let d = backoff(base, attempt);
            let nominal = (base * (1 << (attempt - 1))).min(Duration::from_secs(60));
            assert!(
                d >= nominal.mul_f64(0.5) && d < nominal.mul_f64(1.5),
                "{attempt}: {d:?}"
            );
        }
        assert!(backoff(base, 40) < Duration::from_secs(90));
    }
}
