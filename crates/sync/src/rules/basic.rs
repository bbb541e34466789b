//! Basic rules semantics exactly as Elastic's `BasicRuleEngine`
//! (`connectors/filtering/basic_rule.py`), including its surprises:
//! the `DEFAULT` rule is dropped, rules run by ascending `order`, the first matching
//! rule decides, no match ⇒ include, `regex` is anchored at the start only, `equals`
//! never matches a boolean field, `<`/`>` on strings are lexicographic.

use regex::Regex;
use serde_json::Value as Json;

use crate::document::{Document, Value};

/// Id of the catch-all rule Kibana stores last; never evaluated.
pub const DEFAULT_RULE_ID: &str = "DEFAULT";

/// `include` or `exclude` (case-insensitive in the stored rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Include,
    Exclude,
}

impl Policy {
    /// Parses a stored policy the way Elastic does (`casefold`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_lowercase().as_str() {
            "include" => Some(Self::Include),
            "exclude" => Some(Self::Exclude),
            _ => None,
        }
    }
}

/// The comparison a rule makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    Regex,
    GreaterThan,
    LessThan,
}

impl RuleKind {
    /// Parses a stored rule name (`equals`, `contains`, `starts_with`, `ends_with`,
    /// `regex`, `>`, `<`; case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_lowercase().as_str() {
            "equals" => Self::Equals,
            "contains" => Self::Contains,
            "starts_with" => Self::StartsWith,
            "ends_with" => Self::EndsWith,
            "regex" => Self::Regex,
            ">" => Self::GreaterThan,
            "<" => Self::LessThan,
            _ => return None,
        })
    }
}

/// A rule that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("basic rule {index} is not a valid rule: {message}")]
    Malformed { index: usize, message: String },
    #[error("basic rule '{id}' has an invalid regex '{pattern}': {message}")]
    InvalidRegex {
        id: String,
        pattern: String,
        message: String,
    },
}

/// One basic rule as stored in `filtering[].active.rules[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BasicRule {
    pub id: String,
    pub order: f64,
    pub policy: Policy,
    pub field: String,
    pub rule: RuleKind,
    pub value: String,
}

impl BasicRule {
    /// Parses one stored rule (`{id, order, policy, field, rule, value, ...}`).
    pub fn from_json(index: usize, json: &Json) -> Result<Self, RuleError> {
        let bad = |message: String| RuleError::Malformed { index, message };
        let text = |key: &str| -> Result<String, RuleError> {
            match json.get(key) {
                Some(Json::String(s)) => Ok(s.clone()),
                // Tolerated: a number typed into the UI arrives as a JSON number.
                Some(Json::Number(n)) => Ok(n.to_string()),
                Some(Json::Bool(b)) => Ok(if *b { "True" } else { "False" }.to_string()),
                _ => Err(bad(format!("'{key}' must be a string"))),
            }
        };
        let order = match json.get("order") {
            Some(Json::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(Json::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| bad("'order' must be a number".into()))?,
            _ => return Err(bad("'order' must be a number".into())),
        };
        let policy_s = text("policy")?;
        let rule_s = text("rule")?;
        Ok(Self {
            id: text("id")?,
            order,
            policy: Policy::parse(&policy_s)
                .ok_or_else(|| bad(format!("unknown policy '{policy_s}'")))?,
            field: text("field")?,
            rule: RuleKind::parse(&rule_s)
                .ok_or_else(|| bad(format!("unknown rule '{rule_s}'")))?,
            value: text("value")?,
        })
    }

    /// Parses a stored rules array; `null` or a missing array is no rules.
    pub fn parse_all(json: &Json) -> Result<Vec<Self>, RuleError> {
        match json {
            Json::Null => Ok(Vec::new()),
            Json::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, r)| Self::from_json(i, r))
                .collect(),
            _ => Err(RuleError::Malformed {
                index: 0,
                message: "rules must be an array".into(),
            }),
        }
    }
}

/// A rule ready to evaluate (regex compiled once per job).
#[derive(Debug)]
struct Compiled {
    rule: BasicRule,
    regex: Option<Regex>,
    matches: u64,
}

/// The rule engine of one job.
#[derive(Debug, Default)]
pub struct BasicRules {
    rules: Vec<Compiled>,
    default_matches: u64,
}

/// A document value seen the way Python sees the yielded document.
enum Seen<'a> {
    Str(&'a str),
    Num(f64),
    /// Booleans, `None`, nested JSON: never equal to a string, not ordered with one.
    Unordered,
}

impl BasicRules {
    /// Drops the `DEFAULT` rule, sorts by `order` (stable, like Python's `sorted`) and
    /// compiles regexes. An invalid regex is refused up front: Elastic would crash
    /// mid-sync on the first document that reaches the rule.
    pub fn new(rules: &[BasicRule]) -> Result<Self, RuleError> {
        let mut kept: Vec<BasicRule> = rules
            .iter()
            .filter(|r| r.id != DEFAULT_RULE_ID)
            .cloned()
            .collect();
        kept.sort_by(|a, b| a.order.total_cmp(&b.order));
        let rules = kept
            .into_iter()
            .map(|rule| {
                let regex = match rule.rule {
                    RuleKind::Regex => {
                        Some(compile_prefix_anchored(&rule.value).map_err(|message| {
                            RuleError::InvalidRegex {
                                id: rule.id.clone(),
                                pattern: rule.value.clone(),
                                message,
                            }
                        })?)
                    }
                    _ => None,
                };
                Ok(Compiled {
                    rule,
                    regex,
                    matches: 0,
                })
            })
            .collect::<Result<_, RuleError>>()?;
        Ok(Self {
            rules,
            default_matches: 0,
        })
    }

    /// No rules at all (everything is ingested).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether the document is ingested. `extra` are the body fields the host adds
    /// before rules run in Elastic's flow (`id`, the pipeline flags), which replace
    /// source fields of the same name.
    pub fn should_ingest(&mut self, doc: &Document, extra: &[(&str, Value)]) -> bool {
        for c in &mut self.rules {
            if matches_rule(&c.rule, c.regex.as_ref(), doc, extra) {
                c.matches += 1;
                return c.rule.policy == Policy::Include;
            }
        }
        self.default_matches += 1;
        true
    }

    /// How many documents each rule decided, `DEFAULT` included (for the job log).
    pub fn match_counts(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .rules
            .iter()
            .map(|c| (c.rule.id.clone(), c.matches))
            .collect();
        out.push((DEFAULT_RULE_ID.to_string(), self.default_matches));
        out
    }
}

/// Python's `re.match`: anchored at the start, not at the end.
fn compile_prefix_anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})")).map_err(|e| e.to_string())
}

fn lookup<'a>(doc: &'a Document, extra: &'a [(&str, Value)], field: &str) -> Option<&'a Value> {
    if let Some((_, v)) = extra.iter().find(|(k, _)| *k == field) {
        return Some(v).filter(|v| !matches!(v, Value::Absent));
    }
    if field == "_timestamp" {
        // Not a positional field: the document carries it beside its values.
        return None;
    }
    doc.get(field)
}

fn seen(v: &Value) -> Seen<'_> {
    match v {
        Value::Text(s) => Seen::Str(s),
        // Python compares `True` with the *string* "True" (coerced rule value): never
        // equal, and `<`/`>` raise TypeError there; here they simply do not match.
        Value::Bool(_) => Seen::Unordered,
        Value::I64(i) => Seen::Num(*i as f64),
        Value::U64(u) => Seen::Num(*u as f64),
        Value::F64(f) => Seen::Num(*f),
        Value::Number(n) => n.parse().map(Seen::Num).unwrap_or(Seen::Unordered),
        Value::Json(_) | Value::Absent | Value::Null => Seen::Unordered,
    }
}

/// Python's `str(value)` for the yielded value.
fn python_str(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::I64(i) => i.to_string(),
        Value::U64(u) => u.to_string(),
        Value::F64(f) => python_float_str(*f),
        Value::Number(n) | Value::Json(n) => n.clone(),
        Value::Absent | Value::Null => "None".into(),
    }
}

fn python_float_str(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.into()
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Python's `float(str)`: surrounding whitespace and `_` digit separators allowed.
fn python_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    t.replace('_', "").parse().ok()
}

fn matches_rule(
    rule: &BasicRule,
    regex: Option<&Regex>,
    doc: &Document,
    extra: &[(&str, Value)],
) -> bool {
    if let Some(value) = lookup(doc, extra, &rule.field) {
        return matches_value(rule, regex, value);
    }
    // `_timestamp` as the source gave it (Elastic runs rules before defaulting it).
    match (rule.field.as_str(), &doc.timestamp) {
        ("_timestamp", Some(ts)) => matches_value(rule, regex, &Value::Text(ts.clone())),
        _ => false,
    }
}

fn matches_value(rule: &BasicRule, regex: Option<&Regex>, value: &Value) -> bool {
    let rv = rule.value.as_str();
    match rule.rule {
        RuleKind::StartsWith => python_str(value).starts_with(rv),
        RuleKind::EndsWith => python_str(value).ends_with(rv),
        RuleKind::Contains => python_str(value).contains(rv),
        RuleKind::Regex => regex.is_some_and(|re| re.is_match(&python_str(value))),
        RuleKind::Equals | RuleKind::LessThan | RuleKind::GreaterThan => {
            let ord = match seen(value) {
                Seen::Str(s) => Some(s.cmp(rv)),
                Seen::Num(n) => python_float(rv).and_then(|r| n.partial_cmp(&r)),
                Seen::Unordered => None,
            };
            match (rule.rule, ord) {
                (RuleKind::Equals, Some(o)) => o.is_eq(),
                (RuleKind::LessThan, Some(o)) => o.is_lt(),
                (RuleKind::GreaterThan, Some(o)) => o.is_gt(),
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::document::Operation;

    fn doc(fields: &[(&str, Value)]) -> Document {
        let names: Vec<Arc<str>> = fields.iter().map(|(k, _)| Arc::from(*k)).collect();
        Document {
            id: "doc-1".into(),
            operation: Operation::Index,
            timestamp: Some("2024-05-01T00:00:00+00:00".into()),
            fields: names.into(),
            values: fields.iter().map(|(_, v)| v.clone()).collect(),
        }
    }

    fn rule(
        id: &str,
        order: f64,
        policy: Policy,
        field: &str,
        kind: RuleKind,
        value: &str,
    ) -> BasicRule {
        BasicRule {
            id: id.into(),
            order,
            policy,
            field: field.into(),
            rule: kind,
            value: value.into(),
        }
    }

    fn one(kind: RuleKind, field: &str, value: &str, d: &Document) -> bool {
        // An exclude rule: `false` from should_ingest means the rule matched.
        let mut e =
            BasicRules::new(&[rule("r", 0.0, Policy::Exclude, field, kind, value)]).unwrap();
        !e.should_ingest(d, &[("id", Value::Text(d.id.clone()))])
    }

    #[test]
    fn no_rules_or_no_match_includes() {
        let d = doc(&[("name", Value::Text("abc".into()))]);
        let mut e = BasicRules::new(&[]).unwrap();
        assert!(e.should_ingest(&d, &[]));
        let mut e = BasicRules::new(&[rule(
            "1",
            0.0,
            Policy::Exclude,
            "name",
            RuleKind::Equals,
            "zzz",
        )])
        .unwrap();
        assert!(e.should_ingest(&d, &[]));
        assert_eq!(e.match_counts().last(), Some(&("DEFAULT".to_string(), 1)));
    }

    #[test]
    fn first_matching_rule_by_order_decides_and_default_is_dropped() {
        let d = doc(&[("name", Value::Text("abc".into()))]);
        let rules = [
            // DEFAULT excludes everything if it were evaluated: it must be ignored.
            rule("DEFAULT", -1.0, Policy::Exclude, "_", RuleKind::Regex, ".*"),
            rule(
                "late-include",
                2.0,
                Policy::Include,
                "name",
                RuleKind::StartsWith,
                "a",
            ),
            rule(
                "early-exclude",
                1.0,
                Policy::Exclude,
                "name",
                RuleKind::Contains,
                "b",
            ),
        ];
        let mut e = BasicRules::new(&rules).unwrap();
        assert!(!e.should_ingest(&d, &[]));
        let counts = e.match_counts();
        assert_eq!(counts[0], ("early-exclude".to_string(), 1));
        assert_eq!(counts[1], ("late-include".to_string(), 0));
        // Include first: included even though a later rule would exclude.
        let rules = [
            rule("a", 1.0, Policy::Include, "name", RuleKind::Equals, "abc"),
            rule("b", 2.0, Policy::Exclude, "name", RuleKind::Equals, "abc"),
        ];
        assert!(BasicRules::new(&rules).unwrap().should_ingest(&d, &[]));
    }

    #[test]
    fn absent_field_never_matches() {
        let d = doc(&[("name", Value::Absent)]);
        assert!(!one(RuleKind::Regex, "name", "", &d));
        assert!(!one(RuleKind::Equals, "missing", "x", &d));
    }

    #[test]
    fn string_rules_use_python_str_of_the_value() {
        let d = doc(&[
            ("s", Value::Text("hello world".into())),
            ("b", Value::Bool(true)),
            ("n", Value::I64(42)),
            ("f", Value::F64(3.0)),
            ("z", Value::Null),
        ]);
        assert!(one(RuleKind::StartsWith, "s", "hello", &d));
        assert!(one(RuleKind::EndsWith, "s", "world", &d));
        assert!(one(RuleKind::Contains, "s", "o w", &d));
        assert!(!one(RuleKind::Contains, "s", "HELLO", &d));
        assert!(one(RuleKind::StartsWith, "b", "Tr", &d)); // str(True) == "True"
        assert!(!one(RuleKind::StartsWith, "b", "tr", &d));
        assert!(one(RuleKind::EndsWith, "n", "2", &d));
        assert!(one(RuleKind::EndsWith, "f", ".0", &d)); // str(3.0) == "3.0"
        assert!(one(RuleKind::StartsWith, "z", "No", &d)); // str(None) == "None"
    }

    #[test]
    fn regex_is_anchored_at_start_only() {
        let d = doc(&[("s", Value::Text("abc123".into()))]);
        assert!(one(RuleKind::Regex, "s", "abc", &d)); // prefix match suffices
        assert!(one(RuleKind::Regex, "s", "[a-c]+\\d", &d));
        assert!(!one(RuleKind::Regex, "s", "123", &d)); // not a search
        assert!(!one(RuleKind::Regex, "s", "b", &d));
        // Alternation stays inside the anchor.
        assert!(!one(RuleKind::Regex, "s", "x|123", &d));
        let err = BasicRules::new(&[rule("bad", 0.0, Policy::Include, "s", RuleKind::Regex, "(")])
            .unwrap_err();
        assert!(
            matches!(err, RuleError::InvalidRegex { ref id, .. } if id == "bad"),
            "{err}"
        );
    }

    #[test]
    fn equals_never_matches_booleans() {
        let d = doc(&[("b", Value::Bool(true)), ("c", Value::Bool(false))]);
        for v in ["true", "True", "t", "yes", "1"] {
            assert!(!one(RuleKind::Equals, "b", v, &d), "{v}");
        }
        for v in ["false", "", "False"] {
            assert!(!one(RuleKind::Equals, "c", v, &d), "{v}");
        }
        assert!(!one(RuleKind::GreaterThan, "b", "false", &d));
    }

    #[test]
    fn numbers_compare_as_floats() {
        let d = doc(&[
            ("n", Value::I64(10)),
            ("u", Value::U64(7)),
            ("x", Value::Number("2.50".into())),
        ]);
        assert!(one(RuleKind::Equals, "n", "10", &d));
        assert!(one(RuleKind::Equals, "n", " 10.0 ", &d));
        assert!(one(RuleKind::GreaterThan, "n", "9.5", &d));
        assert!(one(RuleKind::LessThan, "n", "1e2", &d));
        assert!(one(RuleKind::LessThan, "n", "1_000", &d));
        assert!(!one(RuleKind::LessThan, "n", "10", &d));
        assert!(one(RuleKind::Equals, "u", "7", &d));
        assert!(one(RuleKind::Equals, "x", "2.5", &d));
        // Not a number: Python compares int with str (never equal, `<` raises).
        assert!(!one(RuleKind::Equals, "n", "ten", &d));
        assert!(!one(RuleKind::LessThan, "n", "ten", &d));
    }

    #[test]
    fn strings_compare_lexicographically() {
        let d = doc(&[
            ("s", Value::Text("10".into())),
            ("date", Value::Text("2024-05-01".into())),
        ]);
        assert!(one(RuleKind::LessThan, "s", "9", &d)); // "10" < "9" as strings
        assert!(!one(RuleKind::GreaterThan, "s", "9", &d));
        assert!(one(RuleKind::Equals, "s", "10", &d));
        assert!(!one(RuleKind::Equals, "s", "10.0", &d));
        assert!(one(RuleKind::GreaterThan, "date", "2024-01-31", &d));
        assert!(one(RuleKind::LessThan, "date", "2024-05-01T00:00", &d));
    }

    #[test]
    fn id_and_host_fields_are_visible_to_rules() {
        // The body `id` replaces a source field `id`; `_timestamp` is the source's.
        let d = doc(&[("id", Value::Text("source-id".into()))]);
        assert!(one(RuleKind::Equals, "id", "doc-1", &d));
        assert!(!one(RuleKind::Equals, "id", "source-id", &d));
        assert!(one(RuleKind::StartsWith, "_timestamp", "2024-05", &d));
        assert!(!one(RuleKind::Equals, "_id", "doc-1", &d)); // popped before rules
    }

    #[test]
    fn parses_stored_rules_case_insensitively() {
        let json = serde_json::json!([
            {"id": "1", "order": 0, "policy": "EXCLUDE", "field": "a", "rule": "Starts_With", "value": "x",
             "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"},
            {"id": "DEFAULT", "order": 1, "policy": "include", "field": "_", "rule": "regex", "value": ".*"},
            {"id": "2", "order": 2, "policy": "include", "field": "b", "rule": ">", "value": 5}
        ]);
        let rules = BasicRule::parse_all(&json).unwrap();
        assert_eq!(rules[0].policy, Policy::Exclude);
        assert_eq!(rules[0].rule, RuleKind::StartsWith);
        assert_eq!(rules[2].rule, RuleKind::GreaterThan);
        assert_eq!(rules[2].value, "5");
        assert_eq!(BasicRules::new(&rules).unwrap().match_counts().len(), 3);
        let bad = serde_json::json!([{"id": "1", "order": 0, "policy": "maybe", "field": "a", "rule": "equals", "value": "x"}]);
        assert!(BasicRule::parse_all(&bad).is_err());
        assert!(BasicRule::parse_all(&Json::Null).unwrap().is_empty());
    }
}
