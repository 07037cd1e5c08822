//! The user domain's JSON shapes and input rules. No server dependencies: the web app uses them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tessera_contracts::page::PageRequest;
use tessera_contracts::patch::Patch;
use tessera_contracts::problem::FieldError;
use tessera_contracts::text::refuse_nul;
use tessera_contracts::{Role, UserId};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A user's profile: `GET`/`PATCH /users/{id}` and the items of `GET /users`.
///
/// Every field is always present; `name`, `bio` and `avatar` are `null` when unset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The profile's own id.
    pub id: Uuid,
    /// The user id (the access token's `userId`); the `{id}` of `/users/{id}`.
    pub user_id: UserId,
    /// The account's e-mail address.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// The display name, 1 to 100 characters.
    #[schema(required = true, example = "Ada Lovelace")]
    pub name: Option<String>,
    /// A short text about the user, at most 500 characters.
    #[schema(required = true)]
    pub bio: Option<String>,
    /// An `https` URL of the user's picture, at most 2048 characters.
    #[schema(required = true, example = "https://example.com/ada.png")]
    pub avatar: Option<String>,
    /// The user's role, following the account's.
    pub role: Role,
    /// When the profile was created.
    #[serde(with = "tessera_contracts::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When the profile last changed.
    #[serde(with = "tessera_contracts::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

/// `PATCH /users/{id}`: each field absent (keep), `null` (clear) or a value (set); at least one
/// must be present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// A display name: at most 100 characters as sent, not only whitespace (stored trimmed);
    /// `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100, pattern = r"^[^\u0000]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB][^\u0000]*$", example = "Ada Lovelace")]
    pub name: Patch<String>,
    /// At most 500 characters; `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 500, pattern = r"^[^\u0000]*$", example = "Mathematician; writes the first programs.")]
    pub bio: Patch<String>,
    /// An `https` URL with a host, at most 2048 characters as sent; `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = "uri", pattern = "^https://", max_length = 2048, example = "https://example.com/ada.png")]
    pub avatar: Patch<String>,
}

/// A checked profile change: what [`UpdateProfileRequest::parse`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileUpdate {
    /// The new display name, trimmed.
    pub name: Patch<String>,
    /// The new bio.
    pub bio: Patch<String>,
    /// The new avatar URL.
    pub avatar: Patch<String>,
}

impl UpdateProfileRequest {
    /// Whether the body names no field at all (`{}`), which is refused.
    pub fn is_empty(&self) -> bool {
        !(self.name.is_present() || self.bio.is_present() || self.avatar.is_present())
    }

    /// Checks every present field, naming each bad one.
    pub fn parse(self) -> Result<ProfileUpdate, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut check = |r: Result<Patch<String>, FieldError>| {
            r.map_err(|e| errors.push(e)).unwrap_or_default()
        };
        let update = ProfileUpdate {
            name: check(self.name.try_map(|v| parse_name(&v))),
            bio: check(self.bio.try_map(|v| parse_bio(&v))),
            avatar: check(self.avatar.try_map(|v| parse_avatar(&v))),
        };
        if errors.is_empty() {
            Ok(update)
        } else {
            Err(errors)
        }
    }
}

fn field_error(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// The longest display name, in characters.
pub const NAME_MAX: usize = 100;
/// The longest bio, in characters.
pub const BIO_MAX: usize = 500;
/// The longest avatar URL, in characters.
pub const AVATAR_MAX: usize = 2048;
/// The longest list search text (`q`), in characters.
pub const SEARCH_MAX: usize = 100;

/// A display name: at most 100 characters as sent, not blank, stored trimmed.
///
/// Limits count the string as sent, as the document's `maxLength` states; trimming only decides
/// what is stored.
pub fn parse_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    // Zero-width and other invisible characters alone look exactly like an empty name.
    if tessera_contracts::text::is_blank(name) || raw.chars().count() > NAME_MAX {
        return Err(field_error("name", "must be 1 to 100 characters"));
    }
    refuse_nul("name", name)?;
    Ok(name.to_owned())
}

/// A bio: at most 500 characters, kept as written.
pub fn parse_bio(raw: &str) -> Result<String, FieldError> {
    if raw.chars().count() > BIO_MAX {
        return Err(field_error("bio", "must be at most 500 characters"));
    }
    refuse_nul("bio", raw)?;
    Ok(raw.to_owned())
}

/// An avatar: an absolute `https` URL with a host, at most 2048 characters as sent, stored
/// without surrounding whitespace.
///
/// The URL is stored as the client wrote it, so it must not contain whitespace or control
/// characters, which a URL parser would silently drop.
pub fn parse_avatar(raw: &str) -> Result<String, FieldError> {
    if raw.chars().count() > AVATAR_MAX {
        return Err(field_error("avatar", "must be at most 2048 characters"));
    }
    let avatar = raw.trim();
    let not_url = || field_error("avatar", "must be an https URL");
    if avatar.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(not_url());
    }
    let url = url::Url::parse(avatar).map_err(|_| not_url())?;
    let has_host = url.host_str().is_some_and(|h| !h.is_empty());
    if url.scheme() != "https" || !has_host {
        return Err(not_url());
    }
    Ok(avatar.to_owned())
}

/// The list search text `q`: at most 100 characters as sent, not blank, searched for trimmed.
pub fn parse_search(raw: &str) -> Result<String, FieldError> {
    let q = raw.trim();
    if q.is_empty() || raw.chars().count() > SEARCH_MAX {
        return Err(field_error("q", "must be 1 to 100 characters"));
    }
    refuse_nul("q", q)?;
    Ok(q.to_owned())
}

/// The query string of `GET /users`. Values are read as text and parsed by the use case, so
/// each bad one is a 400 naming its parameter; unknown parameters are refused too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// The page number, from 1 (default 1) to 4294967295.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 4294967295.0, example = 1)]
    pub page: Option<String>,
    /// The page size, 1 to 100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, example = 10)]
    pub limit: Option<String>,
    /// Case-insensitive text found in the name or the e-mail: at most 100 characters as sent,
    /// not only whitespace, searched for without surrounding whitespace.
    #[param(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$",
        example = "ada"
    )]
    pub q: Option<String>,
}

/// A valid `GET /users` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListUsers {
    /// Which page.
    pub page: PageRequest,
    /// The trimmed search text, matched against name and e-mail.
    pub q: Option<String>,
}

impl ListUsersQuery {
    /// Parses every parameter, naming each bad one.
    pub fn parse(&self) -> Result<ListUsers, Vec<FieldError>> {
        let mut errors = Vec::new();
        let page = PageRequest::parse(self.page.as_deref(), self.limit.as_deref(), &mut errors);
        let q = self
            .q
            .as_deref()
            .map(parse_search)
            .transpose()
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        if errors.is_empty() {
            Ok(ListUsers { page, q })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Result<UpdateProfileRequest, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn absent_null_and_values_are_told_apart() {
        let req = body(r#"{"name":" Ada ","bio":null}"#).unwrap_or_default();
        assert!(!req.is_empty());
        assert_eq!(
            req.parse(),
            Ok(ProfileUpdate {
                name: Patch::Set("Ada".to_owned()),
                bio: Patch::Clear,
                avatar: Patch::Keep,
            })
        );
        assert!(body("{}").is_ok_and(|r| r.is_empty()));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(body(r#"{"nmae":"Ada"}"#).is_err_and(|e| e.contains("nmae")));
    }

    #[test]
    fn every_bad_field_is_named() {
        let req = UpdateProfileRequest {
            name: Patch::Set(" ".to_owned()),
            bio: Patch::Set("b".repeat(501)),
            avatar: Patch::Set("http://example.com/a.png".to_owned()),
        };
        let fields: Vec<String> = req
            .parse()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["name", "bio", "avatar"]);
    }

    #[test]
    fn names_are_trimmed_and_bounded_in_characters() {
        assert_eq!(parse_name("  Ada "), Ok("Ada".to_owned()));
        assert!(parse_name("").is_err());
        assert!(parse_name("   ").is_err());
        assert!(parse_name(&"é".repeat(100)).is_ok());
        assert!(parse_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn bios_are_bounded_in_characters() {
        assert!(parse_bio("").is_ok());
        assert!(parse_bio(&"é".repeat(500)).is_ok());
        assert!(parse_bio(&"x".repeat(501)).is_err());
    }

    #[test]
    fn avatars_must_be_https_urls_with_a_host() {
        assert_eq!(
            parse_avatar(" https://cdn.example.com/a.png?s=64 "),
            Ok("https://cdn.example.com/a.png?s=64".to_owned())
        );
        for bad in [
            "http://example.com/a.png",
            "not a url",
            "example.com/a.png",
            "https://",
            "ftp://example.com/a.png",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "https://exa\nmple.com/a.png",
            "",
        ] {
            assert!(parse_avatar(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(parse_avatar(&long).is_err());
        let longest = format!("https://example.com/{}", "a".repeat(2048 - 20));
        assert_eq!(longest.len(), 2048);
        assert!(parse_avatar(&longest).is_ok());
    }

    #[test]
    fn a_list_query_names_every_bad_parameter() {
        let query = |page: &str, q: &str| ListUsersQuery {
            page: Some(page.to_owned()),
            limit: None,
            q: Some(q.to_owned()),
        };
        let list = query("2", " ada ").parse().unwrap_or_default();
        assert_eq!((list.page.page, list.q.as_deref()), (2, Some("ada")));
        let errors = query("0", "  ").parse().err().unwrap_or_default();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["page", "q"]);
    }

    #[test]
    fn search_text_is_trimmed_and_bounded() {
        assert_eq!(parse_search(" ada "), Ok("ada".to_owned()));
        assert!(parse_search("  ").is_err());
        assert!(parse_search(&"q".repeat(101)).is_err());
    }

    #[test]
    fn limits_count_surrounding_whitespace_as_sent() {
        // The document's maxLength counts the string as sent, so padding counts too.
        assert!(parse_name(&format!("\t{}", "x".repeat(100))).is_err());
        assert_eq!(
            parse_name(&format!(" {} ", "x".repeat(98))),
            Ok("x".repeat(98))
        );
        assert!(parse_search(&format!(" {}", "q".repeat(100))).is_err());
        assert_eq!(
            parse_search(&format!(" {} ", "q".repeat(98))),
            Ok("q".repeat(98))
        );
        let longest = format!("https://example.com/{}", "a".repeat(2048 - 20));
        assert!(parse_avatar(&format!(" {longest}")).is_err());
    }

    #[test]
    fn profiles_serialise_every_field_with_nulls_and_millisecond_timestamps() {
        use chrono::TimeZone;
        let at = Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .single()
            .unwrap_or_default();
        let profile = Profile {
            id: Uuid::nil(),
            user_id: UserId(Uuid::nil()),
            email: "ada@example.com".to_owned(),
            name: None,
            bio: None,
            avatar: None,
            role: Role::User,
            created_at: at,
            updated_at: at,
        };
        let json = serde_json::to_value(&profile).unwrap_or_default();
        assert_eq!(json.as_object().map(|o| o.len()), Some(9), "{json}");
        assert!(json["name"].is_null() && json["bio"].is_null() && json["avatar"].is_null());
        assert_eq!(json["createdAt"], "2026-11-25T10:00:00.000Z");
        assert_eq!(json["role"], "USER");
    }
}
