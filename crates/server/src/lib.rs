//! `riskflow serve`: decisions over HTTP. Synchronous decisions are answered
//! while the caller waits and logged durably before the answer leaves;
//! applications are committed to the durable queue before the 202, decided
//! by workers under a lease, and their results broadcast through the outbox
//! (webhooks, RabbitMQ).
//!
//! Handlers stay thin: the engine decides, the store keeps state, this crate
//! wires them to HTTP, runs the workers and the dispatcher, and maps every
//! error once (`error.rs`). It must not grow decision logic or SQL.

mod api;
pub mod error;
mod extract;
pub mod metrics;
mod openapi;
mod outbox;
mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use riskflow_engine::{Diagnostic, Project};
use riskflow_store::Store;
use riskflow_store::writer::Writer;
use sha2::Digest;
use tokio::sync::Notify;

pub use openapi::spec as openapi_spec;
pub use outbox::{AmqpConfig, redact, sign};

/// Everything `riskflow serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    pub project_dir: PathBuf,
    /// `sqlite://PATH` (default `sqlite://./riskflow-data/riskflow.db`) or `postgres://…`.
    pub database_url: String,
    pub listen: SocketAddr,
    /// Overrides for `${NAME}` in the project (data-source URLs, …).
    pub project_vars: HashMap<String, String>,
    /// Jobs this node decides at once, over all flows.
    pub concurrency: usize,
    /// Per-flow caps (flow → jobs at once); flows not named share `concurrency`.
    pub flow_concurrency: HashMap<String, usize>,
    /// Attempts before a job whose data sources keep failing is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter.
    pub retry_base: Duration,
    /// How long a claimed job is ours without a heartbeat.
    pub lease: Duration,
    /// How often an idle worker looks for work (it is also woken on accept).
    pub poll: Duration,
    /// Log synchronous decisions (request, every value, outputs). Off only to
    /// measure what logging costs.
    pub log_decisions: bool,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Publish events to RabbitMQ as well as to webhooks.
    pub amqp: Option<AmqpConfig>,
    /// Run workers and the outbox dispatcher on this node.
    pub workers: bool,
    /// How long shutdown waits for in-flight jobs before giving leases back.
    pub shutdown_grace: Duration,
    /// Webhook delivery attempts before giving up.
    pub max_deliveries: u32,
    /// This node's name in leases (default: host and pid).
    pub node: String,
}

impl Config {
    pub fn new(project_dir: impl Into<PathBuf>) -> Config {
        Config {
            project_dir: project_dir.into(),
            database_url: "sqlite://./riskflow-data/riskflow.db".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            project_vars: HashMap::new(),
            concurrency: 64,
            flow_concurrency: HashMap::new(),
            max_attempts: 5,
            retry_base: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(100),
            log_decisions: true,
            body_limit: extract::DEFAULT_BODY_LIMIT,
            amqp: None,
            workers: true,
            shutdown_grace: Duration::from_secs(20),
            max_deliveries: 12,
            node: format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into()),
                std::process::id()
            ),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the project has errors:\n{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Project(Vec<Diagnostic>),
    #[error("database: {0}")]
    Store(#[from] riskflow_store::StoreError),
    #[error("RabbitMQ: {0}")]
    Amqp(String),
}

/// What every handler and background task shares.
pub struct Shared {
    pub project: Project,
    /// Identifies the project files that decided (hash of their contents).
    pub release: String,
    pub store: Store,
    pub writer: Writer,
    pub fetcher: metrics::MeteredFetcher,
    pub config: Config,
    /// Wakes idle workers when an application is accepted here.
    pub(crate) wake: Notify,
    /// Wakes the outbox dispatcher when a job finishes here.
    pub(crate) events: Notify,
    pub(crate) accepting: AtomicBool,
    pub(crate) metrics: metrics::Metrics,
}

pub type AppState = Arc<Shared>;

/// A started server: state loaded, workers and dispatcher running.
pub struct Server {
    state: AppState,
    workers: Option<worker::Workers>,
    outbox: Option<outbox::Dispatcher>,
}

impl Server {
    /// Loads the project, opens (and migrates) the database, starts the
    /// workers and the outbox dispatcher.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        let project = riskflow_engine::load_with(&config.project_dir, &config.project_vars)
            .map_err(StartError::Project)?;
        let release = release_of(&config.project_dir);
        let store = Store::open(&config.database_url).await?;
        let writer = Writer::spawn(store.clone());
        let fetcher = metrics::MeteredFetcher::new(project.sources.clone());
        let amqp = match &config.amqp {
            Some(c) => Some(outbox::Amqp::connect(c).await.map_err(StartError::Amqp)?),
            None => None,
        };
        let run_workers = config.workers;
        let state = Arc::new(Shared {
            project,
            release,
            store,
            writer,
            fetcher,
            config,
            wake: Notify::new(),
            events: Notify::new(),
            accepting: AtomicBool::new(true),
            metrics: metrics::Metrics::install(),
        });
        let (workers, outbox) = if run_workers {
            (
                Some(worker::Workers::start(state.clone())),
                Some(outbox::Dispatcher::start(state.clone(), amqp)),
            )
        } else {
            (None, None)
        };
        metrics::spawn_sampler(state.clone());
        Ok(Server {
            state,
            workers,
            outbox,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The HTTP API (tests call it without a socket).
    pub fn router(&self) -> axum::Router {
        api::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then stops gracefully:
    /// no new connections, in-flight requests finish, workers finish or give
    /// their leases back, pending writes commit.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let router = self.router();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                state.accepting.store(false, Ordering::SeqCst);
                tracing::info!("shutting down: no new requests");
            })
            .await?;
        self.stop().await;
        Ok(())
    }

    /// Stops workers (leases given back) and the dispatcher, closes the store.
    pub async fn stop(mut self) {
        self.state.accepting.store(false, Ordering::SeqCst);
        if let Some(w) = self.workers.take() {
            w.stop().await;
        }
        if let Some(o) = self.outbox.take() {
            o.stop().await;
        }
        self.state.store.close().await;
    }
}

/// A decision's outcome for the log's `outcome` column: its `decision` output.
pub(crate) fn outcome_of(outputs: &serde_json::Value) -> Option<String> {
    outputs.get("decision")?.as_str().map(String::from)
}

/// The HTTP API over `state` (tests call it without a socket).
pub fn router(state: AppState) -> axum::Router {
    api::router(state)
}

/// A short hash of every file under the project directory: the release that
/// made a decision, so a logged decision can be replayed on the same rules.
fn release_of(dir: &std::path::Path) -> String {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    let mut h = sha2::Sha256::new();
    for f in files {
        if let Ok(rel) = f.strip_prefix(dir) {
            h.update(rel.to_string_lossy().as_bytes());
        }
        h.update([0]);
        h.update(std::fs::read(&f).unwrap_or_default());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..6])
}
