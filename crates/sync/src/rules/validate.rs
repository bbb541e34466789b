//! Elastic's default basic-rule validators (`docs/elastic/sync-rules.md#basic-rule-validation`), for draft rules:
//! JSON schema per rule, no match-all regex, no semantic duplicates.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value as Json;

use super::basic::{Policy, RuleKind, DEFAULT_RULE_ID};

/// `filtering[].draft.validation.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationState {
    Valid,
    Invalid,
}

/// One entry of `validation.errors`: `{ids: [...], messages: [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterValidationError {
    pub ids: Vec<String>,
    pub messages: Vec<String>,
}

const MATCH_ALL_REGEXPS: [&str; 2] = [".*", "(.*)"];
const REQUIRED: [&str; 6] = ["id", "policy", "field", "rule", "value", "order"];

/// Validates stored basic rules (the `DEFAULT` rule included, as Elastic passes it).
/// Returns the state and the errors in Elastic's order: schema errors rule by rule,
/// then match-all regexes, then the first semantic duplicate pair.
///
/// Differences from Elastic, on purpose: a rule failing the schema is skipped by the
/// later validators (Elastic's crash with a `KeyError`); an uncompilable `regex` is
/// reported (Elastic fails the sync on the first document instead).
pub fn validate_basic_rules(rules: &[Json]) -> (ValidationState, Vec<FilterValidationError>) {
    let mut errors = Vec::new();
    let mut usable = Vec::new();
    for rule in rules {
        match schema_error(rule) {
            Some(message) => errors.push(FilterValidationError {
                ids: vec![rule_id(rule)],
                messages: vec![message],
            }),
            None => usable.push(rule),
        }
    }
    for rule in &usable {
        let id = rule_id(rule);
        let kind = rule
            .get("rule")
            .and_then(Json::as_str)
            .and_then(RuleKind::parse);
        let value = rule.get("value").and_then(Json::as_str).unwrap_or_default();
        if id == DEFAULT_RULE_ID || kind != Some(RuleKind::Regex) {
            continue;
        }
        if MATCH_ALL_REGEXPS.contains(&value) {
            errors.push(FilterValidationError {
                ids: vec![id],
                messages: vec![format!(
                    "Match all regexps: '['{}', '{}']' are not allowed.",
                    MATCH_ALL_REGEXPS[0], MATCH_ALL_REGEXPS[1]
                )],
            });
        } else if let Err(e) = regex::Regex::new(&format!("^(?:{value})")) {
            errors.push(FilterValidationError {
                ids: vec![id],
                messages: vec![format!("Invalid regex '{value}': {e}")],
            });
        }
    }
    // Elastic reports only the first duplicate found, as two errors (one per rule).
    let mut seen: HashMap<(String, Option<RuleKind>, String), String> = HashMap::new();
    for rule in &usable {
        let key = (
            rule.get("field")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            rule.get("rule")
                .and_then(Json::as_str)
                .and_then(RuleKind::parse),
            rule.get("value")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
        );
        let id = rule_id(rule);
        if let Some(first) = seen.get(&key) {
            let msg = |a: &str, b: &str| {
                format!("Rule with id '{a}' is semantically equal to rule with id '{b}'")
            };
            errors.push(FilterValidationError {
                ids: vec![id.clone()],
                messages: vec![msg(&id, first)],
            });
            errors.push(FilterValidationError {
                ids: vec![first.clone()],
                messages: vec![msg(first, &id)],
            });
            break;
        }
        seen.insert(key, id);
    }
    let state = if errors.is_empty() {
        ValidationState::Valid
    } else {
        ValidationState::Invalid
    };
    (state, errors)
}

/// The `validation` object to write on the draft (`{state, errors}`), as
/// `PUT _connector/<id>/_filtering/_validation` expects it.
pub fn validation_json(rules: &[Json]) -> Json {
    let (state, errors) = validate_basic_rules(rules);
    serde_json::json!({ "state": state, "errors": errors })
}

fn rule_id(rule: &Json) -> String {
    match rule.get("id") {
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// The first violation of Elastic's per-rule JSON schema, worded like fastjsonschema.
fn schema_error(rule: &Json) -> Option<String> {
    let Some(obj) = rule.as_object() else {
        return Some("data must be object".into());
    };
    if REQUIRED.iter().any(|k| !obj.contains_key(*k)) {
        return Some(
            "data must contain ['id', 'policy', 'field', 'rule', 'value', 'order'] properties"
                .into(),
        );
    }
    for key in ["id", "policy", "field", "rule", "value", "order"] {
        let v = &obj[key];
        let err = match key {
            "id" | "field" | "value" => match v.as_str() {
                None => Some(format!("data.{key} must be string")),
                Some("") => Some(format!(
                    "data.{key} must be longer than or equal to 1 characters"
                )),
                Some(_) => None,
            },
            "policy" => (v.as_str().and_then(Policy::parse).is_none())
                .then(|| "data.policy must be policy".to_string()),
            "rule" => (v.as_str().and_then(RuleKind::parse).is_none())
                .then(|| "data.rule must be rule".to_string()),
            _ => (!v.is_number()).then(|| "data.order must be number".to_string()),
        };
        if err.is_some() {
            return err;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn r(id: &str, policy: &str, field: &str, rule: &str, value: &str, order: i64) -> Json {
        json!({"id": id, "policy": policy, "field": field, "rule": rule, "value": value, "order": order})
    }

    #[test]
    fn validation_json_has_the_connector_shape() {
        let rules = [r("1", "include", "f", "regex", ".*", 0)];
        let v = validation_json(&rules);
        assert_eq!(v["state"], "invalid");
        assert_eq!(v["errors"][0]["ids"], json!(["1"]));
        assert!(v["errors"][0]["messages"][0]
            .as_str()
            .unwrap()
            .starts_with("Match all"));
        assert_eq!(
            validation_json(&[]),
            json!({"state": "valid", "errors": []})
        );
    }

    #[test]
    fn valid_rules_and_default_pass() {
        let rules = [
            r("1", "include", "name", "equals", "x", 0),
            r("2", "exclude", "name", "regex", "a.*", 1),
            r("DEFAULT", "include", "_", "regex", ".*", 2),
        ];
        assert_eq!(
            validate_basic_rules(&rules),
            (ValidationState::Valid, vec![])
        );
        assert_eq!(validate_basic_rules(&[]).0, ValidationState::Valid);
    }

    #[test]
    fn schema_violations_name_the_field() {
        let mut missing = r("m", "include", "f", "equals", "v", 0);
        missing.as_object_mut().unwrap().remove("order");
        let rules = [
            r("1", "include", "f", "equals", "", 0),
            r("2", "sometimes", "f", "equals", "v", 1),
            r("3", "include", "f", "like", "v", 2),
            r("4", "include", "", "equals", "v", 3),
            json!({"id": "5", "policy": "include", "field": "f", "rule": "equals", "value": "v", "order": "1"}),
            missing,
        ];
        let (state, errors) = validate_basic_rules(&rules);
        assert_eq!(state, ValidationState::Invalid);
        let msgs: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.ids[0].as_str(), e.messages[0].as_str()))
            .collect();
        assert_eq!(
            msgs,
            vec![
                ("1", "data.value must be longer than or equal to 1 characters"),
                ("2", "data.policy must be policy"),
                ("3", "data.rule must be rule"),
                ("4", "data.field must be longer than or equal to 1 characters"),
                ("5", "data.order must be number"),
                ("m", "data must contain ['id', 'policy', 'field', 'rule', 'value', 'order'] properties"),
            ]
        );
    }

    #[test]
    fn match_all_regex_rejected_except_default() {
        let rules = [
            r("1", "include", "f", "regex", ".*", 0),
            r("2", "exclude", "f", "REGEX", "(.*)", 1),
            r("DEFAULT", "include", "_", "regex", ".*", 2),
            r("3", "exclude", "f", "regex", "(", 3),
        ];
        let (_, errors) = validate_basic_rules(&rules);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].ids, vec!["1"]);
        assert_eq!(
            errors[0].messages,
            vec!["Match all regexps: '['.*', '(.*)']' are not allowed."]
        );
        assert_eq!(errors[1].ids, vec!["2"]);
        assert_eq!(errors[2].ids, vec!["3"]);
        assert!(errors[2].messages[0].starts_with("Invalid regex '('"));
    }

    #[test]
    fn semantic_duplicates_regardless_of_policy_mark_both() {
        let rules = [
            r("a", "include", "f", "equals", "v", 0),
            r("b", "include", "f", "equals", "other", 1),
            r("c", "exclude", "f", "Equals", "v", 2),
        ];
        let (state, errors) = validate_basic_rules(&rules);
        assert_eq!(state, ValidationState::Invalid);
        assert_eq!(
            errors,
            vec![
                FilterValidationError {
                    ids: vec!["c".into()],
                    messages: vec![
                        "Rule with id 'c' is semantically equal to rule with id 'a'".into()
                    ],
                },
                FilterValidationError {
                    ids: vec!["a".into()],
                    messages: vec![
                        "Rule with id 'a' is semantically equal to rule with id 'c'".into()
                    ],
                },
            ]
        );
        // Same field and value, different rule: not duplicates.
        let ok = [
            r("a", "include", "f", "equals", "v", 0),
            r("b", "include", "f", "contains", "v", 1),
        ];
        assert_eq!(validate_basic_rules(&ok).0, ValidationState::Valid);
    }
}
