//! `riskflow-load`: a fixed offered load, like wrk2. Each connection sends on
//! a schedule (rate / connections); a request's latency runs from when it was
//! *scheduled*, so a stalled server is charged for the requests it delayed
//! (no coordinated omission). Reports achieved throughput and p50/p99/p99.9.
//!
//! Hand-written because Debian's wrk measures only closed-loop and has no
//! p99.9 at a fixed rate; this is ~150 lines on hyper.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

#[derive(Parser, Clone)]
struct Args {
    /// http://host:port/path
    url: String,
    /// JSON body file (POST); GET without it.
    #[arg(long)]
    body: Option<String>,
    /// Requests per second, offered (0 = as fast as possible, closed loop).
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    #[arg(long, default_value_t = 32)]
    connections: u64,
    /// Seconds to measure (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Extra header NAME:VALUE (repeatable). `{n}` in the value is replaced by a counter.
    #[arg(long)]
    header: Vec<String>,
    /// Load-generator threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

struct Outcome {
    hist: Histogram<u64>,
    ok: u64,
    errors: u64,
    statuses: std::collections::BTreeMap<u16, u64>,
}

async fn connection(args: Args, idx: u64, body: Bytes, start: Instant, warm: Duration, end: Instant) -> Result<Outcome> {
    let uri: hyper::Uri = args.url.parse()?;
    let host = uri.host().context("host")?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or("/".into());
    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    stream.set_nodelay(true)?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut out = Outcome {
        hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        ok: 0,
        errors: 0,
        statuses: Default::default(),
    };
    let interval = if args.rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_nanos(1_000_000_000 * args.connections / args.rate)
    };
    // Spread the connections' schedules over one interval.
    let mut next = start + interval.mul_f64(idx as f64 / args.connections as f64);
    let mut n = idx;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        // Latency runs from the scheduled time when the connection is behind
        // schedule (the server held it up: no coordinated omission), and from
        // the actual send when we slept until the schedule (tokio's timer has
        // 1 ms granularity: waking late is the generator's fault, not the server's).
        let scheduled = if args.rate > 0 && next > now {
            tokio::time::sleep_until(next.into()).await;
            Instant::now()
        } else if args.rate > 0 {
            next
        } else {
            now
        };
        let mut req = Request::builder().uri(path.as_str()).header("host", host.as_str());
        for h in &args.header {
            if let Some((k, v)) = h.split_once(':') {
                req = req.header(k.trim(), v.trim().replace("{n}", &n.to_string()));
            }
        }
        n += args.connections;
        let req = if args.body.is_some() {
            req.method("POST").header("content-type", "application/json").body(Full::new(body.clone()))?
        } else {
            req.method("GET").body(Full::new(Bytes::new()))?
        };
        let res = send.send_request(req).await;
        let done = Instant::now();
        match res {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let _ = resp.into_body().collect().await;
                if scheduled >= start + warm {
                    *out.statuses.entry(status).or_default() += 1;
                    if (200..300).contains(&status) {
                        out.ok += 1;
                        let us = done.duration_since(scheduled).as_micros().max(1) as u64;
                        out.hist.record(us.min(60_000_000))?;
                    } else {
                        out.errors += 1;
                    }
                }
            }
            Err(_) => {
                out.errors += 1;
                break;
            }
        }
        next += interval;
    }
    Ok(out)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let body = match &args.body {
            Some(f) => Bytes::from(std::fs::read(f).with_context(|| f.clone())?),
            None => Bytes::new(),
        };
        let warm = Duration::from_secs(2);
        let start = Instant::now() + Duration::from_millis(100);
        let end = start + warm + Duration::from_secs(args.duration);
        let tasks: Vec<_> = (0..args.connections)
            .map(|i| tokio::spawn(connection(args.clone(), i, body.clone(), start, warm, end)))
            .collect();
        let mut total = Outcome {
            hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            ok: 0,
            errors: 0,
            statuses: Default::default(),
        };
        for t in tasks {
            let o = t.await??;
            total.hist.add(&o.hist)?;
            total.ok += o.ok;
            total.errors += o.errors;
            for (k, v) in o.statuses {
                *total.statuses.entry(k).or_default() += v;
            }
        }
        let secs = args.duration as f64;
        let h = &total.hist;
        println!(
            "offered {}/s  achieved {:.0}/s  ok {}  errors {}  statuses {:?}",
            if args.rate == 0 { "max".to_string() } else { args.rate.to_string() },
            total.ok as f64 / secs,
            total.ok,
            total.errors,
            total.statuses
        );
        println!(
            "latency µs: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        );
        anyhow::Ok(())
    })
}
