//! In-memory [`BulkTarget`] and [`DocumentSource`] that behave like Elasticsearch and
//! a plugin, for tests of `sync/` and of the layers above it (no WASM, no network).
//!
//! The target keeps Elasticsearch's visible semantics: `index` creates (201) or
//! replaces (200); `update` merges the partial document, upserting as the real client
//! sends `doc_as_upsert` (`noop` when nothing changes); `delete` answers `not_found`
//! (404) for missing ids; `count` and `delete_where_not` see only what the last
//! `refresh` made searchable. Faults can be injected per item and per request.
//!
//! Index identity and mapping are modelled too: every index gets a new uuid when it
//! is created; `prepare_index` maps the sync stamp as `keyword`, while an index that
//! a bulk request auto-creates maps it dynamically as `text` — and then, as in
//! Elasticsearch, a `term` query on it matches nothing, so `delete_where_not`
//! deletes everything. Tests can delete an index in the middle of a sync.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value as Json};

use super::traits::{
    BulkAction, BulkItemResult, BulkOp, BulkTarget, DocumentSource, IndexInfo, SourceError,
    StampMapping, TargetError, SYNC_STAMP_FIELD,
};
use crate::document::{Document, Operation, Value};

type ItemFaultFn = dyn Fn(&BulkOp) -> Option<(u16, String, String)> + Send + Sync;

struct MemIndex {
    docs: BTreeMap<String, Json>,
    /// What the last refresh made searchable.
    searchable: BTreeMap<String, Json>,
    uuid: String,
    /// Mapping type of the sync stamp; `None` until mapped.
    stamp_type: Option<String>,
    /// Whether a `text` stamp has the `keyword` sub-field dynamic mapping adds.
    stamp_keyword_sub: bool,
}

static NEXT_UUID: AtomicU64 = AtomicU64::new(1);

impl MemIndex {
    fn new() -> Self {
        Self {
            docs: BTreeMap::new(),
            searchable: BTreeMap::new(),
            uuid: format!("mem-uuid-{}", NEXT_UUID.fetch_add(1, Ordering::SeqCst)),
            stamp_type: None,
            stamp_keyword_sub: false,
        }
    }

    /// Whether a `term` query on `field` (the stamp or its sub-field) matches `value`.
    fn stamp_matches(&self, field: &str, doc: &Json, value: &str) -> bool {
        let usable = if field == SYNC_STAMP_FIELD {
            self.stamp_type.as_deref() == Some("keyword")
        } else {
            self.stamp_type.as_deref() == Some("text")
                && self.stamp_keyword_sub
                && field == format!("{SYNC_STAMP_FIELD}.keyword")
        };
        usable && doc.get(SYNC_STAMP_FIELD).and_then(Json::as_str) == Some(value)
    }
}

#[derive(Default)]
struct State {
    indices: HashMap<String, MemIndex>,
    /// Scripted failures per id, consumed one per attempt.
    item_faults: HashMap<String, VecDeque<(u16, String, String)>>,
    item_fault_fn: Option<Arc<ItemFaultFn>>,
    request_faults: VecDeque<TargetError>,
    pipelines: Vec<Option<String>>,
    attempts: HashMap<String, u32>,
    fail_count: Option<TargetError>,
    fail_delete_where_not: Option<TargetError>,
    /// Deletes this index when the bulk call with this number (1-based) arrives.
    delete_at_bulk: Option<(u64, String)>,
}

/// An Elasticsearch stand-in held in memory.
#[derive(Default)]
pub struct MemoryTarget {
    state: Mutex<State>,
    latency_ms: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    bulk_calls: AtomicU64,
    acked_ops: AtomicU64,
    prepare_calls: AtomicU64,
    refresh_calls: AtomicU64,
    delete_where_not_calls: AtomicU64,
}

impl MemoryTarget {
    /// An empty cluster.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the state from the assertions.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Each `bulk` call takes this long (to exercise concurrency and backpressure).
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
    }

    /// Stores a document as already indexed and searchable (creating the index,
    /// with the stamp mapped as `keyword`, when missing).
    pub fn insert(&self, index: &str, id: &str, body: Json) {
        let mut st = self.lock();
        let idx = st.indices.entry(index.to_string()).or_insert_with(|| {
            let mut i = MemIndex::new();
            i.stamp_type = Some("keyword".into());
            i
        });
        idx.docs.insert(id.to_string(), body.clone());
        idx.searchable.insert(id.to_string(), body);
    }

    /// The next `times` attempts on `id` fail with this status and error.
    pub fn fail_item(&self, id: &str, status: u16, error_type: &str, times: usize) {
        let mut st = self.lock();
        let q = st.item_faults.entry(id.to_string()).or_default();
        for _ in 0..times {
            q.push_back((
                status,
                error_type.to_string(),
                format!("injected {error_type}"),
            ));
        }
    }

    /// Every attempt on an op for which `f` returns `Some((status, type, reason))` fails.
    pub fn fail_items_where(
        &self,
        f: impl Fn(&BulkOp) -> Option<(u16, String, String)> + Send + Sync + 'static,
    ) {
        self.lock().item_fault_fn = Some(Arc::new(f));
    }

    /// The next bulk calls fail as a whole with these errors, in order.
    pub fn fail_next_requests(&self, errors: impl IntoIterator<Item = TargetError>) {
        self.lock().request_faults.extend(errors);
    }

    /// `count` fails with this error.
    pub fn fail_count(&self, error: TargetError) {
        self.lock().fail_count = Some(error);
    }

    /// `delete_where_not` fails with this error.
    pub fn fail_delete_where_not(&self, error: TargetError) {
        self.lock().fail_delete_where_not = Some(error);
    }

    /// A stored document (refreshed or not).
    pub fn doc(&self, index: &str, id: &str) -> Option<Json> {
        self.lock()
            .indices
            .get(index)
            .and_then(|i| i.docs.get(id).cloned())
    }

    /// All stored ids, sorted.
    pub fn ids(&self, index: &str) -> Vec<String> {
        self.lock()
            .indices
            .get(index)
            .map(|i| i.docs.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the index exists.
    pub fn has_index(&self, index: &str) -> bool {
        self.lock().indices.contains_key(index)
    }

    /// Deletes the index now (as `DELETE /<index>` would).
    pub fn delete_index(&self, index: &str) {
        self.lock().indices.remove(index);
    }

    /// Deletes the index when bulk call number `call` (1-based) arrives, before
    /// applying it: that request auto-creates the index again, dynamically mapped.
    pub fn delete_index_at_bulk_call(&self, index: &str, call: u64) {
        self.lock().delete_at_bulk = Some((call, index.to_string()));
    }

    /// Sets how the index maps the sync stamp (e.g. `text`), and whether it has a
    /// `keyword` sub-field.
    pub fn set_stamp_mapping(&self, index: &str, ty: &str, keyword_sub: bool) {
        if let Some(i) = self.lock().indices.get_mut(index) {
            i.stamp_type = Some(ty.to_string());
            i.stamp_keyword_sub = keyword_sub;
        }
    }

    /// The index's uuid, when it exists.
    pub fn uuid(&self, index: &str) -> Option<String> {
        self.lock().indices.get(index).map(|i| i.uuid.clone())
    }

    /// The `pipeline` parameter of every bulk call, in order.
    pub fn pipelines(&self) -> Vec<Option<String>> {
        self.lock().pipelines.clone()
    }

    /// How many times an op on `id` was sent.
    pub fn attempts(&self, id: &str) -> u32 {
        self.lock().attempts.get(id).copied().unwrap_or(0)
    }

    /// Bulk calls received (including failed ones).
    pub fn bulk_calls(&self) -> u64 {
        self.bulk_calls.load(Ordering::SeqCst)
    }

    /// Most bulk calls seen at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Operations answered (any outcome) by completed bulk calls.
    pub fn acked_ops(&self) -> u64 {
        self.acked_ops.load(Ordering::SeqCst)
    }

    /// `prepare_index`, `refresh` and `delete_where_not` calls.
    pub fn admin_calls(&self) -> (u64, u64, u64) {
        (
            self.prepare_calls.load(Ordering::SeqCst),
            self.refresh_calls.load(Ordering::SeqCst),
            self.delete_where_not_calls.load(Ordering::SeqCst),
        )
    }

    fn apply(st: &mut State, index: &str, op: &BulkOp) -> BulkItemResult {
        *st.attempts.entry(op.id.clone()).or_default() += 1;
        let scripted = st.item_faults.get_mut(&op.id).and_then(VecDeque::pop_front);
        let injected = scripted.or_else(|| st.item_fault_fn.as_ref().and_then(|f| f(op)));
        if let Some((status, error_type, reason)) = injected {
            return err(status, &error_type, &reason);
        }
        let idx = st
            .indices
            .entry(index.to_string())
            .or_insert_with(MemIndex::new);
        if idx.stamp_type.is_none()
            && op.action != BulkAction::Delete
            && op.source.as_deref().is_some_and(|b| {
                b.windows(SYNC_STAMP_FIELD.len())
                    .any(|w| w == SYNC_STAMP_FIELD.as_bytes())
            })
        {
            // Dynamic mapping of a string field: text + `.keyword`.
            idx.stamp_type = Some("text".into());
            idx.stamp_keyword_sub = true;
        }
        match op.action {
            BulkAction::Index => {
                let Some(body) = parse_object(op.source.as_deref()) else {
                    return err(400, "mapper_parsing_exception", "failed to parse");
                };
                match idx.docs.insert(op.id.clone(), body) {
                    Some(_) => ok(200, "updated"),
                    None => ok(201, "created"),
                }
            }
            BulkAction::Update => {
                // `source` is the partial document, sent with `doc_as_upsert: true`.
                let Some(Json::Object(partial)) = parse_object(op.source.as_deref()) else {
                    return err(400, "x_content_parse_exception", "failed to parse");
                };
                match idx.docs.get_mut(&op.id) {
                    Some(existing) => {
                        let before = existing.clone();
                        merge(existing, partial);
                        if *existing == before {
                            ok(200, "noop")
                        } else {
                            ok(200, "updated")
                        }
                    }
                    None => {
                        idx.docs.insert(op.id.clone(), Json::Object(partial));
                        ok(201, "created")
                    }
                }
            }
            BulkAction::Delete => match idx.docs.remove(&op.id) {
                Some(_) => ok(200, "deleted"),
                None => BulkItemResult {
                    status: 404,
                    result: Some("not_found".into()),
                    error: None,
                },
            },
        }
    }
}

fn ok(status: u16, result: &str) -> BulkItemResult {
    BulkItemResult {
        status,
        result: Some(result.into()),
        error: None,
    }
}

fn err(status: u16, error_type: &str, reason: &str) -> BulkItemResult {
    BulkItemResult {
        status,
        result: None,
        error: Some((error_type.into(), reason.into())),
    }
}

fn parse_object(bytes: Option<&[u8]>) -> Option<Json> {
    serde_json::from_slice::<Json>(bytes?)
        .ok()
        .filter(Json::is_object)
}

/// Elasticsearch's partial-update merge: objects merge recursively, the rest replaces.
fn merge(target: &mut Json, partial: Map<String, Json>) {
    let Json::Object(t) = target else {
        *target = Json::Object(partial);
        return;
    };
    for (k, v) in partial {
        match (t.get_mut(&k), v) {
            (Some(existing @ Json::Object(_)), Json::Object(p)) => merge(existing, p),
            (_, v) => {
                t.insert(k, v);
            }
        }
    }
}

#[async_trait]
impl BulkTarget for MemoryTarget {
    async fn prepare_index(&self, index: &str) -> Result<(), TargetError> {
        self.prepare_calls.fetch_add(1, Ordering::SeqCst);
        let mut st = self.lock();
        let idx = st
            .indices
            .entry(index.to_string())
            .or_insert_with(MemIndex::new);
        // Adding the keyword mapping works only where the field is not mapped yet.
        idx.stamp_type.get_or_insert_with(|| "keyword".into());
        Ok(())
    }

    async fn index_info(&self, index: &str) -> Result<Option<IndexInfo>, TargetError> {
        Ok(self.lock().indices.get(index).map(|i| IndexInfo {
            uuids: vec![(index.to_string(), i.uuid.clone())],
            stamps: vec![(
                index.to_string(),
                StampMapping {
                    ty: i.stamp_type.clone(),
                    keyword_subfield: i
                        .stamp_keyword_sub
                        .then(|| ("keyword".to_string(), Some(256))),
                },
            )],
        }))
    }

    async fn count_where(&self, index: &str, field: &str, value: &str) -> Result<u64, TargetError> {
        let st = self.lock();
        let idx = st.indices.get(index).ok_or_else(|| {
            TargetError::Fatal(format!(
                "index_not_found_exception: no such index [{index}]"
            ))
        })?;
        Ok(idx
            .searchable
            .values()
            .filter(|d| {
                if field.starts_with(SYNC_STAMP_FIELD) {
                    idx.stamp_matches(field, d, value)
                } else {
                    d.get(field).and_then(Json::as_str) == Some(value)
                }
            })
            .count() as u64)
    }

    async fn bulk(
        &self,
        index: &str,
        pipeline: Option<&str>,
        ops: &[BulkOp],
    ) -> Result<Vec<BulkItemResult>, TargetError> {
        self.bulk_calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let latency = self.latency_ms.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let call = self.bulk_calls.load(Ordering::SeqCst);
        let out = {
            let mut st = self.lock();
            if let Some((at, name)) = st.delete_at_bulk.clone() {
                if at == call {
                    st.indices.remove(&name);
                    st.delete_at_bulk = None;
                }
            }
            st.pipelines.push(pipeline.map(str::to_string));
            match st.request_faults.pop_front() {
                Some(e) => Err(e),
                None => Ok(ops
                    .iter()
                    .map(|op| Self::apply(&mut st, index, op))
                    .collect()),
            }
        };
        if out.is_ok() {
            self.acked_ops.fetch_add(ops.len() as u64, Ordering::SeqCst);
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }

    async fn refresh(&self, index: &str) -> Result<(), TargetError> {
        self.refresh_calls.fetch_add(1, Ordering::SeqCst);
        let mut st = self.lock();
        let idx = st.indices.get_mut(index).ok_or_else(|| {
            TargetError::Fatal(format!(
                "index_not_found_exception: no such index [{index}]"
            ))
        })?;
        idx.searchable = idx.docs.clone();
        Ok(())
    }

    async fn count(&self, index: &str) -> Result<u64, TargetError> {
        let st = self.lock();
        if let Some(e) = &st.fail_count {
            return Err(clone_err(e));
        }
        st.indices
            .get(index)
            .map(|i| i.searchable.len() as u64)
            .ok_or_else(|| {
                TargetError::Fatal(format!(
                    "index_not_found_exception: no such index [{index}]"
                ))
            })
    }

    async fn delete_where_not(
        &self,
        index: &str,
        field: &str,
        value: &str,
    ) -> Result<u64, TargetError> {
        self.delete_where_not_calls.fetch_add(1, Ordering::SeqCst);
        let mut st = self.lock();
        if let Some(e) = &st.fail_delete_where_not {
            return Err(clone_err(e));
        }
        let Some(idx) = st.indices.get_mut(index) else {
            return Err(TargetError::Fatal(format!(
                "index_not_found_exception: no such index [{index}]"
            )));
        };
        // A `must_not term`: on a stamp that is not a keyword the term matches
        // nothing, so every document is "stale" — Elasticsearch's behaviour too.
        let stale = |idx: &MemIndex, doc: &Json| {
            if field.starts_with(SYNC_STAMP_FIELD) {
                !idx.stamp_matches(field, doc, value)
            } else {
                doc.get(field).and_then(Json::as_str) != Some(value)
            }
        };
        let candidates: Vec<String> = idx
            .searchable
            .iter()
            .filter(|(_, d)| stale(idx, d))
            .map(|(id, _)| id.clone())
            .collect();
        let mut deleted = 0;
        for id in candidates {
            idx.searchable.remove(&id);
            // Like delete-by-query with conflicts=proceed: a document rewritten since
            // the refresh is a version conflict and stays.
            if idx.docs.get(&id).is_some_and(|d| stale(idx, d)) {
                idx.docs.remove(&id);
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

fn clone_err(e: &TargetError) -> TargetError {
    match e {
        TargetError::Transient(m) => TargetError::Transient(m.clone()),
        TargetError::Fatal(m) => TargetError::Fatal(m.clone()),
    }
}

/// Counters a test reads while (or after) a [`MemorySource`] is consumed.
#[derive(Debug, Default)]
pub struct SourceProbe {
    /// Batches handed out.
    pub batches: AtomicU64,
    /// Documents handed out.
    pub docs: AtomicU64,
    /// Largest `docs handed out - ops acknowledged by the target` seen at a pull.
    pub max_lead: AtomicU64,
}

type BatchIter = Box<dyn Iterator<Item = Result<Vec<Document>, SourceError>> + Send>;

/// A scripted source: yields its batches (or errors) in order.
pub struct MemorySource {
    batches: BatchIter,
    cursor: Option<String>,
    probe: Arc<SourceProbe>,
    acked: Option<Arc<MemoryTarget>>,
    delay: Duration,
}

impl MemorySource {
    /// Yields these batches, then ends.
    pub fn new(batches: Vec<Vec<Document>>) -> Self {
        Self::from_batches(batches.into_iter().map(Ok))
    }

    /// Yields from any iterator (e.g. a lazily generated table, or an error midway).
    pub fn from_batches(
        iter: impl Iterator<Item = Result<Vec<Document>, SourceError>> + Send + 'static,
    ) -> Self {
        Self {
            batches: Box::new(iter),
            cursor: None,
            probe: Arc::new(SourceProbe::default()),
            acked: None,
            delay: Duration::ZERO,
        }
    }

    /// `total` documents made by `make(i)`, `batch` per pull, generated lazily.
    pub fn generated(
        total: usize,
        batch: usize,
        make: impl Fn(usize) -> Document + Send + 'static,
    ) -> Self {
        let batch = batch.max(1);
        Self::from_batches(
            (0..total)
                .step_by(batch)
                .map(move |start| Ok((start..(start + batch).min(total)).map(&make).collect())),
        )
    }

    /// The cursor reported after the stream ends.
    pub fn with_cursor(mut self, cursor: &str) -> Self {
        self.cursor = Some(cursor.to_string());
        self
    }

    /// Measures how far the source runs ahead of what `target` acknowledged.
    pub fn watch_lead(mut self, target: Arc<MemoryTarget>) -> Self {
        self.acked = Some(target);
        self
    }

    /// Each pull takes this long.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Shared counters.
    pub fn probe(&self) -> Arc<SourceProbe> {
        self.probe.clone()
    }
}

#[async_trait]
impl DocumentSource for MemorySource {
    async fn next_batch(&mut self) -> Result<Option<Vec<Document>>, SourceError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if let Some(t) = &self.acked {
            let lead = self
                .probe
                .docs
                .load(Ordering::SeqCst)
                .saturating_sub(t.acked_ops());
            self.probe.max_lead.fetch_max(lead, Ordering::SeqCst);
        }
        let next = self.batches.next().transpose()?;
        if let Some(b) = &next {
            self.probe.batches.fetch_add(1, Ordering::SeqCst);
            self.probe.docs.fetch_add(b.len() as u64, Ordering::SeqCst);
        }
        Ok(next)
    }

    async fn cursor(&mut self) -> Result<Option<String>, SourceError> {
        Ok(self.cursor.clone())
    }
}

/// A document with the given operation and fields (one batch-shared name list each).
pub fn make_doc(id: &str, operation: Operation, fields: &[(&str, Value)]) -> Document {
    let names: Vec<Arc<str>> = fields.iter().map(|(k, _)| Arc::from(*k)).collect();
    Document {
        id: id.to_string(),
        operation,
        timestamp: None,
        fields: names.into(),
        values: fields.iter().map(|(_, v)| v.clone()).collect(),
    }
}
