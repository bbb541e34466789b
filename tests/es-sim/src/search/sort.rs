//! Sort specifications, per-hit sort values, their ordering and `search_after`.

use super::query::Doc;
use crate::dates;
use crate::http::EsError;
use crate::mapping::{Kind, ObjectMapping};
use serde_json::{json, Value};
use std::cmp::Ordering;

#[derive(Clone, Debug, PartialEq)]
pub enum SortField {
    Score,
    Doc,
    ShardDoc,
    Field(String),
}

#[derive(Clone, Debug)]
pub struct SortKey {
    pub field: SortField,
    pub desc: bool,
    pub missing_first: bool,
    pub unmapped_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub enum SortVal {
    Missing,
    Int(i64),
    Float(f64),
    Str(String),
}

fn order(v: &Value) -> Result<bool, EsError> {
    match v.as_str() {
        Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        _ => Err(EsError::illegal_argument(format!(
            "Unknown SortOrder [{v}]"
        ))),
    }
}

fn key(name: &str, desc: bool) -> SortKey {
    let field = match name {
        "_score" => SortField::Score,
        "_doc" => SortField::Doc,
        "_shard_doc" => SortField::ShardDoc,
        f => SortField::Field(f.to_string()),
    };
    // `_score` sorts descending unless told otherwise.
    SortKey {
        field,
        desc,
        missing_first: false,
        unmapped_type: None,
    }
}

fn parse_one(v: &Value) -> Result<SortKey, EsError> {
    match v {
        Value::String(s) => Ok(key(s, s == "_score")),
        Value::Object(m) => {
            let Some((name, spec)) = m.iter().next() else {
                return Err(EsError::new(400, "parsing_exception", "malformed sort"));
            };
            match spec {
                Value::String(_) => Ok(key(name, order(spec)?)),
                Value::Object(o) => {
                    let mut k = key(name, name == "_score");
                    for (p, val) in o {
                        match p.as_str() {
                            "order" => k.desc = order(val)?,
                            "missing" => k.missing_first = val.as_str() == Some("_first"),
                            "unmapped_type" => k.unmapped_type = val.as_str().map(str::to_string),
                            "mode" | "numeric_type" | "format" | "nested" => {}
                            other => {
                                return Err(EsError::new(
                                    400,
                                    "parsing_exception",
                                    format!("[field_sort] unknown field [{other}]"),
                                ))
                            }
                        }
                    }
                    Ok(k)
                }
                _ => Err(EsError::new(
                    400,
                    "parsing_exception",
                    format!("malformed sort for [{name}]"),
                )),
            }
        }
        _ => Err(EsError::new(400, "parsing_exception", "malformed sort")),
    }
}

pub fn parse(v: Option<&Value>) -> Result<Vec<SortKey>, EsError> {
    match v {
        None => Ok(vec![]),
        Some(Value::Array(a)) => a.iter().map(parse_one).collect(),
        Some(other) => Ok(vec![parse_one(other)?]),
    }
}

/// `sort=field:asc,other:desc` as a URL parameter.
pub fn parse_param(s: &str) -> Vec<SortKey> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once(':') {
            Some((f, o)) => key(f, o == "desc"),
            None => key(p, p == "_score"),
        })
        .collect()
}

/// A sort key resolved against one index.
#[derive(Clone, Debug)]
pub struct CompiledKey {
    pub field: SortField,
    pub kind: Kind,
    pub source_path: String,
    pub desc: bool,
    pub missing_first: bool,
}

pub fn compile(
    keys: &[SortKey],
    m: &ObjectMapping,
    index: &str,
) -> Result<Vec<CompiledKey>, EsError> {
    keys.iter()
        .map(|k| {
            let (kind, path) = match &k.field {
                SortField::Field(f) if f == "_id" => (Kind::Keyword, "_id".to_string()),
                SortField::Field(f) => match m.resolve(f) {
                    Some(r) if r.kind == Kind::Text => {
                        return Err(EsError::illegal_argument(format!(
                            "Fielddata is disabled on [{f}] in [{index}]. Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [{f}] in order to load field data by uninverting the inverted index. Note that this can use significant memory."
                        )))
                    }
                    Some(r) => (r.kind, r.source_path),
                    None => match &k.unmapped_type {
                        Some(t) => (
                            match t.as_str() {
                                "long" | "integer" | "short" | "byte" => Kind::Integer(i64::MIN, i64::MAX),
                                "double" | "float" => Kind::Float,
                                "date" => Kind::Date,
                                "boolean" => Kind::Boolean,
                                _ => Kind::Keyword,
                            },
                            f.clone(),
                        ),
                        None => {
                            return Err(EsError::new(400, "query_shard_exception", format!("No mapping found for [{f}] in order to sort on"))
                                .with("index_uuid", "_na_")
                                .with("index", index))
                        }
                    },
                },
                _ => (Kind::Integer(i64::MIN, i64::MAX), String::new()),
            };
            Ok(CompiledKey { field: k.field.clone(), kind, source_path: path, desc: k.desc, missing_first: k.missing_first })
        })
        .collect()
}

fn to_sortval(kind: Kind, v: &Value) -> Option<SortVal> {
    match kind {
        Kind::Integer(..) => match v {
            Value::Number(n) => n
                .as_i64()
                .map(SortVal::Int)
                .or_else(|| n.as_f64().map(|f| SortVal::Int(f as i64))),
            Value::String(s) => s.parse::<f64>().ok().map(|f| SortVal::Int(f as i64)),
            _ => None,
        },
        Kind::Float => match v {
            Value::Number(n) => n.as_f64().map(SortVal::Float),
            Value::String(s) => s.parse().ok().map(SortVal::Float),
            _ => None,
        },
        Kind::Date => dates::to_millis(v).map(SortVal::Int),
        Kind::Boolean => match v {
            Value::Bool(b) => Some(SortVal::Int(*b as i64)),
            Value::String(s) => Some(SortVal::Int((s == "true") as i64)),
            _ => None,
        },
        _ => match v {
            Value::String(s) => Some(SortVal::Str(s.clone())),
            Value::Number(n) => Some(SortVal::Str(n.to_string())),
            Value::Bool(b) => Some(SortVal::Str(b.to_string())),
            _ => None,
        },
    }
}

/// The sort values of one hit. `shard_doc` identifies the document (index ordinal, slot).
pub fn values(keys: &[CompiledKey], doc: &Doc, shard_doc: i64) -> Vec<SortVal> {
    keys.iter()
        .map(|k| match &k.field {
            SortField::Score => SortVal::Float(1.0),
            SortField::Doc | SortField::ShardDoc => SortVal::Int(shard_doc),
            SortField::Field(_) if k.source_path == "_id" => SortVal::Str(doc.id.to_string()),
            SortField::Field(_) => {
                let vals: Vec<SortVal> = doc
                    .values(&k.source_path)
                    .into_iter()
                    .filter_map(|v| to_sortval(k.kind, v))
                    .collect();
                // Arrays sort by their minimum ascending and their maximum descending.
                let pick = if k.desc {
                    vals.into_iter().reduce(|a, b| {
                        if cmp_val(&b, &a) == Ordering::Greater {
                            b
                        } else {
                            a
                        }
                    })
                } else {
                    vals.into_iter().reduce(|a, b| {
                        if cmp_val(&b, &a) == Ordering::Less {
                            b
                        } else {
                            a
                        }
                    })
                };
                pick.unwrap_or(SortVal::Missing)
            }
        })
        .collect()
}

fn cmp_val(a: &SortVal, b: &SortVal) -> Ordering {
    match (a, b) {
        (SortVal::Int(x), SortVal::Int(y)) => x.cmp(y),
        (SortVal::Float(x), SortVal::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (SortVal::Int(x), SortVal::Float(y)) => {
            (*x as f64).partial_cmp(y).unwrap_or(Ordering::Equal)
        }
        (SortVal::Float(x), SortVal::Int(y)) => {
            x.partial_cmp(&(*y as f64)).unwrap_or(Ordering::Equal)
        }
        (SortVal::Str(x), SortVal::Str(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Orders two hits' sort values by the keys' directions; missing values go last (or first).
pub fn compare(keys: &[CompiledKey], a: &[SortVal], b: &[SortVal]) -> Ordering {
    for (i, k) in keys.iter().enumerate() {
        let (x, y) = (&a[i], &b[i]);
        let o = match (x, y) {
            (SortVal::Missing, SortVal::Missing) => Ordering::Equal,
            (SortVal::Missing, _) => {
                if k.missing_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (_, SortVal::Missing) => {
                if k.missing_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            _ => {
                let o = cmp_val(x, y);
                if k.desc {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Parses `search_after` values in the shape of the keys.
pub fn parse_after(keys: &[CompiledKey], after: &[Value]) -> Result<Vec<SortVal>, EsError> {
    if after.len() != keys.len() {
        return Err(EsError::illegal_argument(format!(
            "search_after has {} value(s) but sort has {}.",
            after.len(),
            keys.len()
        )));
    }
    Ok(keys
        .iter()
        .zip(after)
        .map(|(k, v)| {
            if v.is_null() {
                return SortVal::Missing;
            }
            match &k.field {
                SortField::Score => to_sortval(Kind::Float, v).unwrap_or(SortVal::Missing),
                SortField::Doc | SortField::ShardDoc => {
                    to_sortval(Kind::Integer(0, 0), v).unwrap_or(SortVal::Missing)
                }
                SortField::Field(_) => match (k.kind, v) {
                    // Missing numeric values are rendered as Long.MAX/MIN; read them back as missing.
                    (Kind::Integer(..) | Kind::Date, Value::Number(n))
                        if n.as_i64() == Some(i64::MAX) || n.as_i64() == Some(i64::MIN) =>
                    {
                        SortVal::Missing
                    }
                    _ => to_sortval(k.kind, v).unwrap_or(SortVal::Missing),
                },
            }
        })
        .collect())
}

pub fn render(keys: &[CompiledKey], vals: &[SortVal]) -> Value {
    Value::Array(
        keys.iter()
            .zip(vals)
            .map(|(k, v)| match v {
                SortVal::Int(i) => json!(i),
                SortVal::Float(f) => json!(f),
                SortVal::Str(s) => json!(s),
                SortVal::Missing => match k.kind {
                    Kind::Integer(..) | Kind::Date | Kind::Boolean | Kind::Float => {
                        let last = !k.missing_first;
                        if last != k.desc {
                            json!(i64::MAX)
                        } else {
                            json!(i64::MIN)
                        }
                    }
                    _ => Value::Null,
                },
            })
            .collect(),
    )
}
