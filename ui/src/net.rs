//! The browser underneath: `fetch`, timers, the run-time API base and a few DOM helpers.
//!
//! Everything here is a thin, typed wrapper over `web-sys`; what a request means lives in
//! [`crate::api`].

use js_sys::{Function, Promise};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestCredentials, RequestInit, Response};

/// A response as the API layer needs it: status, the headers it reads, and the body text.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: u16,
    /// `X-Request-Id`, which every API response carries.
    pub request_id: Option<String>,
    /// `Retry-After` in seconds, on 429 and 503.
    pub retry_after: Option<u64>,
    /// `Content-Type`.
    pub content_type: String,
    /// The body as text (JSON or problem+json).
    pub body: String,
}

/// The request could not reach the server (offline, DNS, refused, CORS): `fetch` rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreachable;

/// One HTTP request.
pub struct Outgoing<'a> {
    /// `GET`, `POST`, `PATCH`, `DELETE`.
    pub method: &'a str,
    /// The absolute URL.
    pub url: String,
    /// A JSON body.
    pub body: Option<String>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Send cookies (only the session routes need them; everything else says `omit`).
    pub with_cookies: bool,
}

/// Sends a request with `fetch` and reads the whole body.
pub async fn send(out: Outgoing<'_>) -> Result<RawResponse, Unreachable> {
    let window = web_sys::window().ok_or(Unreachable)?;
    let init = RequestInit::new();
    init.set_method(out.method);
    init.set_credentials(if out.with_cookies {
        RequestCredentials::Include
    } else {
        RequestCredentials::Omit
    });
    let headers = Headers::new().map_err(|_| Unreachable)?;
    for (name, value) in &out.headers {
        headers.set(name, value).map_err(|_| Unreachable)?;
    }
    if let Some(body) = &out.body {
        headers
            .set("content-type", "application/json")
            .map_err(|_| Unreachable)?;
        init.set_body(&JsValue::from_str(body));
    }
    init.set_headers(&headers);
    let request = Request::new_with_str_and_init(&out.url, &init).map_err(|_| Unreachable)?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| Unreachable)?
        .dyn_into()
        .map_err(|_| Unreachable)?;
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let body = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .map_err(|_| Unreachable)?
            .as_string()
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    Ok(RawResponse {
        status: response.status(),
        request_id: header("x-request-id"),
        retry_after: header("retry-after").and_then(|v| v.trim().parse().ok()),
        content_type: header("content-type").unwrap_or_default(),
        body,
    })
}

/// Waits `ms` milliseconds without blocking the page.
pub async fn sleep(ms: u32) {
    let promise = Promise::new(&mut |resolve: Function, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                &resolve,
                i32::try_from(ms).unwrap_or(i32::MAX),
            );
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Milliseconds since the epoch, from the browser's clock.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The gateway's base URL: the `tessera-api-base` meta tag that the server fills in from
/// `API_GATEWAY_URL` when it serves `index.html`, so one bundle runs against any gateway.
/// Falls back to the page's own origin on port 4000 (the contract's default gateway) when the
/// tag still holds its placeholder, as it does when the bundle is opened from a plain file
/// server.
pub fn api_base() -> String {
    let document = web_sys::window().and_then(|w| w.document());
    let from_meta = document
        .as_ref()
        .and_then(|d| {
            d.query_selector("meta[name=\"tessera-api-base\"]")
                .ok()
                .flatten()
        })
        .and_then(|m| m.get_attribute("content"))
        .filter(|v| v.starts_with("http://") || v.starts_with("https://"));
    if let Some(base) = from_meta {
        return base.trim_end_matches('/').to_owned();
    }
    let location = web_sys::window().map(|w| w.location());
    let host = location
        .as_ref()
        .and_then(|l| l.hostname().ok())
        .unwrap_or_else(|| "localhost".to_owned());
    let protocol = location
        .as_ref()
        .and_then(|l| l.protocol().ok())
        .unwrap_or_else(|| "http:".to_owned());
    format!("{protocol}//{host}:4000")
}

/// Moves keyboard focus to the element with this id, if it is on the page.
pub fn focus(id: &str) {
    let element = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(element) = element {
        let _ = element.focus();
    }
}

/// Percent-encodes a query-string value (everything but RFC 3986's unreserved characters).
/// Plain Rust rather than `encodeURIComponent`, so the query builders are unit-tested natively.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A random UUID (v4) for idempotency keys, from the browser's CSPRNG.
pub fn random_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Local storage, for what may outlive the tab and is not a secret (the theme choice).
pub fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks.request(name, callback)`: the Web Locks API (in `web-sys` only behind
    /// an unstable flag, so bound here directly).
    #[wasm_bindgen(js_namespace = ["navigator", "locks"], js_name = request, catch)]
    fn request_lock(name: &str, callback: &JsValue) -> Result<Promise, JsValue>;
}

/// Runs the future that `work` makes while holding the named Web Lock, so that only one tab of
/// this origin at a time does it. Where the browser has no Web Locks, it runs unlocked.
pub async fn with_lock<F, Fut>(name: &str, work: F) -> Result<JsValue, JsValue>
where
    F: FnOnce() -> Fut + 'static,
    Fut: std::future::Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let slot = std::rc::Rc::new(std::cell::RefCell::new(Some(work)));
    let in_lock = slot.clone();
    let callback = Closure::once_into_js(move |_lock: JsValue| -> Promise {
        match in_lock.borrow_mut().take() {
            Some(work) => wasm_bindgen_futures::future_to_promise(work()),
            None => Promise::resolve(&JsValue::NULL),
        }
    });
    match request_lock(name, &callback) {
        Ok(promise) => JsFuture::from(promise).await,
        Err(_) => {
            let work = slot.borrow_mut().take();
            match work {
                Some(work) => work().await,
                None => Err(JsValue::NULL),
            }
        }
    }
}

/// An event listener that forwards events into a channel, so a Dioxus task (which runs inside
/// the Dioxus runtime, unlike a JS callback) handles them. Removed when dropped.
pub struct Listener {
    target: web_sys::EventTarget,
    event: &'static str,
    closure: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.event, self.closure.as_ref().unchecked_ref());
    }
}

/// Listens to `event` on `target`; the events arrive on the returned receiver.
pub fn events(
    target: &web_sys::EventTarget,
    event: &'static str,
) -> Option<(
    Listener,
    futures_channel::mpsc::UnboundedReceiver<web_sys::Event>,
)> {
    let (tx, rx) = futures_channel::mpsc::unbounded();
    let closure = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
        let _ = tx.unbounded_send(e);
    });
    target
        .add_event_listener_with_callback(event, closure.as_ref().unchecked_ref())
        .ok()?;
    Some((
        Listener {
            target: target.clone(),
            event,
            closure,
        },
        rx,
    ))
}
