//! The pieces every service scenario uses: the built artifacts (the real
//! `tributary` binary, `es-sim` and `postgresql.wasm`), child processes that are
//! killed when a test fails, a per-test PostgreSQL database, an Elasticsearch
//! HTTP client, config.yml writing and polling helpers.
//!
//! Nothing here is skipped quietly: a missing binary, plugin or PostgreSQL fails
//! the test with the command that fixes it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The workspace root (`tests/e2e/../..`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// `target/` (or `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                repo_root().join(d)
            }
        }
        None => repo_root().join("target"),
    }
}

fn require_file(path: &Path, what: &str) -> PathBuf {
    assert!(
        path.is_file(),
        "{what} is missing at {} — build it with `cargo xtask build` (from {})",
        path.display(),
        repo_root().display()
    );
    path.to_path_buf()
}

/// The release `tributary` binary.
pub fn tributary_bin() -> PathBuf {
    require_file(
        &target_dir().join("release/tributary"),
        "the tributary binary",
    )
}

/// The release `es-sim` binary.
pub fn es_sim_bin() -> PathBuf {
    require_file(&target_dir().join("release/es-sim"), "the es-sim binary")
}

/// `target/plugins` holding `postgresql.wasm`.
pub fn plugins_dir() -> PathBuf {
    let dir = target_dir().join("plugins");
    require_file(&dir.join("postgresql.wasm"), "the PostgreSQL plugin");
    dir
}

/// A compile cache shared by every scenario (entries are written atomically).
pub fn plugin_cache_dir() -> PathBuf {
    let d = target_dir().join("e2e-plugin-cache");
    std::fs::create_dir_all(&d).expect("creating target/e2e-plugin-cache");
    d
}

/// The Chinook script, beside the repository (`<repo>/../shared/data/chinook/`).
pub fn chinook_sql() -> PathBuf {
    let p = repo_root().join("../shared/data/chinook/Chinook_PostgreSql.sql");
    assert!(
        p.is_file(),
        "the Chinook sample is missing at {} (the shared/ folder must sit beside the repository)",
        p.display()
    );
    p
}

/// A unique suffix for names (databases, connectors) across processes and tests.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{}", std::process::id(), nanos % 100_000)
}

/// Polls `f` every 200 ms until it returns `Some`, or panics after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------- processes

/// A child process that is stopped when dropped (SIGTERM, then SIGKILL), so a
/// failed test leaves nothing running.
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
    log: Option<PathBuf>,
}

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
    }

    /// Waits for the process to exit; `None` if it is still running after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Its log (stderr) so far, without colour codes.
    pub fn log(&self) -> String {
        strip_ansi(&self.raw_log())
    }

    /// Its log (stderr) so far, exactly as written.
    pub fn raw_log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The tail of its log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        let from = all.len().saturating_sub(lines);
        format!(
            "--- last {} lines of {} ---\n{}",
            all.len() - from,
            self.name,
            all[from..].join("\n")
        )
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Removes ANSI colour sequences (`ESC [ … letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------- es-sim

/// A running `es-sim` process and a client for it.
pub struct EsSim {
    pub es: Es,
    guard: ChildGuard,
    extra: Vec<String>,
}

fn spawn_es_sim(listen: &str, extra: &[String]) -> (ChildGuard, String) {
    let mut child = Command::new(es_sim_bin())
        .args(["--listen", listen])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting target/release/es-sim");
    let stdout = child.stdout.take().expect("es-sim stdout");
    let mut guard = ChildGuard {
        child: Some(child),
        name: "es-sim".into(),
        log: None,
    };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reading es-sim's first line");
    let Some(url) = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(str::to_string)
    else {
        let status = guard.wait_exit(Duration::from_secs(2));
        panic!("es-sim did not print its URL (got {line:?}, exit {status:?})");
    };
    (guard, url)
}

impl EsSim {
    /// Starts `target/release/es-sim --listen 127.0.0.1:0 <extra args>` (fault flags
    /// such as `--bulk-item-429-rate 0.05` or `--latency-ms 50`).
    pub fn start(extra: &[&str]) -> EsSim {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (guard, url) = spawn_es_sim("127.0.0.1:0", &extra);
        let es = Es::new(&url);
        es.wait_up();
        EsSim { es, guard, extra }
    }

    pub fn url(&self) -> &str {
        &self.es.url
    }

    /// Kills es-sim and starts an empty one on the same address, with the same
    /// flags (Elasticsearch restarted without its data).
    pub fn restart_empty(&mut self) {
        let listen = self.es.url.trim_start_matches("http://").to_string();
        let _ = Command::new("kill")
            .args(["-KILL", &self.guard.pid().to_string()])
            .status();
        let _ = self.guard.wait_exit(Duration::from_secs(10));
        // The port is free again once the process is gone.
        let (guard, url) = spawn_es_sim(&listen, &self.extra);
        assert_eq!(url.trim_end_matches('/'), self.es.url, "same address");
        self.guard = guard;
        self.es.wait_up();
    }

    /// Changes es-sim's faults at run time (`PUT /_sim/faults`).
    pub fn set_faults(&self, faults: Value) {
        self.es.ok("PUT", "/_sim/faults", Some(faults));
    }
}

/// A TCP port nobody listens on now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `GET url` → (status, body as text); `Err` only when there was no HTTP answer.
pub fn http_get(url: &str) -> Result<(u16, String), String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    match agent.get(url).call() {
        Ok(r) => Ok((r.status(), r.into_string().unwrap_or_default())),
        Err(ureq::Error::Status(code, r)) => Ok((code, r.into_string().unwrap_or_default())),
        Err(e) => Err(format!("GET {url}: {e}")),
    }
}

/// A small Elasticsearch HTTP client (basic auth elastic/changeme).
#[derive(Clone)]
pub struct Es {
    pub url: String,
    auth: String,
    agent: ureq::Agent,
}

impl Es {
    pub fn new(url: &str) -> Es {
        use base64::Engine;
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("elastic:changeme")
        );
        Es {
            url: url.trim_end_matches('/').to_string(),
            auth,
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .build(),
        }
    }

    /// Any answer (status, JSON body); `Err` only when there was no HTTP answer.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let req = self
            .agent
            .request(method, &format!("{}{}", self.url, path))
            .set("Authorization", &self.auth);
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let resp = match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(format!("{method} {path}: {e}")),
        };
        let status = resp.status();
        let text = resp.into_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// A 2xx answer's body; panics otherwise.
    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self
            .call(method, path, body)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {value}"
        );
        value
    }

    /// Waits until `GET /` answers 200.
    pub fn wait_up(&self) {
        wait_for(Duration::from_secs(30), "es-sim to answer GET /", || {
            self.call("GET", "/", None).ok().filter(|(s, _)| *s == 200)
        });
    }

    pub fn connector(&self, id: &str) -> Value {
        self.ok("GET", &format!("/_connector/{id}"), None)
    }

    pub fn job(&self, id: &str) -> Value {
        self.ok("GET", &format!("/_connector/_sync_job/{id}"), None)
    }

    /// `PUT _connector/<id>` as the tutorial does.
    pub fn create_connector(&self, id: &str, index: &str, service_type: &str) {
        self.ok(
            "PUT",
            &format!("/_connector/{id}"),
            Some(json!({"name": format!("Connector {id}"), "index_name": index, "service_type": service_type})),
        );
    }

    /// Waits until a running `tributary` registered the plugin's schema on the
    /// connector (status `needs_configuration`); values can only be set after that.
    pub fn wait_schema(&self, id: &str) -> Value {
        wait_for(
            Duration::from_secs(120),
            &format!("connector {id} to have its schema registered"),
            || {
                let c = self.connector(id);
                c["configuration"]
                    .as_object()
                    .is_some_and(|m| m.contains_key("host"))
                    .then_some(c)
            },
        )
    }

    /// Waits until a running `tributary` has validated and pinged the connector.
    pub fn wait_connected(&self, id: &str) {
        wait_for(
            Duration::from_secs(120),
            &format!("connector {id} to be connected"),
            || (self.connector(id)["status"] == "connected").then_some(()),
        );
    }

    pub fn configure(&self, id: &str, values: Value) {
        self.ok(
            "PUT",
            &format!("/_connector/{id}/_configuration"),
            Some(json!({ "values": values })),
        );
    }

    /// `POST _connector/_sync_job {id, job_type: full}` → the job id.
    pub fn create_full_job(&self, connector_id: &str) -> String {
        let v = self.ok(
            "POST",
            "/_connector/_sync_job",
            Some(json!({"id": connector_id, "job_type": "full"})),
        );
        v["id"].as_str().expect("sync job id").to_string()
    }

    /// Waits until the job's status is one of `statuses`; returns the job.
    pub fn wait_job(&self, job_id: &str, statuses: &[&str], limit: Duration) -> Value {
        let mut last = Value::Null;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok((200, j)) = self.call("GET", &format!("/_connector/_sync_job/{job_id}"), None)
            {
                if statuses.iter().any(|s| j["status"] == *s) {
                    return j;
                }
                last = j;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for job {job_id} to be {statuses:?}; last seen: {last}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `_count` of an index after a refresh.
    pub fn count(&self, index: &str) -> u64 {
        self.ok("POST", &format!("/{index}/_refresh"), None);
        self.ok("GET", &format!("/{index}/_count"), None)["count"]
            .as_u64()
            .expect("count")
    }

    /// `GET index/_doc/id` → `Some(_source)` or `None` on 404.
    pub fn doc(&self, index: &str, id: &str) -> Option<Value> {
        let (status, v) = self
            .call("GET", &format!("/{index}/_doc/{id}"), None)
            .unwrap_or_else(|e| panic!("{e}"));
        match status {
            200 => Some(v["_source"].clone()),
            404 => None,
            other => panic!("GET {index}/_doc/{id} answered {other}: {v}"),
        }
    }

    /// Whether each id is in the index (`GET index/_doc/id` each).
    pub fn exists(&self, index: &str, ids: &[String]) -> Vec<bool> {
        ids.iter().map(|id| self.doc(index, id).is_some()).collect()
    }
}

// ---------------------------------------------------------------- PostgreSQL

/// The PostgreSQL of this machine (127.0.0.1:5432, trust auth, user postgres).
pub const PG_HOST: &str = "127.0.0.1";
pub const PG_PORT: u16 = 5432;
pub const PG_USER: &str = "postgres";

/// Runs `psql` against `db` with `ON_ERROR_STOP`; returns stdout (tuples only).
pub fn psql(db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-h", PG_HOST, "-p", &PG_PORT.to_string(), "-U", PG_USER])
        .args([
            "-d",
            db,
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("running psql (install the PostgreSQL client: apt-get install postgresql-client)");
    assert!(
        out.status.success(),
        "psql -d {db} -c {sql:?} failed ({}): {}\n(is PostgreSQL running on {PG_HOST}:{PG_PORT} with trust auth? start it with `service postgresql start`)",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A database of this test, dropped when the value is dropped.
pub struct Db {
    pub name: String,
}

impl Db {
    /// An empty database with a unique name.
    pub fn empty(prefix: &str) -> Db {
        let name = unique(prefix);
        psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        Db { name }
    }

    /// A unique database holding the Chinook sample: the script with `chinook`
    /// rewritten to this database's name, run with `psql -v ON_ERROR_STOP=1`.
    pub fn chinook(prefix: &str) -> Db {
        let name = unique(prefix);
        let script = std::fs::read_to_string(chinook_sql()).expect("reading the Chinook script");
        let mut rewritten = String::with_capacity(script.len());
        let mut replaced = 0;
        for line in script.lines() {
            let t = line.trim();
            if t == "DROP DATABASE IF EXISTS chinook;" {
                rewritten.push_str(&format!("DROP DATABASE IF EXISTS \"{name}\";\n"));
                replaced += 1;
            } else if t == "CREATE DATABASE chinook;" {
                rewritten.push_str(&format!("CREATE DATABASE \"{name}\";\n"));
                replaced += 1;
            } else if t == "\\c chinook;" || t == "\\c chinook" {
                rewritten.push_str(&format!("\\c \"{name}\"\n"));
                replaced += 1;
            } else {
                rewritten.push_str(line);
                rewritten.push('\n');
            }
        }
        assert_eq!(
            replaced, 3,
            "the Chinook script no longer has the DROP/CREATE/\\c chinook lines this harness rewrites"
        );
        let file = std::env::temp_dir().join(format!("{name}.sql"));
        std::fs::write(&file, rewritten).expect("writing the rewritten Chinook script");
        let db = Db { name };
        let out = Command::new("psql")
            .args(["-h", PG_HOST, "-p", &PG_PORT.to_string(), "-U", PG_USER])
            .args(["-d", "postgres", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(&file)
            .stdout(Stdio::null())
            .output()
            .expect(
                "running psql (install the PostgreSQL client: apt-get install postgresql-client)",
            );
        let _ = std::fs::remove_file(&file);
        assert!(
            out.status.success(),
            "loading Chinook into {} failed ({}): {}\n(is PostgreSQL running on {PG_HOST}:{PG_PORT} with trust auth? start it with `service postgresql start`)",
            db.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        db
    }

    pub fn psql(&self, sql: &str) -> String {
        psql(&self.name, sql)
    }

    /// A table `name (id int primary key, title text, n int)` with `rows` rows.
    pub fn generated_table(&self, table: &str, rows: u64) {
        self.psql(&format!(
            "CREATE TABLE {table} (id integer PRIMARY KEY, title text NOT NULL, n integer NOT NULL);
             INSERT INTO {table} SELECT g, 'row ' || g || ' ' || md5(g::text), g % 97 FROM generate_series(1, {rows}) g;
             ANALYZE {table};"
        ));
    }

    /// The connector configuration values for this database.
    pub fn values(&self, tables: &str) -> Value {
        json!({
            "host": PG_HOST,
            "port": PG_PORT,
            "username": PG_USER,
            // Trust auth: any password is accepted, but the field is required.
            "password": "postgres",
            "database": self.name,
            "schema": "public",
            "tables": tables,
        })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-h", PG_HOST, "-p", &PG_PORT.to_string(), "-U", PG_USER])
            .args(["-d", "postgres", "-X", "-q", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------- tributary

/// A folder for one test's config.yml and logs, removed at the end.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::Builder::new()
                .prefix("tributary-e2e-")
                .tempdir()
                .expect("creating a temporary folder"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a config.yml: the Elasticsearch endpoint, fast polling, the
    /// connectors, a shared compile cache, then `extra` (YAML appended as is).
    pub fn config(
        &self,
        name: &str,
        es_url: &str,
        connectors: &[(&str, &str)],
        extra: &str,
    ) -> PathBuf {
        let mut yaml = format!(
            "elasticsearch:\n  host: {es_url}\n  username: elastic\n  password: changeme\n\
             service:\n  idling: 0.5\n  preflight_max_attempts: 3\n  preflight_idle: 0.5\n\
             plugins:\n  cache_dir: {}\n\
             connectors:\n",
            plugin_cache_dir().display()
        );
        for (id, st) in connectors {
            yaml.push_str(&format!("  - connector_id: {id}\n    service_type: {st}\n"));
        }
        yaml.push_str(extra);
        let p = self.path(name);
        std::fs::write(&p, yaml).expect("writing config.yml");
        p
    }

    /// Starts `tributary <args…>` with stderr (its log) in `<name>.log`.
    pub fn spawn(&self, name: &str, args: &[&str]) -> ChildGuard {
        self.spawn_with_env(name, args, &[("NO_COLOR", Some("1"))])
    }

    /// [`Workdir::spawn`] with these environment changes (`None` removes a variable).
    pub fn spawn_with_env(
        &self,
        name: &str,
        args: &[&str],
        env: &[(&str, Option<&str>)],
    ) -> ChildGuard {
        let log_path = self.path(&format!("{name}.log"));
        let log = File::create(&log_path).expect("creating the log file");
        let mut cmd = Command::new(tributary_bin());
        for (k, v) in env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let child = cmd
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting target/release/tributary");
        ChildGuard {
            child: Some(child),
            name: name.into(),
            log: Some(log_path),
        }
    }

    /// `tributary run --config <config> --plugins target/plugins`.
    pub fn run(&self, name: &str, config: &Path) -> ChildGuard {
        let config = config.to_string_lossy().to_string();
        let plugins = plugins_dir().to_string_lossy().to_string();
        self.spawn(name, &["run", "--config", &config, "--plugins", &plugins])
    }

    /// Runs `tributary <args…>` to completion: (exit status, stderr), or panics after `limit`.
    pub fn run_to_end(&self, name: &str, args: &[&str], limit: Duration) -> (ExitStatus, String) {
        self.run_to_end_with_env(name, args, &[("NO_COLOR", Some("1"))], limit)
    }

    /// [`Workdir::run_to_end`] with these environment changes (`None` removes one).
    pub fn run_to_end_with_env(
        &self,
        name: &str,
        args: &[&str],
        env: &[(&str, Option<&str>)],
        limit: Duration,
    ) -> (ExitStatus, String) {
        let mut child = self.spawn_with_env(name, args, env);
        let status = child.wait_exit(limit);
        let log = child.log();
        match status {
            Some(s) => (s, log),
            None => panic!("tributary {args:?} still running after {limit:?}\n{log}"),
        }
    }
}

impl Default for Workdir {
    fn default() -> Self {
        Self::new()
    }
}

/// Job ids that appear in `job started` log lines.
pub fn started_job_ids(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("job started"))
        .filter_map(|l| {
            let at = l.find("job_id=")? + "job_id=".len();
            let rest = &l[at..];
            let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
            Some(rest[..end].trim_matches('"').to_string())
        })
        .collect()
}

/// Asserts an RFC 3339 timestamp field.
pub fn assert_timestamp(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} should be a timestamp, got {v}"));
    assert!(
        s.len() >= 19 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T',
        "{what} should be an ISO-8601 timestamp, got {s:?}"
    );
}
