//! Host bindings of world `tributary:connector/host` and the host side of its
//! imports: `logging` → `tracing`, `postgresql` → the PostgreSQL capability.

use wasmtime::component::Resource;

use super::capabilities::postgresql as pg;
use super::logging::{plugin_log, Level};
use super::state::HostState;

wasmtime::component::bindgen!({
    world: "host",
    path: "../wit",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "tributary:connector/postgresql.session": crate::plugins::capabilities::postgresql::PgSession,
        "tributary:connector/postgresql.rows": crate::plugins::capabilities::postgresql::PgRows,
    },
});

pub use self::tributary::connector::postgresql as wit_pg;
pub use self::tributary::connector::types as wit_types;
pub use exports::tributary::connector::source as wit_source;

use self::tributary::connector::logging;

impl wit_types::Host for HostState {}

impl logging::Host for HostState {
    async fn log(
        &mut self,
        level: logging::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let level = match level {
            logging::Level::Trace => Level::Trace,
            logging::Level::Debug => Level::Debug,
            logging::Level::Info => Level::Info,
            logging::Level::Warn => Level::Warn,
            logging::Level::Error => Level::Error,
        };
        plugin_log(&self.plugin, level, &message, &fields);
        Ok(())
    }
}

fn to_wit_error(e: pg::PgError) -> wit_pg::PgError {
    wit_pg::PgError {
        sqlstate: e.sqlstate,
        message: e.message,
    }
}

impl wit_pg::Host for HostState {
    async fn connect(
        &mut self,
    ) -> wasmtime::Result<Result<Resource<pg::PgSession>, wit_pg::PgError>> {
        let Some(grant) = self.grants.postgresql.as_ref() else {
            return Ok(Err(wit_pg::PgError {
                sqlstate: None,
                message: "this job was not granted a PostgreSQL connection".into(),
            }));
        };
        match pg::PgSession::connect(grant).await {
            Ok(session) => Ok(Ok(self.table.push(session)?)),
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, error = %e, "PostgreSQL connect failed");
                Ok(Err(to_wit_error(e)))
            }
        }
    }
}

impl wit_pg::HostSession for HostState {
    async fn query(
        &mut self,
        session: Resource<pg::PgSession>,
        sql: String,
        params: Vec<wit_pg::Param>,
    ) -> wasmtime::Result<Result<Resource<pg::PgRows>, wit_pg::PgError>> {
        let params = params
            .into_iter()
            .map(|p| match p {
                wit_pg::Param::Null => pg::Param::Null,
                wit_pg::Param::Boolean(b) => pg::Param::Bool(b),
                wit_pg::Param::Integer(i) => pg::Param::Int(i),
                wit_pg::Param::Float(f) => pg::Param::Float(f),
                wit_pg::Param::Text(s) => pg::Param::Text(s),
            })
            .collect();
        let result = self.table.get_mut(&session)?.query(&sql, params).await;
        match result {
            Ok(rows) => Ok(Ok(self.table.push(rows)?)),
            Err(e) => Ok(Err(to_wit_error(e))),
        }
    }

    async fn drop(&mut self, session: Resource<pg::PgSession>) -> wasmtime::Result<()> {
        self.table.delete(session)?;
        Ok(())
    }
}

impl wit_pg::HostRows for HostState {
    async fn columns(
        &mut self,
        rows: Resource<pg::PgRows>,
    ) -> wasmtime::Result<Vec<wit_pg::Column>> {
        Ok(self
            .table
            .get(&rows)?
            .columns()
            .into_iter()
            .map(|c| wit_pg::Column {
                name: c.name,
                type_oid: c.type_oid,
                type_name: c.type_name,
            })
            .collect())
    }

    async fn next(
        &mut self,
        rows: Resource<pg::PgRows>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<Option<wit_pg::RowBatch>, wit_pg::PgError>> {
        match self.table.get_mut(&rows)?.next(max_rows).await {
            Ok(Some((rows, data))) => Ok(Ok(Some(wit_pg::RowBatch { rows, data }))),
            Ok(None) => Ok(Ok(None)),
            Err(e) => Ok(Err(to_wit_error(e))),
        }
    }

    async fn drop(&mut self, rows: Resource<pg::PgRows>) -> wasmtime::Result<()> {
        self.table.delete(rows)?;
        Ok(())
    }
}
