//! What the operator allows (config.yml `plugins.postgresql`) and what one job is
//! granted: the connector's values the host connects with, under that policy.

use std::sync::Arc;

use serde_json::{Map, Value};
use tributary_capability_common as common;

use super::session::SessionSlots;
use super::PgError;

/// The statement timeout when the policy leaves it at 0.
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 240_000;
/// Sessions one job may hold open at once when the policy leaves it at 0.
pub const DEFAULT_MAX_SESSIONS: usize = 4;

/// Operator policy from config.yml (`plugins.postgresql.*`).
#[derive(Debug, Clone, Default)]
pub struct PgPolicy {
    /// `host` or `host:port` patterns the operator allows (`*.example.com` matches
    /// subdomains); empty = allow any.
    pub allowed_hosts: Vec<String>,
    /// Statement timeout for every statement, in milliseconds (0 = 240 s). Kept
    /// below the host's wall-clock bound of a plugin call, so a slow statement is
    /// reported as what it is.
    pub statement_timeout_ms: u64,
    /// Sessions one job may hold open at once (0 = 4).
    pub max_sessions: usize,
}

impl PgPolicy {
    /// The effective statement timeout.
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
/// configuration values, secrets included — they never reach the plugin), the
/// operator's policy, and the job's session slots.
#[derive(Debug, Clone)]
pub struct PgGrant {
    /// The connector's configuration values (`host`, `port`, `username`, `password`,
    /// `database`, `ssl_enabled`, `ssl_ca`; others are ignored).
    pub values: Arc<Map<String, Value>>,
    /// The operator's policy.
    pub policy: PgPolicy,
    /// Open sessions of this job (shared by every clone of the grant).
    pub slots: SessionSlots,
}

impl PgGrant {
    /// A grant for one job.
    pub fn new(values: Map<String, Value>, policy: PgPolicy) -> Self {
        let slots = SessionSlots::new(policy.max_sessions());
        PgGrant {
            values: Arc::new(values),
            policy,
            slots,
        }
    }

    /// Asks the server to cancel whatever this job's sessions are running (the
    /// host gave up on a call).
    pub fn cancel_running(&self) {
        self.slots.cancel_running();
    }
}

/// The configuration keys the capability itself reads as credentials: the
/// plugin never receives their values.
pub const CREDENTIAL_KEYS: &[&str] = &["password"];

pub(super) fn text_value<'a>(values: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    common::text(values, key)
}

pub(super) fn required<'a>(values: &'a Map<String, Value>, key: &str) -> Result<&'a str, PgError> {
    common::required(values, key).map_err(|e| PgError::local(e.to_string()))
}

pub(super) fn port_value(values: &Map<String, Value>) -> Result<u16, PgError> {
    common::port(values, 5432).map_err(|e| PgError::local(e.to_string()))
}

pub(super) fn bool_value(values: &Map<String, Value>, key: &str) -> bool {
    common::flag(values, key)
}

/// Whether `host:port` is allowed by the operator's patterns (the rules every
/// capability shares: `tributary_capability_common::hosts`).
pub use common::host_allowed;
