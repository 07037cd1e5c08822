//! The gateway's API, typed with the domains' own wire types.
//!
//! Every call goes through [`call`]: it adds the access token, turns problem+json into
//! [`ApiError`], and on a 401 refreshes the session once (shared by every request that hit the
//! 401 at the same time, see [`crate::session::refresh`]) and retries once.

use dioxus::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tessera_contracts::problem::{FieldError, Problem};

use crate::net::{self, Outgoing, RawResponse};
use crate::session;

/// Whether the API answered lately: drives the offline / unavailable banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    /// The last request got an answer.
    Online,
    /// The last request never reached the server.
    Offline,
    /// The platform answered 503: a dependency is down.
    Unavailable,
}

/// The API's reachability, as the most recently started request that has answered saw it.
pub static REACHABILITY: GlobalSignal<Reachability> = Signal::global(|| Reachability::Online);

/// Orders reachability reports by when their requests started: a slow request that began
/// before the connection dropped must not report "online" after a newer one found it offline.
#[derive(Debug, Default)]
struct ReachClock {
    started: std::cell::Cell<u64>,
    settled: std::cell::Cell<u64>,
}

impl ReachClock {
    /// Numbers a request as it starts.
    fn start(&self) -> u64 {
        let n = self.started.get() + 1;
        self.started.set(n);
        n
    }

    /// Whether the request numbered `n` is the newest to answer so far (then it reports).
    fn settle(&self, n: u64) -> bool {
        if n < self.settled.get() {
            return false;
        }
        self.settled.set(n);
        true
    }
}

thread_local! {
    static REACH_CLOCK: ReachClock = ReachClock::default();
}

/// Why a call failed, in the terms the pages show.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The API answered with problem+json.
    Problem {
        /// The problem body (boxed: it is large, and errors travel through every `Result`).
        problem: Box<Problem>,
        /// `Retry-After` in seconds, if sent.
        retry_after: Option<u64>,
    },
    /// The API answered something that is not problem+json (a proxy's error page, say).
    Unexpected {
        /// The HTTP status.
        status: u16,
        /// `X-Request-Id`, when the response had one.
        request_id: Option<String>,
    },
    /// The request never reached the API.
    Offline,
    /// The session ended (refresh refused); the user is being sent to the login page.
    SessionEnded,
}

impl ApiError {
    /// The HTTP status, when there was a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Problem { problem, .. } => Some(problem.status),
            ApiError::Unexpected { status, .. } => Some(*status),
            ApiError::Offline | ApiError::SessionEnded => None,
        }
    }

    /// The field errors of a validation problem.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            ApiError::Problem { problem, .. } => &problem.errors,
            _ => &[],
        }
    }

    /// The message for `field`, if the problem names it.
    pub fn field(&self, field: &str) -> Option<String> {
        self.field_errors()
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.clone())
    }

    /// The request id to quote when reporting the problem.
    pub fn request_id(&self) -> Option<String> {
        match self {
            ApiError::Problem { problem, .. } => problem.request_id.clone(),
            ApiError::Unexpected { request_id, .. } => request_id.clone(),
            ApiError::Offline | ApiError::SessionEnded => None,
        }
    }

    /// One sentence for a person: what happened and, where it helps, what to do.
    pub fn message(&self) -> String {
        match self {
            ApiError::Problem {
                problem,
                retry_after,
            } => match problem.status {
                429 => match retry_after {
                    Some(s) => format!("Too many requests. Try again in {}.", seconds(*s)),
                    None => "Too many requests. Try again in a moment.".to_owned(),
                },
                503 => match retry_after {
                    Some(s) => format!(
                        "Tessera is temporarily unavailable. Try again in {}.",
                        seconds(*s)
                    ),
                    None => "Tessera is temporarily unavailable. Try again in a moment.".to_owned(),
                },
                500 => "Something went wrong on our side. It has been logged.".to_owned(),
                _ => sentence(problem.detail.as_deref().unwrap_or(&problem.title)),
            },
            ApiError::Unexpected { status, .. } => {
                format!("The server answered with an unexpected error ({status}).")
            }
            ApiError::Offline => {
                "Tessera cannot be reached. Check your connection and try again.".to_owned()
            }
            ApiError::SessionEnded => "Your session has ended. Please sign in again.".to_owned(),
        }
    }
}

fn seconds(s: u64) -> String {
    if s == 1 {
        "1 second".to_owned()
    } else if s < 120 {
        format!("{s} seconds")
    } else {
        format!("{} minutes", s.div_ceil(60))
    }
}

/// Capitalises the first letter and ends with a full stop: the API's details are lower-case
/// fragments ("invalid e-mail or password").
pub fn sentence(text: &str) -> String {
    let mut chars = text.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// An API request before it is sent.
pub struct Call {
    method: &'static str,
    path: String,
    body: Option<String>,
    headers: Vec<(&'static str, String)>,
    auth: bool,
    cookies: bool,
}

impl Call {
    fn new(method: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            headers: Vec::new(),
            auth: true,
            cookies: false,
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    /// `POST path`.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new("POST", path)
    }

    /// `PATCH path`.
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new("PATCH", path)
    }

    /// `DELETE path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new("DELETE", path)
    }

    /// A JSON body, serialised from a wire type.
    pub fn json(mut self, body: &impl Serialize) -> Self {
        self.body = serde_json::to_string(body).ok();
        self
    }

    /// An extra header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// A public route: no access token, no refresh on 401.
    pub fn public(mut self) -> Self {
        self.auth = false;
        self
    }

    /// A session route: sends and accepts the HttpOnly refresh cookie (`X-Tessera-Session`).
    pub fn session(mut self) -> Self {
        self.cookies = true;
        self.headers
            .push(("x-tessera-session", "cookie".to_owned()));
        self
    }

    async fn send_once(&self, token: Option<&str>) -> Result<RawResponse, ApiError> {
        let mut headers = self.headers.clone();
        if let Some(token) = token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        let started = REACH_CLOCK.with(|c| c.start());
        let sent = net::send(Outgoing {
            method: self.method,
            url: format!("{}{}", net::api_base(), self.path),
            body: self.body.clone(),
            headers,
            with_cookies: self.cookies,
        })
        .await;
        let reach = match &sent {
            Ok(response) if response.status == 503 => Reachability::Unavailable,
            Ok(_) => Reachability::Online,
            Err(_) => Reachability::Offline,
        };
        if REACH_CLOCK.with(|c| c.settle(started)) && *REACHABILITY.peek() != reach {
            *REACHABILITY.write() = reach;
        }
        sent.map_err(|_| ApiError::Offline)
    }

    /// Sends the request; on a 401 with a token, refreshes once and retries once.
    pub async fn raw(self) -> Result<RawResponse, ApiError> {
        if !self.auth {
            return self.send_once(None).await;
        }
        let token = session::access_token();
        let response = self.send_once(token.as_deref()).await?;
        if response.status != 401 {
            return Ok(response);
        }
        match session::refresh().await {
            Ok(fresh) => self.send_once(Some(&fresh)).await,
            Err(session::RefreshFailed::Offline) => Err(ApiError::Offline),
            Err(session::RefreshFailed::Refused) => {
                session::end(Some(ApiError::SessionEnded.message()));
                Err(ApiError::SessionEnded)
            }
        }
    }

    /// Sends the request and decodes a 2xx JSON body.
    pub async fn fetch<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        let response = self.raw().await?;
        decode(response)
    }

    /// Sends the request and expects a 2xx with no body of interest (204).
    pub async fn send(self) -> Result<(), ApiError> {
        let response = self.raw().await?;
        if (200..300).contains(&response.status) {
            Ok(())
        } else {
            Err(problem(response))
        }
    }
}

/// Decodes a 2xx body as `T`, or the problem of any other answer.
pub fn decode<T: DeserializeOwned>(response: RawResponse) -> Result<T, ApiError> {
    if !(200..300).contains(&response.status) {
        return Err(problem(response));
    }
    serde_json::from_str(&response.body).map_err(|_| ApiError::Unexpected {
        status: response.status,
        request_id: response.request_id,
    })
}

/// The [`ApiError`] of a non-2xx answer.
pub fn problem(response: RawResponse) -> ApiError {
    match serde_json::from_str::<Problem>(&response.body) {
        Ok(mut problem) if response.content_type.contains("json") => {
            if problem.request_id.is_none() {
                problem.request_id = response.request_id;
            }
            ApiError::Problem {
                problem: Box::new(problem),
                retry_after: response.retry_after,
            }
        }
        _ => ApiError::Unexpected {
            status: response.status,
            request_id: response.request_id,
        },
    }
}

/// A query string (`?a=1&b=x`) from a wire query type: every present field, percent-encoded.
pub fn query_string(query: &impl Serialize) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(query) else {
        return String::new();
    };
    let pairs: Vec<String> = fields
        .into_iter()
        .filter_map(|(key, value)| {
            let text = match value {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            Some(format!("{key}={}", net::encode(&text)))
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use tessera_task::wire::ListTasksQuery;

    use super::*;

    fn response(status: u16, content_type: &str, body: &str) -> RawResponse {
        RawResponse {
            status,
            request_id: Some("req-1".to_owned()),
            retry_after: Some(42),
            content_type: content_type.to_owned(),
            body: body.to_owned(),
        }
    }

    #[test]
    fn a_query_string_carries_the_present_fields_percent_encoded() {
        let query = ListTasksQuery {
            status: Some("COMPLETED".to_owned()),
            q: Some("café & co/2".to_owned()),
            page: Some("2".to_owned()),
            ..Default::default()
        };
        let text = query_string(&query);
        assert!(text.starts_with('?'));
        let mut pairs: Vec<&str> = text[1..].split('&').collect();
        pairs.sort_unstable();
        assert_eq!(
            pairs,
            ["page=2", "q=caf%C3%A9%20%26%20co%2F2", "status=COMPLETED"]
        );
        assert_eq!(query_string(&ListTasksQuery::default()), "");
    }

    #[test]
    fn a_problem_body_becomes_field_errors_and_keeps_its_request_id() {
        let body = r#"{"type":"urn:tessera:problem:validation","title":"Request validation failed","status":400,"detail":"password must be 8 to 128 characters","requestId":"from-body","errors":[{"field":"password","message":"must be 8 to 128 characters"}]}"#;
        let err = problem(response(400, "application/problem+json", body));
        assert_eq!(err.status(), Some(400));
        assert_eq!(
            err.field("password").as_deref(),
            Some("must be 8 to 128 characters")
        );
        assert_eq!(err.field("email"), None);
        assert_eq!(err.request_id().as_deref(), Some("from-body"));
        assert_eq!(err.message(), "Password must be 8 to 128 characters.");
    }

    #[test]
    fn a_problem_without_a_request_id_takes_the_header_and_a_429_says_when_to_retry() {
        let body = r#"{"type":"urn:tessera:problem:rate-limited","title":"Too many requests","status":429}"#;
        let err = problem(response(429, "application/problem+json", body));
        assert_eq!(err.request_id().as_deref(), Some("req-1"));
        assert_eq!(err.message(), "Too many requests. Try again in 42 seconds.");
    }

    #[test]
    fn an_answer_that_is_not_problem_json_is_unexpected_not_a_panic() {
        let err = problem(response(502, "text/html", "<h1>Bad gateway</h1>"));
        assert_eq!(
            err,
            ApiError::Unexpected {
                status: 502,
                request_id: Some("req-1".to_owned())
            }
        );
        let ok: Result<serde_json::Value, _> =
            decode(response(200, "application/json", "not json"));
        assert!(matches!(ok, Err(ApiError::Unexpected { status: 200, .. })));
    }

    #[test]
    fn an_older_request_answering_late_does_not_overrule_a_newer_one() {
        let clock = ReachClock::default();
        let slow = clock.start();
        let failed = clock.start();
        assert!(clock.settle(failed), "the newest answer reports");
        assert!(
            !clock.settle(slow),
            "an older request answering later must not report"
        );
        let next = clock.start();
        assert!(
            clock.settle(next),
            "a request started afterwards reports again"
        );
    }

    #[test]
    fn sentences_start_upper_case_and_end_with_a_stop() {
        assert_eq!(
            sentence("invalid e-mail or password"),
            "Invalid e-mail or password."
        );
        assert_eq!(sentence("Done!"), "Done!");
        assert_eq!(sentence("  "), "");
    }
}
