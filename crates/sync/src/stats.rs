//! Counters of one sync job, as the job document reports them (`docs/elastic/sync-job-document.md#counters`).

/// Progress and final counters. Every field is exact: an item is counted once, when
/// its final outcome is known, however often it was retried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Successful `index` and `update` items.
    pub indexed_document_count: u64,
    /// MiB, integer, rounded half to even like Python's `round` (`docs/elastic/pitfalls.md`, item 17).
    pub indexed_document_volume: u64,
    /// Successful `delete` items plus stale documents deleted after a full sync.
    pub deleted_document_count: u64,
    /// `_count` of the index at the end of the job (0 until then).
    pub total_document_count: u64,
    /// Exact encoded body bytes behind `indexed_document_volume`.
    pub indexed_document_bytes: u64,
    /// Documents dropped by basic sync rules.
    pub filtered_document_count: u64,
    /// Documents without an id, skipped.
    pub skipped_document_count: u64,
    /// Documents dropped for exceeding `max_document_bytes`.
    pub oversized_document_count: u64,
    /// Deletes of ids the index did not have (`not_found`, not an error).
    pub delete_not_found_count: u64,
    /// Items Elasticsearch answered `noop` (e.g. dropped by the ingest pipeline).
    pub noop_document_count: u64,
    /// Items that failed for good (non-retryable, or retries exhausted).
    pub error_count: u64,
    /// Item retries sent (not documents: one document may be retried several times).
    pub retried_item_count: u64,
    /// Documents pulled from the source.
    pub source_document_count: u64,
}

impl SyncStats {
    /// Adds encoded bytes and refreshes the MiB figure.
    pub(crate) fn add_indexed_bytes(&mut self, bytes: u64) {
        self.indexed_document_bytes += bytes;
        self.indexed_document_volume = mib_rounded(self.indexed_document_bytes);
    }
}

/// Bytes → MiB rounded half to even (Python's `round(bytes / 2**20)`).
pub fn mib_rounded(bytes: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let (q, r) = (bytes / MIB, bytes % MIB);
    match r.cmp(&(MIB / 2)) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mib_rounding_is_half_to_even() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(mib_rounded(0), 0);
        assert_eq!(mib_rounded(MIB / 2 - 1), 0);
        assert_eq!(mib_rounded(MIB / 2), 0); // round(0.5) == 0
        assert_eq!(mib_rounded(MIB / 2 + 1), 1);
        assert_eq!(mib_rounded(MIB + MIB / 2), 2); // round(1.5) == 2
        assert_eq!(mib_rounded(2 * MIB + MIB / 2), 2); // round(2.5) == 2
        assert_eq!(mib_rounded(3 * MIB), 3);
    }
}
