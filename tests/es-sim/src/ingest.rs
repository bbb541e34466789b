//! Ingest pipelines: the registry behind `_ingest/pipeline`, the built-in
//! `search-default-ingestion`, and a few simple processors for user pipelines.

use crate::http::EsError;
use base64::Engine;
use parking_lot::RwLock;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const DEFAULT_PIPELINE: &str = "search-default-ingestion";

/// Helper fields the connectors framework adds and `search-default-ingestion` removes.
const HELPER_FIELDS: &[&str] = &[
    "_attachment",
    "_attachment_indexed_chars",
    "_extracted_attachment",
    "_extract_binary_content",
    "_reduce_whitespace",
    "_run_ml_inference",
];

const PROCESSORS: &[&str] = &[
    "set",
    "remove",
    "rename",
    "lowercase",
    "uppercase",
    "trim",
    "attachment",
    "script",
    "gsub",
    "convert",
    "date",
    "json",
    "split",
    "append",
    "foreach",
    "pipeline",
    "inference",
    "drop",
    "fail",
    "dot_expander",
    "html_strip",
];

pub struct Pipelines {
    defs: RwLock<BTreeMap<String, Value>>,
}

impl Default for Pipelines {
    fn default() -> Self {
        let mut m = BTreeMap::new();
        m.insert(
            DEFAULT_PIPELINE.to_string(),
            json!({
                "version": 1,
                "description": "Default ingest pipeline for all Search indices (es-sim: attachment text, whitespace, helper-field removal)",
                "_meta": {"managed": true, "managed_by": "Search"},
                "processors": [
                    {"attachment": {"if": "ctx?._extract_binary_content == true", "field": "_attachment", "target_field": "_extracted_attachment", "ignore_missing": true}},
                    {"set": {"if": "ctx?._extract_binary_content == true", "field": "body", "copy_from": "_extracted_attachment.content", "ignore_empty_value": true}},
                    {"gsub": {"if": "ctx?._reduce_whitespace == true", "field": "body", "pattern": "\\s+", "replacement": " ", "ignore_missing": true}},
                    {"trim": {"if": "ctx?._reduce_whitespace == true", "field": "body", "ignore_missing": true}},
                    {"remove": {"field": HELPER_FIELDS, "ignore_missing": true}}
                ]
            }),
        );
        Pipelines {
            defs: RwLock::new(m),
        }
    }
}

impl Pipelines {
    pub fn get(&self, id: &str) -> Option<Value> {
        self.defs.read().get(id).cloned()
    }

    pub fn exists(&self, id: &str) -> bool {
        self.defs.read().contains_key(id)
    }

    pub fn list(&self) -> BTreeMap<String, Value> {
        self.defs.read().clone()
    }

    pub fn put(&self, id: &str, def: Value) -> Result<(), EsError> {
        let Some(m) = def.as_object() else {
            return Err(EsError::parse("request body must be an object"));
        };
        let Some(procs) = m.get("processors") else {
            return Err(EsError::parse("[processors] required property is missing")
                .with("property_name", "processors"));
        };
        let Some(procs) = procs.as_array() else {
            return Err(EsError::parse(
                "[processors] property isn't a list, but of type [object]",
            ));
        };
        for p in procs {
            let Some((name, _)) = p.as_object().and_then(|o| o.iter().next()) else {
                return Err(EsError::parse("processor definition must be an object"));
            };
            if !PROCESSORS.contains(&name.as_str()) {
                return Err(
                    EsError::parse(format!("No processor type exists with name [{name}]"))
                        .with("processor_type", name.clone()),
                );
            }
        }
        self.defs.write().insert(id.to_string(), def);
        Ok(())
    }

    pub fn delete(&self, id: &str) -> bool {
        self.defs.write().remove(id).is_some()
    }

    /// Runs pipeline `id` over a document. `Ok(None)` means the document was dropped.
    pub fn run(&self, id: &str, doc: &mut Map<String, Value>) -> Result<bool, EsError> {
        if id == DEFAULT_PIPELINE {
            default_ingestion(doc);
            return Ok(true);
        }
        let Some(def) = self.get(id) else {
            return Err(missing(id));
        };
        let procs = def
            .get("processors")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default();
        for p in procs {
            let Some((name, cfg)) = p.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            let field = cfg.get("field").and_then(|f| f.as_str()).unwrap_or("");
            match name.as_str() {
                "set" => {
                    if let Some(v) = cfg.get("value") {
                        doc.insert(field.to_string(), v.clone());
                    }
                }
                "remove" => {
                    for f in crate::privileges::strings(cfg.get("field")) {
                        doc.remove(&f);
                    }
                }
                "rename" => {
                    if let (Some(v), Some(t)) = (
                        doc.remove(field),
                        cfg.get("target_field").and_then(|t| t.as_str()),
                    ) {
                        doc.insert(t.to_string(), v);
                    }
                }
                "lowercase" | "uppercase" | "trim" => {
                    if let Some(Value::String(s)) = doc.get_mut(field) {
                        *s = match name.as_str() {
                            "lowercase" => s.to_lowercase(),
                            "uppercase" => s.to_uppercase(),
                            _ => s.trim().to_string(),
                        };
                    }
                }
                "drop" => return Ok(false),
                "pipeline" => {
                    if let Some(n) = cfg.get("name").and_then(|n| n.as_str()) {
                        if !self.run(n, doc)? {
                            return Ok(false);
                        }
                    }
                }
                // Other processors are accepted but not simulated.
                _ => {}
            }
        }
        Ok(true)
    }
}

pub fn missing(id: &str) -> EsError {
    EsError::illegal_argument(format!("pipeline with id [{id}] does not exist"))
}

/// What `search-default-ingestion` does to the connectors' helper fields.
fn default_ingestion(doc: &mut Map<String, Value>) {
    if doc.get("_extract_binary_content") == Some(&Value::Bool(true)) {
        // The real pipeline runs the attachment processor (Tika). es-sim extracts only
        // base64-encoded UTF-8 text, which is enough to observe `body` being filled.
        if let Some(Value::String(b64)) = doc.get("_attachment") {
            if let Some(text) = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                let text: String = text.chars().filter(|c| *c != '\u{FFFD}').collect();
                if !text.is_empty() {
                    doc.insert("body".into(), Value::String(text));
                }
            }
        }
    }
    if doc.get("_reduce_whitespace") == Some(&Value::Bool(true)) {
        if let Some(Value::String(body)) = doc.get_mut("body") {
            *body = body.split_whitespace().collect::<Vec<_>>().join(" ");
        }
    }
    for f in HELPER_FIELDS {
        doc.remove(*f);
    }
}

/// `search-default-ingestion` on the raw source, for the common case: no binary extraction and
/// no whitespace reduction asked for, so the pipeline only drops the helper fields. Top-level
/// entries are copied as raw JSON (nested values are not parsed), in their order. `None` when
/// the general path must run (extraction, reduction, duplicate keys, not an object).
pub fn default_ingestion_raw(src: &[u8]) -> Option<Vec<u8>> {
    let Entries(entries) = serde_json::from_slice(src).ok()?;
    // The duplicate-key check below is quadratic: wide documents take the general path.
    if entries.len() > 64 {
        return None;
    }
    let has = |key: &str| entries.iter().any(|(k, _)| k == key);
    let mut helpers = 0;
    for (i, (k, v)) in entries.iter().enumerate() {
        // The connectors framework sends all three flags `true` by default; they only make
        // work when there is an attachment to extract or a body to reduce.
        let asks = v.get() == "true";
        match k.as_ref() {
            "_extract_binary_content" if asks && has("_attachment") => return None,
            "_reduce_whitespace" if asks && has("body") => return None,
            _ => {}
        }
        if HELPER_FIELDS.contains(&k.as_ref()) {
            helpers += 1;
        }
        // Duplicate keys: leave them to the general path (and its error), as a parsed map would.
        if entries[..i].iter().any(|(p, _)| p == k) {
            return None;
        }
    }
    if helpers == 0 {
        return Some(src.to_vec());
    }
    let mut out = Vec::with_capacity(src.len());
    out.push(b'{');
    for (k, v) in entries
        .iter()
        .filter(|(k, _)| !HELPER_FIELDS.contains(&k.as_ref()))
    {
        if out.len() > 1 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, k).ok()?;
        out.push(b':');
        out.extend_from_slice(v.get().as_bytes());
    }
    out.push(b'}');
    Some(out)
}

/// A JSON object's top-level entries, values left raw.
struct Entries<'a>(Vec<(std::borrow::Cow<'a, str>, &'a serde_json::value::RawValue)>);

impl<'de> serde::Deserialize<'de> for Entries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Entries<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(e) = m.next_entry()? {
                    out.push(e);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The raw fast path gives the same source as the general pipeline, and steps aside when
    /// the general one has work to do.
    #[test]
    fn raw_default_ingestion_matches_the_general_path() {
        let p = Pipelines::default();
        for src in [
            r#"{"id":"1","title":"a \"q\" b","n":{"x":[1,2]},"_extract_binary_content":false,"_reduce_whitespace":false,"_run_ml_inference":false}"#,
            r#"{"id":"2","body":"a  b","_reduce_whitespace":true}"#,
            r#"{"id":"3","_attachment":"aGk=","_extract_binary_content":false}"#,
            r#"{"id":"4"}"#,
            r#"{"h\u00e9":1,"_run_ml_inference":true}"#,
        ] {
            let mut m: Map<String, Value> = serde_json::from_str(src).unwrap();
            p.run(DEFAULT_PIPELINE, &mut m).unwrap();
            match default_ingestion_raw(src.as_bytes()) {
                Some(raw) => assert_eq!(
                    serde_json::from_slice::<Value>(&raw).unwrap(),
                    Value::Object(m),
                    "{src}"
                ),
                None => assert!(src.contains(r#""_reduce_whitespace":true"#), "{src}"),
            }
        }
        assert!(
            default_ingestion_raw(br#"{"_extract_binary_content":true,"_attachment":"aGk="}"#)
                .is_none()
        );
        assert!(default_ingestion_raw(br#"{"a":1,"a":2}"#).is_none());
        assert!(default_ingestion_raw(b"[1]").is_none());
        // Order is kept.
        let raw = default_ingestion_raw(br#"{"z":1,"_reduce_whitespace":false,"a":2}"#).unwrap();
        assert_eq!(raw, br#"{"z":1,"a":2}"#);
    }

    #[test]
    fn default_pipeline_cleans_helpers() {
        let p = Pipelines::default();
        let mut d = json!({"body": "  a \n\t b  ", "_reduce_whitespace": true, "_extract_binary_content": false, "_run_ml_inference": true, "x": 1});
        let m = d.as_object_mut().unwrap();
        assert!(p.run(DEFAULT_PIPELINE, m).unwrap());
        assert_eq!(d, json!({"body": "a b", "x": 1}));
        let mut d = json!({"body": "  a  b ", "_reduce_whitespace": false});
        p.run(DEFAULT_PIPELINE, d.as_object_mut().unwrap()).unwrap();
        assert_eq!(d, json!({"body": "  a  b "}));
        let mut d = json!({"_attachment": "aGVsbG8gd29ybGQ=", "_extract_binary_content": true});
        p.run(DEFAULT_PIPELINE, d.as_object_mut().unwrap()).unwrap();
        assert_eq!(d, json!({"body": "hello world"}));
        assert_eq!(
            p.run("nope", d.as_object_mut().unwrap())
                .unwrap_err()
                .reason,
            "pipeline with id [nope] does not exist"
        );
    }
}
