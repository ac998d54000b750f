//! Prometheus metrics: request latency per flow and status, queue depth and
//! oldest job age, worker busy ratio, outbox lag, data-source latency and
//! errors per source. One process-wide recorder (the `metrics` facade);
//! `/metrics` renders it.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use riskflow_engine::compile::DataSource;
use riskflow_engine::exec::SourceResult;
use riskflow_engine::http::HttpFetcher;
use riskflow_engine::{Fetcher, SourceCall};

use crate::AppState;

#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    /// The process-wide recorder (installed on first use).
    pub fn install() -> Metrics {
        let handle = HANDLE
            .get_or_init(|| {
                let recorder = PrometheusBuilder::new()
                    .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                    .unwrap_or_else(|_| PrometheusBuilder::new())
                    .build_recorder();
                let handle = recorder.handle();
                // Fails only when something else installed a recorder first.
                let _ = metrics::set_global_recorder(recorder);
                handle
            })
            .clone();
        Metrics { handle }
    }

    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Records one HTTP request.
pub fn request(route: &str, flow: Option<&str>, status: u16, elapsed: Duration) {
    histogram!(
        "riskflow_http_request_duration_seconds",
        "route" => route.to_string(),
        "flow" => flow.unwrap_or("").to_string(),
        "status" => status.to_string()
    )
    .record(elapsed.as_secs_f64());
}

/// The HTTP data-source client, timing every call per source.
pub struct MeteredFetcher {
    inner: HttpFetcher,
    names: Vec<String>,
}

impl MeteredFetcher {
    pub fn new(sources: Vec<DataSource>) -> MeteredFetcher {
        MeteredFetcher {
            names: sources.iter().map(|s| s.name.clone()).collect(),
            inner: HttpFetcher::new(sources),
        }
    }
}

impl Fetcher for MeteredFetcher {
    async fn fetch_all(&self, calls: Vec<SourceCall>) -> Vec<SourceResult> {
        // One call per future so each is timed on its own; they still run together.
        join_all(calls.into_iter().map(|c| async move {
            let source = self.names.get(c.source).cloned().unwrap_or_default();
            let t = Instant::now();
            let mut r = self.inner.fetch_all(vec![c]).await;
            let r = r.pop().unwrap_or_else(|| Err(("no answer".into(), 0)));
            let via = match &r {
                Ok((_, via, _)) => *via,
                Err(_) => "error",
            };
            if via != "cache" {
                histogram!("riskflow_source_duration_seconds", "source" => source.clone())
                    .record(t.elapsed().as_secs_f64());
            }
            if r.is_err() {
                counter!("riskflow_source_errors_total", "source" => source).increment(1);
            }
            r
        }))
        .await
    }
}

/// Samples the store every second into gauges: queue depth, oldest job age,
/// dead letters, pending deliveries and outbox lag.
pub fn spawn_sampler(state: AppState) {
    let weak = Arc::downgrade(&state);
    drop(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            if !state.accepting.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            if let Ok(s) = state.store.stats().await {
                gauge!("riskflow_queue_depth").set(s.queue_depth as f64);
                gauge!("riskflow_queue_oldest_job_age_seconds").set(s.oldest_job_age_s);
                gauge!("riskflow_dead_letters").set(s.dead_letters as f64);
                gauge!("riskflow_outbox_pending_deliveries").set(s.pending_deliveries as f64);
                gauge!("riskflow_outbox_lag_seconds").set(s.outbox_lag_s);
            }
        }
    });
}
