//! HTTP handlers of `/users/*`: extract, call one use case, map the result.

use actix_web::{HttpRequest, HttpResponse, web};
use tessera_app::error::{ApiError, Json};
use tessera_app::telemetry::RequestId;
use tessera_app::tokens::{AdminUser, AuthUser};
use tessera_contracts::UserId;
use tessera_contracts::page::Page;
use tessera_contracts::problem::Problem;
use uuid::Uuid;

use crate::service::Users;
use crate::wire::{ListUsersQuery, Profile, UpdateProfileRequest};

/// Mounts the routes under `/users`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        // Resources (not bare routes) so a wrong method answers 405 rather than 404.
        web::scope("/users")
            .service(web::resource("").get(list_users))
            .service(
                web::resource("/{id}")
                    .get(get_user)
                    .patch(update_user)
                    .delete(delete_user),
            ),
    );
}

/// Reads the query string; an unknown or repeated parameter is named in the problem's `errors`.
fn list_query(req: &HttpRequest) -> Result<ListUsersQuery, ApiError> {
    tessera_app::error::parse_query(req.query_string())
}

/// A user's profile: the owner's (made on the first read if the registration event is late) or,
/// for an admin, anyone's.
#[utoipa::path(
    get, path = "/users/{id}", operation_id = "getUser", tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user id (the access token's `userId`)")),
    responses(
        (status = 200, description = "The profile", body = Profile),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, deleted, or not the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_user(
    users: web::Data<Users>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let profile = users.get(&caller, UserId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(profile))
}

/// Changes the caller's own profile: a field set to `null` is cleared, an absent one kept.
#[utoipa::path(
    patch, path = "/users/{id}", operation_id = "updateUser", tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user id; must be the caller's")),
    request_body(content = UpdateProfileRequest, description = "The fields to change (at least one); `null` clears one",
        example = json!({"name": "Ada Lovelace", "bio": null})),
    responses(
        (status = 200, description = "The whole updated profile", body = Profile),
        (status = 400, description = "Malformed id or body, unknown field, no field, or invalid value", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An admin editing someone else's profile", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, deleted, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_user(
    users: web::Data<Users>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    body: Json<UpdateProfileRequest>,
) -> Result<HttpResponse, ApiError> {
    let profile = users
        .update(&caller, UserId(id.into_inner()), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(profile))
}

/// Every live profile, newest first (admins only).
#[utoipa::path(
    get, path = "/users", operation_id = "listUsers", tag = "users",
    security(("bearer" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, description = "One page of profiles", body = Page<Profile>),
        (status = 400, description = "Bad or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_users(
    users: web::Data<Users>,
    admin: AdminUser,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let list = list_query(&req)?.parse().map_err(ApiError::fields)?;
    Ok(HttpResponse::Ok().json(users.list(&admin, list).await?))
}

/// Soft-deletes a user (admins only): the profile leaves every list and `user.deleted` tells the
/// other domains (auth stops the account's logins and refreshes).
#[utoipa::path(
    delete, path = "/users/{id}", operation_id = "deleteUser", tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or already deleted", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_user(
    users: web::Data<Users>,
    admin: AdminUser,
    rid: RequestId,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    users
        .delete(&admin, UserId(id.into_inner()), &rid.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
