//! Documents the host shapes from a capability's rows (WIT `shaping`): the plugin
//! says how a row becomes a document, the host maps each value with the codec's
//! `document` mapping (the SDK's own, so both paths write the same bytes) and
//! checks the result exactly as [`convert::batch`] checks a plugin's batch.

use std::sync::Arc;

use tributary_codec::document::write_id_text;
use tributary_codec::{doc_value, Decoder, DocValue, Value as Cell};
use tributary_sync::document::{Document, Operation, Value};

use super::bindings::wit_shaping as wit;
use super::convert;

/// Documents emitted and not yet handed to the sync (one `next-batch` call's
/// worth): more is refused, so a plugin cannot make the host hold a table.
pub const MAX_PENDING: usize = 65_536;

/// A checked `shape`.
pub struct Shape {
    fields: Arc<[Arc<str>]>,
    timestamp_field: Option<usize>,
    values: Vec<Source>,
    id_prefix: String,
    id_columns: Vec<usize>,
    operation: Operation,
    timestamp: Option<String>,
    /// The highest column index the shape reads (checked against each result).
    max_column: Option<usize>,
}

enum Source {
    Column(usize),
    Constant(Value),
}

impl Shape {
    /// Checks a plugin's shape: field names as in a batch, one value per field,
    /// valid constants, an ISO-8601 timestamp, an id prefix within the id limit.
    pub fn new(s: wit::Shape) -> Result<Shape, String> {
        let fields = convert::checked_fields(&s.fields)?;
        if s.values.len() != fields.len() {
            return Err(format!(
                "the shape has {} values for {} fields",
                s.values.len(),
                fields.len()
            ));
        }
        let values = s
            .values
            .into_iter()
            .enumerate()
            .map(|(j, v)| match v {
                wit::FieldValue::Column(c) => Ok(Source::Column(c as usize)),
                wit::FieldValue::Constant(v) => convert::value(v)
                    .map(Source::Constant)
                    .map_err(|e| format!("field `{}`: {e}", fields[j])),
            })
            .collect::<Result<Vec<_>, String>>()?;
        // The prefix alone must leave room for the key values.
        convert::check_id(0, &format!("{}_", s.id_prefix))
            .map_err(|e| format!("id prefix: {e}"))?;
        convert::check_timestamp("(every document of the shape)", s.timestamp.as_deref())?;
        let id_columns: Vec<usize> = s.id_columns.iter().map(|&c| c as usize).collect();
        let max_column = values
            .iter()
            .filter_map(|v| match v {
                Source::Column(c) => Some(*c),
                Source::Constant(_) => None,
            })
            .chain(id_columns.iter().copied())
            .max();
        Ok(Shape {
            timestamp_field: convert::timestamp_field(&fields),
            fields,
            values,
            id_prefix: s.id_prefix,
            id_columns,
            operation: convert::operation(s.operation),
            timestamp: s.timestamp,
            max_column,
        })
    }

    /// Appends one document per row of `data` (a codec batch) to `out`; the
    /// number of rows.
    pub fn documents(&self, data: &[u8], out: &mut Vec<Document>) -> Result<u32, String> {
        let mut dec = Decoder::new(data).map_err(|e| format!("row batch: {e}"))?;
        let columns = dec.columns() as usize;
        if let Some(c) = self.max_column.filter(|&c| c >= columns) {
            return Err(format!(
                "the shape reads column {c}, the result has {columns} columns"
            ));
        }
        let mut row: Vec<Cell<'_>> = Vec::with_capacity(columns);
        let mut n = 0u32;
        while dec
            .next_row(&mut row)
            .map_err(|e| format!("row batch: {e}"))?
        {
            let mut id = self.id_prefix.clone();
            let mut first = true;
            for &k in &self.id_columns {
                // Elastic leaves NULL key values out of the id.
                if matches!(row[k], Cell::Null) {
                    continue;
                }
                if !first {
                    id.push('_');
                }
                first = false;
                write_id_text(&row[k], &mut id);
            }
            convert::check_id(n as usize, &id)?;
            let values = self
                .values
                .iter()
                .enumerate()
                .map(|(j, s)| match s {
                    Source::Column(c) => cell_value(&row[*c]).map_err(|e| {
                        format!(
                            "document `{}`, field `{}`: {e}",
                            id.escape_debug(),
                            self.fields[j]
                        )
                    }),
                    Source::Constant(v) => Ok(v.clone()),
                })
                .collect::<Result<Vec<Value>, String>>()?;
            let timestamp = convert::timestamp_from_field(
                &id,
                self.timestamp_field,
                &values,
                self.timestamp.clone(),
            )?;
            out.push(Document {
                id,
                operation: self.operation,
                timestamp,
                fields: self.fields.clone(),
                values,
            });
            n += 1;
        }
        Ok(n)
    }
}

/// A cell as the host writes it: the SDK's mapping, then the checks every plugin
/// value gets (JSON re-encoded on one line, numbers valid).
fn cell_value(c: &Cell<'_>) -> Result<Value, String> {
    convert::checked_value(match doc_value(c) {
        DocValue::Null => Value::Null,
        DocValue::Bool(b) => Value::Bool(b),
        DocValue::Int(i) => Value::I64(i),
        DocValue::Float(f) => Value::F64(f),
        DocValue::Number(n) => Value::Number(n.into_owned()),
        DocValue::Text(t) => Value::Text(t.into_owned()),
        DocValue::Json(j) => Value::Json(j.into_owned()),
    })
}
