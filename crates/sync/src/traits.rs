//! The two seams of a sync: where documents come from and where they go.

use async_trait::async_trait;

use crate::document::Document;

/// Why a source failed. The message is shown to the user (job `error`).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The plugin (or native source) reported an error.
    #[error("{0}")]
    Source(String),
    /// The plugin trapped, hit a limit, or broke the contract; names the plugin.
    #[error("{0}")]
    Plugin(String),
}

/// A pull-based stream of document batches.
#[async_trait]
pub trait DocumentSource: Send {
    /// The next batch, or `None` when the source is exhausted.
    async fn next_batch(&mut self) -> Result<Option<Vec<Document>>, SourceError>;
    /// The cursor to persist after a successful incremental sync (JSON text).
    async fn cursor(&mut self) -> Result<Option<String>, SourceError>;
}

/// One `_bulk` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    Index,
    /// Partial update (`{"doc": ...}`, `doc_as_upsert`).
    Update,
    Delete,
}

/// One operation of a bulk request; `source` is the encoded JSON body (none for delete).
///
/// For [`BulkAction::Index`] `source` is the whole document; for
/// [`BulkAction::Update`] it is the partial document, which the target sends as
/// `{"doc":<source>,"doc_as_upsert":true}`.
#[derive(Debug, Clone)]
pub struct BulkOp {
    pub action: BulkAction,
    pub id: String,
    pub source: Option<Vec<u8>>,
}

/// One item's outcome, in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkItemResult {
    /// HTTP status of the item (201, 200, 404, 429, 400 ...).
    pub status: u16,
    /// `created`, `updated`, `deleted`, `not_found`, `noop`, when it succeeded.
    pub result: Option<String>,
    /// `error.type` and `error.reason`, when it failed.
    pub error: Option<(String, String)>,
}

/// Why a target call failed as a whole. A target retries transient failures
/// itself (the Elasticsearch client, per `elasticsearch.max_retries`): whatever
/// reaches the sync is final for the job.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Would have been worth retrying (429, 5xx, connection reset, timeout), but the
    /// target's retries are exhausted.
    #[error("{0}")]
    Transient(String),
    /// Not worth retrying (400, 401, 403, 413, bad response).
    #[error("{0}")]
    Fatal(String),
}

/// What a sync checks about its index before it trusts a stale-document deletion:
/// which concrete indices the name resolves to (one, or several behind an alias),
/// each with its uuid (its identity: a deleted and recreated index gets a new one),
/// and how each maps [`SYNC_STAMP_FIELD`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexInfo {
    /// `(concrete index, uuid)`, sorted by name.
    pub uuids: Vec<(String, String)>,
    /// `(concrete index, how it maps the stamp)`, sorted by name.
    pub stamps: Vec<(String, StampMapping)>,
}

/// How one index maps [`SYNC_STAMP_FIELD`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StampMapping {
    /// The field's `type`; `None` when unmapped.
    pub ty: Option<String>,
    /// A `keyword` multi-field under it (dynamic mapping adds `keyword`, with
    /// `ignore_above: 256`), with its `ignore_above` if set.
    pub keyword_subfield: Option<(String, Option<u64>)>,
}

/// Which field a `term` on the stamp can use in every concrete index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StampField {
    /// The stamp itself is a `keyword` everywhere (as Tributary maps it).
    Keyword,
    /// The stamp is `text` everywhere, with this `keyword` sub-field long enough for
    /// a job id (an index recreated by dynamic mapping).
    Subfield(String),
    /// No field works; `(index, type)` of the offending indices.
    Unusable(Vec<(String, String)>),
}

impl StampField {
    /// The field name to query, when one works.
    pub fn name(&self) -> Option<String> {
        match self {
            Self::Keyword => Some(SYNC_STAMP_FIELD.to_string()),
            Self::Subfield(sub) => Some(format!("{SYNC_STAMP_FIELD}.{sub}")),
            Self::Unusable(_) => None,
        }
    }
}

impl IndexInfo {
    /// The field an exact match on a stamp of `stamp_len` bytes can use.
    pub fn stamp_field(&self, stamp_len: usize) -> StampField {
        if self
            .stamps
            .iter()
            .all(|(_, m)| m.ty.as_deref() == Some("keyword"))
        {
            return StampField::Keyword;
        }
        let subs: Vec<Option<&String>> = self
            .stamps
            .iter()
            .map(|(_, m)| match (&m.ty, &m.keyword_subfield) {
                (Some(t), Some((name, ignore_above)))
                    if t == "text" && ignore_above.is_none_or(|n| n >= stamp_len as u64) =>
                {
                    Some(name)
                }
                _ => None,
            })
            .collect();
        if let Some(Some(first)) = subs.first() {
            if subs.iter().all(|s| *s == Some(*first)) {
                return StampField::Subfield((*first).clone());
            }
        }
        StampField::Unusable(
            self.stamps
                .iter()
                .filter(|(_, m)| m.ty.as_deref() != Some("keyword"))
                .map(|(i, m)| (i.clone(), m.ty.clone().unwrap_or_else(|| "unmapped".into())))
                .collect(),
        )
    }

    /// `name (uuid), …` for messages.
    pub fn describe(&self) -> String {
        self.uuids
            .iter()
            .map(|(n, u)| format!("{n} (uuid {u})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where documents go: an Elasticsearch index.
#[async_trait]
pub trait BulkTarget: Send + Sync {
    /// Creates the index when missing, with the `keyword` mapping of
    /// [`SYNC_STAMP_FIELD`]; adds that mapping to an existing index. An existing
    /// index that maps the field otherwise is left as it is (not an error here:
    /// [`BulkTarget::index_info`] reports it and the sync decides).
    async fn prepare_index(&self, index: &str) -> Result<(), TargetError>;
    /// The index's identity and stamp mapping; `None` when it does not exist.
    async fn index_info(&self, index: &str) -> Result<Option<IndexInfo>, TargetError>;
    /// How many documents have `field` exactly `value` (after the last refresh).
    async fn count_where(&self, index: &str, field: &str, value: &str) -> Result<u64, TargetError>;
    /// Sends one `_bulk` request; item results come back in request order.
    async fn bulk(
        &self,
        index: &str,
        pipeline: Option<&str>,
        ops: &[BulkOp],
    ) -> Result<Vec<BulkItemResult>, TargetError>;
    /// Makes all writes searchable.
    async fn refresh(&self, index: &str) -> Result<(), TargetError>;
    /// `_count` of the index.
    async fn count(&self, index: &str) -> Result<u64, TargetError>;
    /// Deletes every document whose `field` is not `value` (stale-document
    /// deletion after a full sync); returns how many were deleted.
    async fn delete_where_not(
        &self,
        index: &str,
        field: &str,
        value: &str,
    ) -> Result<u64, TargetError>;
}

/// Body field stamped with the sync job id on every document a full sync writes;
/// after the sync, documents with another value are stale and deleted. Keeps
/// stale-document deletion in flat memory (Elastic's service holds every id in RAM).
pub const SYNC_STAMP_FIELD: &str = "_tributary_sync_id";
