//! HTTP handlers of `/tasks`: extract, call one use case, map the result.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use tessera_app::error::{ApiError, Json};
use tessera_app::telemetry::RequestId;
use tessera_app::tokens::AuthUser;
use tessera_contracts::page::Page;
use tessera_contracts::problem::Problem;
use uuid::Uuid;

use crate::service::{IdempotencyKey, Tasks};
use crate::wire::{CreateTaskRequest, ListTasksQuery, Task, TaskId, UpdateTaskRequest};

/// Mounts the routes under `/tasks`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not bare routes) so a wrong method answers 405 rather than 404.
    cfg.service(web::resource("/tasks").get(list_tasks).post(create_task))
        .service(
            web::resource("/tasks/{id}")
                .get(get_task)
                .patch(update_task)
                .delete(delete_task),
        );
}

/// The `Idempotency-Key` header, if the request has one; a malformed one is a 400.
fn idempotency_key(req: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = req.headers().get_all(IdempotencyKey::HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::field(IdempotencyKey::HEADER, "must be sent once"));
    }
    IdempotencyKey::parse(value.as_bytes())
        .map(Some)
        .map_err(|e| ApiError::fields(vec![e]))
}

fn created(task: &Task) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/tasks/{}", task.id)))
        .json(task)
}

/// Creates a task for the caller.
///
/// With an `Idempotency-Key`, a retry within 24 hours answers exactly like the first request
/// (same status, body and `Location`) and creates nothing.
#[utoipa::path(
    post, path = "/tasks", operation_id = "createTask", tag = "tasks",
    security(("bearer" = [])),
    request_body(content = CreateTaskRequest, description = "The task; only `title` is required",
        example = json!({"title": "Write the quarterly report", "description": "Figures for Q3, with the charts.", "priority": "HIGH", "dueDate": "2026-12-01T17:00:00.000Z"})),
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false,
            min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "1 to 255 visible ASCII characters; retries with the same key and body \
                           return the first response for 24 hours"),
    ),
    responses(
        (status = 201, description = "Task created (or the first response to this idempotency key)", body = Task,
            headers(("Location" = String, description = "`/tasks/{id}` of the task"))),
        (status = 400, description = "Invalid body or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The Idempotency-Key was used with a different body", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_task(
    tasks: web::Data<Tasks>,
    user: AuthUser,
    rid: RequestId,
    req: HttpRequest,
    body: Json<CreateTaskRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let task = tasks
        .create(user.id, body.into_inner(), key, &rid.0)
        .await?;
    Ok(created(&task))
}

/// The caller's tasks, filtered, sorted and paginated.
#[utoipa::path(
    get, path = "/tasks", operation_id = "listTasks", tag = "tasks",
    security(("bearer" = [])),
    params(ListTasksQuery),
    responses(
        (status = 200, description = "One page of the caller's tasks (empty past the last page)", body = Page<Task>),
        (status = 400, description = "A bad or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_tasks(
    tasks: web::Data<Tasks>,
    user: AuthUser,
    query: web::Query<ListTasksQuery>,
) -> Result<HttpResponse, ApiError> {
    let list = query.parse().map_err(ApiError::fields)?;
    Ok(HttpResponse::Ok().json(tasks.list(user.id, &list).await?))
}

/// One of the caller's tasks.
#[utoipa::path(
    get, path = "/tasks/{id}", operation_id = "getTask", tag = "tasks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task id")),
    responses(
        (status = 200, description = "The task", body = Task),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such task, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_task(
    tasks: web::Data<Tasks>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(tasks.get(user.id, TaskId(id.into_inner())).await?))
}

/// Changes one of the caller's tasks; `null` clears `description` or `dueDate`.
#[utoipa::path(
    patch, path = "/tasks/{id}", operation_id = "updateTask", tag = "tasks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task id")),
    request_body(content = UpdateTaskRequest, description = "The fields to change (at least one)",
        example = json!({"status": "COMPLETED"})),
    responses(
        (status = 200, description = "The updated task", body = Task),
        (status = 400, description = "Malformed id, invalid or empty body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such task, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_task(
    tasks: web::Data<Tasks>,
    user: AuthUser,
    rid: RequestId,
    id: web::Path<Uuid>,
    body: Json<UpdateTaskRequest>,
) -> Result<HttpResponse, ApiError> {
    let task = tasks
        .update(user.id, TaskId(id.into_inner()), body.into_inner(), &rid.0)
        .await?;
    Ok(HttpResponse::Ok().json(task))
}

/// Deletes one of the caller's tasks.
#[utoipa::path(
    delete, path = "/tasks/{id}", operation_id = "deleteTask", tag = "tasks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such task, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_task(
    tasks: web::Data<Tasks>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tasks.delete(user.id, TaskId(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}
