//! The document type that flows from a source (a plugin, or the native baseline)
//! through `sync/` to the bulk target.
//!
//! Field names are shared per batch (`Arc<[Arc<str>]>`) and values are positional,
//! mirroring the WIT `batch` record, so converting a plugin batch costs one
//! allocation per value and none per field name.
//!
//! What a source hands over is checked before it becomes a [`Document`]:
//! [`field_name`] (no metadata or host fields, nothing unprintable), [`json_text`]
//! (nested JSON re-encoded on one line) and [`timestamp`] (ISO-8601).

pub mod field_name;
pub mod json_text;
pub mod timestamp;

use std::io::Write;
use std::sync::Arc;

/// One field value; mirrors the WIT `value` variant.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// The document has no such field; it is not written.
    Absent,
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    /// Non-finite values are written as the strings "NaN", "Infinity", "-Infinity".
    F64(f64),
    /// A JSON number written verbatim (already validated).
    Number(String),
    Text(String),
    /// Nested JSON text, compact (one line; see [`json_text`]).
    Json(String),
}

/// What the target should do with a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Index,
    Update,
    Delete,
}

/// One document as the host will index it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: String,
    pub operation: Operation,
    /// ISO-8601 `_timestamp`, if the source gave one.
    pub timestamp: Option<String>,
    /// Field names, shared by every document of a batch.
    pub fields: Arc<[Arc<str>]>,
    /// `values[i]` belongs to `fields[i]`.
    pub values: Vec<Value>,
}

impl Document {
    /// The value of a field, if the document has it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .position(|f| &**f == name)
            .and_then(|i| self.values.get(i))
            .filter(|v| !matches!(v, Value::Absent))
    }

    /// Iterates over present fields.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields
            .iter()
            .zip(self.values.iter())
            .filter(|(_, v)| !matches!(v, Value::Absent))
            .map(|(f, v)| (&**f, v))
    }

    /// Writes the document body as one JSON object: the source fields first (a
    /// source field named like an extra is replaced by the extra), then `extra`.
    pub fn write_json(&self, extra: &[(&str, Value)], out: &mut Vec<u8>) {
        // Without a cap the write cannot stop early.
        let _ = self.write_json_capped(extra, out, usize::MAX);
    }

    /// [`Self::write_json`], giving up as soon as the body would pass `cap` bytes,
    /// so an oversized document costs at most `cap` bytes (plus one escaped chunk)
    /// of memory instead of its whole encoding. On `Err`, `out` holds a partial body.
    pub fn write_json_capped(
        &self,
        extra: &[(&str, Value)],
        out: &mut Vec<u8>,
        cap: usize,
    ) -> Result<(), TooLarge> {
        let start = out.len();
        let over = |out: &Vec<u8>| out.len() - start > cap;
        out.push(b'{');
        let mut first = true;
        for (name, value) in self.iter() {
            if extra.iter().any(|(k, _)| *k == name) {
                continue;
            }
            // The raw size is a lower bound of the encoded size: check before writing.
            if out.len() - start + raw_len(value) > cap {
                return Err(TooLarge);
            }
            write_member(&mut first, name, value, out);
            if over(out) {
                return Err(TooLarge);
            }
        }
        for (name, value) in extra {
            if !matches!(value, Value::Absent) {
                write_member(&mut first, name, value, out);
            }
        }
        out.push(b'}');
        if over(out) {
            return Err(TooLarge);
        }
        Ok(())
    }

    /// Converts to a `serde_json` object (for tests, rules and NDJSON output);
    /// exact numbers survive only as far as `serde_json::Number` allows.
    pub fn to_json(&self, extra: &[(&str, Value)]) -> serde_json::Value {
        let mut buf = Vec::new();
        self.write_json(extra, &mut buf);
        serde_json::from_slice(&buf).unwrap_or(serde_json::Value::Null)
    }
}

/// A document body passed its byte cap while being encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

/// Bytes a value takes before escaping (a lower bound of its JSON size).
fn raw_len(value: &Value) -> usize {
    match value {
        Value::Number(s) | Value::Text(s) | Value::Json(s) => s.len(),
        _ => 0,
    }
}

fn write_member(first: &mut bool, name: &str, value: &Value, out: &mut Vec<u8>) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    write_str(name, out);
    out.push(b':');
    write_value(value, out);
}

/// Writes one value as JSON.
pub fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Absent | Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::I64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::U64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::F64(v) => {
            if v.is_nan() {
                out.extend_from_slice(b"\"NaN\"");
            } else if v.is_infinite() {
                out.extend_from_slice(if *v > 0.0 {
                    b"\"Infinity\""
                } else {
                    b"\"-Infinity\""
                });
            } else {
                // `{:?}` keeps a trailing `.0` so the value stays a float for dynamic mapping.
                let _ = write!(out, "{v:?}");
            }
        }
        Value::Number(n) | Value::Json(n) => out.extend_from_slice(n.as_bytes()),
        Value::Text(s) => write_str(s, out),
    }
}

/// Bytes a JSON string must escape: `"`, `\\` and the control characters.
/// A table lookup per byte (instead of a `match`) keeps the common case — long runs
/// that need nothing — to one load and one branch; this is the hottest loop of a sync.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Writes a JSON string literal with RFC 8259 escaping.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !NEEDS_ESCAPE[b as usize] {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Checks that `s` is one JSON number token (RFC 8259 grammar).
pub fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let s0 = i;
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        if i == s0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let s0 = i;
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        if i == s0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_serde_json_does() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é€😀 \u{2028}\u{7f} tail");
        for s in [all.as_str(), "", "plain", "\"", "\\", "a\nb"] {
            let mut out = Vec::new();
            write_str(s, &mut out);
            let ours = String::from_utf8(out).expect("utf-8");
            let back: String = serde_json::from_str(&ours).expect("valid JSON string");
            assert_eq!(back, s);
            assert!(
                !ours.bytes().any(|b| b < 0x20),
                "raw control byte in {ours:?}"
            );
        }
    }

    fn doc(values: Vec<Value>) -> Document {
        let fields: Vec<Arc<str>> = ["a", "b", "c"].iter().map(|s| Arc::from(*s)).collect();
        Document {
            id: "1".into(),
            operation: Operation::Index,
            timestamp: None,
            fields: fields.into(),
            values,
        }
    }

    #[test]
    fn writes_exact_numbers_escapes_and_skips_absent() {
        let d = doc(vec![
            Value::Number("12345678901234567890.123456789".into()),
            Value::Text("line\n\"q\"\u{1}".into()),
            Value::Absent,
        ]);
        let mut out = Vec::new();
        d.write_json(&[("id", Value::Text("1".into()))], &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":12345678901234567890.123456789,"b":"line\n\"q\"\u0001","id":"1"}"#
        );
        assert_eq!(d.get("c"), None);
    }

    #[test]
    fn extra_replaces_source_field_of_same_name() {
        let d = doc(vec![Value::I64(1), Value::F64(f64::NAN), Value::F64(2.0)]);
        let mut out = Vec::new();
        d.write_json(&[("a", Value::Text("x".into()))], &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"b":"NaN","c":2.0,"a":"x"}"#
        );
    }

    #[test]
    fn json_number_grammar() {
        for ok in [
            "0",
            "-1",
            "1.5",
            "1e10",
            "-0.0E-3",
            "123456789012345678901234567890",
        ] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "NaN", "1 ", "+1", "0x10"] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
