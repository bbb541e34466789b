//! Writing a batch.

use crate::types::{Date, Inet, Interval, Kind, Time, TimeTz, Timestamp, TimestampTz, Uuid, Value};
use crate::{HEADER_LEN, MAGIC};

/// Builds one batch. The host writes each row's values in column order.
///
/// ```
/// use tributary_codec::{Decoder, Encoder, Value};
/// let mut enc = Encoder::new(2);
/// enc.begin_row();
/// enc.int4(1);
/// enc.text("For Those About To Rock");
/// let bytes = enc.finish();
/// let mut dec = Decoder::new(&bytes).unwrap();
/// let mut row = Vec::new();
/// assert!(dec.next_row(&mut row).unwrap());
/// assert_eq!(row, vec![Value::Int4(1), Value::Text("For Those About To Rock")]);
/// ```
#[derive(Debug, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
    rows: u32,
}

impl Encoder {
    /// A batch of rows with `columns` values each.
    pub fn new(columns: u32) -> Self {
        Self::with_capacity(columns, 4096)
    }

    /// Same, reserving `bytes` up front.
    pub fn with_capacity(columns: u32, bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.max(HEADER_LEN));
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&columns.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        Encoder { buf, rows: 0 }
    }

    /// Starts the next row (values follow).
    pub fn begin_row(&mut self) {
        self.rows += 1;
    }

    /// Rows begun so far.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True before any row was begun.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The finished buffer.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf[8..12].copy_from_slice(&self.rows.to_le_bytes());
        self.buf
    }

    fn tag(&mut self, k: Kind) {
        self.buf.push(k as u8);
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn bytes(&mut self, k: Kind, b: &[u8]) {
        self.tag(k);
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    /// SQL NULL.
    pub fn null(&mut self) {
        self.tag(Kind::Null);
    }
    /// `bool`.
    pub fn bool(&mut self, v: bool) {
        self.buf.extend_from_slice(&[Kind::Bool as u8, v as u8]);
    }
    /// `int2`.
    pub fn int2(&mut self, v: i16) {
        self.tag(Kind::Int2);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// `int4`.
    pub fn int4(&mut self, v: i32) {
        self.tag(Kind::Int4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// `int8`.
    pub fn int8(&mut self, v: i64) {
        self.tag(Kind::Int8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// `float4`.
    pub fn float4(&mut self, v: f32) {
        self.tag(Kind::Float4);
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    /// `float8`.
    pub fn float8(&mut self, v: f64) {
        self.tag(Kind::Float8);
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    /// `numeric` as exact decimal text (`NaN`, `Infinity`, `-Infinity` allowed).
    pub fn numeric(&mut self, v: &str) {
        self.bytes(Kind::Numeric, v.as_bytes());
    }
    /// Text-like types.
    pub fn text(&mut self, v: &str) {
        self.bytes(Kind::Text, v.as_bytes());
    }
    /// Text given as bytes the caller knows to be UTF-8 (the decoder checks anyway).
    pub fn text_bytes(&mut self, v: &[u8]) {
        self.bytes(Kind::Text, v);
    }
    /// `bytea`.
    pub fn bytea(&mut self, v: &[u8]) {
        self.bytes(Kind::Bytea, v);
    }
    /// `json` text.
    pub fn json(&mut self, v: &[u8]) {
        self.bytes(Kind::Json, v);
    }
    /// `jsonb` text (without PostgreSQL's binary version byte).
    pub fn jsonb(&mut self, v: &[u8]) {
        self.bytes(Kind::Jsonb, v);
    }
    /// `date`.
    pub fn date(&mut self, v: Date) {
        self.tag(Kind::Date);
        self.buf.extend_from_slice(&v.0.to_le_bytes());
    }
    /// `time`.
    pub fn time(&mut self, v: Time) {
        self.tag(Kind::Time);
        self.buf.extend_from_slice(&v.0.to_le_bytes());
    }
    /// `timetz`.
    pub fn timetz(&mut self, v: TimeTz) {
        self.tag(Kind::TimeTz);
        self.buf.extend_from_slice(&v.micros.to_le_bytes());
        self.buf.extend_from_slice(&v.offset_secs.to_le_bytes());
    }
    /// `timestamp`.
    pub fn timestamp(&mut self, v: Timestamp) {
        self.tag(Kind::Timestamp);
        self.buf.extend_from_slice(&v.0.to_le_bytes());
    }
    /// `timestamptz`.
    pub fn timestamptz(&mut self, v: TimestampTz) {
        self.tag(Kind::TimestampTz);
        self.buf.extend_from_slice(&v.0.to_le_bytes());
    }
    /// `uuid`.
    pub fn uuid(&mut self, v: Uuid) {
        self.tag(Kind::Uuid);
        self.buf.extend_from_slice(&v.0);
    }
    /// `inet` or `cidr` (by [`Inet::cidr`]).
    pub fn inet(&mut self, v: &Inet) {
        self.tag(if v.cidr { Kind::Cidr } else { Kind::Inet });
        self.buf.push(if v.v6 { 6 } else { 4 });
        self.buf.push(v.bits);
        let n = if v.v6 { 16 } else { 4 };
        self.buf.extend_from_slice(&v.addr[..n]);
    }
    /// `interval`.
    pub fn interval(&mut self, v: Interval) {
        self.tag(Kind::Interval);
        self.buf.extend_from_slice(&v.micros.to_le_bytes());
        self.buf.extend_from_slice(&v.days.to_le_bytes());
        self.buf.extend_from_slice(&v.months.to_le_bytes());
    }
    /// The text form of a type without a dedicated kind.
    pub fn other(&mut self, v: &str) {
        self.bytes(Kind::Other, v.as_bytes());
    }
    /// Same, from bytes the caller knows to be UTF-8.
    pub fn other_bytes(&mut self, v: &[u8]) {
        self.bytes(Kind::Other, v);
    }
    /// Starts an array: `dims` is `(length, lower bound)` per dimension (empty for
    /// an empty array). Exactly the product of the lengths of element values must follow.
    pub fn begin_array(&mut self, element: Kind, dims: &[(u32, i32)]) {
        self.tag(Kind::Array);
        self.buf.push(element as u8);
        self.varint(dims.len() as u64);
        for &(len, lb) in dims {
            self.varint(len as u64);
            self.varint(((lb << 1) ^ (lb >> 31)) as u32 as u64);
        }
    }
    /// Any decoded value (the generic, slower path).
    pub fn value(&mut self, v: &Value<'_>) {
        match v {
            Value::Null => self.null(),
            Value::Bool(b) => self.bool(*b),
            Value::Int2(x) => self.int2(*x),
            Value::Int4(x) => self.int4(*x),
            Value::Int8(x) => self.int8(*x),
            Value::Float4(x) => self.float4(*x),
            Value::Float8(x) => self.float8(*x),
            Value::Numeric(s) => self.numeric(s),
            Value::Text(s) => self.text(s),
            Value::Bytea(b) => self.bytea(b),
            Value::Json(s) => self.json(s.as_bytes()),
            Value::Jsonb(s) => self.jsonb(s.as_bytes()),
            Value::Date(d) => self.date(*d),
            Value::Time(t) => self.time(*t),
            Value::TimeTz(t) => self.timetz(*t),
            Value::Timestamp(t) => self.timestamp(*t),
            Value::TimestampTz(t) => self.timestamptz(*t),
            Value::Uuid(u) => self.uuid(*u),
            Value::Inet(i) => self.inet(i),
            Value::Interval(i) => self.interval(*i),
            Value::Array(a) => {
                self.begin_array(a.element, &a.dims);
                for e in &a.elements {
                    self.value(e);
                }
            }
            Value::Other(s) => self.other(s),
        }
    }
}
