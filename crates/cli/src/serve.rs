//! `riskflow serve`: parse options into a server `Config`, start, print where
//! everything is, and run until SIGTERM or Ctrl-C.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use riskflow_server::{AmqpConfig, Config, Server, redact};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The project directory.
    dir: PathBuf,
    /// sqlite://PATH (embedded, the default) or postgres://… (many nodes).
    #[arg(long, default_value = "sqlite://./riskflow-data/riskflow.db")]
    database: String,
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Start the bundled data-source stub and point the project's sources at it.
    #[arg(long)]
    stub: bool,
    /// Jobs this node decides at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// A per-flow cap, FLOW=N (repeatable).
    #[arg(long = "flow-concurrency", value_name = "FLOW=N")]
    flow_concurrency: Vec<String>,
    /// Attempts before a job whose data sources keep failing is dead-lettered.
    #[arg(long, default_value_t = 5)]
    max_attempts: u32,
    /// First retry delay in milliseconds (doubles per attempt, with jitter).
    #[arg(long, default_value_t = 500)]
    retry_base_ms: u64,
    /// Lease on a claimed job, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    lease_ms: u64,
    /// On shutdown, how long to wait for jobs in flight before giving their leases back.
    #[arg(long, default_value_t = 20_000)]
    shutdown_grace_ms: u64,
    /// Do not log synchronous decisions (only to measure what logging costs).
    #[arg(long)]
    no_log: bool,
    /// Serve the API only: no workers, no event dispatcher on this node.
    #[arg(long)]
    no_workers: bool,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    body_limit: usize,
    /// Publish events to RabbitMQ too: amqp://user:pass@host:port/vhost
    #[arg(long)]
    amqp_url: Option<String>,
    #[arg(long, default_value = "riskflow.events")]
    amqp_exchange: String,
    /// Routing key; {type} and {flow} are replaced.
    #[arg(long, default_value = "{type}")]
    amqp_routing_key: String,
    /// This node's name in job leases (default: host-pid).
    #[arg(long)]
    node: Option<String>,
    /// Quiet start: print only the listening address.
    #[arg(long)]
    quiet: bool,
}

pub fn serve(a: ServeArgs) -> Result<i32> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RISKFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run(a))
}

async fn run(a: ServeArgs) -> Result<i32> {
    let mut config = Config::new(&a.dir);
    config.database_url = a.database.clone();
    config.listen = a.listen;
    config.concurrency = a.concurrency.max(1);
    for fc in &a.flow_concurrency {
        let Some((flow, n)) = fc.split_once('=') else {
            bail!("--flow-concurrency {fc:?}: expected FLOW=N");
        };
        let n: usize = n
            .parse()
            .with_context(|| format!("--flow-concurrency {fc:?}: N must be a number"))?;
        config.flow_concurrency.insert(flow.to_string(), n);
    }
    config.max_attempts = a.max_attempts.max(1);
    config.retry_base = Duration::from_millis(a.retry_base_ms);
    config.lease = Duration::from_millis(a.lease_ms.max(100));
    config.log_decisions = !a.no_log;
    config.shutdown_grace = Duration::from_millis(a.shutdown_grace_ms);
    config.workers = !a.no_workers;
    config.body_limit = a.body_limit;
    if let Some(n) = a.node {
        config.node = n;
    }
    if let Some(url) = a.amqp_url {
        config.amqp = Some(AmqpConfig {
            url,
            exchange: a.amqp_exchange,
            routing_key: a.amqp_routing_key,
        });
    }
    if a.stub {
        let addr = riskflow_stub::spawn(([127, 0, 0, 1], 0).into())
            .await
            .context("starting the data-source stub")?;
        config.project_vars =
            HashMap::from([("RISKFLOW_SOURCES".to_string(), format!("http://{addr}"))]);
    }
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("listening on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let server = Server::start(config).await?;
    let base = format!("http://{addr}");
    if a.quiet {
        println!("listening on {base}");
    } else {
        let st = server.state();
        println!(
            "riskflow serving {} (release {}) on {base}",
            a.dir.display(),
            st.release
        );
        println!("  database  {}", redact(&a.database));
        println!(
            "  flows     {}",
            st.project
                .flows
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("  API       {base}/v1/flows");
        println!("  OpenAPI   {base}/openapi.json   docs: {base}/docs");
        println!("  metrics   {base}/metrics");
        let sync_first = st
            .project
            .flows
            .values()
            .find(|f| f.mode == riskflow_engine::project::FlowMode::Sync)
            .or_else(|| st.project.flows.values().next());
        if let Some(f) = sync_first.map(|f| &f.name) {
            let req = a.dir.join("requests").join(format!("{f}.json"));
            println!(
                "  try       curl -s -X POST {base}/v1/flows/{f}/decisions -H 'content-type: application/json' -d @{}",
                req.display()
            );
        }
        println!("Ctrl-C or SIGTERM stops gracefully.");
    }
    server.serve(listener, shutdown_signal()).await?;
    Ok(0)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
