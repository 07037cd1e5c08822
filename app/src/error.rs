//! The one error type of the web layer and its problem+json mapping.
//!
//! Domains keep their own `thiserror` enums and convert into [`ApiError`] once; actix's own
//! extractor errors go through [`json_config`], [`query_config`] and [`path_config`], and the
//! telemetry middleware turns any remaining bare error response (unknown route, wrong method)
//! into problem+json, so every error a client sees has the same shape.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};
use tessera_contracts::problem::{FieldError, PROBLEM_JSON, Problem};

use crate::db::DbError;

/// An error a handler returns; it knows its status and its problem+json body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or fails validation (400).
    #[error("{detail}")]
    Validation {
        /// A one-line summary.
        detail: String,
        /// The invalid fields.
        errors: Vec<FieldError>,
    },
    /// Missing, invalid or expired credentials (401).
    #[error("{detail}")]
    Unauthorized {
        /// What is wrong.
        detail: String,
        /// Whether the problem is a bearer token (adds `WWW-Authenticate: Bearer`).
        bearer: bool,
    },
    /// Authenticated, but the role does not allow it (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such resource, or not the caller's (404).
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request body did not arrive in time (408).
    #[error("the request body did not arrive within {secs} s")]
    RequestTimeout {
        /// The read deadline in seconds.
        secs: u64,
    },
    /// A unique conflict (409).
    #[error("{0}")]
    Conflict(String),
    /// The resource existed and is gone for good (410): a caller's retry can never succeed.
    /// Its problem type is the domain's own (`urn:tessera:problem:<kind>`).
    #[error("{detail}")]
    Gone {
        /// The problem type's last part (`recipient-gone`).
        kind: &'static str,
        /// The problem's title (`Recipient gone`).
        title: &'static str,
        /// What is gone.
        detail: String,
    },
    /// The body is over the limit (413).
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not JSON where JSON is expected (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Rate limited (429) with the seconds until a retry can succeed.
    #[error("{detail}")]
    TooManyRequests {
        /// What was limited.
        detail: String,
        /// Seconds for `Retry-After`.
        retry_after: u64,
    },
    /// A dependency (database, Redis, a downstream service) is unavailable (503).
    #[error("{detail}")]
    Unavailable {
        /// Which dependency; safe to show (no internals).
        detail: String,
        /// Seconds for `Retry-After`, when known.
        retry_after: Option<u64>,
    },
    /// A bug or unexpected state (500). The cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A validation error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::Validation {
            detail: format!("{field} {message}"),
            errors: vec![FieldError {
                field: field.to_owned(),
                message,
            }],
        }
    }

    /// A validation error over several fields (at least one).
    pub fn fields(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::Validation { detail, errors }
    }

    /// A 400 about the request as a whole (malformed JSON, bad query string).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::Validation {
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A 401 about a bearer token.
    pub fn bad_token(detail: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            detail: detail.into(),
            bearer: true,
        }
    }

    /// A 503 for a dependency that is down, asking the client to retry in a few seconds.
    pub fn unavailable(what: &str) -> Self {
        ApiError::Unavailable {
            detail: format!("{what} is unavailable"),
            retry_after: Some(5),
        }
    }

    /// The `type` URN and `title` of this error's kind.
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Validation { .. } => ("validation", "Request validation failed"),
            ApiError::Unauthorized { .. } => ("unauthorized", "Authentication required"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::MethodNotAllowed => ("method-not-allowed", "Method not allowed"),
            ApiError::RequestTimeout { .. } => ("request-timeout", "Request timeout"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::Gone { kind, title, .. } => (kind, title),
            ApiError::PayloadTooLarge { .. } => ("payload-too-large", "Payload too large"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::TooManyRequests { .. } => ("rate-limited", "Too many requests"),
            ApiError::Unavailable { .. } => ("unavailable", "Service unavailable"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    /// The problem+json body (without `instance`/`requestId`, which the middleware adds).
    pub fn problem(&self) -> Problem {
        let (kind, title) = self.kind();
        let (detail, errors) = match self {
            ApiError::Validation { detail, errors } => (Some(detail.clone()), errors.clone()),
            // Internals never reach the client.
            ApiError::Internal(_) => (
                Some(
                    "an unexpected error occurred; quote the request id when reporting it"
                        .to_owned(),
                ),
                Vec::new(),
            ),
            other => (Some(other.to_string()), Vec::new()),
        };
        Problem {
            kind: format!("urn:tessera:problem:{kind}"),
            title: title.to_owned(),
            status: self.status_code().as_u16(),
            detail,
            instance: None,
            request_id: None,
            errors,
        }
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::unavailable("the database")
            }
            DbError::NotFound => ApiError::NotFound("not found".to_owned()),
            DbError::UniqueViolation(c) => {
                ApiError::Internal(anyhow::anyhow!("unexpected unique violation on {c:?}"))
            }
            DbError::Other(e) => ApiError::Internal(e.into()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        DbError::from(err).into()
    }
}

impl From<crate::db::RunError> for ApiError {
    fn from(err: crate::db::RunError) -> Self {
        DbError::from(err).into()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            // Logged once, here, inside the request's span (which carries the request id).
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut res = problem_response(self.problem());
        let headers = res.headers_mut();
        match self {
            ApiError::Unauthorized { bearer: true, .. } => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::Unavailable {
                retry_after: Some(secs),
                ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*secs));
            }
            _ => {}
        }
        res
    }
}

/// A problem+json response; the problem is also kept in the response's extensions so the
/// telemetry middleware can add `instance` and `requestId`.
pub fn problem_response(problem: Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut res = HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
        .body(body);
    res.extensions_mut().insert(problem);
    res
}

/// The problem a bare framework error response of `status` stands for.
pub fn problem_for_status(status: StatusCode) -> Problem {
    let err = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound("no route matches this path".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: 0 },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType("unsupported content type".to_owned())
        }
        StatusCode::TOO_MANY_REQUESTS => ApiError::TooManyRequests {
            detail: "too many requests".to_owned(),
            retry_after: 1,
        },
        s if s.is_client_error() => {
            ApiError::bad_request(s.canonical_reason().unwrap_or("bad request"))
        }
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable {
            detail: "service unavailable".to_owned(),
            retry_after: None,
        },
        _ => ApiError::Internal(anyhow::anyhow!("framework error {status}")),
    };
    let mut problem = err.problem();
    problem.status = status.as_u16();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        problem.detail = Some("request body is too large".to_owned());
    }
    problem
}

/// The JSON extractor configuration: body limit, content type, and errors as problem+json.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| {
            use actix_web::error::JsonPayloadError as E;
            let api = match &err {
                E::OverflowKnownLength { .. } | E::Overflow { .. } => {
                    ApiError::PayloadTooLarge { limit }
                }
                E::ContentType => {
                    ApiError::UnsupportedMediaType("the body must be application/json".to_owned())
                }
                E::Deserialize(e) => json_error(e),
                E::Serialize(_) => ApiError::bad_request("the body could not be read"),
                E::Payload(_) => ApiError::bad_request("the body could not be read"),
                _ => ApiError::bad_request("the body is not valid JSON"),
            };
            api.into()
        })
}

/// A JSON request body that must be an object: the extractor handlers use instead of
/// `web::Json`.
///
/// serde's derived `Deserialize` of a struct also accepts a JSON array of its fields in order
/// (`["Ada"]`); the contract wants objects only, so anything but an object is a 400. Everything
/// else (body limit, content type, problem+json errors) is [`json_config`]'s, because the body is
/// read by `web::Json` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let body = web::Json::<JsonObject<T>>::from_request(req, payload);
        Box::pin(async move { Ok(Json(body.await?.into_inner().0)) })
    }
}

/// Deserializes `T` from a JSON object only: serde_json hands an object to `visit_map`, which
/// passes the map on to `T` (so unknown, missing and duplicate fields keep serde's errors);
/// any other JSON value is an "invalid type" error.
struct JsonObject<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = JsonObject<T>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(JsonObject)
            }
        }

        deserializer.deserialize_any(Visitor(std::marker::PhantomData))
    }
}

/// Turns a serde_json error into a 400 that names the field when serde knows it.
fn json_error(err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => {
            let msg = err.to_string();
            // serde's messages end with " at line L column C"; that is noise for a client.
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            if let Some(field) = msg
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
            {
                return ApiError::field(field, "is not a known field");
            }
            if let Some(field) = msg
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next())
            {
                return ApiError::field(field, "is required");
            }
            ApiError::bad_request(format!("invalid body: {msg}"))
        }
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request("the body is not valid JSON")
        }
    }
}

/// The query-string extractor configuration: errors as problem+json 400 naming the parameter.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| query_error(&err).into())
}

/// Parses a query string into `T` with the same errors as [`query_config`], for handlers that
/// read the query themselves (after checking access, so a caller without rights learns nothing
/// from the parameters).
pub fn parse_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    web::Query::<T>::from_query(query)
        .map(web::Query::into_inner)
        .map_err(|e| query_error(&e))
}

/// A query-string error as a 400 that names an unknown or repeated parameter in `errors`, the
/// way JSON body errors name fields.
fn query_error(err: &actix_web::error::QueryPayloadError) -> ApiError {
    let msg = err.to_string();
    let msg = msg
        .strip_prefix("Query deserialize error: ")
        .unwrap_or(&msg)
        .to_owned();
    let named = |prefix: &str| {
        msg.strip_prefix(prefix)
            .and_then(|r| r.split('`').next())
            .map(str::to_owned)
    };
    if let Some(field) = named("unknown field `") {
        return ApiError::field(&field, "is not a known parameter");
    }
    if let Some(field) = named("duplicate field `") {
        return ApiError::field(&field, "must be given at most once");
    }
    ApiError::bad_request(format!("invalid query string: {msg}"))
}

/// The path extractor configuration: a malformed id is a 400, not a 404 or a 500.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        let msg = err.to_string();
        let msg = msg
            .strip_prefix("Path deserialize error: ")
            .unwrap_or(&msg)
            .to_owned();
        ApiError::bad_request(format!("invalid path parameter: {msg}")).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_never_show_their_cause() {
        let problem =
            ApiError::Internal(anyhow::anyhow!("password=hunter2 connection refused")).problem();
        assert_eq!(problem.status, 500);
        let body = serde_json::to_string(&problem).unwrap_or_default();
        assert!(!body.contains("hunter2"), "{body}");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Named {
        name: String,
    }

    #[test]
    fn a_json_body_must_be_an_object() {
        let parsed = serde_json::from_str::<JsonObject<Named>>(r#"{"name":"Ada"}"#);
        assert_eq!(parsed.map(|n| n.0.name).ok().as_deref(), Some("Ada"));
        for body in [r#"["Ada"]"#, "1", "null", r#""Ada""#, "true"] {
            let err = serde_json::from_str::<JsonObject<Named>>(body).err();
            let message = err.map(|e| json_error(&e).to_string()).unwrap_or_default();
            assert!(
                message.contains("expected a JSON object"),
                "{body}: {message}"
            );
        }
    }

    #[test]
    fn an_object_body_keeps_serde_field_errors() {
        for (body, field) in [
            (r#"{"name":"a","nmae":"b"}"#, "nmae"),
            ("{}", "name"),
            (r#"{"name":"a","name":"b"}"#, ""),
        ] {
            let err = serde_json::from_str::<JsonObject<Named>>(body).err();
            let problem = err.map(|e| json_error(&e).problem());
            let errors = problem.map(|p| p.errors).unwrap_or_default();
            assert_eq!(
                errors.first().map(|e| e.field.as_str()).unwrap_or(""),
                field,
                "{body}"
            );
        }
    }

    #[test]
    fn unknown_json_fields_name_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[expect(dead_code, reason = "only the error matters")]
        struct Body {
            title: String,
        }
        let err = serde_json::from_str::<Body>(r#"{"title":"a","titel":"b"}"#).err();
        let problem = err.map(|e| json_error(&e).problem());
        let errors = problem.map(|p| p.errors).unwrap_or_default();
        assert_eq!(errors.first().map(|e| e.field.as_str()), Some("titel"));
    }
}
