//! Documents the host shapes from rows itself (WIT `shaping`): say once how a row
//! becomes a document, then call `Rows::emit` (PostgreSQL or MySQL) instead of
//! decoding rows and building documents in the plugin. The values of the columns
//! a shape passes through never enter the plugin: the host maps them with the
//! same lossless mapping as [`crate::postgresql::to_value`] and checks the
//! documents as it checks any batch. Emitted documents reach the sync ahead of
//! the batch the running `next_batch` returns (return an empty batch when there
//! is nothing else).
//!
//! ```no_run
//! use tributary_sdk::shape::Shape;
//! use tributary_sdk::{postgresql, Value};
//! # fn run() -> Result<(), tributary_sdk::postgresql::PgError> {
//! let session = postgresql::connect()?;
//! let mut rows = session.scan("public", "album", &["albumid".into()])?;
//! // `album_<albumid>`, every column as it is, and a constant `Table`.
//! let shape = Shape::new("album_")
//!     .columns(rows.columns().iter().map(|c| c.name.clone()))
//!     .constant("Table", Value::Text("album".into()))
//!     .id_columns([0]);
//! while rows.emit(&shape, 1000)? > 0 {}
//! # Ok(()) }
//! ```

use crate::__bindings::tributary::connector::shaping as wit;
use crate::{Operation, Value};

/// How one row becomes one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    fields: Vec<String>,
    values: Vec<FieldValue>,
    id_prefix: String,
    id_columns: Vec<u32>,
    operation: Operation,
    timestamp: Option<String>,
}

/// Where one field's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// The value of this result column (0-based).
    Column(u32),
    /// The same value in every document.
    Constant(Value),
}

impl Shape {
    /// A shape whose ids start with `id_prefix`, with no fields yet; `index`
    /// documents without a timestamp.
    pub fn new(id_prefix: impl Into<String>) -> Self {
        Shape {
            fields: Vec::new(),
            values: Vec::new(),
            id_prefix: id_prefix.into(),
            id_columns: Vec::new(),
            operation: Operation::Index,
            timestamp: None,
        }
    }

    /// Elastic's document for a result with columns `names`: one field per
    /// distinct name — a later column of the same name wins, as in the Python
    /// dict Elastic's connectors build — and the id made of the columns named
    /// `keys`, in that order. `Err` holds the first key no column has.
    pub fn from_result(
        id_prefix: impl Into<String>,
        names: &[String],
        keys: &[String],
    ) -> Result<Self, String> {
        let last_of = |name: &String| names.iter().rposition(|n| n == name);
        let mut shape = Shape::new(id_prefix);
        for (i, name) in names.iter().enumerate() {
            if last_of(name) == Some(i) {
                shape = shape.column(name.clone(), i);
            }
        }
        let mut id_columns = Vec::with_capacity(keys.len());
        for k in keys {
            id_columns.push(last_of(k).ok_or_else(|| k.clone())?);
        }
        Ok(shape.id_columns(id_columns))
    }

    /// Field `name` takes the value of result column `column`.
    pub fn column(mut self, name: impl Into<String>, column: usize) -> Self {
        self.fields.push(name.into());
        self.values.push(FieldValue::Column(column as u32));
        self
    }

    /// One field per result column, in order, named `names`.
    pub fn columns(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        for (i, name) in names.into_iter().enumerate() {
            self = self.column(name, i);
        }
        self
    }

    /// Field `name` has `value` in every document.
    pub fn constant(mut self, name: impl Into<String>, value: Value) -> Self {
        self.fields.push(name.into());
        self.values.push(FieldValue::Constant(value));
        self
    }

    /// The result columns whose values follow the prefix in the id, joined with
    /// `_` and written as Elastic's Python connectors write them (`str()` of the
    /// driver value); NULL values are left out.
    pub fn id_columns(mut self, columns: impl IntoIterator<Item = usize>) -> Self {
        self.id_columns = columns.into_iter().map(|c| c as u32).collect();
        self
    }

    /// What the target does with the documents (`index` unless set).
    pub fn operation(mut self, operation: Operation) -> Self {
        self.operation = operation;
        self
    }

    /// The `_timestamp` of every document.
    pub fn timestamp(mut self, timestamp: Option<String>) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The field names, in order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    pub(crate) fn to_wit(&self) -> wit::Shape {
        wit::Shape {
            fields: self.fields.clone(),
            values: self
                .values
                .iter()
                .map(|v| match v {
                    FieldValue::Column(c) => wit::FieldValue::Column(*c),
                    FieldValue::Constant(v) => wit::FieldValue::Constant(v.clone().into_wit()),
                })
                .collect(),
            id_prefix: self.id_prefix.clone(),
            id_columns: self.id_columns.clone(),
            operation: self.operation.into_wit(),
            timestamp: self.timestamp.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_result_shape_keeps_the_last_column_of_a_name() {
        let s = Shape::from_result("t_", &names(&["id", "a", "id", "b"]), &names(&["id"]))
            .expect("shape");
        assert_eq!(s.fields(), ["a", "id", "b"]);
        assert_eq!(
            s.values,
            [
                FieldValue::Column(1),
                FieldValue::Column(2),
                FieldValue::Column(3)
            ]
        );
        assert_eq!(s.id_columns, [2]);
        assert_eq!(
            Shape::from_result("t_", &names(&["a"]), &names(&["id"])),
            Err("id".to_string())
        );
    }
}
