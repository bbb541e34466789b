//! What one job is granted: the capabilities the host opens for it, and the
//! secrets it must never see.

use tributary_capability_filesystem::{FsError, FsGrant};
use tributary_capability_http::HttpGrant;
use tributary_capability_mysql::MysqlGrant;
use tributary_capability_postgresql::changes::{ChangesGrant, ChangesPolicy};
use tributary_capability_postgresql::PgGrant;
use tributary_capability_redis::RedisGrant;

use super::secrets::Secrets;

/// What the host grants one job. The host decides; a plugin that imports
/// `postgresql` without a grant gets an error from `connect()`.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// The PostgreSQL connection this job may open, if any.
    pub postgresql: Option<PgGrant>,
    /// Change data capture on that connection, for a job of a connector (the
    /// slot is named after the connector id); `None` outside a connector's job.
    pub postgresql_changes: Option<ChangesGrant>,
    /// The directory this job may read, or why the connector's `directory` is
    /// refused (returned by `filesystem.open()`, naming the directory and roots).
    pub filesystem: Option<Result<FsGrant, FsError>>,
    /// Outbound HTTP under the operator's allowlist, with this job's request count.
    pub http: Option<HttpGrant>,
    /// The MySQL connection this job may open, if any.
    pub mysql: Option<MysqlGrant>,
    /// The Redis connections this job may open, if any.
    pub redis: Option<RedisGrant>,
    /// The values withheld from the plugin and masked in what it sends back.
    pub secrets: Secrets,
}

impl Grants {
    /// These grants for a job of `connector_id`: change data capture comes with
    /// the PostgreSQL grant (same connection values and session cap).
    pub fn for_connector(mut self, connector_id: &str, policy: &ChangesPolicy) -> Self {
        self.postgresql_changes = self
            .postgresql
            .as_ref()
            .map(|pg| ChangesGrant::new(pg.clone(), connector_id, policy.clone()));
        self
    }

    /// Asks every capability to stop what it runs for this job (the host gave up
    /// on a call).
    pub fn cancel_running(&self) {
        if let Some(pg) = &self.postgresql {
            pg.cancel_running();
        }
        if let Some(my) = &self.mysql {
            my.cancel_running();
        }
    }
}
