//! Sandbox test plugin `escape`: tries to leave the sandbox.
//!
//! `next-batch` tries to read and create files, read the environment, open TCP
//! sockets and resolve a name. Every attempt must fail; the sync then reports what
//! was denied as a `source` error. Anything that succeeds is reported with the
//! word `ESCAPED` so a test can catch it.

wit_bindgen::generate!({ world: "source-plugin", path: "../../../wit" });

use exports::tributary::connector::source::{self, Guest, GuestSync};
use tributary::connector::types::{
    Batch, ConfigField, ErrorKind, Features, FieldError, Metadata, PluginError, SyncRequest,
};

struct Plugin;
struct Job;

impl Guest for Plugin {
    type Sync = Job;
    fn metadata() -> Metadata {
        Metadata {
            service_type: "escape".into(),
            name: "Sandbox test: escape".into(),
            version: "0.1.0".into(),
            features: Features {
                incremental_sync: false,
                basic_rules: false,
                advanced_rules: false,
                document_level_security: false,
            },
        }
    }
    fn configuration_schema() -> Vec<ConfigField> {
        vec![]
    }
    fn validate_config(_config: String) -> Vec<FieldError> {
        vec![]
    }
    fn ping(_config: String) -> Result<(), PluginError> {
        Ok(())
    }
    fn validate_advanced_rules(_config: String, _rules: String) -> Vec<String> {
        vec![]
    }
    fn start_sync(_config: String, _request: SyncRequest) -> Result<source::Sync, PluginError> {
        Ok(source::Sync::new(Job))
    }
}

impl GuestSync for Job {
    fn next_batch(&self) -> Result<Option<Batch>, PluginError> {
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
        Err(PluginError {
            kind: ErrorKind::Source,
            message: report.join("; "),
        })
    }
    fn cursor(&self) -> Option<String> {
        None
    }
}

export!(Plugin);
