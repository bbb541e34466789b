//! A PostgreSQL cluster of a test's own: `initdb` into a temporary directory,
//! started on a free port with the settings the test asks for (logical decoding),
//! stopped and removed when the guard goes. The machine's own server is never
//! touched. Shared by the capability tests and the e2e scenarios (included by
//! path); a missing PostgreSQL 15 installation fails loudly.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the server binaries are (Debian's layout); `TRIBUTARY_PG_BIN` overrides.
fn bin(name: &str) -> PathBuf {
    let dir = std::env::var("TRIBUTARY_PG_BIN")
        .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".to_string());
    Path::new(&dir).join(name)
}

/// initdb and the server refuse to run as root: run them as `postgres` then.
fn as_server_user(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut c: Command, what: &str) -> Output {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {c:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// A running cluster; user `postgres`, trust authentication, 127.0.0.1.
pub struct Cluster {
    pub port: u16,
    root: PathBuf,
    data: PathBuf,
    stopped: bool,
}

impl Cluster {
    /// A cluster with `settings` (`name=value`) on top of `wal_level=logical`.
    pub fn start(tag: &str, settings: &[&str]) -> Cluster {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let root =
            std::env::temp_dir().join(format!("tributary-pg-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&root).expect("create the cluster directory");
        // The server user must own it when the tests run as root.
        let _ = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&root)
            .status();
        let data = root.join("data");
        let mut init = as_server_user(&bin("initdb"));
        init.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ]);
        run(init, "initdb (PostgreSQL 15 must be installed)");
        let port = free_port();
        let mut opts = format!(
            "-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10 \
             -c fsync=off -c synchronous_commit=on",
            root.display()
        );
        for s in settings {
            opts.push_str(" -c ");
            opts.push_str(s);
        }
        let mut start = as_server_user(&bin("pg_ctl"));
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(root.join("server.log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"]);
        run(start, "pg_ctl start");
        Cluster {
            port,
            root,
            data,
            stopped: false,
        }
    }

    /// A libpq-style connection string for `db`.
    pub fn conn_str(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={db}",
            self.port
        )
    }

    /// Runs SQL through psql (for set-up outside an async runtime).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let mut c = Command::new(bin("psql"));
        c.args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
        ])
        .args([
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-d",
            db,
            "-c",
            sql,
        ]);
        String::from_utf8_lossy(&run(c, "psql").stdout)
            .trim()
            .to_string()
    }

    /// Stops the server now (also done on drop).
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let mut stop = as_server_user(&bin("pg_ctl"));
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
