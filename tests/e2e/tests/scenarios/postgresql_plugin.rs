//! The BUILT `target/plugins/postgresql.wasm` run through the host against real
//! PostgreSQL databases this test creates (and drops): `tributary extract` for
//! full syncs, the host library for advanced rules (the CLI takes none).
//!
//! Nothing is skipped: a missing wasm, binary or PostgreSQL fails the test.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Map, Value};
use tributary_e2e::harness::{plugin_cache_dir, plugins_dir, repo_root, target_dir, Db};

/// `target/release/tributary`, else `target/debug/tributary`.
fn tributary() -> PathBuf {
    let release = target_dir().join("release/tributary");
    let debug = target_dir().join("debug/tributary");
    match (release.is_file(), debug.is_file()) {
        (true, _) => release,
        (false, true) => debug,
        _ => panic!(
            "the tributary binary is missing (neither {} nor {}) — build it with `cargo xtask build` in {}",
            release.display(),
            debug.display(),
            repo_root().display()
        ),
    }
}

struct Extract {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run_extract(values: &Value) -> Extract {
    let file = std::env::temp_dir().join(format!(
        "{}.json",
        tributary_e2e::harness::unique("pgvalues")
    ));
    std::fs::write(&file, values.to_string()).expect("writing the values file");
    let out = Command::new(tributary())
        .args(["extract", "postgresql", "--plugins"])
        .arg(plugins_dir())
        .arg("--values")
        .arg(&file)
        .env("TRIBUTARY_CACHE_DIR", plugin_cache_dir())
        .output()
        .expect("running tributary extract");
    let _ = std::fs::remove_file(&file);
    Extract {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// NDJSON documents of a successful extract.
fn extract(values: &Value) -> (Vec<Value>, String) {
    let r = run_extract(values);
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

/// `_timestamp` is an ISO-8601 time with offset; the rest must match exactly.
fn assert_doc(doc: &Value, expected: Value) {
    let mut doc = doc.clone();
    let ts = doc.as_object_mut().and_then(|o| o.remove("_timestamp"));
    let ts = ts
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no _timestamp in {doc}"));
    assert!(
        ts.len() >= 25 && ts.contains('T') && ts.ends_with("+00:00"),
        "_timestamp {ts}"
    );
    assert_eq!(doc, expected);
}

#[test]
fn chinook_album_artist_gives_622_documents() {
    let db = Db::chinook("pgplug_tut");
    let (docs, _) = extract(&db.values("album,artist"));
    assert_eq!(docs.len(), 622);
    let n = &db.name;
    assert_eq!(docs.iter().filter(|d| d["table"] == "album").count(), 347);
    assert_eq!(docs.iter().filter(|d| d["table"] == "artist").count(), 275);
    assert_doc(
        by_id(&docs, &format!("{n}_public_album_1")),
        json!({
            "_id": format!("{n}_public_album_1"),
            "public_album_album_id": 1,
            "public_album_title": "For Those About To Rock We Salute You",
            "public_album_artist_id": 1,
            "table": "album", "schema": "public", "database": n,
        }),
    );
    assert_doc(
        by_id(&docs, &format!("{n}_public_artist_275")),
        json!({
            "_id": format!("{n}_public_artist_275"),
            "public_artist_artist_id": 275,
            "public_artist_name": "Philip Glass Ensemble",
            "table": "artist", "schema": "public", "database": n,
        }),
    );
    // Primary-key order within a table.
    let album_ids: Vec<i64> = docs
        .iter()
        .filter_map(|d| d["public_album_album_id"].as_i64())
        .collect();
    assert!(
        album_ids.windows(2).all(|w| w[0] < w[1]),
        "albums are not in key order"
    );
}

#[test]
fn star_lists_every_table() {
    let db = Db::chinook("pgplug_star");
    let (docs, _) = extract(&db.values("*"));
    let tables: std::collections::BTreeSet<&str> =
        docs.iter().filter_map(|d| d["table"].as_str()).collect();
    let expected: std::collections::BTreeSet<String> = db
        .psql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(tables.len(), 11);
    assert_eq!(tables, expected.iter().map(String::as_str).collect());
    let total: usize = expected
        .iter()
        .map(|t| {
            db.psql(&format!("SELECT count(*) FROM \"{t}\""))
                .parse::<usize>()
                .expect("count")
        })
        .sum();
    assert_eq!(docs.len(), total);
    // Composite key, joined with `_` in key order (Elastic's example id).
    let n = &db.name;
    let pt = by_id(&docs, &format!("{n}_public_playlist_track_1_3402"));
    assert_eq!(pt["public_playlist_track_playlist_id"], 1);
    assert_eq!(pt["public_playlist_track_track_id"], 3402);
    // numeric keeps its digits; timestamps are ISO-8601.
    let inv = by_id(&docs, &format!("{n}_public_invoice_1"));
    assert_eq!(inv["public_invoice_total"], json!(1.98));
    assert_eq!(inv["public_invoice_invoice_date"], "2021-01-01T00:00:00");
}

#[test]
fn every_type_round_trips_exactly() {
    let db = Db::empty("pgplug_types");
    db.psql(
        r#"CREATE TABLE every_type (
             id int8 PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, f8nan float8,
             n numeric, nbig numeric, nnan numeric, t text, vc varchar(20), c char(4), by bytea,
             j json, jb jsonb, d date, dinf date, tm time, ttz timetz, ts timestamp, tstz timestamptz,
             tsinf timestamptz, u uuid, ip inet, net cidr, ip6 inet, iv interval, ia int4[], ta text[],
             ma int4[][], ja jsonb[], na numeric[], nul text, pt point);
           INSERT INTO every_type VALUES (9007199254740993, true, -32768, 2147483647, 9007199254740993,
             1.1, 0.1, 'NaN', '2.50000000000000000000000000000000000001', '123456789012345678901234567890',
             'NaN', E'hé "q"\n\\', 'vc', 'ab', '\x00ff10', '{"a": [1, 2.5], "b": null}', '{"z": {"y": true}}',
             '2024-02-29', 'infinity', '12:34:56.789', '01:02:03+05:30', '2024-01-02 03:04:05',
             '2024-01-02 03:04:05.123456+02', '-infinity', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
             '192.168.1.1', '10.0.0.0/8', '2001:db8::1/64', '1 year 2 mons 3 days 04:05:06.5',
             '{1,NULL,3}', '{"a,b",c}', '{{1,2},{3,4}}', ARRAY['{"k": 1}'::jsonb], '{1.50,NaN}', NULL,
             '(1.5,2)');"#,
    );
    let (docs, raw) = extract(&json!({
        "host": "127.0.0.1", "port": 5432, "username": "postgres", "password": "x",
        "database": db.name, "schema": "public", "tables": "every_type",
    }));
    assert_eq!(docs.len(), 1);
    let n = &db.name;
    let p = |c: &str| format!("public_every_type_{c}");
    let mut expected = Map::new();
    expected.insert(
        "_id".into(),
        json!(format!("{n}_public_every_type_9007199254740993")),
    );
    for (c, v) in [
        ("id", json!(9007199254740993u64)),
        ("b", json!(true)),
        ("i2", json!(-32768)),
        ("i4", json!(2147483647)),
        ("i8", json!(9007199254740993u64)),
        ("f4", json!(1.1)),
        ("f8", json!(0.1)),
        ("f8nan", json!("NaN")),
        ("n", json!(2.5)),
        ("nbig", json!(1.2345678901234568e29)),
        ("nnan", json!("NaN")),
        ("t", json!("hé \"q\"\n\\")),
        ("vc", json!("vc")),
        ("c", json!("ab  ")),
        ("by", json!("AP8Q")),
        ("j", json!({"a": [1, 2.5], "b": null})),
        ("jb", json!({"z": {"y": true}})),
        ("d", json!("2024-02-29")),
        ("dinf", json!("infinity")),
        ("tm", json!("12:34:56.789000")),
        ("ttz", json!("01:02:03+05:30")),
        ("ts", json!("2024-01-02T03:04:05")),
        ("tstz", json!("2024-01-02T01:04:05.123456+00:00")),
        ("tsinf", json!("-infinity")),
        ("u", json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        ("ip", json!("192.168.1.1")),
        ("net", json!("10.0.0.0/8")),
        ("ip6", json!("2001:db8::1/64")),
        ("iv", json!("P1Y2M3DT4H5M6.5S")),
        ("ia", json!([1, null, 3])),
        ("ta", json!(["a,b", "c"])),
        ("ma", json!([[1, 2], [3, 4]])),
        ("ja", json!([{"k": 1}])),
        ("na", json!([1.5, "NaN"])),
        ("nul", Value::Null),
        ("pt", json!("(1.5,2)")),
    ] {
        expected.insert(p(c), v);
    }
    for (k, v) in [
        ("table", "every_type"),
        ("schema", "public"),
        ("database", n),
    ] {
        expected.insert(k.into(), json!(v));
    }
    assert_doc(&docs[0], Value::Object(expected));
    // Exact digits, which f64 parsing above cannot see.
    for exact in [
        "\"public_every_type_id\":9007199254740993,",
        "\"public_every_type_n\":2.50000000000000000000000000000000000001,",
        "\"public_every_type_nbig\":123456789012345678901234567890,",
        "\"public_every_type_f4\":1.1,",
        "\"public_every_type_na\":[1.50,\"NaN\"],",
    ] {
        assert!(raw.contains(exact), "{exact} not in {raw}");
    }
}

#[test]
fn advanced_rules_run_a_join_streaming() {
    use tributary_runtime::{PluginRuntime, RuntimeConfig, SyncRequest};
    let db = Db::chinook("pgplug_adv");
    let values = db.values("album");
    let values: Map<String, Value> = values.as_object().cloned().unwrap_or_default();
    let rules = json!([{
        "tables": ["employee", "customer"],
        "query": "SELECT c.customer_id, c.first_name, e.employee_id, e.last_name \
                  FROM customer c JOIN employee e ON c.support_rep_id = e.employee_id ORDER BY c.customer_id",
    }]);
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(async {
        let cfg = RuntimeConfig { cache_dir: Some(plugin_cache_dir()), ..RuntimeConfig::default() };
        let runtime = PluginRuntime::new(cfg).expect("runtime");
        let set = runtime.load_dir(&plugins_dir()).await.expect("loading plugins");
        let plugin = set.get("postgresql").expect("the postgresql plugin is loaded");
        let grants = plugin.grants(runtime.config(), &values, &[]);

        assert_eq!(plugin.validate_advanced_rules(&values, &rules, &grants).await.expect("validate"), Vec::<String>::new());
        let bad = json!([{"tables": ["employee", "nope"], "query": "SELECT 1"}]);
        let errs = plugin.validate_advanced_rules(&values, &bad, &grants).await.expect("validate");
        assert_eq!(errs, ["Tables not found or inaccessible: nope"]);
        let shape = json!([{"tables": [], "query": ""}]);
        assert_eq!(plugin.validate_advanced_rules(&values, &shape, &grants).await.expect("validate").len(), 2);

        let mut request = SyncRequest::full(10);
        request.advanced_rules = Some(rules.clone());
        let mut sync = plugin.start_sync(&values, request, &grants).await.expect("start");
        let mut docs = Vec::new();
        let mut batches = 0;
        while let Some(batch) = sync.next().await.expect("batch") {
            batches += 1;
            for d in batch {
                let mut body = Vec::new();
                d.write_json(&[], &mut body);
                let mut v: Value = serde_json::from_slice(&body).expect("json");
                v["_id"] = json!(d.id);
                docs.push(v);
            }
        }
        assert_eq!(docs.len(), 59, "one document per customer");
        assert!(batches >= 6, "streamed in batches of 10, got {batches}");
        let n = &db.name;
        let p = "public_customer_employee_";
        let first = by_id(&docs, &format!("{n}_public_customer_employee_3_1"));
        assert_eq!(
            first,
            &json!({
                format!("{p}customer_id"): 1, format!("{p}first_name"): "Luís",
                format!("{p}employee_id"): 3, format!("{p}last_name"): "Peacock",
                "table": ["employee", "customer"], "schema": "public", "database": n,
                "_id": format!("{n}_public_customer_employee_3_1"),
            })
        );

        // id_columns picks the id; a column the query does not return fails the sync.
        let mut request = SyncRequest::full(100);
        request.advanced_rules = Some(json!([{"tables": ["customer"], "query": "SELECT customer_id, email FROM customer ORDER BY customer_id", "id_columns": ["email"]}]));
        let mut sync = plugin.start_sync(&values, request, &grants).await.expect("start");
        let batch = sync.next().await.expect("batch").expect("documents");
        assert_eq!(batch[0].id, format!("{n}_public_customer_luisg@embraer.com.br"));
        let mut request = SyncRequest::full(100);
        request.advanced_rules = Some(json!([{"tables": ["customer"], "query": "SELECT email FROM customer"}]));
        let mut sync = plugin.start_sync(&values, request, &grants).await.expect("start");
        let err = sync.next().await.expect_err("missing id column");
        assert!(err.to_string().contains("public_customer_customer_id"), "{err}");
    });
}

#[test]
fn missing_table_and_missing_primary_key_fail_the_sync() {
    let db = Db::chinook("pgplug_err");
    db.psql("CREATE TABLE no_pk (a int); INSERT INTO no_pk VALUES (1);");
    let r = run_extract(&db.values("album,does_not_exist"));
    assert!(!r.ok, "a missing table must fail the sync");
    assert!(
        r.stderr
            .contains("\"public\".\"does_not_exist\" does not exist"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "nothing is extracted before the error");
    let r = run_extract(&db.values("album,no_pk"));
    assert!(!r.ok, "a table without primary key must fail the sync");
    assert!(
        r.stderr.contains("\"public\".\"no_pk\" has no primary key"),
        "{}",
        r.stderr
    );
    // A case-sensitive name is used verbatim, as Elastic does: `Album` is not `album`.
    let r = run_extract(&db.values("Album"));
    assert!(
        !r.ok && r.stderr.contains("\"Album\" does not exist"),
        "{}",
        r.stderr
    );
}

#[test]
fn pretty_printed_json_stays_one_document_per_line() {
    // PostgreSQL keeps `json` text verbatim: a line break inside a value must not
    // become a line of the NDJSON (or of a `_bulk` body).
    let db = Db::chinook("pgplug_json");
    db.psql(
        "CREATE TABLE docs (id int PRIMARY KEY, j json, jb jsonb);
         INSERT INTO docs VALUES
           (1, E'{\"a\":\n 1,\r\n \"b\": [true,\n null]}', E'{\"k\":\n \"v\"}'),
           (2, E'{\"delete\":\n{\"_index\":\"victim\"}}', 'null');",
    );
    let (docs, raw) = extract(&db.values("docs"));
    assert_eq!(raw.lines().count(), 2, "one line per document:\n{raw}");
    let one = by_id(&docs, &format!("{}_public_docs_1", db.name));
    assert_eq!(one["public_docs_j"], json!({"a": 1, "b": [true, null]}));
    assert_eq!(one["public_docs_jb"], json!({"k": "v"}));
    let two = by_id(&docs, &format!("{}_public_docs_2", db.name));
    assert_eq!(
        two["public_docs_j"],
        json!({"delete": {"_index": "victim"}})
    );
}

#[test]
fn configured_tables_are_checked_when_the_configuration_is() {
    use tributary_runtime::{PluginRuntime, RuntimeConfig};
    let db = Db::chinook("pgplug_validate");
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(async {
        let cfg = RuntimeConfig {
            cache_dir: Some(plugin_cache_dir()),
            ..RuntimeConfig::default()
        };
        let runtime = PluginRuntime::new(cfg).expect("runtime");
        let set = runtime
            .load_dir(&plugins_dir())
            .await
            .expect("loading plugins");
        let plugin = set
            .get("postgresql")
            .expect("the postgresql plugin is loaded");
        let check = |tables: &str| {
            let values: Map<String, Value> =
                db.values(tables).as_object().cloned().unwrap_or_default();
            let grants = plugin.grants(runtime.config(), &values, &[]);
            let plugin = plugin.clone();
            async move {
                plugin
                    .validate_config(&values, &grants)
                    .await
                    .expect("validate")
            }
        };
        assert!(check("album,artist").await.is_empty());
        assert!(check("*").await.is_empty());
        let errors = check("album,nope,gone").await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key.as_deref(), Some("tables"));
        assert_eq!(
            errors[0].message,
            "Tables not found or inaccessible: nope, gone."
        );
    });
}
