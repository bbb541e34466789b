//! Direct document access (`_doc`, `_update`, `_search`) as elastic-ingest uses it on
//! `.elastic-connectors*` — generic over the document type.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{decode, seg, Client, Request};
use super::models::{SeqNo, Versioned};
use super::EsError;

/// The answer of a successful `_update`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UpdateResult {
    /// `updated` or `noop`.
    #[serde(default)]
    pub result: String,
    /// The new version, for the next conditional write.
    #[serde(rename = "_seq_no", default)]
    pub seq_no: i64,
    #[serde(rename = "_primary_term", default)]
    pub primary_term: i64,
}

impl UpdateResult {
    /// The version this write produced.
    pub fn version(&self) -> SeqNo {
        SeqNo {
            seq_no: self.seq_no,
            primary_term: self.primary_term,
        }
    }
}

#[derive(Deserialize)]
struct GetDoc {
    #[serde(rename = "_id", default)]
    id: String,
    #[serde(default)]
    found: bool,
    #[serde(rename = "_seq_no", default)]
    seq_no: i64,
    #[serde(rename = "_primary_term", default)]
    primary_term: i64,
    #[serde(rename = "_source")]
    source: Option<Value>,
}

#[derive(Deserialize)]
struct SearchResponse {
    hits: Hits,
}

#[derive(Deserialize)]
struct Hits {
    #[serde(default)]
    total: Option<Total>,
    #[serde(default)]
    hits: Vec<Hit>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Total {
    Obj { value: u64 },
    // `rest_total_hits_as_int` form.
    Num(u64),
}

#[derive(Deserialize)]
struct Hit {
    #[serde(rename = "_id")]
    id: String,
    #[serde(rename = "_seq_no", default)]
    seq_no: i64,
    #[serde(rename = "_primary_term", default)]
    primary_term: i64,
    #[serde(rename = "_source", default)]
    source: Value,
}

/// Puts the `_id` into the document's `id` field, as the Connector API's GET does.
fn with_id<T: DeserializeOwned>(id: &str, mut source: Value, request: &str) -> Result<T, EsError> {
    if let Value::Object(m) = &mut source {
        m.insert("id".into(), Value::String(id.to_owned()));
    }
    serde_json::from_value(source).map_err(|e| EsError::Decode {
        request: request.to_owned(),
        message: format!("document {id}: {e}"),
    })
}

/// Elastic pages these searches by 100 and stops at `from + size = 10000`.
const PAGE: u64 = 100;
const MAX_WINDOW: u64 = 10_000;

impl Client {
    /// `GET /<index>/_doc/<id>`: the document with its version; `None` when the
    /// document (or the index) does not exist.
    pub async fn get_document<T: DeserializeOwned>(
        &self,
        index: &str,
        id: &str,
    ) -> Result<Option<Versioned<T>>, EsError> {
        let path = format!("/{}/_doc/{}", seg(index), seg(id));
        let req = Request::new(Method::GET, path).allow_404();
        let resp = self.execute(&req).await?;
        if resp.status == 404 {
            return Ok(None);
        }
        let got: GetDoc = decode(&req, &resp.body)?;
        let Some(source) = got.source.filter(|_| got.found) else {
            return Ok(None);
        };
        let id = if got.id.is_empty() {
            id.to_owned()
        } else {
            got.id
        };
        let doc = with_id(&id, source, &format!("GET {}", req.path))?;
        Ok(Some(Versioned {
            id,
            seq_no: got.seq_no,
            primary_term: got.primary_term,
            doc,
        }))
    }

    /// `POST /<index>/_update/<id>` with `{"doc": doc}` (a deep merge), conditional on
    /// `version` when given: [`EsError::Conflict`] when the document changed since.
    /// Refreshes, so the next `_search` by any host sees the write.
    pub async fn update_document(
        &self,
        index: &str,
        id: &str,
        doc: &impl Serialize,
        version: Option<SeqNo>,
    ) -> Result<UpdateResult, EsError> {
        #[derive(Serialize)]
        struct Body<'a, D: Serialize> {
            doc: &'a D,
        }
        let path = format!("/{}/_update/{}", seg(index), seg(id));
        let mut req = Request::new(Method::POST, path).query("refresh", "true");
        if let Some(v) = version {
            req = req
                .query("if_seq_no", v.seq_no.to_string())
                .query("if_primary_term", v.primary_term.to_string());
        }
        let req = req.json(&Body { doc })?;
        self.json(&req).await
    }

    /// `POST /<index>/_search` with `body` (query, sort…; `from`/`size` are set here),
    /// paging by 100 with `seq_no_primary_term`, until every hit is read (at most
    /// 10000, Elasticsearch's window). A missing index reads as no documents.
    pub async fn search_documents<T: DeserializeOwned>(
        &self,
        index: &str,
        body: &Value,
    ) -> Result<Vec<Versioned<T>>, EsError> {
        let path = format!("/{}/_search", seg(index));
        let mut out = Vec::new();
        let mut from = 0u64;
        loop {
            let mut page = body.clone();
            if let Value::Object(m) = &mut page {
                m.insert("from".into(), from.into());
                m.insert("size".into(), PAGE.into());
                m.insert("seq_no_primary_term".into(), true.into());
            }
            let req = Request::new(Method::POST, path.as_str())
                .allow_404()
                .json(&page)?;
            let resp = self.execute(&req).await?;
            if resp.status == 404 {
                return Ok(out);
            }
            let parsed: SearchResponse = decode(&req, &resp.body)?;
            let n = parsed.hits.hits.len() as u64;
            let total = match parsed.hits.total {
                Some(Total::Obj { value } | Total::Num(value)) => value,
                None => u64::MAX,
            };
            for hit in parsed.hits.hits {
                let doc = with_id(&hit.id, hit.source, &format!("POST {path}"))?;
                out.push(Versioned {
                    id: hit.id,
                    seq_no: hit.seq_no,
                    primary_term: hit.primary_term,
                    doc,
                });
            }
            from += n;
            if n < PAGE || from >= total || from + PAGE > MAX_WINDOW {
                return Ok(out);
            }
        }
    }
}
