//! What one sync produced, checked against Elasticsearch's limits as it goes:
//! ids (unique, at most 512 bytes), field names, document size, the number of
//! distinct fields and the nesting depth a dynamic mapping accepts. Only ids are
//! kept (to compare two syncs); documents are dropped once measured.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value as Json;

use tributary_sync::document::{Document, Operation, Value};

/// Elasticsearch refuses longer `_id`s (the host would index the MD5 digest instead).
pub const MAX_ID_BYTES: usize = 512;
/// `http.max_content_length`: no request, hence no document, may be larger.
pub const MAX_DOCUMENT_BYTES: usize = 100 * 1024 * 1024;
/// `index.mapping.total_fields.limit`.
pub const MAX_FIELDS: usize = 1000;
/// `index.mapping.depth.limit`.
pub const MAX_DEPTH: usize = 20;
/// Examples kept per kind of problem.
const EXAMPLES: usize = 5;
/// Fields Elastic's own connectors write with a leading `_`.
const ELASTIC_UNDERSCORE_FIELDS: [&str; 3] = ["_timestamp", "_allow_permissions", "_attachment"];

/// One sync's documents, measured.
#[derive(Debug, Default)]
pub struct Tally {
    pub documents: u64,
    pub ids: HashSet<String>,
    pub duplicates: Vec<String>,
    pub duplicate_count: u64,
    pub long_ids: Vec<String>,
    pub long_id_count: u64,
    pub not_indexed: Vec<String>,
    pub underscore_fields: BTreeSet<String>,
    pub fields: BTreeSet<String>,
    pub largest: usize,
    pub too_large: Vec<String>,
    pub too_deep: Vec<String>,
    body: Vec<u8>,
}

fn example(list: &mut Vec<String>, id: &str) {
    if list.len() < EXAMPLES {
        // Ids come from the plugin: shown escaped and cut.
        let mut s: String = id.chars().take(80).collect();
        if s.len() < id.len() {
            s.push('…');
        }
        list.push(s.escape_debug().to_string());
    }
}

/// Collects dotted names of nested object keys; returns the depth.
fn walk(prefix: &str, v: &Json, names: &mut BTreeSet<String>) -> usize {
    match v {
        Json::Object(o) => {
            let mut depth = 0;
            for (k, v) in o {
                let name = format!("{prefix}.{k}");
                let d = walk(&name, v, names);
                names.insert(name);
                depth = depth.max(d);
            }
            depth + 1
        }
        Json::Array(a) => a.iter().map(|v| walk(prefix, v, names)).max().unwrap_or(0),
        _ => 0,
    }
}

impl Tally {
    /// Measures one document.
    pub fn add(&mut self, doc: &Document) {
        self.documents += 1;
        if doc.operation != Operation::Index {
            example(
                &mut self.not_indexed,
                &format!("{} ({:?})", doc.id, doc.operation),
            );
        }
        if doc.id.len() > MAX_ID_BYTES {
            self.long_id_count += 1;
            example(&mut self.long_ids, &doc.id);
        }
        if self.ids.contains(&doc.id) {
            self.duplicate_count += 1;
            example(&mut self.duplicates, &doc.id);
        } else {
            self.ids.insert(doc.id.clone());
        }
        for (name, value) in doc.iter() {
            if !self.fields.contains(name) {
                self.fields.insert(name.to_string());
                if name.starts_with('_') && !ELASTIC_UNDERSCORE_FIELDS.contains(&name) {
                    self.underscore_fields.insert(name.to_string());
                }
            }
            if let Value::Json(text) = value {
                if let Ok(json) = serde_json::from_str::<Json>(text) {
                    let depth = walk(name, &json, &mut self.fields) + 1;
                    if depth > MAX_DEPTH {
                        example(&mut self.too_deep, &doc.id);
                    }
                }
            }
        }
        self.body.clear();
        doc.write_json(&[], &mut self.body);
        self.largest = self.largest.max(self.body.len());
        if self.body.len() > MAX_DOCUMENT_BYTES {
            example(&mut self.too_large, &doc.id);
        }
    }

    /// Problems with Elasticsearch's limits, one text each; empty = within limits.
    pub fn limit_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.long_ids.is_empty() {
            p.push(format!(
                "{} id(s) longer than Elasticsearch's {MAX_ID_BYTES} bytes (e.g. {}); the host would index them under their MD5 digest",
                self.long_id_count,
                self.long_ids.join(", ")
            ));
        }
        if !self.underscore_fields.is_empty() {
            p.push(format!(
                "field name(s) starting with `_`, which Elasticsearch reserves for metadata fields: {}",
                self.underscore_fields
                    .iter()
                    .take(EXAMPLES)
                    .map(|f| f.escape_debug().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.too_large.is_empty() {
            p.push(format!(
                "document(s) larger than {} MiB (http.max_content_length): {}",
                MAX_DOCUMENT_BYTES >> 20,
                self.too_large.join(", ")
            ));
        }
        if self.fields.len() > MAX_FIELDS {
            p.push(format!(
                "{} distinct fields, more than index.mapping.total_fields.limit ({MAX_FIELDS})",
                self.fields.len()
            ));
        }
        if !self.too_deep.is_empty() {
            p.push(format!(
                "object(s) nested deeper than index.mapping.depth.limit ({MAX_DEPTH}): {}",
                self.too_deep.join(", ")
            ));
        }
        p
    }
}

/// How two syncs' id sets differ: `(only in the first, only in the second)`,
/// a few examples each, plus the counts.
pub fn id_difference(a: &HashSet<String>, b: &HashSet<String>) -> Option<String> {
    if a == b {
        return None;
    }
    let mut only_a: Vec<&String> = a.difference(b).collect();
    let mut only_b: Vec<&String> = b.difference(a).collect();
    only_a.sort();
    only_b.sort();
    let show = |v: &[&String]| {
        v.iter()
            .take(EXAMPLES)
            .map(|s| s.escape_debug().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "{} id(s) only in the first sync ({}), {} only in the second ({}): ids must be stable, or every full sync deletes and re-adds documents",
        only_a.len(),
        show(&only_a),
        only_b.len(),
        show(&only_b)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn doc(id: &str, fields: &[&str], values: Vec<Value>) -> Document {
        Document {
            id: id.into(),
            operation: Operation::Index,
            timestamp: None,
            fields: fields.iter().map(|f| Arc::from(*f)).collect(),
            values,
        }
    }

    #[test]
    fn duplicates_long_ids_and_reserved_names_are_found() {
        let mut t = Tally::default();
        t.add(&doc("a", &["x"], vec![Value::I64(1)]));
        t.add(&doc("a", &["x"], vec![Value::I64(2)]));
        t.add(&doc(
            &"z".repeat(513),
            &["_secret", "_timestamp"],
            vec![
                Value::Text("s".into()),
                Value::Text("2026-01-01T00:00:00Z".into()),
            ],
        ));
        assert_eq!(t.duplicate_count, 1);
        assert_eq!(t.duplicates, ["a"]);
        let p = t.limit_problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("1 id(s) longer than Elasticsearch's 512 bytes"));
        assert!(p[1].contains("_secret") && !p[1].contains("_timestamp"));
    }

    #[test]
    fn nesting_depth_and_field_count_follow_the_mapping_limits() {
        let mut deep = String::new();
        for _ in 0..25 {
            deep.push_str("{\"k\":");
        }
        deep.push('1');
        deep.push_str(&"}".repeat(25));
        let mut t = Tally::default();
        t.add(&doc("d", &["o"], vec![Value::Json(deep)]));
        assert!(t.limit_problems()[0].contains("depth.limit"));
        let mut t = Tally::default();
        let names: Vec<String> = (0..1001).map(|i| format!("f{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        t.add(&doc("w", &refs, vec![Value::Null; 1001]));
        assert!(t.limit_problems()[0].contains("1001 distinct fields"));
    }

    #[test]
    fn id_sets_are_compared() {
        let a: HashSet<String> = ["1", "2"].map(String::from).into();
        let b: HashSet<String> = ["2", "3"].map(String::from).into();
        assert!(id_difference(&a, &a.clone()).is_none());
        let d = id_difference(&a, &b).expect("differ");
        assert!(d.starts_with("1 id(s) only in the first sync (1), 1 only in the second (3)"));
    }
}
