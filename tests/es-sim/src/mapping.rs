//! Index mappings: parsing and rendering, `PUT _mapping` merges with type-conflict errors, and a
//! single-pass, allocation-free check of a document against the mapping that also derives the
//! dynamic mapping of new fields (long, float, boolean, date, text + `.keyword`, object).

use crate::http::EsError;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dynamic {
    True,
    False,
    Strict,
    Runtime,
}

impl Dynamic {
    fn parse(v: &Value) -> Result<Dynamic, EsError> {
        match v {
            Value::Bool(true) => Ok(Dynamic::True),
            Value::Bool(false) => Ok(Dynamic::False),
            Value::String(s) => match s.as_str() {
                "true" => Ok(Dynamic::True),
                "false" => Ok(Dynamic::False),
                "strict" => Ok(Dynamic::Strict),
                "runtime" => Ok(Dynamic::Runtime),
                _ => Err(mapper_parsing(format!(
                    "Could not convert [dynamic.{s}] to boolean"
                ))),
            },
            _ => Err(mapper_parsing(format!(
                "Could not convert [dynamic] value [{v}]"
            ))),
        }
    }
    fn as_str(&self) -> &'static str {
        match self {
            Dynamic::True => "true",
            Dynamic::False => "false",
            Dynamic::Strict => "strict",
            Dynamic::Runtime => "runtime",
        }
    }
}

/// What a leaf field is for the purpose of checking values, matching and sorting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Text,
    Keyword,
    /// Integer types with their inclusive range.
    Integer(i64, i64),
    Float,
    Boolean,
    Date,
    Object,
    /// Any other type (geo_point, flattened, ...): accepted, matched as keyword.
    Other,
}

fn kind_of(ty: &str) -> Option<Kind> {
    Some(match ty {
        "text" | "match_only_text" | "search_as_you_type" | "semantic_text" => Kind::Text,
        "keyword" | "constant_keyword" | "wildcard" | "version" | "ip" => Kind::Keyword,
        "long" | "unsigned_long" => Kind::Integer(i64::MIN, i64::MAX),
        "integer" => Kind::Integer(i32::MIN as i64, i32::MAX as i64),
        "short" => Kind::Integer(i16::MIN as i64, i16::MAX as i64),
        "byte" => Kind::Integer(i8::MIN as i64, i8::MAX as i64),
        "double" | "float" | "half_float" | "scaled_float" => Kind::Float,
        "boolean" => Kind::Boolean,
        "date" | "date_nanos" => Kind::Date,
        "geo_point"
        | "geo_shape"
        | "flattened"
        | "binary"
        | "dense_vector"
        | "sparse_vector"
        | "alias"
        | "join"
        | "percolator"
        | "rank_feature"
        | "rank_features"
        | "integer_range"
        | "long_range"
        | "float_range"
        | "double_range"
        | "date_range"
        | "ip_range"
        | "histogram"
        | "token_count"
        | "completion"
        | "shape"
        | "point"
        | "aggregate_metric_double"
        | "counted_keyword" => Kind::Other,
        _ => return None,
    })
}

#[derive(Clone, Debug)]
pub struct Leaf {
    pub ty: String,
    pub kind: Kind,
    /// Every other parameter as given (`fields`, `format`, `ignore_above`, ...).
    pub params: Map<String, Value>,
}

impl Leaf {
    fn of(ty: &str) -> Leaf {
        Leaf {
            ty: ty.into(),
            kind: kind_of(ty).unwrap_or(Kind::Other),
            params: Map::new(),
        }
    }
    fn dynamic_text() -> Leaf {
        let mut l = Leaf::of("text");
        l.params.insert(
            "fields".into(),
            json!({"keyword": {"type": "keyword", "ignore_above": 256}}),
        );
        l
    }
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::String(self.ty.clone()));
        for (k, v) in &self.params {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

#[derive(Clone, Debug)]
pub enum Field {
    Object(ObjectMapping),
    Leaf(Leaf),
}

#[derive(Clone, Debug)]
pub struct ObjectMapping {
    pub dynamic: Option<Dynamic>,
    pub enabled: bool,
    pub nested: bool,
    pub properties: BTreeMap<String, Field>,
    /// Root-only or unrecognised object parameters kept for rendering (`_meta`, `_source`, ...).
    pub extra: Map<String, Value>,
}

impl Default for ObjectMapping {
    fn default() -> Self {
        ObjectMapping {
            dynamic: None,
            enabled: true,
            nested: false,
            properties: BTreeMap::new(),
            extra: Map::new(),
        }
    }
}

pub fn mapper_parsing(reason: impl Into<String>) -> EsError {
    EsError::new(400, "mapper_parsing_exception", reason)
}

/// Where a queried path lands in the mapping.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub kind: Kind,
    /// The path to read from `_source` (a multi-field like `title.keyword` reads `title`).
    pub source_path: String,
}

impl ObjectMapping {
    /// Parses `{"properties": ..., "dynamic": ..., ...}` (a root mapping or an object field).
    pub fn from_json(v: &Value, root: bool) -> Result<ObjectMapping, EsError> {
        let Some(m) = v.as_object() else {
            return Err(mapper_parsing(
                "Failed to parse mapping: mapping must be an object",
            ));
        };
        let mut o = ObjectMapping::default();
        for (k, val) in m {
            match k.as_str() {
                "properties" => {
                    let Some(props) = val.as_object() else {
                        return Err(mapper_parsing(
                            "Failed to parse mapping: properties must be a map type",
                        ));
                    };
                    for (name, def) in props {
                        o.properties
                            .insert(name.clone(), Field::from_json(name, def)?);
                    }
                }
                "dynamic" => o.dynamic = Some(Dynamic::parse(val)?),
                "enabled" => o.enabled = val.as_bool().unwrap_or(true),
                "type" if !root => o.nested = val.as_str() == Some("nested"),
                _ => {
                    if !root
                        && !matches!(
                            k.as_str(),
                            "subobjects" | "include_in_parent" | "include_in_root"
                        )
                    {
                        return Err(mapper_parsing(format!(
                            "unknown parameter [{k}] on mapper of type [object]"
                        )));
                    }
                    o.extra.insert(k.clone(), val.clone());
                }
            }
        }
        Ok(o)
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if self.nested {
            m.insert("type".into(), json!("nested"));
        }
        if let Some(d) = self.dynamic {
            m.insert("dynamic".into(), json!(d.as_str()));
        }
        if !self.enabled {
            m.insert("enabled".into(), json!(false));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        if !self.properties.is_empty() {
            let mut p = Map::new();
            for (k, f) in &self.properties {
                p.insert(
                    k.clone(),
                    match f {
                        Field::Leaf(l) => l.to_json(),
                        Field::Object(o) => o.to_json(),
                    },
                );
            }
            m.insert("properties".into(), Value::Object(p));
        }
        Value::Object(m)
    }

    pub fn date_detection(&self) -> bool {
        self.extra
            .get("date_detection")
            .and_then(|v| v.as_bool())
            .unwrap_or(true)
    }

    /// Merges a `PUT _mapping` body (or index-creation mappings) into this mapping.
    pub fn merge(&mut self, other: ObjectMapping, path: &str) -> Result<(), EsError> {
        if other.dynamic.is_some() {
            self.dynamic = other.dynamic;
        }
        if !other.enabled {
            self.enabled = false;
        }
        for (k, v) in other.extra {
            self.extra.insert(k, v);
        }
        for (name, f) in other.properties {
            let full = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            match (self.properties.get_mut(&name), f) {
                (None, f) => {
                    self.properties.insert(name, f);
                }
                (Some(Field::Object(a)), Field::Object(b)) => a.merge(b, &full)?,
                (Some(Field::Leaf(a)), Field::Leaf(b)) => {
                    if a.ty != b.ty {
                        return Err(EsError::illegal_argument(format!(
                            "mapper [{full}] cannot be changed from type [{}] to [{}]",
                            a.ty, b.ty
                        )));
                    }
                    for (k, v) in b.params {
                        a.params.insert(k, v);
                    }
                }
                (Some(Field::Leaf(a)), Field::Object(_)) => {
                    return Err(EsError::illegal_argument(format!(
                        "can't merge a non object mapping [{full}] with an object mapping [{}]",
                        a.ty
                    )))
                }
                (Some(Field::Object(_)), Field::Leaf(b)) => {
                    return Err(EsError::illegal_argument(format!(
                        "can't merge a non object mapping [{full}] with an object mapping; type [{}]",
                        b.ty
                    )))
                }
            }
        }
        Ok(())
    }

    /// Adds a dynamically derived field at `path`, creating intermediate objects.
    pub fn add(&mut self, path: &[String], f: Field) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut cur = self;
        for p in parents {
            let entry = cur
                .properties
                .entry(p.clone())
                .or_insert_with(|| Field::Object(ObjectMapping::default()));
            match entry {
                Field::Object(o) => cur = o,
                Field::Leaf(_) => return,
            }
        }
        match (cur.properties.get_mut(last), f) {
            (None, f) => {
                cur.properties.insert(last.clone(), f);
            }
            (Some(Field::Object(a)), Field::Object(b)) => {
                let _ = a.merge(b, "");
            }
            _ => {}
        }
    }

    pub fn field_count(&self) -> usize {
        self.properties
            .values()
            .map(|f| match f {
                Field::Leaf(l) => {
                    1 + l
                        .params
                        .get("fields")
                        .and_then(|v| v.as_object())
                        .map_or(0, |m| m.len())
                }
                Field::Object(o) => 1 + o.field_count(),
            })
            .sum()
    }

    /// Resolves a dotted field path (`a.b`, `title.keyword`) to its kind and source path.
    pub fn resolve(&self, path: &str) -> Option<Resolved> {
        let segs: Vec<&str> = path.split('.').collect();
        let mut cur = self;
        let mut i = 0;
        while i < segs.len() {
            // Field names may themselves contain dots; try the longest key first.
            let mut found = None;
            for j in (i + 1..=segs.len()).rev() {
                let key = segs[i..j].join(".");
                if let Some(f) = cur.properties.get(&key) {
                    found = Some((f, j));
                    break;
                }
            }
            let (f, j) = found?;
            match f {
                Field::Object(o) => {
                    if j == segs.len() {
                        return Some(Resolved {
                            kind: Kind::Object,
                            source_path: path.into(),
                        });
                    }
                    cur = o;
                    i = j;
                }
                Field::Leaf(l) => {
                    let src = segs[..j].join(".");
                    if j == segs.len() {
                        return Some(Resolved {
                            kind: l.kind,
                            source_path: src,
                        });
                    }
                    let sub = segs[j..].join(".");
                    let ty = l.params.get("fields")?.get(&sub)?.get("type")?.as_str()?;
                    return Some(Resolved {
                        kind: kind_of(ty).unwrap_or(Kind::Other),
                        source_path: src,
                    });
                }
            }
        }
        None
    }
}

impl Field {
    fn from_json(name: &str, v: &Value) -> Result<Field, EsError> {
        let Some(m) = v.as_object() else {
            return Err(mapper_parsing(format!("Expected map for property [fields] on field [{name}] but got a class java.lang.String")));
        };
        match m.get("type").and_then(|t| t.as_str()) {
            None | Some("object") | Some("nested") => {
                Ok(Field::Object(ObjectMapping::from_json(v, false)?))
            }
            Some(ty) => {
                let Some(kind) = kind_of(ty) else {
                    return Err(mapper_parsing(format!(
                        "No handler for type [{ty}] declared on field [{name}]"
                    )));
                };
                let mut params = m.clone();
                params.remove("type");
                Ok(Field::Leaf(Leaf {
                    ty: ty.into(),
                    kind,
                    params,
                }))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Document check + dynamic mapping, in one pass over the raw JSON.

/// State of one document check.
pub struct Walk<'c> {
    pub id: &'c str,
    date_detection: bool,
    path: String,
    /// New fields to add to the mapping if the document is accepted.
    pub additions: Vec<(Vec<String>, Field)>,
    error: Option<EsError>,
}

const METADATA_FIELDS: &[&str] = &[
    "_id",
    "_index",
    "_source",
    "_routing",
    "_version",
    "_seq_no",
    "_primary_term",
    "_field_names",
    "_ignored",
];

/// Checks `src` against `mapping`. On success returns the dynamic additions to apply.
pub fn check_document(
    mapping: &ObjectMapping,
    id: &str,
    src: &[u8],
) -> Result<Vec<(Vec<String>, Field)>, EsError> {
    let mut w = Walk {
        id,
        date_detection: mapping.date_detection(),
        path: String::new(),
        additions: Vec::new(),
        error: None,
    };
    let mut de = serde_json::Deserializer::from_slice(src);
    let seed = ObjSeed {
        obj: mapping,
        dynamic: mapping.dynamic.unwrap_or(Dynamic::True),
        root: true,
        w: &mut w,
    };
    let res = seed.deserialize(&mut de).and_then(|_| de.end());
    match res {
        Ok(()) => Ok(w.additions),
        Err(e) => Err(match w.error.take() {
            Some(err) => err,
            None => parse_failure(&e),
        }),
    }
}

pub fn parse_failure(e: &serde_json::Error) -> EsError {
    let mut err = EsError::new(
        400,
        "document_parsing_exception",
        format!("[{}:{}] failed to parse", e.line(), e.column()),
    );
    err.caused_by = Some(json!({"type": "json_parse_exception", "reason": e.to_string()}));
    err
}

impl Walk<'_> {
    fn fail<E: de::Error>(&mut self, err: EsError) -> E {
        self.error = Some(err);
        E::custom("mapping")
    }

    fn leaf_name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }

    fn bad_value<E: de::Error>(&mut self, leaf: &Leaf, preview: &str, cause: String) -> E {
        let mut err = EsError::new(
            400,
            "document_parsing_exception",
            format!(
                "failed to parse field [{}] of type [{}] in document with id '{}'. Preview of field's value: '{}'",
                self.path, leaf.ty, self.id, preview
            ),
        );
        err.caused_by = Some(json!({"type": "illegal_argument_exception", "reason": cause}));
        self.fail(err)
    }

    fn concrete_into_object<E: de::Error>(&mut self) -> E {
        let err = EsError::new(
            400,
            "document_parsing_exception",
            format!(
                "object mapping for [{}] tried to parse field [{}] as object, but found a concrete value",
                self.path,
                self.leaf_name()
            ),
        );
        self.fail(err)
    }

    fn push(&mut self, key: &str) -> usize {
        let len = self.path.len();
        if len > 0 {
            self.path.push('.');
        }
        self.path.push_str(key);
        len
    }
}

struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Walks an object whose mapping exists.
struct ObjSeed<'a, 'c, 'm> {
    obj: &'m ObjectMapping,
    dynamic: Dynamic,
    root: bool,
    w: &'a mut Walk<'c>,
}

impl<'de> DeserializeSeed<'de> for ObjSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! concrete_into_object {
    ($($name:ident: $t:ty),*) => {
        $(fn $name<E: de::Error>(self, _v: $t) -> Result<Self::Value, E> {
            if self.root {
                let e = EsError::new(400, "document_parsing_exception", "failed to parse, document is empty or not an object");
                return Err(self.w.fail(e));
            }
            Err(self.w.concrete_into_object())
        })*
    };
}

impl<'de> Visitor<'de> for ObjSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    concrete_into_object!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if self.root {
            let e = EsError::new(
                400,
                "document_parsing_exception",
                "failed to parse, document is empty",
            );
            return Err(self.w.fail(e));
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        let w = self.w;
        if self.root {
            let e = EsError::new(
                400,
                "document_parsing_exception",
                "failed to parse, document is not an object",
            );
            return Err(w.fail(e));
        }
        while s
            .next_element_seed(ObjSeed {
                obj: self.obj,
                dynamic: self.dynamic,
                root: false,
                w: &mut *w,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let w = self.w;
        while let Some(Key(k)) = m.next_key::<Key>()? {
            if self.root && METADATA_FIELDS.contains(&k.as_ref()) {
                let e = EsError::new(
                    400,
                    "document_parsing_exception",
                    format!("Field [{k}] is a metadata field and cannot be added inside a document. Use the index API request parameters."),
                );
                return Err(w.fail(e));
            }
            let mark = w.push(&k);
            match self.obj.properties.get(k.as_ref()) {
                Some(Field::Leaf(l)) => m.next_value_seed(LeafSeed {
                    leaf: l,
                    w: &mut *w,
                })?,
                Some(Field::Object(o)) if !o.enabled => {
                    m.next_value::<IgnoredAny>()?;
                }
                Some(Field::Object(o)) => m.next_value_seed(ObjSeed {
                    obj: o,
                    dynamic: o.dynamic.unwrap_or(self.dynamic),
                    root: false,
                    w: &mut *w,
                })?,
                None => match self.dynamic {
                    Dynamic::True => {
                        let dd = w.date_detection;
                        if let Some(f) = m.next_value_seed(NewSeed {
                            w: &mut *w,
                            date_detection: dd,
                        })? {
                            let path = w.path.split('.').map(str::to_string).collect();
                            w.additions.push((path, f));
                        }
                    }
                    Dynamic::False | Dynamic::Runtime => {
                        m.next_value::<IgnoredAny>()?;
                    }
                    Dynamic::Strict => {
                        let parent = if mark == 0 {
                            "_doc".to_string()
                        } else {
                            w.path[..mark].to_string()
                        };
                        let e = EsError::new(
                            400,
                            "strict_dynamic_mapping_exception",
                            format!("mapping set to strict, dynamic introduction of [{k}] within [{parent}] is not allowed"),
                        );
                        return Err(w.fail(e));
                    }
                },
            }
            w.path.truncate(mark);
        }
        Ok(())
    }
}

/// Checks a value against an existing leaf mapping.
struct LeafSeed<'a, 'c, 'm> {
    leaf: &'m Leaf,
    w: &'a mut Walk<'c>,
}

impl<'de> DeserializeSeed<'de> for LeafSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl LeafSeed<'_, '_, '_> {
    fn int<E: de::Error>(self, v: i128) -> Result<(), E> {
        match self.leaf.kind {
            Kind::Integer(lo, hi) if v < lo as i128 || v > hi as i128 => {
                let what = match self.leaf.ty.as_str() {
                    "integer" => "an integer",
                    "short" => "a short",
                    "byte" => "a byte",
                    _ => "a long",
                };
                Err(self.w.bad_value(
                    self.leaf,
                    &v.to_string(),
                    format!("Value [{v}] is out of range for {what}"),
                ))
            }
            Kind::Boolean => Err(self.w.bad_value(
                self.leaf,
                &v.to_string(),
                format!("Failed to parse value [{v}] as only [true] or [false] are allowed."),
            )),
            _ => Ok(()),
        }
    }
}

impl<'de> Visitor<'de> for LeafSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        match self.leaf.kind {
            Kind::Integer(..) | Kind::Float | Kind::Date => Err(self.w.bad_value(
                self.leaf,
                &v.to_string(),
                format!(
                    "Current token ({}) not numeric, can not use numeric value accessors",
                    if v { "VALUE_TRUE" } else { "VALUE_FALSE" }
                ),
            )),
            _ => Ok(()),
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.int(v as i128)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.int(v as i128)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        match self.leaf.kind {
            // Integers coerce decimals by truncation (`coerce` defaults to true).
            Kind::Integer(..) => self.int(v.trunc() as i128),
            Kind::Boolean => self.int(v as i128),
            _ => Ok(()),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        // Built only on the error paths: this runs for every string of every document.
        let preview = || v.chars().take(100).collect::<String>();
        match self.leaf.kind {
            Kind::Other | Kind::Text => Ok(()),
            Kind::Integer(..) => match v.trim().parse::<i128>() {
                Ok(n) => self.int(n),
                Err(_) => match v.trim().parse::<f64>() {
                    Ok(f) if f.is_finite() => self.int(f.trunc() as i128),
                    _ => Err(self.w.bad_value(
                        self.leaf,
                        &preview(),
                        format!("For input string: \"{v}\""),
                    )),
                },
            },
            Kind::Float => match v.trim().parse::<f64>() {
                Ok(_) => Ok(()),
                Err(_) => Err(self.w.bad_value(
                    self.leaf,
                    &preview(),
                    format!("For input string: \"{v}\""),
                )),
            },
            Kind::Boolean => match v {
                "true" | "false" | "" => Ok(()),
                _ => Err(self.w.bad_value(
                    self.leaf,
                    &preview(),
                    format!("Failed to parse value [{v}] as only [true] or [false] are allowed."),
                )),
            },
            Kind::Date => {
                if crate::dates::parse_date(v).is_some() || v.parse::<i64>().is_ok() {
                    Ok(())
                } else {
                    let fmt = self
                        .leaf
                        .params
                        .get("format")
                        .and_then(|f| f.as_str())
                        .unwrap_or("strict_date_optional_time||epoch_millis");
                    let cause = format!("failed to parse date field [{v}] with format [{fmt}]");
                    Err(self.w.bad_value(self.leaf, &preview(), cause))
                }
            }
            _ => Ok(()),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        let w = self.w;
        while s
            .next_element_seed(LeafSeed {
                leaf: self.leaf,
                w: &mut *w,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        if self.leaf.kind == Kind::Other {
            while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        let err = EsError::new(
            400,
            "document_parsing_exception",
            format!(
                "failed to parse field [{}] of type [{}] in document with id '{}'. Preview of field's value: '{{...}}'",
                self.w.path, self.leaf.ty, self.w.id
            ),
        );
        Err(self.w.fail(err))
    }
}

/// Derives the mapping of a value whose field is not mapped yet (dynamic: true).
struct NewSeed<'a, 'c> {
    w: &'a mut Walk<'c>,
    date_detection: bool,
}

impl<'de> DeserializeSeed<'de> for NewSeed<'_, '_> {
    type Value = Option<Field>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Field>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NewSeed<'_, '_> {
    type Value = Option<Field>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<Field>, E> {
        Ok(Some(Field::Leaf(Leaf::of("boolean"))))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<Field>, E> {
        Ok(Some(Field::Leaf(Leaf::of("long"))))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<Field>, E> {
        Ok(Some(Field::Leaf(Leaf::of("long"))))
    }
    // Elasticsearch maps JSON floating point numbers to `float` (not `double`) by default.
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<Field>, E> {
        Ok(Some(Field::Leaf(Leaf::of("float"))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Field>, E> {
        if self.date_detection && crate::dates::parse_date(v).is_some() {
            return Ok(Some(Field::Leaf(Leaf::of("date"))));
        }
        Ok(Some(Field::Leaf(Leaf::dynamic_text())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Field>, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Option<Field>, A::Error> {
        let w = self.w;
        let dd = self.date_detection;
        let mut cur: Option<Field> = None;
        loop {
            match &mut cur {
                None => match s.next_element_seed(NewSeed {
                    w: &mut *w,
                    date_detection: dd,
                })? {
                    None => break,
                    Some(f) => cur = f,
                },
                Some(Field::Leaf(l)) => {
                    if s.next_element_seed(LeafSeed {
                        leaf: l,
                        w: &mut *w,
                    })?
                    .is_none()
                    {
                        break;
                    }
                }
                Some(Field::Object(o)) => {
                    if s.next_element_seed(BuildObj {
                        obj: o,
                        w: &mut *w,
                        date_detection: dd,
                    })?
                    .is_none()
                    {
                        break;
                    }
                }
            }
        }
        Ok(cur)
    }
    fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Option<Field>, A::Error> {
        let mut o = ObjectMapping::default();
        BuildObj {
            obj: &mut o,
            w: self.w,
            date_detection: self.date_detection,
        }
        .visit_map(m)?;
        Ok(Some(Field::Object(o)))
    }
}

/// Walks an object whose mapping is being derived by this document.
struct BuildObj<'a, 'c, 'm> {
    obj: &'m mut ObjectMapping,
    w: &'a mut Walk<'c>,
    date_detection: bool,
}

impl<'de> DeserializeSeed<'de> for BuildObj<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BuildObj<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.w.concrete_into_object())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.w.concrete_into_object())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.w.concrete_into_object())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.w.concrete_into_object())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.w.concrete_into_object())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        let (obj, w, dd) = (self.obj, self.w, self.date_detection);
        while s
            .next_element_seed(BuildObj {
                obj: &mut *obj,
                w: &mut *w,
                date_detection: dd,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let (obj, w, dd) = (self.obj, self.w, self.date_detection);
        while let Some(Key(k)) = m.next_key::<Key>()? {
            let mark = w.push(&k);
            match obj.properties.get_mut(k.as_ref()) {
                Some(Field::Leaf(l)) => m.next_value_seed(LeafSeed {
                    leaf: l,
                    w: &mut *w,
                })?,
                Some(Field::Object(o)) => m.next_value_seed(BuildObj {
                    obj: o,
                    w: &mut *w,
                    date_detection: dd,
                })?,
                None => {
                    if let Some(f) = m.next_value_seed(NewSeed {
                        w: &mut *w,
                        date_detection: dd,
                    })? {
                        obj.properties.insert(k.into_owned(), f);
                    }
                }
            }
            w.path.truncate(mark);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(m: &mut ObjectMapping, doc: &str) -> Result<(), EsError> {
        for (p, f) in check_document(m, "1", doc.as_bytes())? {
            m.add(&p, f);
        }
        Ok(())
    }

    #[test]
    fn dynamic_types() {
        let mut m = ObjectMapping::default();
        apply(&mut m, r#"{"n":1,"f":1.5,"b":true,"d":"2024-01-01T00:00:00Z","t":"hi","o":{"x":"y"},"a":[1,2],"z":null}"#).unwrap();
        let j = m.to_json();
        assert_eq!(j["properties"]["n"]["type"], "long");
        assert_eq!(j["properties"]["f"]["type"], "float");
        assert_eq!(j["properties"]["b"]["type"], "boolean");
        assert_eq!(j["properties"]["d"]["type"], "date");
        assert_eq!(j["properties"]["t"]["type"], "text");
        assert_eq!(j["properties"]["t"]["fields"]["keyword"]["type"], "keyword");
        assert_eq!(j["properties"]["o"]["properties"]["x"]["type"], "text");
        assert_eq!(j["properties"]["a"]["type"], "long");
        assert!(j["properties"].get("z").is_none());
    }

    #[test]
    fn conflicts() {
        let mut m = ObjectMapping::default();
        apply(&mut m, r#"{"n":1,"o":{"x":1}}"#).unwrap();
        let e = apply(&mut m, r#"{"n":"abc"}"#).unwrap_err();
        assert_eq!(e.ty, "document_parsing_exception");
        assert!(
            e.reason
                .contains("failed to parse field [n] of type [long]"),
            "{}",
            e.reason
        );
        apply(&mut m, r#"{"n":"42"}"#).unwrap();
        let e = apply(&mut m, r#"{"o":"flat"}"#).unwrap_err();
        assert!(e.reason.contains("object mapping for [o]"), "{}", e.reason);
        let e = apply(&mut m, r#"{"o":{"x":"nope"}}"#).unwrap_err();
        assert!(e.reason.contains("[o.x]"), "{}", e.reason);
        let e = apply(&mut m, r#"{"_id":"x"}"#).unwrap_err();
        assert!(e.reason.contains("metadata field"));
        let e = apply(&mut m, r#"{"a": "#).unwrap_err();
        assert_eq!(e.ty, "document_parsing_exception");
        let e = apply(&mut m, r#"[1]"#).unwrap_err();
        assert_eq!(e.ty, "document_parsing_exception");
    }

    #[test]
    fn strict_and_false() {
        let mut m = ObjectMapping::from_json(
            &json!({"dynamic":"strict","properties":{"a":{"type":"keyword"}}}),
            true,
        )
        .unwrap();
        let e = apply(&mut m, r#"{"b":1}"#).unwrap_err();
        assert_eq!(e.ty, "strict_dynamic_mapping_exception");
        let mut m = ObjectMapping::from_json(&json!({"dynamic":false}), true).unwrap();
        apply(&mut m, r#"{"b":1}"#).unwrap();
        assert!(m.properties.is_empty());
    }

    #[test]
    fn merge_conflict_and_resolve() {
        let mut m = ObjectMapping::default();
        apply(&mut m, r#"{"t":"x","n":1}"#).unwrap();
        let other =
            ObjectMapping::from_json(&json!({"properties":{"n":{"type":"text"}}}), true).unwrap();
        let e = m.merge(other, "").unwrap_err();
        assert_eq!(
            e.reason,
            "mapper [n] cannot be changed from type [long] to [text]"
        );
        let r = m.resolve("t.keyword").unwrap();
        assert_eq!(r.kind, Kind::Keyword);
        assert_eq!(r.source_path, "t");
        assert!(m.resolve("missing").is_none());
    }
}
