//! Cuts the stream of operations into `_bulk` requests bounded by operation count
//! and encoded bytes (Elastic's Sink rule, `docs/elastic/sync-pipeline.md#bulk-requests`: flush before an op would
//! overflow, flush right after a limit is reached; an oversized op goes alone).

use super::traits::BulkOp;

/// Bytes of an action line beyond the id: `{"index":{"_index":"…","_id":""}}\n`.
const ACTION_OVERHEAD: usize = 40;

/// One `_bulk` request in the making.
#[derive(Debug, Default)]
pub struct Batch {
    pub ops: Vec<BulkOp>,
    /// Body bytes of each op's document (0 for deletes), for `indexed_document_volume`.
    pub doc_bytes: Vec<u64>,
    /// Estimated request bytes.
    pub bytes: usize,
}

impl Batch {
    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Accumulates operations; `push` hands back the batches that are ready to send.
#[derive(Debug)]
pub struct Batcher {
    max_docs: usize,
    max_bytes: usize,
    current: Batch,
}

impl Batcher {
    /// Limits below 1 are raised to 1.
    pub fn new(max_docs: usize, max_bytes: usize) -> Self {
        Self {
            max_docs: max_docs.max(1),
            max_bytes: max_bytes.max(1),
            current: Batch::default(),
        }
    }

    /// Encoded size of one op on the wire.
    pub fn op_bytes(op: &BulkOp) -> usize {
        ACTION_OVERHEAD + op.id.len() + op.source.as_ref().map_or(0, |s| s.len() + 1)
    }

    /// Adds one op; returns zero, one or two batches to send now.
    pub fn push(&mut self, op: BulkOp, doc_bytes: u64) -> Vec<Batch> {
        let mut ready = Vec::new();
        let size = Self::op_bytes(&op);
        if !self.current.is_empty()
            && (self.current.len() + 1 > self.max_docs
                || self.current.bytes + size > self.max_bytes)
        {
            ready.push(std::mem::take(&mut self.current));
        }
        self.current.ops.push(op);
        self.current.doc_bytes.push(doc_bytes);
        self.current.bytes += size;
        if self.current.len() >= self.max_docs || self.current.bytes >= self.max_bytes {
            ready.push(std::mem::take(&mut self.current));
        }
        ready
    }

    /// The partial batch left at the end of the stream.
    pub fn finish(&mut self) -> Option<Batch> {
        Some(std::mem::take(&mut self.current)).filter(|b| !b.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traits::BulkAction;

    fn op(id: &str, len: usize) -> BulkOp {
        BulkOp {
            action: BulkAction::Index,
            id: id.into(),
            source: Some(vec![b'x'; len]),
        }
    }

    #[test]
    fn bounded_by_count() {
        let mut b = Batcher::new(3, usize::MAX);
        let mut sent = Vec::new();
        for i in 0..7 {
            sent.extend(b.push(op(&i.to_string(), 10), 10));
        }
        sent.extend(b.finish());
        assert_eq!(
            sent.iter().map(Batch::len).collect::<Vec<_>>(),
            vec![3, 3, 1]
        );
        assert!(b.finish().is_none());
    }

    #[test]
    fn bounded_by_bytes_and_oversized_goes_alone() {
        let one = Batcher::op_bytes(&op("a", 100));
        let mut b = Batcher::new(100, one * 2 + 1);
        let mut sent = Vec::new();
        sent.extend(b.push(op("a", 100), 100));
        sent.extend(b.push(op("b", 100), 100));
        assert!(sent.is_empty());
        // Would overflow: the two are flushed first, then the big one goes alone.
        sent.extend(b.push(op("c", 10_000), 10_000));
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].len(), 2);
        assert_eq!(sent[1].ops[0].id, "c");
        assert!(sent.iter().all(|s| s.len() == 1 || s.bytes <= one * 2 + 1));
        assert!(b.finish().is_none());
    }
}
