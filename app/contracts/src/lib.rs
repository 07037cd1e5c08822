//! Shapes that cross a crate or process boundary and must have exactly one definition:
//! identifiers, roles, event payloads and topics, the problem+json body, list pages, and the
//! request and response shapes of internal calls between domains (`notifications`).
//!
//! This crate has no server dependencies (no actix, no diesel), so the Dioxus web app can use
//! the same types; CI checks that it builds for `wasm32-unknown-unknown`.

pub mod events;
pub mod notifications;
pub mod page;
pub mod patch;
pub mod problem;
pub mod text;
pub mod time;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user's id, as issued by the auth domain and carried in the token's `sub`/`userId`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct UserId(pub uuid::Uuid);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a user may do. Carried in the access token; granted by `shell admin promote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// A regular user.
    User,
    /// An administrator: may list and delete users.
    Admin,
}

impl Role {
    /// The wire (and database) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "USER",
            Role::Admin => "ADMIN",
        }
    }

    /// Parses the wire spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "USER" => Some(Role::User),
            "ADMIN" => Some(Role::Admin),
            _ => None,
        }
    }
}
