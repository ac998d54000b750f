//! The HTTP API under `/v1`, plus health, metrics and the OpenAPI document.
//! Handlers only translate: HTTP in, engine/store call, HTTP out.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use riskflow_engine::{DecideOptions, Flow};
use riskflow_store::writer::{Done, NewApplication, NewDecision, Op};
use riskflow_store::{DecisionQuery, Status, Webhook, new_id, now_ms};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::error::{ApiError, Code};
use crate::extract::{BodyLimit, JsonBody, Path, Query};
use crate::{AppState, metrics};

type ApiResult<T = Response> = Result<T, ApiError>;

pub fn router(state: AppState) -> Router {
    let limit = state.config.body_limit;
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(|| async { Html(crate::openapi::DOCS_HTML) }))
        .route("/v1/flows", get(flows))
        .route("/v1/flows/{flow}/decisions", post(decide))
        .route("/v1/flows/{flow}/applications", post(apply))
        .route("/v1/decisions", get(list_decisions))
        .route("/v1/decisions/{id}", get(get_decision))
        .route("/v1/decisions/{id}/events", get(decision_events))
        .route("/v1/webhooks", post(create_webhook).get(list_webhooks))
        .route("/v1/webhooks/{id}", axum::routing::delete(delete_webhook))
        .route("/v1/dead-letters", get(dead_letters))
        .route("/v1/dead-letters/{id}/redrive", post(redrive))
        .fallback(|| async { ApiError::new(Code::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                Code::MethodNotAllowed,
                "this route does not take that method",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::new(Code::Internal, "internal error (a bug; it has been logged)")
                .into_response()
        }))
        .layer(axum::Extension(BodyLimit(limit)))
        .with_state(state)
}

/// Times every request into the latency histogram (per route, flow and
/// status) and refuses new work once shutdown has begun.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let t = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(unmatched)".into());
    // Only flows that exist become label values: no unbounded cardinality.
    let flow = req
        .uri()
        .path()
        .strip_prefix("/v1/flows/")
        .and_then(|r| r.split('/').next())
        .filter(|f| state.project.flows.contains_key(*f))
        .map(String::from);
    let resp = if req.method() == Method::POST && !state.accepting.load(Ordering::SeqCst) {
        ApiError::new(
            Code::ShuttingDown,
            "this node is shutting down; retry on another",
        )
        .into_response()
    } else {
        next.run(req).await
    };
    metrics::request(&route, flow.as_deref(), resp.status().as_u16(), t.elapsed());
    resp
}

async fn openapi(State(s): State<AppState>) -> Response {
    axum::Json(crate::openapi::spec(&s.project, &s.release)).into_response()
}

async fn readyz(State(s): State<AppState>) -> ApiResult {
    if !s.accepting.load(Ordering::SeqCst) {
        return Err(ApiError::new(Code::ShuttingDown, "shutting down"));
    }
    s.store.stats().await?;
    Ok(axum::Json(json!({"status": "ready", "release": s.release})).into_response())
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

fn flow<'a>(s: &'a AppState, name: &str) -> ApiResult<&'a Arc<Flow>> {
    s.project.flows.get(name).ok_or_else(|| {
        ApiError::new(Code::UnknownFlow, format!("no flow named {name:?}"))
            .with_details(json!({ "flows": s.project.flows.keys().collect::<Vec<_>>() }))
    })
}

async fn flows(State(s): State<AppState>) -> Response {
    let list: Vec<Json> = s
        .project
        .flows
        .values()
        .map(|f| {
            json!({
                "name": f.name,
                "description": f.description,
                "mode": f.mode,
                "key": f.key,
                "inputs": f.inputs.iter().map(|i| json!({
                    "name": i.name, "type": i.ty.describe(), "required": i.required,
                })).collect::<Vec<_>>(),
                "outputs": f.outputs.iter().map(|o| &o.name).collect::<Vec<_>>(),
            })
        })
        .collect();
    axum::Json(json!({"release": s.release, "flows": list})).into_response()
}

#[derive(Deserialize)]
struct DecideParams {
    #[serde(default)]
    trace: bool,
}

fn key_of(f: &Flow, input: &Json) -> Option<String> {
    let v = input.get(f.key.as_deref()?)?;
    Some(match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// `POST /v1/flows/{flow}/decisions`: decide now; logged durably before the answer.
async fn decide(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<DecideParams>,
    JsonBody(input, raw): JsonBody,
) -> ApiResult {
    let f = flow(&s, &name)?;
    let log = s.config.log_decisions;
    let started = Instant::now();
    let created_ms = now_ms();
    let result = f
        .decide_async(
            &input,
            &s.fetcher,
            DecideOptions {
                trace: log || params.trace,
            },
        )
        .await;
    let duration_us = started.elapsed().as_micros() as i64;
    let id = new_id("dec_");
    // The log row; the outcome-specific fields are filled in below.
    let row = NewDecision {
        id: id.clone(),
        flow: name.clone(),
        release: s.release.clone(),
        status: Status::Completed,
        outcome: None,
        key: key_of(f, &input),
        request: raw_text(&raw, &input),
        outputs: None,
        trace: None,
        error: None,
        created_ms,
        duration_us,
        node: s.config.node.clone(),
    };
    let decision = match result {
        Ok(d) => d,
        Err(e) => {
            let e = ApiError::from(e);
            if !log || e.code == Code::InvalidInput {
                return Err(e);
            }
            // A flow that failed on a valid input is a decision too: logged as failed.
            let failed = NewDecision {
                status: Status::Failed,
                error: Some(e.message.clone()),
                ..row
            };
            s.writer.submit(Op::Log(failed)).await?;
            return Err(e.with_id(&id));
        }
    };
    let outputs = json!(decision.outputs);
    if log {
        let completed = NewDecision {
            outcome: crate::outcome_of(&outputs),
            outputs: Some(outputs.to_string()),
            trace: decision
                .trace
                .as_ref()
                .and_then(|t| serde_json::to_string(t).ok()),
            ..row
        };
        s.writer.submit(Op::Log(completed)).await?;
    }
    let mut body = json!({
        "id": id,
        "flow": name,
        "release": s.release,
        "outputs": outputs,
        "duration_us": duration_us,
        "logged": log,
    });
    if params.trace {
        body["trace"] = json!(decision.trace);
    }
    Ok(axum::Json(body).into_response())
}

/// The request as it arrived (valid UTF-8 JSON, since it parsed).
fn raw_text(raw: &[u8], parsed: &Json) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => parsed.to_string(),
    }
}

impl ApiError {
    fn with_id(mut self, id: &str) -> ApiError {
        if self.details.is_null() {
            self.details = json!({});
        }
        if let Json::Object(m) = &mut self.details {
            m.insert("decision_id".into(), json!(id));
        }
        self
    }
}

/// `POST /v1/flows/{flow}/applications`: 202 once the application and its
/// job are committed.
async fn apply(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    JsonBody(input, raw): JsonBody,
) -> ApiResult {
    let f = flow(&s, &name)?;
    f.check_input(&input)?;
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
                Some(format!("{name}:{k}"))
            }
            _ => {
                return Err(ApiError::new(
                    Code::BadRequest,
                    "Idempotency-Key must be 1–255 visible ASCII characters",
                ));
            }
        },
    };
    let done = s
        .writer
        .submit(Op::Accept(NewApplication {
            id: new_id("dec_"),
            flow: name.clone(),
            release: s.release.clone(),
            key: key_of(f, &input),
            idempotency_key,
            request: raw_text(&raw, &input),
            created_ms: now_ms(),
        }))
        .await?;
    let Done::Accepted { id, existing } = done else {
        return Err(ApiError::new(
            Code::Internal,
            "the writer answered out of turn",
        ));
    };
    if !existing {
        s.wake.notify_one();
    }
    let location = format!("/v1/decisions/{id}");
    let mut resp = (
        StatusCode::ACCEPTED,
        axum::Json(json!({"id": id, "flow": name, "status": "pending", "location": location})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if existing {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

async fn get_decision(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    Ok(axum::Json(s.store.decision(&id).await?).into_response())
}

async fn decision_events(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    s.store.decision(&id).await?;
    let items = s.store.deliveries_of(&id).await?;
    Ok(axum::Json(json!({ "items": items })).into_response())
}

#[derive(Deserialize)]
struct ListParams {
    flow: Option<String>,
    outcome: Option<String>,
    key: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn time_param(name: &str, v: &Option<String>) -> ApiResult<Option<i64>> {
    let Some(v) = v else { return Ok(None) };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(ms));
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|e| {
            ApiError::new(
                Code::BadRequest,
                format!(
                    "{name}: expected RFC 3339 (2026-11-24T08:00:00Z) or Unix milliseconds: {e}"
                ),
            )
        })
}

async fn list_decisions(State(s): State<AppState>, Query(p): Query<ListParams>) -> ApiResult {
    let status = p
        .status
        .as_deref()
        .map(Status::parse)
        .transpose()
        .map_err(|e| ApiError::new(Code::BadRequest, format!("status: {e}")))?;
    let q = DecisionQuery {
        from_ms: time_param("from", &p.from)?,
        to_ms: time_param("to", &p.to)?,
        flow: p.flow,
        outcome: p.outcome,
        key: p.key,
        status,
        cursor: p.cursor,
        limit: p.limit.unwrap_or(50),
    };
    Ok(axum::Json(s.store.decisions(&q).await?).into_response())
}

const EVENT_KINDS: &[&str] = &[
    "decision.completed",
    "decision.failed",
    "application.dead_lettered",
    "*",
];

async fn create_webhook(State(s): State<AppState>, JsonBody(body, _): JsonBody) -> ApiResult {
    let url = body.get("url").and_then(Json::as_str).unwrap_or_default();
    let mut problems = Vec::new();
    if !webhook_url_ok(url) {
        problems.push(json!({"field": "url", "message": "required; an http(s) URL (visible ASCII, a host after the scheme)"}));
    }
    let events: Vec<String> = match body.get("events") {
        None => vec!["*".into()],
        Some(Json::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|e| e.as_str().unwrap_or("").to_string())
            .collect(),
        Some(_) => {
            problems.push(json!({"field": "events", "message": "a non-empty list of event types"}));
            vec![]
        }
    };
    for e in &events {
        if !EVENT_KINDS.contains(&e.as_str()) {
            problems.push(json!({"field": "events", "message": format!("unknown event type {e:?}; expected one of {}", EVENT_KINDS.join(", "))}));
        }
    }
    let secret = match body.get("secret") {
        None | Some(Json::Null) => random_secret()?,
        Some(Json::String(s)) if s.len() >= 16 => s.clone(),
        Some(_) => {
            problems.push(json!({"field": "secret", "message": "at least 16 characters"}));
            String::new()
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::new(Code::InvalidInput, "the webhook is invalid")
            .with_details(json!({ "fields": problems })));
    }
    let hook = Webhook {
        id: new_id("wh_"),
        url: url.to_string(),
        secret: secret.clone(),
        events,
        created_ms: now_ms(),
    };
    s.store.create_webhook(&hook).await?;
    let mut body = json!(hook);
    // The secret is shown once, on creation.
    body["secret"] = json!(secret);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The same rule as the OpenAPI pattern `^https?://[A-Za-z0-9][!-~]*$`;
/// an address that does not resolve fails at delivery, where it is recorded.
fn webhook_url_ok(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|r| {
        r.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && r.bytes().all(|b| b.is_ascii_graphic())
    })
}

fn random_secret() -> ApiResult<String> {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b)
        .map_err(|e| ApiError::new(Code::Internal, format!("no randomness: {e}")))?;
    Ok(format!("whsec_{}", hex::encode(b)))
}

async fn list_webhooks(State(s): State<AppState>) -> ApiResult {
    Ok(axum::Json(json!({ "items": s.store.webhooks().await? })).into_response())
}

async fn delete_webhook(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    s.store.delete_webhook(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct LimitParams {
    limit: Option<u32>,
}

async fn dead_letters(State(s): State<AppState>, Query(p): Query<LimitParams>) -> ApiResult {
    let items = s.store.dead_letters(p.limit.unwrap_or(100)).await?;
    Ok(axum::Json(json!({ "items": items })).into_response())
}

async fn redrive(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    s.store.redrive(&id).await?;
    s.wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(
            json!({"id": id, "status": "pending", "location": format!("/v1/decisions/{id}")}),
        ),
    )
        .into_response())
}
