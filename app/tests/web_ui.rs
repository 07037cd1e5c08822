//! The web app's static server (`tessera_app::web_ui`) over real HTTP: a fixture bundle shaped
//! like `just ui-build`'s output is written to a temporary directory and served on port 0.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests"
)]

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use tessera_app::config::Env;
use tessera_app::web_ui::{self, UiServer, UiSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const INDEX: &str = r#"<!doctype html>
<html><head>
<meta name="tessera-api-base" content="%TESSERA_API_BASE%">
<link rel="stylesheet" href="/assets/app-91ab.css">
<script type="module" src="/assets/boot-77aa.js"></script>
</head><body></body></html>"#;

const JS: &str = "/assets/tessera-3f2a9c1b.js";
const WASM: &str = "/assets/tessera-3f2a9c1b_bg.wasm";
const API: &str = "https://api.example.com";

/// A temporary directory holding `dist/` (the bundle) and, next to it, a file no request may
/// reach. Removed on drop.
struct Fixture {
    root: PathBuf,
    dist: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!("tessera-web-ui-{}", uuid::Uuid::new_v4()));
        let dist = root.join("dist");
        std::fs::create_dir_all(dist.join("assets")).unwrap();
        std::fs::write(root.join("secret.txt"), "outside the bundle").unwrap();
        let write = |rel: &str, body: &[u8]| std::fs::write(dist.join(rel), body).unwrap();
        write("index.html", INDEX.as_bytes());
        // Stale precompressed copies of index.html still hold the placeholder.
        write("index.html.gz", b"gz of the placeholder");
        write("assets/tessera-3f2a9c1b.js", b"identity js");
        write("assets/tessera-3f2a9c1b.js.gz", b"gzip js");
        write("assets/tessera-3f2a9c1b.js.br", b"brotli js");
        write("assets/tessera-3f2a9c1b_bg.wasm", b"\0asm identity");
        write("assets/tessera-3f2a9c1b_bg.wasm.gz", b"gzip wasm");
        write("assets/app-91ab.css", b"body{}");
        write("assets/app-91ab.css.gz", b"gzip css");
        write("assets/boot-77aa.js", b"import './tessera-3f2a9c1b.js';");
        write("assets/logo-1a2b.svg", b"<svg/>");
        write("assets/icon-3c4d.png", b"\x89PNG");
        write("favicon.ico", b"ico");
        write("manifest.webmanifest", b"{}");
        write(".hidden", b"not served");
        Self { root, dist }
    }

    fn settings(&self, pairs: &[(&str, &str)]) -> UiSettings {
        let mut env = vec![
            ("UI_DIR".to_owned(), self.dist.display().to_string()),
            ("API_GATEWAY_URL".to_owned(), API.to_owned()),
        ];
        env.extend(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        UiSettings::from_env(&Env::from_pairs(env)).unwrap()
    }

    async fn serve(&self) -> UiServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        web_ui::start(&self.settings(&[]), Some(listener))
            .await
            .unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn client() -> reqwest::Client {
    // No automatic decompression (reqwest is built without it): bodies arrive as sent.
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(addr: SocketAddr, path: &str, accept_encoding: Option<&str>) -> reqwest::Response {
    let mut req = client().get(format!("http://{addr}{path}"));
    if let Some(ae) = accept_encoding {
        req = req.header("accept-encoding", ae);
    }
    req.send().await.unwrap()
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

fn assert_security_headers(res: &reqwest::Response) {
    let path = res.url().path().to_owned();
    assert_eq!(
        header(res, "content-security-policy"),
        Some(
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self' data: https:; font-src 'self'; \
             connect-src 'self' https://api.example.com; manifest-src 'self'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'; object-src 'none'"
        ),
        "{path}"
    );
    assert_eq!(
        header(res, "x-content-type-options"),
        Some("nosniff"),
        "{path}"
    );
    assert_eq!(
        header(res, "referrer-policy"),
        Some("no-referrer"),
        "{path}"
    );
    assert_eq!(header(res, "x-frame-options"), Some("DENY"), "{path}");
    assert_eq!(
        header(res, "cross-origin-opener-policy"),
        Some("same-origin"),
        "{path}"
    );
}

/// A request written byte for byte (HTTP clients resolve dot segments themselves); the status.
async fn raw_status(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[tokio::test]
async fn index_html_carries_the_api_base_and_answers_client_routes() {
    let fixture = Fixture::new();
    let ui = fixture.serve().await;
    for path in [
        "/",
        "/index.html",
        "/tasks/abc",
        "/reset-password?token=x",
        "/login",
    ] {
        let res = get(ui.addr, path, Some("gzip, br")).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_security_headers(&res);
        assert_eq!(header(&res, "cache-control"), Some("no-cache"), "{path}");
        assert_eq!(
            header(&res, "content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        // The stale index.html.gz is never sent: it still holds the placeholder.
        assert_eq!(header(&res, "content-encoding"), None, "{path}");
        let page = res.text().await.unwrap();
        assert!(
            page.contains(r#"<meta name="tessera-api-base" content="https://api.example.com">"#),
            "{path}: {page}"
        );
        assert!(!page.contains("%TESSERA_API_BASE%"));
    }
    ui.shutdown().await;
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_precompressed_when_accepted() {
    let fixture = Fixture::new();
    let ui = fixture.serve().await;
    let cases: &[(&str, Option<&str>, Option<&str>, &str)] = &[
        (JS, None, None, "identity js"),
        (JS, Some("gzip, deflate, br"), Some("br"), "brotli js"),
        (JS, Some("gzip"), Some("gzip"), "gzip js"),
        (JS, Some("br;q=0, gzip;q=0.5"), Some("gzip"), "gzip js"),
        (JS, Some("br;q=0, gzip;q=0"), None, "identity js"),
        (JS, Some("*"), Some("br"), "brotli js"),
        (JS, Some("identity"), None, "identity js"),
        // No .br sibling: gzip, else identity.
        (WASM, Some("br, gzip"), Some("gzip"), "gzip wasm"),
        (WASM, Some("br"), None, "\0asm identity"),
    ];
    for (path, accept, encoding, body) in cases {
        let res = get(ui.addr, path, *accept).await;
        assert_eq!(res.status(), 200, "{path} {accept:?}");
        assert_security_headers(&res);
        assert_eq!(
            header(&res, "cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(header(&res, "vary"), Some("Accept-Encoding"), "{path}");
        assert_eq!(
            header(&res, "content-encoding"),
            *encoding,
            "{path} {accept:?}"
        );
        assert_eq!(
            res.bytes().await.unwrap(),
            body.as_bytes(),
            "{path} {accept:?}"
        );
    }
    ui.shutdown().await;
}

#[tokio::test]
async fn content_types_follow_the_extension() {
    let fixture = Fixture::new();
    let ui = fixture.serve().await;
    for (path, content_type, cache) in [
        (
            WASM,
            "application/wasm",
            "public, max-age=31536000, immutable",
        ),
        (
            JS,
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        (
            "/assets/app-91ab.css",
            "text/css; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        (
            "/assets/logo-1a2b.svg",
            "image/svg+xml",
            "public, max-age=31536000, immutable",
        ),
        (
            "/assets/icon-3c4d.png",
            "image/png",
            "public, max-age=31536000, immutable",
        ),
        ("/favicon.ico", "image/x-icon", "no-cache"),
        (
            "/manifest.webmanifest",
            "application/manifest+json",
            "no-cache",
        ),
    ] {
        let res = get(ui.addr, path, None).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(header(&res, "content-type"), Some(content_type), "{path}");
        assert_eq!(header(&res, "cache-control"), Some(cache), "{path}");
        // Files without compressed siblings do not vary.
        if path.ends_with(".svg") {
            assert_eq!(header(&res, "vary"), None);
        }
    }
    ui.shutdown().await;
}

#[tokio::test]
async fn missing_files_are_404_never_the_page() {
    let fixture = Fixture::new();
    let ui = fixture.serve().await;
    for path in [
        "/assets/missing-0000.js",
        "/assets/new-route",
        "/assets",
        "/missing.js",
        "/robots.txt",
        "/.hidden",
        "/assets/tessera-3f2a9c1b.js.gz",
    ] {
        let res = get(ui.addr, path, None).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_security_headers(&res);
        assert_ne!(
            header(&res, "content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
    }
    ui.shutdown().await;
}

#[tokio::test]
async fn paths_cannot_leave_the_bundle() {
    let fixture = Fixture::new();
    let ui = fixture.serve().await;
    for target in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/assets/..%5c..%5csecret.txt",
        "/assets\\..\\..\\secret.txt",
        "/./index.html",
        "/assets/./tessera-3f2a9c1b.js",
    ] {
        let (status, answer) = raw_status(ui.addr, target).await;
        assert!(
            status == 404 || status == 400,
            "{target}: {status}\n{answer}"
        );
        assert!(!answer.contains("outside the bundle"), "{target}");
    }
    ui.shutdown().await;
}

#[tokio::test]
async fn only_get_and_head_are_answered() {
    let fixture = Fixture::new();
    let ui = fixture.serve().await;
    let base = format!("http://{}", ui.addr);
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let res = client()
            .request(method.clone(), format!("{base}/tasks/abc"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method}");
        assert_eq!(header(&res, "allow"), Some("GET, HEAD"));
        assert_security_headers(&res);
    }
    let res = client().head(format!("{base}{JS}")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-length"), Some("11"));
    assert_eq!(res.bytes().await.unwrap().len(), 0);
    let res = client().get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_security_headers(&res);
    ui.shutdown().await;
}

#[tokio::test]
async fn start_fails_fast_naming_the_variable() {
    let fixture = Fixture::new();
    std::fs::remove_file(fixture.dist.join("index.html")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = web_ui::start(&fixture.settings(&[]), Some(listener))
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(
        err.contains("UI_DIR") && err.contains("index.html"),
        "{err}"
    );

    for bad in [
        "ftp://api.example.com",
        "https://api.example.com/v1",
        "not a url",
    ] {
        let env = Env::from_pairs([("API_GATEWAY_URL", bad)]);
        let err = UiSettings::from_env(&env)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("API_GATEWAY_URL"), "{bad}: {err}");
    }
    let env = Env::from_pairs([("UI_PORT", "three thousand")]);
    assert!(UiSettings::from_env(&env).is_err_and(|e| e.to_string().contains("UI_PORT")));
}

#[tokio::test]
async fn the_defaults_are_the_dev_setup() {
    let settings = UiSettings::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
    assert_eq!(settings.port, 3000);
    assert_eq!(settings.dir, PathBuf::from("ui/dist"));
    assert!(!settings.dir_set);
    assert_eq!(settings.api_origin, "http://localhost:4000");
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let fixture = Fixture::new();
    let ui = fixture.serve().await;
    let addr = ui.addr;
    let res = get(addr, "/", None).await;
    assert_eq!(res.status(), 200);
    ui.shutdown().await;
    assert!(
        client()
            .get(format!("http://{addr}/"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_err(),
        "the listener still answers after shutdown"
    );
}
