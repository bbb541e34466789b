//! Index admin and the whole-index calls a sync needs: exists, create, mapping,
//! `_refresh`, `_count`, `_delete_by_query`.

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{decode, seg, Client, Request};
use super::EsError;
use tributary_sync::{IndexInfo, StampMapping, SYNC_STAMP_FIELD};

/// Delete-by-query runs to completion inside one request; on a large index that can
/// outlast `request_timeout`.
const DELETE_BY_QUERY_TIMEOUT: Duration = Duration::from_secs(3600);

/// The mapping Tributary adds to every content index: the sync stamp must be a
/// `keyword` so the stale-document `term` query matches it exactly (a dynamically
/// mapped `text` field would be tokenized and match nothing — deleting everything).
pub fn stamp_mapping() -> Value {
    json!({ SYNC_STAMP_FIELD: { "type": "keyword" } })
}

/// How a field's mapping (`{"type": …, "fields": {…}}`) maps the stamp.
fn stamp_mapping_of(field: Option<&Value>) -> StampMapping {
    let Some(field) = field else {
        return StampMapping::default();
    };
    let keyword_subfield = field
        .get("fields")
        .and_then(Value::as_object)
        .and_then(|subs| {
            subs.iter()
                .find(|(_, m)| m.get("type").and_then(Value::as_str) == Some("keyword"))
        })
        .map(|(name, m)| {
            let ignore_above = m.get("ignore_above").and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            });
            (name.clone(), ignore_above)
        });
    StampMapping {
        ty: field
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string),
        keyword_subfield,
    }
}

impl Client {
    /// `HEAD /<index>` (an alias counts).
    pub async fn index_exists(&self, index: &str) -> Result<bool, EsError> {
        let req = Request::new(Method::HEAD, format!("/{}", seg(index))).allow_404();
        Ok(self.execute(&req).await?.status == 200)
    }

    /// `PUT /<index>` with an optional `{settings, mappings}` body. `Ok(false)` when
    /// it already exists (another host or a template was first).
    pub async fn create_index(&self, index: &str, body: Option<&Value>) -> Result<bool, EsError> {
        let mut req = Request::new(Method::PUT, format!("/{}", seg(index)));
        if let Some(b) = body {
            req = req.json(b)?;
        }
        match self.execute(&req).await {
            Ok(_) => Ok(true),
            Err(e) if e.error_type() == Some("resource_already_exists_exception") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `PUT /<index>/_mapping` `{"properties": properties}`.
    pub async fn put_mapping(&self, index: &str, properties: &Value) -> Result<(), EsError> {
        let req = Request::new(Method::PUT, format!("/{}/_mapping", seg(index)))
            .json(&json!({ "properties": properties }))?;
        self.execute(&req).await.map(|_| ())
    }

    /// Makes the content index ready for a sync.
    ///
    /// Mapping choice: a missing index is created with **dynamic mapping** and only one
    /// explicit field, [`SYNC_STAMP_FIELD`] as `keyword`. This is what Elastic's 9.x
    /// service does (`PUT /<index>` with no body, so cluster index templates and
    /// dynamic mapping decide everything — `docs/elastic/sync-pipeline.md#content-index-creation`), rather than 8.x's large
    /// custom analyzer set: users get the same index shape as with Elastic's current
    /// service, and templates they installed still apply. The stamp mapping is needed
    /// for stale-document deletion (see [`stamp_mapping`]). An existing index (or
    /// alias) gets the stamp mapping added; a conflicting existing mapping is an error.
    ///
    /// An existing index that maps the stamp otherwise (e.g. `text`, when the index
    /// was recreated by dynamic mapping) cannot be changed in place: that conflict is
    /// logged and left to the sync, which writes the documents but refuses the stale
    /// deletion and says how to repair (see [`Client::index_info`]).
    pub async fn prepare_index(&self, index: &str) -> Result<(), EsError> {
        if !self.index_exists(index).await? {
            let body = json!({ "mappings": { "properties": stamp_mapping() } });
            if self.create_index(index, Some(&body)).await? {
                tracing::info!(index, "created the content index (dynamic mapping)");
                return Ok(());
            }
        }
        match self.put_mapping(index, &stamp_mapping()).await {
            Err(e)
                if e.status() == Some(400)
                    && e.error_type() == Some("illegal_argument_exception") =>
            {
                tracing::warn!(index, field = SYNC_STAMP_FIELD, error = %e, "the index maps the sync stamp with another type; it cannot be changed in place");
                Ok(())
            }
            other => other,
        }
    }

    /// The concrete indices behind `index` with their uuid (`GET <index>/_settings`)
    /// and the mapping type of [`SYNC_STAMP_FIELD`] in each (`GET <index>/_mapping`);
    /// `None` when the index does not exist.
    pub async fn index_info(&self, index: &str) -> Result<Option<IndexInfo>, EsError> {
        let req = Request::new(Method::GET, format!("/{}/_settings", seg(index))).allow_404();
        let resp = self.execute(&req).await?;
        if resp.status == 404 {
            return Ok(None);
        }
        let settings: serde_json::Map<String, Value> = decode(&req, &resp.body)?;
        let mut uuids = Vec::new();
        for (name, v) in &settings {
            let uuid = v
                .pointer("/settings/index/uuid")
                .and_then(Value::as_str)
                .ok_or_else(|| EsError::Decode {
                    request: format!("GET /{index}/_settings"),
                    message: format!("no settings.index.uuid for index {name}"),
                })?;
            uuids.push((name.clone(), uuid.to_string()));
        }
        let req = Request::new(Method::GET, format!("/{}/_mapping", seg(index))).allow_404();
        let resp = self.execute(&req).await?;
        if resp.status == 404 {
            return Ok(None);
        }
        let mappings: serde_json::Map<String, Value> = decode(&req, &resp.body)?;
        let mut stamps = Vec::new();
        for (name, v) in &mappings {
            let field = v
                .get("mappings")
                .and_then(|m| m.get("properties"))
                .and_then(|p| p.get(SYNC_STAMP_FIELD));
            stamps.push((name.clone(), stamp_mapping_of(field)));
        }
        uuids.sort();
        stamps.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(IndexInfo { uuids, stamps }))
    }

    /// `POST /<index>/_count` of documents whose `field` is exactly `value`.
    pub async fn count_where(&self, index: &str, field: &str, value: &str) -> Result<u64, EsError> {
        #[derive(Deserialize)]
        struct Count {
            count: u64,
        }
        let req = Request::new(Method::POST, format!("/{}/_count", seg(index)))
            .json(&json!({ "query": { "term": { field: value } } }))?;
        let c: Count = self.json(&req).await?;
        Ok(c.count)
    }

    /// `POST /<index>/_refresh`.
    pub async fn refresh(&self, index: &str) -> Result<(), EsError> {
        let req = Request::new(Method::POST, format!("/{}/_refresh", seg(index)));
        self.execute(&req).await.map(|_| ())
    }

    /// `POST /<index>/_count`.
    pub async fn count(&self, index: &str) -> Result<u64, EsError> {
        #[derive(Deserialize)]
        struct Count {
            count: u64,
        }
        let req = Request::new(Method::POST, format!("/{}/_count", seg(index)));
        let c: Count = self.json(&req).await?;
        Ok(c.count)
    }

    /// `POST /<index>/_delete_by_query` with `conflicts=proceed`, waiting until done and
    /// refreshing; returns `deleted`. Any entry in `failures` is an error.
    pub async fn delete_by_query(&self, index: &str, query: &Value) -> Result<u64, EsError> {
        #[derive(Deserialize)]
        struct Dbq {
            #[serde(default)]
            deleted: u64,
            #[serde(default)]
            failures: Vec<Value>,
            #[serde(default)]
            timed_out: bool,
        }
        let path = format!("/{}/_delete_by_query", seg(index));
        let req = Request::new(Method::POST, path.as_str())
            .query("conflicts", "proceed")
            .query("wait_for_completion", "true")
            .query("refresh", "true")
            .timeout(DELETE_BY_QUERY_TIMEOUT)
            .json(&json!({ "query": query }))?;
        let r: Dbq = self.json(&req).await?;
        if !r.failures.is_empty() || r.timed_out {
            let first = r
                .failures
                .first()
                .map(Value::to_string)
                .unwrap_or_else(|| "timed out".into());
            return Err(EsError::Api {
                request: format!("POST {path}"),
                status: 500,
                error_type: "delete_by_query_failure".into(),
                reason: format!(
                    "{} failures after deleting {} documents; first: {first}",
                    r.failures.len(),
                    r.deleted
                ),
            });
        }
        Ok(r.deleted)
    }

    /// Deletes every document whose `field` is not exactly `value` (documents
    /// without the field included): stale-document deletion after a full sync.
    pub async fn delete_where_not(
        &self,
        index: &str,
        field: &str,
        value: &str,
    ) -> Result<u64, EsError> {
        let query = json!({ "bool": { "must_not": [ { "term": { field: value } } ] } });
        let deleted = self.delete_by_query(index, &query).await?;
        tracing::debug!(index, field, deleted, "deleted stale documents");
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_mappings_as_elasticsearch_returns_them() {
        let dynamic = json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}});
        assert_eq!(
            stamp_mapping_of(Some(&dynamic)),
            StampMapping {
                ty: Some("text".into()),
                keyword_subfield: Some(("keyword".into(), Some(256))),
            }
        );
        let ours = json!({"type": "keyword"});
        assert_eq!(
            stamp_mapping_of(Some(&ours)),
            StampMapping {
                ty: Some("keyword".into()),
                keyword_subfield: None,
            }
        );
        assert_eq!(stamp_mapping_of(None), StampMapping::default());
        let raw = json!({"type": "text", "fields": {"raw": {"type": "keyword"}}});
        assert_eq!(
            stamp_mapping_of(Some(&raw)).keyword_subfield,
            Some(("raw".into(), None))
        );
    }
}
