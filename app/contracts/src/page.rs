//! Paginated lists: `{"data": [...], "meta": {...}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
}
