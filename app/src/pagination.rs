//! List parameters shared by every paginated route: `page` (>= 1) and `limit` (1..=100).
//!
//! Query strings are deserialised as strings first and parsed here, so every bad value is a 400
//! naming its parameter rather than serde's generic message.

use std::str::FromStr;

use tessera_contracts::page::{DEFAULT_LIMIT, MAX_LIMIT, PageMeta};
use tessera_contracts::problem::FieldError;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// The page number, from 1.
    pub page: u32,
    /// The page size, 1 to [`MAX_LIMIT`].
    pub limit: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl PageRequest {
    /// Parses `page` and `limit`, adding an error per bad value to `errors`.
    pub fn parse(page: Option<&str>, limit: Option<&str>, errors: &mut Vec<FieldError>) -> Self {
        let page = parse_param::<u32>("page", page, errors)
            .map(|p| check(p >= 1, p, "page", "must be at least 1", errors))
            .unwrap_or(Some(1));
        let limit = parse_param::<u32>("limit", limit, errors)
            .map(|l| {
                check(
                    (1..=MAX_LIMIT).contains(&l),
                    l,
                    "limit",
                    "must be between 1 and 100",
                    errors,
                )
            })
            .unwrap_or(Some(DEFAULT_LIMIT));
        Self {
            page: page.unwrap_or(1),
            limit: limit.unwrap_or(DEFAULT_LIMIT),
        }
    }

    /// The SQL `OFFSET` of this page.
    pub fn offset(&self) -> i64 {
        i64::from(self.page.saturating_sub(1)) * i64::from(self.limit)
    }

    /// The SQL `LIMIT` of this page.
    pub fn limit(&self) -> i64 {
        i64::from(self.limit)
    }

    /// The response meta for a list of `total` items.
    pub fn meta(&self, total: i64) -> PageMeta {
        PageMeta::new(self.page, self.limit, u64::try_from(total).unwrap_or(0))
    }
}

fn check<T>(ok: bool, v: T, field: &str, message: &str, errors: &mut Vec<FieldError>) -> Option<T> {
    if ok {
        Some(v)
    } else {
        errors.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        });
        None
    }
}

/// Parses one query parameter: `None` when absent; on a bad value, records an error naming
/// `field` and returns `None`.
pub fn parse_param<T: FromStr>(
    field: &str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let raw = raw?;
    match raw.trim().parse::<T>() {
        Ok(v) => Some(v),
        Err(_) => {
            errors.push(FieldError {
                field: field.to_owned(),
                message: format!("`{raw}` is not a valid value"),
            });
            None
        }
    }
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a SQL `LIKE` pattern.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_absent() {
        let mut errors = Vec::new();
        assert_eq!(
            PageRequest::parse(None, None, &mut errors),
            PageRequest { page: 1, limit: 10 }
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn every_bad_value_names_its_parameter() {
        for (page, limit, field) in [
            (Some("0"), None, "page"),
            (Some("-1"), None, "page"),
            (Some("abc"), None, "page"),
            (None, Some("0"), "limit"),
            (None, Some("101"), "limit"),
            (None, Some("1.5"), "limit"),
            (Some("99999999999"), None, "page"),
        ] {
            let mut errors = Vec::new();
            PageRequest::parse(page, limit, &mut errors);
            assert_eq!(
                errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{page:?} {limit:?}"
            );
        }
    }

    #[test]
    fn offsets_follow_pages() {
        assert_eq!(PageRequest { page: 3, limit: 20 }.offset(), 40);
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }
}
