//! What operators scrape: one process-wide Prometheus registry and the small API
//! the rest of the host reports through (`metrics::documents_indexed(..)`,
//! `metrics::plugin_call(..)`, …). The `tributary` binary serves it as Prometheus
//! text at `/metrics`, next to a readiness `/healthz`, when `service.metrics_listen` is set.
//!
//! Recording is cheap (atomics behind a lazily built registry) and never fails, so
//! every layer may call it unconditionally — tests included, where nobody scrapes.
//! Label values are bounded: connector ids come from config.yml, service types
//! from the loaded plugins, the rest are fixed words.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabels {
    connector_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginCallLabels {
    service_type: String,
    call: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    service_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLimitLabels {
    service_type: String,
    limit: String,
}

struct Metrics {
    registry: Registry,
    jobs: Family<StatusLabels, Counter>,
    jobs_with_failures: Family<ConnectorLabels, Counter>,
    jobs_running: Gauge,
    docs_indexed: Family<ConnectorLabels, Counter>,
    docs_deleted: Family<ConnectorLabels, Counter>,
    docs_failed: Family<ConnectorLabels, Counter>,
    bulk_requests: Family<OutcomeLabels, Counter>,
    bulk_duration: Histogram,
    bulk_request_retries: Counter,
    bulk_item_retries: Family<ReasonLabels, Counter>,
    bulk_retry_queue: Gauge,
    stale_deletions_skipped: Family<ConnectorLabels, Counter>,
    es_errors: Family<KindLabels, Counter>,
    plugin_calls: Family<PluginCallLabels, Counter>,
    plugin_traps: Family<PluginLabels, Counter>,
    plugin_limits: Family<PluginLimitLabels, Counter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("tributary");
        let jobs = Family::<StatusLabels, Counter>::default();
        registry.register(
            "sync_jobs",
            "Sync jobs run by this process that ended, by the status written on the job (completed, error, canceled, suspended)",
            jobs.clone(),
        );
        let jobs_with_failures = Family::<ConnectorLabels, Counter>::default();
        registry.register(
            "sync_jobs_with_failed_documents",
            "Sync jobs that ended while leaving documents unindexed after their retries",
            jobs_with_failures.clone(),
        );
        let jobs_running = Gauge::default();
        registry.register(
            "sync_jobs_running",
            "Sync jobs running in this process now",
            jobs_running.clone(),
        );
        let docs_indexed = Family::<ConnectorLabels, Counter>::default();
        registry.register(
            "documents_indexed",
            "Documents indexed or updated (each counted once, however often it was retried)",
            docs_indexed.clone(),
        );
        let docs_deleted = Family::<ConnectorLabels, Counter>::default();
        registry.register(
            "documents_deleted",
            "Documents deleted: deletes from the source and stale documents after a full sync",
            docs_deleted.clone(),
        );
        let docs_failed = Family::<ConnectorLabels, Counter>::default();
        registry.register(
            "documents_failed",
            "Documents that could not be written after their retries (or were too large to send)",
            docs_failed.clone(),
        );
        let bulk_requests = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "bulk_requests",
            "_bulk requests by outcome: ok (answered; items may still have failed), retried (failed as a whole, sent again), failed (failed as a whole for good)",
            bulk_requests.clone(),
        );
        let bulk_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register_with_unit(
            "bulk_request_duration",
            "Time of one _bulk request, the client's own retries included",
            Unit::Seconds,
            bulk_duration.clone(),
        );
        let bulk_request_retries = Counter::default();
        registry.register(
            "bulk_request_retries",
            "Whole _bulk requests sent again after a transient failure",
            bulk_request_retries.clone(),
        );
        let bulk_item_retries = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "bulk_item_retries",
            "Bulk items queued to be sent again: rejected (429) or server_error (5xx)",
            bulk_item_retries.clone(),
        );
        let bulk_retry_queue = Gauge::default();
        registry.register(
            "bulk_retry_queue_items",
            "Bulk items waiting in retry queues now",
            bulk_retry_queue.clone(),
        );
        let stale_deletions_skipped = Family::<ConnectorLabels, Counter>::default();
        registry.register(
            "stale_deletions_skipped",
            "Full syncs whose stale-document deletion was skipped because the index could not be trusted (replaced, missing, or the sync stamp not a keyword)",
            stale_deletions_skipped.clone(),
        );
        let es_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "elasticsearch_errors",
            "Failed Elasticsearch requests (each attempt), by HTTP status or transport/timeout",
            es_errors.clone(),
        );
        let plugin_calls = Family::<PluginCallLabels, Counter>::default();
        registry.register(
            "plugin_calls",
            "Calls into plugins by outcome: ok, trap, panic, cpu_limit, wall_clock_limit, memory_limit, error",
            plugin_calls.clone(),
        );
        let plugin_traps = Family::<PluginLabels, Counter>::default();
        registry.register(
            "plugin_traps",
            "Plugin calls that trapped or panicked",
            plugin_traps.clone(),
        );
        let plugin_limits = Family::<PluginLimitLabels, Counter>::default();
        registry.register(
            "plugin_limit_hits",
            "Plugin calls stopped by a limit (cpu, wall_clock, memory)",
            plugin_limits.clone(),
        );
        Self {
            registry,
            jobs,
            jobs_with_failures,
            jobs_running,
            docs_indexed,
            docs_deleted,
            docs_failed,
            bulk_requests,
            bulk_duration,
            bulk_request_retries,
            bulk_item_retries,
            bulk_retry_queue,
            stale_deletions_skipped,
            es_errors,
            plugin_calls,
            plugin_traps,
            plugin_limits,
        }
    }
}

fn connector(id: &str) -> ConnectorLabels {
    ConnectorLabels {
        connector_id: id.to_string(),
    }
}

/// The registry as Prometheus text (format 0.0.4).
pub fn render() -> String {
    let mut out = String::with_capacity(8 * 1024);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &METRICS.registry);
    out
}

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A job started running in this process.
pub fn job_started() {
    METRICS.jobs_running.inc();
}

/// A job ended with this `status` (`completed`, `error`, `canceled`, `suspended`);
/// `failed_documents` > 0 also counts it among jobs that left documents unindexed.
pub fn job_ended(connector_id: &str, status: &str, failed_documents: u64) {
    METRICS.jobs_running.dec();
    METRICS
        .jobs
        .get_or_create(&StatusLabels {
            status: status.to_string(),
        })
        .inc();
    if failed_documents > 0 {
        METRICS
            .jobs_with_failures
            .get_or_create(&connector(connector_id))
            .inc();
    }
}

/// Document outcomes of one bulk response (or a stale deletion).
pub fn documents(connector_id: &str, indexed: u64, deleted: u64, failed: u64) {
    let labels = connector(connector_id);
    if indexed > 0 {
        METRICS.docs_indexed.get_or_create(&labels).inc_by(indexed);
    }
    if deleted > 0 {
        METRICS.docs_deleted.get_or_create(&labels).inc_by(deleted);
    }
    if failed > 0 {
        METRICS.docs_failed.get_or_create(&labels).inc_by(failed);
    }
}

/// How a `_bulk` request ended as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkRequestOutcome {
    /// Elasticsearch answered with per-item results.
    Ok,
    /// Failed for good (the job fails with it).
    Failed,
}

/// A whole `_bulk` request the Elasticsearch client sends again after a transient
/// failure (its one retry policy).
pub fn bulk_request_retried() {
    METRICS.bulk_request_retries.inc();
    METRICS
        .bulk_requests
        .get_or_create(&OutcomeLabels {
            outcome: "retried".to_string(),
        })
        .inc();
}

/// One `_bulk` request attempt and how long it took.
pub fn bulk_request(outcome: BulkRequestOutcome, took: Duration) {
    let outcome = match outcome {
        BulkRequestOutcome::Ok => "ok",
        BulkRequestOutcome::Failed => "failed",
    };
    METRICS
        .bulk_requests
        .get_or_create(&OutcomeLabels {
            outcome: outcome.to_string(),
        })
        .inc();
    METRICS.bulk_duration.observe(took.as_secs_f64());
}

/// Items queued for another attempt: `rejected` (429) or `server_error` (5xx).
pub fn bulk_item_retries(reason: &str, items: u64) {
    if items > 0 {
        METRICS
            .bulk_item_retries
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc_by(items);
    }
}

/// Items entered (`delta` > 0) or left (< 0) a retry queue.
pub fn retry_queue(delta: i64) {
    METRICS.bulk_retry_queue.inc_by(delta);
}

/// A full sync did not delete stale documents because the index could not be trusted.
pub fn stale_deletion_skipped(connector_id: &str) {
    METRICS
        .stale_deletions_skipped
        .get_or_create(&connector(connector_id))
        .inc();
}

/// One failed Elasticsearch request attempt: `kind` is the HTTP status (`"429"`)
/// or `transport` / `timeout`.
pub fn elasticsearch_error(kind: &str) {
    METRICS
        .es_errors
        .get_or_create(&KindLabels {
            kind: kind.to_string(),
        })
        .inc();
}

/// How one call into a plugin ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginCallOutcome {
    Ok,
    Trap,
    Panic,
    CpuLimit,
    WallClockLimit,
    MemoryLimit,
    /// Any other failure (contract violation, dead instance, …).
    Error,
}

impl PluginCallOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Trap => "trap",
            Self::Panic => "panic",
            Self::CpuLimit => "cpu_limit",
            Self::WallClockLimit => "wall_clock_limit",
            Self::MemoryLimit => "memory_limit",
            Self::Error => "error",
        }
    }
}

/// A plugin call that returned.
pub fn plugin_call_ok(service_type: &str, call: &str) {
    plugin_call(service_type, call, PluginCallOutcome::Ok);
}

/// One call into a plugin (`call` is the export's name, e.g. `next-batch`).
pub fn plugin_call(service_type: &str, call: &str, outcome: PluginCallOutcome) {
    METRICS
        .plugin_calls
        .get_or_create(&PluginCallLabels {
            service_type: service_type.to_string(),
            call: call.to_string(),
            outcome: outcome.as_str().to_string(),
        })
        .inc();
    let plugin = || PluginLabels {
        service_type: service_type.to_string(),
    };
    let limit = match outcome {
        PluginCallOutcome::Trap | PluginCallOutcome::Panic => {
            METRICS.plugin_traps.get_or_create(&plugin()).inc();
            return;
        }
        PluginCallOutcome::CpuLimit => "cpu",
        PluginCallOutcome::WallClockLimit => "wall_clock",
        PluginCallOutcome::MemoryLimit => "memory",
        PluginCallOutcome::Ok | PluginCallOutcome::Error => return,
    };
    METRICS
        .plugin_limits
        .get_or_create(&PluginLimitLabels {
            service_type: service_type.to_string(),
            limit: limit.to_string(),
        })
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_every_family() {
        job_started();
        documents("metrics-unit", 3, 1, 2);
        bulk_request(BulkRequestOutcome::Ok, Duration::from_millis(12));
        bulk_item_retries("rejected", 4);
        elasticsearch_error("429");
        plugin_call("unit-test", "next-batch", PluginCallOutcome::CpuLimit);
        plugin_call("unit-test", "next-batch", PluginCallOutcome::Trap);
        job_ended("metrics-unit", "completed", 2);
        let text = render();
        for needle in [
            "# TYPE tributary_sync_jobs_total counter",
            "tributary_documents_indexed_total{connector_id=\"metrics-unit\"} 3",
            "tributary_documents_failed_total{connector_id=\"metrics-unit\"} 2",
            "# TYPE tributary_bulk_request_duration_seconds histogram",
            "tributary_bulk_request_duration_seconds_bucket{le=\"+Inf\"}",
            "tributary_plugin_limit_hits_total{service_type=\"unit-test\",limit=\"cpu\"} 1",
            "tributary_plugin_traps_total{service_type=\"unit-test\"} 1",
            "tributary_elasticsearch_errors_total{kind=\"429\"}",
            "tributary_sync_jobs_with_failed_documents_total{connector_id=\"metrics-unit\"} 1",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        // Prometheus text 0.0.4 has no `# EOF` line (that is OpenMetrics).
        assert!(!text.contains("# EOF"));
    }
}
