//! The capability against the real MariaDB on this machine: a database this test
//! creates (as root over the local socket) and drops, read over TCP as a
//! SELECT-only user with a password. Nothing is skipped: no server, no test.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Map, Value};
use tributary_capability_mysql::{MysqlGrant, MysqlPolicy, MysqlSession, Param};
use tributary_codec::{Decoder, Value as V};

const USER: &str = "trib_h12";
const PASSWORD: &str = "trib_h12_pw";

/// Runs SQL as root over the local socket (`mysql -uroot`).
fn root_sql(sql: &str) {
    let out = Command::new("mysql")
        .args(["-uroot", "--protocol=socket", "-e", sql])
        .output()
        .expect("running the mysql client (is MariaDB installed?)");
    assert!(
        out.status.success(),
        "mysql failed: {}\n{sql}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A database of its own, dropped at the end; the reading user can SELECT only.
struct Db(String);

impl Db {
    fn new(setup: &str) -> Db {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "trib_h12_cap_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        root_sql(&format!(
            "CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; \
             GRANT SELECT, SHOW VIEW ON `trib\\_h12\\_%`.* TO '{USER}'@'127.0.0.1'; \
             DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`; USE `{name}`; {setup}"
        ));
        Db(name)
    }

    fn values(&self) -> Map<String, Value> {
        let v = json!({"host": "127.0.0.1", "port": 3306, "user": USER, "password": PASSWORD,
                       "database": self.0, "ssl_enabled": false});
        v.as_object().cloned().unwrap_or_default()
    }

    fn grant(&self, policy: MysqlPolicy) -> MysqlGrant {
        MysqlGrant::new(self.values(), policy)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        root_sql(&format!("DROP DATABASE IF EXISTS `{}`", self.0));
    }
}

fn enabled() -> MysqlPolicy {
    MysqlPolicy {
        enabled: true,
        ..MysqlPolicy::default()
    }
}

/// Every row of a result, each value rendered for comparison.
async fn all(rows: &mut tributary_capability_mysql::MysqlRows) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    while let Some((n, data)) = rows.next(7).await.expect("next batch") {
        assert!(n <= 7, "a batch holds at most max-rows rows");
        let mut dec = Decoder::new(&data).expect("valid batch");
        let mut row = Vec::new();
        while dec.next_row(&mut row).expect("row") {
            out.push(row.iter().map(render).collect());
        }
    }
    out
}

fn render(v: &V<'_>) -> String {
    match v {
        V::Null => "NULL".into(),
        V::Int8(i) => format!("int:{i}"),
        V::Float4(f) => format!("float4:{f}"),
        V::Float8(f) => format!("float8:{f}"),
        V::Numeric(s) => format!("numeric:{s}"),
        V::Text(s) => format!("text:{s}"),
        V::Bytea(b) => format!("bytes:{b:?}"),
        V::Json(s) => format!("json:{s}"),
        V::Date(d) => format!("date:{d}"),
        V::Time(t) => format!("time:{t}"),
        V::Timestamp(t) => format!("timestamp:{t}"),
        V::Array(a) => format!(
            "array:{}",
            a.elements.iter().map(render).collect::<Vec<_>>().join("|")
        ),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_scan_and_every_type() {
    let db = Db::new(
        "CREATE TABLE t (
            id BIGINT UNSIGNED PRIMARY KEY, i TINYINT, m MEDIUMINT UNSIGNED, d DECIMAL(40,10),
            f FLOAT, g DOUBLE, b BIT(12), j JSON, s SET('a','b','c'), e ENUM('x','y'),
            v VARCHAR(20), bl BLOB, bi VARBINARY(4), dt DATE, dtt DATETIME(6), ts TIMESTAMP NULL,
            tm TIME, y YEAR);
         INSERT INTO t VALUES
           (18446744073709551615, -128, 16777215, 123456789012345678901234567890.0123456789,
            1.5, 0.1, b'101000000001', '{\"a\": [1, 2.50, {\"b\": null}]}', 'a,c', 'y',
            'héllo', x'00ff10', x'cafe', '2024-02-29', '2024-02-29 13:14:15.123456',
            '2024-01-01 00:00:01', '-838:59:59', 2024),
           (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, '12:30:00', NULL);
         CREATE TABLE nopk (x INT); CREATE VIEW w AS SELECT id FROM t;",
    );
    let grant = db.grant(enabled());
    let mut s = MysqlSession::connect(&grant).await.expect("connect");
    assert_eq!(s.info().database, db.0);
    assert!(s.info().server_version.contains("MariaDB"));
    let tables: Vec<String> = s
        .list_tables(false)
        .await
        .expect("tables")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(tables, ["nopk", "t"]);
    assert_eq!(s.list_tables(true).await.expect("all").len(), 3);
    assert_eq!(s.primary_key("t").await.expect("pk"), ["id"]);
    assert!(s.primary_key("nopk").await.expect("pk").is_empty());

    let mut rows = s.scan("t", &["id".to_string()]).await.expect("scan");
    let types: Vec<String> = rows.columns().into_iter().map(|c| c.type_name).collect();
    assert_eq!(types[0], "bigint unsigned");
    assert_eq!(
        types[7], "json",
        "MariaDB's JSON is found through its check constraint"
    );
    assert_eq!(types[8], "set");
    let got = all(&mut rows).await;
    drop(rows);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0],
        [
            "int:1",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "array:",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "time:12:30:00",
            "NULL"
        ]
    );
    assert_eq!(
        got[1],
        [
            "numeric:18446744073709551615",
            "int:-128",
            "int:16777215",
            "numeric:123456789012345678901234567890.0123456789",
            "float4:1.5",
            "float8:0.1",
            "int:2561",
            "json:{\"a\": [1, 2.50, {\"b\": null}]}",
            "array:text:a|text:c",
            "text:y",
            "text:héllo",
            "bytes:[0, 255, 16]",
            "bytes:[202, 254]",
            "date:2024-02-29",
            "timestamp:2024-02-29T13:14:15.123456",
            "timestamp:2024-01-01T00:00:01",
            "text:-838:59:59",
            "int:2024",
        ]
    );

    // Plugin SQL with a parameter; a server error carries its code.
    let mut q = s
        .query(
            "SELECT id, e FROM t WHERE id < ? ORDER BY id",
            vec![Param::Int(10)],
        )
        .await
        .expect("query");
    assert_eq!(all(&mut q).await, [["int:1", "NULL"]]);
    drop(q);
    let e = s
        .query("SELECT * FROM missing", vec![])
        .await
        .err()
        .expect("no such table");
    assert_eq!(e.code, Some(1146), "{e:?}");
    assert_eq!(e.sqlstate.as_deref(), Some("42S02"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals() {
    // `big` outgrows the capability's read-ahead buffer, so a scan of it is still
    // streaming until the plugin reads it (with `t` alone the check would race).
    let db = Db::new(
        "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1),(2),(3); \
         CREATE TABLE big (id INT PRIMARY KEY); INSERT INTO big SELECT seq FROM seq_1_to_20000;",
    );
    let grant = db.grant(MysqlPolicy {
        max_sessions: 2,
        ..enabled()
    });
    let mut s = MysqlSession::connect(&grant).await.expect("connect");
    for (sql, why) in [
        ("DELETE FROM t", "only SELECT"),
        ("CREATE TABLE x AS SELECT * FROM t", "only SELECT"),
        ("SELECT SLEEP(5)", "not on the allow-list"),
        (
            "SELECT * FROM mysql.user",
            "outside the connector's database",
        ),
        ("SELECT 1; DROP TABLE t", "exactly one statement"),
        ("SELECT * FROM t FOR UPDATE", "locking"),
    ] {
        let e = s.query(sql, vec![]).await.err().expect(sql);
        assert!(
            e.message.starts_with("statement refused") && e.message.contains(why),
            "{sql}: {e}"
        );
    }
    // The table is intact: nothing reached the server.
    let mut rows = s.scan("t", &[]).await.expect("scan");
    assert_eq!(all(&mut rows).await.len(), 3);

    // One result at a time on a session.
    let _open = s.scan("big", &[]).await.expect("scan");
    let busy = refused(s.primary_key("t").await, "busy");
    assert!(busy.message.contains("still streaming"), "{busy}");

    // The session cap.
    let _s2 = MysqlSession::connect(&grant).await.expect("second session");
    let e = refused(MysqlSession::connect(&grant).await, "third session");
    assert!(e.message.contains("plugins.mysql.max_sessions"), "{e}");
    assert_eq!(grant.slots.open(), 2);

    // A host outside the operator's allowlist is never contacted.
    let far = db.grant(MysqlPolicy {
        allowed_hosts: vec!["db.internal:3306".into()],
        ..enabled()
    });
    let e = refused(
        MysqlSession::connect(&far).await,
        "host outside the allowlist",
    );
    assert!(e.message.contains("plugins.mysql.allowed_hosts"), "{e}");

    // A wrong password is the server's error, with its code; the password is not in it.
    let mut values = db.values();
    values.insert("password".into(), json!("wrong-secret"));
    let e = refused(
        MysqlSession::connect(&MysqlGrant::new(values, enabled())).await,
        "wrong password",
    );
    assert_eq!(e.code, Some(1045), "{e:?}");
    assert!(!e.message.contains("wrong-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_time_limit_and_read_only() {
    let db = Db::new(
        "CREATE TABLE t (id INT PRIMARY KEY); \
         INSERT INTO t SELECT seq FROM seq_1_to_400;",
    );
    let grant = db.grant(MysqlPolicy {
        statement_timeout_ms: 200,
        ..enabled()
    });
    let mut s = MysqlSession::connect(&grant).await.expect("connect");
    let mut rows = s
        .query(
            "SELECT COUNT(*) FROM t a, t b, t c WHERE a.id + b.id > c.id",
            vec![],
        )
        .await
        .expect("starts");
    let mut failed = None;
    loop {
        match rows.next(10).await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let e = failed.expect("the statement is stopped by the time limit");
    assert_eq!(e.code, Some(1969), "{e:?}");
    assert!(
        e.message.contains("plugins.mysql.statement_timeout_ms"),
        "{e}"
    );
}

/// The error of a call that must be refused (its success value has no `Debug`).
fn refused<T, E>(r: Result<T, E>, what: &str) -> E {
    match r {
        Ok(_) => panic!("{what}: expected a refusal, got success"),
        Err(e) => e,
    }
}
