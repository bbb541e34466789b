//! The per-connector poll (every `service.idling`), as Elastic's scheduler does it
//! (`docs/elastic/service-loops.md#scheduler-poll`): register the plugin's schema and features,
//! check in, validate + ping → `connected` or `error`, validate draft sync rules,
//! and create scheduled jobs when due.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::config_values::{effective_values, missing_fields};
use super::context::ServiceContext;
use super::job_failure::field_errors_message;
use super::runner::is_empty_snippet;
use super::schedule::next_run;
use super::schema::{features_doc, register, Registration};
use tributary_capability_postgresql::changes::{self, ChangesGrant};
use tributary_elasticsearch::{
    Connector, ConnectorStatus, EsError, FilteringValidation, FilteringValidationError, JobType,
    TriggerMethod, Versioned,
};
use tributary_runtime::LoadedPlugin;

/// What the poll remembers per connector between passes.
#[derive(Debug, Clone)]
pub struct ConnectorState {
    checked_in: bool,
    /// The previous wake-up, per job type: schedules due since then fire now.
    last_wakeup: HashMap<&'static str, DateTime<Utc>>,
    missing_logged: bool,
    /// The connector's change-capture grant as last seen (its plugin imports
    /// `postgresql-changes`): what drops its replication slot once the connector
    /// is deleted, when its configuration may be gone.
    changes: Option<ChangesGrant>,
}

impl ConnectorState {
    pub fn new(started: DateTime<Utc>) -> Self {
        Self {
            checked_in: false,
            last_wakeup: [("full", started), ("incremental", started)]
                .into_iter()
                .collect(),
            missing_logged: false,
            changes: None,
        }
    }
}

/// One pass over one configured connector.
pub async fn poll(
    ctx: &ServiceContext,
    connector_id: &str,
    state: &mut ConnectorState,
) -> Result<(), EsError> {
    let Some(mut connector) = ctx.client.get_connector_doc(connector_id).await? else {
        drop_change_slot(connector_id, state).await;
        if !state.missing_logged {
            tracing::warn!(
                connector_id,
                "connector not found in Elasticsearch; create it with PUT _connector/<id>"
            );
            state.missing_logged = true;
        }
        return Ok(());
    };
    state.missing_logged = false;
    if connector.doc.deleted {
        drop_change_slot(connector_id, state).await;
        return Ok(());
    }
    let configured_type = ctx
        .config
        .connector(connector_id)
        .and_then(|c| c.service_type.clone());
    let service_type = connector
        .doc
        .service_type
        .clone()
        .or(configured_type.clone());
    let Some(service_type) = service_type else {
        set_error(
            ctx,
            &connector,
            "the connector has no service_type and config.yml names none",
        )
        .await?;
        return Ok(());
    };
    let Some(plugin) = ctx.plugins.get(&service_type) else {
        let msg = format!("no plugin for service type '{service_type}' is loaded");
        set_error(ctx, &connector, &msg).await?;
        return Ok(());
    };

    let set_type = connector
        .doc
        .service_type
        .is_none()
        .then(|| service_type.clone());
    prepare(ctx, &mut connector, &plugin, set_type.as_deref()).await?;

    // Heartbeat: forced once after start, then whenever `last_seen` is older than `heartbeat`.
    let heartbeat = chrono::Duration::from_std(ctx.config.service.heartbeat).unwrap_or_default();
    let stale = connector
        .doc
        .last_seen
        .is_none_or(|t| Utc::now() - t >= heartbeat);
    if !state.checked_in || stale {
        ctx.client.check_in_connector(connector_id).await?;
        state.checked_in = true;
    }

    match connector.doc.status {
        Some(ConnectorStatus::Created) | Some(ConnectorStatus::NeedsConfiguration) | None => {
            tracing::debug!(connector_id, "waiting for the connector to be configured");
            return Ok(());
        }
        _ => {}
    }

    // Configuration and reachability.
    let schema = plugin.configuration_schema();
    let stored = connector.doc.configuration_map();
    let values = effective_values(&stored, &schema);
    let grants = ctx.grants(&plugin, connector_id, &stored, &values);
    state.changes = grants
        .postgresql_changes
        .clone()
        .filter(|_| plugin.imports_capability("postgresql-changes"));
    let missing = missing_fields(&stored, &schema);
    let check = if !missing.is_empty() {
        Err(format!(
            "Connector has missing configuration fields: {}",
            missing.join(", ")
        ))
    } else {
        match plugin.validate_config(&values, &grants).await {
            Ok(errors) if !errors.is_empty() => Err(field_errors_message(&errors)),
            Ok(_) => plugin
                .ping(&values, &grants)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    };
    match check {
        Ok(()) => {
            if connector.doc.status != Some(ConnectorStatus::Connected)
                || connector.doc.error.is_some()
            {
                tracing::info!(connector_id, "connector connected");
                ctx.client
                    .update_connector_doc(
                        connector_id,
                        &json!({"status": "connected", "error": null}),
                        None,
                    )
                    .await?;
            }
        }
        Err(message) => {
            set_error(ctx, &connector, &message).await?;
            return Ok(());
        }
    }

    validate_draft_rules(ctx, &connector, &plugin, &values, &grants).await?;
    schedule(ctx, connector_id, &plugin, state).await
}

/// A deleted connector's replication slot would hold WAL forever: drop it (once)
/// with the configuration last seen.
async fn drop_change_slot(connector_id: &str, state: &mut ConnectorState) {
    let Some(grant) = state.changes.take() else {
        return;
    };
    match changes::drop_slot(&grant).await {
        Ok(true) => {
            tracing::info!(connector_id, slot = %grant.slot, "the connector was deleted; dropped its replication slot")
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(connector_id, slot = %grant.slot, error = %e, "the connector was deleted; could not drop its replication slot (drop it with SELECT pg_drop_replication_slot(..))")
        }
    }
}

/// Schema registration and upgrade, features, service type (`docs/elastic/connector-document.md#schema-registration`).
async fn prepare(
    ctx: &ServiceContext,
    connector: &mut Versioned<Connector>,
    plugin: &LoadedPlugin,
    set_service_type: Option<&str>,
) -> Result<(), EsError> {
    let id = connector.id.clone();
    let mut doc = serde_json::Map::new();
    match register(
        &connector.doc.configuration_map(),
        &plugin.configuration_schema(),
    ) {
        Registration::Unchanged => {}
        Registration::Initial(schema) => {
            tracing::info!(connector_id = %id, fields = schema.len(), "registering the configuration schema");
            doc.insert("configuration".into(), Value::Object(schema));
            doc.insert("status".into(), json!("needs_configuration"));
        }
        Registration::Merged {
            configuration,
            added,
        } => {
            if !added.is_empty() {
                tracing::warn!(connector_id = %id, added = ?added, "the plugin declares new configuration fields; review their values");
            }
            doc.insert("configuration".into(), Value::Object(configuration));
        }
    }
    let features = features_doc(&plugin.metadata.features);
    let current = connector
        .doc
        .features
        .as_ref()
        .and_then(|f| serde_json::to_value(f).ok())
        .unwrap_or(Value::Null);
    if !same_features(&current, &features) {
        doc.insert("features".into(), features);
    }
    if let Some(st) = set_service_type {
        doc.insert("service_type".into(), json!(st));
    }
    if doc.is_empty() {
        return Ok(());
    }
    // `_update` deep-merges objects; the merged configuration is a superset of the
    // stored one, so merging it yields exactly the merged map.
    ctx.client
        .update_connector_doc(&id, &Value::Object(doc), Some(connector.version()))
        .await?;
    if let Some(fresh) = ctx.client.get_connector_doc(&id).await? {
        *connector = fresh;
    }
    Ok(())
}

fn same_features(current: &Value, wanted: &Value) -> bool {
    let pick = |v: &Value, path: &[&str]| {
        path.iter()
            .fold(v, |v, k| &v[*k])
            .as_bool()
            .unwrap_or(false)
    };
    [
        &["sync_rules", "basic", "enabled"][..],
        &["sync_rules", "advanced", "enabled"],
        &["document_level_security", "enabled"],
        &["incremental_sync", "enabled"],
    ]
    .iter()
    .all(|p| pick(current, p) == pick(wanted, p))
        && !current.is_null()
}

async fn set_error(
    ctx: &ServiceContext,
    connector: &Versioned<Connector>,
    message: &str,
) -> Result<(), EsError> {
    if connector.doc.status != Some(ConnectorStatus::Error)
        || connector.doc.error.as_deref() != Some(message)
    {
        tracing::error!(connector_id = %connector.id, error = message, "connector error");
        ctx.client
            .update_connector_doc(
                &connector.id,
                &json!({"status": "error", "error": message}),
                None,
            )
            .await?;
    }
    Ok(())
}

/// Draft rules in state `edited` are validated; valid ones are activated (`docs/elastic/sync-rules.md#validation-flow`).
async fn validate_draft_rules(
    ctx: &ServiceContext,
    connector: &Versioned<Connector>,
    plugin: &LoadedPlugin,
    values: &serde_json::Map<String, Value>,
    grants: &tributary_runtime::Grants,
) -> Result<(), EsError> {
    let Some(domain) = connector.doc.filtering_domain() else {
        return Ok(());
    };
    if domain.draft.validation.state != "edited" {
        return Ok(());
    }
    let rules: Vec<Value> = domain
        .draft
        .rules
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    let (state, basic_errors) = tributary_sync::validate_basic_rules(&rules);
    let mut errors: Vec<FilteringValidationError> = basic_errors
        .into_iter()
        .map(|e| FilteringValidationError {
            ids: e.ids,
            messages: e.messages,
        })
        .collect();
    let mut valid = state == tributary_sync::ValidationState::Valid;
    let snippet = &domain.draft.advanced_snippet.value;
    if !is_empty_snippet(snippet) {
        let messages = if plugin.metadata.features.advanced_rules {
            match plugin
                .validate_advanced_rules(values, snippet, grants)
                .await
            {
                Ok(m) => m,
                Err(e) => vec![e.to_string()],
            }
        } else {
            vec![format!(
                "the {} plugin does not support advanced sync rules",
                plugin.metadata.name
            )]
        };
        if !messages.is_empty() {
            valid = false;
            errors.push(FilteringValidationError {
                ids: vec!["advanced_snippet".into()],
                messages,
            });
        }
    }
    let validation = FilteringValidation {
        state: if valid { "valid" } else { "invalid" }.into(),
        errors,
    };
    tracing::info!(connector_id = %connector.id, state = %validation.state, "draft sync rules validated");
    ctx.client
        .put_filtering_validation(&connector.id, &validation)
        .await?;
    if valid {
        ctx.client.activate_filtering(&connector.id).await?;
    }
    Ok(())
}

/// Creates scheduled jobs that are due, once across hosts (`docs/elastic/connector-document.md#scheduling`).
async fn schedule(
    ctx: &ServiceContext,
    connector_id: &str,
    plugin: &LoadedPlugin,
    state: &mut ConnectorState,
) -> Result<(), EsError> {
    let now = Utc::now();
    for (kind, job_type) in [
        ("incremental", JobType::Incremental),
        ("full", JobType::Full),
    ] {
        let Some(connector) = ctx.client.get_connector_doc(connector_id).await? else {
            return Ok(());
        };
        let doc = &connector.doc;
        let (sched, last_scheduled, field) = match job_type {
            JobType::Full => (
                &doc.scheduling.full,
                doc.last_sync_scheduled_at,
                "last_sync_scheduled_at",
            ),
            _ => {
                if !(plugin.metadata.features.incremental_sync
                    && doc.features_or_default().incremental_sync_enabled())
                {
                    continue;
                }
                (
                    &doc.scheduling.incremental,
                    doc.last_incremental_sync_scheduled_at,
                    "last_incremental_sync_scheduled_at",
                )
            }
        };
        let Some(sched) = sched.as_ref().filter(|s| s.enabled) else {
            continue;
        };
        let previous = state.last_wakeup.get(kind).copied().unwrap_or(now);
        state.last_wakeup.insert(kind, now);
        if last_scheduled.is_some_and(|t| t > previous) {
            continue; // another host scheduled it since our last look
        }
        let next = match next_run(&sched.interval, previous) {
            Ok(Some(n)) => n,
            Ok(None) => continue,
            Err(e) => {
                set_error(ctx, &connector, &e.to_string()).await?;
                continue;
            }
        };
        if now < next {
            continue;
        }
        // Stamp the run on the connector, conditionally: the host whose write lands creates
        // the job. A conflict is re-read (a heartbeat or status write from any host also
        // bumps the version), and a stamp at or past `next` means another host won.
        let stamp = json!({ field: super::state_writes::timestamp(next) });
        let claimed = ctx
            .client
            .update_connector_cas(connector_id, |c| {
                let stamped = match job_type {
                    JobType::Full => c.last_sync_scheduled_at,
                    _ => c.last_incremental_sync_scheduled_at,
                };
                stamped.is_none_or(|t| t < next).then(|| stamp.clone())
            })
            .await;
        match claimed {
            Ok(Some(_)) => {}
            Ok(None) => continue, // another host scheduled this run
            Err(e) => {
                // Look at this window again next poll, so the run is not lost.
                state.last_wakeup.insert(kind, previous);
                if e.is_conflict() {
                    tracing::warn!(connector_id, job_type = kind, due = %next, "connector kept changing; scheduled run retried next poll");
                    continue;
                }
                return Err(e);
            }
        }
        let job_id = ctx
            .client
            .create_sync_job(connector_id, job_type, TriggerMethod::Scheduled)
            .await?;
        tracing::info!(connector_id, job_id = %job_id, job_type = kind, due = %next, "scheduled sync job created");
    }
    Ok(())
}
