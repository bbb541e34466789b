//! Documents and batches: positional values, field names once per batch.

use std::collections::HashMap;

use crate::wit;

/// One field value of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// The document has no such field (it is not written).
    Absent,
    /// JSON `null`.
    Null,
    /// JSON boolean.
    Bool(bool),
    /// A signed integer, written exactly.
    Int(i64),
    /// An unsigned integer, written exactly.
    UInt(u64),
    /// A float; non-finite values are written as `"NaN"`, `"Infinity"`, `"-Infinity"`.
    Float(f64),
    /// A JSON number written verbatim (exact decimal digits). Must be valid JSON number text.
    Number(String),
    /// A string.
    Text(String),
    /// Nested JSON (object or array) as JSON text.
    Json(String),
}

impl Value {
    pub(crate) fn into_wit(self) -> wit::Value {
        match self {
            Value::Absent => wit::Value::Absent,
            Value::Null => wit::Value::Null,
            Value::Bool(b) => wit::Value::Boolean(b),
            Value::Int(i) => wit::Value::Integer(i),
            Value::UInt(u) => wit::Value::Unsigned(u),
            Value::Float(f) => wit::Value::Float(f),
            Value::Number(n) => wit::Value::Number(n),
            Value::Text(t) => wit::Value::Text(t),
            Value::Json(j) => wit::Value::Json(j),
        }
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::UInt(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
impl From<serde_json::Value> for Value {
    /// Scalars map to their own variants; objects and arrays become [`Value::Json`].
    fn from(v: serde_json::Value) -> Self {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(b),
            J::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Value::Int(i),
                (None, Some(u)) => Value::UInt(u),
                _ => Value::Number(n.to_string()),
            },
            J::String(s) => Value::Text(s),
            other => Value::Json(other.to_string()),
        }
    }
}

/// What the host does with a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Operation {
    /// Index (full syncs always index).
    #[default]
    Index,
    /// Partial update (incremental syncs).
    Update,
    /// Delete by id (incremental syncs).
    Delete,
}

impl Operation {
    pub(crate) fn into_wit(self) -> wit::Operation {
        match self {
            Operation::Index => wit::Operation::Index,
            Operation::Update => wit::Operation::Update,
            Operation::Delete => wit::Operation::Delete,
        }
    }
}

/// One document: `values[i]` belongs to the batch's `fields[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The Elasticsearch `_id`.
    pub id: String,
    /// Index, update or delete.
    pub operation: Operation,
    /// ISO-8601 `_timestamp`, if the source knows one.
    pub timestamp: Option<String>,
    /// Positional values.
    pub values: Vec<Value>,
}

/// A finished batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    /// Field names, once per batch.
    pub fields: Vec<String>,
    /// The documents.
    pub documents: Vec<Document>,
}

impl Batch {
    /// Number of documents.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// True when there is no document.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// The documents as JSON objects (`_id` plus body), as the host would write them:
    /// for tests and debugging, not the fast path.
    pub fn to_json(&self) -> Vec<serde_json::Value> {
        self.documents
            .iter()
            .map(|d| {
                let mut o = serde_json::Map::new();
                o.insert("_id".into(), serde_json::Value::String(d.id.clone()));
                for (f, v) in self.fields.iter().zip(&d.values) {
                    let j = match v {
                        Value::Absent => continue,
                        Value::Null => serde_json::Value::Null,
                        Value::Bool(b) => (*b).into(),
                        Value::Int(i) => (*i).into(),
                        Value::UInt(u) => (*u).into(),
                        Value::Float(x) if x.is_nan() => "NaN".into(),
                        Value::Float(x) if x.is_infinite() => {
                            (if *x > 0.0 { "Infinity" } else { "-Infinity" }).into()
                        }
                        Value::Float(x) => serde_json::Number::from_f64(*x)
                            .map_or(serde_json::Value::Null, Into::into),
                        Value::Number(n) | Value::Json(n) => serde_json::from_str(n)
                            .unwrap_or_else(|_| serde_json::Value::String(n.clone())),
                        Value::Text(t) => t.clone().into(),
                    };
                    o.insert(f.clone(), j);
                }
                serde_json::Value::Object(o)
            })
            .collect()
    }

    pub(crate) fn into_wit(self) -> wit::Batch {
        let n = self.fields.len();
        wit::Batch {
            fields: self.fields,
            documents: self
                .documents
                .into_iter()
                .map(|d| {
                    let mut values: Vec<wit::Value> =
                        d.values.into_iter().map(Value::into_wit).collect();
                    values.resize(n, wit::Value::Absent);
                    wit::Document {
                        id: d.id,
                        operation: d.operation.into_wit(),
                        timestamp: d.timestamp,
                        values,
                    }
                })
                .collect(),
        }
    }
}

/// Builds a batch. Either fix the fields up front ([`BatchBuilder::with_fields`] +
/// [`BatchBuilder::push`], the fast path) or name fields per document
/// ([`BatchBuilder::document`]); names are stored once per batch either way.
///
/// ```
/// use tributary_sdk::{BatchBuilder, Value};
/// let mut b = BatchBuilder::new();
/// b.document("1").set("title", "Hello").set("pages", 3).finish();
/// b.document("2").set("title", "World").finish();
/// let batch = b.finish();
/// assert_eq!(batch.fields, ["title", "pages"]);
/// assert_eq!(batch.documents[1].values, [Value::Text("World".into()), Value::Absent]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct BatchBuilder {
    fields: Vec<String>,
    index: HashMap<String, usize>,
    documents: Vec<Document>,
}

impl BatchBuilder {
    /// An empty builder; fields are added as documents name them.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder with these fields, in this order.
    pub fn with_fields<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut b = Self::new();
        for f in fields {
            b.field_index(&f.into());
        }
        b
    }

    /// Reserves room for `n` documents.
    pub fn reserve(&mut self, n: usize) {
        self.documents.reserve(n);
    }

    /// The position of `name`, adding it if new.
    pub fn field_index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.fields.len();
        self.fields.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }

    /// The fields so far.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// Adds a document of positional values (`values[i]` for field `i`; missing
    /// trailing values are [`Value::Absent`]).
    pub fn push(&mut self, id: impl Into<String>, timestamp: Option<String>, values: Vec<Value>) {
        self.push_document(Document {
            id: id.into(),
            operation: Operation::Index,
            timestamp,
            values,
        });
    }

    /// Adds a complete document.
    pub fn push_document(&mut self, doc: Document) {
        self.documents.push(doc);
    }

    /// Starts a document whose fields are named one by one.
    pub fn document(&mut self, id: impl Into<String>) -> DocumentBuilder<'_> {
        DocumentBuilder {
            batch: self,
            id: id.into(),
            operation: Operation::Index,
            timestamp: None,
            values: Vec::new(),
        }
    }

    /// Documents so far.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// True before the first document.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// The batch; documents that name fewer fields get [`Value::Absent`] for the rest.
    pub fn finish(mut self) -> Batch {
        let n = self.fields.len();
        for d in &mut self.documents {
            if d.values.len() < n {
                d.values.resize(n, Value::Absent);
            }
        }
        Batch {
            fields: self.fields,
            documents: self.documents,
        }
    }
}

/// One document under construction; see [`BatchBuilder::document`].
#[derive(Debug)]
pub struct DocumentBuilder<'a> {
    batch: &'a mut BatchBuilder,
    id: String,
    operation: Operation,
    timestamp: Option<String>,
    values: Vec<Value>,
}

impl DocumentBuilder<'_> {
    /// Sets a field (a later `set` of the same name wins).
    pub fn set(mut self, name: &str, value: impl Into<Value>) -> Self {
        let i = self.batch.field_index(name);
        if self.values.len() <= i {
            self.values.resize(i + 1, Value::Absent);
        }
        self.values[i] = value.into();
        self
    }

    /// Sets the `_timestamp`.
    pub fn timestamp(mut self, ts: impl Into<String>) -> Self {
        self.timestamp = Some(ts.into());
        self
    }

    /// Sets the operation (default: index).
    pub fn operation(mut self, op: Operation) -> Self {
        self.operation = op;
        self
    }

    /// Adds the document to the batch.
    pub fn finish(self) {
        let doc = Document {
            id: self.id,
            operation: self.operation,
            timestamp: self.timestamp,
            values: self.values,
        };
        self.batch.documents.push(doc);
    }
}
