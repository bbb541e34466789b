//! `tributary check SERVICE --plugins DIR --values FILE [--config config.yml]`:
//! the conformance kit every plugin passes. It loads the plugin in-process (no
//! Elasticsearch, the same runtime and grants as the service, see `cli::local`)
//! and checks, one report line each:
//!
//! - metadata and the configuration schema as Elastic's connector document and
//!   Kibana expect them (`schema`);
//! - the values file: only declared keys, accepted by `validate-config`;
//! - `validate-config` names the field for each spoiled value (`probes`);
//! - `ping`;
//! - two full syncs: unique ids, the same id set twice, only `index` operations,
//!   within Elasticsearch's limits (`documents`);
//! - a sync with its required values emptied fails with a named error, not a crash;
//! - advanced-rule validation and the incremental cursor round trip, when declared.
//!
//! Exit status 0 only when nothing failed.

mod documents;
mod probes;
mod report;
mod schema;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use serde_json::{json, Map, Value};

use super::local::{init_logging, read_values, LocalPlugin};
use super::plugins::GrantArgs;
use super::PluginDirArgs;
use documents::{id_difference, Tally};
use report::Report;
use tributary_runtime::{PluginError, SyncRequest};
use tributary_sync::JobType;

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The plugin's service type.
    pub service_type: String,
    #[command(flatten)]
    pub plugins: PluginDirArgs,
    #[command(flatten)]
    pub grants: GrantArgs,
    /// JSON file with configuration values that reach a source with data (a
    /// plugin's `check-values.json`); string values may use `${VAR:-default}`.
    #[arg(long)]
    pub values: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Documents per batch asked of the plugin.
    #[arg(long, default_value_t = 500)]
    pub batch_size: u32,
}

/// Runs every check and prints the report; exit status 0 only when all pass.
pub async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let values = read_values(&args.values)?;
    let local = LocalPlugin::load(
        &args.plugins.dir,
        &args.service_type,
        args.grants.config.as_deref(),
    )
    .await?;
    let mut report = Report {
        service_type: args.service_type.clone(),
        plugin: local.plugin.file.display().to_string(),
        ..Report::default()
    };
    let started = Instant::now();
    Checker {
        local: &local,
        values: &values,
        batch_size: args.batch_size.max(1),
        report: &mut report,
    }
    .run()
    .await;
    tracing::info!(plugin = %local.plugin.label(), elapsed_ms = started.elapsed().as_millis() as u64, failed = report.count(report::Status::Fail), "check finished");
    match args.format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).context("encoding the report")?
        ),
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

struct Checker<'a> {
    local: &'a LocalPlugin,
    values: &'a Map<String, Value>,
    batch_size: u32,
    report: &'a mut Report,
}

/// A plugin error as a report shows it (the runtime already masked secrets).
fn named(e: &PluginError) -> String {
    e.to_string()
}

impl Checker<'_> {
    async fn run(mut self) {
        let plugin = self.local.plugin.clone();
        schema::check_metadata(self.report, &plugin.metadata);
        let schema = plugin.configuration_schema();
        schema::check_schema(self.report, &schema);
        let values_ok = self.check_values(&schema).await;
        self.check_probes(&schema, values_ok).await;
        if !values_ok {
            for c in ["ping", "sync.full", "sync.repeat", "sync.errors"] {
                self.report.skip(c, "the values file does not validate");
            }
            return;
        }
        match plugin
            .ping(self.values, &self.local.grants(self.values))
            .await
        {
            Ok(()) => self.report.pass("ping", "the source answered"),
            Err(e) => self.report.fail("ping", named(&e)),
        }
        self.check_full_syncs().await;
        self.check_broken_sync(&schema).await;
        self.check_advanced_rules().await;
        self.check_incremental().await;
    }

    /// The values file names only declared fields and validates clean.
    async fn check_values(&mut self, schema: &Map<String, Value>) -> bool {
        let unknown: Vec<&str> = self
            .values
            .keys()
            .filter(|k| !schema.contains_key(*k))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            // Elasticsearch refuses them: "Unknown [configuration] fields in the request payload".
            self.report.fail(
                "values.keys",
                format!(
                    "not in the schema (Elasticsearch refuses unknown configuration keys): {}",
                    unknown.join(", ")
                ),
            );
            return false;
        }
        self.report.pass(
            "values.keys",
            format!("{} value(s), every key a schema field", self.values.len()),
        );
        let grants = self.local.grants(self.values);
        match self
            .local
            .plugin
            .validate_config(self.values, &grants)
            .await
        {
            Ok(errors) if errors.is_empty() => {
                self.report
                    .pass("values.valid", "validate-config accepts the values");
                true
            }
            Ok(errors) => {
                let list: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.key.as_deref().unwrap_or("-"), e.message))
                    .collect();
                self.report.fail(
                    "values.valid",
                    format!("validate-config refuses the values: {}", list.join("; ")),
                );
                false
            }
            Err(e) => {
                self.report.fail("values.valid", named(&e));
                false
            }
        }
    }

    /// Each spoiled value is blamed on its field.
    async fn check_probes(&mut self, schema: &Map<String, Value>, values_ok: bool) {
        let probes = probes::probes(schema, self.values);
        if probes.is_empty() {
            self.report
                .skip("validate-config", "no required or integer field to spoil");
            return;
        }
        for p in probes {
            let name = format!("validate-config.{}.{}", p.field, p.what.trim_matches('"'));
            if !values_ok {
                self.report.skip(&name, "the values file does not validate");
                continue;
            }
            let grants = self.local.grants(&p.values);
            match self.local.plugin.validate_config(&p.values, &grants).await {
                Ok(errors) => {
                    let blamed = errors
                        .iter()
                        .find(|e| e.key.as_deref() == Some(p.field.as_str()));
                    match blamed {
                        Some(e) => self
                            .report
                            .pass(&name, format!("`{}` {}: {}", p.field, p.what, e.message)),
                        None if errors.is_empty() => self
                            .report
                            .fail(&name, format!("`{}` {} was accepted", p.field, p.what)),
                        None => self.report.fail(
                            &name,
                            format!(
                                "`{}` {}: no error names the field (got: {})",
                                p.field,
                                p.what,
                                errors
                                    .iter()
                                    .map(|e| format!(
                                        "{}: {}",
                                        e.key.as_deref().unwrap_or("(no key)"),
                                        e.message
                                    ))
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            ),
                        ),
                    }
                }
                Err(e) => self.report.fail(&name, named(&e)),
            }
        }
    }

    /// One whole sync, measured; `Err` names why it stopped.
    async fn sync(
        &self,
        values: &Map<String, Value>,
        request: SyncRequest,
    ) -> Result<(Tally, Option<String>), PluginError> {
        let mut sync = self.local.start_sync(values, request).await?;
        let mut tally = Tally::default();
        while let Some(docs) = sync.next().await? {
            for d in &docs {
                tally.add(d);
            }
        }
        let cursor = sync.cursor_text().await?;
        Ok((tally, cursor))
    }

    async fn check_full_syncs(&mut self) {
        let started = Instant::now();
        let first = self
            .sync(self.values, SyncRequest::full(self.batch_size))
            .await;
        let first = match first {
            Ok((t, _)) => t,
            Err(e) => {
                self.report.fail("sync.full", named(&e));
                self.report
                    .skip("sync.repeat", "the first full sync failed");
                return;
            }
        };
        let secs = started.elapsed().as_secs_f64();
        if first.documents == 0 {
            self.report.fail(
                "sync.full",
                "the full sync yielded no documents: point the values at a source with data, \
                 or ids cannot be checked",
            );
        } else {
            self.report.pass(
                "sync.full",
                format!(
                    "{} documents in {secs:.2} s, {} distinct fields, largest {} bytes",
                    first.documents,
                    first.fields.len(),
                    first.largest
                ),
            );
        }
        let mut id_problems = Vec::new();
        if first.duplicate_count > 0 {
            id_problems.push(format!(
                "{} duplicate id(s) in one sync (e.g. {}): later documents overwrite earlier ones",
                first.duplicate_count,
                first.duplicates.join(", ")
            ));
        }
        if !first.not_indexed.is_empty() {
            id_problems.push(format!(
                "a full sync must only index, got {}",
                first.not_indexed.join(", ")
            ));
        }
        self.report.verdict(
            "sync.ids_unique",
            id_problems,
            format!("{} unique ids", first.ids.len()),
        );
        self.report.verdict(
            "sync.limits",
            first.limit_problems(),
            "ids ≤ 512 bytes, no `_` field names, sizes, field count and depth within Elasticsearch's limits",
        );
        match self
            .sync(self.values, SyncRequest::full(self.batch_size))
            .await
        {
            Ok((second, _)) => match id_difference(&first.ids, &second.ids) {
                None => self.report.pass(
                    "sync.repeat",
                    format!("a second full sync gave the same {} ids", second.ids.len()),
                ),
                Some(d) => self.report.fail("sync.repeat", d),
            },
            Err(e) => self.report.fail("sync.repeat", named(&e)),
        }
    }

    /// With every required value emptied, a sync ends in an error the plugin
    /// reported (a kind and a message), never a crash, a hang or documents.
    async fn check_broken_sync(&mut self, schema: &Map<String, Value>) {
        let mut broken = self.values.clone();
        let mut emptied = Vec::new();
        for (key, f) in schema {
            let required = f.get("required").and_then(Value::as_bool).unwrap_or(true);
            if required && probes::in_effect(f, schema, self.values) {
                broken.insert(key.clone(), Value::String(String::new()));
                emptied.push(key.as_str());
            }
        }
        if emptied.is_empty() {
            self.report
                .skip("sync.errors", "no required field to empty");
            return;
        }
        let what = format!("with {} emptied", emptied.join(", "));
        match self.sync(&broken, SyncRequest::full(self.batch_size)).await {
            Ok((t, _)) => self.report.fail(
                "sync.errors",
                format!(
                    "a sync {what} succeeded with {} documents; it must fail with a configuration error",
                    t.documents
                ),
            ),
            Err(e @ PluginError::Reported { .. }) => {
                let text = named(&e);
                self.report.pass("sync.errors", format!("{what}: {text}"))
            }
            Err(e) => self.report.fail(
                "sync.errors",
                format!(
                    "a sync {what} must end in an error the plugin reports (kind and message), got: {}",
                    named(&e)
                ),
            ),
        }
    }

    async fn check_advanced_rules(&mut self) {
        let plugin = self.local.plugin.clone();
        if !plugin.metadata.features.advanced_rules {
            self.report.skip(
                "advanced_rules",
                "the plugin does not declare advanced rules",
            );
            return;
        }
        let grants = self.local.grants(self.values);
        let mut problems = Vec::new();
        for empty in [json!([]), json!({})] {
            match plugin
                .validate_advanced_rules(self.values, &empty, &grants)
                .await
            {
                Ok(p) if p.is_empty() => {}
                Ok(p) => problems.push(format!(
                    "empty rules {empty} are refused ({}); Elastic treats them as no rules",
                    p.join("; ")
                )),
                Err(e) => problems.push(named(&e)),
            }
        }
        // A bare number is never a rule set.
        match plugin
            .validate_advanced_rules(self.values, &json!(42), &grants)
            .await
        {
            Ok(p) if p.is_empty() => problems.push("rules `42` were accepted".into()),
            Ok(p) if p.iter().all(|m| m.trim().is_empty()) => {
                problems.push("rules `42` were refused without a message".into())
            }
            Ok(_) => {}
            Err(e) => problems.push(named(&e)),
        }
        self.report.verdict(
            "advanced_rules",
            problems,
            "empty rules accepted; rules `42` refused with a message",
        );
    }

    /// Elastic's model: a full sync gives the first cursor, an incremental sync
    /// resumed from it runs and gives the next one; an incremental sync without a
    /// cursor is refused with a named error (Elastic's "Unable to start incremental
    /// sync…"), never a crash. A full sync may legitimately give no cursor (the
    /// server cannot capture changes, or — as here — no connector owns the run: the
    /// check never creates server-side state such as a replication slot that nobody
    /// would drop); then the round trip is skipped with the reason.
    async fn check_incremental(&mut self) {
        if !self.local.plugin.metadata.features.incremental_sync {
            self.report.skip(
                "incremental",
                "the plugin does not declare incremental sync",
            );
            return;
        }
        let batch_size = self.batch_size;
        let request = |kind: JobType, cursor: Option<String>| SyncRequest {
            kind,
            cursor,
            advanced_rules: None,
            batch_size,
        };
        let first = match self.sync(self.values, request(JobType::Full, None)).await {
            Ok((_, cursor)) => cursor,
            Err(e) => {
                self.report
                    .fail("incremental", format!("the full sync: {}", named(&e)));
                return;
            }
        };
        let Some(first) = first else {
            // Without a cursor an incremental sync must be refused, and say so.
            match self
                .sync(self.values, request(JobType::Incremental, None))
                .await
            {
                Err(e @ PluginError::Reported { .. }) => self.report.skip(
                    "incremental",
                    format!(
                        "the full sync gave no cursor, so there is nothing to round-trip; \
                         an incremental sync without one was refused: {}",
                        named(&e)
                    ),
                ),
                Err(e) => self.report.fail(
                    "incremental",
                    format!(
                        "an incremental sync without a cursor must be refused with a reported \
                         error, not: {}",
                        named(&e)
                    ),
                ),
                Ok(_) => self.report.fail(
                    "incremental",
                    "an incremental sync without a cursor ran; it must be refused (a full sync \
                     gives the first cursor)",
                ),
            }
            return;
        };
        match self
            .sync(
                self.values,
                request(JobType::Incremental, Some(first.clone())),
            )
            .await
        {
            Ok((t, Some(second))) => self.report.pass(
                "incremental",
                format!(
                    "the full sync's cursor {} round-tripped; the incremental sync sent {} \
                     document(s) and cursor {}",
                    cut(&first),
                    t.documents,
                    cut(&second)
                ),
            ),
            Ok((_, None)) => self.report.fail(
                "incremental",
                "the incremental sync returned no cursor; the next one could not resume",
            ),
            Err(e) => self.report.fail(
                "incremental",
                format!("resuming from cursor {}: {}", cut(&first), named(&e)),
            ),
        }
    }
}

fn cut(s: &str) -> String {
    if s.chars().count() <= 120 {
        return s.to_string();
    }
    s.chars().take(120).collect::<String>() + "…"
}
