//! Connector calls: the Connector API (`_connector/...`) and direct access to
//! `.elastic-connectors`, split as elastic-ingest splits them (`docs/elastic/service-loops.md#access-modes`).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::client::{seg, Client, Request};
use super::documents::UpdateResult;
use super::models::{
    Configuration, Connector, ConnectorStatus, FilteringValidation, SeqNo, Versioned,
};
use super::EsError;

/// The alias elastic-ingest reads and writes connector documents through.
pub const CONNECTORS_INDEX: &str = ".elastic-connectors";

/// Attempts of a read-modify-write on a conflict (elastic-ingest: 3).
pub const CAS_ATTEMPTS: u32 = 3;

/// `GET /_connector` filters (all optional; lists are comma-joined).
#[derive(Debug, Clone, Default)]
pub struct ListConnectors {
    pub from: Option<u64>,
    pub size: Option<u64>,
    pub index_name: Vec<String>,
    pub connector_name: Vec<String>,
    pub service_type: Vec<String>,
    pub query: Option<String>,
}

/// `GET /_connector` / `GET /_connector/_sync_job` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct ListResponse<T> {
    #[serde(default)]
    pub count: u64,
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
}

/// `PUT /_connector/<id>/_last_sync` body; absent fields are not sent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LastSync {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_status: Option<super::models::JobStatus>,
    /// `Some(None)` writes null (clears the error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_error: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_synced: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_indexed_document_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_deleted_document_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_access_control_sync_status: Option<super::models::JobStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_access_control_sync_error: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_cursor: Option<Value>,
}

impl Client {
    // ---- Connector API ----

    /// `GET /_connector/<id>`; `None` when missing (or soft-deleted).
    pub async fn get_connector(&self, id: &str) -> Result<Option<Connector>, EsError> {
        let req = Request::new(Method::GET, format!("/_connector/{}", seg(id))).allow_404();
        let resp = self.execute(&req).await?;
        if resp.status == 404 {
            return Ok(None);
        }
        super::client::decode(&req, &resp.body).map(Some)
    }

    /// `GET /_connector` with filters.
    pub async fn list_connectors(
        &self,
        filter: &ListConnectors,
    ) -> Result<ListResponse<Connector>, EsError> {
        let mut req = Request::new(Method::GET, "/_connector");
        if let Some(f) = filter.from {
            req = req.query("from", f.to_string());
        }
        if let Some(s) = filter.size {
            req = req.query("size", s.to_string());
        }
        for (k, v) in [
            ("index_name", &filter.index_name),
            ("connector_name", &filter.connector_name),
            ("service_type", &filter.service_type),
        ] {
            if !v.is_empty() {
                req = req.query(k, v.join(","));
            }
        }
        if let Some(q) = &filter.query {
            req = req.query("query", q.as_str());
        }
        self.json(&req).await
    }

    /// `PUT /_connector/<id>` with `{index_name, name, service_type, ...}` (create or
    /// overwrite). Returns the id.
    pub async fn put_connector(&self, id: &str, body: &Value) -> Result<String, EsError> {
        #[derive(Deserialize)]
        struct Created {
            #[serde(default)]
            id: Option<String>,
        }
        let req = Request::new(Method::PUT, format!("/_connector/{}", seg(id))).json(body)?;
        let c: Created = self.json(&req).await?;
        Ok(c.id.unwrap_or_else(|| id.to_owned()))
    }

    /// `PUT /_connector/<id>/_check_in`: sets `last_seen` to now.
    pub async fn check_in_connector(&self, id: &str) -> Result<(), EsError> {
        self.connector_put(id, "_check_in", None).await
    }

    /// `PUT /_connector/<id>/_configuration` schema form: replaces the whole
    /// configuration (and ES sets status `configured`).
    pub async fn put_configuration_schema(
        &self,
        id: &str,
        configuration: &Configuration,
    ) -> Result<(), EsError> {
        self.connector_put(
            id,
            "_configuration",
            Some(json!({ "configuration": configuration })),
        )
        .await
    }

    /// `PUT /_connector/<id>/_configuration` values form (keys must already exist).
    pub async fn put_configuration_values(
        &self,
        id: &str,
        values: &Map<String, Value>,
    ) -> Result<(), EsError> {
        self.connector_put(id, "_configuration", Some(json!({ "values": values })))
            .await
    }

    /// `PUT /_connector/<id>/_error`: non-empty → status `error`; `None` → `connected`.
    pub async fn put_connector_error(&self, id: &str, error: Option<&str>) -> Result<(), EsError> {
        self.connector_put(id, "_error", Some(json!({ "error": error })))
            .await
    }

    /// `PUT /_connector/<id>/_status` (ES validates the transition).
    pub async fn put_connector_status(
        &self,
        id: &str,
        status: ConnectorStatus,
    ) -> Result<(), EsError> {
        self.connector_put(id, "_status", Some(json!({ "status": status })))
            .await
    }

    /// `PUT /_connector/<id>/_last_sync`.
    pub async fn put_last_sync(&self, id: &str, last_sync: &LastSync) -> Result<(), EsError> {
        let body = serde_json::to_value(last_sync).map_err(|e| EsError::Decode {
            request: format!("PUT /_connector/{id}/_last_sync"),
            message: e.to_string(),
        })?;
        self.connector_put(id, "_last_sync", Some(body)).await
    }

    /// `PUT /_connector/<id>/_filtering/_validation`: the draft's validation result.
    pub async fn put_filtering_validation(
        &self,
        id: &str,
        validation: &FilteringValidation,
    ) -> Result<(), EsError> {
        self.connector_put(
            id,
            "_filtering/_validation",
            Some(json!({ "validation": validation })),
        )
        .await
    }

    /// `PUT /_connector/<id>/_filtering/_activate`: draft → active (draft must be `valid`).
    pub async fn activate_filtering(&self, id: &str) -> Result<(), EsError> {
        self.connector_put(id, "_filtering/_activate", None).await
    }

    async fn connector_put(
        &self,
        id: &str,
        endpoint: &str,
        body: Option<Value>,
    ) -> Result<(), EsError> {
        let mut req = Request::new(Method::PUT, format!("/_connector/{}/{endpoint}", seg(id)));
        if let Some(b) = body {
            req = req.json(&b)?;
        }
        self.execute(&req).await.map(|_| ())
    }

    // ---- direct access to .elastic-connectors ----

    /// `GET .elastic-connectors/_doc/<id>` with its version; `None` when missing.
    /// Soft-deleted connectors are returned too (check `deleted`).
    pub async fn get_connector_doc(
        &self,
        id: &str,
    ) -> Result<Option<Versioned<Connector>>, EsError> {
        self.get_document(CONNECTORS_INDEX, id).await
    }

    /// The configured connectors that exist and are not soft-deleted (elastic-ingest's
    /// discovery query), with versions.
    pub async fn search_connectors(
        &self,
        ids: &[String],
    ) -> Result<Vec<Versioned<Connector>>, EsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({
            "query": {"bool": {
                "must_not": [{"term": {"deleted": true}}],
                "filter": [{"terms": {"_id": ids}}]
            }}
        });
        self.search_documents(CONNECTORS_INDEX, &body).await
    }

    /// Every connector id in the index, soft-deleted ones included (orphan detection).
    pub async fn all_connector_ids(&self) -> Result<Vec<String>, EsError> {
        let body = json!({"query": {"match_all": {}}, "_source": false});
        let docs: Vec<Versioned<Value>> = self.search_documents(CONNECTORS_INDEX, &body).await?;
        Ok(docs.into_iter().map(|d| d.id).collect())
    }

    /// `POST .elastic-connectors/_update/<id>` `{"doc": doc}`, conditional on `version`
    /// when given ([`EsError::Conflict`] if the connector changed). Use for schema
    /// registration (`configuration` + `status`), `status`/`error`, `last_sync_*`,
    /// `sync_cursor`, and `last_*_scheduled_at` (conditionally, so one host schedules).
    /// Note `doc` is deep-merged: objects merge key by key.
    pub async fn update_connector_doc(
        &self,
        id: &str,
        doc: &impl Serialize,
        version: Option<SeqNo>,
    ) -> Result<UpdateResult, EsError> {
        self.update_document(CONNECTORS_INDEX, id, doc, version)
            .await
    }

    /// Read-modify-write with optimistic concurrency, as elastic-ingest does it: read
    /// the connector, let `change` compute the partial document (`None`: nothing to
    /// write), write it conditionally; on a conflict re-read and retry, at most
    /// [`CAS_ATTEMPTS`] times in all, then return the conflict.
    ///
    /// `Ok(None)`: the connector does not exist or `change` had nothing to write.
    /// `Ok(Some((before, result)))`: written; `before` is the version `change` saw.
    pub async fn update_connector_cas<F>(
        &self,
        id: &str,
        mut change: F,
    ) -> Result<Option<(Versioned<Connector>, UpdateResult)>, EsError>
    where
        F: FnMut(&Connector) -> Option<Value>,
    {
        let mut attempt = 1;
        loop {
            let Some(current) = self.get_connector_doc(id).await? else {
                return Ok(None);
            };
            let Some(doc) = change(&current.doc) else {
                return Ok(None);
            };
            match self
                .update_connector_doc(id, &doc, Some(current.version()))
                .await
            {
                Ok(r) => return Ok(Some((current, r))),
                Err(e) if e.is_conflict() && attempt < CAS_ATTEMPTS => {
                    tracing::debug!(
                        connector_id = id,
                        attempt,
                        "connector changed meanwhile; re-reading"
                    );
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
