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
    /// A task was created ([`super::TaskCreated`]).
    pub const TASK_CREATED: &str = "task.created";
    /// A task moved into `COMPLETED` ([`super::TaskCompleted`]).
    pub const TASK_COMPLETED: &str = "task.completed";
    /// A one-off e-mail to send ([`super::EmailSend`]).
    pub const EMAIL_SEND: &str = "email.send";
    /// An admin changed a user's role ([`super::UserRoleChanged`]).
    pub const USER_ROLE_CHANGED: &str = "user.role_changed";
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

/// `user.role_changed`: `shell admin promote` (or a later admin API) changed a user's role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRoleChanged {
    /// The user.
    pub user_id: UserId,
    /// The new role.
    pub role: Role,
}

/// `task.created`: a user created a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCreated {
    /// The task's id.
    pub task_id: uuid::Uuid,
    /// Its owner.
    pub user_id: UserId,
    /// Its title (for the notification text).
    pub title: String,
    /// Whether this is the first task the user ever created (the welcome e-mail goes out once).
    pub first_task: bool,
    /// When it was created.
    #[serde(with = "crate::time::millis")]
    pub created_at: DateTime<Utc>,
}

/// `task.completed`: a task moved into `COMPLETED` (once per transition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCompleted {
    /// The task's id.
    pub task_id: uuid::Uuid,
    /// Its owner.
    pub user_id: UserId,
    /// Its title.
    pub title: String,
    /// When it was completed.
    #[serde(with = "crate::time::millis")]
    pub completed_at: DateTime<Utc>,
}
