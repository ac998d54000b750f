//! Request extraction that fails into the error envelope: a JSON body
//! (content type, size limit, syntax with line and column), query
//! parameters and path segments.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

use crate::error::{ApiError, Code};

/// Bodies larger than this are refused with 413 (the server's `body_limit`
/// overrides it through the request extensions).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON document from the body (any JSON value; the handler checks its
/// shape), with the bytes as sent — the decision log keeps the request
/// exactly as it arrived.
pub struct JsonBody(pub Json, pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !(mime == "application/json" || mime.ends_with("+json")) {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                format!(
                    "expected Content-Type: application/json, got {}",
                    if ct.is_empty() { "none" } else { ct }
                ),
            ));
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(DEFAULT_BODY_LIMIT);
        let bytes = read_limited(req.into_body(), limit).await?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Ok(JsonBody(v, bytes)),
            Err(e) => Err(json_error(&e)),
        }
    }
}

async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_big = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_big {
            ApiError::new(
                Code::PayloadTooLarge,
                format!("the body is larger than the limit of {limit} bytes"),
            )
            .with_details(json!({ "limit_bytes": limit }))
        } else {
            ApiError::new(Code::BadRequest, format!("reading the body: {e}"))
        }
    })
}

pub fn json_error(e: &serde_json::Error) -> ApiError {
    let full = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    let what = full.strip_suffix(&at).unwrap_or(&full);
    ApiError::new(
        Code::MalformedJson,
        format!(
            "malformed JSON at line {} column {}: {what}",
            e.line(),
            e.column()
        ),
    )
    .with_details(json!({ "line": e.line(), "column": e.column() }))
}

/// Query parameters into `T`; a bad one is a 400 naming it.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, s)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| {
                ApiError::new(Code::BadRequest, format!("query string: {}", e.body_text()))
            })
    }
}

/// One path segment.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, s)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::new(Code::BadRequest, format!("path: {}", e.body_text())))
    }
}
