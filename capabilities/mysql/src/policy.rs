//! What the operator allows (config.yml `plugins.mysql`) and what one job is
//! granted: the connector's values the host connects with, under that policy.

use std::sync::Arc;

use serde_json::{Map, Value};
use tributary_capability_common as common;

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
    common::text(values, key)
}

pub(crate) fn required<'a>(
    values: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a str, MysqlError> {
    common::required(values, key).map_err(|e| MysqlError::local(e.to_string()))
}

pub(crate) fn port_value(values: &Map<String, Value>) -> Result<u16, MysqlError> {
    common::port(values, 3306).map_err(|e| MysqlError::local(e.to_string()))
}

pub(crate) fn bool_value(values: &Map<String, Value>, key: &str) -> bool {
    common::flag(values, key)
}

/// Whether `host:port` is allowed by the operator's patterns (the rules every
/// capability shares: `tributary_capability_common::hosts`).
pub use common::host_allowed;

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
