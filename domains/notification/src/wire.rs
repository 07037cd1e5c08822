//! The notification domain's JSON shapes. No server dependencies: the web app uses them.
//!
//! The notification itself and the send request live in `tessera_contracts::notifications`,
//! because the worker (which may not depend on this crate) sends them too; they are re-exported
//! here so the web app finds every shape of this domain in one place.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use tessera_contracts::notifications::{
    Notification, NotificationChannel, NotificationType, SendNotification, templates,
};

/// The name of the Server-Sent Events event that carries a new notification on
/// `GET /notifications/stream`; its `data` is the [`Notification`] as JSON.
pub const STREAM_EVENT: &str = "notification";

/// One Server-Sent Event of `GET /notifications/stream`, as an SSE parser hands it over (the
/// stream also carries `: keepalive` comments and a `retry` field, which are not events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamEvent {
    /// Always `notification`.
    #[schema(pattern = "^notification$", example = "notification")]
    pub event: String,
    /// The new [`Notification`] as JSON.
    #[schema(
        content_media_type = "application/json",
        example = r#"{"id":"0190b0e4-8c3a-7d2e-9f41-5b6a7c8d9e0f","userId":"0190b0e4-1a2b-7c3d-8e4f-5a6b7c8d9e0f","type":"INFO","channel":"IN_APP","subject":"New Task Created","message":"Your task \"Write the report\" was created.","read":false,"createdAt":"2026-11-25T10:00:00.000Z"}"#
    )]
    pub data: String,
}

/// Where a page of notifications sits in the caller's list, and how many are unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPageMeta {
    /// The page number, from 1.
    pub page: u32,
    /// The page size.
    pub limit: u32,
    /// How many notifications the list holds (only unread ones with `unreadOnly=true`).
    pub total: u64,
    /// How many pages the list has (0 for an empty list).
    pub total_pages: u64,
    /// How many of the caller's notifications are unread, whatever the filter.
    pub unread_count: u64,
}

/// `200` of `GET /notifications`: one page of the caller's notifications, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationPage {
    /// The notifications on this page.
    pub data: Vec<Notification>,
    /// Where this page sits.
    pub meta: NotificationPageMeta,
}

/// The query string of `GET /notifications`. Values are read as text and parsed by the use
/// case (the web app builds it too), so each bad one is a 400 naming its parameter; unknown parameters are refused too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListNotificationsQuery {
    /// Only unread notifications (`true` or `false`, default `false`).
    #[serde(rename = "unreadOnly")]
    #[param(rename = "unreadOnly", value_type = Option<bool>, example = false)]
    pub unread_only: Option<String>,
    /// The page number, from 1 (default 1) to 4294967295.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 4294967295.0, example = 1)]
    pub page: Option<String>,
    /// The page size, 1 to 100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, example = 10)]
    pub limit: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn the_page_meta_is_camel_case_with_the_unread_count() {
        let page = NotificationPage {
            data: Vec::new(),
            meta: NotificationPageMeta {
                page: 1,
                limit: 10,
                total: 0,
                total_pages: 0,
                unread_count: 3,
            },
        };
        assert_eq!(
            serde_json::to_value(&page).unwrap(),
            serde_json::json!({
                "data": [],
                "meta": {"page": 1, "limit": 10, "total": 0, "totalPages": 0, "unreadCount": 3},
            })
        );
    }
}
