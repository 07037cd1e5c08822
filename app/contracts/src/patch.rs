//! Three-state fields for `PATCH` bodies: absent (leave as is), `null` (clear), or a value.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A field of a `PATCH` body. Use with `#[serde(default)]` so an absent field is [`Patch::Keep`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// The field was not in the body: keep the stored value.
    #[default]
    Keep,
    /// The field was `null`: clear the stored value.
    Clear,
    /// The field had a value: store it.
    Set(T),
}

impl<T> Patch<T> {
    /// Whether the body mentioned the field at all.
    pub fn is_present(&self) -> bool {
        !matches!(self, Patch::Keep)
    }

    /// Whether the field is absent; for `#[serde(skip_serializing_if = "Patch::is_keep")]`, so a
    /// client serialising a body leaves `Keep` fields out instead of sending `null` (clear).
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }

    /// Maps the value, keeping `Keep` and `Clear`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Clear,
            Patch::Set(v) => Patch::Set(f(v)),
        }
    }

    /// Borrows the value.
    pub fn as_ref(&self) -> Patch<&T> {
        match self {
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Clear,
            Patch::Set(v) => Patch::Set(v),
        }
    }

    /// As a nullable column's change: `None` keeps it, `Some(None)` clears it, `Some(Some(v))`
    /// sets it (the shape diesel's changesets take).
    pub fn into_option(self) -> Option<Option<T>> {
        match self {
            Patch::Keep => None,
            Patch::Clear => Some(None),
            Patch::Set(v) => Some(Some(v)),
        }
    }

    /// Maps the value through a fallible parse.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Patch<U>, E> {
        Ok(match self {
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Clear,
            Patch::Set(v) => Patch::Set(f(v)?),
        })
    }

    /// The change as diesel-friendly `Option<Option<T>>`: `None` keeps, `Some(None)` clears.
    pub fn into_change(self) -> Option<Option<T>> {
        match self {
            Patch::Keep => None,
            Patch::Clear => Some(None),
            Patch::Set(v) => Some(Some(v)),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only called when the field is present; absence is `#[serde(default)]`.
        Ok(match Option::<T>::deserialize(d)? {
            None => Patch::Clear,
            Some(v) => Patch::Set(v),
        })
    }
}

/// `Keep` serialises as `null` only when a field is not skipped; pair it with
/// `skip_serializing_if = "Patch::is_keep"`.
impl<T: Serialize> Serialize for Patch<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Patch::Keep | Patch::Clear => s.serialize_none(),
            Patch::Set(v) => v.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default)]
        bio: Patch<String>,
    }

    #[test]
    fn absent_null_and_value_are_three_different_things() {
        let parse = |s: &str| serde_json::from_str::<Body>(s).map(|b| b.bio).ok();
        assert_eq!(parse("{}"), Some(Patch::Keep));
        assert_eq!(parse(r#"{"bio":null}"#), Some(Patch::Clear));
        assert_eq!(parse(r#"{"bio":"hi"}"#), Some(Patch::Set("hi".to_owned())));
    }

    #[test]
    fn as_a_column_change_absent_keeps_null_clears_and_a_value_sets() {
        assert_eq!(Patch::<&str>::Keep.into_option(), None);
        assert_eq!(Patch::<&str>::Clear.into_option(), Some(None));
        assert_eq!(
            Patch::Set("hi".to_owned()).as_ref().into_option(),
            Some(Some(&"hi".to_owned()))
        );
    }
}
