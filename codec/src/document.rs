//! How a decoded value becomes part of a document: the one lossless mapping that
//! the SDK (inside a plugin) and the host (when it shapes documents from rows
//! itself, WIT `shaping`) share, so both paths write the same bytes.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::{Array, Value};

/// A document value, borrowing from the batch buffer where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum DocValue<'a> {
    /// JSON `null`.
    Null,
    /// JSON `true`/`false`.
    Bool(bool),
    /// An exact integer (bigint beyond 2^53 too).
    Int(i64),
    /// A finite float, written as the shortest text that reads back the same.
    Float(f64),
    /// A JSON number written verbatim (exact decimal digits).
    Number(Cow<'a, str>),
    /// A string.
    Text(Cow<'a, str>),
    /// Nested JSON text (object or array).
    Json(Cow<'a, str>),
}

/// A value as a document value, losslessly: integers exact, numeric as its exact
/// digits (a JSON number; `NaN`/`±Infinity` as strings, as for floats), float4 as
/// its shortest exact decimal, bytea base64, json/jsonb nested, arrays as (nested)
/// JSON arrays, dates and timestamps ISO-8601 (timestamptz with `+00:00`),
/// uuid/inet/interval and other types as strings.
pub fn doc_value<'a>(v: &Value<'a>) -> DocValue<'a> {
    match v {
        Value::Null => DocValue::Null,
        Value::Bool(b) => DocValue::Bool(*b),
        Value::Int2(i) => DocValue::Int((*i).into()),
        Value::Int4(i) => DocValue::Int((*i).into()),
        Value::Int8(i) => DocValue::Int(*i),
        Value::Float4(f) => match non_finite((*f).into()) {
            Some(s) => DocValue::Text(Cow::Borrowed(s)),
            // The shortest decimal that reads back as the same f32 (1.1, not 1.100000023841858).
            None => DocValue::Number(Cow::Owned(f.to_string())),
        },
        Value::Float8(f) => match non_finite(*f) {
            Some(s) => DocValue::Text(Cow::Borrowed(s)),
            None => DocValue::Float(*f),
        },
        Value::Numeric(s) if numeric_is_finite(s) => DocValue::Number(Cow::Borrowed(s)),
        Value::Numeric(s) | Value::Text(s) | Value::Other(s) => DocValue::Text(Cow::Borrowed(s)),
        Value::Json(s) | Value::Jsonb(s) => DocValue::Json(Cow::Borrowed(s)),
        Value::Array(_) => DocValue::Json(Cow::Owned(to_json(v))),
        other => DocValue::Text(Cow::Owned(to_text(other))),
    }
}

/// The text form of any value: what a document uses for dates, uuid, inet,
/// interval (ISO-8601 duration), bytea (base64), numeric digits.
pub fn to_text(v: &Value<'_>) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int2(i) => i.to_string(),
        Value::Int4(i) => i.to_string(),
        Value::Int8(i) => i.to_string(),
        Value::Float4(f) => non_finite((*f).into()).map_or_else(|| f.to_string(), String::from),
        Value::Float8(f) => non_finite(*f).map_or_else(|| f.to_string(), String::from),
        Value::Numeric(s) | Value::Text(s) | Value::Json(s) | Value::Jsonb(s) | Value::Other(s) => {
            (*s).to_string()
        }
        Value::Bytea(b) => base64(b),
        Value::Date(d) => d.to_string(),
        Value::Time(t) => t.to_string(),
        Value::TimeTz(t) => t.to_string(),
        Value::Timestamp(t) => t.to_string(),
        Value::TimestampTz(t) => t.to_string(),
        Value::Uuid(u) => u.to_string(),
        Value::Inet(i) => i.to_string(),
        Value::Interval(i) => i.to_string(),
        Value::Array(_) => to_json(v),
    }
}

/// Appends the value as Elastic's Python connectors write it into document ids:
/// `str()` of the driver's value (`True`, `1.0` for a whole float, a space
/// between date and time).
pub fn write_id_text(v: &Value<'_>, out: &mut String) {
    match v {
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Text(s) | Value::Numeric(s) | Value::Other(s) => out.push_str(s),
        // write! into the id avoids a temporary String per key value.
        Value::Int2(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Int4(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Int8(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float8(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 => {
            let _ = write!(out, "{f:.1}");
        }
        Value::Timestamp(_) | Value::TimestampTz(_) => {
            out.push_str(&to_text(v).replacen('T', " ", 1))
        }
        v => out.push_str(&to_text(v)),
    }
}

/// The value as JSON text (same mapping as [`doc_value`]).
pub fn to_json(v: &Value<'_>) -> String {
    let mut s = String::new();
    write_json(&mut s, v);
    s
}

/// Appends the value as JSON text.
pub fn write_json(out: &mut String, v: &Value<'_>) {
    match v {
        Value::Array(a) => write_array(out, a, 0, &mut 0),
        Value::Json(s) | Value::Jsonb(s) => out.push_str(s),
        v => match doc_value(v) {
            DocValue::Null => out.push_str("null"),
            DocValue::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            DocValue::Int(i) => {
                let _ = write!(out, "{i}");
            }
            DocValue::Float(f) => match serde_json::Number::from_f64(f) {
                Some(n) => {
                    let _ = write!(out, "{n}");
                }
                None => out.push_str("null"),
            },
            DocValue::Number(n) | DocValue::Json(n) => out.push_str(&n),
            DocValue::Text(t) => write_str(out, &t),
        },
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_array(out: &mut String, a: &Array<'_>, dim: usize, next: &mut usize) {
    let Some(&(len, _)) = a.dims.get(dim) else {
        out.push_str("[]");
        return;
    };
    out.push('[');
    for i in 0..len {
        if i > 0 {
            out.push(',');
        }
        if dim + 1 < a.dims.len() {
            write_array(out, a, dim + 1, next);
        } else {
            match a.elements.get(*next) {
                Some(e) => write_json(out, e),
                None => out.push_str("null"),
            }
            *next += 1;
        }
    }
    out.push(']');
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (bytea).
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

fn non_finite(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f.is_infinite() {
        Some(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        None
    }
}

fn numeric_is_finite(s: &str) -> bool {
    !matches!(s, "NaN" | "Infinity" | "-Infinity")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Date, Inet, Interval, Kind, Timestamp, TimestampTz, Uuid};

    fn text(s: &str) -> DocValue<'_> {
        DocValue::Text(Cow::Borrowed(s))
    }

    #[test]
    fn values_are_lossless() {
        assert_eq!(
            doc_value(&Value::Int8(9_007_199_254_740_993)),
            DocValue::Int(9_007_199_254_740_993)
        );
        assert_eq!(
            doc_value(&Value::Numeric("1234567890123456789012345678901234567.89")),
            DocValue::Number("1234567890123456789012345678901234567.89".into())
        );
        assert_eq!(doc_value(&Value::Numeric("NaN")), text("NaN"));
        assert_eq!(
            doc_value(&Value::Float4(1.1)),
            DocValue::Number("1.1".into())
        );
        assert_eq!(
            doc_value(&Value::Float8(f64::NEG_INFINITY)),
            text("-Infinity")
        );
        assert_eq!(doc_value(&Value::Bytea(b"hello")), text("aGVsbG8="));
        assert_eq!(
            doc_value(&Value::Jsonb("{\"a\": 1}")),
            DocValue::Json("{\"a\": 1}".into())
        );
        assert_eq!(doc_value(&Value::Date(Date(0))), text("2000-01-01"));
        assert_eq!(
            doc_value(&Value::Timestamp(Timestamp(1))),
            text("2000-01-01T00:00:00.000001")
        );
        assert_eq!(
            doc_value(&Value::TimestampTz(TimestampTz(0))),
            text("2000-01-01T00:00:00+00:00")
        );
        assert_eq!(
            doc_value(&Value::Uuid(Uuid([0; 16]))),
            text("00000000-0000-0000-0000-000000000000")
        );
        let ip = Inet {
            v6: false,
            bits: 32,
            addr: [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            cidr: false,
        };
        assert_eq!(doc_value(&Value::Inet(ip)), text("1.2.3.4"));
        assert_eq!(
            doc_value(&Value::Interval(Interval {
                micros: 0,
                days: 1,
                months: 0
            })),
            text("P1D")
        );
    }

    #[test]
    fn arrays_nest() {
        let a = Value::Array(Array {
            element: Kind::Int4,
            dims: vec![(2, 1), (2, 1)],
            elements: vec![Value::Int4(1), Value::Null, Value::Int4(3), Value::Int4(4)],
        });
        assert_eq!(to_json(&a), "[[1,null],[3,4]]");
        let t = Value::Array(Array {
            element: Kind::Text,
            dims: vec![(2, 1)],
            elements: vec![Value::Text("a\"b"), Value::Numeric("1.50")],
        });
        assert_eq!(to_json(&t), "[\"a\\\"b\",1.50]");
        let e = Value::Array(Array {
            element: Kind::Text,
            dims: vec![],
            elements: vec![],
        });
        assert_eq!(doc_value(&e), DocValue::Json("[]".into()));
        let j = Value::Array(Array {
            element: Kind::Jsonb,
            dims: vec![(1, 1)],
            elements: vec![Value::Jsonb("{\"k\": [1]}")],
        });
        assert_eq!(to_json(&j), "[{\"k\": [1]}]");
    }

    #[test]
    fn ids_are_python_str_of_the_driver_value() {
        let id = |v: Value<'_>| {
            let mut s = String::new();
            write_id_text(&v, &mut s);
            s
        };
        assert_eq!(id(Value::Bool(true)), "True");
        assert_eq!(id(Value::Int4(-7)), "-7");
        assert_eq!(id(Value::Float8(3.0)), "3.0");
        assert_eq!(id(Value::Float8(2.5)), "2.5");
        assert_eq!(id(Value::Numeric("1.50")), "1.50");
        assert_eq!(id(Value::Timestamp(Timestamp(0))), "2000-01-01 00:00:00");
        assert_eq!(
            id(Value::TimestampTz(TimestampTz(0))),
            "2000-01-01 00:00:00+00:00"
        );
        assert_eq!(id(Value::Date(Date(0))), "2000-01-01");
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
