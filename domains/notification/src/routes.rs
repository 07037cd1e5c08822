//! HTTP handlers of `/notifications/*`: extract, call one use case, map the result.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tessera_app::config::{ConfigError, Env};
use tessera_app::error::{ApiError, Json};
use tessera_app::tokens::{AuthUser, ServiceCaller, Tokens, bearer};
use tessera_contracts::UserId;
use tessera_contracts::notifications::{Notification, SendNotification};
use tessera_contracts::problem::Problem;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::live::Live;
use crate::service::Notifications;
use crate::wire::{ListNotificationsQuery, NotificationPage, STREAM_EVENT, StreamEvent};

/// What the stream route needs besides the use cases.
#[derive(Clone)]
pub struct Streams {
    /// The live feed.
    pub live: Live,
    /// How often an idle stream sends a `: keepalive` comment.
    pub heartbeat: Duration,
    /// How many streams one user may hold open in this process (`SSE_MAX_STREAMS_PER_USER`).
    pub max_per_user: usize,
    /// The streams open now, per user.
    pub open: OpenStreams,
}

impl Streams {
    /// The stream settings from `SSE_HEARTBEAT_INTERVAL` (15 s) and `SSE_MAX_STREAMS_PER_USER`
    /// (5), over `live`; fails naming a malformed or zero value.
    pub fn from_env(env: &Env, live: Live) -> Result<Self, ConfigError> {
        let heartbeat =
            env.positive_duration_or("SSE_HEARTBEAT_INTERVAL", Duration::from_secs(15))?;
        let max_per_user: usize = env.parse_or("SSE_MAX_STREAMS_PER_USER", 5)?;
        if max_per_user == 0 {
            return Err(ConfigError::Invalid {
                name: "SSE_MAX_STREAMS_PER_USER".to_owned(),
                reason: "must be positive".to_owned(),
            });
        }
        Ok(Self {
            live,
            heartbeat,
            max_per_user,
            open: OpenStreams::default(),
        })
    }
}

/// The number of open streams per user in this process. Each stream holds a [`StreamSlot`] and
/// gives it back when it ends, however it ends (expiry, shutdown, the client going away).
#[derive(Clone, Default)]
pub struct OpenStreams(Arc<Mutex<HashMap<UserId, usize>>>);

impl OpenStreams {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, usize>> {
        // The map stays consistent even if a holder panicked: every change is one statement.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for one more stream of `user`, unless they hold `max` already.
    fn take(&self, user: UserId, max: usize) -> Option<StreamSlot> {
        let mut counts = self.counts();
        let open = counts.entry(user).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(StreamSlot {
            open: self.clone(),
            user,
        })
    }
}

/// One open stream of a user; dropping it frees the place.
pub struct StreamSlot {
    open: OpenStreams,
    user: UserId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut counts = self.open.counts();
        if let Some(open) = counts.get_mut(&self.user) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

/// Mounts the routes under `/notifications`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        // Resources (not bare routes) so a wrong method answers 405 rather than 404. The fixed
        // paths come before `/{id}`, so `GET /notifications/stream` never reaches the id route.
        web::scope("/notifications")
            .service(web::resource("").get(list))
            .service(web::resource("/send").post(send))
            .service(web::resource("/stream").get(stream))
            .service(web::resource("/read-all").post(read_all))
            .service(web::resource("/{id}/read").patch(mark_read))
            .service(web::resource("/{id}").delete(delete)),
    );
}

/// Reads a query string; an unknown or repeated parameter is named in the problem's `errors`.
fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    tessera_app::error::parse_query(req.query_string())
}

/// Stores a notification, publishes it and queues its e-mail (internal: the worker's route,
/// never routed by the gateway).
#[utoipa::path(
    post, path = "/notifications/send", operation_id = "sendNotification", tag = "internal",
    description = "**Internal.** Called by other Tessera services with a service token (the worker \
        sends task and password-reset notifications through it); the gateway never routes it. \
        Stores a notification, pushes it to the user's live streams and, for `EMAIL`, queues the \
        e-mail to the address the user registered with, rendered from `template` (HTML with a \
        plain-text alternative). The answer does not wait for the mail server: the service's \
        mail dispatcher sends queued e-mails, retrying while the mail server is unavailable, so \
        a 201 means stored and queued, not yet delivered. The same `idempotencyKey` twice \
        stores once and e-mails once: a repeat answers 200 with the first notification. A 503 \
        (`Retry-After`) is worth retrying; a 4xx is final.",
    security(("serviceToken" = [])),
    request_body(content = SendNotification, description = "The notification to store and deliver",
        example = json!({"userId": "0190b0e4-8c3a-7d2e-9f41-5b6a7c8d9e0f", "type": "SUCCESS", "channel": "IN_APP", "subject": "New Task Created", "message": "Your task \"Write the report\" was created.", "idempotencyKey": "1732528800000-0:in-app"})),
    responses(
        (status = 201, description = "Stored and published; an `EMAIL` is queued for sending", body = Notification),
        (status = 200, description = "Stored by an earlier call with the same idempotency key (nothing stored or queued again)", body = Notification),
        (status = 400, description = "Invalid body, unknown field, unknown template or missing template data", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired service token (user tokens are refused)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`EMAIL` to a deleted user: no e-mail is ever sent to them (`urn:tessera:problem:recipient-gone`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Retry later: the recipient is not known yet, or the database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn send(
    notifications: web::Data<Notifications>,
    caller: ServiceCaller,
    body: Json<SendNotification>,
) -> Result<HttpResponse, ApiError> {
    tracing::debug!(caller = caller.service, "notification send");
    let sent = notifications.send(body.into_inner()).await?;
    let mut response = if sent.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(sent.notification))
}

/// The caller's notifications, newest first, with how many are unread.
#[utoipa::path(
    get, path = "/notifications", operation_id = "listNotifications", tag = "notifications",
    security(("bearer" = [])),
    params(ListNotificationsQuery),
    responses(
        (status = 200, description = "One page of the caller's notifications", body = NotificationPage),
        (status = 400, description = "Bad or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    notifications: web::Data<Notifications>,
    user: AuthUser,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let list = query::<ListNotificationsQuery>(&req)?
        .parse()
        .map_err(ApiError::fields)?;
    Ok(HttpResponse::Ok().json(notifications.list(user.id, list).await?))
}

/// Marks one of the caller's notifications read.
#[utoipa::path(
    patch, path = "/notifications/{id}/read", operation_id = "markNotificationRead", tag = "notifications",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The notification id")),
    responses(
        (status = 200, description = "The notification, now read", body = Notification),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such notification, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn mark_read(
    notifications: web::Data<Notifications>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let n = notifications.mark_read(user.id, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(n))
}

/// Marks every notification of the caller read.
#[utoipa::path(
    post, path = "/notifications/read-all", operation_id = "markAllNotificationsRead", tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every notification of the caller is read"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn read_all(
    notifications: web::Data<Notifications>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    notifications.mark_all_read(user.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes one of the caller's notifications.
#[utoipa::path(
    delete, path = "/notifications/{id}", operation_id = "deleteNotification", tag = "notifications",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The notification id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such notification, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    notifications: web::Data<Notifications>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    notifications.delete(user.id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The query string of `GET /notifications/stream`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// The access token, for clients that cannot set headers (a browser's `EventSource`).
    /// `Authorization: Bearer` wins when both are given. Never logged.
    access_token: Option<String>,
}

/// The caller's new notifications as Server-Sent Events.
#[utoipa::path(
    get, path = "/notifications/stream", operation_id = "streamNotifications", tag = "notifications",
    description = "Server-Sent Events: every new notification of the caller, stored by any \
        process, as an event `notification` whose `data` is the notification as JSON, within a \
        second. An idle stream gets a `: keepalive` comment every 15 s. Authenticate with \
        `Authorization: Bearer` or, for `EventSource`, `?access_token=`. The stream ends when \
        the access token expires and when the server shuts down: reconnect with a fresh token \
        and reload `GET /notifications` to catch up, since events are not replayed.",
    security(("bearer" = [])),
    params(StreamQuery),
    responses(
        (status = 200, description = "The event stream: one `notification` event per new notification", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The caller holds as many open streams as allowed (5 by default); close one and retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn stream(
    req: HttpRequest,
    streams: web::Data<Streams>,
    tokens: web::Data<Tokens>,
) -> Result<HttpResponse, ApiError> {
    let q: StreamQuery = query(&req)?;
    let token = bearer(&req)
        .map(str::to_owned)
        .or(q.access_token.filter(|t| !t.trim().is_empty()))
        .ok_or_else(|| {
            ApiError::bad_token("a bearer access token is required (header or access_token)")
        })?;
    let claims = tokens.verify_access(token.trim()).map_err(|e| {
        tracing::debug!(error = %e, "access token refused");
        ApiError::bad_token("the access token is invalid or expired")
    })?;
    // Each open stream holds a connection and a feed receiver: one user must not hold them all.
    let slot = streams
        .open
        .take(claims.user_id, streams.max_per_user)
        .ok_or_else(|| {
            tracing::info!(user.id = %claims.user_id, "stream refused; too many open");
            ApiError::TooManyRequests {
                detail: format!(
                    "at most {} streams may be open at once; close one first",
                    streams.max_per_user
                ),
                retry_after: 5,
            }
        })?;
    // The stream lives no longer than the token that opened it.
    let lifetime = u64::try_from(claims.exp - chrono::Utc::now().timestamp()).unwrap_or(0);
    let body = events(
        slot,
        claims.user_id,
        streams.live.subscribe(),
        streams.live.closing(),
        streams.heartbeat,
        Duration::from_secs(lifetime),
    );
    tracing::debug!(user.id = %claims.user_id, "stream opened");
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        // Tells nginx-style proxies not to buffer the stream.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

struct StreamState {
    /// Held while the stream lives; dropped with the state when it ends or the client leaves.
    _slot: StreamSlot,
    user: UserId,
    feed: broadcast::Receiver<Arc<Notification>>,
    closing: CancellationToken,
    heartbeat: tokio::time::Interval,
    expiry: Pin<Box<tokio::time::Sleep>>,
    opened: bool,
}

/// The SSE body: an opening comment, then the user's notifications and heartbeats until the
/// token expires, the server shuts down or the client goes away (which drops the stream).
fn events(
    slot: StreamSlot,
    user: UserId,
    feed: broadcast::Receiver<Arc<Notification>>,
    closing: CancellationToken,
    heartbeat: Duration,
    lifetime: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = StreamState {
        _slot: slot,
        user,
        feed,
        closing,
        heartbeat: interval,
        expiry: Box::pin(tokio::time::sleep(lifetime)),
        opened: false,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        if !s.opened {
            s.opened = true;
            // Sent at once so clients and proxies see the stream is live; `retry` sets how long
            // an EventSource waits before it reconnects.
            return Some((Ok(Bytes::from_static(b"retry: 3000\n: connected\n\n")), s));
        }
        loop {
            tokio::select! {
                () = s.closing.cancelled() => return None,
                () = &mut s.expiry => return None,
                _ = s.heartbeat.tick() => {
                    return Some((Ok(Bytes::from_static(b": keepalive\n\n")), s));
                }
                received = s.feed.recv() => match received {
                    Ok(n) if n.user_id == s.user => match serde_json::to_string(&*n) {
                        Ok(json) => {
                            let event = format!("event: {STREAM_EVENT}\ndata: {json}\n\n");
                            return Some((Ok(Bytes::from(event)), s));
                        }
                        Err(e) => tracing::error!(error = %e, "notification not encodable"),
                    },
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(user.id = %s.user, missed = n, "stream fell behind");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    })
}
