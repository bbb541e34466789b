//! The MySQL source connector: a drop-in for Elastic's `mysql` connector (same
//! configuration, document ids and field names), built as a wasm32-wasip2
//! component. It reads through the host's MySQL capability: the host opens the
//! connection from the configuration, in a READ ONLY transaction with a consistent
//! snapshot, and streams every table in primary-key order (no LIMIT/OFFSET paging).
//! Discovery and table scans are structured calls (no SQL written here); only
//! advanced-rule queries, written by the connector's owner, are sent as SQL (and
//! checked by the host).
//!
//! Differences from Elastic, on purpose (see README.md): values are lossless; a
//! configured table that does not exist, a table without primary key, or an
//! advanced rule whose id columns are missing fails the sync instead of being
//! skipped.

use std::collections::VecDeque;

use serde_json::Value as Json;
use tributary_sdk::mysql::{self, MysqlError, Rows, Session};
use tributary_sdk::shape::Shape;
use tributary_sdk::{
    Batch, BatchBuilder, Config, DocumentStream, Error, Features, Field, FieldError, Metadata,
    Schema, Source, SyncRequest, Value,
};

/// The plugin.
pub struct MySql;

/// The configuration schema, exactly as Elastic's connector declares it.
pub fn schema() -> Schema {
    Schema::new()
        .field(Field::str("host", "Host").order(1))
        .field(Field::int("port", "Port").order(2))
        .field(Field::str("user", "Username").order(3))
        .field(Field::str("password", "Password").sensitive().order(4))
        .field(Field::str("database", "Database").order(5))
        .field(
            Field::list("tables", "Comma-separated list of tables")
                .value("*")
                .order(6),
        )
        .field(
            Field::toggle("ssl_enabled", "Enable SSL")
                .value(false)
                .order(7),
        )
        .field(
            Field::str("ssl_ca", "SSL certificate")
                .depends_on("ssl_enabled", true)
                .order(8),
        )
        .field(
            Field::int("fetch_size", "Rows fetched per request")
                .optional()
                .default_value(5000)
                .advanced()
                .order(9),
        )
        .field(
            Field::int("retry_count", "Retries per request")
                .optional()
                .default_value(3)
                .advanced()
                .order(10),
        )
}

/// The configuration values this plugin itself uses.
struct Settings {
    database: String,
    tables: Vec<String>,
}

impl Settings {
    fn from(config: &Config) -> Result<Settings, Error> {
        let database = config
            .str("database")
            .map(str::to_string)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| Error::config("'Database' cannot be empty."))?;
        Ok(Settings {
            database,
            tables: config.list("tables"),
        })
    }
}

fn source_err(context: &str, e: MysqlError) -> Error {
    Error::source(format!("{context}: {e}"))
}

/// Elastic's wording when the server cannot be reached.
fn connection_error(config: &Config, e: MysqlError) -> Error {
    let host = config.str("host").unwrap_or_default();
    Error::connection(format!("Can't connect to MySQL on {host}. {e}"))
}

impl Source for MySql {
    type Stream = MySync;

    fn metadata() -> Metadata {
        Metadata::new("mysql", "MySQL", env!("CARGO_PKG_VERSION")).features(Features {
            incremental_sync: false,
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
        // Opening a session runs the host's own statements on the server.
        mysql::connect()
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
        let existing = match mysql::connect().and_then(|s| table_names(&s, true)) {
            Ok(t) => t,
            Err(e) => return vec![connection_error(config, e).message],
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

    fn start_sync(config: &Config, request: &SyncRequest) -> Result<MySync, Error> {
        let settings = Settings::from(config)?;
        let rules = match &request.advanced_rules {
            Some(r) => parse_rules(r).map_err(|e| Error::config(e.join("; ")))?,
            None => Vec::new(),
        };
        let session = mysql::connect().map_err(|e| connection_error(config, e))?;
        MySync::plan(session, settings, rules, request.batch_size)
    }
}

tributary_sdk::register_source!(MySql);

// ------------------------------------------------------------------ advanced rules

/// One advanced rule: `{tables, query, id_columns?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Tables the query reads (they make the ids and the `Table` field).
    pub tables: Vec<String>,
    /// The SQL query.
    pub query: String,
    /// Columns that make the id (default: the tables' primary keys, sorted).
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
            .filter(|q| !q.trim().is_empty())
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

/// Elastic's remote validation: the configured tables exist and are readable.
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
    let existing = match mysql::connect().and_then(|s| table_names(&s, true)) {
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
            message: format!(
                "The tables '{}' are either not present or not accessible for user '{}'.",
                missing.join(", "),
                config.str("user").unwrap_or_default()
            ),
        }]
    }
}

/// Tables of the connector's database, sorted; with `views`, views too.
fn table_names(s: &Session, views: bool) -> Result<Vec<String>, MysqlError> {
    Ok(s.list_tables(views)?.into_iter().map(|r| r.name).collect())
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

/// A running sync.
pub struct MySync {
    session: Session,
    work: VecDeque<Work>,
    current: Option<Current>,
    batch_size: u32,
    now: String,
}

impl MySync {
    /// Checks everything the sync will need before reading a row, so a wrong
    /// configuration fails before any document is sent.
    fn plan(
        session: Session,
        settings: Settings,
        rules: Vec<Rule>,
        batch_size: u32,
    ) -> Result<MySync, Error> {
        let now = session.info().started_at;
        let db = settings.database.clone();
        let all = table_names(&session, true).map_err(|e| source_err("Listing tables", e))?;
        let mut work = VecDeque::new();
        let mut problems = Vec::new();
        let pk_of = |t: &str| -> Result<Vec<String>, Error> {
            session
                .primary_key(t)
                .map_err(|e| source_err(&format!("Reading the primary key of {t}"), e))
        };
        if rules.is_empty() {
            let tables = if settings.tables.iter().any(|t| t == "*") {
                // Elastic lists every table name, views included.
                all.clone()
            } else {
                settings.tables.clone()
            };
            if tables.is_empty() {
                return Err(Error::config(format!(
                    "No table to sync in database `{db}`"
                )));
            }
            for t in tables {
                if !all.contains(&t) {
                    problems.push(format!(
                        "table `{db}`.`{t}` does not exist or is not accessible"
                    ));
                    continue;
                }
                let pk = pk_of(&t)?;
                if pk.is_empty() {
                    problems.push(format!(
                        "table `{db}`.`{t}` has no primary key (ids are made of it; add one, or sync it with an advanced rule with id_columns)"
                    ));
                }
                work.push_back(Work::Table { name: t, pk });
            }
        } else {
            for (i, rule) in rules.into_iter().enumerate() {
                for t in &rule.tables {
                    if !all.contains(t) {
                        problems.push(format!(
                            "advanced rule {}: table `{db}`.`{t}` does not exist or is not accessible",
                            i + 1
                        ));
                    }
                }
                let keys = match &rule.id_columns {
                    Some(cols) => cols.clone(),
                    None => {
                        // Elastic: every primary-key column of the rule's tables, sorted.
                        let mut keys = Vec::new();
                        for t in rule.tables.iter().filter(|t| all.contains(t)) {
                            keys.extend(pk_of(t)?);
                        }
                        keys.sort();
                        if keys.is_empty() {
                            problems.push(format!(
                                "advanced rule {}: the tables have no primary key; give id_columns",
                                i + 1
                            ));
                        }
                        keys
                    }
                };
                work.push_back(Work::Rule { rule, keys });
            }
        }
        if !problems.is_empty() {
            return Err(Error::config(format!(
                "Cannot sync: {}.",
                problems.join("; ")
            )));
        }
        Ok(MySync {
            session,
            work,
            current: None,
            batch_size: batch_size.clamp(1, 10_000),
            now,
        })
    }

    /// Elastic's `_timestamp`: the latest `UPDATE_TIME` of the tables, else the
    /// sync's start.
    fn timestamp(&self, tables: &[String]) -> Result<String, Error> {
        let mut latest: Option<String> = None;
        for t in tables {
            let ts = self
                .session
                .last_update_time(t)
                .map_err(|e| source_err(&format!("Reading the update time of {t}"), e))?;
            // Same format throughout, so the text order is the time order.
            if ts > latest {
                latest = ts;
            }
        }
        Ok(latest.unwrap_or_else(|| self.now.clone()))
    }

    fn open(&mut self, work: Work) -> Result<Current, Error> {
        let (tables, keys, table_value, query) = match work {
            Work::Table { name, pk } => {
                let tv = Value::Text(name.clone());
                (vec![name], pk, tv, None)
            }
            Work::Rule { rule, keys } => {
                let tv = Value::Json(Json::from(rule.tables.clone()).to_string());
                (rule.tables, keys, tv, Some(rule.query))
            }
        };
        // Read before the result opens: one result at a time per session.
        let timestamp = self.timestamp(&tables)?;
        let rows = match &query {
            None => self
                .session
                .scan(&tables[0], &keys)
                .map_err(|e| source_err(&format!("Reading table {}", tables[0]), e))?,
            Some(q) => self
                .session
                .query(q, &[])
                .map_err(|e| source_err(&format!("Running the advanced rule query '{q}'"), e))?,
        };
        let names: Vec<String> = rows.columns().iter().map(|c| c.name.clone()).collect();
        let mut sorted = tables.clone();
        sorted.sort();
        let shape = Shape::from_result(format!("{}_", sorted.join("_")), &names, &keys)
            .map_err(|k| {
                Error::config(format!(
                    "The result for {} has no column '{k}' to make the ids from; columns: {}",
                    tables.join(", "),
                    names.join(", ")
                ))
            })?
            .constant("Table", table_value)
            .timestamp(Some(timestamp));
        Ok(Current { rows, shape })
    }
}

impl DocumentStream for MySync {
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        loop {
            if self.current.is_none() {
                let Some(work) = self.work.pop_front() else {
                    return Ok(None);
                };
                self.current = Some(self.open(work)?);
            }
            let Some(cur) = self.current.as_mut() else {
                continue;
            };
            // The host shapes the documents: the values never enter the plugin.
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
                "user",
                "password",
                "database",
                "tables",
                "ssl_enabled",
                "ssl_ca",
                "fetch_size",
                "retry_count"
            ]
        );
        assert_eq!(j["user"]["label"], "Username");
        assert_eq!(j["tables"]["value"], "*");
        assert_eq!(j["tables"]["type"], "list");
        assert_eq!(j["tables"]["display"], "textarea");
        assert_eq!(j["password"]["sensitive"], true);
        assert_eq!(j["port"]["display"], "numeric");
        assert_eq!(j["ssl_enabled"]["label"], "Enable SSL");
        assert_eq!(j["ssl_enabled"]["value"], false);
        assert_eq!(j["ssl_enabled"]["order"], 7);
        assert_eq!(
            j["ssl_ca"]["depends_on"],
            json!([{"field": "ssl_enabled", "value": true}])
        );
        assert_eq!(j["fetch_size"]["default_value"], 5000);
        assert_eq!(j["fetch_size"]["required"], false);
        assert_eq!(j["retry_count"]["default_value"], 3);
        assert_eq!(j["retry_count"]["ui_restrictions"], json!(["advanced"]));
        assert_eq!(j["retry_count"]["order"], 10);
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
        assert!(parse_rules(&json!("SELECT")).is_err());
    }

    #[test]
    fn ids_are_python_str() {
        use tributary_sdk::mysql::Value as My;
        let mut id = String::new();
        mysql::id_text(&My::Int8(42), &mut id);
        id.push('_');
        mysql::id_text(&My::Numeric("18446744073709551615"), &mut id);
        id.push('_');
        mysql::id_text(&My::Float8(2.0), &mut id);
        assert_eq!(id, "42_18446744073709551615_2.0");
    }
}
