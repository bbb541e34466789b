//! The BUILT `target/plugins/mysql.wasm` and `redis.wasm` run through the real
//! binary. MySQL: against the MariaDB on this machine, in databases this test creates (as root over the local
//! socket) and drops, read over TCP by a SELECT-only user: `tributary extract` for
//! Chinook's 622 documents with Elastic's ids, every MySQL type, and the plain
//! failures; the operator's grant; and the tutorial flow with `tributary run` and
//! es-sim, `service_type: mysql`. Redis: the local server's databases 11–13
//! (flushed by these tests): keys of every type with Elastic's ids and values,
//! the grant, and the tutorial flow with `service_type: redis`.
//!
//! Nothing is skipped: a missing wasm, binary, MariaDB or Redis fails the test.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use tributary_e2e::harness::{
    chinook_sql, plugin_cache_dir, plugins_dir, tributary_bin, unique, wait_for, EsSim, Workdir,
};

const USER: &str = "trib_h12";
const PASSWORD: &str = "trib_h12_pw";

fn root_sql(sql: &str) -> String {
    let out = Command::new("mysql")
        .args(["-uroot", "--protocol=socket", "-N", "-B", "-e", sql])
        .output()
        .expect("running the mysql client (is MariaDB installed?)");
    assert!(
        out.status.success(),
        "mysql failed: {}\n{sql}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A database `trib_h12_e2e_*` of its own, dropped at the end.
struct MyDb {
    name: String,
}

impl MyDb {
    fn new(setup: &str) -> MyDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "trib_h12_e2e_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        root_sql(&format!(
            "CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; \
             GRANT SELECT, SHOW VIEW ON `trib\\_h12\\_%`.* TO '{USER}'@'127.0.0.1'; \
             DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4; \
             USE `{name}`; {setup}"
        ));
        MyDb { name }
    }

    /// Chinook's `album` and `artist` (the PostgreSQL script's tables and rows,
    /// which MySQL reads as they are).
    fn chinook() -> MyDb {
        let script = std::fs::read_to_string(chinook_sql()).expect("reading the Chinook script");
        let mut setup = String::new();
        for start in [
            "CREATE TABLE album\n",
            "CREATE TABLE artist\n",
            "INSERT INTO artist ",
            "INSERT INTO album ",
        ] {
            let at = script
                .find(start)
                .unwrap_or_else(|| panic!("no `{start}` in the Chinook script"));
            // A statement ends with `);` at the end of a line (a name holds a `;`).
            let end = script[at..].find(");\n").expect("statement end") + at + 2;
            setup.push_str(&script[at..end]);
            setup.push('\n');
        }
        MyDb::new(&setup)
    }

    fn values(&self, tables: &str) -> Value {
        json!({"host": "127.0.0.1", "port": 3306, "user": USER, "password": PASSWORD,
               "database": self.name, "tables": tables, "ssl_enabled": false,
               "ssl_ca": "", "fetch_size": 5000, "retry_count": 3})
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        root_sql(&format!("DROP DATABASE IF EXISTS `{}`", self.name));
    }
}

/// A config.yml granting the MySQL capability (with `extra` under `plugins.mysql`).
fn grant_config(extra: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("{}.yml", unique("mysqlgrant")));
    std::fs::write(
        &p,
        format!("plugins:\n  mysql:\n    enabled: true\n{extra}"),
    )
    .expect("writing config.yml");
    p
}

struct Extract {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run_extract(values: &Value, config: Option<&PathBuf>) -> Extract {
    run_extract_of("mysql", values, config)
}

fn run_extract_of(service_type: &str, values: &Value, config: Option<&PathBuf>) -> Extract {
    let file = std::env::temp_dir().join(format!("{}.json", unique("myvalues")));
    std::fs::write(&file, values.to_string()).expect("writing the values file");
    let mut cmd = Command::new(tributary_bin());
    cmd.args(["extract", service_type, "--plugins"])
        .arg(plugins_dir())
        .arg("--values")
        .arg(&file)
        .env("TRIBUTARY_CACHE_DIR", plugin_cache_dir())
        .env_remove("TRIBUTARY_CONFIG");
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let out = cmd.output().expect("running tributary extract");
    let _ = std::fs::remove_file(&file);
    Extract {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn extract(values: &Value) -> Vec<Value> {
    extract_raw(values).0
}

/// The documents and the NDJSON text they came from.
fn extract_raw(values: &Value) -> (Vec<Value>, String) {
    let cfg = grant_config("");
    let r = run_extract(values, Some(&cfg));
    let _ = std::fs::remove_file(&cfg);
    assert!(r.ok, "tributary extract failed:\n{}", r.stderr);
    let docs = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (docs, r.stdout)
}

fn by_id<'a>(docs: &'a [Value], id: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["_id"] == id)
        .unwrap_or_else(|| panic!("no document {id}"))
}

fn without_timestamp(doc: &Value) -> Value {
    let mut d = doc.clone();
    let ts = d
        .as_object_mut()
        .and_then(|o| o.remove("_timestamp"))
        .expect("_timestamp");
    let ts = ts.as_str().expect("_timestamp is text");
    assert!(
        ts.len() >= 19 && ts.as_bytes()[10] == b'T',
        "_timestamp is ISO-8601: {ts}"
    );
    d
}

#[test]
fn chinook_album_and_artist_give_622_documents_with_elastic_ids() {
    let db = MyDb::chinook();
    let docs = extract(&db.values("album,artist"));
    assert_eq!(docs.len(), 622);
    let ids: std::collections::HashSet<&str> = docs
        .iter()
        .map(|d| d["_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 622, "ids are unique");
    assert!((1..=347).all(|i| ids.contains(format!("album_{i}").as_str())));
    assert!((1..=275).all(|i| ids.contains(format!("artist_{i}").as_str())));
    assert_eq!(
        without_timestamp(by_id(&docs, "album_1")),
        json!({"_id": "album_1", "album_id": 1, "title": "For Those About To Rock We Salute You",
               "artist_id": 1, "Table": "album"})
    );
    assert_eq!(
        without_timestamp(by_id(&docs, "artist_1")),
        json!({"_id": "artist_1", "artist_id": 1, "name": "AC/DC", "Table": "artist"})
    );
    // Primary-key order within a table, tables in the configured order.
    assert_eq!(docs[0]["_id"], "album_1");
    assert_eq!(docs[346]["_id"], "album_347");
    assert_eq!(docs[347]["_id"], "artist_1");

    // `*`: every table of the database; same documents.
    assert_eq!(extract(&db.values("*")).len(), 622);
}

#[test]
fn every_mysql_type_round_trips() {
    let db = MyDb::new(
        "CREATE TABLE types (
            id BIGINT UNSIGNED NOT NULL, k VARCHAR(10) NOT NULL,
            ti TINYINT, si SMALLINT UNSIGNED, i INT, bi BIGINT,
            d DECIMAL(40,10), f FLOAT, g DOUBLE, b BIT(12), j JSON,
            s SET('a','b','c'), e ENUM('x','y'), v VARCHAR(20), c CHAR(3), tx TEXT,
            bl BLOB, vb VARBINARY(4), dt DATE, dtt DATETIME(6), ts TIMESTAMP NULL,
            tm TIME, y YEAR, PRIMARY KEY (k, id));
         INSERT INTO types VALUES
           (18446744073709551615, 'max', -128, 65535, -2147483648, 9223372036854775807,
            123456789012345678901234567890.0123456789, 1.1, 0.1, b'101000000001',
            '{\"a\": [1, 2.50, {\"b\": null}], \"s\": \"é\"}', 'a,c', 'y', 'héllo \"q\"',
            'ab', 'long text', x'00ff10', x'cafe', '2024-02-29', '2024-02-29 13:14:15.123456',
            '2024-01-01 00:00:01', '-838:59:59', 2024),
           (1, 'null', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', NULL, NULL,
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, '12:30:00', NULL);",
    );
    let (docs, ndjson) = extract_raw(&db.values("types"));
    assert_eq!(docs.len(), 2);
    // The id: table, then the key values in column order (`id`, `k`).
    let max = without_timestamp(by_id(&docs, "types_18446744073709551615_max"));
    assert_eq!(
        max,
        json!({
            "_id": "types_18446744073709551615_max",
            "id": 18446744073709551615u64, "k": "max", "ti": -128, "si": 65535,
            "i": -2147483648, "bi": 9223372036854775807i64,
            "d": serde_json::from_str::<Value>("123456789012345678901234567890.0123456789").unwrap(),
            "f": 1.1, "g": 0.1, "b": 2561,
            "j": {"a": [1, 2.50, {"b": null}], "s": "é"},
            "s": ["a", "c"], "e": "y", "v": "héllo \"q\"", "c": "ab", "tx": "long text",
            "bl": "AP8Q", "vb": "yv4=", "dt": "2024-02-29", "dtt": "2024-02-29T13:14:15.123456",
            "ts": "2024-01-01T00:00:01", "tm": "-838:59:59", "y": 2024, "Table": "types"
        })
    );
    // Exact digits survive to the NDJSON text (no float rounding).
    assert!(
        ndjson.contains("\"d\":123456789012345678901234567890.0123456789"),
        "{ndjson}"
    );
    assert!(ndjson.contains("\"id\":18446744073709551615"), "{ndjson}");
    let null = without_timestamp(by_id(&docs, "types_1_null"));
    assert_eq!(null["s"], json!([]));
    assert_eq!(null["tm"], "12:30:00");
    for k in ["ti", "d", "f", "b", "j", "e", "bl", "dt", "dtt", "ts", "y"] {
        assert_eq!(null[k], Value::Null, "{k}");
    }
}

#[test]
fn plain_failures_and_the_operator_grant() {
    let db = MyDb::new(
        "CREATE TABLE keyed (id INT PRIMARY KEY); INSERT INTO keyed VALUES (1);
         CREATE TABLE loose (x INT); INSERT INTO loose VALUES (1);",
    );
    let cfg = grant_config("");
    let missing = run_extract(&db.values("keyed,nope"), Some(&cfg));
    assert!(!missing.ok);
    assert!(
        missing
            .stderr
            .contains(&format!("table `{}`.`nope` does not exist", db.name)),
        "{}",
        missing.stderr
    );
    let nopk = run_extract(&db.values("loose"), Some(&cfg));
    assert!(!nopk.ok);
    assert!(
        nopk.stderr.contains("`loose` has no primary key"),
        "{}",
        nopk.stderr
    );
    assert!(nopk.stdout.is_empty(), "nothing sent before the failure");

    // Without the operator's grant the plugin is refused at load, naming the key.
    let ungranted = run_extract(&db.values("keyed"), None);
    assert!(!ungranted.ok);
    assert!(
        ungranted.stderr.contains("`mysql` capability")
            && ungranted.stderr.contains("plugins.mysql.enabled"),
        "{}",
        ungranted.stderr
    );

    // A host outside the operator's allowlist is refused before any connection.
    let far = grant_config("    allowed_hosts: [db.internal]\n");
    let refused = run_extract(&db.values("keyed"), Some(&far));
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("plugins.mysql.allowed_hosts"),
        "{}",
        refused.stderr
    );
    // The password never shows, even in errors.
    assert!(!refused.stderr.contains(PASSWORD));
    let _ = std::fs::remove_file(&cfg);
    let _ = std::fs::remove_file(&far);
}

#[test]
fn tutorial_flow_with_service_type_mysql() {
    const CONNECTOR: &str = "my-mysql-connector";
    const INDEX: &str = "music-mysql";
    let db = MyDb::chinook();
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();
    es.ok(
        "PUT",
        &format!("/_connector/{CONNECTOR}"),
        Some(json!({"name": "Music (MySQL)", "index_name": INDEX, "service_type": "mysql"})),
    );
    let config = work.path("config.yml");
    std::fs::write(
        &config,
        format!(
            "elasticsearch:\n  host: {}\n  username: elastic\n  password: changeme\n\
             service:\n  idling: 0.5\n  preflight_max_attempts: 3\n  preflight_idle: 0.5\n\
             plugins:\n  cache_dir: {}\n  mysql:\n    enabled: true\n    allowed_hosts: [\"127.0.0.1:3306\"]\n  redis:\n    enabled: true\n\
             connectors:\n  - connector_id: {CONNECTOR}\n    service_type: mysql\n",
            sim.url(),
            plugin_cache_dir().display()
        ),
    )
    .expect("writing config.yml");
    let host = work.run("tributary", &config);
    let connector = wait_for(
        Duration::from_secs(120),
        "the connector to be needs_configuration with a schema",
        || {
            let c = es.connector(CONNECTOR);
            (c["status"] == "needs_configuration"
                && c["configuration"]
                    .as_object()
                    .is_some_and(|m| !m.is_empty()))
            .then_some(c)
        },
    );
    let conf = connector["configuration"]
        .as_object()
        .expect("configuration");
    let mut keys: Vec<(&String, i64)> = conf
        .iter()
        .map(|(k, v)| (k, v["order"].as_i64().unwrap_or(-1)))
        .collect();
    keys.sort_by_key(|(_, o)| *o);
    let ordered: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        ordered,
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
    es.configure(CONNECTOR, db.values("album,artist"));
    let job_id = es.create_full_job(CONNECTOR);
    let job = es.wait_job(
        &job_id,
        &["completed", "error", "canceled"],
        Duration::from_secs(180),
    );
    assert_eq!(
        job["status"],
        "completed",
        "job: {job}\n{}",
        host.log_tail(40)
    );
    assert_eq!(job["indexed_document_count"], 622, "job: {job}");
    assert_eq!(es.count(INDEX), 622);
    let album = es.doc(INDEX, "album_1").expect("album_1 indexed");
    assert_eq!(album["title"], "For Those About To Rock We Salute You");
    assert_eq!(album["Table"], "album");
    let artist = es.doc(INDEX, "artist_275").expect("artist_275 indexed");
    assert_eq!(artist["name"], "Philip Glass Ensemble");
    assert!(
        !host.log().contains(PASSWORD),
        "the password never reaches a log"
    );
}

// ---------------------------------------------------------------- Redis

/// Runs `redis-cli -n <db> <args…>`; the output.
fn redis_cli(db: u32, args: &[&str]) -> String {
    assert!(
        (11..=13).contains(&db),
        "these tests own Redis databases 11-13 only"
    );
    let out = Command::new("redis-cli")
        .arg("-n")
        .arg(db.to_string())
        .args(args)
        .output()
        .expect("running redis-cli (is Redis installed?)");
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn md5_hex(s: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("md5sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(s.as_bytes())
        .expect("writing");
    let out = child.wait_with_output().expect("md5sum output");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string()
}

/// Database `db` flushed and filled with one key of every type.
fn fill_redis(db: u32) {
    redis_cli(db, &["FLUSHDB"]);
    redis_cli(db, &["SET", "s:plain", "hello 'world'"]);
    redis_cli(
        db,
        &["SET", "s:json", r#"{"a": [1, 2.5, null], "b": true}"#],
    );
    redis_cli(db, &["SET", "s:num", "42"]);
    redis_cli(db, &["RPUSH", "l:items", "x", "y", "z"]);
    redis_cli(db, &["SADD", "set:one", "only"]);
    redis_cli(db, &["ZADD", "z:scores", "1", "a", "2.5", "b"]);
    redis_cli(db, &["HSET", "h:user", "name", "Ada", "lang", "en"]);
    redis_cli(
        db,
        &["XADD", "x:events", "1700000000000-0", "kind", "login"],
    );
}

fn redis_values(db: &str) -> Value {
    json!({"host": "127.0.0.1", "port": 6379, "username": "", "password": "",
           "database": db, "ssl_enabled": false, "mutual_tls_enabled": false,
           "tls_certfile": "", "tls_keyfile": ""})
}

fn redis_grant_config() -> PathBuf {
    let p = std::env::temp_dir().join(format!("{}.yml", unique("redisgrant")));
    std::fs::write(&p, "plugins:\n  redis:\n    enabled: true\n").expect("writing config.yml");
    p
}

#[test]
fn redis_keys_of_every_type_with_elastic_ids_and_values() {
    fill_redis(12);
    let cfg = redis_grant_config();
    let r = run_extract_of("redis", &redis_values("12"), Some(&cfg));
    assert!(r.ok, "extract failed: {}", r.stderr);
    let docs: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(docs.len(), 8, "{}", r.stdout);
    let doc = |key: &str| -> Value {
        let d = docs
            .iter()
            .find(|d| d["key"] == key)
            .unwrap_or_else(|| panic!("no document for {key}"));
        assert_eq!(
            d["_id"],
            md5_hex(&format!("12/{key}")),
            "Elastic's id for {key}"
        );
        assert_eq!(d["database"], "12");
        assert!(d["size_in_bytes"].as_u64().is_some_and(|n| n > 0), "{d}");
        d.clone()
    };
    let expect = [
        ("s:plain", "string", "hello 'world'"),
        ("s:json", "string", "{'a': [1, 2.5, None], 'b': True}"),
        ("s:num", "string", "42"),
        ("l:items", "list", "['x', 'y', 'z']"),
        ("set:one", "set", "{'only'}"),
        ("z:scores", "zset", "[('a', 1.0), ('b', 2.5)]"),
        ("h:user", "hash", "{'name': 'Ada', 'lang': 'en'}"),
        (
            "x:events",
            "stream",
            "[['x:events', [('1700000000000-0', {'kind': 'login'})]]]",
        ),
    ];
    for (key, key_type, value) in expect {
        let d = doc(key);
        assert_eq!(d["key_type"], key_type, "{d}");
        assert_eq!(d["value"], value, "{d}");
    }
    // Without the operator's grant the plugin is refused at load.
    let ungranted = run_extract_of("redis", &redis_values("12"), None);
    assert!(!ungranted.ok);
    assert!(
        ungranted.stderr.contains("plugins.redis.enabled"),
        "{}",
        ungranted.stderr
    );
    redis_cli(12, &["FLUSHDB"]);
    let _ = std::fs::remove_file(&cfg);
}

#[test]
fn tutorial_flow_with_service_type_redis() {
    const CONNECTOR: &str = "my-redis-connector";
    const INDEX: &str = "cache-redis";
    fill_redis(13);
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let work = Workdir::new();
    es.ok(
        "PUT",
        &format!("/_connector/{CONNECTOR}"),
        Some(json!({"name": "Cache (Redis)", "index_name": INDEX, "service_type": "redis"})),
    );
    let config = work.path("config.yml");
    std::fs::write(
        &config,
        format!(
            "elasticsearch:\n  host: {}\n  username: elastic\n  password: changeme\n\
             service:\n  idling: 0.5\n  preflight_max_attempts: 3\n  preflight_idle: 0.5\n\
             plugins:\n  cache_dir: {}\n  redis:\n    enabled: true\n    allowed_hosts: [\"127.0.0.1:6379\"]\n  mysql:\n    enabled: true\n\
             connectors:\n  - connector_id: {CONNECTOR}\n    service_type: redis\n",
            sim.url(),
            plugin_cache_dir().display()
        ),
    )
    .expect("writing config.yml");
    let host = work.run("tributary", &config);
    wait_for(
        Duration::from_secs(120),
        "the connector to be needs_configuration with a schema",
        || {
            let c = es.connector(CONNECTOR);
            (c["status"] == "needs_configuration"
                && c["configuration"]
                    .as_object()
                    .is_some_and(|m| !m.is_empty()))
            .then_some(c)
        },
    );
    es.configure(CONNECTOR, redis_values("13"));
    let job_id = es.create_full_job(CONNECTOR);
    let job = es.wait_job(
        &job_id,
        &["completed", "error", "canceled"],
        Duration::from_secs(180),
    );
    assert_eq!(
        job["status"],
        "completed",
        "job: {job}\n{}",
        host.log_tail(40)
    );
    assert_eq!(job["indexed_document_count"], 8, "job: {job}");
    assert_eq!(es.count(INDEX), 8);
    let id = md5_hex("13/h:user");
    let d = es.doc(INDEX, &id).expect("h:user indexed");
    assert_eq!(d["value"], "{'name': 'Ada', 'lang': 'en'}");
    assert_eq!(d["key_type"], "hash");
    redis_cli(13, &["FLUSHDB"]);
}
