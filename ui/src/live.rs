//! Notifications: the bell's unread count and latest items, kept live by
//! `GET /notifications/stream` (Server-Sent Events).
//!
//! The stream is opened first and the list fetched once it is open, so nothing created in
//! between is missed; after a drop the stream reconnects with exponential backoff and fetches
//! again to catch up on what arrived while it was down. No polling.

use dioxus::prelude::*;
use futures_channel::mpsc;
use futures_util::StreamExt;
use tessera_notification::wire::{
    ListNotificationsQuery, Notification, NotificationPage, STREAM_EVENT,
};
use wasm_bindgen::prelude::*;

use crate::api::{Call, query_string};
use crate::net;
use crate::session;

/// What the bell shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inbox {
    /// Unread notifications, as the API last counted them plus what arrived since.
    pub unread: u64,
    /// The newest notifications, newest first (at most [`LATEST`]).
    pub latest: Vec<Notification>,
    /// Bumped by every change, so lists elsewhere (the notification centre) refetch.
    pub version: u64,
    /// Whether the stream is connected.
    pub connected: bool,
}

/// How many notifications the bell keeps.
pub const LATEST: usize = 8;

/// The inbox.
pub static INBOX: GlobalSignal<Inbox> = Signal::global(Inbox::default);

/// Applies a change made on this page (mark read, delete) to the bell.
pub fn apply(change: impl FnOnce(&mut Inbox)) {
    let mut inbox = INBOX.write();
    change(&mut inbox);
    inbox.version += 1;
}

/// Fetches the newest notifications and the unread count, keeping what arrived live and is not
/// in the answer yet.
pub async fn catch_up() -> bool {
    let query = ListNotificationsQuery {
        page: Some("1".to_owned()),
        limit: Some(LATEST.to_string()),
        ..Default::default()
    };
    let Ok(page) = Call::get(format!("/notifications{}", query_string(&query)))
        .fetch::<NotificationPage>()
        .await
    else {
        return false;
    };
    let mut inbox = INBOX.write();
    let newer: Vec<Notification> = inbox
        .latest
        .iter()
        .filter(|n| !page.data.iter().any(|p| p.id == n.id))
        .filter(|n| {
            page.data
                .first()
                .is_none_or(|first| n.created_at > first.created_at)
        })
        .cloned()
        .collect();
    let extra_unread = newer.iter().filter(|n| !n.read).count() as u64;
    let mut latest = newer;
    latest.extend(page.data);
    latest.truncate(LATEST);
    inbox.latest = latest;
    inbox.unread = page.meta.unread_count + extra_unread;
    inbox.version += 1;
    true
}

enum StreamSignal {
    Open,
    Event(String),
    Error,
}

/// Holds an open `EventSource` and closes it when dropped (when the signed-in layout unmounts
/// or the loop reconnects).
struct Stream {
    source: web_sys::EventSource,
    _handlers: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.source.close();
    }
}

fn open(token: &str, tx: mpsc::UnboundedSender<StreamSignal>) -> Option<Stream> {
    let url = format!(
        "{}/notifications/stream?access_token={}",
        net::api_base(),
        net::encode(token)
    );
    let source = web_sys::EventSource::new(&url).ok()?;
    let on_open = {
        let tx = tx.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            let _ = tx.unbounded_send(StreamSignal::Open);
        })
    };
    let on_event = {
        let tx = tx.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            if let Some(data) = event
                .dyn_ref::<web_sys::MessageEvent>()
                .and_then(|m| m.data().as_string())
            {
                let _ = tx.unbounded_send(StreamSignal::Event(data));
            }
        })
    };
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        let _ = tx.unbounded_send(StreamSignal::Error);
    });
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    source
        .add_event_listener_with_callback(STREAM_EVENT, on_event.as_ref().unchecked_ref())
        .ok()?;
    Some(Stream {
        source,
        _handlers: vec![on_open, on_event, on_error],
    })
}

fn receive(data: &str) {
    let Ok(notification) = serde_json::from_str::<Notification>(data) else {
        return;
    };
    apply(|inbox| {
        if inbox.latest.iter().any(|n| n.id == notification.id) {
            return;
        }
        if !notification.read {
            inbox.unread += 1;
        }
        inbox.latest.insert(0, notification);
        inbox.latest.truncate(LATEST);
    });
}

/// Keeps the stream open while the user is signed in: the signed-in layout runs it.
pub async fn run() {
    let mut backoff_ms: u32 = 1_000;
    loop {
        // A token that is about to expire is refreshed first: the stream checks it only when
        // it opens, and an EventSource cannot tell a 401 from a network error.
        let token = match session::user() {
            Some(s) if s.expires_at - net::now_ms() > 30_000.0 => s.token,
            Some(_) => match session::refresh().await {
                Ok(token) => token,
                Err(session::RefreshFailed::Refused) => {
                    session::end(Some(crate::api::ApiError::SessionEnded.message()));
                    return;
                }
                Err(session::RefreshFailed::Offline) => {
                    net::sleep(backoff_ms).await;
                    backoff_ms = (backoff_ms * 2).min(30_000);
                    continue;
                }
            },
            None => return,
        };
        let (tx, mut rx) = mpsc::unbounded();
        let Some(stream) = open(&token, tx) else {
            return;
        };
        let opened_at = net::now_ms();
        while let Some(signal) = rx.next().await {
            match signal {
                StreamSignal::Open => {
                    INBOX.write().connected = true;
                    catch_up().await;
                }
                StreamSignal::Event(data) => receive(&data),
                StreamSignal::Error => break,
            }
        }
        drop(stream);
        INBOX.write().connected = false;
        // A connection that stayed up a while resets the backoff; one that keeps failing waits
        // longer each time, up to 30 s.
        if net::now_ms() - opened_at > 30_000.0 {
            backoff_ms = 1_000;
        }
        net::sleep(backoff_ms).await;
        backoff_ms = (backoff_ms * 2).min(30_000);
        // An API call before reopening: if the session ended while the stream was down, its
        // 401 and refused refresh end it here instead of reconnecting forever.
        let _ = catch_up().await;
    }
}
