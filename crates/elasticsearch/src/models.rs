//! The connector and sync-job documents (reference §2, §3; API reference A.4–A.6).
//!
//! Tolerant by design: unknown fields are kept in `other` (and written back on a full
//! re-serialisation), null and absent are the same, unknown enum strings become
//! `Unknown`, and dates in unexpected formats read as `None` instead of failing the
//! whole document — one odd field must not stop a connector from syncing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Connector `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorStatus {
    Created,
    NeedsConfiguration,
    Configured,
    Connected,
    Error,
    /// A value this version does not know; never written.
    #[serde(other)]
    Unknown,
}

/// Sync job `status` (also `last_sync_status` on the connector).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    InProgress,
    Canceling,
    Canceled,
    Suspended,
    Completed,
    Error,
    #[serde(other)]
    Unknown,
}

impl JobStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Canceling => "canceling",
            Self::Canceled => "canceled",
            Self::Suspended => "suspended",
            Self::Completed => "completed",
            Self::Error => "error",
            Self::Unknown => "unknown",
        }
    }

    /// `completed`, `canceled`, `error`: nothing more happens to the job.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Canceled | Self::Error)
    }
}

/// Sync job `job_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobType {
    Full,
    Incremental,
    AccessControl,
    #[serde(other)]
    Unknown,
}

impl JobType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Incremental => "incremental",
            Self::AccessControl => "access_control",
            Self::Unknown => "unknown",
        }
    }
}

/// Sync job `trigger_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerMethod {
    OnDemand,
    Scheduled,
    #[serde(other)]
    Unknown,
}

impl TriggerMethod {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnDemand => "on_demand",
            Self::Scheduled => "scheduled",
            Self::Unknown => "unknown",
        }
    }
}

/// Null, absent and unparsable read as `None`.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()))
}

/// Dates as Elasticsearch and the Python service write them: RFC 3339 with any
/// fraction, with or without a zone (UTC assumed), or epoch milliseconds.
fn lenient_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => parse_date(&s),
        Some(Value::Number(n)) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    })
}

/// Parses an Elasticsearch date string (see the module docs for the forms accepted).
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
        .or_else(|| {
            s.parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_millis)
        })
}

/// Counters may come back as floats (`5.0`) from some writers.
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    })
}

fn lenient_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        _ => None,
    })
}

/// Writes dates as Elasticsearch does (RFC 3339, milliseconds, `Z`).
pub fn format_date(d: &DateTime<Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

mod date_opt {
    use super::*;
    pub fn serialize<S: serde::Serializer>(
        d: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_date(d)),
            None => s.serialize_none(),
        }
    }
}

/// One Rich Configurable Field (reference §2.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `str`, `int`, `bool`, `list`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub field_type: Option<String>,
    /// `text`, `textbox`, `textarea`, `numeric`, `toggle`, `dropdown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub required: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub sensitive: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub order: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tooltip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// `[{field, value}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<Value>>,
    /// `[{type, constraint}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validations: Option<Vec<Value>>,
    /// `[{label, value}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui_restrictions: Option<Vec<String>>,
    #[serde(default)]
    pub default_value: Value,
    #[serde(default)]
    pub value: Value,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `configuration`: field name → RCF.
pub type Configuration = BTreeMap<String, ConfigField>;

/// `pipeline` (defaults as elastic-ingest's `PIPELINE_DEFAULT` when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    #[serde(default = "default_pipeline_name")]
    pub name: String,
    #[serde(default = "yes")]
    pub extract_binary_content: bool,
    #[serde(default = "yes")]
    pub reduce_whitespace: bool,
    #[serde(default = "yes")]
    pub run_ml_inference: bool,
}

fn default_pipeline_name() -> String {
    "search-default-ingestion".into()
}

fn yes() -> bool {
    true
}

impl Default for Pipeline {
    fn default() -> Self {
        Self {
            name: default_pipeline_name(),
            extract_binary_content: true,
            reduce_whitespace: true,
            run_ml_inference: true,
        }
    }
}

/// One `scheduling.<job type>` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    #[serde(default)]
    pub enabled: bool,
    /// Quartz cron (`sec min hour dom month dow [year]`).
    #[serde(default)]
    pub interval: String,
}

/// `scheduling`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scheduling {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub full: Option<Schedule>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub incremental: Option<Schedule>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub access_control: Option<Schedule>,
}

/// `{enabled: bool}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enabled {
    #[serde(default)]
    pub enabled: bool,
}

/// `features.sync_rules`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRulesFeatures {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub basic: Option<Enabled>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub advanced: Option<Enabled>,
}

/// `features` (reference §2.5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub sync_rules: Option<SyncRulesFeatures>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub document_level_security: Option<Enabled>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub incremental_sync: Option<Enabled>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub native_connector_api_keys: Option<Enabled>,
    /// Legacy boolean.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub filtering_rules: Option<bool>,
    /// Legacy boolean.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub filtering_advanced_config: Option<bool>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Features {
    /// Incremental sync enabled on the connector.
    pub fn incremental_sync_enabled(&self) -> bool {
        self.incremental_sync.is_some_and(|e| e.enabled)
    }

    /// Basic sync rules enabled (new flag or legacy boolean).
    pub fn basic_rules_enabled(&self) -> bool {
        self.sync_rules
            .as_ref()
            .and_then(|s| s.basic)
            .is_some_and(|e| e.enabled)
            || self.filtering_rules == Some(true)
    }

    /// Advanced sync rules enabled (new flag or legacy boolean).
    pub fn advanced_rules_enabled(&self) -> bool {
        self.sync_rules
            .as_ref()
            .and_then(|s| s.advanced)
            .is_some_and(|e| e.enabled)
            || self.filtering_advanced_config == Some(true)
    }

    /// Document-level security enabled.
    pub fn dls_enabled(&self) -> bool {
        self.document_level_security.is_some_and(|e| e.enabled)
    }
}

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

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    })
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    })
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

/// The connector document (`.elastic-connectors`, reference §2.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Connector {
    /// The document `_id` (the Connector API's `id`).
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_configuration")]
    pub configuration: Configuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_scheduling: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub features: Option<Features>,
    #[serde(default, deserialize_with = "lenient_filtering_list")]
    pub filtering: Vec<FilteringDomain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub is_native: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub pipeline: Option<Pipeline>,
    #[serde(default, deserialize_with = "lenient_scheduling")]
    pub scheduling: Scheduling,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub status: Option<ConnectorStatus>,
    /// Opaque source state, written after a successful content job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_cursor: Option<Value>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub sync_now: bool,
    /// 9.x soft delete.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub deleted: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_date",
        serialize_with = "date_opt::serialize"
    )]
    pub last_seen: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_date",
        serialize_with = "date_opt::serialize"
    )]
    pub last_synced: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub last_sync_status: Option<JobStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_error: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_date",
        serialize_with = "date_opt::serialize"
    )]
    pub last_sync_scheduled_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_date",
        serialize_with = "date_opt::serialize"
    )]
    pub last_incremental_sync_scheduled_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_date",
        serialize_with = "date_opt::serialize"
    )]
    pub last_access_control_sync_scheduled_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub last_access_control_sync_status: Option<JobStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_access_control_sync_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_permissions_sync_status: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_u64"
    )]
    pub last_indexed_document_count: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_u64"
    )]
    pub last_deleted_document_count: Option<u64>,
    /// Every other field, kept as is.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(matches!(
        Option::<Value>::deserialize(d)?,
        Some(Value::Bool(true))
    ))
}

fn lenient_scheduling<'de, D: Deserializer<'de>>(d: D) -> Result<Scheduling, D::Error> {
    Ok(lenient(d)?.unwrap_or_default())
}

/// A configuration entry that is not an object (e.g. hand-written `null`) is skipped
/// rather than failing the connector.
fn lenient_configuration<'de, D: Deserializer<'de>>(d: D) -> Result<Configuration, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Object(m)) => m
            .into_iter()
            .filter_map(|(k, v)| serde_json::from_value(v).ok().map(|f| (k, f)))
            .collect(),
        _ => Configuration::new(),
    })
}

fn lenient_filtering_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<FilteringDomain>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        Some(v @ Value::Object(_)) => serde_json::from_value(v).ok().into_iter().collect(),
        _ => Vec::new(),
    })
}

impl Connector {
    /// `pipeline`, or elastic-ingest's default when the connector has none.
    pub fn pipeline_or_default(&self) -> Pipeline {
        self.pipeline.clone().unwrap_or_default()
    }

    /// `features`, or all-disabled.
    pub fn features_or_default(&self) -> Features {
        self.features.clone().unwrap_or_default()
    }

    /// The first filtering domain (the only one Elastic uses).
    pub fn filtering_domain(&self) -> Option<&FilteringDomain> {
        self.filtering.first()
    }

    /// The `value` of a configuration field.
    pub fn config_value(&self, key: &str) -> Option<&Value> {
        self.configuration.get(key).map(|f| &f.value)
    }

    /// `configuration` as JSON (field name → RCF object), for merging and writing.
    pub fn configuration_map(&self) -> Map<String, Value> {
        configuration_to_map(&self.configuration)
    }
}

/// A configuration as JSON; fields keep their unknown attributes (`other`).
pub fn configuration_to_map(c: &Configuration) -> Map<String, Value> {
    c.iter()
        .filter_map(|(k, f)| serde_json::to_value(f).ok().map(|v| (k.clone(), v)))
        .collect()
}

/// The job's snapshot of its connector (taken at creation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobConnector {
    #[serde(default)]
    pub id: String,
    #[serde(default, deserialize_with = "lenient_configuration")]
    pub configuration: Configuration,
    /// The connector's *active* rules of domain 0 (an object; the legacy array form
    /// is read too, taking its first element).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_job_filtering"
    )]
    pub filtering: Option<FilteringRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub pipeline: Option<Pipeline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    /// Set at claim for incremental jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_cursor: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn lenient_job_filtering<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<FilteringRules>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Array(items)) => items.into_iter().next().and_then(|first| {
            // `[{domain, active, draft}]` or the older `[{domain, rules, advanced_snippet}]`.
            let inner = match first.get("active") {
                Some(active) => active.clone(),
                None => first,
            };
            serde_json::from_value(inner).ok()
        }),
        Some(v @ Value::Object(_)) => serde_json::from_value(v).ok(),
        _ => None,
    })
}

impl JobConnector {
    /// `pipeline`, or elastic-ingest's default when the snapshot has none.
    pub fn pipeline_or_default(&self) -> Pipeline {
        self.pipeline.clone().unwrap_or_default()
    }

    /// The configuration snapshot as JSON (field name → RCF object).
    pub fn configuration_map(&self) -> Map<String, Value> {
        configuration_to_map(&self.configuration)
    }
}

/// The sync job document (`.elastic-connectors-sync-jobs`, reference §3.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncJob {
    /// The document `_id`.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub connector: JobConnector,
    #[serde(default = "unknown_status", deserialize_with = "lenient_status")]
    pub status: JobStatus,
    #[serde(default = "full", deserialize_with = "lenient_job_type")]
    pub job_type: JobType,
    #[serde(default = "on_demand", deserialize_with = "lenient_trigger")]
    pub trigger_method: TriggerMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_hostname: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub indexed_document_count: u64,
    /// MiB, integer (Elastic's convention).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub indexed_document_volume: u64,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub deleted_document_count: u64,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub total_document_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_date",
        serialize_with = "date_opt::serialize"
    )]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_date",
        serialize_with = "date_opt::serialize"
    )]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_date",
        serialize_with = "date_opt::serialize"
    )]
    pub last_seen: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_date",
        serialize_with = "date_opt::serialize"
    )]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_date",
        serialize_with = "date_opt::serialize"
    )]
    pub canceled_at: Option<DateTime<Utc>>,
    /// One "l", as Elasticsearch spells it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_date",
        serialize_with = "date_opt::serialize"
    )]
    pub cancelation_requested_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn unknown_status() -> JobStatus {
    JobStatus::Unknown
}
fn full() -> JobType {
    JobType::Full
}
fn on_demand() -> TriggerMethod {
    TriggerMethod::OnDemand
}
fn lenient_status<'de, D: Deserializer<'de>>(d: D) -> Result<JobStatus, D::Error> {
    Ok(lenient(d)?.unwrap_or(JobStatus::Unknown))
}
fn lenient_job_type<'de, D: Deserializer<'de>>(d: D) -> Result<JobType, D::Error> {
    Ok(lenient(d)?.unwrap_or(JobType::Full))
}
fn lenient_trigger<'de, D: Deserializer<'de>>(d: D) -> Result<TriggerMethod, D::Error> {
    Ok(lenient(d)?.unwrap_or(TriggerMethod::OnDemand))
}

/// A document read directly from an index, with what a conditional write needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub id: String,
    pub seq_no: i64,
    pub primary_term: i64,
    pub doc: T,
}

impl<T> Versioned<T> {
    /// The `if_seq_no`/`if_primary_term` pair for a write conditional on this version.
    pub fn version(&self) -> SeqNo {
        SeqNo {
            seq_no: self.seq_no,
            primary_term: self.primary_term,
        }
    }
}

/// `if_seq_no` + `if_primary_term`: write only if the document is still this version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqNo {
    pub seq_no: i64,
    pub primary_term: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connector_from_api_defaults() {
        // What `PUT _connector/x` + GET returns on a fresh connector.
        let c: Connector = serde_json::from_value(json!({
            "id": "my-connector-id",
            "name": "Music catalog",
            "index_name": "music",
            "service_type": "postgresql",
            "status": "created",
            "is_native": false,
            "sync_now": false,
            "deleted": false,
            "configuration": {},
            "custom_scheduling": {},
            "filtering": [{
                "domain": "DEFAULT",
                "active": {
                    "advanced_snippet": {"created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z", "value": {}},
                    "rules": [{"id": "DEFAULT", "field": "_", "policy": "include", "rule": "regex", "value": ".*", "order": 0,
                               "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z"}],
                    "validation": {"state": "valid", "errors": []}
                },
                "draft": {"rules": [], "validation": {"state": "edited", "errors": []}}
            }],
            "scheduling": {
                "full": {"enabled": false, "interval": "0 0 0 * * ?"},
                "incremental": {"enabled": false, "interval": "0 0 0 * * ?"},
                "access_control": {"enabled": false, "interval": "0 0 0 * * ?"}
            },
            "a_future_field": {"x": 1}
        }))
        .unwrap();
        assert_eq!(c.status, Some(ConnectorStatus::Created));
        assert!(c.configuration.is_empty());
        assert_eq!(c.filtering[0].active.rules[0].id, "DEFAULT");
        assert_eq!(c.filtering[0].draft.validation.state, "edited");
        assert_eq!(c.scheduling.full.as_ref().unwrap().interval, "0 0 0 * * ?");
        assert_eq!(c.pipeline_or_default().name, "search-default-ingestion");
        assert_eq!(c.other["a_future_field"], json!({"x": 1}));
    }

    #[test]
    fn connector_tolerates_odd_values() {
        let c: Connector = serde_json::from_value(json!({
            "status": "hibernating",
            "last_seen": "2026-12-01T10:00:00.123456789Z",
            "last_synced": "2026-12-01T10:00:00+00:00",
            "last_sync_scheduled_at": "not a date",
            "last_sync_status": null,
            "last_indexed_document_count": 5.0,
            "configuration": {"host": {"label": "Host", "value": "db"}, "broken": null},
            "pipeline": {"name": "p"},
            "features": {"incremental_sync": {"enabled": true}, "sync_rules": {"basic": {"enabled": true}}}
        }))
        .unwrap();
        assert_eq!(c.status, Some(ConnectorStatus::Unknown));
        assert!(c.last_seen.is_some() && c.last_synced.is_some());
        assert!(c.last_sync_scheduled_at.is_none());
        assert_eq!(c.last_indexed_document_count, Some(5));
        assert_eq!(c.config_value("host"), Some(&json!("db")));
        assert!(!c.configuration.contains_key("broken"));
        let map = c.configuration_map();
        assert_eq!(map["host"]["label"], json!("Host"));
        assert_eq!(map["host"]["value"], json!("db"));
        let p = c.pipeline_or_default();
        assert!(p.name == "p" && p.reduce_whitespace);
        let f = c.features_or_default();
        assert!(
            f.incremental_sync_enabled() && f.basic_rules_enabled() && !f.advanced_rules_enabled()
        );
    }

    #[test]
    fn sync_job_from_api() {
        let j: SyncJob = serde_json::from_value(json!({
            "id": "job-1",
            "connector": {
                "id": "c", "index_name": "music", "service_type": "postgresql", "language": null,
                "configuration": {"tables": {"label": "Tables", "type": "list", "value": "album,artist"}},
                "filtering": {"rules": [], "advanced_snippet": {"value": {}}, "validation": {"state": "valid", "errors": []}},
                "pipeline": {"name": "search-default-ingestion", "extract_binary_content": true, "reduce_whitespace": true, "run_ml_inference": false}
            },
            "status": "pending",
            "job_type": "full",
            "trigger_method": "on_demand",
            "created_at": "2026-12-01T10:00:00.000Z",
            "last_seen": "2026-12-01T10:00:00.000Z",
            "indexed_document_count": 0,
            "indexed_document_volume": 0,
            "deleted_document_count": 0,
            "total_document_count": 0,
            "metadata": {}
        }))
        .unwrap();
        assert_eq!(j.status, JobStatus::Pending);
        assert_eq!(j.job_type, JobType::Full);
        assert_eq!(j.connector.index_name.as_deref(), Some("music"));
        assert!(!j.connector.pipeline_or_default().run_ml_inference);
        assert!(j.connector.filtering.is_some());
        assert!(j.started_at.is_none());
    }

    #[test]
    fn sync_job_legacy_filtering_array_and_missing_fields() {
        let j: SyncJob = serde_json::from_value(json!({
            "connector": {"id": "c", "filtering": [{"domain": "DEFAULT", "rules": [{"id": "r", "policy": "exclude", "field": "f", "rule": "equals", "value": 3, "order": 1}], "advanced_snippet": {}, "warnings": []}]},
            "status": "retired",
            "indexed_document_count": 7.0
        }))
        .unwrap();
        assert_eq!(j.status, JobStatus::Unknown);
        assert_eq!(j.indexed_document_count, 7);
        let rules = j.connector.filtering.unwrap().rules;
        assert_eq!(rules[0].value, "3");
        assert_eq!(rules[0].policy, "exclude");
    }

    #[test]
    fn dates_round_trip_in_es_format() {
        let d = parse_date("2026-12-01T10:00:00.5Z").unwrap();
        assert_eq!(format_date(&d), "2026-12-01T10:00:00.500Z");
        assert_eq!(
            parse_date("2026-12-01T10:00:00"),
            parse_date("2026-12-01T10:00:00Z")
        );
        assert!(parse_date("1764583200000").is_some());
    }

    #[test]
    fn enums_serialize_snake_case() {
        assert_eq!(
            serde_json::to_value(JobStatus::InProgress).unwrap(),
            json!("in_progress")
        );
        assert_eq!(
            serde_json::to_value(ConnectorStatus::NeedsConfiguration).unwrap(),
            json!("needs_configuration")
        );
        assert_eq!(JobType::AccessControl.as_str(), "access_control");
    }
}
