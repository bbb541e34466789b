//! What every loop of the service shares: configuration, the Elasticsearch client,
//! the loaded plugins, and the jobs this process is running.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use tributary_elasticsearch::{Client, SeqNo};
use tributary_runtime::{Grants, LoadedPlugin, PluginSet, RuntimeConfig};
use tributary_sync::SyncSettings;

/// Why a running job is being stopped; the first reason given wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// A user asked (`_cancel` → `canceling`): the job ends `canceled`.
    Canceled,
    /// The process is shutting down: the job ends `suspended` and runs again later.
    Shutdown,
    /// The job document changed under us (deleted, or marked `error` by a cleanup).
    Lost(String),
}

/// Stops one running job.
#[derive(Debug, Default)]
pub struct JobControl {
    token: CancellationToken,
    reason: Mutex<Option<StopReason>>,
}

impl JobControl {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Asks the job to stop; a later reason does not replace the first.
    pub fn stop(&self, reason: StopReason) {
        if let Ok(mut r) = self.reason.lock() {
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.token.cancel();
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason.lock().ok().and_then(|r| r.clone())
    }
}

/// A job this process is running.
#[derive(Debug, Clone)]
pub struct RunningJob {
    pub connector_id: String,
    pub control: Arc<JobControl>,
}

/// Shared by every loop.
pub struct ServiceContext {
    pub config: Config,
    pub client: Client,
    pub plugins: PluginSet,
    pub runtime: RuntimeConfig,
    /// `worker_hostname` written on claimed jobs.
    pub hostname: String,
    /// Jobs running in this process, by job id.
    pub running: Mutex<HashMap<String, RunningJob>>,
    /// Connectors seen locked (`in_progress`) with no active job by the last cleanup
    /// pass, with the connector version then: still so at the next pass means the
    /// lock's holder died between taking the lock and claiming its job.
    pub orphan_locks: Mutex<HashMap<String, SeqNo>>,
}

/// How often a running job reports `_stats` and checks for a cancel request.
pub const JOB_REPORT_INTERVAL: Duration = Duration::from_secs(5);
pub const JOB_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// A job whose `last_seen` is older than this belongs to a dead worker (Elastic: 300 s).
pub const IDLE_JOB_THRESHOLD: Duration = Duration::from_secs(300);

impl ServiceContext {
    /// The bulk settings of a sync, from `sync.*` in config.yml.
    pub fn sync_settings(&self) -> SyncSettings {
        let s = &self.config.sync;
        SyncSettings {
            bulk_max_docs: s.bulk_max_docs.max(1) as usize,
            bulk_max_bytes: s.bulk_max_bytes.max(1024) as usize,
            bulk_concurrency: s.bulk_concurrency.max(1) as usize,
            bulk_max_retries: s.bulk_max_retries,
            rejection_timeout: s.bulk_rejection_timeout,
            error_budget: s.error_budget.clone(),
            ..SyncSettings::default()
        }
    }

    /// What a plugin may reach for a connector whose stored configuration is
    /// `stored` and effective values `values`: the capabilities it imports, and the
    /// secrets (sensitive fields, capability credentials) it must not see;
    /// change data capture on the connector's own replication slot.
    pub fn grants(
        &self,
        plugin: &LoadedPlugin,
        connector_id: &str,
        stored: &Map<String, Value>,
        values: &Map<String, Value>,
    ) -> Grants {
        plugin
            .grants(
                &self.runtime,
                values,
                &super::config_values::sensitive_keys(stored),
            )
            .for_connector(connector_id, &self.runtime.postgresql_changes)
    }

    /// The client for a connector's data writes: its own `api_key` from config.yml
    /// when given (as elastic-ingest does), else the service credentials.
    pub fn data_client(&self, connector_id: &str) -> Client {
        match self
            .config
            .connector(connector_id)
            .and_then(|c| c.api_key.as_deref())
        {
            Some(key) => match self.client.with_api_key(key) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(connector_id, error = %e, "bad connector api_key; using the service credentials");
                    self.client.clone()
                }
            },
            None => self.client.clone(),
        }
    }

    /// The configured connector ids.
    pub fn connector_ids(&self) -> Vec<String> {
        self.config
            .connectors
            .iter()
            .map(|c| c.connector_id.clone())
            .collect()
    }

    pub fn is_running(&self, job_id: &str) -> bool {
        self.running
            .lock()
            .map(|r| r.contains_key(job_id))
            .unwrap_or(false)
    }

    pub fn running_count(&self) -> usize {
        self.running.lock().map(|r| r.len()).unwrap_or(0)
    }
}

/// This machine's host name (`worker_hostname`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tributary".into())
}
