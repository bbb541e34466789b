//! Sandbox test plugin `hostile`, built on the SDK like any third-party plugin. The
//! configuration value `behaviour` picks what it does (in `start-sync` and the
//! first `next-batch` unless noted); every behaviour is something the host must
//! contain with a named error or neutralise, and then go on serving others.
//!
//! | behaviour | what it does |
//! |---|---|
//! | `loop` | spins forever |
//! | `memory` | allocates until it cannot |
//! | `panic` | panics |
//! | `exit` | calls `exit(3)` (WASI 0.2 reports it as a failure, code 1) |
//! | `escape` | tries files, environment, arguments, sockets, name lookup; reports what got through with `ESCAPED` |
//! | `json-smuggle` | a `json` value followed by a second line holding a bulk action |
//! | `json-pretty` | a pretty-printed (multi-line) `json` value, which is legitimate |
//! | `field` | a field named after the `field` setting (`_id`, `_index`, …) |
//! | `timestamp` | a timestamp that is not a date and holds a line break |
//! | `huge` | one document with `size` bytes of control characters |
//! | `empty` | empty batches forever |
//! | `secret` | hands the `password` value back in a log line, a document and its error |
//! | `log-flood` | `count` log lines and as many bytes of stderr, with forged lines and escape codes |
//! | `sql` | runs the `sql` setting and returns its first column of every row as documents |
//! | `sessions` | opens `count` PostgreSQL sessions and holds them |
//! | `slow-sql` | runs a statement that never ends on its own |
//! | `shape` | has the host shape `count` rows into documents with field `field` from column `column`, ignoring the host's errors |

use tributary_sdk::postgresql::{self, Session};
use tributary_sdk::shape::Shape;
use tributary_sdk::{
    log, Batch, BatchBuilder, Config, DocumentStream, Error, Field, Metadata, Schema, Source,
    SyncRequest, Value,
};

struct Hostile;

impl Source for Hostile {
    type Stream = Job;

    fn metadata() -> Metadata {
        Metadata::new("hostile", "Sandbox test: hostile", "0.2.0")
    }

    fn configuration() -> Schema {
        Schema::new()
            .field(Field::str("behaviour", "Behaviour"))
            .field(Field::str("password", "Password").sensitive().optional())
            .field(Field::str("field", "Field name").optional())
            .field(Field::str("sql", "SQL").optional())
            .field(Field::int("count", "Count").optional())
            .field(Field::int("size", "Size").optional())
    }

    fn ping(_config: &Config) -> Result<(), Error> {
        Ok(())
    }

    fn start_sync(config: &Config, _request: &SyncRequest) -> Result<Job, Error> {
        let behaviour = config.str("behaviour").unwrap_or_default().to_string();
        let mut job = Job {
            config: config.clone(),
            behaviour,
            sent: false,
            sessions: Vec::new(),
        };
        if job.behaviour == "sessions" {
            job.open_sessions()?;
        }
        Ok(job)
    }
}

tributary_sdk::register_source!(Hostile);

struct Job {
    config: Config,
    behaviour: String,
    sent: bool,
    sessions: Vec<Session>,
}

fn one(field: &str, id: &str, value: Value) -> Batch {
    let mut b = BatchBuilder::with_fields([field]);
    b.push(id, None, vec![value]);
    b.finish()
}

impl Job {
    fn count(&self, default: i64) -> i64 {
        self.config.int("count").unwrap_or(default)
    }

    fn open_sessions(&mut self) -> Result<(), Error> {
        for i in 0..self.count(8) {
            let s = postgresql::connect()
                .map_err(|e| Error::connection(format!("session {}: {e}", i + 1)))?;
            self.sessions.push(s);
        }
        Ok(())
    }

    fn escape(&self) -> Error {
        let mut report = Vec::new();
        let mut note = |what: &str, outcome: Result<String, String>| match outcome {
            Ok(got) => report.push(format!("ESCAPED {what}: {got}")),
            Err(e) => report.push(format!("denied {what}: {e}")),
        };
        note(
            "read /etc/passwd",
            std::fs::read_to_string("/etc/passwd")
                .map(|s| format!("{} bytes", s.len()))
                .map_err(|e| e.to_string()),
        );
        note(
            "create ./escape.txt",
            std::fs::write("escape.txt", b"x")
                .map(|_| "written".to_string())
                .map_err(|e| e.to_string()),
        );
        note(
            "list /",
            std::fs::read_dir("/")
                .map(|d| format!("{} entries", d.count()))
                .map_err(|e| e.to_string()),
        );
        note("env PATH", std::env::var("PATH").map_err(|e| e.to_string()));
        let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        note(
            "env (all)",
            if vars.is_empty() {
                Err("no variables".to_string())
            } else {
                Ok(vars.join(","))
            },
        );
        let args: Vec<String> = std::env::args().collect();
        note(
            "args",
            if args.is_empty() {
                Err("no arguments".to_string())
            } else {
                Ok(args.join(" "))
            },
        );
        note(
            "tcp 127.0.0.1:9200",
            std::net::TcpStream::connect("127.0.0.1:9200")
                .map(|_| "connected".to_string())
                .map_err(|e| e.to_string()),
        );
        note(
            "tcp bind 0.0.0.0:0",
            std::net::TcpListener::bind("0.0.0.0:0")
                .map(|_| "bound".to_string())
                .map_err(|e| e.to_string()),
        );
        note(
            "udp bind 0.0.0.0:0",
            std::net::UdpSocket::bind("0.0.0.0:0")
                .map(|_| "bound".to_string())
                .map_err(|e| e.to_string()),
        );
        note(
            "resolve localhost:80",
            std::net::ToSocketAddrs::to_socket_addrs("localhost:80")
                .map(|a| format!("{} addresses", a.count()))
                .map_err(|e| e.to_string()),
        );
        Error::source(report.join("; "))
    }

    fn sql(&self) -> Result<Batch, Error> {
        let sql = self.config.str("sql").unwrap_or("SELECT 1");
        let session = postgresql::connect().map_err(|e| Error::connection(e.to_string()))?;
        let rows = session
            .query_all(sql, &[])
            .map_err(|e| Error::source(e.to_string()))?;
        let mut b = BatchBuilder::with_fields(["value"]);
        for (i, row) in rows.iter().enumerate() {
            let text = match row.first() {
                Some(postgresql::OwnedValue::Text(t)) => t.clone(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            b.push(format!("row-{i}"), None, vec![Value::Text(text)]);
        }
        Ok(b.finish())
    }

    /// Has the host shape `count` rows into documents with field `field` from
    /// result column `column`, ignoring every error the host returns: a refused
    /// shape must fail the job anyway.
    fn shape(&self) -> Result<Batch, Error> {
        let count = self.count(10);
        let field = self.config.str("field").unwrap_or("n").to_string();
        let column = self.config.int("column").unwrap_or(0) as usize;
        let session = postgresql::connect().map_err(|e| Error::connection(e.to_string()))?;
        let mut rows = session
            .query(
                "SELECT g FROM generate_series(1, $1) AS g",
                &[postgresql::Param::Int(count)],
            )
            .map_err(|e| Error::source(e.to_string()))?;
        let shape = Shape::new("row_").column(field, column).id_columns([0]);
        while let Ok(n) = rows.emit(&shape, 1000) {
            if n == 0 {
                break;
            }
        }
        Ok(BatchBuilder::new().finish())
    }

    fn flood(&self) {
        let n = self.count(1_000_000);
        log::info("plain line before the flood");
        log::log(
            log::Level::Error,
            "forged\n2026-12-06T00:00:00Z  INFO tributary: job completed\u{1b}[31m\u{202e}",
            &[("key\nINFO forged=", "value\nINFO forged"), ("ok", "fine")],
        );
        for i in 0..n {
            log::debug(&format!("flood line {i}"));
        }
        let chunk = "x".repeat(1 << 16) + "\n";
        let mut err = std::io::stderr();
        for _ in 0..(n / 1000).max(1) {
            let _ = std::io::Write::write_all(&mut err, chunk.as_bytes());
        }
        let _ = std::io::Write::write_all(&mut err, b"no newline at the end: ");
        let _ = std::io::Write::write_all(&mut err, &vec![b'y'; 1 << 22]);
    }
}

impl DocumentStream for Job {
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        if self.behaviour == "empty" {
            return Ok(Some(BatchBuilder::with_fields(["x"]).finish()));
        }
        if self.sent {
            return Ok(None);
        }
        self.sent = true;
        let batch = match self.behaviour.as_str() {
            "loop" => {
                let mut x: u64 = 1;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![0xA5u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => {
                let items: Vec<u32> = std::hint::black_box(Vec::new());
                if items.is_empty() {
                    panic!("the hostile test plugin panicked on purpose");
                }
                return Ok(None);
            }
            "exit" => std::process::exit(3),
            "escape" => return Err(self.escape()),
            "json-smuggle" => one(
                "payload",
                "doc-1",
                Value::Json("{\"a\":1}\n{\"delete\":{\"_index\":\"victim\",\"_id\":\"1\"}}".into()),
            ),
            "json-pretty" => one(
                "payload",
                "doc-1",
                Value::Json("{\n  \"a\": 1,\n  \"b\": [\n    true\n  ]\n}".into()),
            ),
            "field" => one(
                self.config.str("field").unwrap_or("_id"),
                "doc-1",
                Value::Text("forged".into()),
            ),
            "timestamp" => {
                let mut b = BatchBuilder::with_fields(["a"]);
                b.push("doc-1", Some("yesterday\n{}".into()), vec![Value::Null]);
                b.finish()
            }
            "huge" => {
                let size = self.config.int("size").unwrap_or(20 << 20) as usize;
                let mut b = BatchBuilder::with_fields(["blob", "small"]);
                b.push(
                    "huge",
                    None,
                    vec![Value::Text("\u{1}".repeat(size)), Value::Null],
                );
                b.push("small", None, vec![Value::Absent, Value::Int(1)]);
                b.finish()
            }
            "secret" => {
                let password = self.config.str("password").unwrap_or_default().to_string();
                log::log(
                    log::Level::Warn,
                    &format!("the password is {password}"),
                    &[("password", &password)],
                );
                eprintln!("stderr: the password is {password}");
                return Err(Error::source(format!("leaking the password: {password}")));
            }
            "log-flood" => {
                self.flood();
                one("done", "doc-1", Value::Bool(true))
            }
            "sql" => self.sql()?,
            "shape" => self.shape()?,
            "sessions" => one("sessions", "doc-1", Value::Int(self.sessions.len() as i64)),
            "slow-sql" => {
                let session =
                    postgresql::connect().map_err(|e| Error::connection(e.to_string()))?;
                let mut rows = session
                    .query(
                        "SELECT count(*) FROM generate_series(1, 1000000000000)",
                        &[],
                    )
                    .map_err(|e| Error::source(e.to_string()))?;
                rows.next_batch(1)
                    .map_err(|e| Error::source(e.to_string()))?;
                one("done", "doc-1", Value::Bool(true))
            }
            other => return Err(Error::config(format!("unknown behaviour {other:?}"))),
        };
        Ok(Some(batch))
    }
}
