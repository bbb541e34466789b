//! `cargo xtask demo`: the Connector API tutorial end to end on this machine.
//!
//! Builds everything, starts es-sim unless `ELASTICSEARCH_URL` is given, loads
//! Chinook into the local PostgreSQL, runs `tributary run`, creates and configures
//! the connector, syncs, and prints the job and `music/_count`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

const CONNECTOR_ID: &str = "my-connector-id";

/// Kills a child process when dropped, so a failed demo leaves nothing running.
struct Guard(Option<Child>, &'static str);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            // SIGTERM first: tributary turns running jobs `suspended` on it.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("xtask: {} did not stop after SIGTERM; killing it", self.1);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Es {
    url: String,
    auth: String,
}

impl Es {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let req = ureq::request(method, &format!("{}{}", self.url, path))
            .set("Authorization", &self.auth)
            .timeout(Duration::from_secs(30));
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let resp = match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e).with_context(|| format!("{method} {path}")),
        };
        let status = resp.status();
        let text = resp.into_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, value) = self.call(method, path, body)?;
        if !(200..300).contains(&status) {
            bail!("{method} {path} answered {status}: {value}");
        }
        Ok(value)
    }
}

pub fn demo(root: &Path) -> Result<()> {
    crate::build(root)?;
    let demo_dir = root.join("target/demo");
    std::fs::create_dir_all(&demo_dir).context("creating target/demo")?;

    // 1. Elasticsearch: the one given, or es-sim.
    let mut _es_sim = Guard(None, "es-sim");
    let url = match std::env::var("ELASTICSEARCH_URL") {
        Ok(url) => url.trim_end_matches('/').to_string(),
        Err(_) => {
            let mut child = Command::new(root.join("target/release/es-sim"))
                .args(["--listen", "127.0.0.1:0"])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .context("starting target/release/es-sim")?;
            let stdout = child.stdout.take().context("es-sim stdout")?;
            let mut line = String::new();
            BufReader::new(stdout)
                .read_line(&mut line)
                .context("reading es-sim's first line")?;
            let url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .with_context(|| format!("es-sim did not print its URL (got {line:?})"))?
                .to_string();
            _es_sim = Guard(Some(child), "es-sim");
            eprintln!("xtask: no ELASTICSEARCH_URL given; started es-sim at {url}");
            url
        }
    };
    let username = std::env::var("ELASTICSEARCH_USERNAME").unwrap_or_else(|_| "elastic".into());
    let password = std::env::var("ELASTICSEARCH_PASSWORD").unwrap_or_else(|_| "changeme".into());
    let auth = match std::env::var("ELASTICSEARCH_API_KEY") {
        Ok(key) => format!("ApiKey {key}"),
        Err(_) => {
            use base64_lite::encode;
            format!(
                "Basic {}",
                encode(format!("{username}:{password}").as_bytes())
            )
        }
    };
    let es = Es {
        url: url.clone(),
        auth,
    };
    es.ok("GET", "/", None)
        .context("Elasticsearch is not answering")?;

    // 2. PostgreSQL holds Chinook (the script drops and recreates database `chinook`).
    let pg_host = std::env::var("PGHOST").unwrap_or_else(|_| "127.0.0.1".into());
    let pg_port = std::env::var("PGPORT").unwrap_or_else(|_| "5432".into());
    let pg_user = std::env::var("PGUSER").unwrap_or_else(|_| "postgres".into());
    let sql = root.join("../shared/data/chinook/Chinook_PostgreSql.sql");
    eprintln!(
        "xtask: loading {} into PostgreSQL at {pg_host}:{pg_port}",
        sql.display()
    );
    let status = Command::new("psql")
        .args([
            "-h", &pg_host, "-p", &pg_port, "-U", &pg_user, "-d", "postgres",
        ])
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(&sql)
        .stdout(Stdio::null())
        .status()
        .context("running psql (is the PostgreSQL client installed?)")?;
    if !status.success() {
        bail!("loading Chinook failed ({status})");
    }

    // 3. The connector, as the tutorial creates it.
    es.ok(
        "PUT",
        &format!("/_connector/{CONNECTOR_ID}"),
        Some(json!({"name": "Music catalog", "index_name": "music", "service_type": "postgresql"})),
    )?;

    // 4. config.yml with elastic-ingest's keys, and the host.
    let config = demo_dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "elasticsearch:\n  host: {url}\n  username: {username}\n  password: {password}\n\
             service:\n  idling: 1 # the demo polls every second; Elastic's default is 30\n\
             connectors:\n  - connector_id: {CONNECTOR_ID}\n    service_type: postgresql\n"
        ),
    )
    .context("writing target/demo/config.yml")?;
    let log = std::fs::File::create(demo_dir.join("tributary.log")).context("creating the log")?;
    let host = Command::new(root.join("target/release/tributary"))
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--plugins")
        .arg(root.join("target/plugins"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting target/release/tributary")?;
    let _host = Guard(Some(host), "tributary");
    eprintln!("xtask: tributary run started (log: target/demo/tributary.log)");

    let connector = wait_for(
        Duration::from_secs(60),
        "the connector to need configuration",
        || {
            let c = es.ok("GET", &format!("/_connector/{CONNECTOR_ID}"), None)?;
            Ok((c["status"] == "needs_configuration").then_some(c))
        },
    )?;
    eprintln!(
        "xtask: schema registered ({} fields), status needs_configuration",
        connector["configuration"]
            .as_object()
            .map_or(0, |m| m.len())
    );

    // 5. Configuration values.
    es.ok(
        "PUT",
        &format!("/_connector/{CONNECTOR_ID}/_configuration"),
        Some(json!({"values": {
            "host": pg_host, "port": pg_port.parse::<u16>().unwrap_or(5432),
            "username": pg_user, "password": std::env::var("PGPASSWORD").unwrap_or_else(|_| "postgres".into()),
            "database": "chinook", "schema": "public", "tables": "album,artist"
        }})),
    )?;

    // 6. A full sync job.
    let created = es.ok(
        "POST",
        "/_connector/_sync_job",
        Some(json!({"id": CONNECTOR_ID, "job_type": "full"})),
    )?;
    let job_id = created["id"].as_str().context("sync job id")?.to_string();
    eprintln!("xtask: created sync job {job_id}");

    // 7. The host claims it, syncs, completes.
    let job = wait_for(Duration::from_secs(300), "the sync job to finish", || {
        let j = es.ok("GET", &format!("/_connector/_sync_job/{job_id}"), None)?;
        let done = matches!(
            j["status"].as_str(),
            Some("completed" | "error" | "canceled")
        );
        Ok(done.then_some(j))
    })?;
    es.ok("POST", "/music/_refresh", None)?;
    let count = es.ok("GET", "/music/_count", None)?;
    let fields = [
        "status",
        "job_type",
        "trigger_method",
        "indexed_document_count",
        "indexed_document_volume",
        "deleted_document_count",
        "total_document_count",
        "error",
        "worker_hostname",
        "started_at",
        "completed_at",
    ];
    let summary: serde_json::Map<String, Value> = fields
        .iter()
        .map(|f| (f.to_string(), job[*f].clone()))
        .collect();
    println!(
        "sync job {job_id}:\n{}",
        serde_json::to_string_pretty(&summary)?
    );
    println!("GET music/_count: {}", count["count"]);
    if job["status"] != "completed" {
        bail!("the sync job ended {}: {}", job["status"], job["error"]);
    }
    Ok(())
}

fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what} (see target/demo/tributary.log)");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Base64 without another dependency (only used for the demo's Basic auth header).
mod base64_lite {
    pub fn encode(input: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
