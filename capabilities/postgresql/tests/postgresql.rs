//! Against the real local PostgreSQL (127.0.0.1:5432, trust auth, user postgres).
//! Each test creates its own database and drops it; a PostgreSQL that is down fails
//! the tests loudly.

use serde_json::json;
use std::time::Duration;
use tokio_postgres::Client;
use tributary_capability_postgresql::{
    host_allowed, Each, Param, PgError, PgGrant, PgPolicy, PgRows, PgSession, Relation,
    RelationKind,
};
use tributary_codec::{Decoder, Value as V};

const PG_HOST: &str = "127.0.0.1";

async fn admin(db: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(
        &format!("host={PG_HOST} port=5432 user=postgres dbname={db}"),
        NoTls,
    )
    .await
    .unwrap_or_else(|e| {
        panic!("PostgreSQL must run on {PG_HOST}:5432 (trust auth, user postgres): {e}")
    });
    tokio::spawn(conn);
    client
}

use tokio_postgres::NoTls;

/// A database of this test's own, dropped when the guard goes.
struct TestDb {
    name: String,
}

impl TestDb {
    async fn new(tag: &str, setup: &str) -> TestDb {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("trib_cap_{tag}_{}_{nanos}", std::process::id());
        admin("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        if !setup.is_empty() {
            admin(&name)
                .await
                .batch_execute(setup)
                .await
                .expect("setup");
        }
        TestDb { name }
    }

    fn values(&self) -> serde_json::Map<String, serde_json::Value> {
        let values = json!({"host": PG_HOST, "port": 5432, "username": "postgres", "password": "",
                            "database": self.name, "ssl_enabled": false, "ssl_ca": ""});
        values.as_object().cloned().unwrap_or_default()
    }

    fn grant(&self, policy: PgPolicy) -> PgGrant {
        PgGrant::new(self.values(), policy)
    }

    fn grant_with(
        &self,
        edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> PgGrant {
        let mut v = self.values();
        edit(&mut v);
        PgGrant::new(v, PgPolicy::default())
    }

    async fn session(&self) -> PgSession {
        PgSession::connect(&self.grant(PgPolicy::default()))
            .await
            .expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop from a fresh runtime thread: Drop cannot await.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    let c = admin("postgres").await;
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                });
            }
        })
        .join();
    }
}

/// All rows of a query, decoded, with owned copies for comparison.
async fn all_rows(
    s: &mut PgSession,
    sql: &str,
    params: Vec<Param>,
) -> Result<Vec<Vec<String>>, PgError> {
    let mut rows = s.query(sql, params).await?;
    let mut out = Vec::new();
    while let Some((n, bytes)) = rows.next(1000).await? {
        let decoded = Decoder::decode_all(&bytes).expect("decodes");
        assert_eq!(decoded.len(), n as usize);
        for r in decoded {
            out.push(r.iter().map(|v| format!("{v:?}")).collect());
        }
    }
    Ok(out)
}

fn is_refused(r: Result<PgRows, PgError>) -> bool {
    matches!(r, Err(PgError { sqlstate: None, ref message }) if message.starts_with("statement refused"))
}

/// A table with a column of every type the capability reads, special values, NULLs.
const EVERY_TYPE: &str = "CREATE TYPE mood AS ENUM ('sad', 'happy');
         CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
         CREATE TABLE t (id int PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
            n numeric, tx text, vc varchar(10), c char(3), nm name, by bytea, j json, jb jsonb,
            d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, u uuid, ip inet, net cidr,
            iv interval, ia int4[], ta text[][], m mood, dom posint, o oid, ch \"char\",
            pt point, mo money, rg int4range, pts point[], x xml);
         INSERT INTO t VALUES (1, true, -32768, 2147483647, 9007199254740993, 'NaN', '-Infinity',
            '123456789012345678901234567890.123456789012', 'héllo ''q''', 'v', 'ab', 'nm', '\\x00ff',
            '{\"a\": [1, 2.50]}', '{\"b\": {\"c\": null}}', 'infinity', '23:59:59.999999', '01:02:03+05:30',
            '2024-02-29 12:34:56.5', '2024-01-01 00:00:00+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
            '10.30.0.9/24', '10.0.0.0/8', '1 year 2 mons 3 days 04:05:06.5', '{1,NULL,3}',
            '{{a,b},{c,\"d,e\"}}', 'happy', 7, 4294967295, 'z', '(1,2)', 12.34, '[1,5)', '{\"(1,2)\",\"(3,4)\"}',
            '<a>x</a>');
         INSERT INTO t (id, n, tstz, d) VALUES (2, 'NaN', '-infinity', '-infinity');
         INSERT INTO t (id, n) VALUES (3, '-0.000100');
         INSERT INTO t (id, n) VALUES (4, '100000000');";

#[tokio::test]
async fn every_type_is_encoded_losslessly() {
    let db = TestDb::new("types", EVERY_TYPE).await;
    let mut s = db.session().await;
    let mut rows = s
        .query("SELECT * FROM t ORDER BY id", vec![])
        .await
        .expect("query");
    let cols = rows.columns();
    assert_eq!(cols[0].name, "id");
    assert_eq!(
        cols.iter()
            .find(|c| c.name == "n")
            .map(|c| c.type_name.as_str()),
        Some("numeric")
    );
    let (n, bytes) = rows.next(100).await.expect("fetch").expect("rows");
    assert_eq!(n, 4);
    assert!(rows.next(100).await.expect("end").is_none());
    let all = Decoder::decode_all(&bytes).expect("decode");
    let r = &all[0];
    let col = |name: &str| cols.iter().position(|c| c.name == name).expect("column");
    assert_eq!(r[col("b")], V::Bool(true));
    assert_eq!(r[col("i2")], V::Int2(-32768));
    assert_eq!(r[col("i4")], V::Int4(2147483647));
    assert_eq!(r[col("i8")], V::Int8(9007199254740993));
    assert!(matches!(r[col("f4")], V::Float4(f) if f.is_nan()));
    assert_eq!(r[col("f8")], V::Float8(f64::NEG_INFINITY));
    assert_eq!(
        r[col("n")],
        V::Numeric("123456789012345678901234567890.123456789012")
    );
    assert_eq!(r[col("tx")], V::Text("héllo 'q'"));
    assert_eq!(r[col("c")], V::Text("ab "));
    assert_eq!(r[col("by")], V::Bytea(&[0, 255]));
    assert_eq!(r[col("j")], V::Json("{\"a\": [1, 2.50]}"));
    assert_eq!(r[col("jb")], V::Jsonb("{\"b\": {\"c\": null}}"));
    assert_eq!(r[col("d")], V::Date(Date(i32::MAX)));
    assert_eq!(format!("{}", as_time(&r[col("tm")])), "23:59:59.999999");
    match &r[col("ttz")] {
        V::TimeTz(t) => assert_eq!(t.to_string(), "01:02:03+05:30"),
        v => panic!("timetz: {v:?}"),
    }
    match (&r[col("ts")], &r[col("tstz")]) {
        (V::Timestamp(a), V::TimestampTz(b)) => {
            assert_eq!(a.to_string(), "2024-02-29T12:34:56.500000");
            assert_eq!(b.to_string(), "2023-12-31T22:00:00+00:00");
        }
        v => panic!("timestamps: {v:?}"),
    }
    match &r[col("u")] {
        V::Uuid(u) => assert_eq!(u.to_string(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        v => panic!("uuid: {v:?}"),
    }
    match (&r[col("ip")], &r[col("net")]) {
        (V::Inet(a), V::Inet(b)) => {
            assert_eq!(a.to_string(), "10.30.0.9/24");
            assert_eq!(b.to_string(), "10.0.0.0/8");
            assert!(b.cidr);
        }
        v => panic!("inet: {v:?}"),
    }
    match &r[col("iv")] {
        V::Interval(i) => assert_eq!(i.to_string(), "P1Y2M3DT4H5M6.5S"),
        v => panic!("interval: {v:?}"),
    }
    match &r[col("ia")] {
        V::Array(a) => {
            assert_eq!(a.element, Kind::Int4);
            assert_eq!(a.dims, vec![(3, 1)]);
            assert_eq!(a.elements, vec![V::Int4(1), V::Null, V::Int4(3)]);
        }
        v => panic!("int array: {v:?}"),
    }
    match &r[col("ta")] {
        V::Array(a) => {
            assert_eq!(a.dims, vec![(2, 1), (2, 1)]);
            assert_eq!(
                a.elements,
                vec![V::Text("a"), V::Text("b"), V::Text("c"), V::Text("d,e")]
            );
        }
        v => panic!("text array: {v:?}"),
    }
    assert_eq!(r[col("m")], V::Text("happy"));
    assert_eq!(r[col("dom")], V::Int4(7));
    assert_eq!(r[col("o")], V::Int8(4294967295));
    assert_eq!(r[col("ch")], V::Text("z"));
    assert_eq!(r[col("pt")], V::Other("(1,2)"));
    assert_eq!(r[col("mo")], V::Other("$12.34"));
    assert_eq!(r[col("rg")], V::Other("[1,5)"));
    match &r[col("pts")] {
        V::Array(a) => assert_eq!(a.elements, vec![V::Other("(1,2)"), V::Other("(3,4)")]),
        v => panic!("point array: {v:?}"),
    }
    assert_eq!(r[col("x")], V::Text("<a>x</a>"));
    // Row 2: the special values, and NULLs elsewhere.
    assert_eq!(all[1][col("n")], V::Numeric("NaN"));
    assert_eq!(all[1][col("tstz")], V::TimestampTz(TimestampTz(i64::MIN)));
    assert_eq!(all[1][col("d")], V::Date(Date(i32::MIN)));
    assert_eq!(all[1][col("b")], V::Null);
    assert_eq!(all[2][col("n")], V::Numeric("-0.000100"));
    assert_eq!(all[3][col("n")], V::Numeric("100000000"));
}

#[tokio::test]
async fn rows_read_from_the_wire_equal_the_codec_batches() {
    // Beyond EVERY_TYPE: a high-bit "char" and a numeric array (values the
    // direct path builds rather than borrows).
    let setup = format!(
        "{EVERY_TYPE}
         ALTER TABLE t ADD COLUMN na numeric[];
         INSERT INTO t (id, ch, na, tx) VALUES (5, 'é', '{{1.50,NULL,NaN,-0.001}}', NULL);"
    );
    let db = TestDb::new("each", &setup).await;
    let mut s = db.session().await;
    let sql = "SELECT * FROM t ORDER BY id";
    let mut codec = Vec::new();
    let mut rows = s.query(sql, vec![]).await.expect("query");
    while let Some((_, bytes)) = rows.next(2).await.expect("fetch") {
        for r in Decoder::decode_all(&bytes).expect("decode") {
            codec.push(format!("{r:?}"));
        }
    }
    drop(rows);
    let mut direct = Vec::new();
    let mut batches = Vec::new();
    let mut rows = s.query(sql, vec![]).await.expect("query");
    while let Some(n) = rows
        .next_each(2, |r| {
            direct.push(format!("{r:?}"));
            Ok::<(), ()>(())
        })
        .await
        .expect("fetch")
    {
        batches.push(n);
    }
    assert_eq!(batches, vec![2, 2, 1]);
    assert_eq!(direct, codec);
    assert!(direct[4].contains("Text(\"\\\\303\")"), "{}", direct[4]);
    assert!(direct[4].contains("Numeric(\"1.50\"), Null, Numeric(\"NaN\"), Numeric(\"-0.001\")"));

    // The host writes `jsonb` as PostgreSQL sends it (WIT `shaping`): whatever
    // whitespace the input had, the server's text is one value on one line.
    let mut rows = s
        .query(
            "SELECT E'{\\n  \"k\": \"a\\\\nb\",\\n  \"n\": [1,\\n\\t2]\\n}'::jsonb AS j",
            vec![],
        )
        .await
        .expect("query");
    let mut jsonb = Vec::new();
    rows.next_each(10, |r| {
        jsonb.push(format!("{:?}", r[0]));
        Ok::<(), ()>(())
    })
    .await
    .expect("fetch");
    assert_eq!(jsonb, [r#"Jsonb("{\"k\": \"a\\nb\", \"n\": [1, 2]}")"#]);

    // The caller's error stops the batch and comes back as it was given.
    let mut rows = s.query(sql, vec![]).await.expect("query");
    let stopped = rows.next_each(10, |_| Err("no")).await;
    assert!(matches!(stopped, Err(Each::Stopped("no"))), "{stopped:?}");
}

fn as_time(v: &V<'_>) -> String {
    match v {
        V::Time(t) => t.to_string(),
        v => panic!("time: {v:?}"),
    }
}

use tributary_codec::{Date, Kind, TimestampTz};

#[tokio::test]
async fn numeric_text_matches_postgresql() {
    let db = TestDb::new("numeric", "").await;
    let mut s = db.session().await;
    let cases = [
        "0",
        "1",
        "-1",
        "0.5",
        "-0.5",
        "10000",
        "9999.9999",
        "0.00001",
        "1e20",
        "-123.4500",
        "1.000000000000000000001",
        "12345678.87654321",
        "1e-20",
        "Infinity",
        "-Infinity",
        "NaN",
        "0.0000",
    ];
    for c in cases {
        let rows = all_rows(
            &mut s,
            "SELECT $1::text::numeric, $1::text::numeric::text",
            vec![Param::Text(c.into())],
        )
        .await
        .expect(c);
        let expect = format!(
            "Numeric({:?})",
            rows[0][1]
                .trim_start_matches("Text(\"")
                .trim_end_matches("\")")
        );
        assert_eq!(rows[0][0], expect, "numeric {c}");
    }
}

#[tokio::test]
async fn large_table_streams_with_flat_memory() {
    let db = TestDb::new(
        "large",
        "CREATE TABLE big (id int8 PRIMARY KEY, name text, amount numeric);
         INSERT INTO big SELECT g, 'row number ' || g, g / 7.0 FROM generate_series(1, 1000000) g;",
    )
    .await;
    let mut s = db.session().await;
    let rss = || {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .map(str::to_owned)
            })
            .and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let mut rows = s
        .query("SELECT * FROM big ORDER BY id", vec![])
        .await
        .expect("query");
    let start = rss();
    let mut peak = start;
    let (mut count, mut last) = (0u64, 0i64);
    let t = std::time::Instant::now();
    while let Some((_, bytes)) = rows.next(1000).await.expect("fetch") {
        let mut row = Vec::new();
        let mut d = Decoder::new(&bytes).expect("decoder");
        while d.next_row(&mut row).expect("row") {
            count += 1;
            if let V::Int8(id) = row[0] {
                assert_eq!(id, last + 1, "primary-key order");
                last = id;
            }
        }
        peak = peak.max(rss());
    }
    assert_eq!(count, 1_000_000);
    eprintln!(
        "streamed 1M rows in {:?}; RSS start {start} kB, peak {peak} kB",
        t.elapsed()
    );
    // Flat: a buffered 1M-row result would be hundreds of MB.
    assert!(
        peak.saturating_sub(start) < 64 * 1024,
        "RSS grew from {start} kB to {peak} kB"
    );
}

#[tokio::test]
async fn refuses_everything_but_reads() {
    let db = TestDb::new(
        "refuse",
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);
         CREATE SEQUENCE seq;
         CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS 'INSERT INTO t VALUES (2) RETURNING id';",
    )
    .await;
    let mut s = db.session().await;
    for sql in [
        "COMMIT",
        "COMMIT; SET default_transaction_read_only = off",
        "SELECT 1; COMMIT",
        "SET default_transaction_read_only = off",
        "SET statement_timeout = 0",
        "RESET ALL",
        "ROLLBACK",
        "BEGIN READ WRITE",
        "INSERT INTO t VALUES (3)",
        "UPDATE t SET id = 5",
        "DELETE FROM t",
        "DROP TABLE t",
        "CREATE TABLE u (a int)",
        "COPY t TO STDOUT",
        "DO $$ BEGIN INSERT INTO t VALUES (4); END $$",
        "CALL p()",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "SELECT * INTO u FROM t",
        "SELECT * FROM t FOR UPDATE",
        "SELECT set_config('statement_timeout', '0', false)",
        "SELECT 'x'; COMMIT",
        "SELECT $$x$$; COMMIT",
    ] {
        assert!(is_refused(s.query(sql, vec![]).await), "accepted {sql:?}");
    }
    // Functions outside the allow-list never reach the server, built-in or not.
    for sql in [
        "SELECT sneaky()",
        "SELECT nextval('seq')",
        "SELECT public.sneaky()",
    ] {
        let e = s.query(sql, vec![]).await.err().expect("refused");
        assert!(
            e.message.starts_with("statement refused: function"),
            "{sql}: {e:?}"
        );
    }
    // And the session is still read only and usable.
    let r = all_rows(&mut s, "SELECT count(*) FROM t", vec![]).await;
    assert_eq!(r.expect("usable"), vec![vec!["Int8(1)".to_string()]]);
}

#[tokio::test]
async fn statement_timeout_applies() {
    let db = TestDb::new("timeout", "").await;
    let policy = PgPolicy {
        statement_timeout_ms: 300,
        ..PgPolicy::default()
    };
    let mut s = PgSession::connect(&db.grant(policy))
        .await
        .expect("connect");
    let t = std::time::Instant::now();
    let e = all_rows(
        &mut s,
        "SELECT count(*) FROM generate_series(1, 10000000000)",
        vec![],
    )
    .await
    .expect_err("times out");
    assert_eq!(e.sqlstate.as_deref(), Some("57014"), "{e:?}");
    assert!(e.message.starts_with("statement timeout"), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(3));
    // The savepoint keeps the session usable after the error.
    assert_eq!(
        all_rows(&mut s, "SELECT 1", vec![])
            .await
            .expect("usable")
            .len(),
        1
    );
}

#[tokio::test]
async fn server_errors_carry_sqlstate() {
    let db = TestDb::new("sqlstate", "CREATE TABLE t (id int PRIMARY KEY)").await;
    let mut s = db.session().await;
    let e = s
        .query("SELECT * FROM missing_table", vec![])
        .await
        .err()
        .expect("missing table");
    assert_eq!(e.sqlstate.as_deref(), Some("42P01"));
    assert!(e.message.contains("missing_table"), "{}", e.message);
    let e = all_rows(&mut s, "SELECT 1/0", vec![])
        .await
        .expect_err("division by zero");
    assert_eq!(e.sqlstate.as_deref(), Some("22012"));
    let e = s.query("SELEC 1", vec![]).await.err().expect("syntax");
    assert!(e.message.starts_with("statement refused"), "{e:?}");
    let e = s
        .query("SELECT FROM WHERE", vec![])
        .await
        .err()
        .expect("syntax");
    assert!(e.message.contains("does not parse"), "{e:?}");
    // An error the parser cannot see comes from the server, with its SQLSTATE.
    let e = s
        .query("SELECT no_such_column FROM t", vec![])
        .await
        .err()
        .expect("undefined column");
    assert_eq!(e.sqlstate.as_deref(), Some("42703"));
    assert_eq!(
        all_rows(&mut s, "SELECT count(*) FROM t", vec![])
            .await
            .expect("usable")
            .len(),
        1
    );
}

#[tokio::test]
async fn parameters_bind_to_inferred_types() {
    let db = TestDb::new(
        "params",
        "CREATE TABLE t (id int4 PRIMARY KEY, small int2, name text, j jsonb)",
    )
    .await;
    admin(&db.name)
        .await
        .batch_execute("INSERT INTO t VALUES (1, 2, 'a', '{\"k\":1}'), (2, 3, 'b', null)")
        .await
        .expect("rows");
    let mut s = db.session().await;
    let r = all_rows(
        &mut s,
        "SELECT id, name FROM t WHERE id = $1 AND small = $2 AND name = $3 AND j = $4 AND $5::bool",
        vec![
            Param::Int(1),
            Param::Int(2),
            Param::Text("a".into()),
            Param::Text("{\"k\": 1}".into()),
            Param::Bool(true),
        ],
    )
    .await
    .expect("query");
    assert_eq!(
        r,
        vec![vec!["Int4(1)".to_string(), "Text(\"a\")".to_string()]]
    );
    let r = all_rows(
        &mut s,
        "SELECT $1::float8 * 2, $2::text IS NULL",
        vec![Param::Float(1.5), Param::Null],
    )
    .await;
    assert_eq!(
        r.expect("query"),
        vec![vec!["Float8(3.0)".to_string(), "Bool(true)".to_string()]]
    );
    let e = s
        .query("SELECT $1::int", vec![])
        .await
        .err()
        .expect("missing parameter");
    assert!(e.message.contains("parameters"), "{e:?}");
    let e = s
        .query("SELECT $1::int", vec![Param::Int(1 << 40)])
        .await
        .err()
        .expect("out of range");
    assert!(e.message.contains("cannot be sent"), "{e:?}");
}

#[tokio::test]
async fn allowlist_refuses_other_targets() {
    let db = TestDb::new("allow", "").await;
    let deny = PgPolicy {
        allowed_hosts: vec!["db.example.com".into(), "127.0.0.1:6543".into()],
        ..PgPolicy::default()
    };
    let e = PgSession::connect(&db.grant(deny))
        .await
        .expect_err("refused");
    assert!(e.message.contains("not allowed"), "{e:?}");
    let allow = PgPolicy {
        allowed_hosts: vec!["127.0.0.1:5432".into()],
        ..PgPolicy::default()
    };
    PgSession::connect(&db.grant(allow)).await.expect("allowed");
    assert!(host_allowed(&[], "anything", 1));
    assert!(host_allowed(
        &["*.corp.example".into()],
        "pg.corp.example",
        5432
    ));
    assert!(!host_allowed(
        &["*.corp.example".into()],
        "corp.example.evil",
        5432
    ));
    assert!(host_allowed(
        &["PG.Example.com".into()],
        "pg.example.com",
        5433
    ));
    assert!(host_allowed(&["[::1]:5432".into()], "::1", 5432));
    assert!(!host_allowed(&["[::1]:5432".into()], "::1", 5433));
}

#[tokio::test]
async fn bad_configuration_is_reported() {
    let db = TestDb::new("badcfg", "").await;
    let g = db.grant_with(|v| {
        v.remove("host");
    });
    assert!(PgSession::connect(&g)
        .await
        .expect_err("no host")
        .message
        .contains("'host'"));
    let g = db.grant_with(|v| {
        v.insert("database".into(), json!("trib_no_such_database"));
    });
    let e = PgSession::connect(&g).await.expect_err("no database");
    assert_eq!(e.sqlstate.as_deref(), Some("3D000"));
    let g = db.grant_with(|v| {
        v.insert("ssl_enabled".into(), json!(true));
        v.insert("ssl_ca".into(), json!("not a pem"));
    });
    assert!(PgSession::connect(&g)
        .await
        .expect_err("bad pem")
        .message
        .contains("ssl_ca"));
}

#[tokio::test]
async fn lost_connection_is_an_error_not_the_end() {
    let db = TestDb::new(
        "lost",
        "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100000) g",
    )
    .await;
    let mut s = db.session().await;
    let pid = backends(&db.name).await[0];
    let mut rows = s
        .query("SELECT id FROM t ORDER BY id", vec![])
        .await
        .expect("query");
    assert!(rows.next(1000).await.expect("first batch").is_some());
    admin("postgres")
        .await
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .expect("terminate");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut saw_error = false;
    for _ in 0..200 {
        match rows.next(1000).await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => {
                saw_error = true;
                break;
            }
        }
    }
    assert!(saw_error, "a lost connection ended the rows silently");
}

#[tokio::test]
async fn duplicate_column_names_and_fallback_casts_coexist() {
    let db = TestDb::new("dup", "").await;
    let mut s = db.session().await;
    let mut rows = s
        .query(
            "SELECT 1 AS a, '(1,2)'::point AS a, 'x' AS b -- comment",
            vec![],
        )
        .await
        .expect("query");
    let names: Vec<String> = rows.columns().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["a", "a", "b"]);
    let (_, bytes) = rows.next(10).await.expect("fetch").expect("row");
    assert_eq!(
        Decoder::decode_all(&bytes).expect("decode")[0],
        vec![V::Int4(1), V::Other("(1,2)"), V::Text("x")]
    );
}

#[tokio::test]
async fn changing_batch_sizes_keeps_every_row_once() {
    let db = TestDb::new("sizes", "").await;
    let mut s = db.session().await;
    let mut rows = s
        .query("SELECT g FROM generate_series(1, 2500) g", vec![])
        .await
        .expect("query");
    let mut seen = Vec::new();
    for n in [1000, 300, 1, 5000, 7, 1000] {
        match rows.next(n).await.expect("fetch") {
            Some((k, bytes)) => {
                assert!(k <= n, "asked {n}, got {k}");
                for r in Decoder::decode_all(&bytes).expect("decode") {
                    if let V::Int4(g) = r[0] {
                        seen.push(g);
                    }
                }
            }
            None => break,
        }
    }
    assert_eq!(seen, (1..=2500).collect::<Vec<i32>>());
    assert!(rows.next(10).await.expect("end").is_none());
}

/// Backends of the capability (application_name `tributary`) connected to `db`.
async fn backends(db: &str) -> Vec<i32> {
    let rows = admin("postgres")
        .await
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tributary' ORDER BY pid",
            &[&db],
        )
        .await
        .expect("pg_stat_activity");
    rows.iter().map(|r| r.get(0)).collect()
}

/// Backends of `db` still running a statement (not idle).
async fn active(db: &str) -> usize {
    admin("postgres")
        .await
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tributary' AND state = 'active'",
            &[&db],
        )
        .await
        .expect("pg_stat_activity")
        .len()
}

#[tokio::test]
async fn structured_calls_need_no_plugin_sql() {
    let db = TestDb::new(
        "structured",
        "CREATE TABLE b (k2 int, k1 text, v text, PRIMARY KEY (k1, k2));
         INSERT INTO b VALUES (2, 'a', 'x'), (1, 'a', 'y'), (1, 'b', 'z');
         CREATE TABLE \"we\"\"ird\" (id int PRIMARY KEY);
         CREATE VIEW v AS SELECT 1 AS one;
         CREATE TABLE nokey (a int);",
    )
    .await;
    let mut s = db.session().await;
    let info = s.info();
    assert_eq!(info.database, db.name);
    assert!(tributary_codec_iso(&info.started_at), "{info:?}");
    let names = |r: Vec<Relation>| r.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_tables("public", false).await.expect("tables")),
        ["b", "nokey", "we\"ird"]
    );
    let all = s.list_tables("public", true).await.expect("with views");
    assert!(all
        .iter()
        .any(|r| r.name == "v" && r.kind == RelationKind::View));
    assert_eq!(
        s.primary_key("public", "b").await.expect("pk"),
        ["k1", "k2"]
    );
    assert!(s
        .primary_key("public", "nokey")
        .await
        .expect("pk")
        .is_empty());
    let mut rows = s
        .scan("public", "b", &["k1".into(), "k2".into()])
        .await
        .expect("scan");
    let (_, bytes) = rows.next(10).await.expect("fetch").expect("rows");
    let got: Vec<String> = Decoder::decode_all(&bytes)
        .expect("decode")
        .iter()
        .map(|r| format!("{:?}", r[2]))
        .collect();
    assert_eq!(got, ["Text(\"y\")", "Text(\"x\")", "Text(\"z\")"]);
    // Identifiers are quoted by the host: a hostile name is only a missing table.
    let e = s
        .scan("public", "b\"; DROP TABLE b; --", &[])
        .await
        .err()
        .expect("no such table");
    assert_eq!(e.sqlstate.as_deref(), Some("42P01"), "{e:?}");
    s.scan("public", "we\"ird", &["id".into()])
        .await
        .expect("quoted name");
    // Without track_commit_timestamp (the default) there is no commit time.
    assert_eq!(
        s.last_commit_time("public", &["b".into()])
            .await
            .expect("ts"),
        None
    );
}

fn tributary_codec_iso(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[10] == b'T' && s.ends_with("+00:00")
}

#[tokio::test]
async fn sessions_are_capped_per_job() {
    let db = TestDb::new("cap", "").await;
    let grant = db.grant(PgPolicy {
        max_sessions: 2,
        ..PgPolicy::default()
    });
    let a = PgSession::connect(&grant).await.expect("first");
    let b = PgSession::connect(&grant.clone()).await.expect("second");
    let e = PgSession::connect(&grant).await.expect_err("third refused");
    assert!(e.message.starts_with("session limit reached"), "{e:?}");
    assert_eq!(grant.slots.open(), 2);
    drop(a);
    let _c = PgSession::connect(&grant).await.expect("a slot was freed");
    drop(b);
    // Another job has its own slots.
    let other = db.grant(PgPolicy::default());
    let _d = PgSession::connect(&other).await.expect("another job");
}

#[tokio::test]
async fn no_statement_outlives_its_session() {
    let db = TestDb::new("cancel", "").await;
    let heavy = "SELECT count(*) FROM generate_series(1, 100000000000)";
    // The host gave up on the call: the statement is cancelled on the server.
    let grant = db.grant(PgPolicy::default());
    let mut s = PgSession::connect(&grant).await.expect("connect");
    let mut rows = s.query(heavy, vec![]).await.expect("declare");
    let gave_up = tokio::time::timeout(Duration::from_millis(500), rows.next(10)).await;
    assert!(gave_up.is_err(), "the statement should still run");
    wait_until_idle(&db.name, || active(&db.name), 1).await;
    grant.cancel_running();
    wait_until_idle(&db.name, || active(&db.name), 0).await;
    // The session is dropped while a statement runs: cancelled as well.
    let grant = db.grant(PgPolicy::default());
    let mut s2 = PgSession::connect(&grant).await.expect("connect");
    let mut rows2 = s2.query(heavy, vec![]).await.expect("declare");
    let _ = tokio::time::timeout(Duration::from_millis(500), rows2.next(10)).await;
    drop(rows2);
    drop(s2);
    drop(rows);
    drop(s);
    wait_until_idle(&db.name, || active(&db.name), 0).await;
}

async fn wait_until_idle<F, Fut>(db: &str, count: F, want: usize)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut last = usize::MAX;
    for _ in 0..100 {
        last = count().await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{db}: {last} active statements, wanted {want}");
}

#[tokio::test]
async fn hostile_sql_is_refused_over_a_superuser_session() {
    let db = TestDb::new("hostile", "CREATE TABLE t (id int PRIMARY KEY)").await;
    let mut s = db.session().await;
    for sql in [
        "SELECT word FROM ts_stat($q$SELECT to_tsvector('simple', pg_read_file('/etc/passwd'))$q$)",
        "SELECT query_to_xml('select 1', true, true, '')",
        "SELECT set_config('statement_timeout', '0', false)",
        "SELECT pg_try_advisory_lock(1)",
        "SELECT pg_create_physical_replication_slot('tributary_evil')",
        "SELECT pg_stat_reset()",
        "SELECT rolpassword FROM pg_authid",
        "SELECT passwd FROM pg_shadow",
        "SELECT * FROM pg_ls_waldir()",
        "SELECT E'x'\n'\\'', set_config('a.b', 'c', false) AS y --'",
        "SELECT lo_import('/etc/passwd')",
    ] {
        let e = s.query(sql, vec![]).await.err().expect("refused");
        assert!(e.message.starts_with("statement refused"), "{sql}: {e:?}");
    }
    // Nothing happened on the server, and the session still works.
    let slots = admin("postgres")
        .await
        .query(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'tributary_evil'",
            &[],
        )
        .await
        .expect("slots");
    assert!(slots.is_empty());
    assert_eq!(
        all_rows(&mut s, "SELECT count(*) FROM t", vec![])
            .await
            .expect("usable")
            .len(),
        1
    );
}

// ------------------------------------------------------------------ change data capture

#[path = "support/cluster.rs"]
mod cluster;

use tributary_capability_postgresql::changes::{
    self, Capture, ChangeError, ChangeReader, ChangesGrant, ChangesPolicy,
};

async fn cluster_admin(c: &cluster::Cluster, db: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(&c.conn_str(db), NoTls)
        .await
        .unwrap_or_else(|e| panic!("the test's cluster on port {} must answer: {e}", c.port));
    tokio::spawn(conn);
    client
}

fn cdc_grant(c: &cluster::Cluster, db: &str, connector: &str, max_wal: u64) -> ChangesGrant {
    let values = json!({"host": "127.0.0.1", "port": c.port, "username": "postgres",
                        "password": "", "database": db});
    let pg = PgGrant::new(
        values.as_object().cloned().unwrap_or_default(),
        PgPolicy::default(),
    );
    ChangesGrant::new(
        pg,
        connector,
        ChangesPolicy {
            max_slot_wal_bytes: max_wal,
        },
    )
}

async fn rows_of(rows: &mut PgRows) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    while let Some((_, bytes)) = rows.next(1000).await.expect("rows") {
        for r in Decoder::decode_all(&bytes).expect("decodes") {
            out.push(r.iter().map(|v| format!("{v:?}")).collect());
        }
    }
    out
}

/// Rows decoded to their `Debug` texts.
type Texts = Vec<Vec<String>>;

/// Every change of one read: (table, current rows, deleted keys), in order.
async fn read_all(r: &mut ChangeReader) -> Vec<(String, Texts, Texts)> {
    let mut out = Vec::new();
    while let Some(mut t) = r.next().await.expect("next changes") {
        let up = rows_of(&mut t.upserts).await;
        let del = rows_of(&mut t.deletes).await;
        out.push((t.table, up, del));
    }
    out
}

fn tables(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn changes_since_the_cursor_are_read_again_until_acknowledged() {
    let c = cluster::Cluster::start("cdc-basic", &[]);
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql(
        "shop",
        "CREATE TABLE item (id int PRIMARY KEY, name text); \
         CREATE TABLE other (id int PRIMARY KEY); \
         INSERT INTO item SELECT g, 'n' || g FROM generate_series(1, 10) g",
    );
    let grant = cdc_grant(&c, "shop", "conn-1", 0);
    let capture = Capture::start(&grant).await.expect("capture starts");
    let mut session = capture.session().await.expect("snapshot session");
    let cursor0 = capture.cursor("public", &tables(&["item"]));
    // Committed after the slot exists: the full sync may or may not see it, the slot does.
    let db = cluster_admin(&c, "shop").await;
    db.batch_execute(
        "INSERT INTO item VALUES (11, 'new'); UPDATE item SET name = 'renamed' WHERE id = 2; \
         DELETE FROM item WHERE id = 3; UPDATE item SET id = 12 WHERE id = 4; \
         INSERT INTO other VALUES (1); INSERT INTO item VALUES (13, 'gone'); DELETE FROM item WHERE id = 13",
    )
    .await
    .expect("changes");
    let full = all_rows(&mut session, "SELECT count(*) FROM item", vec![])
        .await
        .expect("count");
    assert_eq!(full.len(), 1);
    drop(session);
    drop(capture);

    let expected_up = vec![
        vec!["Int4(2)".to_string(), "Text(\"renamed\")".into()],
        vec!["Int4(11)".into(), "Text(\"new\")".into()],
        vec!["Int4(12)".into(), "Text(\"n4\")".into()],
    ];
    let mut expected_del = vec![
        vec!["Int4(3)".to_string()],
        vec!["Int4(4)".into()],
        vec!["Int4(13)".into()],
    ];
    expected_del.sort();
    let check = |got: Vec<(String, Texts, Texts)>| {
        assert_eq!(
            got.len(),
            1,
            "one table changed (the other table is not the connector's): {got:?}"
        );
        let (table, up, mut del) = got.into_iter().next().unwrap_or_default();
        del.sort();
        assert_eq!(table, "item");
        assert_eq!(up, expected_up);
        assert_eq!(del, expected_del);
    };
    // Read twice from the same cursor (a crash before Elasticsearch stored the
    // next one): the same changes, nothing consumed.
    for _ in 0..2 {
        let mut r = ChangeReader::open(&grant, Some(&cursor0), "public", &tables(&["item"]))
            .await
            .expect("reader");
        check(read_all(&mut r).await);
        let next: changes::Cursor = serde_json::from_str(&r.cursor()).expect("cursor json");
        let first: changes::Cursor = serde_json::from_str(&cursor0).expect("cursor json");
        assert!(
            changes::Lsn::parse(&next.lsn) > changes::Lsn::parse(&first.lsn),
            "the cursor moves once everything was read: {} → {}",
            first.lsn,
            next.lsn
        );
    }
    let mut r = ChangeReader::open(&grant, Some(&cursor0), "public", &tables(&["item"]))
        .await
        .expect("reader");
    check(read_all(&mut r).await);
    let cursor1 = r.cursor();
    drop(r);
    // Acknowledged when the next sync starts from cursor1: nothing left.
    let mut r = ChangeReader::open(&grant, Some(&cursor1), "public", &tables(&["item"]))
        .await
        .expect("reader");
    assert!(read_all(&mut r).await.is_empty());
    let cursor2 = r.cursor();
    drop(r);
    // The old cursor is behind the slot now: it cannot be trusted.
    let err = ChangeReader::open(&grant, Some(&cursor0), "public", &tables(&["item"]))
        .await
        .expect_err("an acknowledged cursor is refused");
    assert!(matches!(err, ChangeError::SlotPassed { .. }), "{err}");
    assert!(err.to_string().contains("perform a full sync"), "{err}");
    // Idle tables still move the cursor (the host's marker), so the slot holds little WAL.
    let mut r = ChangeReader::open(&grant, Some(&cursor2), "public", &tables(&["item"]))
        .await
        .expect("reader");
    assert!(read_all(&mut r).await.is_empty());
    assert_ne!(r.cursor(), cursor2);
    drop(r);
    let held = changes::slot_wal_bytes(&grant).await.expect("slot status");
    assert!(
        held.is_some_and(|b| b < 1 << 20),
        "slot holds {held:?} bytes"
    );
    assert!(changes::drop_slot(&grant).await.expect("drop"));
    assert!(!changes::drop_slot(&grant).await.expect("drop again"));
}

#[tokio::test]
async fn change_capture_refusals_say_what_to_do() {
    let c = cluster::Cluster::start("cdc-refusals", &[]);
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql(
        "shop",
        "CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (k text PRIMARY KEY); \
         CREATE ROLE plain LOGIN; GRANT SELECT ON a, b TO plain",
    );
    let grant = cdc_grant(&c, "shop", "conn-2", 0);
    // No cursor yet: Elastic's wording.
    let e = ChangeReader::open(&grant, None, "public", &tables(&["a"]))
        .await
        .expect_err("no cursor");
    assert_eq!(
        e.to_string(),
        "Unable to start incremental sync. Please perform a full sync to re-enable incremental syncs."
    );
    let capture = Capture::start(&grant).await.expect("capture");
    let cursor = capture.cursor("public", &tables(&["a", "b"]));
    drop(capture);
    // Another connector's cursor is not this connector's.
    let other = cdc_grant(&c, "shop", "conn-other", 0);
    let e = ChangeReader::open(&other, Some(&cursor), "public", &tables(&["a", "b"]))
        .await
        .expect_err("foreign cursor");
    assert!(matches!(e, ChangeError::InvalidCursor(_)), "{e}");
    // Two readers of one slot: the second is refused while the first holds it.
    let first = ChangeReader::open(&grant, Some(&cursor), "public", &tables(&["b", "a"]))
        .await
        .expect("first reader");
    let e = ChangeReader::open(&grant, Some(&cursor), "public", &tables(&["a", "b"]))
        .await
        .expect_err("second reader");
    assert!(matches!(e, ChangeError::Busy { .. }), "{e}");
    let e = Capture::start(&grant)
        .await
        .expect_err("no capture while read");
    assert!(matches!(e, ChangeError::Busy { .. }), "{e}");
    drop(first);
    // A TRUNCATE asks for a full sync.
    c.psql("shop", "INSERT INTO a VALUES (1, 'x'); TRUNCATE b");
    let mut r = ChangeReader::open(&grant, Some(&cursor), "public", &tables(&["a", "b"]))
        .await
        .expect("reader");
    let mut e = None;
    while e.is_none() {
        match r.next().await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(x) => e = Some(x),
        }
    }
    let e = e.expect("the truncate is reported");
    assert!(matches!(e, ChangeError::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("public.b"), "{e}");
    drop(r);
    // Other tables than the cursor's: the slot is dropped, a full sync is needed.
    let e = ChangeReader::open(&grant, Some(&cursor), "public", &tables(&["a"]))
        .await
        .expect_err("tables changed");
    assert!(matches!(e, ChangeError::TablesChanged { .. }), "{e}");
    let e = ChangeReader::open(&grant, Some(&cursor), "public", &tables(&["a", "b"]))
        .await
        .expect_err("slot gone");
    assert!(matches!(e, ChangeError::SlotMissing { .. }), "{e}");
    // A slot over the operator's WAL bound is dropped, not kept filling the disk.
    let small = cdc_grant(&c, "shop", "conn-2", 1);
    let capture = Capture::start(&small).await.expect("capture");
    let cursor = capture.cursor("public", &tables(&["a", "b"]));
    drop(capture);
    c.psql(
        "shop",
        "INSERT INTO a SELECT g, repeat('x', 100) FROM generate_series(10, 1000) g",
    );
    let e = ChangeReader::open(&small, Some(&cursor), "public", &tables(&["a", "b"]))
        .await
        .expect_err("over the bound");
    assert!(matches!(e, ChangeError::WalBound { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("plugins.postgresql.max_slot_wal_bytes"),
        "{e}"
    );
    assert_eq!(changes::slot_wal_bytes(&small).await.expect("status"), None);
    // A role without REPLICATION is told what to grant.
    let mut values = grant.pg.values.as_ref().clone();
    values.insert("username".into(), json!("plain"));
    let plain = ChangesGrant::new(
        PgGrant::new(values, PgPolicy::default()),
        "conn-2",
        ChangesPolicy::default(),
    );
    let e = Capture::start(&plain).await.expect_err("no privilege");
    assert!(e.is_unavailable());
    assert!(e.to_string().contains("REPLICATION"), "{e}");
}

#[tokio::test]
async fn without_logical_wal_capture_names_what_the_server_needs() {
    // The machine's own server runs with the default wal_level (replica).
    let db = TestDb::new("cdc_nowal", "CREATE TABLE t (id int PRIMARY KEY)").await;
    let grant = ChangesGrant::new(
        db.grant(PgPolicy::default()),
        "conn-3",
        ChangesPolicy::default(),
    );
    let e = Capture::start(&grant)
        .await
        .expect_err("no logical decoding");
    assert!(e.is_unavailable());
    let msg = e.to_string();
    assert!(msg.contains("wal_level = logical"), "{msg}");
    assert!(
        msg.contains("'replica'") || msg.contains("'minimal'"),
        "{msg}"
    );
    let e = ChangeReader::open(&grant, Some("{}"), "public", &tables(&["t"]))
        .await
        .expect_err("no logical decoding");
    assert!(e.to_string().contains("wal_level = logical"), "{e}");
    let as_pg: PgError = e.into();
    assert_eq!(as_pg.sqlstate.as_deref(), Some("55000"));
}
