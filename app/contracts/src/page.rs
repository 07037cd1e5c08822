//! Paginated lists: `{"data": [...], "meta": {...}}`.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::FieldError;

/// The largest `limit` a list accepts.
pub const MAX_LIMIT: u32 = 100;
/// The `limit` when a client sends none.
pub const DEFAULT_LIMIT: u32 = 10;

/// Where a page sits in the whole list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageMeta {
    /// The page number, from 1.
    pub page: u32,
    /// The page size.
    pub limit: u32,
    /// How many items the whole list holds.
    pub total: u64,
    /// How many pages the whole list has (0 for an empty list).
    pub total_pages: u64,
}

impl PageMeta {
    /// The meta of page `page` of size `limit` over `total` items.
    pub fn new(page: u32, limit: u32, total: u64) -> Self {
        let total_pages = if limit == 0 {
            0
        } else {
            total.div_ceil(u64::from(limit))
        };
        Self {
            page,
            limit,
            total,
            total_pages,
        }
    }
}

/// A validated page request: the `page` and `limit` of a list query.
///
/// Query strings are deserialised as strings first and parsed here, so every bad value is a 400
/// naming its parameter rather than serde's generic message.
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

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items on this page, newest first unless sorted otherwise.
    pub data: Vec<T>,
    /// Where this page sits.
    pub meta: PageMeta,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_pages_rounds_up_and_is_zero_for_an_empty_list() {
        assert_eq!(PageMeta::new(1, 10, 0).total_pages, 0);
        assert_eq!(PageMeta::new(1, 10, 10).total_pages, 1);
        assert_eq!(PageMeta::new(1, 10, 11).total_pages, 2);
    }

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
}
