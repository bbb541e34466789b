//! The sync cursor of a connector that captures changes, and WAL positions.
//!
//! The host writes the cursor (JSON text); the plugin hands it back unchanged and
//! Elasticsearch stores it in the connector's `sync_cursor`. The host checks
//! everything it reads back: the slot must be the connector's own, and the
//! position a WAL position.

use serde::{Deserialize, Serialize};

use super::ChangeError;

/// A WAL position (`pg_lsn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Parses PostgreSQL's `X/Y` form.
    pub fn parse(s: &str) -> Option<Lsn> {
        let (hi, lo) = s.trim().split_once('/')?;
        let hi = u64::from_str_radix(hi, 16).ok()?;
        let lo = u64::from_str_radix(lo, 16).ok()?;
        if hi > u64::from(u32::MAX) || lo > u64::from(u32::MAX) {
            return None;
        }
        Some(Lsn((hi << 32) | lo))
    }
}

impl std::fmt::Display for Lsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// What `sync_cursor` holds for a connector whose changes are captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The connector's replication slot.
    pub slot: String,
    /// Every change committed before this position is in Elasticsearch; the slot
    /// is advanced to it when the next incremental sync starts.
    pub lsn: String,
    /// The schema and tables the index holds (sorted): another set needs a full sync.
    pub schema: String,
    pub tables: Vec<String>,
}

impl Cursor {
    pub(super) fn new(slot: &str, lsn: Lsn, schema: &str, tables: &[String]) -> Cursor {
        let mut tables = tables.to_vec();
        tables.sort();
        tables.dedup();
        Cursor {
            slot: slot.to_string(),
            lsn: lsn.to_string(),
            schema: schema.to_string(),
            tables,
        }
    }

    /// JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a cursor back and checks it belongs to `slot`.
    pub(super) fn read(text: &str, slot: &str) -> Result<(Cursor, Lsn), ChangeError> {
        let c: Cursor = serde_json::from_str(text).map_err(|e| {
            ChangeError::InvalidCursor(format!("the sync cursor is not one this host wrote ({e})"))
        })?;
        if c.slot != slot {
            return Err(ChangeError::InvalidCursor(format!(
                "the sync cursor names replication slot '{}', but this connector's slot is '{slot}'",
                c.slot
            )));
        }
        let lsn = Lsn::parse(&c.lsn).ok_or_else(|| {
            ChangeError::InvalidCursor(format!(
                "the sync cursor's position '{}' is not a WAL position",
                c.lsn
            ))
        })?;
        Ok((c, lsn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_round_trip() {
        let l = Lsn::parse("16/B374D848").unwrap();
        assert_eq!(l.0, (0x16 << 32) | 0xB374_D848);
        assert_eq!(l.to_string(), "16/B374D848");
        assert_eq!(Lsn::parse("0/0"), Some(Lsn(0)));
        assert!(Lsn::parse("zz").is_none());
        assert!(Lsn::parse("1/100000000").is_none());
        assert!(Lsn::parse("0/1") < Lsn::parse("1/0"));
    }

    #[test]
    fn cursor_checked() {
        let c = Cursor::new("tributary_x", Lsn(42), "public", &["b".into(), "a".into()]);
        assert_eq!(c.tables, ["a", "b"]);
        let (back, lsn) = Cursor::read(&c.to_json(), "tributary_x").unwrap();
        assert_eq!((back, lsn), (c.clone(), Lsn(42)));
        assert!(matches!(
            Cursor::read(&c.to_json(), "tributary_y"),
            Err(ChangeError::InvalidCursor(_))
        ));
        assert!(Cursor::read("{\"cursor_timestamp\":1}", "tributary_x").is_err());
    }
}
