//! Documents the host shapes from a capability's rows (WIT `shaping`): the plugin
//! says how a row becomes a document, the host maps each value with the codec's
//! `document` mapping (the SDK's own, so both paths write the same bytes) and
//! checks the result exactly as [`convert::batch`] checks a plugin's batch.

use std::sync::Arc;

use tributary_codec::document::write_id_text;
use tributary_codec::{doc_value, Decoder, DocValue, Kind, Value as Cell};
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

    /// Refuses a result with fewer columns than the shape reads.
    pub fn check_columns(&self, columns: usize) -> Result<(), String> {
        match self.max_column.filter(|&c| c >= columns) {
            Some(c) => Err(format!(
                "the shape reads column {c}, the result has {columns} columns"
            )),
            None => Ok(()),
        }
    }

    /// Appends one document per row of `data` (a codec batch) to `out`; the
    /// number of rows.
    pub fn documents(&self, data: &[u8], out: &mut Vec<Document>) -> Result<u32, String> {
        let mut dec = Decoder::new(data).map_err(|e| format!("row batch: {e}"))?;
        self.check_columns(dec.columns() as usize)?;
        let mut row: Vec<Cell<'_>> = Vec::with_capacity(dec.columns() as usize);
        let mut n = 0u32;
        while dec
            .next_row(&mut row)
            .map_err(|e| format!("row batch: {e}"))?
        {
            out.push(self.document(n as usize, &row)?);
            n += 1;
        }
        Ok(n)
    }

    /// The document of one row (the `n`th of its batch, for messages). The row
    /// has the columns [`Shape::check_columns`] accepted.
    pub fn document(&self, n: usize, row: &[Cell<'_>]) -> Result<Document, String> {
        let cell = |c: usize| {
            row.get(c)
                .ok_or_else(|| format!("the shape reads column {c}, the row has {}", row.len()))
        };
        let mut id = String::with_capacity(self.id_prefix.len() + 16);
        id.push_str(&self.id_prefix);
        let mut first = true;
        for &k in &self.id_columns {
            let v = cell(k)?;
            // Elastic leaves NULL key values out of the id.
            if matches!(v, Cell::Null) {
                continue;
            }
            if !first {
                id.push('_');
            }
            first = false;
            write_id_text(v, &mut id);
        }
        convert::check_id(n, &id)?;
        // A plain loop: collecting `Result`s through iterator adapters moved every
        // value several times (~8 % of the host's CPU per row, perf 2026-12-06).
        let mut values = Vec::with_capacity(self.values.len());
        for (j, source) in self.values.iter().enumerate() {
            values.push(match source {
                Source::Column(c) => match cell_value(cell(*c)?) {
                    Ok(v) => v,
                    Err(e) => return Err(self.value_refused(&id, j, e)),
                },
                Source::Constant(v) => v.clone(),
            });
        }
        let timestamp = convert::timestamp_from_field(
            &id,
            self.timestamp_field,
            &values,
            self.timestamp.clone(),
        )?;
        Ok(Document {
            id,
            operation: self.operation,
            timestamp,
            fields: self.fields.clone(),
            values,
        })
    }

    #[cold]
    fn value_refused(&self, id: &str, field: usize, e: String) -> String {
        format!(
            "document `{}`, field `{}`: {e}",
            id.escape_debug(),
            self.fields[field]
        )
    }
}

/// A cell as the host writes it: the SDK's mapping, then the checks every plugin
/// value gets (JSON re-encoded on one line, numbers valid) — except JSON that is
/// one value on one line by construction ([`one_line_json`]), which is written
/// as it is.
fn cell_value(c: &Cell<'_>) -> Result<Value, String> {
    Ok(match doc_value(c) {
        DocValue::Null => Value::Null,
        DocValue::Bool(b) => Value::Bool(b),
        DocValue::Int(i) => Value::I64(i),
        DocValue::Float(f) => Value::F64(f),
        DocValue::Text(t) => Value::Text(t.into_owned()),
        DocValue::Json(j) if one_line_json(c) => Value::Json(j.into_owned()),
        DocValue::Number(n) => convert::checked_value(Value::Number(n.into_owned()))?,
        DocValue::Json(j) => convert::checked_value(Value::Json(j.into_owned()))?,
    })
}

/// JSON the server or the codec wrote as one compact-enough value on one line:
/// PostgreSQL's `jsonb` output (its own serialisation: control characters in
/// strings are escaped) and arrays the codec writes, unless an element is `json`
/// (whose text keeps the whitespace it was stored with, newlines included).
/// Re-encoding these cost ~7 % of the host's CPU per row (bench, 2026-12-06).
fn one_line_json(c: &Cell<'_>) -> bool {
    match c {
        Cell::Jsonb(_) => true,
        Cell::Array(a) => a.element != Kind::Json,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_codec::{Array, Encoder};

    fn shape(fields: &[(&str, wit::FieldValue)], id_columns: &[u32]) -> Shape {
        Shape::new(wit::Shape {
            fields: fields.iter().map(|(f, _)| f.to_string()).collect(),
            values: fields.iter().map(|(_, v)| v.clone()).collect(),
            id_prefix: "t_".into(),
            id_columns: id_columns.to_vec(),
            operation: super::super::bindings::wit_types::Operation::Index,
            timestamp: Some("2026-12-06T00:00:00+00:00".into()),
        })
        .expect("a valid shape")
    }

    #[test]
    fn rows_become_documents_with_the_sdk_mapping() {
        let mut enc = Encoder::new(4);
        enc.begin_row();
        enc.int4(7);
        enc.json(b"{\n  \"a\": 1\n}");
        enc.jsonb(b"{\"b\": [1, 2]}");
        enc.null();
        enc.begin_row();
        enc.int4(8);
        enc.null();
        enc.null();
        enc.text("x");
        let data = enc.finish();
        let s = shape(
            &[
                ("id", wit::FieldValue::Column(0)),
                ("j", wit::FieldValue::Column(1)),
                ("jb", wit::FieldValue::Column(2)),
                ("k", wit::FieldValue::Column(3)),
                (
                    "c",
                    wit::FieldValue::Constant(super::super::bindings::wit_types::Value::Text(
                        "const".into(),
                    )),
                ),
            ],
            &[0, 3],
        );
        let mut docs = Vec::new();
        assert_eq!(s.documents(&data, &mut docs), Ok(2));
        // NULL key values are left out of the id, as Elastic does.
        assert_eq!(docs[0].id, "t_7");
        assert_eq!(docs[1].id, "t_8_x");
        // `json` keeps the user's whitespace, so it is re-encoded on one line;
        // `jsonb` is PostgreSQL's own one-line text and is written as it is.
        assert_eq!(docs[0].values[1], Value::Json("{\"a\":1}".into()));
        assert_eq!(docs[0].values[2], Value::Json("{\"b\": [1, 2]}".into()));
        assert_eq!(docs[0].values[4], Value::Text("const".into()));
        assert_eq!(
            docs[0].timestamp.as_deref(),
            Some("2026-12-06T00:00:00+00:00")
        );
    }

    #[test]
    fn arrays_of_json_are_re_encoded() {
        let json = Cell::Array(Array {
            element: Kind::Json,
            dims: vec![(1, 1)],
            elements: vec![Cell::Json("[1,\n2]")],
        });
        assert_eq!(cell_value(&json), Ok(Value::Json("[[1,2]]".into())));
        let ints = Cell::Array(Array {
            element: Kind::Int4,
            dims: vec![(2, 1)],
            elements: vec![Cell::Int4(1), Cell::Null],
        });
        assert!(one_line_json(&ints));
        assert_eq!(cell_value(&ints), Ok(Value::Json("[1,null]".into())));
    }

    #[test]
    fn bad_shapes_are_refused_by_name() {
        let refused = |fields: Vec<&str>, values: Vec<wit::FieldValue>| {
            Shape::new(wit::Shape {
                fields: fields.into_iter().map(String::from).collect(),
                values,
                id_prefix: "t_".into(),
                id_columns: vec![],
                operation: super::super::bindings::wit_types::Operation::Index,
                timestamp: None,
            })
            .err()
            .unwrap_or_default()
        };
        assert!(
            refused(vec!["_id"], vec![wit::FieldValue::Column(0)]).contains("field name \"_id\"")
        );
        assert!(refused(
            vec!["a", "a"],
            vec![wit::FieldValue::Column(0), wit::FieldValue::Column(1)]
        )
        .contains("twice"));
        assert!(refused(vec!["a"], vec![]).contains("0 values for 1 fields"));
        let mut enc = Encoder::new(1);
        enc.begin_row();
        enc.int4(1);
        let data = enc.finish();
        let s = shape(&[("a", wit::FieldValue::Column(2))], &[]);
        assert_eq!(
            s.documents(&data, &mut Vec::new()),
            Err("the shape reads column 2, the result has 1 columns".into())
        );
    }
}
