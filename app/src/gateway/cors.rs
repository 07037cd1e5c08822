//! CORS for the origins in `CORS_ORIGINS`.
//!
//! A preflight from an allowed origin gets 204 with the allowed methods and headers; one from any
//! other origin gets 403 problem+json. Actual requests from an allowed origin get
//! `Access-Control-Allow-Origin`; others get no CORS headers, so the browser withholds the
//! response while non-browser clients (which send no `Origin`) are unaffected. Origins listed by
//! name also get `Access-Control-Allow-Credentials: true`, so the web app can send and receive
//! its session cookie (`/auth/refresh`, `/auth/logout`); an origin allowed only by `*` never does,
//! since credentials for any site would let every page act with a visitor's session. Every answer carries `Vary: Origin`, the refusals and
//! the answers without CORS headers included: each depends on the request's `Origin`, so a
//! shared cache must not hand one origin's answer to another.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};

/// Methods the API uses.
const METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
/// Request headers a browser client may send.
const ALLOWED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "idempotency-key",
    "x-request-id",
    "last-event-id",
    // The web app's session switch (the auth domain's cookie mode).
    "x-tessera-session",
];
/// Response headers a browser client may read.
const EXPOSED: &str = "X-Request-Id, Location, Retry-After, WWW-Authenticate";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// Whether an allowed origin may send credentials (cookies): only one listed by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// Listed in `CORS_ORIGINS`: `Access-Control-Allow-Credentials: true`.
    Allowed,
    /// Allowed only through `*`: no credentials header.
    Withheld,
}

/// The allowed origins.
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    origins: Vec<String>,
    any: bool,
}

/// What to do with a request, decided before it is handled.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not a cross-origin request (no `Origin`), or one from a refused origin that is not a
    /// preflight: handle it and add nothing.
    Plain,
    /// From an allowed origin: handle it, then add these headers; credentials allowed when
    /// the origin is listed by name.
    Allowed(HeaderValue, Credentials),
    /// A preflight from an allowed origin: answer 204 with [`CorsPolicy::preflight_headers`].
    Preflight(HeaderValue, Credentials),
    /// A preflight from an origin that is not allowed: answer 403.
    Refused,
}

impl CorsPolicy {
    /// Validates origins such as `http://localhost:3000`; `*` allows any origin.
    pub fn parse(items: &[String]) -> Result<Self, String> {
        let mut policy = CorsPolicy::default();
        for item in items {
            if item == "*" {
                policy.any = true;
                continue;
            }
            let url =
                url::Url::parse(item).map_err(|_| format!("`{item}` is not an origin URL"))?;
            let origin = url.origin().ascii_serialization();
            if !matches!(url.scheme(), "http" | "https")
                || origin.trim_end_matches('/') != item.trim_end_matches('/')
            {
                return Err(format!(
                    "`{item}` is not an origin (scheme://host[:port], no path)"
                ));
            }
            policy.origins.push(origin);
        }
        Ok(policy)
    }

    /// Decides how to treat a request.
    pub fn decide(&self, method: &Method, headers: &HeaderMap) -> Verdict {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Verdict::Plain;
        };
        let listed = origin
            .to_str()
            .is_ok_and(|o| self.origins.iter().any(|a| a == o));
        let allowed = listed || self.any;
        let credentials = if listed {
            Credentials::Allowed
        } else {
            Credentials::Withheld
        };
        let preflight = method == Method::OPTIONS
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        match (preflight, allowed) {
            (true, true) => Verdict::Preflight(origin.clone(), credentials),
            (true, false) => Verdict::Refused,
            (false, true) => Verdict::Allowed(origin.clone(), credentials),
            (false, false) => Verdict::Plain,
        }
    }

    /// Headers of a response to an allowed origin's actual request.
    pub fn response_headers(
        origin: HeaderValue,
        credentials: Credentials,
        headers: &mut HeaderMap,
    ) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        Self::credentials(credentials, headers);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
        Self::vary(headers);
    }

    /// Adds `Access-Control-Allow-Credentials: true` for a listed origin.
    fn credentials(credentials: Credentials, headers: &mut HeaderMap) {
        if credentials == Credentials::Allowed {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    /// Adds `Vary: Origin` unless the response already varies by it (or by everything).
    pub fn vary(headers: &mut HeaderMap) {
        let already = headers.get_all(header::VARY).any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .map(str::trim)
                    .any(|t| t == "*" || t.eq_ignore_ascii_case("origin"))
            })
        });
        if !already {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }

    /// The status and headers of a preflight answer. Requested headers outside the allowed set
    /// are left out, so the browser refuses the request that needs them.
    pub fn preflight_headers(
        origin: HeaderValue,
        credentials: Credentials,
        request: &HeaderMap,
    ) -> (StatusCode, HeaderMap) {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        Self::credentials(credentials, &mut headers);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        let requested: Vec<String> = request
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| ALLOWED_HEADERS.contains(&h.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        if let Ok(v) = HeaderValue::from_str(&requested.join(", ")) {
            if !requested.is_empty() {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        (StatusCode::NO_CONTENT, headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CorsPolicy {
        CorsPolicy::parse(&["http://localhost:3000".to_owned()]).unwrap_or_default()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        }
        h
    }

    #[test]
    fn origins_must_be_bare_origins() {
        assert!(CorsPolicy::parse(&["http://localhost:3000/app".to_owned()]).is_err());
        assert!(CorsPolicy::parse(&["localhost:3000".to_owned()]).is_err());
        assert!(CorsPolicy::parse(&["https://app.example.com".to_owned()]).is_ok());
    }

    #[test]
    fn preflights_are_answered_or_refused_by_origin() {
        let good = headers(&[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "Content-Type, X-Evil"),
        ]);
        let Verdict::Preflight(origin, credentials) = policy().decide(&Method::OPTIONS, &good)
        else {
            panic!("expected a preflight answer");
        };
        let (status, h) = CorsPolicy::preflight_headers(origin, credentials, &good);
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            h.get(header::ACCESS_CONTROL_ALLOW_HEADERS)
                .and_then(|v| v.to_str().ok()),
            Some("content-type")
        );
        let bad = headers(&[
            ("origin", "http://evil.test"),
            ("access-control-request-method", "POST"),
        ]);
        assert_eq!(policy().decide(&Method::OPTIONS, &bad), Verdict::Refused);
    }

    #[test]
    fn actual_requests_get_headers_only_for_allowed_origins() {
        let p = policy();
        assert!(matches!(
            p.decide(
                &Method::GET,
                &headers(&[("origin", "http://localhost:3000")])
            ),
            Verdict::Allowed(_, Credentials::Allowed)
        ));
        assert_eq!(
            p.decide(&Method::GET, &headers(&[("origin", "http://evil.test")])),
            Verdict::Plain
        );
        assert_eq!(p.decide(&Method::GET, &HeaderMap::new()), Verdict::Plain);
    }

    #[test]
    fn credentials_only_for_origins_listed_by_name() {
        let both = CorsPolicy::parse(&["*".to_owned(), "http://localhost:3000".to_owned()])
            .unwrap_or_default();
        let any = CorsPolicy::parse(&["*".to_owned()]).unwrap_or_default();
        let listed = headers(&[("origin", "http://localhost:3000")]);
        let other = headers(&[("origin", "https://elsewhere.test")]);
        assert!(matches!(
            both.decide(&Method::GET, &listed),
            Verdict::Allowed(_, Credentials::Allowed)
        ));
        assert!(matches!(
            both.decide(&Method::GET, &other),
            Verdict::Allowed(_, Credentials::Withheld)
        ));
        assert!(matches!(
            any.decide(&Method::GET, &listed),
            Verdict::Allowed(_, Credentials::Withheld)
        ));
        let mut h = HeaderMap::new();
        CorsPolicy::response_headers(HeaderValue::from_static("x"), Credentials::Withheld, &mut h);
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        CorsPolicy::response_headers(HeaderValue::from_static("x"), Credentials::Allowed, &mut h);
        assert_eq!(
            h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
    }

    #[test]
    fn the_session_header_may_be_sent() {
        let req = headers(&[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,x-tessera-session",
            ),
        ]);
        let (_, h) = CorsPolicy::preflight_headers(
            HeaderValue::from_static("x"),
            Credentials::Allowed,
            &req,
        );
        assert_eq!(
            h.get(header::ACCESS_CONTROL_ALLOW_HEADERS)
                .and_then(|v| v.to_str().ok()),
            Some("content-type, x-tessera-session")
        );
        assert_eq!(
            h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
    }

    #[test]
    fn vary_origin_is_added_once() {
        let mut h = headers(&[("vary", "Accept-Encoding")]);
        CorsPolicy::vary(&mut h);
        CorsPolicy::vary(&mut h);
        let values: Vec<&str> = h
            .get_all(header::VARY)
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(values, vec!["Accept-Encoding", "Origin"]);
    }
}
