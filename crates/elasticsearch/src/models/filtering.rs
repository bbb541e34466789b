//! Sync rules as the connector and job documents hold them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lenient::*;

/// One basic sync rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilteringRule {
    #[serde(default)]
    pub id: String,
    /// `include` | `exclude`.
    #[serde(default)]
    pub policy: String,
    #[serde(default)]
    pub field: String,
    /// `equals`, `contains`, `starts_with`, `ends_with`, `regex`, `<`, `>`.
    #[serde(default)]
    pub rule: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub value: String,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub order: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Value>,
}

/// `advanced_snippet`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdvancedSnippet {
    #[serde(default)]
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Value>,
}

/// One validation error: which rules, which messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilteringValidationError {
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `validation` of a rule set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilteringValidation {
    /// `valid` | `invalid` | `edited`.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub errors: Vec<FilteringValidationError>,
}

/// A rule set (`active` or `draft`; also the job's `connector.filtering` snapshot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilteringRules {
    #[serde(default)]
    pub rules: Vec<FilteringRule>,
    #[serde(default)]
    pub advanced_snippet: AdvancedSnippet,
    #[serde(default)]
    pub validation: FilteringValidation,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One element of the connector's `filtering` array.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilteringDomain {
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub active: FilteringRules,
    #[serde(default)]
    pub draft: FilteringRules,
}
