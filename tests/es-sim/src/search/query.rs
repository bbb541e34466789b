//! The query DSL subset: parsing into `Query`, compiling against an index mapping, and matching
//! a document. Scoring is constant (1.0): relevance is out of scope.

use crate::dates;
use crate::http::EsError;
use crate::mapping::{Kind, ObjectMapping, Resolved};
use serde_json::{Map, Value};
use std::cell::OnceCell;

#[derive(Clone, Debug)]
pub enum Query {
    MatchAll,
    MatchNone,
    Term {
        field: String,
        value: Value,
        case_insensitive: bool,
    },
    Terms {
        field: String,
        values: Vec<Value>,
    },
    Ids(Vec<String>),
    Range {
        field: String,
        gt: Option<Value>,
        gte: Option<Value>,
        lt: Option<Value>,
        lte: Option<Value>,
    },
    Exists(String),
    Bool {
        must: Vec<Query>,
        filter: Vec<Query>,
        should: Vec<Query>,
        must_not: Vec<Query>,
        msm: Option<usize>,
    },
    Match {
        field: String,
        text: Value,
        and: bool,
    },
    MatchPhrase {
        field: String,
        text: String,
    },
    Prefix {
        field: String,
        value: String,
    },
    Wildcard {
        field: String,
        value: String,
    },
}

pub fn parsing(reason: impl Into<String>) -> EsError {
    EsError::new(400, "parsing_exception", reason)
}

fn single_field<'a>(name: &str, v: &'a Value) -> Result<(&'a String, &'a Value), EsError> {
    let Some(m) = v.as_object() else {
        return Err(parsing(format!(
            "[{name}] query malformed, no start_object after query name"
        )));
    };
    let mut it = m.iter();
    let Some((f, val)) = it.next() else {
        return Err(parsing(format!(
            "[{name}] query malformed, no field specified"
        )));
    };
    if let Some((f2, _)) = it.next() {
        return Err(parsing(format!(
            "[{name}] query doesn't support multiple fields, found [{f}] and [{f2}]"
        )));
    }
    Ok((f, val))
}

fn clauses(name: &str, v: &Value) -> Result<Vec<Query>, EsError> {
    match v {
        Value::Array(a) => a.iter().map(parse).collect(),
        Value::Object(_) => Ok(vec![parse(v)?]),
        _ => Err(parsing(format!("[bool] query does not support [{name}]"))),
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses one query object (`{"term": {...}}`).
pub fn parse(v: &Value) -> Result<Query, EsError> {
    let Some(m) = v.as_object() else {
        return Err(parsing("query malformed, must start with start_object"));
    };
    let mut it = m.iter();
    let Some((name, body)) = it.next() else {
        return Err(parsing("query malformed, empty clause found"));
    };
    if let Some((n2, _)) = it.next() {
        return Err(parsing(format!(
            "[{name}] malformed query, expected [END_OBJECT] but found [FIELD_NAME] ({n2})"
        )));
    }
    Ok(match name.as_str() {
        "match_all" => Query::MatchAll,
        "match_none" => Query::MatchNone,
        "term" => {
            let (f, val) = single_field(name, body)?;
            let (value, ci) = match val {
                Value::Object(o) => (
                    o.get("value")
                        .cloned()
                        .ok_or_else(|| parsing("[term] query does not support [value] missing"))?,
                    o.get("case_insensitive")
                        .and_then(|c| c.as_bool())
                        .unwrap_or(false),
                ),
                other => (other.clone(), false),
            };
            Query::Term {
                field: f.clone(),
                value,
                case_insensitive: ci,
            }
        }
        "terms" => {
            let o = body
                .as_object()
                .ok_or_else(|| parsing("[terms] query malformed"))?;
            let mut field = None;
            for (k, val) in o {
                if k == "boost" || k == "_name" {
                    continue;
                }
                let Value::Array(a) = val else {
                    return Err(parsing(format!("[terms] query does not support [{k}]")));
                };
                if field.is_some() {
                    return Err(parsing("[terms] query does not support multiple fields"));
                }
                field = Some((k.clone(), a.clone()));
            }
            let (field, values) = field.ok_or_else(|| parsing("[terms] query requires a field"))?;
            Query::Terms { field, values }
        }
        "ids" => {
            let vals = body
                .get("values")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            Query::Ids(vals.iter().map(text_of).collect())
        }
        "range" => {
            let (f, val) = single_field(name, body)?;
            let o = val
                .as_object()
                .ok_or_else(|| parsing("[range] query malformed"))?;
            let (mut gt, mut gte, mut lt, mut lte) = (None, None, None, None);
            for (k, b) in o {
                match k.as_str() {
                    "gt" => gt = Some(b.clone()),
                    "gte" | "from" => gte = Some(b.clone()),
                    "lt" => lt = Some(b.clone()),
                    "lte" | "to" => lte = Some(b.clone()),
                    "format" | "time_zone" | "boost" | "relation" | "include_lower"
                    | "include_upper" => {}
                    other => {
                        return Err(parsing(format!("[range] query does not support [{other}]")))
                    }
                }
            }
            Query::Range {
                field: f.clone(),
                gt,
                gte,
                lt,
                lte,
            }
        }
        "exists" => {
            let f = body
                .get("field")
                .and_then(|f| f.as_str())
                .ok_or_else(|| parsing("[exists] must be provided with a [field]"))?;
            Query::Exists(f.to_string())
        }
        "bool" => {
            let o = body
                .as_object()
                .ok_or_else(|| parsing("[bool] query malformed"))?;
            let (mut must, mut filter, mut should, mut must_not, mut msm) =
                (vec![], vec![], vec![], vec![], None);
            for (k, val) in o {
                match k.as_str() {
                    "must" => must = clauses(k, val)?,
                    "filter" => filter = clauses(k, val)?,
                    "should" => should = clauses(k, val)?,
                    "must_not" | "mustNot" => must_not = clauses(k, val)?,
                    "minimum_should_match" => {
                        msm = match val {
                            Value::Number(n) => n.as_u64().map(|n| n as usize),
                            Value::String(s) => {
                                s.trim_end_matches('%').parse::<usize>().ok().map(|n| {
                                    if s.ends_with('%') {
                                        usize::from(n > 0)
                                    } else {
                                        n
                                    }
                                })
                            }
                            _ => None,
                        }
                    }
                    "boost" | "_name" | "adjust_pure_negative" => {}
                    other => {
                        return Err(parsing(format!("[bool] query does not support [{other}]")))
                    }
                }
            }
            Query::Bool {
                must,
                filter,
                should,
                must_not,
                msm,
            }
        }
        "constant_score" => {
            let f = body
                .get("filter")
                .ok_or_else(|| parsing("[constant_score] requires a 'filter' element"))?;
            parse(f)?
        }
        "match" => {
            let (f, val) = single_field(name, body)?;
            match val {
                Value::Object(o) => Query::Match {
                    field: f.clone(),
                    text: o
                        .get("query")
                        .cloned()
                        .ok_or_else(|| parsing("[match] requires query value"))?,
                    and: o
                        .get("operator")
                        .and_then(|v| v.as_str())
                        .is_some_and(|s| s.eq_ignore_ascii_case("and")),
                },
                other => Query::Match {
                    field: f.clone(),
                    text: other.clone(),
                    and: false,
                },
            }
        }
        "match_phrase" => {
            let (f, val) = single_field(name, body)?;
            let text = match val {
                Value::Object(o) => o.get("query").map(text_of).unwrap_or_default(),
                other => text_of(other),
            };
            Query::MatchPhrase {
                field: f.clone(),
                text,
            }
        }
        "prefix" | "wildcard" => {
            let (f, val) = single_field(name, body)?;
            let value = match val {
                Value::Object(o) => o
                    .get("value")
                    .or_else(|| o.get("wildcard"))
                    .map(text_of)
                    .unwrap_or_default(),
                other => text_of(other),
            };
            if name == "prefix" {
                Query::Prefix {
                    field: f.clone(),
                    value,
                }
            } else {
                Query::Wildcard {
                    field: f.clone(),
                    value,
                }
            }
        }
        "multi_match" => {
            let text = body
                .get("query")
                .cloned()
                .ok_or_else(|| parsing("[multi_match] requires query value"))?;
            let fields: Vec<String> = body
                .get("fields")
                .and_then(|f| f.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| {
                            v.as_str()
                                .map(|s| s.split('^').next().unwrap_or(s).to_string())
                        })
                        .collect()
                })
                .unwrap_or_else(|| vec!["*".into()]);
            let and = body
                .get("operator")
                .and_then(|v| v.as_str())
                .is_some_and(|s| s.eq_ignore_ascii_case("and"));
            Query::Bool {
                must: vec![],
                filter: vec![],
                should: fields
                    .into_iter()
                    .map(|field| Query::Match {
                        field,
                        text: text.clone(),
                        and,
                    })
                    .collect(),
                must_not: vec![],
                msm: Some(1),
            }
        }
        "query_string" | "simple_query_string" => {
            let q = body
                .get("query")
                .and_then(|v| v.as_str())
                .ok_or_else(|| parsing(format!("[{name}] must be provided with a [query]")))?;
            let mut fields: Vec<String> = body
                .get("fields")
                .and_then(|f| f.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| {
                            v.as_str()
                                .map(|s| s.split('^').next().unwrap_or(s).to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Some(df) = body.get("default_field").and_then(|v| v.as_str()) {
                fields.push(df.to_string());
            }
            if fields.is_empty() {
                fields.push("*".into());
            }
            let and = body
                .get("default_operator")
                .and_then(|v| v.as_str())
                .is_some_and(|s| s.eq_ignore_ascii_case("and"));
            query_string(q, &fields, and)
        }
        other => {
            return Err(parsing(format!("unknown query [{other}]"))
                .with("line", 1)
                .with("col", 1));
        }
    })
}

/// A small `query_string`: terms, `field:value`, quoted phrases, `AND`/`OR`/`NOT`, `*`.
pub fn query_string(q: &str, fields: &[String], default_and: bool) -> Query {
    let q = q.trim();
    if q.is_empty() || q == "*" || q == "*:*" {
        return Query::MatchAll;
    }
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => {
                cur.push(c);
                quoted = !quoted;
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let (mut must, mut should, mut must_not) = (vec![], vec![], vec![]);
    let mut next_and = default_and;
    let mut negate = false;
    let mut pending: Option<Query> = None;
    let flush = |p: Option<Query>, and: bool, must: &mut Vec<Query>, should: &mut Vec<Query>| {
        if let Some(p) = p {
            if and {
                must.push(p);
            } else {
                should.push(p);
            }
        }
    };
    for t in tokens {
        match t.as_str() {
            "AND" | "&&" => {
                next_and = true;
                if let Some(p) = pending.take() {
                    must.push(p);
                }
                continue;
            }
            "OR" | "||" => {
                next_and = false;
                continue;
            }
            "NOT" | "!" => {
                negate = true;
                continue;
            }
            _ => {}
        }
        let (neg, t) = match t.strip_prefix('-') {
            Some(rest) if !rest.is_empty() => (true, rest.to_string()),
            _ => (negate, t.strip_prefix('+').unwrap_or(&t).to_string()),
        };
        negate = false;
        let (flds, value): (Vec<String>, String) = match t.split_once(':') {
            Some((f, v)) if !f.is_empty() && !f.starts_with('"') => {
                (vec![f.to_string()], v.to_string())
            }
            _ => (fields.to_vec(), t.clone()),
        };
        let leaf = |field: String| -> Query {
            if let Some(p) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Query::MatchPhrase {
                    field,
                    text: p.to_string(),
                }
            } else if value == "*" {
                Query::Exists(field)
            } else if value.contains('*') || value.contains('?') {
                Query::Wildcard {
                    field,
                    value: value.to_lowercase(),
                }
            } else {
                Query::Match {
                    field,
                    text: Value::String(value.clone()),
                    and: false,
                }
            }
        };
        let q = if flds.len() == 1 {
            leaf(flds[0].clone())
        } else {
            Query::Bool {
                must: vec![],
                filter: vec![],
                should: flds.into_iter().map(leaf).collect(),
                must_not: vec![],
                msm: Some(1),
            }
        };
        if neg {
            must_not.push(q);
            continue;
        }
        flush(pending.take(), next_and, &mut must, &mut should);
        pending = Some(q);
    }
    flush(pending, next_and, &mut must, &mut should);
    Query::Bool {
        must,
        filter: vec![],
        should,
        must_not,
        msm: None,
    }
}

// ---------------------------------------------------------------------------------------------

/// Where a field of a compiled query reads from.
#[derive(Clone, Debug)]
pub enum Target {
    Id,
    Index,
    Field(Resolved),
    /// Every text/keyword field (the `*` of query_string).
    AllText(Vec<Resolved>),
    Unmapped,
}

/// A query resolved against one index's mapping.
#[derive(Clone, Debug)]
pub enum Compiled {
    All,
    None,
    Term {
        t: Target,
        value: Value,
        ci: bool,
    },
    Terms {
        t: Target,
        values: Vec<Value>,
    },
    Ids(Vec<String>),
    Range {
        t: Target,
        gt: Option<Value>,
        gte: Option<Value>,
        lt: Option<Value>,
        lte: Option<Value>,
    },
    Exists(Target),
    Bool {
        must: Vec<Compiled>,
        should: Vec<Compiled>,
        must_not: Vec<Compiled>,
        msm: usize,
    },
    Match {
        t: Target,
        tokens: Vec<String>,
        raw: Value,
        and: bool,
    },
    Phrase {
        t: Target,
        tokens: Vec<String>,
    },
    Prefix {
        t: Target,
        value: String,
    },
    Wildcard {
        t: Target,
        value: String,
    },
}

fn all_text(m: &ObjectMapping, prefix: &str, out: &mut Vec<Resolved>) {
    for (k, f) in &m.properties {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match f {
            crate::mapping::Field::Leaf(l) if matches!(l.kind, Kind::Text | Kind::Keyword) => out
                .push(Resolved {
                    kind: l.kind,
                    source_path: path,
                }),
            crate::mapping::Field::Object(o) => all_text(o, &path, out),
            _ => {}
        }
    }
}

fn target(field: &str, m: &ObjectMapping) -> Target {
    match field {
        "_id" => Target::Id,
        "_index" => Target::Index,
        "*" => {
            let mut v = Vec::new();
            all_text(m, "", &mut v);
            Target::AllText(v)
        }
        f => match m.resolve(f) {
            Some(r) => Target::Field(r),
            None => Target::Unmapped,
        },
    }
}

pub fn compile(q: &Query, m: &ObjectMapping) -> Compiled {
    match q {
        Query::MatchAll => Compiled::All,
        Query::MatchNone => Compiled::None,
        Query::Term {
            field,
            value,
            case_insensitive,
        } => Compiled::Term {
            t: target(field, m),
            value: value.clone(),
            ci: *case_insensitive,
        },
        Query::Terms { field, values } => Compiled::Terms {
            t: target(field, m),
            values: values.clone(),
        },
        Query::Ids(ids) => Compiled::Ids(ids.clone()),
        Query::Range {
            field,
            gt,
            gte,
            lt,
            lte,
        } => Compiled::Range {
            t: target(field, m),
            gt: gt.clone(),
            gte: gte.clone(),
            lt: lt.clone(),
            lte: lte.clone(),
        },
        Query::Exists(f) => Compiled::Exists(target(f, m)),
        Query::Bool {
            must,
            filter,
            should,
            must_not,
            msm,
        } => {
            let mut all_must: Vec<Compiled> = must.iter().map(|q| compile(q, m)).collect();
            all_must.extend(filter.iter().map(|q| compile(q, m)));
            let should: Vec<Compiled> = should.iter().map(|q| compile(q, m)).collect();
            let msm = msm.unwrap_or(if all_must.is_empty() && !should.is_empty() {
                1
            } else {
                0
            });
            Compiled::Bool {
                must: all_must,
                should,
                must_not: must_not.iter().map(|q| compile(q, m)).collect(),
                msm,
            }
        }
        Query::Match { field, text, and } => Compiled::Match {
            t: target(field, m),
            tokens: tokenize(&text_of(text)),
            raw: text.clone(),
            and: *and,
        },
        Query::MatchPhrase { field, text } => Compiled::Phrase {
            t: target(field, m),
            tokens: tokenize(text),
        },
        Query::Prefix { field, value } => Compiled::Prefix {
            t: target(field, m),
            value: value.clone(),
        },
        Query::Wildcard { field, value } => Compiled::Wildcard {
            t: target(field, m),
            value: value.clone(),
        },
    }
}

impl Compiled {
    pub fn is_all(&self) -> bool {
        matches!(self, Compiled::All)
    }
}

/// The standard analyzer, roughly: lowercase, split on anything not alphanumeric.
pub fn tokenize(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| t.to_lowercase())
        .collect()
}

/// A document being matched; its source is parsed at most once, on first need.
pub struct Doc<'a> {
    pub id: &'a str,
    pub index: &'a str,
    pub raw: &'a [u8],
    parsed: OnceCell<Value>,
    /// The first path asked for and the source's entries that can hold it, parsed alone: most
    /// queries (a delete-by-query on one stamp field, a term filter) look at one field, and a
    /// full parse of every document was most of a scan's cost.
    sparse: OnceCell<(String, Value)>,
}

impl<'a> Doc<'a> {
    pub fn new(id: &'a str, index: &'a str, raw: &'a [u8]) -> Self {
        Doc {
            id,
            index,
            raw,
            parsed: OnceCell::new(),
            sparse: OnceCell::new(),
        }
    }

    pub fn source(&self) -> &Value {
        self.parsed
            .get_or_init(|| serde_json::from_slice(self.raw).unwrap_or(Value::Null))
    }

    /// All values at a dotted path, arrays flattened.
    pub fn values(&self, path: &str) -> Vec<&Value> {
        let mut out = Vec::new();
        let src = match self.parsed.get() {
            Some(full) => full,
            None => {
                let (p, v) = self
                    .sparse
                    .get_or_init(|| (path.to_string(), sparse_parse(self.raw, path)));
                if p == path {
                    v
                } else {
                    self.source()
                }
            }
        };
        collect(src, path, &mut out);
        out
    }
}

/// The top-level entries of `raw` that can hold `path` (`a`, `a.b`, … for `a.b.c`), others
/// skipped unparsed. `Null` when `raw` is not an object, as a full parse would give.
fn sparse_parse(raw: &[u8], path: &str) -> Value {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Seed<'p>(&'p str);
    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                let wanted = self.0 == k
                    || (self.0.len() > k.len()
                        && self.0.starts_with(k.as_ref())
                        && self.0.as_bytes()[k.len()] == b'.');
                if wanted {
                    out.insert(k.into_owned(), m.next_value()?);
                } else {
                    m.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Value::Object(out))
        }
    }
    let mut de = serde_json::Deserializer::from_slice(raw);
    Seed(path)
        .deserialize(&mut de)
        .ok()
        .filter(|_| de.end().is_ok())
        .unwrap_or(Value::Null)
}

fn collect<'v>(v: &'v Value, path: &str, out: &mut Vec<&'v Value>) {
    match v {
        Value::Array(a) => {
            for x in a {
                collect(x, path, out);
            }
        }
        Value::Object(m) => {
            if path.is_empty() {
                out.push(v);
                return;
            }
            if let Some(x) = m.get(path) {
                leaf(x, out);
            }
            // Also `{"a": {"b": ...}}` for path `a.b`, and `{"a.b": ...}` (dotted keys).
            let mut i = 0;
            while let Some(dot) = path[i..].find('.') {
                let head = &path[..i + dot];
                if let Some(x) = m.get(head) {
                    collect(x, &path[i + dot + 1..], out);
                }
                i += dot + 1;
            }
        }
        _ => {}
    }
}

fn leaf<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    match v {
        Value::Array(a) => {
            for x in a {
                leaf(x, out);
            }
        }
        Value::Null => {}
        other => out.push(other),
    }
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn as_num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

fn eq_value(kind: Kind, dv: &Value, qv: &Value, ci: bool) -> bool {
    match kind {
        Kind::Keyword | Kind::Other => match (as_string(dv), as_string(qv)) {
            (Some(a), Some(b)) => {
                if ci {
                    a.to_lowercase() == b.to_lowercase()
                } else {
                    a == b
                }
            }
            _ => false,
        },
        Kind::Text => match (as_string(dv), as_string(qv)) {
            (Some(a), Some(b)) => {
                let b = if ci { b.to_lowercase() } else { b };
                tokenize(&a).contains(&b)
            }
            _ => false,
        },
        Kind::Integer(..) | Kind::Float => {
            matches!((as_num(dv), as_num(qv)), (Some(a), Some(b)) if a == b)
        }
        Kind::Boolean => matches!((as_bool(dv), as_bool(qv)), (Some(a), Some(b)) if a == b),
        Kind::Date => {
            matches!((dates::to_millis(dv), dates::to_millis(qv)), (Some(a), Some(b)) if a == b)
        }
        Kind::Object => false,
    }
}

fn cmp_value(kind: Kind, dv: &Value, bound: &Value) -> Option<std::cmp::Ordering> {
    match kind {
        Kind::Integer(..) | Kind::Float => as_num(dv)?.partial_cmp(&as_num(bound)?),
        Kind::Date => Some(dates::to_millis(dv)?.cmp(&dates::to_millis(bound)?)),
        Kind::Boolean => Some(as_bool(dv)?.cmp(&as_bool(bound)?)),
        _ => Some(as_string(dv)?.cmp(&as_string(bound)?)),
    }
}

pub fn glob_match(pat: &str, s: &str) -> bool {
    fn rec(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => rec(&p[1..], s) || (!s.is_empty() && rec(p, &s[1..])),
            (Some('?'), Some(_)) => rec(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => rec(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let s: Vec<char> = s.chars().collect();
    rec(&p, &s)
}

/// Evaluates `pred` over the values a target yields for `doc`.
fn any_value(doc: &Doc, t: &Target, pred: &dyn Fn(Kind, &Value) -> bool) -> bool {
    match t {
        Target::Id => pred(Kind::Keyword, &Value::String(doc.id.to_string())),
        Target::Index => pred(Kind::Keyword, &Value::String(doc.index.to_string())),
        Target::Unmapped => false,
        Target::Field(r) => doc
            .values(&r.source_path)
            .into_iter()
            .any(|v| pred(r.kind, v)),
        Target::AllText(rs) => rs.iter().any(|r| {
            doc.values(&r.source_path)
                .into_iter()
                .any(|v| pred(r.kind, v))
        }),
    }
}

pub fn matches(q: &Compiled, doc: &Doc) -> bool {
    match q {
        Compiled::All => true,
        Compiled::None => false,
        Compiled::Ids(ids) => ids.iter().any(|i| i == doc.id),
        Compiled::Term { t, value, ci } => any_value(doc, t, &|k, v| eq_value(k, v, value, *ci)),
        Compiled::Terms { t, values } => any_value(doc, t, &|k, v| {
            values.iter().any(|q| eq_value(k, v, q, false))
        }),
        Compiled::Range {
            t,
            gt,
            gte,
            lt,
            lte,
        } => any_value(doc, t, &|k, v| {
            use std::cmp::Ordering::*;
            let ok = |b: &Option<Value>, good: &[std::cmp::Ordering]| match b {
                None => true,
                Some(b) => cmp_value(k, v, b).is_some_and(|o| good.contains(&o)),
            };
            ok(gt, &[Greater])
                && ok(gte, &[Greater, Equal])
                && ok(lt, &[Less])
                && ok(lte, &[Less, Equal])
        }),
        Compiled::Exists(t) => match t {
            Target::Id | Target::Index => true,
            Target::Unmapped => false,
            Target::Field(r) if r.kind == Kind::Object => {
                doc.values(&r.source_path)
                    .iter()
                    .any(|v| v.as_object().is_some_and(|o| !o.is_empty()))
                    || !doc.values(&r.source_path).is_empty()
            }
            _ => any_value(doc, t, &|_, _| true),
        },
        Compiled::Bool {
            must,
            should,
            must_not,
            msm,
        } => {
            must.iter().all(|c| matches(c, doc))
                && !must_not.iter().any(|c| matches(c, doc))
                && (*msm == 0 || should.iter().filter(|c| matches(c, doc)).count() >= *msm)
        }
        Compiled::Match {
            t,
            tokens,
            raw,
            and,
        } => any_value_set(doc, t, |k, vals| match k {
            Kind::Text => {
                let dt: Vec<String> = vals
                    .iter()
                    .filter_map(|v| as_string(v))
                    .flat_map(|s| tokenize(&s))
                    .collect();
                if tokens.is_empty() {
                    return false;
                }
                if *and {
                    tokens.iter().all(|t| dt.contains(t))
                } else {
                    tokens.iter().any(|t| dt.contains(t))
                }
            }
            k => vals.iter().any(|v| eq_value(k, v, raw, false)),
        }),
        Compiled::Phrase { t, tokens } => any_value(doc, t, &|k, v| match (k, as_string(v)) {
            (Kind::Text, Some(s)) => {
                let dt = tokenize(&s);
                !tokens.is_empty() && dt.windows(tokens.len()).any(|w| w == tokens.as_slice())
            }
            (_, Some(s)) => tokens.join(" ") == s.to_lowercase() || s == tokens.join(" "),
            _ => false,
        }),
        Compiled::Prefix { t, value } => any_value(doc, t, &|k, v| match (k, as_string(v)) {
            (Kind::Text, Some(s)) => tokenize(&s)
                .iter()
                .any(|tok| tok.starts_with(value.as_str())),
            (_, Some(s)) => s.starts_with(value.as_str()),
            _ => false,
        }),
        Compiled::Wildcard { t, value } => any_value(doc, t, &|k, v| match (k, as_string(v)) {
            (Kind::Text, Some(s)) => tokenize(&s).iter().any(|tok| glob_match(value, tok)),
            (_, Some(s)) => glob_match(value, &s),
            _ => false,
        }),
    }
}

/// Like `any_value` but hands the predicate all values of each field at once (for `and`).
fn any_value_set(doc: &Doc, t: &Target, pred: impl Fn(Kind, &[&Value]) -> bool) -> bool {
    match t {
        Target::Id => pred(Kind::Keyword, &[&Value::String(doc.id.to_string())]),
        Target::Index => pred(Kind::Keyword, &[&Value::String(doc.index.to_string())]),
        Target::Unmapped => false,
        Target::Field(r) => pred(r.kind, &doc.values(&r.source_path)),
        Target::AllText(rs) => rs.iter().any(|r| pred(r.kind, &doc.values(&r.source_path))),
    }
}

pub fn parse_opt(body: &Map<String, Value>) -> Result<Query, EsError> {
    match body.get("query") {
        None => Ok(Query::MatchAll),
        Some(q) => parse(q),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping() -> ObjectMapping {
        ObjectMapping::from_json(
            &json!({"properties": {
                "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
                "status": {"type": "keyword"}, "n": {"type": "long"}, "ok": {"type": "boolean"},
                "at": {"type": "date"}, "connector": {"properties": {"id": {"type": "keyword"}}}
            }}),
            true,
        )
        .unwrap()
    }

    fn hit(q: Value, src: Value) -> bool {
        let m = mapping();
        let c = compile(&parse(&q).unwrap(), &m);
        let raw = serde_json::to_vec(&src).unwrap();
        matches(&c, &Doc::new("id1", "ix", &raw))
    }

    /// The one-field parse finds what the full parse finds, dotted keys and objects included.
    #[test]
    fn sparse_values_match_full_values() {
        let raw = br#"{"a":{"b":[1,{"c":2}]},"a.b":{"c":3},"z":"x","a.bc":9}"#;
        for path in ["a.b.c", "a.b", "a", "z", "a.bc", "missing"] {
            let sparse = Doc::new("1", "ix", raw);
            let full = Doc::new("1", "ix", raw);
            full.source();
            assert_eq!(sparse.values(path), full.values(path), "{path}");
        }
        // A second, different path falls back to the full parse.
        let d = Doc::new("1", "ix", raw);
        assert_eq!(d.values("z"), vec![&Value::String("x".into())]);
        assert_eq!(d.values("a.bc"), vec![&json!(9)]);
        assert!(Doc::new("1", "ix", b"[1]").values("a").is_empty());
    }

    #[test]
    fn query_types() {
        let d = json!({"title": "Hello World", "status": "pending", "n": 5, "ok": true, "at": "2024-01-02T00:00:00Z", "connector": {"id": "c1"}});
        assert!(hit(json!({"term": {"status": "pending"}}), d.clone()));
        assert!(!hit(json!({"term": {"status": "Pending"}}), d.clone()));
        assert!(hit(
            json!({"term": {"status": {"value": "Pending", "case_insensitive": true}}}),
            d.clone()
        ));
        assert!(hit(json!({"term": {"title": "hello"}}), d.clone()));
        assert!(!hit(json!({"term": {"title": "Hello World"}}), d.clone()));
        assert!(hit(
            json!({"term": {"title.keyword": "Hello World"}}),
            d.clone()
        ));
        assert!(hit(
            json!({"terms": {"connector.id": ["x", "c1"]}}),
            d.clone()
        ));
        assert!(hit(json!({"ids": {"values": ["id1"]}}), d.clone()));
        assert!(hit(json!({"range": {"n": {"gte": 5, "lt": 6}}}), d.clone()));
        assert!(!hit(json!({"range": {"n": {"gt": 5}}}), d.clone()));
        assert!(hit(json!({"range": {"at": {"lte": "now"}}}), d.clone()));
        assert!(hit(json!({"exists": {"field": "title"}}), d.clone()));
        assert!(!hit(json!({"exists": {"field": "nope"}}), d.clone()));
        assert!(hit(json!({"term": {"ok": true}}), d.clone()));
        assert!(hit(json!({"match": {"title": "world peace"}}), d.clone()));
        assert!(!hit(
            json!({"match": {"title": {"query": "world peace", "operator": "and"}}}),
            d.clone()
        ));
        assert!(hit(
            json!({"match_phrase": {"title": "hello world"}}),
            d.clone()
        ));
        assert!(hit(
            json!({"query_string": {"query": "status:pending AND world"}}),
            d.clone()
        ));
        assert!(!hit(
            json!({"query_string": {"query": "status:done"}}),
            d.clone()
        ));
        assert!(hit(
            json!({"bool": {"must": [{"term": {"status": "pending"}}], "must_not": {"term": {"n": 4}},
            "should": [{"term": {"status": "x"}}], "filter": [{"exists": {"field": "n"}}]}}),
            d.clone()
        ));
        assert!(!hit(
            json!({"bool": {"should": [{"term": {"status": "x"}}]}}),
            d.clone()
        ));
        assert!(!hit(
            json!({"bool": {"must_not": [{"term": {"status": "pending"}}]}}),
            d.clone()
        ));
        // Unmapped fields match nothing, as in Elasticsearch.
        assert!(!hit(
            json!({"term": {"unmapped": "x"}}),
            json!({"unmapped": "x"})
        ));
        assert_eq!(
            parse(&json!({"nope": {}})).unwrap_err().reason,
            "unknown query [nope]"
        );
        assert!(parse(&json!({"term": {"a": 1, "b": 2}})).is_err());
    }
}
