//! The PostgreSQL source connector: a drop-in for Elastic's `postgresql` connector
//! (same configuration, document ids and field names), built as a wasm32-wasip2
//! component. It reads through the host's PostgreSQL capability: the host opens
//! the connection from the configuration, in a READ ONLY transaction, and streams
//! rows through a server-side cursor in primary-key order. Discovery and table
//! scans are structured calls (no SQL written here); only advanced-rule queries,
//! written by the connector's owner, are sent as SQL (and checked by the host).
//!
//! Differences from Elastic, on purpose (see README.md): values are lossless; a
//! configured table that does not exist, a table without primary key, or an advanced
//! rule whose id columns are missing fails the sync instead of being skipped.
//!
//! Incremental syncs (Elastic's PostgreSQL connector has none) read the changes
//! since the previous sync through the host's change data capture
//! (`postgresql-changes`, logical decoding): a full sync starts the connector's
//! replication slot and reads its tables in a snapshot taken after it; an
//! incremental sync indexes the current row of every key that changed and
//! deletes the documents of keys whose row is gone, with the ids and fields a full
//! sync gives them. The server needs `wal_level = logical` and a role with
//! `REPLICATION`; without them full syncs work as before and incremental syncs end
//! with a message saying what the server needs.

use std::collections::{HashMap, VecDeque};

use serde_json::Value as Json;
use tributary_sdk::postgresql::changes::{self, Capture, Changes};
use tributary_sdk::postgresql::{self, Rows, Session};
use tributary_sdk::shape::Shape;
use tributary_sdk::{
    Batch, BatchBuilder, Config, DocumentStream, Error, Features, Field, FieldError, JobKind,
    Metadata, Operation, Schema, Source, SyncRequest, Value,
};

/// The plugin.
pub struct PostgreSql;

const TABLES_TOOLTIP: &str =
    "This configurable field is ignored when Advanced Sync Rules are used.";

/// The configuration schema, exactly as Elastic's connector declares it (`docs/elastic/postgresql-connector.md#configuration`).
pub fn schema() -> Schema {
    Schema::new()
        .field(Field::str("host", "Host").order(1))
        .field(Field::int("port", "Port").order(2))
        .field(Field::str("username", "Username").order(3))
        .field(Field::str("password", "Password").sensitive().order(4))
        .field(Field::str("database", "Database").order(5))
        .field(Field::str("schema", "Schema").order(6))
        .field(
            Field::list("tables", "Comma-separated list of tables")
                .value("*")
                .tooltip(TABLES_TOOLTIP)
                .order(7),
        )
        .field(
            Field::int("fetch_size", "Rows fetched per request")
                .optional()
                .default_value(50)
                .advanced()
                .order(8),
        )
        .field(
            Field::int("retry_count", "Retries per request")
                .optional()
                .default_value(3)
                .advanced()
                .order(9),
        )
        .field(
            Field::toggle("ssl_enabled", "Enable SSL verification")
                .value(false)
                .order(10),
        )
        .field(
            Field::str("ssl_ca", "SSL certificate")
                .depends_on("ssl_enabled", true)
                .order(11),
        )
}

/// The configuration values this plugin itself uses.
struct Settings {
    host: String,
    database: String,
    schema: String,
    tables: Vec<String>,
}

impl Settings {
    fn from(config: &Config) -> Result<Settings, Error> {
        let need = |k: &str| {
            config
                .str(k)
                .map(str::to_string)
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| Error::config(format!("'{}' cannot be empty.", label(k))))
        };
        Ok(Settings {
            host: config.str("host").unwrap_or_default().to_string(),
            database: need("database")?,
            schema: need("schema")?,
            tables: config.list("tables"),
        })
    }
}

fn label(key: &str) -> String {
    schema()
        .get(key)
        .map_or_else(|| key.to_string(), |f| f.label.clone())
}

fn source_err(context: &str, e: postgresql::PgError) -> Error {
    Error::source(format!("{context}: {e}"))
}

impl Source for PostgreSql {
    type Stream = PgSync;

    fn metadata() -> Metadata {
        Metadata::new("postgresql", "PostgreSQL", env!("CARGO_PKG_VERSION")).features(Features {
            incremental_sync: true,
            basic_rules: true,
            advanced_rules: true,
            document_level_security: false,
        })
    }

    fn configuration() -> Schema {
        schema()
    }

    fn validate_config(config: &Config) -> Vec<FieldError> {
        let mut errors = schema().validate(config);
        if let Some(p) = config.int("port") {
            if !(1..=65535).contains(&p) {
                errors.push(FieldError {
                    key: Some("port".into()),
                    message: format!("'Port' value '{p}' is not a TCP port."),
                });
            }
        }
        if errors.is_empty() {
            errors.extend(remote_validation(config));
        }
        errors
    }

    fn ping(config: &Config) -> Result<(), Error> {
        // Opening a session runs the host's own queries on the server (Elastic: `SELECT 1+1`).
        postgresql::connect()
            .map(|_| ())
            .map_err(|e| connection_error(config, e))
    }

    fn validate_advanced_rules(config: &Config, rules: &Json) -> Vec<String> {
        let rules = match parse_rules(rules) {
            Ok(r) => r,
            Err(errors) => return errors,
        };
        if rules.is_empty() {
            return Vec::new();
        }
        let settings = match Settings::from(config) {
            Ok(s) => s,
            Err(e) => return vec![e.message],
        };
        let listed = postgresql::connect().and_then(|s| table_names(&s, &settings.schema, true));
        let existing = match listed {
            Ok(t) => t,
            Err(e) => {
                return vec![format!(
                    "Can't connect to Postgresql on {}. {e}",
                    settings.host
                )]
            }
        };
        let mut missing: Vec<&str> = Vec::new();
        for r in &rules {
            for t in &r.tables {
                if !existing.contains(t) && !missing.contains(&t.as_str()) {
                    missing.push(t);
                }
            }
        }
        if missing.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "Tables not found or inaccessible: {}",
                missing.join(", ")
            )]
        }
    }

    fn start_sync(config: &Config, request: &SyncRequest) -> Result<PgSync, Error> {
        let settings = Settings::from(config)?;
        let rules = match &request.advanced_rules {
            Some(r) => parse_rules(r).map_err(|e| Error::config(e.join("; ")))?,
            None => Vec::new(),
        };
        match request.kind {
            JobKind::Full if rules.is_empty() => {
                // Capture first: the session that reads the tables must start after the slot.
                let capture = match changes::start_capture() {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tributary_sdk::log::warn(&format!(
                            "this full sync does not capture changes, so incremental syncs will need another full sync: {}",
                            e.message
                        ));
                        None
                    }
                };
                let session = match &capture {
                    Some(c) => c.session(),
                    None => postgresql::connect(),
                }
                .map_err(|e| connection_error(config, e))?;
                let mut sync = PgSync::plan(session, settings, rules, request.batch_size)?;
                sync.capture = capture;
                Ok(sync)
            }
            JobKind::Full => {
                let session = postgresql::connect().map_err(|e| connection_error(config, e))?;
                PgSync::plan(session, settings, rules, request.batch_size)
            }
            JobKind::Incremental => {
                if !rules.is_empty() {
                    return Err(Error::unsupported(
                        "incremental syncs read the changes of whole tables; with advanced sync rules, run full syncs",
                    ));
                }
                let session = postgresql::connect().map_err(|e| connection_error(config, e))?;
                let mut sync = PgSync::plan(session, settings, rules, request.batch_size)?;
                let cursor = request.cursor.as_ref().map(|c| c.to_string());
                let tables = sync.tables();
                let changes =
                    changes::read_changes(cursor.as_deref(), &sync.settings.schema, &tables)
                        .map_err(|e| Error::source(e.message))?;
                sync.incremental = Some(Incremental {
                    changes,
                    pk: sync
                        .work
                        .drain(..)
                        .filter_map(|w| match w {
                            Work::Table { name, pk } => Some((name, pk)),
                            Work::Rule { .. } => None,
                        })
                        .collect(),
                    deleting: None,
                });
                Ok(sync)
            }
        }
    }
}

tributary_sdk::register_source!(PostgreSql);

// ------------------------------------------------------------------ advanced rules

/// One advanced rule: `{tables, query, id_columns?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Tables the query reads (they name the fields and the ids).
    pub tables: Vec<String>,
    /// The SQL query.
    pub query: String,
    /// Columns that make the id (default: the tables' primary keys).
    pub id_columns: Option<Vec<String>>,
}

fn string_list(v: &Json) -> Option<Vec<String>> {
    let a = v.as_array()?;
    if a.is_empty() {
        return None;
    }
    a.iter().map(|s| s.as_str().map(str::to_string)).collect()
}

/// Validates the shape of `advanced_snippet.value` (Elastic's JSON schema); an
/// empty array or object means no rules.
pub fn parse_rules(v: &Json) -> Result<Vec<Rule>, Vec<String>> {
    let items = match v {
        Json::Null => return Ok(Vec::new()),
        Json::Object(o) if o.is_empty() => return Ok(Vec::new()),
        Json::Array(a) => a,
        _ => {
            return Err(vec![
                "advanced rules must be an array of {tables, query, id_columns?} objects".into(),
            ])
        }
    };
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let Some(o) = item.as_object() else {
            errors.push(format!(
                "rule {n}: must be an object with 'tables' and 'query'"
            ));
            continue;
        };
        for k in o.keys() {
            if !matches!(k.as_str(), "tables" | "query" | "id_columns") {
                errors.push(format!(
                    "rule {n}: unknown key '{k}' (allowed: tables, query, id_columns)"
                ));
            }
        }
        let tables = o.get("tables").and_then(string_list);
        if tables.is_none() {
            errors.push(format!(
                "rule {n}: 'tables' must be a non-empty array of strings"
            ));
        }
        let query = o
            .get("query")
            .and_then(Json::as_str)
            .filter(|q| !q.is_empty())
            .map(str::to_string);
        if query.is_none() {
            errors.push(format!("rule {n}: 'query' must be a non-empty string"));
        }
        let id_columns = match o.get("id_columns") {
            None => None,
            Some(v) => match string_list(v) {
                Some(c) => Some(c),
                None => {
                    errors.push(format!(
                        "rule {n}: 'id_columns' must be a non-empty array of strings"
                    ));
                    None
                }
            },
        };
        if let (Some(tables), Some(query)) = (tables, query) {
            rules.push(Rule {
                tables,
                query,
                id_columns,
            });
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

// ------------------------------------------------------------------ catalog

/// Elastic's wording when the server cannot be reached.
fn connection_error(config: &Config, e: postgresql::PgError) -> Error {
    let host = config.str("host").unwrap_or_default();
    Error::connection(format!("Can't connect to Postgresql on {host}. {e}"))
}

/// Elastic's remote validation: the configured tables exist (and the server can
/// be reached), so a wrong table name is reported when the configuration is
/// checked, not when a sync fails.
fn remote_validation(config: &Config) -> Vec<FieldError> {
    let settings = match Settings::from(config) {
        Ok(s) => s,
        Err(e) => {
            return vec![FieldError {
                key: None,
                message: e.message,
            }]
        }
    };
    let wanted: Vec<&String> = settings.tables.iter().filter(|t| *t != "*").collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let existing = match postgresql::connect().and_then(|s| table_names(&s, &settings.schema, true))
    {
        Ok(t) => t,
        Err(e) => {
            return vec![FieldError {
                key: None,
                message: connection_error(config, e).message,
            }]
        }
    };
    let missing: Vec<&str> = wanted
        .into_iter()
        .filter(|t| !existing.contains(t))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Vec::new()
    } else {
        vec![FieldError {
            key: Some("tables".into()),
            message: format!("Tables not found or inaccessible: {}.", missing.join(", ")),
        }]
    }
}

/// Tables of `schema` visible to the user (information_schema, as Elastic), sorted;
/// with `views`, views too.
fn table_names(s: &Session, schema: &str, views: bool) -> Result<Vec<String>, postgresql::PgError> {
    Ok(s.list_tables(schema, views)?
        .into_iter()
        .map(|r| r.name)
        .collect())
}

/// Elastic's field name: `lower(<schema>_<tables>_<column>)`.
fn field_name(schema: &str, tables: &str, column: &str) -> String {
    format!("{schema}_{tables}_{column}").to_lowercase()
}

// ------------------------------------------------------------------ sync

/// What to read, in order.
enum Work {
    Table { name: String, pk: Vec<String> },
    Rule { rule: Rule, keys: Vec<String> },
}

/// One running statement and how the host turns its rows into documents.
struct Current {
    rows: Rows,
    shape: Shape,
}

/// An incremental sync's state: the host's change reader, the primary key of
/// each table, and the deletions of the table being read.
struct Incremental {
    changes: Changes,
    pk: HashMap<String, Vec<String>>,
    deleting: Option<Deleting>,
}

/// Keys of one table whose rows are gone: each becomes a `delete` of the id a
/// full sync gave the row.
struct Deleting {
    rows: Rows,
    shape: Shape,
}

/// A running sync.
pub struct PgSync {
    session: Session,
    settings: Settings,
    work: VecDeque<Work>,
    current: Option<Current>,
    batch_size: u32,
    now: String,
    /// The tables a full sync reads (its cursor names them).
    synced_tables: Vec<String>,
    /// A full sync's change capture (its cursor is where incremental syncs start).
    capture: Option<Capture>,
    incremental: Option<Incremental>,
}

impl PgSync {
    /// Checks everything the sync will need before reading a row, so a wrong
    /// configuration fails fast instead of after a partial sync.
    fn plan(
        session: Session,
        settings: Settings,
        rules: Vec<Rule>,
        batch_size: u32,
    ) -> Result<PgSync, Error> {
        let now = session.info().started_at;
        let schema = settings.schema.clone();
        let all =
            table_names(&session, &schema, true).map_err(|e| source_err("Listing tables", e))?;
        let mut work = VecDeque::new();
        let mut problems = Vec::new();
        let pk_of = |t: &str, problems: &mut Vec<String>| -> Result<Vec<String>, Error> {
            let pk = session
                .primary_key(&schema, t)
                .map_err(|e| source_err(&format!("Reading the primary key of {t}"), e))?;
            if pk.is_empty() {
                problems.push(format!("table \"{schema}\".\"{t}\" has no primary key"));
            }
            Ok(pk)
        };
        if rules.is_empty() {
            let tables = if settings.tables.iter().any(|t| t == "*") {
                table_names(&session, &schema, false)
                    .map_err(|e| source_err("Listing tables", e))?
            } else {
                settings.tables.clone()
            };
            if tables.is_empty() {
                return Err(Error::config(format!(
                    "No table to sync in schema \"{schema}\""
                )));
            }
            for t in tables {
                if !all.contains(&t) {
                    problems.push(format!(
                        "table \"{schema}\".\"{t}\" does not exist or is not accessible"
                    ));
                    continue;
                }
                let pk = pk_of(&t, &mut problems)?;
                work.push_back(Work::Table { name: t, pk });
            }
        } else {
            for (i, rule) in rules.into_iter().enumerate() {
                let mut keys = Vec::new();
                let mut sorted = rule.tables.clone();
                sorted.sort();
                let part = sorted.join("_");
                for t in &rule.tables {
                    if !all.contains(t) {
                        problems.push(format!("advanced rule {}: table \"{schema}\".\"{t}\" does not exist or is not accessible", i + 1));
                    }
                }
                match &rule.id_columns {
                    Some(cols) => keys.extend(cols.iter().map(|c| field_name(&schema, &part, c))),
                    None => {
                        for t in rule.tables.iter().filter(|t| all.contains(t)) {
                            let pk = session.primary_key(&schema, t).map_err(|e| {
                                source_err(&format!("Reading the primary key of {t}"), e)
                            })?;
                            keys.extend(pk.iter().map(|c| field_name(&schema, &part, c)));
                        }
                        if keys.is_empty() {
                            problems.push(format!(
                                "advanced rule {}: the tables have no primary key; give id_columns",
                                i + 1
                            ));
                        }
                    }
                }
                work.push_back(Work::Rule { rule, keys });
            }
        }
        if !problems.is_empty() {
            return Err(Error::config(format!(
                "Cannot sync: {}.",
                problems.join("; ")
            )));
        }
        let synced_tables = work
            .iter()
            .filter_map(|w| match w {
                Work::Table { name, .. } => Some(name.clone()),
                Work::Rule { .. } => None,
            })
            .collect();
        Ok(PgSync {
            session,
            settings,
            work,
            current: None,
            batch_size: batch_size.clamp(1, 10_000),
            now,
            synced_tables,
            capture: None,
            incremental: None,
        })
    }

    /// The tables this sync reads.
    fn tables(&self) -> Vec<String> {
        self.synced_tables.clone()
    }

    /// Elastic's `_timestamp`: the tables' last commit time when the server records
    /// commit timestamps, else the sync's start.
    fn timestamp(&self, tables: &[String]) -> String {
        match self.session.last_commit_time(&self.settings.schema, tables) {
            Ok(Some(ts)) => ts,
            _ => self.now.clone(),
        }
    }

    fn open(&mut self, work: Work) -> Result<Current, Error> {
        let s = &self.settings;
        let (rows, tables, part, keys, table_value) = match work {
            Work::Table { name, pk } => {
                let rows = self
                    .session
                    .scan(&s.schema, &name, &pk)
                    .map_err(|e| source_err(&format!("Reading table {name}"), e))?;
                let keys = pk.iter().map(|c| field_name(&s.schema, &name, c)).collect();
                let tv = Value::Text(name.clone());
                (rows, vec![name.clone()], name, keys, tv)
            }
            Work::Rule { rule, keys } => {
                let mut sorted = rule.tables.clone();
                sorted.sort();
                let rows = self.session.query(&rule.query, &[]).map_err(|e| {
                    source_err(
                        &format!("Running the advanced rule query '{}'", rule.query),
                        e,
                    )
                })?;
                let tv = Value::Json(Json::from(rule.tables.clone()).to_string());
                (rows, rule.tables, sorted.join("_"), keys, tv)
            }
        };
        self.shape(rows, tables, part, keys, table_value)
    }

    /// How `rows` of `part` (a table, or a rule's tables) become documents: field
    /// names, the columns that make the id, the `_timestamp`.
    fn shape(
        &self,
        rows: Rows,
        tables: Vec<String>,
        part: String,
        keys: Vec<String>,
        table_value: Value,
    ) -> Result<Current, Error> {
        let s = &self.settings;
        let names: Vec<String> = rows
            .columns()
            .iter()
            .map(|c| field_name(&s.schema, &part, &c.name))
            .collect();
        let prefix = format!("{}_{}_{}_", s.database, s.schema, part);
        let shape = Shape::from_result(prefix, &names, &keys)
            .map_err(|k| {
                Error::config(format!(
                    "The query for {part} returns no column for the id column '{k}'; available: {}",
                    names.join(", ")
                ))
            })?
            .constant("table", table_value)
            .constant("schema", Value::Text(s.schema.clone()))
            .constant("database", Value::Text(s.database.clone()))
            .timestamp(Some(self.timestamp(&tables)));
        Ok(Current { rows, shape })
    }
}

impl PgSync {
    /// Sets up the next piece of an incremental sync: the deletions of the table
    /// whose current rows were just read, else the next table's changes. `false`
    /// once every change was returned.
    fn next_changes(&mut self) -> Result<bool, Error> {
        let Some(inc) = self.incremental.as_mut() else {
            return Ok(false);
        };
        if inc.deleting.is_some() {
            return Ok(true);
        }
        let Some(t) = inc
            .changes
            .next()
            .map_err(|e| Error::source(format!("Reading changes: {}", e.message)))?
        else {
            return Ok(false);
        };
        let Some(pk) = inc.pk.get(&t.table).cloned() else {
            return Err(Error::internal(format!(
                "the host returned changes of table {}, which this sync does not read",
                t.table
            )));
        };
        let s = &self.settings;
        // Every column of a deleted key makes the id, as in a full sync.
        let key_count = t.deletes.columns().len();
        inc.deleting = Some(Deleting {
            rows: t.deletes,
            shape: Shape::new(format!("{}_{}_{}_", s.database, s.schema, t.table))
                .id_columns(0..key_count)
                .operation(Operation::Delete),
        });
        let keys = pk
            .iter()
            .map(|c| field_name(&s.schema, &t.table, c))
            .collect();
        let tv = Value::Text(t.table.clone());
        self.current = Some(self.shape(t.upserts, vec![t.table.clone()], t.table, keys, tv)?);
        Ok(true)
    }

    /// One batch of `delete`s of the table being read, emitted by the host;
    /// `false` when its deletions are done.
    fn next_deletes(&mut self) -> Result<bool, Error> {
        let Some(inc) = self.incremental.as_mut() else {
            return Ok(false);
        };
        let Some(d) = inc.deleting.as_mut() else {
            return Ok(false);
        };
        let n = d
            .rows
            .emit(&d.shape, self.batch_size)
            .map_err(|e| source_err("Reading deleted keys", e))?;
        if n == 0 {
            inc.deleting = None;
        }
        Ok(n > 0)
    }
}

impl DocumentStream for PgSync {
    fn cursor(&self) -> Option<Json> {
        let text = match (&self.incremental, &self.capture) {
            (Some(inc), _) => inc.changes.cursor(),
            (None, Some(c)) => c.cursor(&self.settings.schema, &self.synced_tables),
            (None, None) => return None,
        };
        serde_json::from_str(&text).ok()
    }

    /// The host shapes the documents (`Rows::emit`): each call emits one batch
    /// of rows and returns an empty batch of its own.
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        loop {
            if self.current.is_none() {
                if self.incremental.is_some() {
                    if self.next_deletes()? {
                        return Ok(Some(BatchBuilder::new().finish()));
                    }
                    if !self.next_changes()? {
                        return Ok(None);
                    }
                    continue;
                }
                let Some(work) = self.work.pop_front() else {
                    return Ok(None);
                };
                self.current = Some(self.open(work)?);
            }
            let Some(cur) = self.current.as_mut() else {
                continue;
            };
            let n = cur
                .rows
                .emit(&cur.shape, self.batch_size)
                .map_err(|e| source_err("Reading rows", e))?;
            if n == 0 {
                self.current = None;
                continue;
            }
            return Ok(Some(BatchBuilder::new().finish()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_matches_elastic() {
        let j = schema().to_json();
        let keys: Vec<&String> = j
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "host",
                "port",
                "username",
                "password",
                "database",
                "schema",
                "tables",
                "fetch_size",
                "retry_count",
                "ssl_enabled",
                "ssl_ca"
            ]
        );
        assert_eq!(j["tables"]["value"], "*");
        assert_eq!(j["tables"]["type"], "list");
        assert_eq!(j["tables"]["display"], "textarea");
        assert_eq!(j["tables"]["tooltip"], TABLES_TOOLTIP);
        assert_eq!(j["password"]["sensitive"], true);
        assert_eq!(j["port"]["display"], "numeric");
        assert_eq!(j["fetch_size"]["default_value"], 50);
        assert_eq!(j["fetch_size"]["required"], false);
        assert_eq!(j["retry_count"]["ui_restrictions"], json!(["advanced"]));
        assert_eq!(j["ssl_enabled"]["value"], false);
        assert_eq!(
            j["ssl_ca"]["depends_on"],
            json!([{"field": "ssl_enabled", "value": true}])
        );
        assert_eq!(j["ssl_ca"]["order"], 11);
    }

    #[test]
    fn rules_shape() {
        assert_eq!(parse_rules(&json!([])), Ok(vec![]));
        assert_eq!(parse_rules(&json!({})), Ok(vec![]));
        let r = parse_rules(&json!([{"tables": ["a"], "query": "SELECT 1", "id_columns": ["x"]}]))
            .unwrap();
        assert_eq!(r[0].id_columns, Some(vec!["x".to_string()]));
        assert!(parse_rules(&json!([{"tables": [], "query": "q"}])).is_err());
        assert!(parse_rules(&json!([{"tables": ["a"], "query": ""}])).is_err());
        assert!(parse_rules(&json!([{"tables": ["a"], "query": "q", "extra": 1}])).is_err());
        assert!(parse_rules(&json!([{"tables": ["a"], "query": "q", "id_columns": []}])).is_err());
        assert!(parse_rules(&json!("SELECT")).is_err());
    }

    #[test]
    fn names_and_ids() {
        assert_eq!(field_name("public", "Album", "Title"), "public_album_title");
        let mut id = String::new();
        use tributary_sdk::postgresql::Pg;
        postgresql::id_text(&Pg::Bool(true), &mut id);
        postgresql::id_text(&Pg::Float8(2.0), &mut id);
        assert_eq!(id, "True2.0");
    }
}
