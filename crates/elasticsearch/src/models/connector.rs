//! The connector document (`.elastic-connectors`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::filtering::FilteringDomain;
use super::job::JobStatus;
use super::lenient::*;

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

/// One Rich Configurable Field (`docs/elastic/connector-document.md#configuration-schema`).
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

/// `pipeline`: owned by the sync (missing keys take elastic-ingest's
/// `PIPELINE_DEFAULT`).
pub use tributary_sync::PipelineSettings;

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

/// `features` (`docs/elastic/connector-document.md#features`).
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

/// The connector document (`.elastic-connectors`, `docs/elastic/connector-document.md#fields`).
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
    pub pipeline: Option<PipelineSettings>,
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

fn lenient_scheduling<'de, D: Deserializer<'de>>(d: D) -> Result<Scheduling, D::Error> {
    Ok(lenient(d)?.unwrap_or_default())
}

/// A configuration entry that is not an object (e.g. hand-written `null`) is skipped
/// rather than failing the connector.
pub(super) fn lenient_configuration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Configuration, D::Error> {
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
    pub fn pipeline_or_default(&self) -> PipelineSettings {
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
