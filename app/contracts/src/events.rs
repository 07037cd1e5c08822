//! Events that cross domain boundaries, and the topics they travel on.
//!
//! A producer writes the payload to its outbox in the same transaction as the change; the relay
//! publishes it on the topic's stream, where each subscribing domain reads it through its own
//! consumer group. Payloads only grow by optional fields, so services rolled out at different
//! times keep understanding each other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Role, UserId};

/// Topic names, one stream each.
pub mod topics {
    /// A user registered ([`super::UserRegistered`]).
    pub const USER_REGISTERED: &str = "user.registered";
    /// An admin deleted a user ([`super::UserDeleted`]).
    pub const USER_DELETED: &str = "user.deleted";
    /// A task was created.
    pub const TASK_CREATED: &str = "task.created";
    /// A task moved into `COMPLETED`.
    pub const TASK_COMPLETED: &str = "task.completed";
    /// A one-off e-mail to send ([`super::EmailSend`]).
    pub const EMAIL_SEND: &str = "email.send";
}

/// `user.registered`: a new account exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRegistered {
    /// The new user's id.
    pub user_id: UserId,
    /// The normalised e-mail address.
    pub email: String,
    /// The display name given at registration, if any.
    pub name: Option<String>,
    /// The role at registration.
    pub role: Role,
    /// When the account was created.
    #[serde(with = "crate::time::millis")]
    pub created_at: DateTime<Utc>,
}

/// `user.deleted`: an admin soft-deleted a user; auth revokes the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDeleted {
    /// The deleted user's id.
    pub user_id: UserId,
    /// When the deletion happened.
    #[serde(with = "crate::time::millis")]
    pub deleted_at: DateTime<Utc>,
}

/// `email.send`: a one-off e-mail rendered from a named template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailSend {
    /// The user the mail is about, when there is one.
    pub user_id: Option<UserId>,
    /// The recipient address.
    pub to: String,
    /// The template name, e.g. `password-reset`.
    pub template: String,
    /// The template's variables.
    pub data: serde_json::Value,
}
