//! PostgreSQL binary wire values → `tributary-codec` values, without going
//! through Rust types: each column's bytes are copied or re-framed directly.

use tokio_postgres::types::{FromSql, Kind as PgKind, Type};
use tributary_codec::{
    Array, Date, Encoder, Inet, Interval, Kind, Time, TimeTz, Timestamp, TimestampTz, Uuid, Value,
};

use super::PgError;

/// How one column's binary value is decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Bool,
    Int2,
    Int4,
    Int8,
    /// `oid` (u32) as int8.
    Oid,
    Float4,
    Float8,
    Numeric,
    /// text, varchar, bpchar, name, enum labels, xml, citext-like text types.
    Text,
    /// The one-byte `"char"`.
    Char,
    Bytea,
    Json,
    Jsonb,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Uuid,
    Inet,
    Interval,
    /// Array of the inner plan (never itself an array).
    Array(Box<Plan>),
    /// PostgreSQL's text output, obtained by a `::text` cast in the query.
    Other,
}

impl Plan {
    fn kind(&self) -> Kind {
        match self {
            Plan::Bool => Kind::Bool,
            Plan::Int2 => Kind::Int2,
            Plan::Int4 => Kind::Int4,
            Plan::Int8 | Plan::Oid => Kind::Int8,
            Plan::Float4 => Kind::Float4,
            Plan::Float8 => Kind::Float8,
            Plan::Numeric => Kind::Numeric,
            Plan::Text | Plan::Char => Kind::Text,
            Plan::Bytea => Kind::Bytea,
            Plan::Json => Kind::Json,
            Plan::Jsonb => Kind::Jsonb,
            Plan::Date => Kind::Date,
            Plan::Time => Kind::Time,
            Plan::TimeTz => Kind::TimeTz,
            Plan::Timestamp => Kind::Timestamp,
            Plan::TimestampTz => Kind::TimestampTz,
            Plan::Uuid => Kind::Uuid,
            Plan::Inet => Kind::Inet,
            Plan::Interval => Kind::Interval,
            Plan::Array(_) => Kind::Array,
            Plan::Other => Kind::Other,
        }
    }
}

fn scalar_plan(ty: &Type) -> Option<Plan> {
    Some(match *ty {
        Type::BOOL => Plan::Bool,
        Type::INT2 => Plan::Int2,
        Type::INT4 => Plan::Int4,
        Type::INT8 => Plan::Int8,
        Type::OID => Plan::Oid,
        Type::FLOAT4 => Plan::Float4,
        Type::FLOAT8 => Plan::Float8,
        Type::NUMERIC => Plan::Numeric,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::XML | Type::UNKNOWN => {
            Plan::Text
        }
        Type::CHAR => Plan::Char,
        Type::BYTEA => Plan::Bytea,
        Type::JSON => Plan::Json,
        Type::JSONB => Plan::Jsonb,
        Type::DATE => Plan::Date,
        Type::TIME => Plan::Time,
        Type::TIMETZ => Plan::TimeTz,
        Type::TIMESTAMP => Plan::Timestamp,
        Type::TIMESTAMPTZ => Plan::TimestampTz,
        Type::UUID => Plan::Uuid,
        Type::INET | Type::CIDR => Plan::Inet,
        Type::INTERVAL => Plan::Interval,
        _ => match ty.kind() {
            // An enum's binary form is its label.
            PgKind::Enum(_) => Plan::Text,
            // A domain is sent in its base type's format.
            PgKind::Domain(base) => return scalar_plan(base),
            _ => return None,
        },
    })
}

/// The plan for a column type, and the SQL cast to apply when there is no binary
/// decoder for it (`text` or `text[]`).
pub fn plan_for(ty: &Type) -> (Plan, Option<&'static str>) {
    if let Some(p) = scalar_plan(ty) {
        return (p, None);
    }
    let elem = match ty.kind() {
        PgKind::Array(e) => Some(e),
        PgKind::Domain(base) => match base.kind() {
            PgKind::Array(e) => Some(e),
            _ => None,
        },
        _ => None,
    };
    match elem {
        Some(e) => match scalar_plan(e) {
            Some(p) => (Plan::Array(Box::new(p)), None),
            None => (Plan::Array(Box::new(Plan::Other)), Some("text[]")),
        },
        None => (Plan::Other, Some("text")),
    }
}

/// The raw binary bytes of any column (`None` = NULL).
pub struct Raw<'a>(pub Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

fn malformed(what: &str) -> PgError {
    PgError::local(format!("malformed {what} value from the server"))
}

fn be<const N: usize>(b: &[u8], at: usize, what: &str) -> Result<[u8; N], PgError> {
    b.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| malformed(what))
}

fn i32_at(b: &[u8], at: usize, what: &str) -> Result<i32, PgError> {
    be::<4>(b, at, what).map(i32::from_be_bytes)
}

/// Where a column's value comes from when rows are read without the codec
/// ([`crate::PgRows::next_each`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Read straight from the wire bytes, borrowing them ([`borrowed`]).
    Borrowed,
    /// Exact decimal text built by the host ([`numeric_text`]).
    Numeric,
    /// Built through a codec buffer ([`encode`]): `"char"` (a high-bit one is
    /// written as an octal escape), arrays of numeric or `"char"`.
    Encoded,
}

impl Plan {
    /// How [`crate::PgRows::next_each`] reads this column.
    pub fn route(&self) -> Route {
        match self {
            Plan::Numeric => Route::Numeric,
            Plan::Array(elem) if elem.route() == Route::Borrowed => Route::Borrowed,
            Plan::Char | Plan::Array(_) => Route::Encoded,
            _ => Route::Borrowed,
        }
    }
}

/// One value read straight from its wire bytes for a [`Route::Borrowed`] plan:
/// text is checked as UTF-8 and borrowed, nothing is copied.
pub fn borrowed<'a>(plan: &Plan, b: &'a [u8]) -> Result<Value<'a>, PgError> {
    let utf8 = |b: &'a [u8], what: &str| std::str::from_utf8(b).map_err(|_| malformed(what));
    Ok(match plan {
        Plan::Bool => Value::Bool(*b.first().ok_or_else(|| malformed("bool"))? != 0),
        Plan::Int2 => Value::Int2(i16::from_be_bytes(be(b, 0, "int2")?)),
        Plan::Int4 => Value::Int4(i32::from_be_bytes(be(b, 0, "int4")?)),
        Plan::Int8 => Value::Int8(i64::from_be_bytes(be(b, 0, "int8")?)),
        Plan::Oid => Value::Int8(u32::from_be_bytes(be(b, 0, "oid")?) as i64),
        Plan::Float4 => Value::Float4(f32::from_be_bytes(be(b, 0, "float4")?)),
        Plan::Float8 => Value::Float8(f64::from_be_bytes(be(b, 0, "float8")?)),
        // Plan::Other columns were cast to text; both are UTF-8 (client_encoding).
        Plan::Text => Value::Text(utf8(b, "text")?),
        Plan::Other => Value::Other(utf8(b, "text")?),
        Plan::Bytea => Value::Bytea(b),
        Plan::Json => Value::Json(utf8(b, "json")?),
        Plan::Jsonb => Value::Jsonb(utf8(jsonb_body(b)?, "jsonb")?),
        Plan::Date => Value::Date(Date(i32::from_be_bytes(be(b, 0, "date")?))),
        Plan::Time => Value::Time(Time(i64::from_be_bytes(be(b, 0, "time")?))),
        Plan::TimeTz => Value::TimeTz(TimeTz {
            micros: i64::from_be_bytes(be(b, 0, "timetz")?),
            // The wire zone is seconds *west* of UTC.
            offset_secs: -i32_at(b, 8, "timetz")?,
        }),
        Plan::Timestamp => Value::Timestamp(Timestamp(i64::from_be_bytes(be(b, 0, "timestamp")?))),
        Plan::TimestampTz => {
            Value::TimestampTz(TimestampTz(i64::from_be_bytes(be(b, 0, "timestamptz")?)))
        }
        Plan::Uuid => Value::Uuid(Uuid(be(b, 0, "uuid")?)),
        Plan::Inet => {
            let [family, bits, is_cidr, nb] = be::<4>(b, 0, "inet")?;
            let v6 = match (family, nb) {
                (2, 4) => false,
                (3, 16) => true,
                _ => return Err(malformed("inet")),
            };
            let mut addr = [0u8; 16];
            let a = b.get(4..4 + nb as usize).ok_or_else(|| malformed("inet"))?;
            addr[..a.len()].copy_from_slice(a);
            Value::Inet(Inet {
                v6,
                bits,
                addr,
                cidr: is_cidr != 0,
            })
        }
        Plan::Interval => Value::Interval(Interval {
            micros: i64::from_be_bytes(be(b, 0, "interval")?),
            days: i32_at(b, 8, "interval")?,
            months: i32_at(b, 12, "interval")?,
        }),
        Plan::Array(elem) if elem.route() == Route::Borrowed => borrowed_array(elem, b)?,
        Plan::Numeric | Plan::Char | Plan::Array(_) => {
            return Err(PgError::local(format!(
                "internal: a {:?} value is built, not borrowed",
                plan.kind()
            )))
        }
    })
}

/// `jsonb`'s binary form: a version byte (1), then the JSON text.
fn jsonb_body(b: &[u8]) -> Result<&[u8], PgError> {
    match b.split_first() {
        Some((1, rest)) => Ok(rest),
        _ => Err(malformed("jsonb")),
    }
}

/// Writes one value.
pub fn encode(enc: &mut Encoder, plan: &Plan, raw: Option<&[u8]>) -> Result<(), PgError> {
    let Some(b) = raw else {
        enc.null();
        return Ok(());
    };
    match plan {
        Plan::Numeric => {
            let mut s = String::with_capacity(24);
            numeric_text(b, &mut s)?;
            enc.numeric(&s);
        }
        // Text is copied as it came: the decoder on the other side checks UTF-8.
        Plan::Text => enc.text_bytes(b),
        Plan::Other => enc.other_bytes(b),
        Plan::Json => enc.json(b),
        Plan::Jsonb => enc.jsonb(jsonb_body(b)?),
        Plan::Char => {
            let c = *b.first().unwrap_or(&0);
            if c == 0 {
                enc.text("");
            } else if c.is_ascii() {
                enc.text_bytes(&[c]);
            } else {
                // PostgreSQL's own text output for a high-bit "char".
                enc.text(&format!("\\{c:03o}"));
            }
        }
        Plan::Array(elem) => encode_array(enc, elem, b)?,
        _ => enc.value(&borrowed(plan, b)?),
    }
    Ok(())
}

fn encode_array(enc: &mut Encoder, elem: &Plan, b: &[u8]) -> Result<(), PgError> {
    let mut a = WireArray::read(b)?;
    enc.begin_array(elem.kind(), &a.dims);
    for _ in 0..a.total {
        encode(enc, elem, a.element()?)?;
    }
    Ok(())
}

/// An array whose elements are borrowed values.
fn borrowed_array<'a>(elem: &Plan, b: &'a [u8]) -> Result<Value<'a>, PgError> {
    let mut a = WireArray::read(b)?;
    let mut elements = Vec::with_capacity(a.total);
    for _ in 0..a.total {
        elements.push(match a.element()? {
            Some(e) => borrowed(elem, e)?,
            None => Value::Null,
        });
    }
    Ok(Value::Array(Array {
        element: elem.kind(),
        dims: a.dims,
        elements,
    }))
}

/// PostgreSQL's binary array: its dimensions, then its elements in row-major
/// order, each with its own length (-1 for NULL).
struct WireArray<'a> {
    dims: Vec<(u32, i32)>,
    total: usize,
    b: &'a [u8],
    at: usize,
}

impl<'a> WireArray<'a> {
    fn read(b: &'a [u8]) -> Result<Self, PgError> {
        let ndim = i32_at(b, 0, "array")?;
        if !(0..=32).contains(&ndim) {
            return Err(malformed("array"));
        }
        let mut dims = Vec::with_capacity(ndim as usize);
        let mut at = 12;
        let mut total: usize = if ndim == 0 { 0 } else { 1 };
        for _ in 0..ndim {
            let len = i32_at(b, at, "array")?;
            let lb = i32_at(b, at + 4, "array")?;
            let len = u32::try_from(len).map_err(|_| malformed("array"))?;
            total = total
                .checked_mul(len as usize)
                .ok_or_else(|| malformed("array"))?;
            dims.push((len, lb));
            at += 8;
        }
        // Every element takes at least its 4-byte length: refuse counts the
        // value cannot hold before anything is sized by them.
        if total > (b.len() - at.min(b.len())) / 4 {
            return Err(malformed("array"));
        }
        Ok(WireArray { dims, total, b, at })
    }

    /// The next element's bytes, `None` for NULL.
    fn element(&mut self) -> Result<Option<&'a [u8]>, PgError> {
        let len = i32_at(self.b, self.at, "array element")?;
        self.at += 4;
        if len < 0 {
            return Ok(None);
        }
        let e = self
            .b
            .get(self.at..self.at + len as usize)
            .ok_or_else(|| malformed("array element"))?;
        self.at += len as usize;
        Ok(Some(e))
    }
}

/// PostgreSQL's binary numeric (base-10000 digits) as exact decimal text.
pub fn numeric_text(b: &[u8], out: &mut String) -> Result<(), PgError> {
    let h = |i| be::<2>(b, i, "numeric").map(u16::from_be_bytes);
    let ndigits = h(0)? as usize;
    let weight = h(2)? as i16 as i32;
    let sign = h(4)?;
    let dscale = h(6)? as usize;
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => {
            out.push_str("NaN");
            return Ok(());
        }
        0xD000 => {
            out.push_str("Infinity");
            return Ok(());
        }
        0xF000 => {
            out.push_str("-Infinity");
            return Ok(());
        }
        _ => return Err(malformed("numeric")),
    }
    let digits = b
        .get(8..8 + 2 * ndigits)
        .ok_or_else(|| malformed("numeric"))?;
    let group = |i: usize| u16::from_be_bytes([digits[2 * i], digits[2 * i + 1]]);
    let mut nonzero = false;
    for i in 0..ndigits {
        let d = group(i);
        if d >= 10_000 {
            return Err(malformed("numeric"));
        }
        nonzero |= d != 0;
    }
    let digit = |i: i32| match usize::try_from(i) {
        Ok(i) if i < ndigits => group(i),
        _ => 0,
    };
    if sign == 0x4000 && nonzero {
        out.push('-');
    }
    // Integer part: groups 0..=weight, the first without leading zeros.
    if weight < 0 {
        out.push('0');
    } else {
        let first = four_digits(digit(0));
        let skip = first.iter().take(3).take_while(|&&c| c == b'0').count();
        push_ascii(out, &first[skip..]);
        for i in 1..=weight {
            push_ascii(out, &four_digits(digit(i)));
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut left = dscale;
        let mut i = weight + 1;
        while left > 0 {
            let g = four_digits(digit(i));
            let n = left.min(4);
            push_ascii(out, &g[..n]);
            left -= n;
            i += 1;
        }
    }
    Ok(())
}

/// A base-10000 digit as four ASCII digits (zero-padded).
fn four_digits(d: u16) -> [u8; 4] {
    [
        b'0' + (d / 1000 % 10) as u8,
        b'0' + (d / 100 % 10) as u8,
        b'0' + (d / 10 % 10) as u8,
        b'0' + (d % 10) as u8,
    ]
}

fn push_ascii(out: &mut String, digits: &[u8]) {
    for &c in digits {
        out.push(c as char);
    }
}

#[cfg(test)]
mod tests {
    use super::numeric_text;

    /// PostgreSQL's binary numeric: ndigits, weight, sign, dscale, base-10000 digits.
    fn numeric(digits: &[u16], weight: i16, neg: bool, dscale: u16) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        b.extend_from_slice(&weight.to_be_bytes());
        b.extend_from_slice(&(if neg { 0x4000u16 } else { 0 }).to_be_bytes());
        b.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    fn text(b: &[u8]) -> String {
        let mut s = String::new();
        numeric_text(b, &mut s).expect("a valid numeric");
        s
    }

    #[test]
    fn numeric_keeps_exact_digits_and_scale() {
        assert_eq!(text(&numeric(&[1, 2345, 6700], 1, false, 4)), "12345.6700");
        assert_eq!(text(&numeric(&[5000], -1, true, 2)), "-0.50");
        assert_eq!(text(&numeric(&[], 0, false, 0)), "0");
        assert_eq!(text(&numeric(&[], 0, true, 2)), "0.00");
        assert_eq!(text(&numeric(&[12], 2, false, 0)), "1200000000");
        assert_eq!(text(&numeric(&[1], -1, false, 6)), "0.000100");
        assert_eq!(text(&numeric(&[9999, 1], 0, false, 1)), "9999.0");
        assert_eq!(text(&[0, 0, 0, 0, 0xC0, 0, 0, 0]), "NaN");
        let mut s = String::new();
        assert!(numeric_text(&numeric(&[10_000], 0, false, 0), &mut s).is_err());
        assert!(numeric_text(&numeric(&[1, 2], 1, false, 0)[..10], &mut s).is_err());
    }
}
