//! The signed-in session: the access token in memory, the refresh token in an HttpOnly cookie
//! the page cannot read (ARCHITECTURE.md, "Web app sessions").
//!
//! - A reload restores the session by one `POST /auth/refresh` that carries the cookie.
//! - Refreshes are single-flight inside a tab (every request that hits a 401 waits for the same
//!   one) and serialised across tabs with a Web Lock: each refresh rotates the token, and two
//!   tabs presenting the same token at once would look like reuse and revoke the family.
//! - Tabs tell each other about sign-in and sign-out over a `BroadcastChannel`, so signing out in
//!   one tab signs out all of them.

use std::cell::RefCell;
use std::rc::Rc;

use dioxus::prelude::*;
use futures_util::future::{LocalBoxFuture, Shared};
use futures_util::{FutureExt, StreamExt};
use tessera_auth::wire::{LoginRequest, RefreshRequest, TokenResponse, TokenUser};
use tessera_contracts::Role;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;

use crate::api::{ApiError, Call, decode};
use crate::net;

/// A signed-in user, as the latest token pair described them.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedIn {
    /// The access token (memory only).
    pub token: String,
    /// Who it is for.
    pub user: TokenUser,
    /// When the access token expires, in browser milliseconds.
    pub expires_at: f64,
}

impl SignedIn {
    /// Whether the user is an administrator.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

/// Where the session stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// The page just loaded and is asking whether the refresh cookie still holds a session.
    Checking,
    /// Nobody is signed in; `notice` says why, when there is something to say.
    SignedOut {
        /// Shown on the login page ("You signed out in another tab.").
        notice: Option<String>,
    },
    /// Signed in.
    SignedIn(SignedIn),
}

/// The session.
pub static AUTH: GlobalSignal<Auth> = Signal::global(|| Auth::Checking);

/// A message the next page shows once (after a password reset, say).
pub static FLASH: GlobalSignal<Option<String>> = Signal::global(|| None);

/// The current access token, if signed in.
pub fn access_token() -> Option<String> {
    match &*AUTH.peek() {
        Auth::SignedIn(s) => Some(s.token.clone()),
        _ => None,
    }
}

/// The signed-in user, if any (reactive).
pub fn user() -> Option<SignedIn> {
    match &*AUTH.read() {
        Auth::SignedIn(s) => Some(s.clone()),
        _ => None,
    }
}

/// Why a refresh gave no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFailed {
    /// The API could not be reached; the session may still be valid.
    Offline,
    /// The API refused the refresh token (expired, revoked, reused, user deleted, no cookie).
    Refused,
}

type Inflight = Shared<LocalBoxFuture<'static, Result<String, RefreshFailed>>>;

thread_local! {
    static INFLIGHT: RefCell<Option<Inflight>> = const { RefCell::new(None) };
    static CHANNEL: RefCell<Option<web_sys::BroadcastChannel>> = const { RefCell::new(None) };
}

const LOCK: &str = "tessera-session-refresh";
const CHANNEL_NAME: &str = "tessera-session";

/// Refreshes the session with the cookie and returns the new access token. Concurrent callers
/// share one refresh.
pub async fn refresh() -> Result<String, RefreshFailed> {
    let shared = INFLIGHT.with(|slot| {
        slot.borrow_mut()
            .get_or_insert_with(|| refresh_locked().boxed_local().shared())
            .clone()
    });
    shared.await
}

async fn refresh_locked() -> Result<String, RefreshFailed> {
    let outcome: Rc<RefCell<Option<Result<TokenResponse, ApiError>>>> = Rc::default();
    let slot = outcome.clone();
    let _ = net::with_lock(LOCK, move || async move {
        let result = Call::post("/auth/refresh")
            .public()
            .session()
            .json(&cookie_mode())
            .raw()
            .await
            .and_then(decode::<TokenResponse>);
        *slot.borrow_mut() = Some(result);
        Ok(JsValue::NULL)
    })
    .await;
    INFLIGHT.with(|slot| slot.borrow_mut().take());
    let result = outcome.borrow_mut().take();
    match result {
        Some(Ok(tokens)) => {
            let token = tokens.access_token.clone();
            establish(tokens);
            Ok(token)
        }
        Some(Err(ApiError::Offline)) => Err(RefreshFailed::Offline),
        Some(Err(ApiError::Problem { problem, .. })) if problem.status >= 500 => {
            Err(RefreshFailed::Offline)
        }
        _ => Err(RefreshFailed::Refused),
    }
}

/// The body of a cookie-mode refresh or logout: no token (the cookie carries it).
fn cookie_mode() -> RefreshRequest {
    RefreshRequest {
        refresh_token: None,
    }
}

/// Stores a fresh token pair's access token and user (the refresh token stays in the cookie).
fn establish(tokens: TokenResponse) {
    let signed_in = SignedIn {
        token: tokens.access_token,
        user: tokens.user,
        expires_at: net::now_ms() + tokens.expires_in as f64 * 1000.0,
    };
    *AUTH.write() = Auth::SignedIn(signed_in);
}

/// On page load: restore the session from the refresh cookie.
pub async fn restore() {
    match refresh().await {
        Ok(_) => {}
        Err(RefreshFailed::Refused) => *AUTH.write() = Auth::SignedOut { notice: None },
        // Offline at load: say so on the login page; a later sign-in attempt retries.
        Err(RefreshFailed::Offline) => {
            *AUTH.write() = Auth::SignedOut {
                notice: Some(ApiError::Offline.message()),
            }
        }
    }
}

/// Signs in with e-mail and password; on success the session is established and the other
/// tabs are told.
pub async fn login(email: String, password: String) -> Result<(), ApiError> {
    let tokens: TokenResponse = Call::post("/auth/login")
        .public()
        .session()
        .json(&LoginRequest { email, password })
        .fetch()
        .await?;
    establish(tokens);
    tell_other_tabs("signed-in");
    Ok(())
}

/// Signs out: revokes the refresh token (the cookie goes with it) and tells the other tabs.
pub async fn logout() {
    let _ = Call::post("/auth/logout")
        .public()
        .session()
        .json(&cookie_mode())
        .send()
        .await;
    *AUTH.write() = Auth::SignedOut { notice: None };
    tell_other_tabs("signed-out");
}

/// Ends the session in this tab (the API refused it), with a notice for the login page.
pub fn end(notice: Option<String>) {
    if !matches!(&*AUTH.peek(), Auth::SignedOut { .. }) {
        *AUTH.write() = Auth::SignedOut { notice };
    }
}

fn tell_other_tabs(message: &str) {
    CHANNEL.with(|c| {
        if let Some(channel) = c.borrow().as_ref() {
            let _ = channel.post_message(&JsValue::from_str(message));
        }
    });
}

/// Follows the other tabs for as long as the page lives: a sign-out there signs out here, a
/// sign-in there restores the session here.
pub async fn follow_other_tabs() {
    let Ok(channel) = web_sys::BroadcastChannel::new(CHANNEL_NAME) else {
        return;
    };
    let Some((_listener, mut messages)) = net::events(&channel, "message") else {
        return;
    };
    CHANNEL.with(|c| *c.borrow_mut() = Some(channel));
    while let Some(event) = messages.next().await {
        let data = event
            .dyn_ref::<web_sys::MessageEvent>()
            .and_then(|m| m.data().as_string());
        match data.as_deref() {
            Some("signed-out") => end(Some("You signed out in another tab.".to_owned())),
            Some("signed-in") if matches!(&*AUTH.peek(), Auth::SignedOut { .. }) => {
                let _ = refresh().await;
            }
            _ => {}
        }
    }
}
