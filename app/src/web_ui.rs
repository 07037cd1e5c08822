//! The `ui` module: serves the web app's release bundle (the dist dir `just ui-build` writes) on
//! its own listener, `UI_PORT` (3000).
//!
//! The bundle is read once at start: `index.html` (with `%TESSERA_API_BASE%` replaced by the
//! origin of `API_GATEWAY_URL`) and every file below the dir, each with its precompressed
//! `.br`/`.gz` siblings. Requests are answered from memory, so a path can only ever name a file
//! that was found under the dir at start (no path reaches the file system), and a rebuilt
//! bundle is served after a restart.
//!
//! - `/assets/*` carry a content hash in their names: `Cache-Control: public,
//!   max-age=31536000, immutable`. Everything else (`index.html`, a favicon) `no-cache`.
//! - The `.br` or `.gz` sibling is sent when `Accept-Encoding` allows it (`Content-Encoding`,
//!   `Vary: Accept-Encoding`). `index.html` is served as is: its precompressed siblings still
//!   hold the placeholder.
//! - A `GET` of a path outside `/assets` whose last segment has no extension is a client-side
//!   route (`/tasks/abc`, `/reset-password?token=...`): `index.html`. A missing file (a
//!   `/assets/x.js`, a `/favicon.ico`) is 404, so a stale script is never answered with HTML.
//! - Only `GET` and `HEAD` (405 otherwise); dot segments, backslashes and encoded separators
//!   are refused (404) before any lookup.
//! - Every answer carries a strict Content-Security-Policy (scripts and styles from this origin
//!   only, `'wasm-unsafe-eval'` for WebAssembly, `connect-src` this origin and the API's),
//!   `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (the reset page carries
//!   its token in the URL), `X-Frame-Options: DENY` and `Cross-Origin-Opener-Policy:
//!   same-origin`.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;

use crate::config::{ConfigError, Env};

/// Where the bundle is by default: `just ui-build`'s output, relative to the working directory
/// (`just dev` runs from the repository root). The Docker image sets
/// `/usr/local/share/tessera/ui`.
pub const DEFAULT_UI_DIR: &str = "ui/dist";
/// The web app's port by default (DESIGN.md "Process interface").
pub const DEFAULT_UI_PORT: u16 = crate::services::UI.port;
/// Where the browser reaches the API by default: the gateway of `just dev`.
pub const DEFAULT_API_GATEWAY_URL: &str = "http://localhost:4000";
/// The placeholder in `index.html` that becomes the API's origin.
pub const API_BASE_PLACEHOLDER: &str = "%TESSERA_API_BASE%";

/// `Cache-Control` of the content-hashed files under `/assets`.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything else: always revalidated, so a new release is seen at once.
const NO_CACHE: &str = "no-cache";

/// The web app listener's settings.
#[derive(Debug, Clone)]
pub struct UiSettings {
    /// `HOST`, shared with the API listener.
    pub host: String,
    /// `UI_PORT` (3000).
    pub port: u16,
    /// `UI_DIR` (`ui/dist`): the bundle.
    pub dir: PathBuf,
    /// Whether `UI_DIR` was set (rather than defaulted).
    pub dir_set: bool,
    /// The origin of `API_GATEWAY_URL` (`http://localhost:4000`), without a trailing slash.
    pub api_origin: String,
    /// `HTTP_WORKERS`, capped at two: answers come from memory.
    pub workers: usize,
    /// `SHUTDOWN_TIMEOUT` (10 s).
    pub shutdown_timeout: Duration,
}

impl UiSettings {
    /// Reads `HOST`, `UI_PORT`, `UI_DIR`, `API_GATEWAY_URL`, `HTTP_WORKERS` and
    /// `SHUTDOWN_TIMEOUT`, failing fast on a bad value with the variable's name.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let raw_api = env
            .get("API_GATEWAY_URL")
            .unwrap_or(DEFAULT_API_GATEWAY_URL);
        let api_origin = api_origin(raw_api).map_err(|reason| ConfigError::Invalid {
            name: "API_GATEWAY_URL".to_owned(),
            reason,
        })?;
        let workers = env.parse_or(
            "HTTP_WORKERS",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )?;
        let web_app = env.get("WEB_APP_URL").unwrap_or("http://localhost:3000");
        if let Some(problem) = cross_site(web_app, &api_origin) {
            tracing::warn!("WEB_APP_URL and API_GATEWAY_URL: {problem}");
        }
        Ok(Self {
            host: env.get("HOST").unwrap_or("0.0.0.0").to_owned(),
            port: env.parse_or("UI_PORT", DEFAULT_UI_PORT)?,
            dir: PathBuf::from(env.get("UI_DIR").unwrap_or(DEFAULT_UI_DIR)),
            dir_set: env.get("UI_DIR").is_some(),
            api_origin,
            workers: workers.clamp(1, 2),
            shutdown_timeout: env.duration_or("SHUTDOWN_TIMEOUT", Duration::from_secs(10))?,
        })
    }

    /// Whether the bundle dir has an `index.html`.
    pub fn bundle_present(&self) -> bool {
        self.dir.join("index.html").is_file()
    }
}

/// The origin (`scheme://host[:port]`) of an http(s) URL, refusing anything that is more than an
/// origin (a path other than `/`, a query, a fragment, credentials): the web app appends the
/// API's paths to it, and the Content-Security-Policy allows exactly it.
pub fn api_origin(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{raw}` must be an http(s) URL with a host"));
    }
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(format!(
            "`{raw}` must be an origin (scheme://host[:port]), without path, query or credentials"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// Why the browser would withhold the session cookie from the API, when `web_app` (the page's
/// URL, `WEB_APP_URL`) and `api` (`API_GATEWAY_URL`) are on different sites. `SameSite=Strict`
/// keeps a cookie off cross-site requests, and `localhost` and `127.0.0.1` are different sites
/// (checked in Chromium: a page on `localhost` calling an API on `127.0.0.1` gets 401 on every
/// cookie refresh). Only host names that are addresses or single labels are compared exactly;
/// for real domains the registrable domain decides, which needs the public suffix list, so
/// those pass unchecked.
pub fn cross_site(web_app: &str, api: &str) -> Option<String> {
    let host = |raw: &str| {
        url::Url::parse(raw)
            .ok()?
            .host_str()
            .map(str::to_ascii_lowercase)
    };
    let (page, api_host) = (host(web_app)?, host(api)?);
    let plain =
        |h: &str| !h.contains('.') || h.parse::<std::net::IpAddr>().is_ok() || h.starts_with('[');
    (page != api_host && (plain(&page) || plain(&api_host))).then(|| {
        format!(
            "the web app ({page}) and the API ({api_host}) are different sites: browsers will not \
             send the SameSite=Strict session cookie to the API; use one host name for both"
        )
    })
}

/// Escapes text for an HTML attribute value (and text content).
pub fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The Content-Security-Policy of every answer, allowing the API's origin to be called.
pub fn content_security_policy(api_origin: &str) -> String {
    // 'wasm-unsafe-eval' lets the page compile WebAssembly (and nothing else eval-like);
    // img-src takes https: for avatars, which are URLs on any host (API.md, profiles).
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data: https:; font-src 'self'; connect-src 'self' {api_origin}; \
         manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
         object-src 'none'"
    )
}

/// One file of the bundle, in every encoding it came in.
struct Asset {
    identity: Bytes,
    gzip: Option<Bytes>,
    brotli: Option<Bytes>,
    content_type: &'static str,
    cache_control: &'static str,
}

/// The bundle as loaded at start.
pub struct Bundle {
    /// URL path (`/assets/app-1a2b.js`) to the file.
    files: HashMap<String, Asset>,
    /// `index.html` with the API base filled in.
    index: Bytes,
}

impl Bundle {
    /// Reads the bundle under `dir`; `index.html` must be there. Fails naming `UI_DIR`.
    pub fn load(dir: &Path, api_origin: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: "UI_DIR".to_owned(),
            reason,
        };
        let index_path = dir.join("index.html");
        let index = std::fs::read_to_string(&index_path).map_err(|e| {
            invalid(format!(
                "{} has no readable index.html ({e}); build the web app with `just ui-build`",
                dir.display()
            ))
        })?;
        if !index.contains(API_BASE_PLACEHOLDER) {
            tracing::warn!(
                dir = %dir.display(),
                "index.html has no {API_BASE_PLACEHOLDER}: the web app keeps its built-in API base"
            );
        }
        let index = index.replace(API_BASE_PLACEHOLDER, &escape_attribute(api_origin));

        let mut found = Vec::new();
        walk(dir, dir, &mut found).map_err(|e| invalid(format!("{}: {e}", dir.display())))?;
        let mut by_path: HashMap<String, Vec<u8>> = HashMap::new();
        for (url_path, file) in found {
            let bytes =
                std::fs::read(&file).map_err(|e| invalid(format!("{}: {e}", file.display())))?;
            by_path.insert(url_path, bytes);
        }
        let mut files = HashMap::new();
        for (url_path, bytes) in &by_path {
            if url_path.ends_with(".gz") || url_path.ends_with(".br") || url_path == "/index.html" {
                continue;
            }
            let sibling = |ext: &str| {
                by_path
                    .get(&format!("{url_path}.{ext}"))
                    .map(|b| Bytes::from(b.clone()))
            };
            let immutable = url_path.starts_with("/assets/");
            files.insert(
                url_path.clone(),
                Asset {
                    identity: Bytes::from(bytes.clone()),
                    gzip: sibling("gz"),
                    brotli: sibling("br"),
                    content_type: content_type(url_path),
                    cache_control: if immutable { IMMUTABLE } else { NO_CACHE },
                },
            );
        }
        tracing::info!(dir = %dir.display(), files = files.len() + 1, "web app bundle loaded");
        Ok(Self {
            files,
            index: Bytes::from(index),
        })
    }
}

/// Collects the regular files below `dir` as (URL path, file). Hidden entries and symbolic
/// links are skipped: the bundle is what the build wrote, nothing it points elsewhere.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let url: Vec<String> = rel
                .components()
                .filter_map(|c| c.as_os_str().to_str().map(str::to_owned))
                .collect();
            out.push((format!("/{}", url.join("/")), path));
        }
    }
    Ok(())
}

/// The `Content-Type` of a file by its extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "webmanifest" => "application/manifest+json",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        _ => "application/octet-stream",
    }
}

/// Which encodings `Accept-Encoding` allows (RFC 9110 section 12.5.3): `(brotli, gzip)`.
fn accepted(req: &HttpRequest) -> (bool, bool) {
    let mut br = None;
    let mut gzip = None;
    let mut any = None;
    for value in req.headers().get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            // `q=0` means "not acceptable"; anything else (or no q) is acceptable.
            let ok = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .all(|q| q.trim().parse::<f32>().map(|q| q > 0.0).unwrap_or(false));
            match coding.as_str() {
                "br" => br = Some(ok),
                "gzip" | "x-gzip" => gzip = Some(ok),
                "*" => any = Some(ok),
                _ => {}
            }
        }
    }
    let any = any.unwrap_or(false);
    (br.unwrap_or(any), gzip.unwrap_or(any))
}

/// Whether a path must not be looked up at all: dot segments, backslashes, NUL, or
/// percent-encoded dots and separators (which some layer might decode into one).
fn suspicious(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    path.contains('\\')
        || path.contains('\0')
        || ["%2e", "%2f", "%5c", "%00"]
            .iter()
            .any(|e| lower.contains(e))
        || path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

/// A client-side route: not under `/assets`, and no extension in the last segment.
fn is_client_route(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    let under_assets = path == "/assets" || path.starts_with("/assets/");
    !under_assets && !last.contains('.')
}

async fn serve(req: HttpRequest, bundle: web::Data<Arc<Bundle>>) -> HttpResponse {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, HEAD"))
            .content_type("text/plain; charset=utf-8")
            .body("method not allowed");
    }
    let path = req.path();
    if path == "/health" {
        return health();
    }
    if suspicious(path) {
        return not_found();
    }
    if path == "/"
        || path == "/index.html"
        || (is_client_route(path) && !bundle.files.contains_key(path))
    {
        return HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, NO_CACHE))
            .content_type("text/html; charset=utf-8")
            .body(bundle.index.clone());
    }
    let Some(asset) = bundle.files.get(path) else {
        return not_found();
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, asset.cache_control))
        .insert_header((header::CONTENT_TYPE, asset.content_type));
    if asset.brotli.is_some() || asset.gzip.is_some() {
        res.insert_header((header::VARY, "Accept-Encoding"));
    }
    let (br, gzip) = accepted(&req);
    let (encoding, body) = match (&asset.brotli, &asset.gzip) {
        (Some(b), _) if br => (Some("br"), b.clone()),
        (_, Some(g)) if gzip => (Some("gzip"), g.clone()),
        _ => (None, asset.identity.clone()),
    };
    if let Some(encoding) = encoding {
        res.insert_header((header::CONTENT_ENCODING, encoding));
    }
    res.body(body)
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .insert_header((header::CACHE_CONTROL, NO_CACHE))
        .content_type("text/plain; charset=utf-8")
        .body("not found")
}

/// The container's health check: the listener answers (the bundle loaded at start).
fn health() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, NO_CACHE))
        .json(serde_json::json!({"status": "ok", "service": "ui"}))
}

/// The running web app listener; [`UiServer::shutdown`] stops it gracefully.
pub struct UiServer {
    /// The address it is bound to (port 0 resolved).
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl UiServer {
    /// Stops accepting and lets in-flight requests finish (bounded by `SHUTDOWN_TIMEOUT`).
    pub async fn shutdown(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
        tracing::info!("web app listener stopped");
    }

    /// Whether the server stopped on its own (it should not).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Loads the bundle and starts serving it. `listener` lets tests bind port 0 first; otherwise
/// `HOST`/`UI_PORT` decide.
pub async fn start(
    settings: &UiSettings,
    listener: Option<TcpListener>,
) -> anyhow::Result<UiServer> {
    let bundle = web::Data::new(Arc::new(Bundle::load(&settings.dir, &settings.api_origin)?));
    let csp = HeaderValue::from_str(&content_security_policy(&settings.api_origin))?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(bundle.clone())
            .wrap(
                DefaultHeaders::new()
                    .add((header::CONTENT_SECURITY_POLICY, csp.clone()))
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::REFERRER_POLICY, "no-referrer"))
                    .add((header::X_FRAME_OPTIONS, "DENY"))
                    .add(("cross-origin-opener-policy", "same-origin")),
            )
            .default_service(web::to(serve))
    })
    .workers(settings.workers)
    .shutdown_timeout(settings.shutdown_timeout.as_secs())
    // The shell owns signal handling and stops this listener together with the API's.
    .disable_signals();
    let server = match listener {
        Some(l) => server.listen(l)?,
        None => server.bind((settings.host.as_str(), settings.port))?,
    };
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no web app listener address"))?;
    let server = server.run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    tracing::info!(%addr, api = %settings.api_origin, "web app listening");
    Ok(UiServer { addr, handle, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_base_must_be_an_http_origin() {
        assert_eq!(
            api_origin("http://localhost:4000").as_deref(),
            Ok("http://localhost:4000")
        );
        assert_eq!(
            api_origin("https://api.example.com/").as_deref(),
            Ok("https://api.example.com")
        );
        for bad in [
            "localhost:4000",
            "ftp://x.example",
            "https://api.example.com/v1",
            "https://api.example.com/?a=1",
            "https://u:p@api.example.com",
            "javascript:alert(1)",
        ] {
            assert!(api_origin(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_web_app_and_api_on_different_sites_are_named() {
        assert_eq!(
            cross_site("http://localhost:3000", "http://localhost:4000"),
            None
        );
        assert_eq!(
            cross_site("http://127.0.0.1:3000", "http://127.0.0.1:4000"),
            None
        );
        assert!(cross_site("http://localhost:3000", "http://127.0.0.1:4000").is_some());
        assert!(cross_site("http://127.0.0.1:3000", "http://localhost:4000").is_some());
        // Subdomains of one registrable domain are one site: not flagged.
        assert_eq!(
            cross_site("https://app.example.com", "https://api.example.com"),
            None
        );
    }

    #[test]
    fn attribute_values_are_escaped() {
        assert_eq!(
            escape_attribute(r#"a"b'<c>&"#),
            "a&quot;b&#39;&lt;c&gt;&amp;"
        );
    }

    #[test]
    fn client_routes_are_paths_without_an_extension_outside_assets() {
        assert!(is_client_route("/"));
        assert!(is_client_route("/tasks/abc"));
        assert!(is_client_route("/reset-password"));
        assert!(!is_client_route("/assets/app.js"));
        assert!(!is_client_route("/assets/new"));
        assert!(!is_client_route("/assets"));
        assert!(!is_client_route("/favicon.ico"));
    }

    #[test]
    fn traversal_spellings_are_suspicious() {
        for bad in [
            "/assets/../index.html",
            "/./x",
            "/assets/%2e%2e/x",
            "/assets/%2E%2E%2Fx",
            "/assets\\..\\x",
            "/a%5cb",
        ] {
            assert!(suspicious(bad), "{bad}");
        }
        assert!(!suspicious("/assets/app-1a2b.js"));
        assert!(!suspicious("/tasks/abc"));
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("/assets/a_bg.wasm"), "application/wasm");
        assert_eq!(
            content_type("/assets/a.JS"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("/manifest.webmanifest"),
            "application/manifest+json"
        );
        assert_eq!(content_type("/assets/x"), "application/octet-stream");
    }
}
