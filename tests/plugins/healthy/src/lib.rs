//! Sandbox test plugin `healthy`: a synthetic source.
//!
//! Configuration `{"count": N, "batch_size": B?, "fail_at": K?}` yields documents
//! `doc-0 .. doc-(N-1)` in batches. Incremental syncs resume from the cursor
//! `{"next": K}` and return `{"next": N}`. `fail_at` makes the sync report a
//! `source` error when it reaches document K (to test error paths), and
//! `"corrupt": "json"|"number"|"id"|"arity"` makes it send a document that breaks
//! the contract (the host must fail the sync).

use std::cell::Cell;

// The same source is built twice: against the newest contract (`healthy`) and,
// by crate `tributary-test-healthy-v0-1` with feature `v0_1`, against the frozen
// 0.1.0 contract, to prove an old plugin keeps working.
#[cfg(not(feature = "v0_1"))]
wit_bindgen::generate!({
    world: "source-plugin",
    path: "../../../wit/v0.2.0",
});
#[cfg(feature = "v0_1")]
wit_bindgen::generate!({
    world: "source-plugin",
    path: "../../../wit/v0.1.0",
});

#[cfg(not(feature = "v0_1"))]
const SERVICE_TYPE: &str = "healthy";
#[cfg(feature = "v0_1")]
const SERVICE_TYPE: &str = "healthy-v0-1";

use exports::tributary::connector::source::{self, Guest, GuestSync};
use tributary::connector::logging::{log, Level};
use tributary::connector::types::{
    Batch, ConfigField, Dependency, Display, Document, ErrorKind, Features, FieldError,
    FieldOption, FieldType, JobKind, Metadata, Operation, PluginError, SyncRequest, Validation,
    Value,
};

struct Plugin;

struct Config {
    count: u64,
    batch_size: Option<u64>,
    fail_at: Option<u64>,
    corrupt: Option<String>,
}

fn parse_config(config: &str) -> Result<Config, Vec<FieldError>> {
    let v: serde_json::Value = serde_json::from_str(config).map_err(|e| {
        vec![FieldError {
            key: None,
            message: format!("configuration is not JSON: {e}"),
        }]
    })?;
    let int = |key: &str| -> Result<Option<u64>, FieldError> {
        match v.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(x) => x
                .as_u64()
                .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
                .map(Some)
                .ok_or_else(|| FieldError {
                    key: Some(key.to_string()),
                    message: format!("`{key}` must be a non-negative integer"),
                }),
        }
    };
    let mut errors = Vec::new();
    let count = int("count").unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let batch_size = int("batch_size").unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let fail_at = int("fail_at").unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    let corrupt = v.get("corrupt").and_then(|c| c.as_str()).map(String::from);
    Ok(Config {
        count: count.unwrap_or(10),
        batch_size,
        fail_at,
        corrupt,
    })
}

fn config_error(errors: Vec<FieldError>) -> PluginError {
    let message = errors
        .into_iter()
        .map(|e| e.message)
        .collect::<Vec<_>>()
        .join("; ");
    PluginError {
        kind: ErrorKind::Config,
        message,
    }
}

impl Guest for Plugin {
    type Sync = Synthetic;

    fn metadata() -> Metadata {
        Metadata {
            service_type: SERVICE_TYPE.into(),
            name: "Healthy (synthetic test source)".into(),
            version: "0.1.0".into(),
            features: Features {
                incremental_sync: true,
                basic_rules: true,
                advanced_rules: true,
                document_level_security: false,
            },
        }
    }

    fn configuration_schema() -> Vec<ConfigField> {
        vec![
            ConfigField {
                key: "count".into(),
                label: "Number of documents".into(),
                field_type: FieldType::Int,
                display: Display::Numeric,
                value: "10".into(),
                default_value: "10".into(),
                required: true,
                sensitive: false,
                order: 1,
                depends_on: vec![],
                validations: vec![Validation {
                    kind: "greater_than".into(),
                    constraint: "-1".into(),
                }],
                options: vec![],
                tooltip: Some("How many synthetic documents a sync yields.".into()),
                ui_restrictions: vec![],
            },
            ConfigField {
                key: "mode".into(),
                label: "Mode".into(),
                field_type: FieldType::Str,
                display: Display::Dropdown,
                value: "\"plain\"".into(),
                default_value: "\"plain\"".into(),
                required: false,
                sensitive: false,
                order: 2,
                depends_on: vec![Dependency {
                    field: "count".into(),
                    value: "10".into(),
                }],
                validations: vec![],
                options: vec![
                    FieldOption {
                        label: "Plain".into(),
                        value: "\"plain\"".into(),
                    },
                    FieldOption {
                        label: "Fancy".into(),
                        value: "\"fancy\"".into(),
                    },
                ],
                tooltip: None,
                ui_restrictions: vec!["advanced".into()],
            },
        ]
    }

    fn validate_config(config: String) -> Vec<FieldError> {
        match parse_config(&config) {
            Ok(_) => vec![],
            Err(e) => e,
        }
    }

    fn ping(config: String) -> Result<(), PluginError> {
        parse_config(&config).map(|_| ()).map_err(config_error)
    }

    fn validate_advanced_rules(_config: String, rules: String) -> Vec<String> {
        match serde_json::from_str::<serde_json::Value>(&rules) {
            Ok(serde_json::Value::Array(_)) => vec![],
            Ok(_) => vec!["advanced rules must be a JSON array".into()],
            Err(e) => vec![format!("advanced rules are not JSON: {e}")],
        }
    }

    fn start_sync(config: String, request: SyncRequest) -> Result<source::Sync, PluginError> {
        let cfg = parse_config(&config).map_err(config_error)?;
        let start = match (request.kind, request.cursor.as_deref()) {
            (JobKind::Incremental, Some(cursor)) => {
                serde_json::from_str::<serde_json::Value>(cursor)
                    .ok()
                    .and_then(|c| c.get("next").and_then(|n| n.as_u64()))
                    .ok_or_else(|| PluginError {
                        kind: ErrorKind::Config,
                        message: format!("bad cursor {cursor:?}"),
                    })?
            }
            _ => 0,
        };
        let batch = cfg
            .batch_size
            .unwrap_or(u64::from(request.batch_size.max(1)));
        log(
            Level::Info,
            "starting synthetic sync",
            &[
                ("count".to_string(), cfg.count.to_string()),
                ("start".to_string(), start.to_string()),
            ],
        );
        Ok(source::Sync::new(Synthetic {
            next: Cell::new(start),
            count: cfg.count,
            batch: batch.max(1),
            fail_at: cfg.fail_at,
            corrupt: cfg.corrupt,
            incremental: matches!(request.kind, JobKind::Incremental),
        }))
    }
}

struct Synthetic {
    next: Cell<u64>,
    count: u64,
    batch: u64,
    fail_at: Option<u64>,
    corrupt: Option<String>,
    incremental: bool,
}

impl GuestSync for Synthetic {
    fn next_batch(&self) -> Result<Option<Batch>, PluginError> {
        let from = self.next.get();
        if from >= self.count {
            return Ok(None);
        }
        let to = (from + self.batch).min(self.count);
        if let Some(k) = self.fail_at {
            if (from..to).contains(&k) {
                return Err(PluginError {
                    kind: ErrorKind::Source,
                    message: format!("synthetic failure at document {k}"),
                });
            }
        }
        let fields = ["n", "title", "even", "price", "tags", "note"]
            .map(String::from)
            .to_vec();
        let mut documents: Vec<Document> = (from..to)
            .map(|i| Document {
                id: format!("doc-{i}"),
                operation: Operation::Index,
                timestamp: Some("2024-01-01T00:00:00Z".into()),
                values: vec![
                    Value::Unsigned(i),
                    Value::Text(format!("Document \"{i}\"")),
                    Value::Boolean(i % 2 == 0),
                    Value::Number(format!("{i}.50")),
                    Value::Json(format!("[\"t{}\",{i}]", i % 3)),
                    if i % 2 == 0 {
                        Value::Absent
                    } else {
                        Value::Null
                    },
                ],
            })
            .collect();
        if let Some(last) = documents.last_mut() {
            match self.corrupt.as_deref() {
                Some("json") => last.values[4] = Value::Json("{oops".into()),
                Some("number") => last.values[3] = Value::Number("1,5".into()),
                Some("id") => last.id = String::new(),
                Some("arity") => {
                    last.values.pop();
                }
                _ => {}
            }
        }
        self.next.set(to);
        Ok(Some(Batch { fields, documents }))
    }

    fn cursor(&self) -> Option<String> {
        let _ = self.incremental;
        Some(format!("{{\"next\":{}}}", self.next.get()))
    }
}

export!(Plugin);
