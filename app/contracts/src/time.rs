//! Timestamps on the wire: RFC 3339, UTC, milliseconds (`2026-11-25T10:00:00.000Z`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Formats a timestamp the way every Tessera response does.
pub fn format(ts: &DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `#[serde(with = "tessera_contracts::time::millis")]` for `DateTime<Utc>` fields.
pub mod millis {
    use super::*;

    /// Serialises with millisecond precision and a `Z` suffix.
    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(ts))
    }

    /// Accepts any RFC 3339 timestamp and converts it to UTC.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// The same as [`millis`] for `Option<DateTime<Utc>>` fields.
pub mod millis_opt {
    use super::*;

    /// Serialises `None` as `null`.
    pub fn serialize<S: Serializer>(ts: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => s.serialize_str(&format(ts)),
            None => s.serialize_none(),
        }
    }

    /// Accepts `null` or any RFC 3339 timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        raw.map(|raw| {
            DateTime::parse_from_rfc3339(&raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_milliseconds_and_a_z_suffix() {
        let ts = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).single();
        assert_eq!(
            ts.map(|t| format(&t)).as_deref(),
            Some("2026-11-25T10:00:00.000Z")
        );
    }
}
