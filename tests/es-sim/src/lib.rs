//! es-sim: an Elasticsearch stand-in for Tributary's tests.
//!
//! It answers the calls a connector service makes (cluster info, security, the Connector API,
//! document and search APIs) the way Elasticsearch 9.x does, including its error envelopes and
//! its refresh-visibility rule, and it can inject faults. Test equipment only.

mod auth;
mod bulk;
mod cluster;
mod connector;
mod dates;
mod docs;
mod faults;
mod http;
mod ingest;
mod mapping;
mod privileges;
mod router;
mod search;
mod server;
mod store;

pub use faults::Faults;
pub use server::Server;

use std::time::Duration;

/// How a server is started.
#[derive(Clone, Debug)]
pub struct Options {
    /// Version reported by `GET /` (`version.number`). Behaviour follows 9.x unless the major
    /// version is 8, in which case soft delete and system-index protection are off.
    pub version: String,
    pub username: String,
    pub password: String,
    /// When false, every request is served as the superuser without credentials.
    pub security: bool,
    pub faults: Faults,
    /// Seed of the fault dice; the same seed and request sequence give the same faults.
    pub seed: u64,
    /// Period of the automatic refresh (Elasticsearch's `index.refresh_interval`, default 1 s).
    pub refresh_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            version: "9.1.0".to_string(),
            username: "elastic".to_string(),
            password: "changeme".to_string(),
            security: true,
            faults: Faults::default(),
            seed: 0,
            refresh_interval: Duration::from_secs(1),
        }
    }
}
