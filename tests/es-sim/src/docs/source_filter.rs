//! `_source` filtering (`_source: false | "a" | ["a", "b.*"] | {includes, excludes}`).

use crate::http::{EsError, Req};
use serde_json::{Map, Value};

#[derive(Clone, Debug, Default)]
pub struct SourceFilter {
    pub fetch: bool,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

fn strings(v: &Value) -> Result<Vec<String>, EsError> {
    match v {
        Value::String(s) => Ok(s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()),
        Value::Array(a) => Ok(a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()),
        Value::Null => Ok(vec![]),
        _ => Err(EsError::parse(
            "[_source] must be a boolean, string, array or object",
        )),
    }
}

impl SourceFilter {
    pub fn all() -> Self {
        SourceFilter {
            fetch: true,
            ..Default::default()
        }
    }

    pub fn from_json(v: Option<&Value>) -> Result<Self, EsError> {
        let mut f = SourceFilter::all();
        match v {
            None => {}
            Some(Value::Bool(b)) => f.fetch = *b,
            Some(Value::Object(o)) => {
                for (k, val) in o {
                    match k.as_str() {
                        "includes" | "include" => f.includes = strings(val)?,
                        "excludes" | "exclude" => f.excludes = strings(val)?,
                        other => {
                            return Err(EsError::parse(format!(
                                "Unknown key for a START_ARRAY in [{other}]."
                            )))
                        }
                    }
                }
            }
            Some(other) => f.includes = strings(other)?,
        }
        Ok(f)
    }

    /// Applies `_source`, `_source_includes`, `_source_excludes` query parameters on top.
    pub fn with_params(mut self, req: &Req) -> Self {
        match req.param("_source") {
            Some("false") => self.fetch = false,
            Some("true") | Some("") => self.fetch = true,
            Some(list) => self.includes = list.split(',').map(str::to_string).collect(),
            None => {}
        }
        if let Some(i) = req.param("_source_includes") {
            self.includes = i.split(',').map(str::to_string).collect();
        }
        if let Some(e) = req.param("_source_excludes") {
            self.excludes = e.split(',').map(str::to_string).collect();
        }
        self
    }

    pub fn is_identity(&self) -> bool {
        self.fetch && self.includes.is_empty() && self.excludes.is_empty()
    }

    /// Filters raw source bytes; `None` when `_source` is not fetched.
    pub fn apply(&self, src: &[u8]) -> Option<Box<serde_json::value::RawValue>> {
        if !self.fetch {
            return None;
        }
        if self.is_identity() {
            let s = std::str::from_utf8(src).ok()?;
            return serde_json::value::RawValue::from_string(s.to_string()).ok();
        }
        let v: Map<String, Value> = serde_json::from_slice(src).ok()?;
        let out = self.filter_map(&v, "");
        serde_json::value::to_raw_value(&out).ok()
    }

    fn filter_map(&self, m: &Map<String, Value>, prefix: &str) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in m {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if self.excludes.iter().any(|p| matches(p, &path)) {
                continue;
            }
            let included =
                self.includes.is_empty() || self.includes.iter().any(|p| matches(p, &path));
            if included {
                match v {
                    Value::Object(o) if !self.excludes.is_empty() => {
                        out.insert(k.clone(), Value::Object(self.filter_map(o, &path)));
                    }
                    _ => {
                        out.insert(k.clone(), v.clone());
                    }
                }
                continue;
            }
            // Not included itself, but a deeper path may be.
            if let Value::Object(o) = v {
                let under = format!("{path}.");
                if self
                    .includes
                    .iter()
                    .any(|p| p.starts_with(&under) || p.contains('*'))
                {
                    let sub = self.filter_map(o, &path);
                    if !sub.is_empty() {
                        out.insert(k.clone(), Value::Object(sub));
                    }
                }
            }
        }
        out
    }
}

/// A field pattern matches the path itself or any parent of it (`a` matches `a.b`).
fn matches(pat: &str, path: &str) -> bool {
    if crate::store::glob(pat, path) {
        return true;
    }
    path.len() > pat.len()
        && path.starts_with(pat)
        && path.as_bytes()[pat.len()] == b'.'
        && !pat.contains('*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters() {
        let src = br#"{"a":1,"b":{"c":2,"d":3},"e":"x"}"#;
        let f = SourceFilter::from_json(Some(&json!(["a", "b.c"]))).unwrap();
        let out: Value = serde_json::from_str(f.apply(src).unwrap().get()).unwrap();
        assert_eq!(out, json!({"a":1,"b":{"c":2}}));
        let f = SourceFilter::from_json(Some(&json!({"excludes": ["b.d", "e"]}))).unwrap();
        let out: Value = serde_json::from_str(f.apply(src).unwrap().get()).unwrap();
        assert_eq!(out, json!({"a":1,"b":{"c":2}}));
        let f = SourceFilter::from_json(Some(&json!(false))).unwrap();
        assert!(f.apply(src).is_none());
        let f = SourceFilter::from_json(Some(&json!("b"))).unwrap();
        let out: Value = serde_json::from_str(f.apply(src).unwrap().get()).unwrap();
        assert_eq!(out, json!({"b":{"c":2,"d":3}}));
    }
}
