//! Access and service tokens (HS256 JWTs) and the extractors that check them.
//!
//! Access tokens are for users (`typ: access`, signed with `JWT_SECRET`); service tokens are for
//! internal calls between processes (`typ: service`, signed with `INTERNAL_JWT_SECRET`). The
//! algorithm is pinned, `iss` and `aud` are required and checked, and each extractor accepts only
//! its own `typ`, so neither kind of token works where the other is expected. A third kind,
//! the client-hop token (`typ: client-hop`, also `INTERNAL_JWT_SECRET`), is how the gateway tells
//! a service which client a proxied request comes from; it authorises nothing.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use tessera_contracts::{Role, UserId};
use uuid::Uuid;

use crate::config::TokenSettings;
use crate::error::ApiError;

/// `iss` of access tokens.
pub const ACCESS_ISSUER: &str = "tessera-auth";
/// `aud` of access tokens.
pub const ACCESS_AUDIENCE: &str = "tessera-api";
/// `iss` and `aud` of service tokens.
pub const INTERNAL: &str = "tessera-internal";
/// Service tokens live at most this long (API.md: five minutes).
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);
/// How far in the future a token's `iat` may lie (clocks of two hosts differ a little). Beyond
/// it the token is refused: a service token "issued" in an hour would otherwise pass the
/// five-minute check on `exp - iat` and live an hour and five minutes.
pub const ISSUED_AT_LEEWAY: Duration = Duration::from_secs(30);
/// Client-hop tokens live this long: each is made for one proxied request and used at once.
pub const CLIENT_HOP_TTL: Duration = Duration::from_secs(30);
/// `typ` of client-hop tokens.
const CLIENT_HOP: &str = "client-hop";
/// How many seconds past its `exp` a token still passes (jsonwebtoken's `leeway`, for clocks
/// that differ a little); the cache of verified tokens applies the same rule.
const EXP_LEEWAY_SECS: u64 = 5;
/// How many verified access tokens each thread remembers (about 0.5 KB each). A client sends
/// the same token with every request for its whole lifetime, so a few hundred cover the clients
/// one worker serves at a time; past that the cache starts over.
const REMEMBERED_TOKENS: usize = 256;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessClaims {
    /// The user id (standard claim).
    pub sub: String,
    /// The user id again, under the seed's name.
    pub user_id: UserId,
    /// The user's e-mail address.
    pub email: String,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Always `access`.
    pub typ: String,
    /// Always [`ACCESS_ISSUER`].
    pub iss: String,
    /// Always [`ACCESS_AUDIENCE`].
    pub aud: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// A unique token id.
    pub jti: Uuid,
}

/// The claims of a service token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceClaims {
    /// The calling service's name (`worker`).
    pub sub: String,
    /// Always `service`.
    pub typ: String,
    /// Always [`INTERNAL`].
    pub iss: String,
    /// Always [`INTERNAL`].
    pub aud: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at, at most [`SERVICE_TOKEN_TTL`] after `iat`.
    pub exp: i64,
    /// A unique token id.
    pub jti: Uuid,
}

/// The claims of a client-hop token: the gateway vouching, for one proxied request, for the
/// client address it resolved (`TRUSTED_PROXIES` and all), so the service behind it needs no
/// network configuration to tell clients apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientHopClaims {
    /// Always `gateway`.
    pub sub: String,
    /// Always `client-hop`, so it is never mistaken for a service token.
    pub typ: String,
    /// Always [`INTERNAL`].
    pub iss: String,
    /// Always [`INTERNAL`].
    pub aud: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at, [`CLIENT_HOP_TTL`] after `iat`.
    pub exp: i64,
    /// The client's address.
    pub addr: IpAddr,
}

/// Why a token was refused; the client only ever sees a generic 401.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Signature, expiry, issuer, audience or algorithm failed.
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    /// A well-signed token of the wrong kind or with inconsistent claims.
    #[error("invalid token: {0}")]
    Claims(&'static str),
}

/// Issues and verifies both kinds of token. Cheap to clone; put it in the app data.
#[derive(Clone)]
pub struct Tokens {
    access_enc: EncodingKey,
    access_dec: DecodingKey,
    service_enc: EncodingKey,
    service_dec: DecodingKey,
    access_ttl: Duration,
    access_validation: Validation,
    service_validation: Validation,
    /// Which keys these are, for the cache of verified access tokens: clones share it (and the
    /// keys), another `Tokens` (tests make several per thread) never sees this one's entries.
    keys_id: u64,
}

/// Gives each [`Tokens::new`] its own `keys_id`.
static NEXT_KEYS_ID: AtomicU64 = AtomicU64::new(1);

/// An access token this thread verified, and what it said.
struct Remembered {
    keys_id: u64,
    exp: i64,
    user: AuthUser,
}

thread_local! {
    /// Access tokens verified on this thread, by their exact text. Verifying a token (base64,
    /// HMAC and two JSON parses of its claims) was the largest cost in the gateway's part of a
    /// request (ARCHITECTURE.md, "Performance"); a client sends the same token until it expires,
    /// so each worker verifies it once and then only checks `exp`. Per thread, so no lock.
    static VERIFIED: RefCell<HashMap<Box<str>, Remembered>> = RefCell::new(HashMap::new());
}

fn validation(issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = EXP_LEEWAY_SECS;
    v
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Refuses an `iat` later than now plus [`ISSUED_AT_LEEWAY`].
fn issued_in_the_past(iat: i64) -> Result<(), TokenError> {
    let leeway = i64::try_from(ISSUED_AT_LEEWAY.as_secs()).unwrap_or(0);
    if iat > now().saturating_add(leeway) {
        return Err(TokenError::Claims("issued in the future"));
    }
    Ok(())
}

impl Tokens {
    /// Keys and lifetimes from the token settings.
    pub fn new(settings: &TokenSettings) -> Self {
        Self {
            access_enc: EncodingKey::from_secret(settings.jwt_secret.expose().as_bytes()),
            access_dec: DecodingKey::from_secret(settings.jwt_secret.expose().as_bytes()),
            service_enc: EncodingKey::from_secret(settings.internal_secret.expose().as_bytes()),
            service_dec: DecodingKey::from_secret(settings.internal_secret.expose().as_bytes()),
            access_ttl: settings.access_ttl,
            access_validation: validation(ACCESS_ISSUER, ACCESS_AUDIENCE),
            service_validation: validation(INTERNAL, INTERNAL),
            keys_id: NEXT_KEYS_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The user of an access token this thread verified with these keys, if it has not expired
    /// by `now` (with the same leeway as a full verification). Only the exact text that was
    /// verified matches: a token changed in any byte is verified afresh.
    fn recall(&self, token: &str, now: i64) -> Option<AuthUser> {
        let oldest = now.saturating_sub_unsigned(EXP_LEEWAY_SECS);
        VERIFIED.with_borrow(|seen| {
            seen.get(token)
                .filter(|r| r.keys_id == self.keys_id && r.exp >= oldest)
                .map(|r| r.user.clone())
        })
    }

    /// Remembers a verified access token for [`Tokens::recall`]. At [`REMEMBERED_TOKENS`] the
    /// expired entries go, and if that frees nothing, all of them.
    fn remember(&self, token: &str, exp: i64, user: &AuthUser, now: i64) {
        let oldest = now.saturating_sub_unsigned(EXP_LEEWAY_SECS);
        VERIFIED.with_borrow_mut(|seen| {
            if seen.len() >= REMEMBERED_TOKENS {
                seen.retain(|_, r| r.exp >= oldest);
                if seen.len() >= REMEMBERED_TOKENS {
                    seen.clear();
                }
            }
            seen.insert(
                token.into(),
                Remembered {
                    keys_id: self.keys_id,
                    exp,
                    user: user.clone(),
                },
            );
        });
    }

    /// The access token lifetime (`expiresIn` in login responses).
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Issues an access token for a user.
    pub fn issue_access(&self, user_id: UserId, email: &str, role: Role) -> anyhow::Result<String> {
        let iat = now();
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = AccessClaims {
            sub: user_id.to_string(),
            user_id,
            email: email.to_owned(),
            role,
            typ: "access".to_owned(),
            iss: ACCESS_ISSUER.to_owned(),
            aud: ACCESS_AUDIENCE.to_owned(),
            iat,
            exp: iat.saturating_add(ttl),
            jti: Uuid::new_v4(),
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.access_enc,
        )?)
    }

    /// Verifies an access token and its claims.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims =
            decode::<AccessClaims>(token, &self.access_dec, &self.access_validation)?.claims;
        if claims.typ != "access" {
            return Err(TokenError::Claims("not an access token"));
        }
        if claims.sub != claims.user_id.to_string() {
            return Err(TokenError::Claims("sub and userId differ"));
        }
        issued_in_the_past(claims.iat)?;
        Ok(claims)
    }

    /// Issues a service token naming the calling service.
    pub fn issue_service(&self, service: &str) -> anyhow::Result<String> {
        let iat = now();
        let claims = ServiceClaims {
            sub: service.to_owned(),
            typ: "service".to_owned(),
            iss: INTERNAL.to_owned(),
            aud: INTERNAL.to_owned(),
            iat,
            exp: iat + SERVICE_TOKEN_TTL.as_secs() as i64,
            jti: Uuid::new_v4(),
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.service_enc,
        )?)
    }

    /// Issues a client-hop token naming the client `addr` of one proxied request.
    pub fn issue_client_hop(&self, addr: IpAddr) -> anyhow::Result<String> {
        let iat = now();
        let claims = ClientHopClaims {
            sub: "gateway".to_owned(),
            typ: CLIENT_HOP.to_owned(),
            iss: INTERNAL.to_owned(),
            aud: INTERNAL.to_owned(),
            iat,
            exp: iat + CLIENT_HOP_TTL.as_secs() as i64,
            addr,
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.service_enc,
        )?)
    }

    /// Verifies a client-hop token; `Ok` is the client address it names.
    pub fn verify_client_hop(&self, token: &str) -> Result<IpAddr, TokenError> {
        let claims =
            decode::<ClientHopClaims>(token, &self.service_dec, &self.service_validation)?.claims;
        if claims.typ != CLIENT_HOP {
            return Err(TokenError::Claims("not a client-hop token"));
        }
        if claims.exp - claims.iat > CLIENT_HOP_TTL.as_secs() as i64 {
            return Err(TokenError::Claims("client-hop token lives too long"));
        }
        issued_in_the_past(claims.iat)?;
        Ok(claims.addr)
    }

    /// Verifies a service token and its claims.
    pub fn verify_service(&self, token: &str) -> Result<ServiceClaims, TokenError> {
        let claims =
            decode::<ServiceClaims>(token, &self.service_dec, &self.service_validation)?.claims;
        if claims.typ != "service" {
            return Err(TokenError::Claims("not a service token"));
        }
        if claims.exp - claims.iat > SERVICE_TOKEN_TTL.as_secs() as i64 {
            return Err(TokenError::Claims("service token lives too long"));
        }
        issued_in_the_past(claims.iat)?;
        Ok(claims)
    }
}

/// The bearer token of a request, if it has a well-formed `Authorization: Bearer` header.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    // `from_utf8` rather than `HeaderValue::to_str`, which checks a 300-byte token one byte at a
    // time (5,400 instructions per request under callgrind, 5% of a `GET /tasks/{id}`); a token
    // with bytes that are not visible ASCII is refused by its verification instead.
    let value = std::str::from_utf8(req.headers().get(header::AUTHORIZATION)?.as_bytes()).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

fn tokens(req: &HttpRequest) -> Result<&Tokens, ApiError> {
    req.app_data::<web::Data<Tokens>>()
        .map(|d| d.get_ref())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("Tokens missing from app data")))
}

/// The authenticated user of a request (an access token in `Authorization: Bearer`).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthUser {
    /// The user's id.
    pub id: UserId,
    /// The user's e-mail address, as of the token.
    pub email: String,
    /// The user's role, as of the token.
    pub role: Role,
}

impl AuthUser {
    /// Whether the user is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Checks an access token (also used by the gateway's pre-check and the SSE query token).
    /// A token this thread verified before is only checked for expiry ([`Tokens::recall`]).
    pub fn from_token(tokens: &Tokens, token: &str) -> Result<Self, ApiError> {
        let now = now();
        if let Some(user) = tokens.recall(token, now) {
            return Ok(user);
        }
        match tokens.verify_access(token) {
            Ok(c) => {
                let user = AuthUser {
                    id: c.user_id,
                    email: c.email,
                    role: c.role,
                };
                tokens.remember(token, c.exp, &user, now);
                Ok(user)
            }
            Err(e) => {
                tracing::debug!(error = %e, "access token refused");
                Err(ApiError::bad_token(
                    "the access token is invalid or expired",
                ))
            }
        }
    }

    fn extract(req: &HttpRequest) -> Result<Self, ApiError> {
        if let Some(Verified(user)) = req.extensions().get::<Verified>() {
            return Ok(user.clone());
        }
        let token =
            bearer(req).ok_or_else(|| ApiError::bad_token("a bearer access token is required"))?;
        Self::from_token(tokens(req)?, token)
    }
}

/// The user of an access token the gateway module verified for this request, kept in the
/// request's extensions so a domain in the same process does not verify it again. Only this
/// crate can make one, and extensions never cross the network: in the split deployment each
/// domain verifies the token itself.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(crate) struct Verified(pub(crate) AuthUser);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::extract(req))
    }
}

/// An authenticated administrator; any other user gets 403.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminUser(pub AuthUser);

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(AuthUser::extract(req).and_then(|user| {
            if user.is_admin() {
                Ok(AdminUser(user))
            } else {
                Err(ApiError::Forbidden(
                    "this route is for administrators".to_owned(),
                ))
            }
        }))
    }
}

/// Another Tessera process calling an internal route with a service token.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCaller {
    /// The calling service's name.
    pub service: String,
}

impl FromRequest for ServiceCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let token =
                bearer(req).ok_or_else(|| ApiError::bad_token("a service token is required"))?;
            match tokens(req)?.verify_service(token) {
                Ok(c) => Ok(ServiceCaller { service: c.sub }),
                Err(e) => {
                    tracing::debug!(error = %e, "service token refused");
                    Err(ApiError::bad_token(
                        "the service token is invalid or expired",
                    ))
                }
            }
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn tokens() -> Tokens {
        Tokens::new(&TokenSettings {
            jwt_secret: Secret::new("a".repeat(40)),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
            internal_secret: Secret::new("b".repeat(40)),
        })
    }

    /// An access token for a new administrator, and the administrator's id.
    fn admin_token(t: &Tokens) -> (UserId, String) {
        let id = UserId(Uuid::new_v4());
        let token = t
            .issue_access(id, "a@example.com", Role::Admin)
            .unwrap_or_default();
        (id, token)
    }

    #[test]
    fn an_access_token_round_trips_with_every_claim() {
        let t = tokens();
        let (id, token) = admin_token(&t);
        let claims = t.verify_access(&token).ok();
        let claims = claims.as_ref();
        assert_eq!(claims.map(|c| c.user_id), Some(id));
        assert_eq!(claims.map(|c| c.sub.clone()), Some(id.to_string()));
        assert_eq!(claims.map(|c| c.role), Some(Role::Admin));
        assert_eq!(claims.map(|c| c.exp - c.iat), Some(900));
    }

    #[test]
    fn a_verified_token_is_remembered_for_its_keys_until_it_expires() {
        let t = tokens();
        let (id, token) = admin_token(&t);
        let now = now();
        assert_eq!(t.recall(&token, now), None, "nothing verified yet");
        let user = AuthUser::from_token(&t, &token).ok();
        assert_eq!(user.as_ref().map(|u| u.id), Some(id));
        assert_eq!(t.recall(&token, now), user);
        assert_eq!(t.clone().recall(&token, now), user, "clones share the keys");
        // Same secret, but another `Tokens`: it verifies for itself.
        assert_eq!(tokens().recall(&token, now), None);

        let exp = t.verify_access(&token).map(|c| c.exp).unwrap_or_default();
        let leeway = EXP_LEEWAY_SECS as i64;
        assert_eq!(t.recall(&token, exp + leeway), user, "within the leeway");
        assert_eq!(t.recall(&token, exp + leeway + 1), None, "expired");

        // One byte changed: not the remembered text, so verified afresh, and refused.
        // (Not the last character: some of its bits are padding.)
        let mut forged = token.clone();
        let at = forged.len() - 5;
        let other = if &forged[at..=at] == "x" { "y" } else { "x" };
        forged.replace_range(at..=at, other);
        assert_eq!(t.recall(&forged, now), None);
        assert!(AuthUser::from_token(&t, &forged).is_err());
    }

    #[test]
    fn the_remembered_tokens_stay_bounded() {
        let t = tokens();
        let user = AuthUser {
            id: UserId(Uuid::new_v4()),
            email: "a@example.com".to_owned(),
            role: Role::User,
        };
        let now = now();
        for i in 0..REMEMBERED_TOKENS + 10 {
            t.remember(&format!("token-{i}"), now + 60, &user, now);
        }
        let held = VERIFIED.with_borrow(HashMap::len);
        assert!(
            (1..=REMEMBERED_TOKENS).contains(&held),
            "{held} tokens remembered"
        );
        assert_eq!(
            t.recall(&format!("token-{}", REMEMBERED_TOKENS + 9), now),
            Some(user)
        );
    }

    #[test]
    fn a_service_token_is_not_an_access_token_and_vice_versa() {
        let t = tokens();
        let service = t.issue_service("worker").unwrap_or_default();
        assert!(t.verify_access(&service).is_err());
        let access = t
            .issue_access(UserId(Uuid::new_v4()), "a@example.com", Role::User)
            .unwrap_or_default();
        assert!(t.verify_service(&access).is_err());
        assert_eq!(
            t.verify_service(&service).ok().map(|c| c.sub),
            Some("worker".to_owned())
        );
    }

    fn signed(secret: &str, claims: &serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap_or_default()
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused() {
        let t = tokens();
        let service = |iat: i64| {
            serde_json::json!({
                "sub": "worker", "typ": "service", "iss": INTERNAL, "aud": INTERNAL,
                "iat": iat, "exp": iat + 300, "jti": Uuid::new_v4(),
            })
        };
        // Five minutes by its own claims, but valid for a year and five minutes from now.
        let year = now() + 365 * 86_400;
        assert!(
            t.verify_service(&signed(&"b".repeat(40), &service(year)))
                .is_err()
        );
        assert!(
            t.verify_service(&signed(&"b".repeat(40), &service(now() + 3600)))
                .is_err()
        );
        // A clock a few seconds ahead is fine.
        assert!(
            t.verify_service(&signed(&"b".repeat(40), &service(now() + 10)))
                .is_ok()
        );
        assert!(
            t.verify_service(&signed(&"b".repeat(40), &service(now())))
                .is_ok()
        );
        let id = UserId(Uuid::new_v4());
        let access = |iat: i64| {
            serde_json::json!({
                "sub": id.to_string(), "userId": id, "email": "a@example.com", "role": "USER",
                "typ": "access", "iss": ACCESS_ISSUER, "aud": ACCESS_AUDIENCE,
                "iat": iat, "exp": iat + 900, "jti": Uuid::new_v4(),
            })
        };
        assert!(
            t.verify_access(&signed(&"a".repeat(40), &access(now() + 3600)))
                .is_err()
        );
        assert!(
            t.verify_access(&signed(&"a".repeat(40), &access(now())))
                .is_ok()
        );
    }

    #[test]
    fn a_client_hop_token_names_the_client_and_is_no_service_token() {
        let t = tokens();
        let addr: IpAddr = "2001:db8::7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let hop = t.issue_client_hop(addr).unwrap_or_default();
        assert_eq!(t.verify_client_hop(&hop).ok(), Some(addr));
        assert!(t.verify_service(&hop).is_err());
        let service = t.issue_service("worker").unwrap_or_default();
        assert!(t.verify_client_hop(&service).is_err());
        // Like service tokens, a hop token dated in the future is refused.
        let future = now() + 3600;
        let claims = serde_json::json!({
            "sub": "gateway", "typ": CLIENT_HOP, "iss": INTERNAL, "aud": INTERNAL,
            "iat": future, "exp": future + 30, "addr": addr,
        });
        assert!(
            t.verify_client_hop(&signed(&"b".repeat(40), &claims))
                .is_err()
        );
    }

    #[actix_web::test]
    async fn each_extractor_accepts_only_its_own_kind_of_caller() {
        use actix_web::{App, test};
        let t = tokens();
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(t.clone()))
                .route(
                    "/user",
                    web::get().to(|u: AuthUser| async move { u.id.to_string() }),
                )
                .route("/admin", web::get().to(|_a: AdminUser| async { "admin" }))
                .route(
                    "/internal",
                    web::get().to(|s: ServiceCaller| async move { s.service }),
                ),
        )
        .await;
        let user = t
            .issue_access(UserId(Uuid::new_v4()), "u@example.com", Role::User)
            .unwrap_or_default();
        let admin = t
            .issue_access(UserId(Uuid::new_v4()), "a@example.com", Role::Admin)
            .unwrap_or_default();
        let service = t.issue_service("worker").unwrap_or_default();
        let status = |path: &'static str, token: Option<String>| {
            let mut req = test::TestRequest::get().uri(path);
            if let Some(token) = token {
                req = req.insert_header((header::AUTHORIZATION, format!("Bearer {token}")));
            }
            let app = &app;
            async move {
                test::call_service(app, req.to_request())
                    .await
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(status("/user", Some(user.clone())).await, 200);
        assert_eq!(status("/user", Some(service.clone())).await, 401);
        assert_eq!(status("/user", None).await, 401);
        assert_eq!(status("/admin", Some(user.clone())).await, 403);
        assert_eq!(status("/admin", Some(admin.clone())).await, 200);
        assert_eq!(status("/admin", None).await, 401);
        assert_eq!(status("/internal", Some(service)).await, 200);
        assert_eq!(status("/internal", Some(admin)).await, 401);
        assert_eq!(status("/internal", None).await, 401);
    }

    #[test]
    fn a_user_the_gateway_verified_is_not_verified_again() {
        use actix_web::test;
        let user = AuthUser {
            id: UserId(Uuid::new_v4()),
            email: "v@example.com".to_owned(),
            role: Role::User,
        };
        // No `Tokens` in the app data and a token nobody could verify: only the gateway's mark
        // can make this extraction succeed.
        let req = test::TestRequest::get()
            .insert_header((header::AUTHORIZATION, "Bearer not-a-token"))
            .to_http_request();
        assert!(AuthUser::extract(&req).is_err());
        req.extensions_mut().insert(Verified(user.clone()));
        assert_eq!(AuthUser::extract(&req).ok(), Some(user));
    }
}
