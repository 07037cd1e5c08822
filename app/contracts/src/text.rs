//! What counts as visible text, for titles and names that must say something; and the one rule
//! every stored text follows, no U+0000 ([`refuse_nul`]).
//!
//! A title made only of zero-width spaces, word joiners, byte-order marks or soft hyphens looks
//! exactly like a blank one in every list, so it is refused like one. The OpenAPI documents state
//! the same rule as [`NOT_BLANK_PATTERN`]; the two must name the same characters.

use crate::problem::FieldError;

/// The message for text that contains U+0000.
pub const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// Whether `text` holds U+0000 (see [`refuse_nul`]).
pub fn contains_nul(text: &str) -> bool {
    text.contains('\0')
}

/// Refuses `text` when it holds U+0000, naming `field`: PostgreSQL stores that character neither
/// in `text` nor in `jsonb`, so every text a domain stores is checked here.
pub fn refuse_nul(field: &str, text: &str) -> Result<(), FieldError> {
    if contains_nul(text) {
        Err(FieldError {
            field: field.to_owned(),
            message: NUL_MESSAGE.to_owned(),
        })
    } else {
        Ok(())
    }
}

/// Whether `c` shows nothing on its own: whitespace (Unicode `White_Space`), control characters
/// (`Cc`), the invisible format characters (soft hyphen, zero-width space and joiners, bidi
/// marks and isolates, word joiner and invisible operators, the byte-order mark, interlinear
/// annotation marks), variation selectors, the combining grapheme joiner, Mongolian free
/// variation selectors, Hangul fillers and the braille blank.
///
/// Only characters of the Basic Multilingual Plane are listed, because the documents' patterns
/// (ECMA-262 regular expressions without the `u` flag) cannot name others.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// Whether `s` shows nothing: empty, or only [`is_invisible`] characters.
pub fn is_blank(s: &str) -> bool {
    s.chars().all(is_invisible)
}

/// The OpenAPI `pattern` of a text that must show something and holds no U+0000: at least one
/// character that is not [`is_invisible`]. Kept in step with the schema attributes that repeat
/// it literally (attributes take literals only); a unit test checks they agree.
pub const NOT_BLANK_PATTERN: &str = r"^[^\u0000]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB][^\u0000]*$";

#[cfg(test)]
mod tests {
    use super::*;

    /// The character class of [`NOT_BLANK_PATTERN`], as ranges.
    fn pattern_ranges() -> Vec<(u32, u32)> {
        let class = NOT_BLANK_PATTERN
            .split_once("*[^")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(class, _)| class)
            .unwrap_or_default();
        let points: Vec<&str> = class.split("\\u").filter(|p| !p.is_empty()).collect();
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < points.len() {
            let (hex, dash) = match points[i].strip_suffix('-') {
                Some(h) => (h, true),
                None => (points[i], false),
            };
            let start = u32::from_str_radix(hex, 16).unwrap_or(u32::MAX);
            if dash {
                let end = u32::from_str_radix(points[i + 1], 16).unwrap_or(0);
                ranges.push((start, end));
                i += 2;
            } else {
                ranges.push((start, start));
                i += 1;
            }
        }
        ranges
    }

    #[test]
    fn the_pattern_and_the_check_name_the_same_characters() {
        let ranges = pattern_ranges();
        assert!(ranges.len() > 10, "{ranges:?}");
        for code in 0..=0xFFFF_u32 {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let in_pattern = ranges.iter().any(|(a, b)| (*a..=*b).contains(&code));
            assert_eq!(in_pattern, is_invisible(c), "U+{code:04X}");
        }
    }

    #[test]
    fn only_invisible_text_is_blank() {
        for blank in [
            "",
            " \t",
            "\u{200B}",
            "\u{2060}\u{FEFF}",
            "\u{00AD}",
            " \u{200D} \u{3164}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for shown in ["a", "\u{200B}x\u{200B}", "·", "\u{1F600}", "é"] {
            assert!(!is_blank(shown), "{shown:?}");
        }
    }
}
