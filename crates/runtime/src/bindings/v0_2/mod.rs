//! Contract `tributary:connector@0.2.0` (`wit/v0.2.0`), the newest: the host's own
//! types are this version's, and its imports are served directly, one module per
//! capability.

mod documents;
mod filesystem;
mod http;
mod mysql;
mod postgresql;
mod postgresql_changes;
mod redis;

use super::super::logging::Level;
use super::super::state::HostState;

wasmtime::component::bindgen!({
    world: "host",
    path: "../../wit/v0.2.0",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "tributary:connector/postgresql.session": tributary_capability_postgresql::PgSession,
        "tributary:connector/postgresql.rows": tributary_capability_postgresql::PgRows,
        "tributary:connector/postgresql-changes.capture": tributary_capability_postgresql::changes::Capture,
        "tributary:connector/postgresql-changes.changes": tributary_capability_postgresql::changes::ChangeReader,
        "tributary:connector/filesystem.directory": tributary_capability_filesystem::FsDir,
        "tributary:connector/filesystem.walk": tributary_capability_filesystem::FsWalk,
        "tributary:connector/mysql.session": tributary_capability_mysql::MysqlSession,
        "tributary:connector/mysql.rows": tributary_capability_mysql::MysqlRows,
        "tributary:connector/redis.connection": tributary_capability_redis::RedisConnection,
    },
});

pub use self::tributary::connector::shaping as wit_shaping;
pub use self::tributary::connector::types as wit_types;

use self::tributary::connector::logging;

impl wit_types::Host for HostState {}

pub(super) fn level(level: logging::Level) -> Level {
    match level {
        logging::Level::Trace => Level::Trace,
        logging::Level::Debug => Level::Debug,
        logging::Level::Info => Level::Info,
        logging::Level::Warn => Level::Warn,
        logging::Level::Error => Level::Error,
    }
}

impl logging::Host for HostState {
    async fn log(
        &mut self,
        level: logging::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.log.event(self::level(level), &message, &fields);
        Ok(())
    }
}
