//! Items waiting to be sent again, outside the bulk slots.

use super::*;

/// Items waiting to be sent again, in due order (ties in arrival order).
#[derive(Default)]
pub(super) struct RetryQueue {
    items: BTreeMap<(Instant, u64), (BulkOp, ItemState)>,
    seq: u64,
    pub(super) bytes: usize,
}

impl RetryQueue {
    pub(super) fn push(&mut self, due: Instant, op: BulkOp, state: ItemState) {
        self.bytes += Batcher::op_bytes(&op);
        self.seq += 1;
        self.items.insert((due, self.seq), (op, state));
        metrics::retry_queue(1);
    }

    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(super) fn next_due(&self) -> Option<Instant> {
        self.items.keys().next().map(|(due, _)| *due)
    }

    /// Due items up to the request limits (at least one when any is due).
    pub(super) fn take_due(
        &mut self,
        now: Instant,
        max_docs: usize,
        max_bytes: usize,
    ) -> Option<Request> {
        let mut req = Request::default();
        let mut bytes = 0;
        while let Some(entry) = self.items.first_entry() {
            if entry.key().0 > now || req.len() >= max_docs {
                break;
            }
            let size = Batcher::op_bytes(&entry.get().0);
            if !req.is_empty() && bytes + size > max_bytes {
                break;
            }
            let (op, state) = entry.remove();
            bytes += size;
            self.bytes = self.bytes.saturating_sub(size);
            req.ops.push(op);
            req.states.push(state);
        }
        metrics::retry_queue(-(req.len() as i64));
        (!req.is_empty()).then_some(req)
    }

    /// Drops everything (cancel or failure): the items are abandoned.
    pub(super) fn clear(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        self.bytes = 0;
        metrics::retry_queue(-(n as i64));
        n
    }
}
