//! The HTTP data-source client: JSON over HTTP with a timeout per attempt,
//! retries with exponential backoff and jitter, and a response cache with a
//! TTL per source. Independent calls run concurrently.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::compile::DataSource;
use crate::exec::{Fetcher, SourceCall, SourceResult};

/// Most answers kept in the data-source cache.
const CACHE_LIMIT: usize = 50_000;

pub struct HttpFetcher {
    client: reqwest::Client,
    sources: Vec<DataSource>,
    cache: Mutex<HashMap<(usize, String), (Instant, Json)>>,
    /// Answers supplied with the request take precedence over calls.
    pub supplied: crate::exec::Answers,
}

impl HttpFetcher {
    pub fn new(sources: Vec<DataSource>) -> HttpFetcher {
        HttpFetcher {
            client: reqwest::Client::new(),
            sources,
            cache: Mutex::new(HashMap::new()),
            supplied: crate::exec::Answers::default(),
        }
    }

    async fn call(&self, c: &SourceCall) -> SourceResult {
        if self.supplied.contains(&c.variable) {
            return self.supplied.answer(c);
        }
        let Some(src) = self.sources.get(c.source) else {
            return Err(("unknown data source".into(), 0));
        };
        let key = (c.source, c.request.to_string());
        if src.cache_ttl_s > 0
            && let Ok(cache) = self.cache.lock()
            && let Some((at, body)) = cache.get(&key)
            && at.elapsed() < Duration::from_secs(src.cache_ttl_s)
        {
            return Ok((body.clone(), "cache", 0));
        }
        let mut last_error = String::new();
        let attempts = src.retries + 1;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt, &key.1)).await;
            }
            match self.once(src, &c.request).await {
                Ok(body) => {
                    if src.cache_ttl_s > 0
                        && let Ok(mut cache) = self.cache.lock()
                    {
                        // Bounded: past the limit, expired answers go first, then everything.
                        if cache.len() >= CACHE_LIMIT {
                            let ttl = Duration::from_secs(src.cache_ttl_s);
                            cache.retain(|_, (at, _)| at.elapsed() < ttl);
                            if cache.len() >= CACHE_LIMIT {
                                cache.clear();
                            }
                        }
                        cache.insert(key, (Instant::now(), body.clone()));
                    }
                    return Ok((body, "call", attempt + 1));
                }
                Err(e) => last_error = e,
            }
        }
        Err((
            format!("{} after {attempts} attempt(s): {last_error}", src.name),
            attempts,
        ))
    }

    async fn once(&self, src: &DataSource, request: &Json) -> Result<Json, String> {
        let mut req = match src.method.as_str() {
            "GET" => {
                let params: Vec<(String, String)> = request
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v.as_str()
                                        .map(str::to_string)
                                        .unwrap_or_else(|| v.to_string()),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                self.client.get(&src.url).query(&params)
            }
            _ => self.client.post(&src.url).json(request),
        };
        for (k, v) in &src.headers {
            req = req.header(k, v);
        }
        let resp = req
            .timeout(Duration::from_millis(src.timeout_ms))
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!("timed out after {} ms", src.timeout_ms)
                } else {
                    format!("request failed: {e}")
                }
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        resp.json::<Json>()
            .await
            .map_err(|e| format!("response is not JSON: {e}"))
    }
}

/// 50 ms · 2^(attempt-1), ±50 % jitter derived from the request (deterministic, no RNG needed).
fn backoff(attempt: u32, salt: &str) -> Duration {
    let base = 50u64 << (attempt - 1).min(6);
    let h = salt.bytes().fold(attempt as u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(b as u64)
    });
    Duration::from_millis(base / 2 + h % base.max(1))
}

impl Fetcher for HttpFetcher {
    async fn fetch_all(&self, calls: Vec<SourceCall>) -> Vec<SourceResult> {
        futures_util::future::join_all(calls.iter().map(|c| self.call(c))).await
    }
}
