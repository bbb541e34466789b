//! What the operator allows (config.yml `plugins.mysql`) and what one job is
//! granted: the connector's values the host connects with, under that policy.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::session::SessionSlots;
use super::MysqlError;

/// The statement time limit when the policy leaves it at 0.
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 240_000;
/// Sessions one job may hold open at once when the policy leaves it at 0.
pub const DEFAULT_MAX_SESSIONS: usize = 4;

/// Operator policy from config.yml (`plugins.mysql.*`). Off unless the operator
/// enables it: a new capability reaches nothing until granted.
#[derive(Debug, Clone, Default)]
pub struct MysqlPolicy {
    /// `plugins.mysql.enabled`: plugins importing the capability may load.
    pub enabled: bool,
    /// `host` or `host:port` patterns the operator allows (`*.example.com` matches
    /// subdomains); empty = allow any.
    pub allowed_hosts: Vec<String>,
    /// Time limit of every statement, in milliseconds (0 = 240 s).
    pub statement_timeout_ms: u64,
    /// Sessions one job may hold open at once (0 = 4).
    pub max_sessions: usize,
}

impl MysqlPolicy {
    /// The effective statement time limit.
    pub fn statement_timeout_ms(&self) -> u64 {
        match self.statement_timeout_ms {
            0 => DEFAULT_STATEMENT_TIMEOUT_MS,
            t => t,
        }
    }

    /// The effective session cap.
    pub fn max_sessions(&self) -> usize {
        match self.max_sessions {
            0 => DEFAULT_MAX_SESSIONS,
            n => n,
        }
    }
}

/// What a job is granted: the connection the host will open (from the connector's
/// configuration values, the password included — it never reaches the plugin),
/// the operator's policy, and the job's session slots.
#[derive(Debug, Clone)]
pub struct MysqlGrant {
    /// The connector's configuration values (`host`, `port`, `user`, `password`,
    /// `database`, `ssl_enabled`, `ssl_ca`; others are ignored).
    pub values: Arc<Map<String, Value>>,
    /// The operator's policy.
    pub policy: MysqlPolicy,
    /// Open sessions of this job (shared by every clone of the grant).
    pub slots: SessionSlots,
}

impl MysqlGrant {
    /// A grant for one job.
    pub fn new(values: Map<String, Value>, policy: MysqlPolicy) -> Self {
        let slots = SessionSlots::new(policy.max_sessions());
        MysqlGrant {
            values: Arc::new(values),
            policy,
            slots,
        }
    }

    /// Asks the server to stop whatever this job's sessions are running (the host
    /// gave up on a call).
    pub fn cancel_running(&self) {
        self.slots.cancel_running();
    }
}

/// The configuration keys the capability reads as credentials: the plugin never
/// receives their values.
pub const CREDENTIAL_KEYS: &[&str] = &["password"];

pub(crate) fn text_value<'a>(values: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    values
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

pub(crate) fn required<'a>(
    values: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a str, MysqlError> {
    text_value(values, key)
        .ok_or_else(|| MysqlError::local(format!("configuration value '{key}' is missing")))
}

pub(crate) fn port_value(values: &Map<String, Value>) -> Result<u16, MysqlError> {
    let bad = || MysqlError::local("configuration value 'port' is not a port number");
    match values.get("port") {
        None | Some(Value::Null) => Ok(3306),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(bad),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(3306),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

pub(crate) fn bool_value(values: &Map<String, Value>, key: &str) -> bool {
    match values.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        ),
        Some(Value::Number(n)) => n.as_i64().is_some_and(|v| v != 0),
        _ => false,
    }
}

/// Whether `host:port` is allowed by the operator's patterns (same rules as
/// `plugins.postgresql.allowed_hosts`).
pub fn host_allowed(patterns: &[String], host: &str, port: u16) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    patterns.iter().any(|p| {
        let p = p.trim().to_ascii_lowercase();
        // `[v6]:port`, `host:port`, or a bare host (any port).
        let (ph, pp) = match p.rsplit_once(':') {
            Some((h, port))
                if port.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']')) =>
            {
                (
                    h.trim_start_matches('[').trim_end_matches(']').to_string(),
                    port.parse::<u16>().ok(),
                )
            }
            _ => (
                p.trim_start_matches('[').trim_end_matches(']').to_string(),
                None,
            ),
        };
        let host_ok = match ph.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => ph == "*" || ph == host,
        };
        host_ok && pp.is_none_or(|pp| pp == port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_host_and_port() {
        let p = vec!["db.internal:3306".to_string(), "*.example.com".to_string()];
        assert!(host_allowed(&p, "db.internal", 3306));
        assert!(!host_allowed(&p, "db.internal", 3307));
        assert!(host_allowed(&p, "a.example.com", 1));
        assert!(!host_allowed(&p, "example.com", 3306));
        assert!(!host_allowed(&p, "127.0.0.1", 3306));
        assert!(host_allowed(&[], "anything", 1));
    }
}
