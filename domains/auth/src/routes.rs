//! HTTP handlers of `/auth/*`: extract, call one use case, map the result.

use actix_web::http::header::SET_COOKIE;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use tessera_app::error::{ApiError, Json};
use tessera_app::net::{ClientAddr, TrustedProxies, service_client_ip};
use tessera_app::telemetry::RequestId;
use tessera_app::tokens::AuthUser;
use tessera_contracts::problem::Problem;

use crate::service::{Auth, AuthError};
use crate::session::{self, Mode};
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
///
/// With `X-Tessera-Session: cookie` the refresh token is also set as the `tessera_refresh`
/// cookie (the web app's session; ARCHITECTURE.md "Web app sessions").
#[utoipa::path(
    post, path = "/auth/login", operation_id = "login", tag = "auth",
    params(
        ("X-Tessera-Session" = Option<String>, Header, nullable = false, pattern = "^cookie$",
            description = "`cookie` for the web app's session: the refresh token is also set as, and read from, the `tessera_refresh` HttpOnly cookie. Without it cookies are neither set nor read."),
    ),
    request_body(content = LoginRequest, description = "The account's credentials",
        example = json!({"email": "ada@example.com", "password": "correct horse battery staple"})),
    responses(
        (status = 200, description = "Logged in", body = TokenResponse,
            headers(("Set-Cookie" = String, description = "With `X-Tessera-Session: cookie` only: `tessera_refresh=<the refresh token>; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=<REFRESH_TOKEN_EXPIRES_IN in seconds>`"))),
        (status = 400, description = "Malformed body, or an `X-Tessera-Session` other than `cookie`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown e-mail or wrong password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    auth: web::Data<Auth>,
    req: HttpRequest,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    // Checked first: a malformed header costs no password check.
    let mode = Mode::of(&req)?;
    let tokens = auth.login(&body.email, &body.password, &ip(&req)).await?;
    with_session(mode, &auth, tokens)
}

/// Rotates a refresh token; a reused token revokes its family.
///
/// The token comes from the body, or (with `X-Tessera-Session: cookie` and a body without one)
/// from the `tessera_refresh` cookie. In cookie mode the answer sets the next token as the
/// cookie, and a refusal clears it.
#[utoipa::path(
    post, path = "/auth/refresh", operation_id = "refreshToken", tag = "auth",
    params(
        ("X-Tessera-Session" = Option<String>, Header, nullable = false, pattern = "^cookie$",
            description = "`cookie` for the web app's session: the refresh token is also set as, and read from, the `tessera_refresh` HttpOnly cookie. Without it cookies are neither set nor read."),
        ("tessera_refresh" = Option<String>, Cookie, nullable = false,
            description = "The refresh token a cookie-mode login or refresh set; read only with `X-Tessera-Session: cookie` and when the body has no `refreshToken`."),
    ),
    request_body(content = RefreshRequest, description = "The refresh token of the last login or refresh \
        (`{}` with `X-Tessera-Session: cookie`: the cookie's token is used)",
        example = json!({"refreshToken": "3q2-7w6mV9sX0b1cY4dZ8eA5fB2gH7iJ6kL3mN0oP9"})),
    responses(
        (status = 200, description = "New token pair", body = TokenResponse,
            headers(("Set-Cookie" = String, description = "With `X-Tessera-Session: cookie` only: `tessera_refresh=<the refresh token>; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=<REFRESH_TOKEN_EXPIRES_IN in seconds>`"))),
        (status = 400, description = "Malformed body, no `refreshToken` without `X-Tessera-Session: cookie`, or an `X-Tessera-Session` other than `cookie`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired or reused refresh token, or (cookie mode) neither the body nor the cookie holds one", body = Problem, content_type = "application/problem+json",
            headers(("Set-Cookie" = String, description = "With `X-Tessera-Session: cookie` only: clears the session cookie (`tessera_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=0`)"))),
    )
)]
pub async fn refresh(
    auth: web::Data<Auth>,
    req: HttpRequest,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let mode = Mode::of(&req)?;
    let refused = |err: ApiError| match mode {
        // A refused cookie is a dead session: drop it, so the web app stops presenting it.
        Mode::Cookie => {
            let mut res = err.error_response();
            res.headers_mut().append(SET_COOKIE, session::clear());
            Ok(res)
        }
        Mode::Json => Err(err),
    };
    let Some(token) = session::presented(&req, mode, body.into_inner().refresh_token) else {
        return match mode {
            Mode::Json => Err(missing_token()),
            // The web app's session is the cookie; without it there is nothing to refresh,
            // which is what an expired or unknown token means to it too.
            Mode::Cookie => refused(ApiError::Unauthorized {
                detail:
                    "no refresh token: the body has none and the tessera_refresh cookie is missing"
                        .to_owned(),
                bearer: false,
            }),
        };
    };
    match auth.refresh(&token).await {
        Ok(tokens) => with_session(mode, &auth, tokens),
        Err(err @ (AuthError::InvalidRefreshToken | AuthError::AccountGone)) => refused(err.into()),
        Err(err) => Err(err.into()),
    }
}

/// Ends the session of a refresh token.
///
/// The token comes from the body, or (with `X-Tessera-Session: cookie` and a body without one)
/// from the `tessera_refresh` cookie; in cookie mode the answer also clears the cookie.
#[utoipa::path(
    post, path = "/auth/logout", operation_id = "logout", tag = "auth",
    params(
        ("X-Tessera-Session" = Option<String>, Header, nullable = false, pattern = "^cookie$",
            description = "`cookie` for the web app's session: the refresh token is also set as, and read from, the `tessera_refresh` HttpOnly cookie. Without it cookies are neither set nor read."),
        ("tessera_refresh" = Option<String>, Cookie, nullable = false,
            description = "The refresh token a cookie-mode login or refresh set; read only with `X-Tessera-Session: cookie` and when the body has no `refreshToken`."),
    ),
    request_body(content = RefreshRequest, description = "The refresh token of the session to end \
        (`{}` with `X-Tessera-Session: cookie`: the cookie's token is used)",
        example = json!({"refreshToken": "3q2-7w6mV9sX0b1cY4dZ8eA5fB2gH7iJ6kL3mN0oP9"})),
    responses(
        (status = 204, description = "Logged out (also for unknown tokens, and in cookie mode without any token)",
            headers(("Set-Cookie" = String, description = "With `X-Tessera-Session: cookie` only: clears the session cookie (`tessera_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=0`)"))),
        (status = 400, description = "Malformed body, no `refreshToken` without `X-Tessera-Session: cookie`, or an `X-Tessera-Session` other than `cookie`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    auth: web::Data<Auth>,
    req: HttpRequest,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let mode = Mode::of(&req)?;
    match session::presented(&req, mode, body.into_inner().refresh_token) {
        Some(token) => auth.logout(&token).await?,
        // Logging out of no session is done already (logout is idempotent).
        None if mode == Mode::Cookie => {}
        None => return Err(missing_token()),
    }
    let mut res = HttpResponse::NoContent();
    if mode == Mode::Cookie {
        res.insert_header((SET_COOKIE, session::clear()));
    }
    Ok(res.finish())
}

/// No token in the body of a JSON-mode refresh or logout (the field is optional only for the
/// cookie mode, which the document cannot tie to the header).
fn missing_token() -> ApiError {
    ApiError::field(
        "refreshToken",
        "is required (or send X-Tessera-Session: cookie with the session cookie)",
    )
}

/// The token pair as JSON, plus (cookie mode) the refresh token as the session cookie.
fn with_session(mode: Mode, auth: &Auth, tokens: TokenResponse) -> Result<HttpResponse, ApiError> {
    let mut res = HttpResponse::Ok();
    if mode == Mode::Cookie {
        res.insert_header((
            SET_COOKIE,
            session::set(&tokens.refresh_token, auth.settings.refresh_ttl)?,
        ));
    }
    Ok(res.json(tokens))
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
