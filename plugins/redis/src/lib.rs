//! The Redis source connector: a drop-in for Elastic's `redis` connector (same
//! configuration, document ids and shape), built as a wasm32-wasip2 component. It
//! reads through the host's Redis capability: SCAN iteration per database, then
//! `TYPE`, one whole-value read and `MEMORY USAGE` per key.
//!
//! Documents are Elastic's: `_id` = md5 of `"{db}/{key}"`, `key`, `value` (Python's
//! `str()` of what redis-py returns, which is what Elastic indexes), `size_in_bytes`,
//! `database`, `key_type`.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;

use serde_json::Value as Json;
use tributary_sdk::redis::{self, Connection, RedisError};
use tributary_sdk::{
    Batch, BatchBuilder, Config, DocumentStream, Error, Features, Field, FieldError, Metadata,
    Schema, Source, SyncRequest, Value,
};

/// The plugin.
pub struct Redis;

const TLS_TOOLTIP: &str = "This option establishes a secure connection to Redis using SSL/TLS encryption. Ensure that your Redis deployment supports SSL/TLS connections.";
const MTLS_TOOLTIP: &str = "This option establishes a secure connection to Redis using mutual SSL/TLS encryption. Ensure that your Redis deployment supports mutual SSL/TLS connections.";
const CERT_TOOLTIP: &str = "Specifies the client certificate from the Certificate Authority. The value of the certificate is used to validate the certificate presented by the Redis instance.";
const KEY_TOOLTIP: &str = "Specifies the client private key from the Certificate Authority. The value of the key is used to validate the connection in the Redis instance.";

/// The configuration schema, exactly as Elastic's connector declares it.
pub fn schema() -> Schema {
    Schema::new()
        .field(Field::str("host", "Host").order(1))
        .field(Field::int("port", "Port").order(2))
        .field(Field::str("username", "Username").optional().order(3))
        .field(
            Field::str("password", "Password")
                .optional()
                .sensitive()
                .order(4),
        )
        .field(
            Field::list("database", "Comma-separated list of databases")
                .value("*")
                .tooltip("Databases are ignored when Advanced Sync Rules are used.")
                .order(5),
        )
        .field(
            Field::toggle("ssl_enabled", "SSL/TLS Connection")
                .value(false)
                .tooltip(TLS_TOOLTIP)
                .order(6),
        )
        .field(
            Field::toggle("mutual_tls_enabled", "Mutual SSL/TLS Connection")
                .value(false)
                .depends_on("ssl_enabled", true)
                .tooltip(MTLS_TOOLTIP)
                .order(7),
        )
        .field(
            Field::str("tls_certfile", "client certificate file for SSL/TLS")
                .optional()
                .depends_on("mutual_tls_enabled", true)
                .tooltip(CERT_TOOLTIP)
                .order(8),
        )
        .field(
            Field::str("tls_keyfile", "client private key file for SSL/TLS")
                .optional()
                .depends_on("mutual_tls_enabled", true)
                .tooltip(KEY_TOOLTIP)
                .order(9),
        )
}

fn connection_error(config: &Config, e: RedisError) -> Error {
    let host = config.str("host").unwrap_or_default();
    Error::connection(format!("Can't connect to Redis on {host}. {e}"))
}

fn source_err(context: &str, e: RedisError) -> Error {
    Error::source(format!("{context}: {e}"))
}

/// The configured databases: `None` for `*`, else the numbers (as written, for
/// the `database` field, and parsed).
fn configured(config: &Config) -> Result<Option<Vec<(String, u32)>>, Vec<String>> {
    let list = config.list("database");
    if list.is_empty() || list.iter().any(|d| d == "*") {
        return Ok(None);
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for d in list {
        match d.parse::<u32>() {
            Ok(n) if d.chars().all(|c| c.is_ascii_digit()) => {
                if seen.insert(n) {
                    out.push((d, n));
                }
            }
            _ => bad.push(d),
        }
    }
    if bad.is_empty() {
        Ok(Some(out))
    } else {
        Err(vec![format!(
            "All database element should be integer. Please correct database name: {}",
            bad.join(", ")
        )])
    }
}

impl Source for Redis {
    type Stream = RedisSync;

    fn metadata() -> Metadata {
        Metadata::new("redis", "Redis", env!("CARGO_PKG_VERSION")).features(Features {
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
        if !errors.is_empty() {
            return errors;
        }
        let dbs = match configured(config) {
            Ok(Some(d)) => d,
            Ok(None) => return errors,
            Err(m) => {
                return m
                    .into_iter()
                    .map(|message| FieldError {
                        key: Some("database".into()),
                        message,
                    })
                    .collect()
            }
        };
        let missing: Vec<String> = dbs
            .iter()
            .filter(|(_, n)| redis::connect(*n).and_then(|c| c.ping()).is_err())
            .map(|(d, _)| d.clone())
            .collect();
        if !missing.is_empty() {
            errors.push(FieldError {
                key: Some("database".into()),
                message: format!("Database {} are not available.", missing.join(", ")),
            });
        }
        errors
    }

    fn ping(config: &Config) -> Result<(), Error> {
        redis::connect(0)
            .and_then(|c| c.ping())
            .map_err(|e| connection_error(config, e))
    }

    fn validate_advanced_rules(_config: &Config, rules: &Json) -> Vec<String> {
        let rules = match parse_rules(rules) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let bad: Vec<String> = rules
            .iter()
            .filter(|r| redis::connect(r.database).and_then(|c| c.ping()).is_err())
            .map(|r| r.database.to_string())
            .collect();
        if bad.is_empty() {
            Vec::new()
        } else {
            vec![format!("Database {} are not available.", bad.join(","))]
        }
    }

    fn start_sync(config: &Config, request: &SyncRequest) -> Result<RedisSync, Error> {
        let mut work = VecDeque::new();
        let rules = match &request.advanced_rules {
            Some(r) => parse_rules(r).map_err(|e| Error::config(e.join("; ")))?,
            None => Vec::new(),
        };
        if !rules.is_empty() {
            for r in rules {
                work.push_back(Scan {
                    db_field: Value::Int(i64::from(r.database)),
                    db_text: r.database.to_string(),
                    db: r.database,
                    pattern: r.key_pattern,
                    key_type: r.key_type,
                });
            }
        } else {
            match configured(config).map_err(|e| Error::config(e.join("; ")))? {
                Some(dbs) => {
                    // Elastic writes the configured text ("11") as the database.
                    for (text, n) in dbs {
                        work.push_back(Scan {
                            db_field: Value::Text(text.clone()),
                            db_text: text,
                            db: n,
                            pattern: None,
                            key_type: None,
                        });
                    }
                }
                None => {
                    let n = redis::connect(0)
                        .and_then(|c| c.databases())
                        .map_err(|e| connection_error(config, e))?;
                    for db in 0..n {
                        work.push_back(Scan {
                            db_field: Value::Int(i64::from(db)),
                            db_text: db.to_string(),
                            db,
                            pattern: None,
                            key_type: None,
                        });
                    }
                }
            }
        }
        Ok(RedisSync {
            work,
            current: None,
            batch_size: request.batch_size.clamp(1, 5000) as usize,
        })
    }
}

tributary_sdk::register_source!(Redis);

// ------------------------------------------------------------------ advanced rules

/// One advanced rule: `{database, key_pattern?, type?}` (one of the two at least).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The database number.
    pub database: u32,
    /// A SCAN `MATCH` pattern.
    pub key_pattern: Option<String>,
    /// A SCAN `TYPE` filter.
    pub key_type: Option<String>,
}

/// Validates `advanced_snippet.value` as Elastic's schema does.
pub fn parse_rules(v: &Json) -> Result<Vec<Rule>, Vec<String>> {
    let items = match v {
        Json::Null => return Ok(Vec::new()),
        Json::Object(o) if o.is_empty() => return Ok(Vec::new()),
        Json::Array(a) => a,
        _ => {
            return Err(vec![
                "advanced rules must be an array of {database, key_pattern?, type?} objects".into(),
            ])
        }
    };
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let Some(o) = item.as_object() else {
            errors.push(format!("rule {n}: must be an object"));
            continue;
        };
        for k in o.keys() {
            if !matches!(k.as_str(), "database" | "key_pattern" | "type") {
                errors.push(format!(
                    "rule {n}: unknown key '{k}' (allowed: database, key_pattern, type)"
                ));
            }
        }
        let database = o
            .get("database")
            .and_then(Json::as_u64)
            .and_then(|d| u32::try_from(d).ok());
        if database.is_none() {
            errors.push(format!(
                "rule {n}: 'database' must be a non-negative integer"
            ));
        }
        let text = |k: &str, errors: &mut Vec<String>| match o.get(k) {
            None => None,
            Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => {
                errors.push(format!("rule {n}: '{k}' must be a non-empty string"));
                None
            }
        };
        let key_pattern = text("key_pattern", &mut errors);
        let key_type = text("type", &mut errors);
        if !o.contains_key("key_pattern") && !o.contains_key("type") {
            errors.push(format!("rule {n}: give 'key_pattern' or 'type'"));
        }
        if let Some(database) = database {
            rules.push(Rule {
                database,
                key_pattern,
                key_type,
            });
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

// ------------------------------------------------------------------ Python's str()

/// Python's `repr()` of a `str`.
pub fn py_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `repr()` of a float.
pub fn py_float(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str("nan");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "inf" } else { "-inf" });
    } else if f != 0.0 && (f.abs() >= 1e16 || f.abs() < 1e-4) {
        // Rust: `1e16`, `1.5e-5`; Python: `1e+16`, `1.5e-05`.
        let e = format!("{f:e}");
        let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        let _ = write!(out, "{mant}e{sign}{digits:0>2}");
    } else if f.fract() == 0.0 {
        let _ = write!(out, "{f:.1}");
    } else {
        let _ = write!(out, "{f}");
    }
}

/// Python's `str()` of what `json.loads` returns, nested values as `repr()`.
fn py_json(v: &Json, top: bool, out: &mut String) {
    match v {
        Json::Null => out.push_str("None"),
        Json::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => {
                let _ = write!(out, "{i}");
            }
            (_, Some(u)) => {
                let _ = write!(out, "{u}");
            }
            _ => py_float(n.as_f64().unwrap_or(f64::NAN), out),
        },
        Json::String(s) if top => out.push_str(s),
        Json::String(s) => py_str_repr(s, out),
        Json::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_json(x, false, out);
            }
            out.push(']');
        }
        Json::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_str_repr(k, out);
                out.push_str(": ");
                py_json(x, false, out);
            }
            out.push('}');
        }
    }
}

fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// A string value as Elastic writes it: JSON is decoded first.
pub fn string_value(raw: &[u8]) -> String {
    let s = text(raw);
    let mut out = String::new();
    match serde_json::from_str::<Json>(&s) {
        Ok(v) => py_json(&v, true, &mut out),
        Err(_) => out.push_str(&s),
    }
    out
}

fn list_repr(items: &[Vec<u8>], open: char, close: char) -> String {
    let mut out = String::new();
    if items.is_empty() && open == '{' {
        return "set()".into();
    }
    out.push(open);
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        py_str_repr(&text(x), &mut out);
    }
    out.push(close);
    out
}

/// The `value` field of one key.
fn value_of(con: &Connection, key: &[u8], key_type: &str) -> Result<String, RedisError> {
    Ok(match key_type {
        "hash" => {
            let mut out = String::from("{");
            for (i, (k, v)) in con.hash(key)?.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_str_repr(&text(k), &mut out);
                out.push_str(": ");
                py_str_repr(&text(v), &mut out);
            }
            out.push('}');
            out
        }
        "list" => list_repr(&con.list(key)?, '[', ']'),
        "set" => list_repr(&con.set(key)?, '{', '}'),
        "zset" => {
            let mut out = String::from("[");
            for (i, (m, score)) in con.sorted_set(key)?.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('(');
                py_str_repr(&text(m), &mut out);
                out.push_str(", ");
                py_float(*score, &mut out);
                out.push(')');
            }
            out.push(']');
            out
        }
        "stream" => {
            // redis-py's XREAD {key: 0}: [[key, [(id, {field: value}), …]]].
            let entries = con.stream(key)?;
            let mut out = String::from("[[");
            py_str_repr(&text(key), &mut out);
            out.push_str(", [");
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('(');
                py_str_repr(&e.id, &mut out);
                out.push_str(", {");
                for (j, (f, v)) in e.fields.iter().enumerate() {
                    if j > 0 {
                        out.push_str(", ");
                    }
                    py_str_repr(&text(f), &mut out);
                    out.push_str(": ");
                    py_str_repr(&text(v), &mut out);
                }
                out.push_str("})");
            }
            out.push_str("]]]");
            if entries.is_empty() {
                // XREAD returns nothing for an empty stream.
                return Ok("[]".into());
            }
            out
        }
        "string" => con
            .get(key)?
            .map(|v| string_value(&v))
            .unwrap_or_else(|| "None".into()),
        // A type this plugin cannot read (a module's): indexed with an empty value.
        _ => String::new(),
    })
}

// ------------------------------------------------------------------ sync

/// One database to scan.
struct Scan {
    db: u32,
    db_text: String,
    db_field: Value,
    pattern: Option<String>,
    key_type: Option<String>,
}

struct Current {
    con: Connection,
    scan: Scan,
    cursor: u64,
    done: bool,
    pending: VecDeque<Vec<u8>>,
    seen: HashSet<Vec<u8>>,
}

/// A running sync.
pub struct RedisSync {
    work: VecDeque<Scan>,
    current: Option<Current>,
    batch_size: usize,
}

const FIELDS: [&str; 5] = ["key", "value", "size_in_bytes", "database", "key_type"];

impl DocumentStream for RedisSync {
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        let mut builder = BatchBuilder::with_fields(FIELDS.map(String::from));
        loop {
            if self.current.is_none() {
                let Some(scan) = self.work.pop_front() else {
                    break;
                };
                let con = redis::connect(scan.db)
                    .map_err(|e| source_err(&format!("Opening database {}", scan.db), e))?;
                self.current = Some(Current {
                    con,
                    scan,
                    cursor: 0,
                    done: false,
                    pending: VecDeque::new(),
                    seen: HashSet::new(),
                });
            }
            let Some(cur) = self.current.as_mut() else {
                continue;
            };
            if cur.pending.is_empty() {
                if cur.done {
                    self.current = None;
                    if !builder.is_empty() {
                        break;
                    }
                    continue;
                }
                // One SCAN step from the saved cursor.
                let (next, keys) = scan_step(&cur.con, cur.cursor, &cur.scan)?;
                cur.cursor = next;
                cur.done = next == 0;
                for key in keys {
                    // SCAN may return a key more than once.
                    if cur.seen.insert(key.clone()) {
                        cur.pending.push_back(key);
                    }
                }
                continue;
            }
            while let Some(key) = cur.pending.pop_front() {
                let key_type = cur
                    .con
                    .key_type(&key)
                    .map_err(|e| source_err("Reading a key's type", e))?;
                if key_type == "none" {
                    continue; // deleted since SCAN saw it
                }
                let value = value_of(&cur.con, &key, &key_type)
                    .map_err(|e| source_err(&format!("Reading key '{}'", text(&key)), e))?;
                let size = cur
                    .con
                    .memory_usage(&key)
                    .map_err(|e| source_err("Reading a key's size", e))?;
                let key_text = text(&key).into_owned();
                let id = format!(
                    "{:x}",
                    md5::compute(format!("{}/{}", cur.scan.db_text, key_text))
                );
                builder.push(
                    id,
                    None,
                    vec![
                        Value::Text(key_text),
                        Value::Text(value),
                        size.map_or(Value::Null, |s| Value::Int(s as i64)),
                        cur.scan.db_field.clone(),
                        Value::Text(key_type),
                    ],
                );
                if builder.len() >= self.batch_size {
                    return Ok(Some(builder.finish()));
                }
            }
        }
        if builder.is_empty() {
            Ok(None)
        } else {
            Ok(Some(builder.finish()))
        }
    }
}

fn scan_step(con: &Connection, cursor: u64, scan: &Scan) -> Result<(u64, Vec<Vec<u8>>), Error> {
    con.scan_from(cursor, scan.pattern.as_deref(), scan.key_type.as_deref())
        .map_err(|e| source_err(&format!("Scanning database {}", scan.db), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repr(f: impl Fn(&mut String)) -> String {
        let mut s = String::new();
        f(&mut s);
        s
    }

    #[test]
    fn python_str() {
        assert_eq!(repr(|o| py_str_repr("it's", o)), "\"it's\"");
        assert_eq!(repr(|o| py_str_repr("a'b\"c\n", o)), "'a\\'b\"c\\n'");
        assert_eq!(repr(|o| py_float(1.0, o)), "1.0");
        assert_eq!(repr(|o| py_float(2.5, o)), "2.5");
        assert_eq!(repr(|o| py_float(1e16, o)), "1e+16");
        assert_eq!(repr(|o| py_float(1.5e-5, o)), "1.5e-05");
        assert_eq!(string_value(b"plain text"), "plain text");
        assert_eq!(string_value(b"42"), "42");
        assert_eq!(string_value(b"1.50"), "1.5");
        assert_eq!(string_value(b"true"), "True");
        assert_eq!(
            string_value(br#"{"a": [1, null, "x"], "b": {"c": false}}"#),
            "{'a': [1, None, 'x'], 'b': {'c': False}}"
        );
        assert_eq!(list_repr(&[], '{', '}'), "set()");
        assert_eq!(
            list_repr(&[b"a".to_vec(), b"b".to_vec()], '[', ']'),
            "['a', 'b']"
        );
    }

    #[test]
    fn rules_shape() {
        assert_eq!(parse_rules(&json!([])), Ok(vec![]));
        let r = parse_rules(&json!([{"database": 11, "key_pattern": "user:*"}])).unwrap();
        assert_eq!(r[0].key_pattern.as_deref(), Some("user:*"));
        assert!(parse_rules(&json!([{"database": 11}])).is_err());
        assert!(parse_rules(&json!([{"database": -1, "type": "hash"}])).is_err());
        assert!(parse_rules(&json!([{"database": 1, "type": "hash", "x": 1}])).is_err());
    }

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
                "ssl_enabled",
                "mutual_tls_enabled",
                "tls_certfile",
                "tls_keyfile"
            ]
        );
        assert_eq!(j["database"]["value"], "*");
        assert_eq!(j["password"]["sensitive"], true);
        assert_eq!(j["password"]["required"], false);
        assert_eq!(
            j["tls_keyfile"]["depends_on"],
            json!([{"field": "mutual_tls_enabled", "value": true}])
        );
    }
}
