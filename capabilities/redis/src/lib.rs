//! The Redis capability: the only place that opens connections to Redis on a
//! plugin's behalf. Free of wasmtime; the runtime binds it to the WIT interface.
//!
//! The host opens the connection from the connector's configuration (`host`,
//! `port`, `username`, `password`, TLS with `ssl_enabled`, mutual TLS with
//! `mutual_tls_enabled`/`tls_certfile`/`tls_keyfile`) after checking the operator's
//! allowlist; the plugin names only a database number. What a plugin can send is
//! a fixed set of read-only calls, each one command the host writes: `SCAN`
//! (never `KEYS`, which blocks the server on a large database), `TYPE`,
//! `MEMORY USAGE`, and one whole-value read per type (`GET`, `LRANGE 0 -1`,
//! `SMEMBERS`, `ZRANGE … WITHSCORES`, `HGETALL`, `XRANGE - +`). A value whose
//! `MEMORY USAGE` exceeds the operator's reply cap is refused before it is read.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    Client, ClientTlsConfig, ConnectionAddr, ConnectionInfo, ProtocolVersion, RedisConnectionInfo,
    TlsCertificates,
};
use serde_json::{Map, Value};
use tributary_capability_common as common;

/// How long opening a connection may take, and one command.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The reply cap when the policy leaves it at 0.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 64 << 20;
/// Connections one job may hold when the policy leaves it at 0.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4;

/// The configuration keys the capability reads as credentials: the plugin never
/// receives their values.
pub const CREDENTIAL_KEYS: &[&str] = &["password", "tls_keyfile"];

/// Operator policy from config.yml (`plugins.redis.*`); off unless enabled.
#[derive(Debug, Clone, Default)]
pub struct RedisPolicy {
    /// `plugins.redis.enabled`: plugins importing the capability may load.
    pub enabled: bool,
    /// `host` or `host:port` patterns allowed; empty = any.
    pub allowed_hosts: Vec<String>,
    /// Largest value one read may return, in bytes (0 = 64 MiB).
    pub max_reply_bytes: u64,
    /// Connections one job may hold at once (0 = 4).
    pub max_connections: usize,
}

impl RedisPolicy {
    fn max_reply_bytes(&self) -> u64 {
        match self.max_reply_bytes {
            0 => DEFAULT_MAX_REPLY_BYTES,
            n => n,
        }
    }
}

/// A Redis error as the plugin sees it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RedisError {
    /// The server's error code (`WRONGTYPE`, `NOAUTH`, …), when it sent one.
    pub code: Option<String>,
    /// Human-readable message.
    pub message: String,
}

impl RedisError {
    fn local(message: impl Into<String>) -> Self {
        RedisError {
            code: None,
            message: message.into(),
        }
    }
}

impl From<redis::RedisError> for RedisError {
    fn from(e: redis::RedisError) -> Self {
        RedisError {
            code: e.code().map(str::to_string),
            message: e.to_string(),
        }
    }
}

/// What one job is granted.
#[derive(Debug, Clone)]
pub struct RedisGrant {
    /// The connector's configuration values (credentials included).
    pub values: Arc<Map<String, Value>>,
    /// The operator's policy.
    pub policy: RedisPolicy,
    open: Arc<AtomicUsize>,
}

impl RedisGrant {
    /// A grant for one job.
    pub fn new(values: Map<String, Value>, policy: RedisPolicy) -> Self {
        RedisGrant {
            values: Arc::new(values),
            policy,
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

fn text<'a>(v: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    common::text(v, k)
}

fn flag(v: &Map<String, Value>, k: &str) -> bool {
    common::flag(v, k)
}

fn port(v: &Map<String, Value>) -> Result<u16, RedisError> {
    common::port(v, 6379).map_err(|e| RedisError::local(e.to_string()))
}

/// Whether `host:port` is allowed by the operator's patterns (the rules every
/// capability shares: `tributary_capability_common::hosts`).
pub use common::host_allowed;

/// The type of a key as `TYPE` names it.
pub type KeyType = String;

/// Field/value pairs (a hash, a stream entry), in the server's order.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// One stream entry: id and fields.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    /// `1700000000000-0`.
    pub id: String,
    /// Field/value pairs in entry order.
    pub fields: Fields,
}

/// One open connection on one database.
pub struct RedisConnection {
    con: MultiplexedConnection,
    db: u32,
    max_reply: u64,
    _slot: Slot,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn timed<T>(
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, RedisError> {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(RedisError::local(format!(
            "Redis did not answer within {} s",
            TIMEOUT.as_secs()
        ))),
    }
}

impl RedisConnection {
    /// Opens a connection on database `db` for the job the grant belongs to.
    pub async fn connect(grant: &RedisGrant, db: u32) -> Result<Self, RedisError> {
        let v = &grant.values;
        let max = match grant.policy.max_connections {
            0 => DEFAULT_MAX_CONNECTIONS,
            n => n,
        };
        if grant
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
            return Err(RedisError::local(format!(
                "connection limit reached: this job already holds {max} Redis connections (plugins.redis.max_connections)"
            )));
        }
        let slot = Slot(grant.open.clone());
        let host = text(v, "host")
            .ok_or_else(|| RedisError::local("configuration value 'host' is missing"))?;
        let port = port(v)?;
        if !host_allowed(&grant.policy.allowed_hosts, host, port) {
            return Err(RedisError::local(format!(
                "host {host}:{port} is not allowed by the operator (plugins.redis.allowed_hosts)"
            )));
        }
        let tls = flag(v, "ssl_enabled");
        let addr = if tls {
            ConnectionAddr::TcpTls {
                host: host.to_string(),
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host.to_string(), port)
        };
        let info = ConnectionInfo {
            addr,
            redis: RedisConnectionInfo {
                db: i64::from(db),
                username: text(v, "username").map(str::to_string),
                password: text(v, "password").map(str::to_string),
                protocol: ProtocolVersion::RESP2,
            },
        };
        let client = if tls {
            let client_tls = match (
                flag(v, "mutual_tls_enabled"),
                text(v, "tls_certfile"),
                text(v, "tls_keyfile"),
            ) {
                (true, Some(cert), Some(key)) => Some(ClientTlsConfig {
                    client_cert: cert.as_bytes().to_vec(),
                    client_key: key.as_bytes().to_vec(),
                }),
                (true, _, _) => {
                    return Err(RedisError::local(
                        "mutual TLS needs 'tls_certfile' and 'tls_keyfile'",
                    ))
                }
                _ => None,
            };
            Client::build_with_tls(
                info,
                TlsCertificates {
                    client_tls,
                    root_cert: None,
                },
            )?
        } else {
            Client::open(info)?
        };
        let con = timed(client.get_multiplexed_async_connection()).await?;
        Ok(RedisConnection {
            con,
            db,
            max_reply: grant.policy.max_reply_bytes(),
            _slot: slot,
        })
    }

    /// `PING`.
    pub async fn ping(&mut self) -> Result<(), RedisError> {
        timed(redis::cmd("PING").query_async::<String>(&mut self.con))
            .await
            .map(|_| ())
    }

    /// The number of databases (`CONFIG GET databases`; 16 when the server hides it).
    pub async fn databases(&mut self) -> Result<u32, RedisError> {
        let r: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("databases")
            .query_async(&mut self.con)
            .await;
        Ok(r.ok()
            .and_then(|v| v.get(1).and_then(|n| n.parse().ok()))
            .unwrap_or(16))
    }

    /// One `SCAN` step: the next cursor (0 at the end) and keys.
    pub async fn scan(
        &mut self,
        cursor: u64,
        pattern: Option<&str>,
        count: u32,
        key_type: Option<&str>,
    ) -> Result<(u64, Vec<Vec<u8>>), RedisError> {
        let mut c = redis::cmd("SCAN");
        c.arg(cursor);
        if let Some(p) = pattern {
            c.arg("MATCH").arg(p);
        }
        c.arg("COUNT").arg(count.clamp(1, 10_000));
        if let Some(t) = key_type {
            c.arg("TYPE").arg(t);
        }
        timed(c.query_async(&mut self.con)).await
    }

    /// `TYPE key` (`none` when it is gone).
    pub async fn key_type(&mut self, key: &[u8]) -> Result<KeyType, RedisError> {
        timed(redis::cmd("TYPE").arg(key).query_async(&mut self.con)).await
    }

    /// `MEMORY USAGE key` (`None` when it is gone).
    pub async fn memory_usage(&mut self, key: &[u8]) -> Result<Option<u64>, RedisError> {
        timed(
            redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .query_async(&mut self.con),
        )
        .await
    }

    /// Refuses a value larger than the operator's cap before reading it.
    async fn within_cap(&mut self, key: &[u8]) -> Result<(), RedisError> {
        let size = self.memory_usage(key).await?.unwrap_or(0);
        if size > self.max_reply {
            return Err(RedisError::local(format!(
                "the value of key '{}' takes {size} bytes, more than plugins.redis.max_reply_bytes ({})",
                String::from_utf8_lossy(key),
                self.max_reply
            )));
        }
        Ok(())
    }

    /// `GET key`.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, RedisError> {
        self.within_cap(key).await?;
        timed(redis::cmd("GET").arg(key).query_async(&mut self.con)).await
    }

    /// `LRANGE key 0 -1`.
    pub async fn list(&mut self, key: &[u8]) -> Result<Vec<Vec<u8>>, RedisError> {
        self.within_cap(key).await?;
        timed(
            redis::cmd("LRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .query_async(&mut self.con),
        )
        .await
    }

    /// `SMEMBERS key`.
    pub async fn set(&mut self, key: &[u8]) -> Result<Vec<Vec<u8>>, RedisError> {
        self.within_cap(key).await?;
        timed(redis::cmd("SMEMBERS").arg(key).query_async(&mut self.con)).await
    }

    /// `ZRANGE key 0 -1 WITHSCORES`.
    pub async fn sorted_set(&mut self, key: &[u8]) -> Result<Vec<(Vec<u8>, f64)>, RedisError> {
        self.within_cap(key).await?;
        timed(
            redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut self.con),
        )
        .await
    }

    /// `HGETALL key`, in the server's order.
    pub async fn hash(&mut self, key: &[u8]) -> Result<Fields, RedisError> {
        self.within_cap(key).await?;
        timed(redis::cmd("HGETALL").arg(key).query_async(&mut self.con)).await
    }

    /// `XRANGE key - +`.
    pub async fn stream(&mut self, key: &[u8]) -> Result<Vec<StreamEntry>, RedisError> {
        self.within_cap(key).await?;
        let raw: Vec<(String, Vec<Vec<u8>>)> = timed(
            redis::cmd("XRANGE")
                .arg(key)
                .arg("-")
                .arg("+")
                .query_async(&mut self.con),
        )
        .await?;
        Ok(raw
            .into_iter()
            .map(|(id, kv)| StreamEntry {
                id,
                fields: kv
                    .chunks(2)
                    .map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default()))
                    .collect(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist() {
        let p = vec!["cache.internal:6379".to_string()];
        assert!(host_allowed(&p, "cache.internal", 6379));
        assert!(!host_allowed(&p, "127.0.0.1", 6379));
        assert!(host_allowed(&[], "x", 1));
    }
}
