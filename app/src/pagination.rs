//! List parameters shared by every paginated route: `page` (>= 1) and `limit` (1..=100), parsed
//! in `tessera_contracts::page` so each domain's `wire` parses a whole list query, and the SQL
//! side of searching.

pub use tessera_contracts::page::{PageRequest, parse_param};

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
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }
}
