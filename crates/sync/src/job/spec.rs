//! What one job is: its type, target index, pipeline, rules and settings.

use super::*;

/// `job_type` of a sync job: the one definition of the house. Elasticsearch's job
/// documents carry it, the scheduler creates it, the plugin is asked for its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobType {
    /// Everything is re-indexed, then documents not seen by this job are deleted.
    Full,
    /// The source's operations are applied as given; nothing else is deleted.
    Incremental,
    /// Document-level security sync: not supported by Tributary (fails the job).
    AccessControl,
    /// A type this host does not know (a newer Elasticsearch, a typo): read so the
    /// job document stays readable, refused when the job would run.
    #[serde(other)]
    Unknown,
}

impl JobType {
    /// Parses `full`, `incremental`, `access_control`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Self::Full),
            "incremental" => Some(Self::Incremental),
            "access_control" => Some(Self::AccessControl),
            _ => None,
        }
    }

    /// The job document's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Incremental => "incremental",
            Self::AccessControl => "access_control",
            Self::Unknown => "unknown",
        }
    }
}

/// Everything one job needs besides its source and target.
#[derive(Debug, Clone)]
pub struct SyncJobSpec {
    /// Sync job id; stamped on every document of a full sync.
    pub job_id: String,
    /// The connector (`connector.id`), for logs and metrics; may be empty.
    pub connector_id: String,
    /// Target index (`connector.index_name`).
    pub index_name: String,
    pub job_type: JobType,
    /// `connector.pipeline` of the job.
    pub pipeline: PipelineSettings,
    /// Active basic rules of the job's filtering snapshot (DEFAULT may be included).
    pub basic_rules: Vec<BasicRule>,
    pub settings: SyncSettings,
}

/// Why a sync job document cannot be turned into a [`SyncJobSpec`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("sync job has no connector.index_name")]
    MissingIndex,
    #[error("sync job has an unknown job_type '{0}'")]
    UnknownJobType(String),
    #[error("sync job has an invalid connector.pipeline: {0}")]
    BadPipeline(String),
    #[error(transparent)]
    Rules(#[from] RuleError),
}

impl SyncJobSpec {
    /// Builds the spec from a `.elastic-connectors-sync-jobs` document (`_source`):
    /// `job_type` (default `full`), `connector.index_name`, `connector.pipeline`
    /// (absent → Connector API defaults) and the active rules in
    /// `connector.filtering.rules` (the object form; the legacy array form
    /// `[{active: {rules}}]` is accepted too).
    pub fn from_job_document(
        job_id: &str,
        job: &serde_json::Value,
        settings: SyncSettings,
    ) -> Result<Self, SpecError> {
        let connector = &job["connector"];
        let job_type = match job.get("job_type").and_then(|v| v.as_str()) {
            None => JobType::Full,
            Some(t) => JobType::parse(t).ok_or_else(|| SpecError::UnknownJobType(t.into()))?,
        };
        let index_name = connector
            .get("index_name")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or(SpecError::MissingIndex)?
            .to_string();
        let pipeline = match connector.get("pipeline") {
            None | Some(serde_json::Value::Null) => PipelineSettings::default(),
            Some(p) => serde_json::from_value(p.clone())
                .map_err(|e| SpecError::BadPipeline(e.to_string()))?,
        };
        let filtering = &connector["filtering"];
        let rules = match filtering {
            serde_json::Value::Array(domains) => domains
                .first()
                .map(|d| d["active"]["rules"].clone())
                .unwrap_or_default(),
            other => other["rules"].clone(),
        };
        Ok(Self {
            job_id: job_id.to_string(),
            connector_id: connector
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            index_name,
            job_type,
            pipeline,
            basic_rules: BasicRule::parse_all(&rules)?,
            settings,
        })
    }
}
