//! Sync-job calls: the `_connector/_sync_job` API and direct access to
//! `.elastic-connectors-sync-jobs`, including the safe (exactly-once) claim.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::client::{decode, seg, Client, Request};
use super::connectors::ListResponse;
use super::documents::UpdateResult;
use super::models::{format_date, JobStatus, JobType, SeqNo, SyncJob, TriggerMethod, Versioned};
use super::EsError;

/// The alias elastic-ingest reads and writes job documents through.
pub const JOBS_INDEX: &str = ".elastic-connectors-sync-jobs";

/// `PUT /_connector/_sync_job/<id>/_stats` body.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobStats {
    pub deleted_document_count: u64,
    pub indexed_document_count: u64,
    /// MiB, integer-rounded (Elastic's convention).
    pub indexed_document_volume: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_document_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// Which jobs [`Client::search_jobs`] returns; empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    /// `terms connector.id`.
    pub connector_ids: Option<Vec<String>>,
    /// Excludes jobs of these connectors (orphan detection: jobs of *no* existing connector).
    pub exclude_connector_ids: Option<Vec<String>>,
    pub statuses: Vec<JobStatus>,
    pub job_types: Vec<JobType>,
    /// `last_seen <= t` (idle-job detection).
    pub last_seen_before: Option<DateTime<Utc>>,
}

impl JobQuery {
    /// elastic-ingest's executor query: `pending`/`suspended` jobs of these connectors
    /// and job types, oldest first.
    pub fn runnable(connector_ids: &[String], job_types: &[JobType]) -> Self {
        Self {
            connector_ids: Some(connector_ids.to_vec()),
            statuses: vec![JobStatus::Pending, JobStatus::Suspended],
            job_types: job_types.to_vec(),
            ..Self::default()
        }
    }

    /// The query body (without paging), sorted by `created_at` ascending.
    pub fn to_body(&self) -> Value {
        let mut filter = Vec::new();
        if let Some(ids) = &self.connector_ids {
            filter.push(json!({"terms": {"connector.id": ids}}));
        }
        if !self.statuses.is_empty() {
            let s: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
            filter.push(json!({"terms": {"status": s}}));
        }
        if !self.job_types.is_empty() {
            let t: Vec<&str> = self.job_types.iter().map(|t| t.as_str()).collect();
            filter.push(json!({"terms": {"job_type": t}}));
        }
        if let Some(t) = &self.last_seen_before {
            filter.push(json!({"range": {"last_seen": {"lte": format_date(t)}}}));
        }
        let mut must_not = Vec::new();
        if let Some(ids) = &self.exclude_connector_ids {
            must_not.push(json!({"terms": {"connector.id": ids}}));
        }
        json!({
            "query": {"bool": {"filter": filter, "must_not": must_not}},
            "sort": [{"created_at": {"order": "asc"}}]
        })
    }
}

impl Client {
    // ---- Sync job API ----

    /// `POST /_connector/_sync_job`: a new `pending` job; returns its id.
    pub async fn create_sync_job(
        &self,
        connector_id: &str,
        job_type: JobType,
        trigger_method: TriggerMethod,
    ) -> Result<String, EsError> {
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let req = Request::new(Method::POST, "/_connector/_sync_job").json(&json!({
            "id": connector_id,
            "job_type": job_type,
            "trigger_method": trigger_method,
        }))?;
        let c: Created = self.json(&req).await?;
        Ok(c.id)
    }

    /// `GET /_connector/_sync_job/<id>`; `None` when missing.
    pub async fn get_sync_job(&self, id: &str) -> Result<Option<SyncJob>, EsError> {
        let req =
            Request::new(Method::GET, format!("/_connector/_sync_job/{}", seg(id))).allow_404();
        let resp = self.execute(&req).await?;
        if resp.status == 404 {
            return Ok(None);
        }
        decode(&req, &resp.body).map(Some)
    }

    /// `GET /_connector/_sync_job` (newest first).
    pub async fn list_sync_jobs(
        &self,
        connector_id: Option<&str>,
        status: Option<JobStatus>,
        job_types: &[JobType],
        from: u64,
        size: u64,
    ) -> Result<ListResponse<SyncJob>, EsError> {
        let mut req = Request::new(Method::GET, "/_connector/_sync_job")
            .query("from", from.to_string())
            .query("size", size.to_string());
        if let Some(c) = connector_id {
            req = req.query("connector_id", c);
        }
        if let Some(s) = status {
            req = req.query("status", s.as_str());
        }
        if !job_types.is_empty() {
            let t: Vec<&str> = job_types.iter().map(|t| t.as_str()).collect();
            req = req.query("job_type", t.join(","));
        }
        self.json(&req).await
    }

    /// `PUT /_connector/_sync_job/<id>/_check_in`: `last_seen` = now.
    pub async fn check_in_sync_job(&self, id: &str) -> Result<(), EsError> {
        self.job_put(id, "_check_in", None).await
    }

    /// `PUT /_connector/_sync_job/<id>/_stats` (ES also sets `last_seen`).
    pub async fn put_sync_job_stats(&self, id: &str, stats: &JobStats) -> Result<(), EsError> {
        let body = serde_json::to_value(stats).map_err(|e| EsError::Decode {
            request: format!("PUT /_connector/_sync_job/{id}/_stats"),
            message: e.to_string(),
        })?;
        self.job_put(id, "_stats", Some(body)).await
    }

    /// `PUT /_connector/_sync_job/<id>/_error` (only from `in_progress`/`canceling`).
    pub async fn put_sync_job_error(&self, id: &str, error: &str) -> Result<(), EsError> {
        self.job_put(id, "_error", Some(json!({ "error": error })))
            .await
    }

    /// `PUT /_connector/_sync_job/<id>/_cancel`: pending/suspended → `canceled`,
    /// in_progress → `canceling`.
    pub async fn cancel_sync_job(&self, id: &str) -> Result<(), EsError> {
        self.job_put(id, "_cancel", None).await
    }

    /// `PUT /_connector/_sync_job/<id>/_claim`. **Not safe across hosts**: ES does not
    /// check the job's state, so two hosts can both claim one job. Use
    /// [`Client::claim_job`] to run a job exactly once.
    pub async fn claim_sync_job_api(
        &self,
        id: &str,
        worker_hostname: &str,
        sync_cursor: Option<&Value>,
    ) -> Result<(), EsError> {
        let mut body = json!({ "worker_hostname": worker_hostname });
        if let (Some(c), Value::Object(m)) = (sync_cursor, &mut body) {
            m.insert("sync_cursor".into(), c.clone());
        }
        self.job_put(id, "_claim", Some(body)).await
    }

    async fn job_put(&self, id: &str, endpoint: &str, body: Option<Value>) -> Result<(), EsError> {
        let mut req = Request::new(
            Method::PUT,
            format!("/_connector/_sync_job/{}/{endpoint}", seg(id)),
        );
        if let Some(b) = body {
            req = req.json(&b)?;
        }
        self.execute(&req).await.map(|_| ())
    }

    // ---- direct access to .elastic-connectors-sync-jobs ----

    /// `GET .elastic-connectors-sync-jobs/_doc/<id>` with its version.
    pub async fn get_job_doc(&self, id: &str) -> Result<Option<Versioned<SyncJob>>, EsError> {
        self.get_document(JOBS_INDEX, id).await
    }

    /// Jobs matching `query`, oldest first, with versions.
    pub async fn search_jobs(&self, query: &JobQuery) -> Result<Vec<Versioned<SyncJob>>, EsError> {
        if query
            .connector_ids
            .as_ref()
            .is_some_and(|ids| ids.is_empty())
        {
            return Ok(Vec::new());
        }
        self.search_documents(JOBS_INDEX, &query.to_body()).await
    }

    /// `POST .elastic-connectors-sync-jobs/_update/<id>`, conditional on `version` when
    /// given. Used to terminate jobs (`completed`/`error`/`canceled`/`suspended` with
    /// counters and `completed_at`), as elastic-ingest does.
    pub async fn update_job_doc(
        &self,
        id: &str,
        doc: &impl Serialize,
        version: Option<SeqNo>,
    ) -> Result<UpdateResult, EsError> {
        self.update_document(JOBS_INDEX, id, doc, version).await
    }

    /// Claims a `pending` or `suspended` job **exactly once** across hosts: a write of
    /// `status: in_progress`, `started_at`, `last_seen`, `worker_hostname` (and
    /// `connector.sync_cursor` when given) conditional on the version that was read.
    ///
    /// `Ok(Some(job))`: claimed; the job as now stored, with its new version.
    /// `Ok(None)`: someone else claimed (or canceled) it first, or it is no longer
    /// claimable. If a retried attempt ends in a conflict, the job is re-read: when it
    /// carries our `worker_hostname` and `started_at`, the conflict was with our own
    /// earlier (timed-out) attempt and the claim stands.
    pub async fn claim_job(
        &self,
        job: &Versioned<SyncJob>,
        worker_hostname: &str,
        sync_cursor: Option<&Value>,
    ) -> Result<Option<Versioned<SyncJob>>, EsError> {
        if !matches!(job.doc.status, JobStatus::Pending | JobStatus::Suspended) {
            return Ok(None);
        }
        let now = format_date(&Utc::now());
        let mut doc = json!({
            "status": JobStatus::InProgress,
            "started_at": now,
            "last_seen": now,
            "worker_hostname": worker_hostname,
        });
        if let (Some(c), Value::Object(m)) = (sync_cursor, &mut doc) {
            m.insert("connector".into(), json!({ "sync_cursor": c }));
        }
        match self
            .update_job_doc(&job.id, &doc, Some(job.version()))
            .await
        {
            Ok(_) => {}
            Err(EsError::Conflict {
                after_retry: true, ..
            }) => {
                let current = self.get_job_doc(&job.id).await?;
                let ours = current.as_ref().is_some_and(|c| {
                    c.doc.status == JobStatus::InProgress
                        && c.doc.worker_hostname.as_deref() == Some(worker_hostname)
                        && c.doc.started_at.map(|t| format_date(&t)).as_deref()
                            == Some(now.as_str())
                });
                if !ours {
                    tracing::info!(job_id = %job.id, "job was claimed by another worker");
                    return Ok(None);
                }
                return Ok(current);
            }
            Err(EsError::Conflict { .. }) => {
                tracing::info!(job_id = %job.id, "job was claimed by another worker");
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let claimed = self.get_job_doc(&job.id).await?;
        Ok(claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runnable_query_is_elastics() {
        let body =
            JobQuery::runnable(&["c1".into()], &[JobType::Full, JobType::Incremental]).to_body();
        assert_eq!(
            body,
            json!({
                "query": {"bool": {
                    "filter": [
                        {"terms": {"connector.id": ["c1"]}},
                        {"terms": {"status": ["pending", "suspended"]}},
                        {"terms": {"job_type": ["full", "incremental"]}}
                    ],
                    "must_not": []
                }},
                "sort": [{"created_at": {"order": "asc"}}]
            })
        );
    }

    #[test]
    fn idle_and_orphan_queries() {
        let t = DateTime::from_timestamp(0, 0).unwrap_or_default();
        let q = JobQuery {
            exclude_connector_ids: Some(vec!["a".into()]),
            statuses: vec![JobStatus::InProgress, JobStatus::Canceling],
            last_seen_before: Some(t),
            ..Default::default()
        };
        let body = q.to_body();
        assert_eq!(
            body["query"]["bool"]["must_not"][0]["terms"]["connector.id"][0],
            "a"
        );
        assert_eq!(
            body["query"]["bool"]["filter"][1]["range"]["last_seen"]["lte"],
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn stats_body() {
        let s = JobStats {
            indexed_document_count: 3,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"deleted_document_count": 0, "indexed_document_count": 3, "indexed_document_volume": 0})
        );
    }
}
