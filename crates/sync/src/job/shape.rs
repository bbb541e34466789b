//! A source document becomes a bulk operation: Elastic's extra fields, the sync
//! stamp, basic rules, and the size cap applied while encoding.

use super::*;

impl Job<'_> {
    /// Turns a source document into a bulk op; `None` when basic rules drop it.
    pub(super) fn encode(
        &mut self,
        doc: &Document,
        now: &str,
        rules: &mut BasicRules,
    ) -> Option<(BulkOp, u64)> {
        let spec = self.spec;
        if doc.id.is_empty() {
            // Elasticsearch rejects an empty `_id`; Elastic's Sink skips such docs too.
            self.stats.skipped_document_count += 1;
            tracing::warn!(job_id = %spec.job_id, "document without an id skipped");
            return None;
        }
        let id = effective_id(&doc.id).into_owned();
        let mut extra: Vec<(&str, Value)> = Vec::with_capacity(7);
        extra.push(("id", Value::Text(id.clone())));
        extra.push((
            "_timestamp",
            doc.timestamp.clone().map_or(Value::Absent, Value::Text),
        ));
        extra.push((
            "_extract_binary_content",
            Value::Bool(spec.pipeline.extract_binary_content),
        ));
        extra.push((
            "_reduce_whitespace",
            Value::Bool(spec.pipeline.reduce_whitespace),
        ));
        extra.push((
            "_run_ml_inference",
            Value::Bool(spec.pipeline.run_ml_inference),
        ));
        if !rules.is_empty() && !rules.should_ingest(doc, &extra) {
            self.stats.filtered_document_count += 1;
            return None;
        }
        let full = spec.job_type == JobType::Full;
        let action = match (doc.operation, full) {
            (Operation::Delete, _) => BulkAction::Delete,
            // Full syncs replace whole documents (Elastic: always `index`).
            (Operation::Index, _) | (Operation::Update, true) => BulkAction::Index,
            (Operation::Update, false) => BulkAction::Update,
        };
        if action == BulkAction::Delete {
            return Some((
                BulkOp {
                    action,
                    id,
                    source: None,
                },
                0,
            ));
        }
        if let Some(slot) = extra.get_mut(1) {
            if matches!(slot.1, Value::Absent) {
                slot.1 = Value::Text(now.to_string());
            }
        }
        if full {
            extra.push((SYNC_STAMP_FIELD, Value::Text(spec.job_id.clone())));
        }
        self.scratch.clear();
        // Elastic's `max_text_document_size`: exempt documents carrying `_attachment`
        // (the pipeline extracts and drops it); those still stop at what one
        // Elasticsearch request can carry. The cap applies while encoding.
        let cap = spec.settings.max_document_bytes;
        let limit = if cap == 0 || doc.get("_attachment").is_some() {
            HARD_MAX_DOCUMENT_BYTES
        } else {
            cap
        };
        let written = doc.write_json_capped(&extra, &mut self.scratch, limit);
        let bytes = self.scratch.len() as u64;
        if written.is_err() {
            self.scratch = Vec::new();
            self.stats.oversized_document_count += 1;
            self.protect_id(&id);
            metrics::documents(&spec.connector_id, 0, 0, 1);
            tracing::warn!(
                job_id = %spec.job_id, id = %id, limit,
                "document dropped: larger than max_document_bytes"
            );
            self.note_failure(format!(
                "index of id '{id}' skipped: its body exceeds max_document_bytes ({limit} bytes)"
            ));
            return None;
        }
        // Update: the partial document; the target wraps it with `doc_as_upsert`.
        let source = self.scratch.clone();
        Some((
            BulkOp {
                action,
                id,
                source: Some(source),
            },
            bytes,
        ))
    }
}
