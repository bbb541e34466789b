//! The sync job document (`.elastic-connectors-sync-jobs`) and its connector snapshot.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::connector::{
    configuration_to_map, lenient_configuration, Configuration, PipelineSettings,
};
use super::filtering::FilteringRules;
use super::lenient::*;

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

pub use tributary_sync::JobType;

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
    pub pipeline: Option<PipelineSettings>,
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
    pub fn pipeline_or_default(&self) -> PipelineSettings {
        self.pipeline.clone().unwrap_or_default()
    }

    /// The configuration snapshot as JSON (field name → RCF object).
    pub fn configuration_map(&self) -> Map<String, Value> {
        configuration_to_map(&self.configuration)
    }
}

/// The sync job document (`.elastic-connectors-sync-jobs`, `docs/elastic/sync-job-document.md#fields`).
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
