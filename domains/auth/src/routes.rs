//! HTTP handlers of `/auth/*`: extract, call one use case, map the result.

use actix_web::{HttpRequest, HttpResponse, web};
use tessera_app::error::{ApiError, Json};
use tessera_app::net::{ClientAddr, TrustedProxies, service_client_ip};
use tessera_app::telemetry::RequestId;
use tessera_app::tokens::AuthUser;
use tessera_contracts::problem::Problem;

use crate::service::Auth;
use crate::wire::{
    ForgotPasswordRequest, LoginRequest, MeResponse, MessageResponse, RefreshRequest,
    RegisterRequest, RegisterResponse, ResetPasswordRequest, TokenResponse,
};

/// Mounts the routes under `/auth`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        // Resources (not bare routes) so a wrong method answers 405 rather than 404.
        web::scope("/auth")
            .service(web::resource("/register").post(register))
            .service(web::resource("/login").post(login))
            .service(web::resource("/refresh").post(refresh))
            .service(web::resource("/logout").post(logout))
            .service(web::resource("/me").get(me))
            .service(web::resource("/forgot-password").post(forgot_password))
            .service(web::resource("/reset-password").post(reset_password)),
    );
}

/// The key the per-address throttles count the client under (behind the gateway, the address
/// the gateway vouches for; an IPv6 client by its /64).
fn ip(req: &HttpRequest) -> String {
    let trusted = req
        .app_data::<web::Data<TrustedProxies>>()
        .map(|t| t.get_ref().clone())
        .unwrap_or_default();
    service_client_ip(req, &trusted)
        .map(|ip| ClientAddr(ip).limit_key().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Creates an account.
#[utoipa::path(
    post, path = "/auth/register", operation_id = "register", tag = "auth",
    request_body(content = RegisterRequest, description = "The new account",
        example = json!({"email": "ada@example.com", "password": "correct horse battery staple", "name": "Ada Lovelace"})),
    responses(
        (status = 201, description = "Account created", body = RegisterResponse),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "E-mail already registered", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    auth: web::Data<Auth>,
    rid: RequestId,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let created = auth.register(body.into_inner(), &rid.0).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Exchanges credentials for an access token and a refresh token.
#[utoipa::path(
    post, path = "/auth/login", operation_id = "login", tag = "auth",
    request_body(content = LoginRequest, description = "The account's credentials",
        example = json!({"email": "ada@example.com", "password": "correct horse battery staple"})),
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown e-mail or wrong password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    auth: web::Data<Auth>,
    req: HttpRequest,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let tokens = auth.login(&body.email, &body.password, &ip(&req)).await?;
    Ok(HttpResponse::Ok().json(tokens))
}

/// Rotates a refresh token; a reused token revokes its family.
#[utoipa::path(
    post, path = "/auth/refresh", operation_id = "refreshToken", tag = "auth",
    request_body(content = RefreshRequest, description = "The refresh token of the last login or refresh",
        example = json!({"refreshToken": "3q2-7w6mV9sX0b1cY4dZ8eA5fB2gH7iJ6kL3mN0oP9"})),
    responses(
        (status = 200, description = "New token pair", body = TokenResponse),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired or reused refresh token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    auth: web::Data<Auth>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(auth.refresh(&body.refresh_token).await?))
}

/// Ends the session of a refresh token.
#[utoipa::path(
    post, path = "/auth/logout", operation_id = "logout", tag = "auth",
    request_body(content = RefreshRequest, description = "The refresh token of the session to end",
        example = json!({"refreshToken": "3q2-7w6mV9sX0b1cY4dZ8eA5fB2gH7iJ6kL3mN0oP9"})),
    responses(
        (status = 204, description = "Logged out (also for unknown tokens)"),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    auth: web::Data<Auth>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.logout(&body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's account.
#[utoipa::path(
    get, path = "/auth/me", operation_id = "getMe", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = MeResponse),
        (status = 401, description = "Missing, invalid or expired token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(auth: web::Data<Auth>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(auth.me(user.id).await?))
}

/// Sends a password-reset link if the account exists.
#[utoipa::path(
    post, path = "/auth/forgot-password", operation_id = "forgotPassword", tag = "auth",
    request_body(content = ForgotPasswordRequest, description = "The account's e-mail address",
        example = json!({"email": "ada@example.com"})),
    responses(
        (status = 202, description = "Accepted, whether or not the account exists", body = MessageResponse),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn forgot_password(
    auth: web::Data<Auth>,
    req: HttpRequest,
    rid: RequestId,
    body: Json<ForgotPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.forgot_password(&body.email, &ip(&req), &rid.0).await?;
    Ok(HttpResponse::Accepted().json(MessageResponse {
        message: "If an account exists for this e-mail, a reset link is on its way".to_owned(),
    }))
}

/// Sets a new password with a reset token.
#[utoipa::path(
    post, path = "/auth/reset-password", operation_id = "resetPassword", tag = "auth",
    request_body(content = ResetPasswordRequest, description = "The token from the e-mailed link and the new password",
        example = json!({"token": "kq3S0lJb2cS8rY6Wc1y9bV6Nn0dTg1bq2rZ7x1Gm5hA", "password": "a new horse battery staple"})),
    responses(
        (status = 204, description = "Password changed; every session ended"),
        (status = 400, description = "Invalid, expired or used token, or invalid password", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reset_password(
    auth: web::Data<Auth>,
    body: Json<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.reset_password(&body.token, &body.password).await?;
    Ok(HttpResponse::NoContent().finish())
}
