//! MySQL values → the `tributary-codec` row format, losslessly.
//!
//! | MySQL | codec |
//! |---|---|
//! | `TINYINT`…`BIGINT`, `YEAR` | int8; `BIGINT UNSIGNED` above `i64::MAX` as numeric digits |
//! | `DECIMAL` | numeric (the server's exact digits) |
//! | `FLOAT` / `DOUBLE` | float4 / float8 |
//! | `BIT(n)` | int8 (numeric above `i64::MAX`) |
//! | `JSON` (MySQL), `LONGTEXT CHECK (json_valid(..))` (MariaDB's JSON) | json |
//! | `CHAR`, `VARCHAR`, `TEXT`, `ENUM` | text |
//! | `SET` | array of text |
//! | `BINARY`, `VARBINARY`, `BLOB`, `GEOMETRY` | bytea |
//! | `DATE` | date; `DATETIME`, `TIMESTAMP` | timestamp (sessions run in UTC) |
//! | `TIME` | time when within a day, else text (`-838:59:59`, `25:00:00`) |
//! | zero dates (`0000-00-00`) | text, as the server writes them |

use std::collections::HashSet;

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::Value;
use tributary_codec::{pg_days_from_civil, Date, Encoder, Kind, Time, Timestamp};

/// How one column's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    Int,
    Decimal,
    Float,
    Double,
    Bit,
    Json,
    Text,
    Set,
    Bytes,
    Date,
    DateTime,
    Time,
}

/// The binary character set: a string column with it holds bytes, not text.
const BINARY_CHARSET: u16 = 63;

/// The plan and type name of a result column. `json_columns` holds
/// `(table, column)` pairs MariaDB declares JSON (a `json_valid` check).
pub(crate) fn plan(
    c: &mysql_async::Column,
    json_columns: &HashSet<(String, String)>,
) -> (Plan, String) {
    use ColumnType::*;
    let flags = c.flags();
    let unsigned = flags.contains(ColumnFlags::UNSIGNED_FLAG);
    let binary = c.character_set() == BINARY_CHARSET;
    let int = |name: &str| {
        let n = if unsigned {
            format!("{name} unsigned")
        } else {
            name.to_string()
        };
        (Plan::Int, n)
    };
    match c.column_type() {
        MYSQL_TYPE_TINY => int("tinyint"),
        MYSQL_TYPE_SHORT => int("smallint"),
        MYSQL_TYPE_INT24 => int("mediumint"),
        MYSQL_TYPE_LONG => int("int"),
        MYSQL_TYPE_LONGLONG => int("bigint"),
        MYSQL_TYPE_YEAR => (Plan::Int, "year".into()),
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => (Plan::Decimal, "decimal".into()),
        MYSQL_TYPE_FLOAT => (Plan::Float, "float".into()),
        MYSQL_TYPE_DOUBLE => (Plan::Double, "double".into()),
        MYSQL_TYPE_BIT => (Plan::Bit, "bit".into()),
        MYSQL_TYPE_JSON => (Plan::Json, "json".into()),
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => (Plan::Date, "date".into()),
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => (Plan::DateTime, "datetime".into()),
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => (Plan::DateTime, "timestamp".into()),
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => (Plan::Time, "time".into()),
        MYSQL_TYPE_GEOMETRY => (Plan::Bytes, "geometry".into()),
        MYSQL_TYPE_NULL => (Plan::Text, "null".into()),
        MYSQL_TYPE_ENUM => (Plan::Text, "enum".into()),
        MYSQL_TYPE_SET => (Plan::Set, "set".into()),
        _ if flags.contains(ColumnFlags::ENUM_FLAG) => (Plan::Text, "enum".into()),
        _ if flags.contains(ColumnFlags::SET_FLAG) => (Plan::Set, "set".into()),
        MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB => {
            if binary {
                (Plan::Bytes, "blob".into())
            } else if is_json(c, json_columns) {
                (Plan::Json, "json".into())
            } else {
                (Plan::Text, "text".into())
            }
        }
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_STRING => {
            if binary {
                (Plan::Bytes, "binary".into())
            } else {
                (Plan::Text, "varchar".into())
            }
        }
        other => (Plan::Bytes, format!("{other:?}").to_ascii_lowercase()),
    }
}

fn is_json(c: &mysql_async::Column, json_columns: &HashSet<(String, String)>) -> bool {
    let table = c.org_table_str();
    if table.is_empty() {
        return false;
    }
    json_columns.contains(&(table.into_owned(), c.org_name_str().into_owned()))
}

/// Writes one value by its column's plan.
pub(crate) fn value(enc: &mut Encoder, plan: Plan, v: &Value) {
    match (plan, v) {
        (_, Value::NULL) => enc.null(),
        (_, Value::Int(i)) => enc.int8(*i),
        (_, Value::UInt(u)) => unsigned(enc, *u),
        (_, Value::Float(f)) => enc.float4(*f),
        (_, Value::Double(d)) => enc.float8(*d),
        (Plan::Bit, Value::Bytes(b)) => {
            // Big-endian bits, at most 64 of them.
            let n = b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
            unsigned(enc, n)
        }
        (Plan::Int, Value::Bytes(b)) => match std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(i) => enc.int8(i),
            None => enc.numeric(&String::from_utf8_lossy(b)),
        },
        (Plan::Decimal, Value::Bytes(b)) => enc.numeric(&String::from_utf8_lossy(b)),
        (Plan::Float | Plan::Double, Value::Bytes(b)) => {
            match std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
            {
                Some(f) => enc.float8(f),
                None => enc.text(&String::from_utf8_lossy(b)),
            }
        }
        (Plan::Json, Value::Bytes(b)) => match std::str::from_utf8(b) {
            Ok(s) => enc.json(s.as_bytes()),
            Err(_) => enc.text(&String::from_utf8_lossy(b)),
        },
        (Plan::Set, Value::Bytes(b)) => {
            let s = String::from_utf8_lossy(b);
            let members: Vec<&str> = if s.is_empty() {
                Vec::new()
            } else {
                s.split(',').collect()
            };
            if members.is_empty() {
                enc.begin_array(Kind::Text, &[]);
            } else {
                enc.begin_array(Kind::Text, &[(members.len() as u32, 1)]);
                for m in members {
                    enc.text(m);
                }
            }
        }
        (Plan::Bytes, Value::Bytes(b)) => enc.bytea(b),
        (_, Value::Bytes(b)) => match std::str::from_utf8(b) {
            Ok(s) => enc.text(s),
            Err(_) => enc.text(&String::from_utf8_lossy(b)),
        },
        (Plan::Date, Value::Date(y, mo, d, ..)) => match civil_days(*y, *mo, *d) {
            Some(days) => enc.date(Date(days as i32)),
            None => enc.text(&format!("{y:04}-{mo:02}-{d:02}")),
        },
        (_, Value::Date(y, mo, d, h, mi, s, us)) => match civil_days(*y, *mo, *d) {
            Some(days) => {
                let secs =
                    days * 86_400 + i64::from(*h) * 3600 + i64::from(*mi) * 60 + i64::from(*s);
                enc.timestamp(Timestamp(secs * 1_000_000 + i64::from(*us)));
            }
            None => enc.text(&format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")),
        },
        (_, Value::Time(neg, days, h, mi, s, us)) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            if !neg && hours < 24 {
                let micros = ((hours * 60 + u64::from(*mi)) * 60 + u64::from(*s)) * 1_000_000
                    + u64::from(*us);
                enc.time(Time(micros as i64));
            } else {
                let sign = if *neg { "-" } else { "" };
                let frac = if *us > 0 {
                    format!(".{us:06}")
                } else {
                    String::new()
                };
                enc.text(&format!("{sign}{hours:02}:{mi:02}:{s:02}{frac}"));
            }
        }
    }
}

fn unsigned(enc: &mut Encoder, u: u64) {
    match i64::try_from(u) {
        Ok(i) => enc.int8(i),
        Err(_) => enc.numeric(&u.to_string()),
    }
}

/// Days since 2000-01-01 of a valid civil date; `None` for MySQL's zero dates.
fn civil_days(y: u16, m: u8, d: u8) -> Option<i64> {
    if m == 0 || d == 0 || m > 12 || d > 31 {
        return None;
    }
    Some(pg_days_from_civil(i64::from(y), u32::from(m), u32::from(d)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_codec::{Decoder, Value as V};

    fn one(plan: Plan, v: Value) -> String {
        let mut enc = Encoder::new(1);
        enc.begin_row();
        value(&mut enc, plan, &v);
        let buf = enc.finish();
        let mut dec = Decoder::new(&buf).expect("valid batch");
        let mut row = Vec::new();
        assert!(dec.next_row(&mut row).expect("row"));
        match &row[0] {
            V::Numeric(s) => format!("numeric:{s}"),
            V::Int8(i) => format!("int:{i}"),
            V::Text(s) => format!("text:{s}"),
            V::Array(a) => format!("array:{}", a.elements.len()),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn values_keep_their_meaning() {
        assert_eq!(
            one(Plan::Int, Value::UInt(u64::MAX)),
            "numeric:18446744073709551615"
        );
        assert_eq!(one(Plan::Int, Value::UInt(5)), "int:5");
        assert_eq!(one(Plan::Bit, Value::Bytes(vec![1, 0])), "int:256");
        assert_eq!(
            one(Plan::Bit, Value::Bytes(vec![0xff; 8])),
            "numeric:18446744073709551615"
        );
        assert_eq!(
            one(Plan::Decimal, Value::Bytes(b"-12.3400".to_vec())),
            "numeric:-12.3400"
        );
        assert_eq!(one(Plan::Set, Value::Bytes(b"a,c".to_vec())), "array:2");
        assert_eq!(one(Plan::Set, Value::Bytes(Vec::new())), "array:0");
        assert_eq!(
            one(Plan::Date, Value::Date(0, 0, 0, 0, 0, 0, 0)),
            "text:0000-00-00"
        );
        assert_eq!(
            one(Plan::Time, Value::Time(true, 1, 2, 3, 4, 0)),
            "text:-26:03:04"
        );
    }
}
