//! The auth domain's JSON shapes and input rules. No server dependencies: the web app uses them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tessera_contracts::problem::FieldError;
use tessera_contracts::{Role, UserId};
use utoipa::ToSchema;

/// `POST /auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    /// A valid address of at most 254 characters as sent; stored trimmed and lower-cased.
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    pub email: String,
    /// 8 to 128 characters.
    #[schema(
        min_length = 8,
        max_length = 128,
        example = "correct horse battery staple"
    )]
    pub password: String,
    /// A display name: at most 100 characters as sent, not only whitespace (stored trimmed).
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB][^\u0000]*$",
        example = "Ada Lovelace"
    )]
    pub name: Option<String>,
}

/// The account a registration created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredUser {
    /// The user id.
    pub id: UserId,
    /// The normalised e-mail address.
    pub email: String,
    /// `USER` for every new account.
    pub role: Role,
    /// When the account was created.
    #[serde(with = "tessera_contracts::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

/// `201` of `POST /auth/register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegisterResponse {
    /// A human-readable confirmation.
    pub message: String,
    /// The new account.
    pub user: RegisteredUser,
}

/// `POST /auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's e-mail address (case and surrounding spaces do not matter).
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// The password.
    #[schema(example = "correct horse battery staple")]
    pub password: String,
}

/// The user a token pair was issued for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenUser {
    /// The user id.
    pub id: UserId,
    /// The e-mail address.
    pub email: String,
    /// The role now in the access token.
    pub role: Role,
}

/// `200` of `POST /auth/login` and `POST /auth/refresh`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// The access token (JWT) for `Authorization: Bearer`.
    pub access_token: String,
    /// The opaque refresh token; single use, rotated by every refresh.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// The access token's lifetime in seconds.
    pub expires_in: u64,
    /// Who the tokens are for.
    pub user: TokenUser,
}

/// `POST /auth/refresh` and `POST /auth/logout`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh. Required, except with
    /// `X-Tessera-Session: cookie` (the web app), where the body may be `{}` and the
    /// `tessera_refresh` cookie holds the token; a token sent here wins over the cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "3q2-7w6mV9sX0b1cY4dZ8eA5fB2gH7iJ6kL3mN0oP9")]
    pub refresh_token: Option<String>,
}

/// `200` of `GET /auth/me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    /// The user id.
    pub id: UserId,
    /// The e-mail address.
    pub email: String,
    /// The role as stored now (the token may be older).
    pub role: Role,
    /// When the account was created.
    #[serde(with = "tessera_contracts::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When the account last changed.
    #[serde(with = "tessera_contracts::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

/// `POST /auth/forgot-password`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    /// The account's e-mail address: a valid address of at most 254 characters.
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    pub email: String,
}

/// `POST /auth/reset-password`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token from the reset link: 43 characters of the URL-safe base64 alphabet. A token
    /// of that shape that was never issued, has expired or was spent is a 400 as well.
    #[schema(
        min_length = 43,
        max_length = 43,
        pattern = "^[A-Za-z0-9_-]{43}$",
        example = "kq3S0lJb2cS8rY6Wc1y9bV6Nn0dTg1bq2rZ7x1Gm5hA"
    )]
    pub token: String,
    /// The new password, 8 to 128 characters.
    #[schema(
        min_length = 8,
        max_length = 128,
        example = "correct horse battery staple"
    )]
    pub password: String,
}

/// A response that only carries a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageResponse {
    /// A human-readable message.
    pub message: String,
}

/// A normalised, plausible e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// The longest address accepted (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Trims, lower-cases and checks an address: one `@`, a non-empty local part, a domain with
    /// a dot and no empty labels, no whitespace or control characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = |message: &str| FieldError {
            field: "email".to_owned(),
            message: message.to_owned(),
        };
        // Counted as sent (the document's maxLength): neither trimming nor lower-casing, which
        // can change the number of characters, decides whether the limit holds.
        if raw.chars().count() > Self::MAX_LEN {
            return Err(bad("must be at most 254 characters"));
        }
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(bad("must not be empty"));
        }
        let valid = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && !domain.contains('@')
                    && domain.contains('.')
                    && domain.split('.').all(|label| !label.is_empty())
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if valid {
            Ok(Email(email))
        } else {
            Err(bad("must be a valid e-mail address"))
        }
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password within the length rules (8 to 128 characters).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Checks the length in characters (not bytes), as API.md states it.
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let n = raw.chars().count();
        if !(8..=128).contains(&n) {
            return Err(FieldError {
                field: field.to_owned(),
                message: "must be 8 to 128 characters".to_owned(),
            });
        }
        Ok(Password(raw.to_owned()))
    }

    /// The password.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A password-reset token as the e-mailed link carries it: 256 random bits in URL-safe base64
/// without padding, so exactly 43 characters of `A-Z a-z 0-9 - _`.
#[derive(Clone, PartialEq, Eq)]
pub struct ResetToken(String);

impl std::fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetToken(***)")
    }
}

impl ResetToken {
    /// The length of every token the auth service issues.
    pub const LEN: usize = 43;

    /// Checks the shape; whether the token was issued and is still good is the service's to say.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let shaped = raw.len() == Self::LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if shaped {
            Ok(ResetToken(raw.to_owned()))
        } else {
            Err(FieldError {
                field: "token".to_owned(),
                message: "must be the 43-character token from the reset link".to_owned(),
            })
        }
    }

    /// The token.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A display name: at most 100 characters as sent (the document's maxLength), not blank,
/// without U+0000 (which PostgreSQL cannot store in `text`); stored trimmed.
pub fn parse_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    // Zero-width and other invisible characters alone look exactly like an empty name.
    if tessera_contracts::text::is_blank(name) || raw.chars().count() > 100 {
        return Err(FieldError {
            field: "name".to_owned(),
            message: "must be 1 to 100 characters".to_owned(),
        });
    }
    tessera_contracts::text::refuse_nul("name", name)?;
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").map(|e| e.0),
            Ok("ada@example.com".to_owned())
        );
    }

    #[test]
    fn implausible_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn password_length_counts_characters() {
        assert!(Password::parse("1234567", "password").is_err());
        assert!(Password::parse("12345678", "password").is_ok());
        assert!(Password::parse(&"é".repeat(128), "password").is_ok());
        assert!(Password::parse(&"x".repeat(129), "password").is_err());
    }

    #[test]
    fn reset_tokens_have_the_shape_of_the_issued_ones() {
        let issued = "kq3S0lJb2cS8rY6Wc1y9bV6Nn0dTg1bq2rZ7x1Gm5hA";
        assert_eq!(
            ResetToken::parse(issued).map(|t| t.0),
            Ok(issued.to_owned())
        );
        let with_dash = format!("-_{}", &issued[2..]);
        assert!(ResetToken::parse(&with_dash).is_ok());
        for bad in [
            "",
            &issued[1..],
            &format!("{issued}A"),
            &format!("{}=", &issued[1..]),
            &format!("{}+", &issued[1..]),
            &format!("{}é", &issued[2..]),
            &format!(" {}", &issued[1..]),
        ] {
            assert!(ResetToken::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            format!("{:?}", ResetToken::parse(issued)),
            "Ok(ResetToken(***))"
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  Ada "), Ok("Ada".to_owned()));
        assert!(parse_name("   ").is_err());
        assert!(parse_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn limits_count_surrounding_whitespace_as_sent() {
        // The document's maxLength counts the string as sent, so padding counts too.
        assert!(parse_name(&format!("\t{}", "x".repeat(100))).is_err());
        assert_eq!(
            parse_name(&format!(" {} ", "x".repeat(98))),
            Ok("x".repeat(98))
        );
        let longest = format!("{}@{}.example.com", "a".repeat(64), "b".repeat(177));
        assert_eq!(longest.chars().count(), 254);
        assert!(Email::parse(&longest).is_ok());
        assert!(Email::parse(&format!(" {longest}")).is_err());
    }
}
