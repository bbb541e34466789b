//! Secrets never enter the sandbox. The values of a connector's sensitive fields
//! (and of the credentials a capability uses itself, such as a database password)
//! are replaced before the configuration reaches a plugin; the host keeps them for
//! the connections it opens. As defence in depth, every text that comes back out
//! of a plugin — errors, log lines, stdout/stderr — has those values masked before
//! it is stored or printed.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

/// What a plugin sees in place of a secret that is set.
pub const REDACTED: &str = "********";

/// Secrets shorter than this are not masked in output: masking every "ab" would
/// garble messages while protecting nothing (the plugin never saw the value).
const MIN_MASKED_LEN: usize = 4;

/// The sensitive keys of one job and their values.
#[derive(Debug, Clone, Default)]
pub struct Secrets(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    keys: Vec<String>,
    /// Values to mask in output, longest first (a secret that contains another is
    /// masked whole).
    values: Vec<String>,
}

impl Secrets {
    /// The secrets of `values` under `keys` (sensitive fields and credential keys).
    pub fn new<'a>(values: &Map<String, Value>, keys: impl IntoIterator<Item = &'a str>) -> Self {
        let mut ks: Vec<String> = keys.into_iter().map(str::to_string).collect();
        ks.sort();
        ks.dedup();
        let mut vs: Vec<String> = Vec::new();
        for k in &ks {
            collect(values.get(k), &mut vs);
        }
        vs.retain(|v| v.len() >= MIN_MASKED_LEN);
        vs.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        vs.dedup();
        // A secret as it appears inside JSON text (quotes and backslashes escaped).
        let escaped: Vec<String> = vs
            .iter()
            .filter_map(|v| {
                let j = serde_json::to_string(v).ok()?;
                let inner = j.get(1..j.len() - 1)?.to_string();
                (inner != *v).then_some(inner)
            })
            .collect();
        vs.extend(escaped);
        Secrets(Arc::new(Inner {
            keys: ks,
            values: vs,
        }))
    }

    /// The keys whose values are withheld from the plugin.
    pub fn keys(&self) -> &[String] {
        &self.0.keys
    }

    /// The configuration as the plugin receives it: every withheld value that is
    /// set becomes [`REDACTED`]; empty and null values stay as they are, so a
    /// plugin can still tell "not set" from "set".
    pub fn redact(&self, values: &Map<String, Value>) -> Map<String, Value> {
        let mut out = values.clone();
        for k in &self.0.keys {
            if let Some(v) = out.get_mut(k) {
                let empty = match v {
                    Value::Null => true,
                    Value::String(s) => s.is_empty(),
                    _ => false,
                };
                if !empty {
                    *v = Value::String(REDACTED.into());
                }
            }
        }
        out
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for v in &self.0.values {
            if out.contains(v.as_str()) {
                out = Cow::Owned(out.replace(v.as_str(), REDACTED));
            }
        }
        out
    }

    /// [`Self::mask`] into an owned string.
    pub fn mask_owned(&self, text: String) -> String {
        match self.mask(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(s) => s,
        }
    }

    /// Whether there is anything to mask.
    pub fn is_empty(&self) -> bool {
        self.0.values.is_empty()
    }
}

fn collect(v: Option<&Value>, out: &mut Vec<String>) {
    match v {
        Some(Value::String(s)) if !s.is_empty() => out.push(s.clone()),
        Some(Value::Number(n)) => out.push(n.to_string()),
        Some(Value::Array(items)) => items.iter().for_each(|i| collect(Some(i), out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn redacts_set_values_only() {
        let s = Secrets::new(
            &map(json!({"password": "hunter22", "token": "", "api": null, "host": "db"})),
            ["password", "token", "api", "missing"],
        );
        let r = s.redact(&map(
            json!({"password": "hunter22", "token": "", "api": null, "host": "db"}),
        ));
        assert_eq!(
            Value::Object(r),
            json!({"password": REDACTED, "token": "", "api": null, "host": "db"})
        );
    }

    #[test]
    fn masks_every_occurrence_and_json_escaped_forms() {
        let s = Secrets::new(
            &map(json!({"password": "pa\"ss\\word", "short": "ab", "key": "secret-key-1"})),
            ["password", "short", "key"],
        );
        assert_eq!(
            s.mask("login with secret-key-1 failed (secret-key-1)"),
            format!("login with {REDACTED} failed ({REDACTED})")
        );
        assert_eq!(
            s.mask(r#"{"p":"pa\"ss\\word"}"#),
            format!(r#"{{"p":"{REDACTED}"}}"#)
        );
        assert_eq!(
            s.mask("ab stays: too short to mask"),
            "ab stays: too short to mask"
        );
        assert!(matches!(s.mask("nothing here"), Cow::Borrowed(_)));
    }
}
