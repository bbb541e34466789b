//! `tributary check` (the conformance kit) on every plugin of this repository,
//! each with its checked-in `check-values.json` pointed at a fixture of this
//! test through the `CHECK_*` variables the file names, under the grant its
//! capability needs, with the e2e compile cache. Then the kit's own verdicts on
//! plugins that do not conform, and `tributary new`: a scaffold that builds with
//! its one command and passes `tributary check` unchanged.
//!
//! Nothing is skipped: a missing service (PostgreSQL, MariaDB, Redis) fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use tributary_e2e::harness::{
    plugin_cache_dir, plugins_dir, repo_root, target_dir, tributary_bin, Db, Workdir,
};

/// A config.yml with the shared compile cache and `grant` under `plugins:`.
pub(crate) fn grant_config(work: &Workdir, grant: &str) -> PathBuf {
    let p = work.path("check-config.yml");
    std::fs::write(
        &p,
        format!(
            "plugins:\n  cache_dir: {}\n{grant}",
            plugin_cache_dir().display()
        ),
    )
    .expect("writing config.yml");
    p
}

/// `tributary check SERVICE --format json`: whether it exited 0, and the report.
pub(crate) fn check(
    service: &str,
    plugins: &Path,
    values: &Path,
    config: &Path,
    env: &[(&str, String)],
) -> (bool, Value, Output) {
    let out = Command::new(tributary_bin())
        .args(["check", service, "--plugins"])
        .arg(plugins)
        .arg("--values")
        .arg(values)
        .arg("--config")
        .arg(config)
        .args(["--format", "json"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("running target/release/tributary check");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check {service} printed no JSON report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report, out)
}

/// Asserts a clean pass: exit 0, no failed check, and the syncs ran.
pub(crate) fn assert_conforms(service: &str, ok: bool, report: &Value, out: &Output) {
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] != "pass" && c["status"] != "skip")
        .collect();
    assert!(
        ok && failed.is_empty() && report["ok"] == true,
        "{service} does not conform: {failed:#?}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "sync.full",
        "sync.repeat",
        "ping",
        "schema.types",
        "sync.errors",
    ] {
        assert!(
            status(report, name) == Some("pass"),
            "{service}: {name} did not pass: {report:#}"
        );
    }
    let probes = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["check"]
                .as_str()
                .is_some_and(|n| n.starts_with("validate-config."))
        })
        .count();
    assert!(probes > 0, "{service}: no validate-config probe ran");
}

pub(crate) fn status<'a>(report: &'a Value, name: &str) -> Option<&'a str> {
    report["checks"]
        .as_array()?
        .iter()
        .find(|c| c["check"] == name)
        .and_then(|c| c["status"].as_str())
}

fn detail<'a>(report: &'a Value, name: &str) -> &'a str {
    report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["check"] == name))
        .and_then(|c| c["detail"].as_str())
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn values_of(plugin: &str) -> PathBuf {
    let p = repo_root()
        .join("plugins")
        .join(plugin)
        .join("check-values.json");
    assert!(p.is_file(), "{} is missing", p.display());
    p
}

#[test]
fn postgresql_plugin_passes_check() {
    let work = Workdir::new();
    let db = Db::empty("check_pg");
    db.generated_table("items", 40);
    db.psql("CREATE TABLE tags (name text PRIMARY KEY, note text); INSERT INTO tags VALUES ('a', 'x'), ('b', NULL);");
    let config = grant_config(&work, "");
    let (ok, report, out) = check(
        "postgresql",
        &plugins_dir(),
        &values_of("postgresql"),
        &config,
        &[
            ("CHECK_PGDATABASE", db.name.clone()),
            ("CHECK_TABLES", "items,tags".into()),
        ],
    );
    assert_conforms("postgresql", ok, &report, &out);
    assert!(
        detail(&report, "sync.full").starts_with("42 documents"),
        "{report:#}"
    );
    // Declared by the plugin, so checked: `[]`/`{}` pass, `42` is refused.
    assert_eq!(status(&report, "advanced_rules"), Some("pass"));
    assert!(detail(&report, "validate-config.port.not-a-number").contains("Port"));
}

fn mysql_root(sql: &str) {
    let out = Command::new("mysql")
        .args(["-uroot", "--protocol=socket", "-N", "-B", "-e", sql])
        .output()
        .expect("running the mysql client (is MariaDB installed?)");
    assert!(
        out.status.success(),
        "mysql failed: {}\n{sql}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mysql_plugin_passes_check() {
    let work = Workdir::new();
    let db = format!("trib_check_{}", std::process::id());
    mysql_root(&format!(
        "CREATE USER IF NOT EXISTS 'trib_check'@'127.0.0.1' IDENTIFIED BY 'trib_check_pw'; \
         GRANT SELECT, SHOW VIEW ON `trib\\_check\\_%`.* TO 'trib_check'@'127.0.0.1'; \
         DROP DATABASE IF EXISTS `{db}`; CREATE DATABASE `{db}` CHARACTER SET utf8mb4; USE `{db}`; \
         CREATE TABLE items (id INT PRIMARY KEY, title VARCHAR(40), price DECIMAL(8,2)); \
         INSERT INTO items VALUES (1, 'one', 1.50), (2, 'two', NULL), (3, 'three', 3.00);"
    ));
    let config = grant_config(&work, "  mysql:\n    enabled: true\n");
    let result = check(
        "mysql",
        &plugins_dir(),
        &values_of("mysql"),
        &config,
        &[
            ("CHECK_MYSQL_USER", "trib_check".into()),
            ("CHECK_MYSQL_PASSWORD", "trib_check_pw".into()),
            ("CHECK_MYSQL_DATABASE", db.clone()),
            ("CHECK_TABLES", "items".into()),
        ],
    );
    mysql_root(&format!("DROP DATABASE IF EXISTS `{db}`"));
    let (ok, report, out) = result;
    assert_conforms("mysql", ok, &report, &out);
    assert!(
        detail(&report, "sync.full").starts_with("3 documents"),
        "{report:#}"
    );
}

fn redis_cli(db: u32, args: &[&str]) {
    let out = Command::new("redis-cli")
        .args(["-n", &db.to_string()])
        .args(args)
        .output()
        .expect("running redis-cli (is Redis installed?)");
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Redis database 14 is this test's (the Redis scenarios use 11–13).
const CHECK_REDIS_DB: u32 = 14;

#[test]
fn redis_plugin_passes_check() {
    let work = Workdir::new();
    let db = CHECK_REDIS_DB;
    redis_cli(db, &["FLUSHDB"]);
    redis_cli(db, &["SET", "greeting", "hello"]);
    redis_cli(db, &["HSET", "user:1", "name", "Ann", "age", "30"]);
    redis_cli(db, &["RPUSH", "queue", "a", "b"]);
    redis_cli(db, &["SADD", "tags", "x", "y"]);
    let config = grant_config(&work, "  redis:\n    enabled: true\n");
    let result = check(
        "redis",
        &plugins_dir(),
        &values_of("redis"),
        &config,
        &[("CHECK_REDIS_DATABASES", db.to_string())],
    );
    redis_cli(db, &["FLUSHDB"]);
    let (ok, report, out) = result;
    assert_conforms("redis", ok, &report, &out);
    assert!(
        detail(&report, "sync.full").starts_with("4 documents"),
        "{report:#}"
    );
}

/// A small tree for the directory plugins: text and binary files, nested.
pub(crate) fn small_tree(root: &Path) {
    std::fs::create_dir_all(root.join("docs/deep")).expect("mkdir");
    std::fs::write(root.join("a.txt"), "alpha").expect("write");
    std::fs::write(root.join("notes.md"), "# Notes\n").expect("write");
    std::fs::write(root.join("docs/b.csv"), "x,y\n1,2\n").expect("write");
    std::fs::write(root.join("docs/deep/c.json"), "{\"k\": 1}").expect("write");
    std::fs::write(root.join("docs/image.bin"), [0u8, 0xff, 0xfe]).expect("write");
}

#[test]
fn dir_plugin_passes_check() {
    let work = Workdir::new();
    let data = work.path("data");
    small_tree(&data);
    let config = grant_config(
        &work,
        &format!("  filesystem:\n    roots: [{}]\n", data.display()),
    );
    let (ok, report, out) = check(
        "dir",
        &plugins_dir(),
        &values_of("dir"),
        &config,
        &[("CHECK_DIRECTORY", data.display().to_string())],
    );
    assert_conforms("dir", ok, &report, &out);
    assert!(
        detail(&report, "sync.full").starts_with("5 documents"),
        "{report:#}"
    );
}

#[test]
fn graphql_plugin_passes_check() {
    let work = Workdir::new();
    let server = crate::dir_graphql_plugins::gql_server(String::new());
    let config = grant_config(
        &work,
        &format!(
            "  http:\n    allowed_origins: [\"http://127.0.0.1:{}\"]\n",
            server.port
        ),
    );
    let (ok, report, out) = check(
        "graphql",
        &plugins_dir(),
        &values_of("graphql"),
        &config,
        &[
            (
                "CHECK_GRAPHQL_ENDPOINT",
                format!("http://127.0.0.1:{}/graphql", server.port),
            ),
            (
                "CHECK_GRAPHQL_TOKEN",
                crate::dir_graphql_plugins::TOKEN.into(),
            ),
        ],
    );
    assert_conforms("graphql", ok, &report, &out);
    assert!(
        detail(&report, "sync.full").starts_with("5 documents"),
        "{report:#}"
    );
}

/// The kit fails what does not conform, naming it, with exit status 1: the
/// synthetic `healthy` test plugin (a required field with a default Elastic
/// never uses, `{}` advanced rules refused) and `hostile` (a panic; a field
/// name Elasticsearch reserves; a values file with a key the schema lacks).
#[test]
fn check_names_what_does_not_conform() {
    let work = Workdir::new();
    let test_plugins = target_dir().join("test-plugins");
    assert!(
        test_plugins.join("hostile.wasm").is_file(),
        "the test plugins are missing — build them with `cargo xtask build`"
    );
    let config = grant_config(&work, "");
    let values = work.path("values.json");
    let write = |v: Value| std::fs::write(&values, v.to_string()).expect("values");

    write(json!({"count": 7}));
    let (ok, report, _) = check("healthy", &test_plugins, &values, &config, &[]);
    assert!(!ok && report["ok"] == false, "{report:#}");
    assert!(
        detail(&report, "schema.defaults").contains("`count` is required, so its default_value"),
        "{report:#}"
    );
    assert!(
        detail(&report, "advanced_rules").contains("{}"),
        "{report:#}"
    );
    // What it does right still passes: stable ids and the cursor round trip.
    assert_eq!(status(&report, "sync.repeat"), Some("pass"), "{report:#}");
    assert_eq!(status(&report, "incremental"), Some("pass"), "{report:#}");
    assert!(detail(&report, "sync.full").starts_with("7 documents"));

    write(json!({"behaviour": "panic"}));
    let (ok, report, _) = check("hostile", &test_plugins, &values, &config, &[]);
    assert!(!ok, "{report:#}");
    assert_eq!(status(&report, "sync.full"), Some("fail"));
    assert!(
        detail(&report, "sync.full").contains("panicked"),
        "{report:#}"
    );

    write(json!({"behaviour": "field", "field": "_secret"}));
    let (ok, report, _) = check("hostile", &test_plugins, &values, &config, &[]);
    assert!(!ok, "{report:#}");
    assert!(
        detail(&report, "sync.limits").contains("_secret"),
        "{report:#}"
    );

    write(json!({"behaviour": "field", "colour": "red"}));
    let (ok, report, out) = check("hostile", &test_plugins, &values, &config, &[]);
    assert!(!ok);
    assert!(
        detail(&report, "values.keys").contains("colour"),
        "{report:#}"
    );
    assert_eq!(status(&report, "ping"), Some("skip"));

    // The text report: one line per check, FAIL lines named.
    let text = Command::new(tributary_bin())
        .args(["check", "hostile", "--plugins"])
        .arg(&test_plugins)
        .arg("--values")
        .arg(&values)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("tributary check");
    assert_eq!(text.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("FAIL  values.keys")),
        "{text}"
    );
    assert!(text.contains("the plugin does NOT conform"), "{text}");
}

/// `tributary new` with three shapes: no capability, the filesystem capability,
/// and PostgreSQL (whose template has the host shape the documents, `emit`).
/// Each builds with the README's one command and passes `tributary check` with
/// its own `check-values.json`. The two share a target folder of
/// their own (`target/e2e-scaffold`: a cargo inside `cargo test` must not wait
/// for the workspace's target lock) and this workspace's lock file (the same
/// dependency versions, nothing to resolve).
#[test]
fn new_scaffolds_a_plugin_that_passes_check() {
    let work = Workdir::new();
    let tributary = tributary_bin();
    let new = |args: &[&str]| {
        Command::new(&tributary)
            .arg("new")
            .args(args)
            .current_dir(work.dir.path())
            .output()
            .expect("tributary new")
    };
    // Refusals name the problem.
    let bad = new(&["Bad/Name"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot be a plugin name"));
    std::fs::create_dir_all(work.path("taken")).expect("mkdir");
    let taken = new(&["taken"]);
    assert!(String::from_utf8_lossy(&taken.stderr).contains("already exists"));

    let sdk = repo_root().join("sdk").display().to_string();
    let scaffold_target = target_dir().join("e2e-scaffold");
    let plugins = work.path("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    let db = Db::empty("scaffold");
    db.psql(
        "CREATE TABLE items (id int PRIMARY KEY, title text, price numeric(8,2), tags text[]);
         INSERT INTO items SELECT i, 'item ' || i, i * 1.25, ARRAY['a', 'b' || i]
           FROM generate_series(1, 300) AS g(i);",
    );
    for (name, capability) in [
        ("gen-source", None),
        ("files-source", Some("filesystem")),
        ("pg-source", Some("postgresql")),
    ] {
        let mut args = vec![name, "--sdk", sdk.as_str()];
        if let Some(c) = capability {
            args.extend(["--capability", c]);
        }
        let out = new(&args);
        assert!(
            out.status.success(),
            "tributary new {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = work.path(name);
        let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
        assert!(readme.contains("cargo build --release --target wasm32-wasip2"));
        std::fs::copy(repo_root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock");
        let build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &scaffold_target)
            .output()
            .expect("cargo build");
        assert!(
            build.status.success(),
            "the scaffold {name} does not build: {}",
            String::from_utf8_lossy(&build.stderr)
        );
        let lib = name.replace('-', "_");
        let wasm = scaffold_target.join(format!("wasm32-wasip2/release/{lib}.wasm"));
        let only = plugins.join(name);
        std::fs::create_dir_all(&only).expect("mkdir");
        std::fs::copy(&wasm, only.join(format!("{lib}.wasm"))).expect("copy wasm");
        let (config, env) = match capability {
            None => (grant_config(&work, ""), vec![]),
            Some("postgresql") => (
                grant_config(&work, ""),
                vec![("CHECK_PGDATABASE", db.name.clone())],
            ),
            Some(_) => {
                let data = work.path("files");
                small_tree(&data);
                (
                    grant_config(
                        &work,
                        &format!("  filesystem:\n    roots: [{}]\n", data.display()),
                    ),
                    vec![("CHECK_DIRECTORY", data.display().to_string())],
                )
            }
        };
        let (ok, report, out) = check(name, &only, &dir.join("check-values.json"), &config, &env);
        assert_conforms(name, ok, &report, &out);
    }
}
