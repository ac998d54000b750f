//! The one error envelope, `{"error": {"code", "message", "details"}}`, and
//! the one table of codes: every failure any handler reports is mapped here,
//! once, to a status and a stable code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use riskflow_engine::DecideError;
use riskflow_store::StoreError;
use serde_json::{Value as Json, json};

/// Every error code the API returns, with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The body is not JSON (with line and column).
    MalformedJson,
    /// A query parameter or path segment is malformed.
    BadRequest,
    /// The Content-Type is not application/json.
    UnsupportedMediaType,
    /// The body is larger than the limit.
    PayloadTooLarge,
    /// No such flow in the running release.
    UnknownFlow,
    /// No such resource (decision, webhook, dead letter, route).
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The input violates the flow's declared types: every field, and why.
    InvalidInput,
    /// The flow failed on this input (an expression error).
    DecisionFailed,
    /// A uniqueness rule was broken.
    Conflict,
    /// A data source failed and the flow has no fallback for it.
    DataSourceUnavailable,
    /// The database cannot be reached.
    StorageUnavailable,
    /// The server is shutting down and accepts no new work.
    ShuttingDown,
    /// A bug: reported, never expected.
    Internal,
}

impl Code {
    pub const ALL: &[Code] = &[
        Code::MalformedJson,
        Code::BadRequest,
        Code::UnsupportedMediaType,
        Code::PayloadTooLarge,
        Code::UnknownFlow,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::InvalidInput,
        Code::DecisionFailed,
        Code::Conflict,
        Code::DataSourceUnavailable,
        Code::StorageUnavailable,
        Code::ShuttingDown,
        Code::Internal,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            Code::MalformedJson | Code::BadRequest => StatusCode::BAD_REQUEST,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::UnknownFlow | Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::InvalidInput | Code::DecisionFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Code::Conflict => StatusCode::CONFLICT,
            Code::DataSourceUnavailable | Code::StorageUnavailable | Code::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::MalformedJson => "malformed_json",
            Code::BadRequest => "bad_request",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnknownFlow => "unknown_flow",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::InvalidInput => "invalid_input",
            Code::DecisionFailed => "decision_failed",
            Code::Conflict => "conflict",
            Code::DataSourceUnavailable => "data_source_unavailable",
            Code::StorageUnavailable => "storage_unavailable",
            Code::ShuttingDown => "shutting_down",
            Code::Internal => "internal",
        }
    }
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub details: Json,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            details: Json::Null,
        }
    }

    pub fn with_details(mut self, details: Json) -> ApiError {
        self.details = details;
        self
    }

    pub fn body(&self) -> Json {
        json!({"error": {"code": self.code.as_str(), "message": self.message, "details": self.details}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.code.status(), axum::Json(self.body())).into_response();
        if self.code.status() == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::NotFound(_) => Code::NotFound,
            StoreError::Conflict(_) => Code::Conflict,
            StoreError::Invalid(_) => Code::BadRequest,
            StoreError::Unavailable(_) => Code::StorageUnavailable,
            StoreError::Corrupt(_) => Code::Internal,
        };
        if code == Code::Internal || code == Code::StorageUnavailable {
            tracing::error!(error = %e, "storage");
        }
        ApiError::new(code, e.to_string())
    }
}

impl From<DecideError> for ApiError {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::InvalidInput(fields) => ApiError::new(
                Code::InvalidInput,
                format!(
                    "the input violates the flow's declared types in {} field(s)",
                    fields.len()
                ),
            )
            .with_details(json!({ "fields": fields })),
            DecideError::Eval { node, message } => {
                ApiError::new(Code::DecisionFailed, format!("{node}: {message}"))
                    .with_details(json!({ "node": node }))
            }
            DecideError::Source { variable, message } => ApiError::new(
                Code::DataSourceUnavailable,
                format!("data source for {variable} failed: {message}"),
            )
            .with_details(json!({ "variable": variable })),
            other => ApiError::new(Code::DecisionFailed, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_only_internal_is_a_server_fault() {
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
        for c in Code::ALL {
            let s = c.status().as_u16();
            match c {
                Code::Internal => assert_eq!(s, 500),
                Code::DataSourceUnavailable | Code::StorageUnavailable | Code::ShuttingDown => {
                    assert_eq!(s, 503)
                }
                _ => assert!((400..500).contains(&s), "{c:?}"),
            }
        }
    }
}
