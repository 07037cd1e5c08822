//! The web app's session cookie: the refresh token in an `HttpOnly` cookie, next to the JSON
//! contract (ARCHITECTURE.md "Web app sessions").
//!
//! A request opts in with `X-Tessera-Session: cookie`. Login and refresh then also set
//! `tessera_refresh`, refresh and logout read the token from it when the body has none (a body
//! token wins), and logout or a refused refresh clears it. Without the header the cookie is
//! neither set nor read: the header is the CSRF guard (a custom header makes every cross-origin
//! request preflighted, and the gateway allows credentials for its listed origins only), with
//! `SameSite=Strict` as the second one.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use tessera_app::error::ApiError;

/// The request header that asks for the cookie session.
pub const SESSION_HEADER: &str = "x-tessera-session";
/// The only value [`SESSION_HEADER`] takes.
pub const SESSION_COOKIE_MODE: &str = "cookie";
/// The cookie holding the refresh token.
pub const COOKIE_NAME: &str = "tessera_refresh";
/// The attributes the cookie is set and cleared with: out of reach of script, https only
/// (browsers treat `http://localhost` as secure), never sent cross-site, and only to `/auth`
/// (refresh and logout are the routes that read it).
const ATTRIBUTES: &str = "HttpOnly; Secure; SameSite=Strict; Path=/auth";

/// How a request carries its refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The JSON contract: the token travels in bodies only; cookies are ignored.
    Json,
    /// `X-Tessera-Session: cookie`: the token also travels in the `tessera_refresh` cookie.
    Cookie,
}

impl Mode {
    /// Reads [`SESSION_HEADER`]: absent is [`Mode::Json`], exactly `cookie` is [`Mode::Cookie`],
    /// anything else a 400 naming the header (the document allows that one value).
    pub fn of(req: &HttpRequest) -> Result<Self, ApiError> {
        let mut values = req.headers().get_all(SESSION_HEADER);
        let Some(first) = values.next() else {
            return Ok(Mode::Json);
        };
        let cookie = values.next().is_none() && first.as_bytes() == SESSION_COOKIE_MODE.as_bytes();
        if cookie {
            Ok(Mode::Cookie)
        } else {
            Err(ApiError::field(
                "X-Tessera-Session",
                "must be `cookie` when sent (once)",
            ))
        }
    }
}

/// The refresh token a request presents: the body's when it has one, else (cookie mode only)
/// the cookie's. `None` when neither holds one.
pub fn presented(req: &HttpRequest, mode: Mode, body: Option<String>) -> Option<String> {
    match (body, mode) {
        (Some(token), _) => Some(token),
        (None, Mode::Cookie) => cookie_token(req),
        (None, Mode::Json) => None,
    }
}

/// The value of the `tessera_refresh` cookie, if the request sent a non-empty one.
fn cookie_token(req: &HttpRequest) -> Option<String> {
    // Browsers send one `Cookie` header; HTTP/2 clients may split it, so read every one.
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` carrying `token` for `max_age` (`REFRESH_TOKEN_EXPIRES_IN`).
pub fn set(token: &str, max_age: Duration) -> Result<HeaderValue, ApiError> {
    // Issued tokens are URL-safe base64, which a cookie value may hold as is; anything else
    // would be a bug, never something to send.
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "a refresh token outside the URL-safe base64 alphabet"
        )));
    }
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={token}; {ATTRIBUTES}; Max-Age={}",
        max_age.as_secs()
    ))
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("session cookie: {e}")))
}

/// `Set-Cookie` that removes the cookie (same name, path and attributes; `Max-Age=0`).
pub fn clear() -> HeaderValue {
    HeaderValue::from_static(
        "tessera_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=0",
    )
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn the_header_selects_the_mode_and_refuses_other_values() {
        let req = TestRequest::default().to_http_request();
        assert_eq!(Mode::of(&req).ok(), Some(Mode::Json));
        let req = TestRequest::default()
            .insert_header((SESSION_HEADER, "cookie"))
            .to_http_request();
        assert_eq!(Mode::of(&req).ok(), Some(Mode::Cookie));
        let req = TestRequest::default()
            .insert_header((SESSION_HEADER, "Cookie"))
            .to_http_request();
        assert!(Mode::of(&req).is_err());
        let req = TestRequest::default()
            .insert_header((SESSION_HEADER, "bearer"))
            .to_http_request();
        assert!(Mode::of(&req).is_err());
    }

    #[test]
    fn the_body_token_wins_and_the_cookie_counts_in_cookie_mode_only() {
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "a=1; tessera_refresh=from-cookie; b=2"))
            .to_http_request();
        assert_eq!(
            presented(&req, Mode::Cookie, Some("from-body".to_owned())).as_deref(),
            Some("from-body")
        );
        assert_eq!(
            presented(&req, Mode::Cookie, None).as_deref(),
            Some("from-cookie")
        );
        assert_eq!(presented(&req, Mode::Json, None), None);
        let empty = TestRequest::default()
            .insert_header((header::COOKIE, "tessera_refresh="))
            .to_http_request();
        assert_eq!(presented(&empty, Mode::Cookie, None), None);
    }

    #[test]
    fn the_cookie_is_set_and_cleared_with_the_same_attributes() {
        let set = set("abc_-9", Duration::from_secs(604_800))
            .map(|v| v.to_str().map(str::to_owned).unwrap_or_default());
        assert_eq!(
            set.ok().as_deref(),
            Some(
                "tessera_refresh=abc_-9; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=604800"
            )
        );
        assert!(super::set("a;b", Duration::from_secs(1)).is_err());
        assert_eq!(
            clear().to_str().ok(),
            Some(&*format!("{COOKIE_NAME}=; {ATTRIBUTES}; Max-Age=0"))
        );
    }
}
