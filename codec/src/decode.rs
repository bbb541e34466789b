//! Reading a batch, without copying text or bytes.

use crate::types::{
    Array, Date, Inet, Interval, Kind, Time, TimeTz, Timestamp, TimestampTz, Uuid, Value,
};
use crate::{DecodeError, HEADER_LEN, MAGIC};

/// Reads one batch, row by row, without copying text or bytes.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    columns: u32,
    rows: u32,
    read: u32,
}

/// Arrays deeper than this are refused (PostgreSQL's own limit is 6).
const MAX_DIMS: u64 = 32;

impl<'a> Decoder<'a> {
    /// Checks the header.
    pub fn new(data: &'a [u8]) -> Result<Self, DecodeError> {
        if data.len() < HEADER_LEN || data[..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let columns = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
        let rows = u32::from_le_bytes([data[8], data[9], data[10], data[11]]);
        Ok(Decoder {
            data,
            pos: HEADER_LEN,
            columns,
            rows,
            read: 0,
        })
    }

    /// Values per row.
    pub fn columns(&self) -> u32 {
        self.columns
    }

    /// Rows in the batch.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Decodes the next row into `out` (cleared first); `false` after the last row.
    pub fn next_row(&mut self, out: &mut Vec<Value<'a>>) -> Result<bool, DecodeError> {
        out.clear();
        if self.read == self.rows {
            if self.pos != self.data.len() {
                return Err(DecodeError::Trailing(self.data.len() - self.pos));
            }
            return Ok(false);
        }
        self.read += 1;
        for _ in 0..self.columns {
            out.push(self.value(0)?);
        }
        Ok(true)
    }

    /// Every row at once.
    pub fn decode_all(data: &'a [u8]) -> Result<Vec<Vec<Value<'a>>>, DecodeError> {
        let mut dec = Decoder::new(data)?;
        let mut rows = Vec::with_capacity(dec.rows as usize);
        let mut row = Vec::new();
        while dec.next_row(&mut row)? {
            rows.push(std::mem::take(&mut row));
        }
        Ok(rows)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(DecodeError::Truncated(self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = *self
                .data
                .get(self.pos)
                .ok_or(DecodeError::Truncated(self.pos))?;
            self.pos += 1;
            if shift > 63 {
                return Err(DecodeError::Invalid {
                    at: self.pos,
                    what: "varint too long",
                });
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    fn blob(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| DecodeError::Truncated(self.pos))?;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        let b = self.blob()?;
        std::str::from_utf8(b).map_err(|_| DecodeError::Utf8(at))
    }

    fn value(&mut self, depth: u32) -> Result<Value<'a>, DecodeError> {
        let at = self.pos;
        let [tag] = self.arr::<1>()?;
        let kind = Kind::from_tag(tag).ok_or(DecodeError::BadTag { tag, at })?;
        Ok(match kind {
            Kind::Null => Value::Null,
            Kind::Bool => Value::Bool(self.arr::<1>()?[0] != 0),
            Kind::Int2 => Value::Int2(i16::from_le_bytes(self.arr()?)),
            Kind::Int4 => Value::Int4(i32::from_le_bytes(self.arr()?)),
            Kind::Int8 => Value::Int8(i64::from_le_bytes(self.arr()?)),
            Kind::Float4 => Value::Float4(f32::from_bits(u32::from_le_bytes(self.arr()?))),
            Kind::Float8 => Value::Float8(f64::from_bits(u64::from_le_bytes(self.arr()?))),
            Kind::Numeric => Value::Numeric(self.str()?),
            Kind::Text => Value::Text(self.str()?),
            Kind::Bytea => Value::Bytea(self.blob()?),
            Kind::Json => Value::Json(self.str()?),
            Kind::Jsonb => Value::Jsonb(self.str()?),
            Kind::Date => Value::Date(Date(i32::from_le_bytes(self.arr()?))),
            Kind::Time => Value::Time(Time(i64::from_le_bytes(self.arr()?))),
            Kind::TimeTz => {
                let micros = i64::from_le_bytes(self.arr()?);
                let offset_secs = i32::from_le_bytes(self.arr()?);
                Value::TimeTz(TimeTz {
                    micros,
                    offset_secs,
                })
            }
            Kind::Timestamp => Value::Timestamp(Timestamp(i64::from_le_bytes(self.arr()?))),
            Kind::TimestampTz => Value::TimestampTz(TimestampTz(i64::from_le_bytes(self.arr()?))),
            Kind::Uuid => Value::Uuid(Uuid(self.arr()?)),
            Kind::Inet | Kind::Cidr => {
                let [family, bits] = self.arr::<2>()?;
                let n = match family {
                    4 => 4,
                    6 => 16,
                    _ => {
                        return Err(DecodeError::Invalid {
                            at,
                            what: "inet family",
                        })
                    }
                };
                let mut addr = [0u8; 16];
                addr[..n].copy_from_slice(self.take(n)?);
                Value::Inet(Inet {
                    v6: family == 6,
                    bits,
                    addr,
                    cidr: kind == Kind::Cidr,
                })
            }
            Kind::Interval => {
                let micros = i64::from_le_bytes(self.arr()?);
                let days = i32::from_le_bytes(self.arr()?);
                let months = i32::from_le_bytes(self.arr()?);
                Value::Interval(Interval {
                    micros,
                    days,
                    months,
                })
            }
            Kind::Array => {
                if depth > 0 {
                    return Err(DecodeError::Invalid {
                        at,
                        what: "array nested in array",
                    });
                }
                let [etag] = self.arr::<1>()?;
                let element = Kind::from_tag(etag).ok_or(DecodeError::BadTag {
                    tag: etag,
                    at: at + 1,
                })?;
                let ndims = self.varint()?;
                if ndims > MAX_DIMS {
                    return Err(DecodeError::Invalid {
                        at,
                        what: "too many array dimensions",
                    });
                }
                let mut dims = Vec::with_capacity(ndims as usize);
                let mut total: u64 = if ndims == 0 { 0 } else { 1 };
                for _ in 0..ndims {
                    let len = u32::try_from(self.varint()?).map_err(|_| DecodeError::Invalid {
                        at,
                        what: "array length",
                    })?;
                    let z = self.varint()? as u32;
                    let lb = ((z >> 1) as i32) ^ -((z & 1) as i32);
                    total = total.saturating_mul(len as u64);
                    dims.push((len, lb));
                }
                // Every element takes at least one byte: refuse shapes the buffer cannot hold.
                if total > (self.data.len() - self.pos) as u64 {
                    return Err(DecodeError::Invalid {
                        at,
                        what: "array larger than the batch",
                    });
                }
                let mut elements = Vec::with_capacity(total as usize);
                for _ in 0..total {
                    elements.push(self.value(depth + 1)?);
                }
                Value::Array(Array {
                    element,
                    dims,
                    elements,
                })
            }
            Kind::Other => Value::Other(self.str()?),
        })
    }
}
