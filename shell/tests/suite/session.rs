//! The web app's session cookie through the gateway (ARCHITECTURE.md "Web app sessions"): the
//! `X-Tessera-Session` header reaches auth, `Cookie` goes in and `Set-Cookie` comes back (in the
//! split deployment across the proxy), and CORS lets the listed web app origin, and only a
//! listed one, send credentials.

use serde_json::{Value, json};
use tessera_app::testkit::{assert_problem, random_hex};

use crate::deploy::{Deployment, Kind};

const WEB_APP: &str = "http://localhost:3000";

/// The `tessera_refresh` value a response sets, or `None` when it sets no cookie.
fn set_cookie(res: &reqwest::Response) -> Option<String> {
    let all: Vec<&str> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(all.len() <= 1, "{all:?}");
    let cookie = all.first()?;
    assert!(
        cookie.contains("; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age="),
        "{cookie}"
    );
    let value = cookie
        .strip_prefix("tessera_refresh=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("not the session cookie: {cookie}"));
    Some(value.to_owned())
}

/// A browser-like POST from the web app: `Origin`, the session header, the cookie if any, `{}`
/// unless told otherwise.
async fn from_web_app(
    d: &Deployment,
    path: &str,
    cookie: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut req = d
        .client
        .post(d.url(path))
        .header("origin", WEB_APP)
        .header("x-tessera-session", "cookie")
        .json(&body);
    if let Some(c) = cookie {
        req = req.header("cookie", format!("tessera_refresh={c}"));
    }
    req.send().await.unwrap()
}

pub async fn the_session_cookie_travels_through_the_gateway(kind: Kind) {
    // The web app listed by name, everyone else through `*`.
    let d = Deployment::start(kind, &[("CORS_ORIGINS", &format!("{WEB_APP},*"))]).await;
    let preflight = |origin: &'static str| {
        d.client
            .request(reqwest::Method::OPTIONS, d.url("/auth/refresh"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-tessera-session",
            )
            .send()
    };
    let res = preflight(WEB_APP).await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["access-control-allow-origin"], WEB_APP);
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    assert_eq!(
        res.headers()["access-control-allow-headers"],
        "content-type, x-tessera-session"
    );
    // Allowed by `*` only: the preflight passes, but never with credentials.
    let res = preflight("https://elsewhere.example").await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    let email = format!("session-{}@example.com", random_hex(4));
    let res = d
        .post(
            "/auth/register",
            None,
            json!({"email": email, "password": "password123"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let credentials = json!({"email": email, "password": "password123"});

    // Login: the JSON contract plus the cookie, readable by the listed origin with credentials.
    let res = from_web_app(&d, "/auth/login", None, credentials.clone()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], WEB_APP);
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let first = set_cookie(&res).expect("login sets the cookie");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["refreshToken"], first.as_str());

    // Without the header: no cookie, and a cookie sent is not read.
    let res = d.post("/auth/login", None, credentials.clone()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(set_cookie(&res), None);
    let res = d
        .client
        .post(d.url("/auth/refresh"))
        .header("cookie", format!("tessera_refresh={first}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(set_cookie(&res), None);
    assert_problem(res, 400).await;

    // Refresh from the cookie: the next token comes back as the cookie.
    let res = from_web_app(&d, "/auth/refresh", Some(&first), json!({})).await;
    assert_eq!(res.status(), 200);
    let second = set_cookie(&res).expect("refresh sets the cookie");
    assert_ne!(second, first);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["refreshToken"], second.as_str());

    // Reuse: the family is revoked and the cookie cleared.
    let res = from_web_app(&d, "/auth/refresh", Some(&first), json!({})).await;
    assert_eq!(set_cookie(&res).as_deref(), Some(""));
    assert_problem(res, 401).await;
    let res = from_web_app(&d, "/auth/refresh", Some(&second), json!({})).await;
    assert_eq!(set_cookie(&res).as_deref(), Some(""));
    assert_problem(res, 401).await;

    // Logout from the cookie ends the session and clears the cookie.
    let res = from_web_app(&d, "/auth/login", None, credentials.clone()).await;
    let third = set_cookie(&res).expect("login sets the cookie");
    let res = from_web_app(&d, "/auth/logout", Some(&third), json!({})).await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    assert_eq!(set_cookie(&res).as_deref(), Some(""));
    let res = from_web_app(&d, "/auth/refresh", Some(&third), json!({})).await;
    assert_problem(res, 401).await;
    d.stop().await;
}
