//! The values of the format: their kinds (tags) and the typed forms decoding yields.

/// The type of a value (its tag byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Kind {
    Null = 0,
    Bool = 1,
    Int2 = 2,
    Int4 = 3,
    Int8 = 4,
    Float4 = 5,
    Float8 = 6,
    Numeric = 7,
    Text = 8,
    Bytea = 9,
    Json = 10,
    Jsonb = 11,
    Date = 12,
    Time = 13,
    TimeTz = 14,
    Timestamp = 15,
    TimestampTz = 16,
    Uuid = 17,
    Inet = 18,
    Cidr = 19,
    Interval = 20,
    Array = 21,
    Other = 22,
}

impl Kind {
    /// The kind for a tag byte.
    pub fn from_tag(tag: u8) -> Option<Kind> {
        use Kind::*;
        const ALL: [Kind; 23] = [
            Null,
            Bool,
            Int2,
            Int4,
            Int8,
            Float4,
            Float8,
            Numeric,
            Text,
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
            Cidr,
            Interval,
            Array,
            Other,
        ];
        ALL.get(tag as usize).copied()
    }
}

/// A date: days since 2000-01-01 (PostgreSQL's epoch); `i32::MAX`/`i32::MIN` are ±infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub i32);

/// A time of day in microseconds since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time(pub i64);

/// A time of day with a UTC offset (seconds, east of UTC positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeTz {
    /// Microseconds since midnight.
    pub micros: i64,
    /// Offset from UTC in seconds, east positive (PostgreSQL's wire value negated).
    pub offset_secs: i32,
}

/// A timestamp without time zone: µs since 2000-01-01 00:00; `i64::MAX`/`MIN` are ±infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub i64);

/// A timestamp with time zone (UTC): µs since 2000-01-01 00:00 UTC; `i64::MAX`/`MIN` are ±infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampTz(pub i64);

/// A PostgreSQL interval: kept in its three independent parts, as PostgreSQL does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Microseconds.
    pub micros: i64,
    /// Days.
    pub days: i32,
    /// Months.
    pub months: i32,
}

/// A UUID's 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uuid(pub [u8; 16]);

/// An `inet`/`cidr` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inet {
    /// IPv6 (else IPv4, in the first 4 bytes of `addr`).
    pub v6: bool,
    /// Prefix length in bits.
    pub bits: u8,
    /// Address bytes (4 used for IPv4).
    pub addr: [u8; 16],
    /// `cidr` rather than `inet` (changes only the text form: cidr always shows `/bits`).
    pub cidr: bool,
}

/// A PostgreSQL array: rectangular, any number of dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Array<'a> {
    /// The element kind (elements themselves may still be `Null`).
    pub element: Kind,
    /// `(length, lower bound)` per dimension; empty for an empty array.
    pub dims: Vec<(u32, i32)>,
    /// Elements in row-major order.
    pub elements: Vec<Value<'a>>,
}

impl Array<'_> {
    /// How many flat elements one step along dimension `d` spans (the product of the
    /// lengths of the inner dimensions): what a consumer needs to nest the elements.
    pub fn stride(&self, d: usize) -> usize {
        self.dims[d + 1..]
            .iter()
            .map(|(l, _)| *l as usize)
            .product()
    }
}

/// One decoded value, borrowing text and bytes from the batch buffer.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    /// Exact decimal text, or `NaN`, `Infinity`, `-Infinity`.
    Numeric(&'a str),
    Text(&'a str),
    Bytea(&'a [u8]),
    Json(&'a str),
    Jsonb(&'a str),
    Date(Date),
    Time(Time),
    TimeTz(TimeTz),
    Timestamp(Timestamp),
    TimestampTz(TimestampTz),
    Uuid(Uuid),
    /// `inet` or `cidr` (see [`Inet::cidr`]).
    Inet(Inet),
    Interval(Interval),
    Array(Array<'a>),
    /// PostgreSQL's text form of a type without a dedicated kind.
    Other(&'a str),
}

impl Value<'_> {
    /// The kind (tag) of this value.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Int2(_) => Kind::Int2,
            Value::Int4(_) => Kind::Int4,
            Value::Int8(_) => Kind::Int8,
            Value::Float4(_) => Kind::Float4,
            Value::Float8(_) => Kind::Float8,
            Value::Numeric(_) => Kind::Numeric,
            Value::Text(_) => Kind::Text,
            Value::Bytea(_) => Kind::Bytea,
            Value::Json(_) => Kind::Json,
            Value::Jsonb(_) => Kind::Jsonb,
            Value::Date(_) => Kind::Date,
            Value::Time(_) => Kind::Time,
            Value::TimeTz(_) => Kind::TimeTz,
            Value::Timestamp(_) => Kind::Timestamp,
            Value::TimestampTz(_) => Kind::TimestampTz,
            Value::Uuid(_) => Kind::Uuid,
            Value::Inet(i) if i.cidr => Kind::Cidr,
            Value::Inet(_) => Kind::Inet,
            Value::Interval(_) => Kind::Interval,
            Value::Array(_) => Kind::Array,
            Value::Other(_) => Kind::Other,
        }
    }
}
