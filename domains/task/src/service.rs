//! The task domain's use cases. Handlers parse and call one of these; these own transactions.

use std::time::Duration;

use diesel_async::AsyncConnection;
use sha2::{Digest, Sha256};
use tessera_app::config::{ConfigError, Env};
use tessera_app::db::{DbError, DbPool};
use tessera_app::error::ApiError;
use tessera_app::outbox;
use tessera_contracts::UserId;
use tessera_contracts::events::{TaskCompleted, TaskCreated, topics};
use tessera_contracts::page::Page;
use tessera_contracts::problem::FieldError;
use uuid::Uuid;

use crate::store::{self, Completion, NewTaskRow, TaskPatch, TaskRow};
use crate::wire::{
    ChangesError, CreateTaskRequest, ListTasks, NewTask, Task, TaskChanges, TaskId, TaskPriority,
    TaskStatus, UpdateTaskRequest,
};

/// What can go wrong in the task domain, mapped once to HTTP in [`From<TaskError> for ApiError`].
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The input breaks a rule.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A `PATCH` body without any field.
    #[error("nothing to change")]
    NothingToChange,
    /// No such task, or not the caller's (deliberately the same).
    #[error("task not found")]
    NotFound,
    /// The idempotency key was used for a different request body.
    #[error("idempotency key reused with another body")]
    KeyReused,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for TaskError {
    fn from(e: diesel::result::Error) -> Self {
        TaskError::Db(e.into())
    }
}

impl From<tessera_app::db::RunError> for TaskError {
    fn from(e: tessera_app::db::RunError) -> Self {
        TaskError::Db(e.into())
    }
}

impl From<TaskError> for ApiError {
    fn from(e: TaskError) -> Self {
        match e {
            TaskError::Validation(errors) => ApiError::fields(errors),
            TaskError::NothingToChange => {
                ApiError::bad_request("the body must change at least one field")
            }
            TaskError::NotFound => ApiError::NotFound("no such task".to_owned()),
            TaskError::KeyReused => ApiError::Conflict(
                "this Idempotency-Key was already used for a different request".to_owned(),
            ),
            TaskError::Db(e) => e.into(),
            TaskError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// An `Idempotency-Key` header value: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The header's name, as errors name it.
    pub const HEADER: &'static str = "Idempotency-Key";

    /// Checks a header value's bytes.
    pub fn parse(raw: &[u8]) -> Result<Self, FieldError> {
        let visible = raw.iter().all(|b| (0x21..=0x7e).contains(b));
        match std::str::from_utf8(raw) {
            Ok(key) if visible && (1..=255).contains(&raw.len()) => {
                Ok(IdempotencyKey(key.to_owned()))
            }
            _ => Err(FieldError {
                field: Self::HEADER.to_owned(),
                message: "must be 1 to 255 visible ASCII characters".to_owned(),
            }),
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The task domain's runtime settings.
#[derive(Debug, Clone)]
pub struct TaskSettings {
    /// How long an idempotency key answers with its first response (24 hours).
    pub idempotency_ttl: Duration,
}

impl TaskSettings {
    /// Reads `IDEMPOTENCY_KEY_TTL`; fails naming it when it is malformed.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            idempotency_ttl: env
                .duration_or("IDEMPOTENCY_KEY_TTL", Duration::from_secs(24 * 3600))?,
        })
    }
}

/// Everything the use cases need.
#[derive(Clone)]
pub struct Tasks {
    /// The task database.
    pub pool: DbPool,
    /// Settings.
    pub settings: TaskSettings,
}

impl TryFrom<TaskRow> for Task {
    type Error = anyhow::Error;

    fn try_from(row: TaskRow) -> anyhow::Result<Self> {
        // The columns have CHECK constraints; anything else is a bug worth a 500.
        let status = TaskStatus::parse(&row.status)
            .ok_or_else(|| anyhow::anyhow!("task {} has status {:?}", row.id, row.status))?;
        let priority = TaskPriority::parse(&row.priority)
            .ok_or_else(|| anyhow::anyhow!("task {} has priority {:?}", row.id, row.priority))?;
        Ok(Task {
            id: TaskId(row.id),
            user_id: UserId(row.user_id),
            title: row.title,
            description: row.description,
            status,
            priority,
            due_date: row.due_date,
            created_at: row.created_at,
            updated_at: row.updated_at,
            completed_at: row.completed_at,
        })
    }
}

/// SHA-256 of the request as parsed, so formatting and field order do not matter.
fn request_hash(req: &CreateTaskRequest) -> anyhow::Result<Vec<u8>> {
    Ok(Sha256::digest(serde_json::to_vec(req)?).to_vec())
}

impl Tasks {
    /// Creates a task and announces it (`task.created`) in one transaction. With an idempotency
    /// key, a retry of the same request answers with the first task instead of creating one.
    pub async fn create(
        &self,
        user: UserId,
        req: CreateTaskRequest,
        key: Option<IdempotencyKey>,
        request_id: &str,
    ) -> Result<Task, TaskError> {
        let hash = match &key {
            Some(_) => request_hash(&req)?,
            None => Vec::new(),
        };
        let new = NewTask::try_from(req).map_err(TaskError::Validation)?;
        let mut conn = self.pool.get().await?;
        let ttl = self.settings.idempotency_ttl;
        let (task, replayed) = conn
            .transaction::<_, TaskError, _>(async |conn| {
                // The key row goes first: a concurrent request with the same key waits here
                // until this transaction ends, then finds its response.
                if let Some(key) = &key {
                    if !store::claim_key(conn, user, key.as_str(), &hash, ttl).await? {
                        let stored = store::find_key(conn, user, key.as_str())
                            .await?
                            .ok_or_else(|| anyhow::anyhow!("idempotency key vanished"))?;
                        if stored.request_hash != hash {
                            return Err(TaskError::KeyReused);
                        }
                        let response = stored
                            .response
                            .ok_or_else(|| anyhow::anyhow!("idempotency key without response"))?;
                        let task: Task = serde_json::from_value(response)
                            .map_err(|e| anyhow::anyhow!("stored response unreadable: {e}"))?;
                        return Ok((task, true));
                    }
                }
                let row = store::insert_task(
                    conn,
                    &NewTaskRow {
                        id: Uuid::now_v7(),
                        user_id: user.0,
                        title: new.title.as_str(),
                        description: new.description.as_deref(),
                        priority: new.priority.as_str(),
                        due_date: new.due_date,
                    },
                )
                .await?;
                let created = store::bump_created_count(conn, user).await?;
                let task = Task::try_from(row)?;
                let event = TaskCreated {
                    task_id: task.id.0,
                    user_id: user,
                    title: task.title.clone(),
                    first_task: created == 1,
                    created_at: task.created_at,
                };
                outbox::enqueue(conn, topics::TASK_CREATED, &event, Some(request_id)).await?;
                if let Some(key) = &key {
                    let response = serde_json::to_value(&task)
                        .map_err(|e| anyhow::anyhow!("task not serialisable: {e}"))?;
                    store::complete_key(conn, user, key.as_str(), task.id, &response).await?;
                }
                Ok((task, false))
            })
            .await?;
        if replayed {
            tracing::info!(task.id = %task.id, "idempotent retry answered with the first task");
        } else {
            tracing::info!(task.id = %task.id, "task created");
        }
        Ok(task)
    }

    /// One page of the caller's tasks.
    pub async fn list(&self, user: UserId, list: &ListTasks) -> Result<Page<Task>, TaskError> {
        let ListTasks { page, filter } = list;
        let mut conn = self.pool.get().await?;
        let (total, rows) =
            store::list_page(&mut conn, user, filter, page.offset(), page.limit()).await?;
        let data = rows
            .into_iter()
            .map(Task::try_from)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Page {
            data,
            meta: page.meta(total),
        })
    }

    /// The caller's task.
    pub async fn get(&self, user: UserId, id: TaskId) -> Result<Task, TaskError> {
        let mut conn = self.pool.get().await?;
        let row = store::find_task(&mut conn, user, id)
            .await?
            .ok_or(TaskError::NotFound)?;
        Ok(Task::try_from(row)?)
    }

    /// Changes the caller's task. Moving into `COMPLETED` stamps `completedAt` and announces
    /// it (`task.completed`) in the same transaction, once per transition. Any other change is
    /// one `UPDATE` outside a transaction: it can move nothing into `COMPLETED`, so it needs
    /// neither the task's previous state nor an event (one round trip instead of four).
    pub async fn update(
        &self,
        user: UserId,
        id: TaskId,
        req: UpdateTaskRequest,
        request_id: &str,
    ) -> Result<Task, TaskError> {
        let changes = TaskChanges::try_from(req).map_err(|e| match e {
            ChangesError::Empty => TaskError::NothingToChange,
            ChangesError::Invalid(errors) => TaskError::Validation(errors),
        })?;
        let patch = TaskPatch {
            title: changes.title.as_ref().map(|t| t.as_str()),
            description: changes
                .description
                .as_ref()
                .map(String::as_str)
                .into_option(),
            status: changes.status.map(TaskStatus::as_str),
            priority: changes.priority.map(TaskPriority::as_str),
            due_date: changes.due_date.into_option(),
        };
        let mut conn = self.pool.get().await?;
        if changes.status != Some(TaskStatus::Completed) {
            // Any other status leaves COMPLETED, or was never in it: the stamp goes (a no-op
            // on a task that was not completed).
            let completion = match changes.status {
                Some(_) => Completion::Clear,
                None => Completion::Keep,
            };
            let row = store::patch_task(&mut conn, user, id, &patch, completion)
                .await?
                .ok_or(TaskError::NotFound)?;
            let task = Task::try_from(row)?;
            tracing::info!(task.id = %task.id, task.completed = false, "task updated");
            return Ok(task);
        }
        let (task, completed) = conn
            .transaction::<_, TaskError, _>(async |conn| {
                // The lock orders concurrent updates of one task, so only one of two
                // simultaneous completions sees the transition.
                let current = store::lock_task(conn, user, id)
                    .await?
                    .ok_or(TaskError::NotFound)?;
                let completion = match Task::try_from(current)?.status {
                    TaskStatus::Completed => Completion::Keep,
                    _ => Completion::Stamp,
                };
                let row = store::patch_task(conn, user, id, &patch, completion)
                    .await?
                    .ok_or(TaskError::NotFound)?;
                let task = Task::try_from(row)?;
                let completed = completion == Completion::Stamp;
                if completed {
                    let event = TaskCompleted {
                        task_id: task.id.0,
                        user_id: user,
                        title: task.title.clone(),
                        completed_at: task.completed_at.unwrap_or(task.updated_at),
                    };
                    outbox::enqueue(conn, topics::TASK_COMPLETED, &event, Some(request_id)).await?;
                }
                Ok((task, completed))
            })
            .await?;
        tracing::info!(task.id = %task.id, task.completed = completed, "task updated");
        Ok(task)
    }

    /// Deletes the caller's task.
    pub async fn delete(&self, user: UserId, id: TaskId) -> Result<(), TaskError> {
        let mut conn = self.pool.get().await?;
        if !store::delete_task(&mut conn, user, id).await? {
            return Err(TaskError::NotFound);
        }
        tracing::info!(task.id = %id, "task deleted");
        Ok(())
    }

    /// Deletes expired idempotency keys (an expired key is also replaced when it is reused).
    pub async fn purge_expired_keys(&self) -> Result<usize, TaskError> {
        let mut conn = self.pool.get().await?;
        Ok(store::delete_expired_keys(&mut conn, self.settings.idempotency_ttl).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse(b"abc-123_XYZ:~!").is_ok());
        assert!(IdempotencyKey::parse(&[b'k'; 255]).is_ok());
        for bad in [
            &b""[..],
            &[b'k'; 256],
            b"has space",
            b"tab\t",
            "é".as_bytes(),
            b"\x7f",
        ] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_request_hash_ignores_formatting_but_not_content() {
        let parse = |s: &str| serde_json::from_str::<CreateTaskRequest>(s).ok();
        let a = parse(r#"{"title":"a","priority":"HIGH"}"#);
        let b = parse(r#"{ "priority": "HIGH",  "title": "a" }"#);
        let c = parse(r#"{"title":"b","priority":"HIGH"}"#);
        let hash = |r: Option<CreateTaskRequest>| r.and_then(|r| request_hash(&r).ok());
        assert_eq!(hash(a.clone()), hash(b));
        assert_ne!(hash(a), hash(c));
    }
}
