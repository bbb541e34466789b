//! The `postgresql` import of contract 0.2: the PostgreSQL capability crate, bound.

use wasmtime::component::Resource;

use tributary_capability_postgresql as pg;

use super::super::super::state::HostState;
pub use super::tributary::connector::postgresql as wit_pg;

pub(super) fn pg_error(e: pg::PgError) -> wit_pg::PgError {
    wit_pg::PgError {
        sqlstate: e.sqlstate,
        message: e.message,
    }
}

pub(super) fn param(p: wit_pg::Param) -> pg::Param {
    match p {
        wit_pg::Param::Null => pg::Param::Null,
        wit_pg::Param::Boolean(b) => pg::Param::Bool(b),
        wit_pg::Param::Integer(i) => pg::Param::Int(i),
        wit_pg::Param::Float(f) => pg::Param::Float(f),
        wit_pg::Param::Text(s) => pg::Param::Text(s),
    }
}

pub(super) fn column(c: pg::Column) -> wit_pg::Column {
    wit_pg::Column {
        name: c.name,
        type_oid: c.type_oid,
        type_name: c.type_name,
    }
}

impl HostState {
    /// Opens a PostgreSQL session for this job, within its grant and session cap.
    pub(crate) async fn pg_connect(&mut self) -> Result<pg::PgSession, pg::PgError> {
        let Some(grant) = self.grants.postgresql.as_ref() else {
            return Err(pg::PgError {
                sqlstate: None,
                message: "this job was not granted a PostgreSQL connection".into(),
            });
        };
        pg::PgSession::connect(grant).await.inspect_err(|e| {
            tracing::warn!(plugin = %self.plugin, error = %e, "PostgreSQL connect failed");
        })
    }
}

impl wit_pg::Host for HostState {
    async fn connect(
        &mut self,
    ) -> wasmtime::Result<Result<Resource<pg::PgSession>, wit_pg::PgError>> {
        match self.pg_connect().await {
            Ok(session) => Ok(Ok(self.table.push(session)?)),
            Err(e) => Ok(Err(pg_error(e))),
        }
    }
}

impl wit_pg::HostSession for HostState {
    async fn info(
        &mut self,
        session: Resource<pg::PgSession>,
    ) -> wasmtime::Result<wit_pg::SessionInfo> {
        let i = self.table.get(&session)?.info();
        Ok(wit_pg::SessionInfo {
            started_at: i.started_at,
            server_version: i.server_version,
            database: i.database,
            commit_timestamps: i.commit_timestamps,
        })
    }

    async fn list_tables(
        &mut self,
        session: Resource<pg::PgSession>,
        schema: String,
        include_views: bool,
    ) -> wasmtime::Result<Result<Vec<wit_pg::Relation>, wit_pg::PgError>> {
        let r = self
            .table
            .get_mut(&session)?
            .list_tables(&schema, include_views)
            .await;
        Ok(r.map(|rels| {
            rels.into_iter()
                .map(|r| wit_pg::Relation {
                    name: r.name,
                    kind: match r.kind {
                        pg::RelationKind::Table => wit_pg::RelationKind::Table,
                        pg::RelationKind::View => wit_pg::RelationKind::View,
                        pg::RelationKind::ForeignTable => wit_pg::RelationKind::ForeignTable,
                    },
                })
                .collect()
        })
        .map_err(pg_error))
    }

    async fn primary_key(
        &mut self,
        session: Resource<pg::PgSession>,
        schema: String,
        table: String,
    ) -> wasmtime::Result<Result<Vec<String>, wit_pg::PgError>> {
        let r = self
            .table
            .get_mut(&session)?
            .primary_key(&schema, &table)
            .await;
        Ok(r.map_err(pg_error))
    }

    async fn scan(
        &mut self,
        session: Resource<pg::PgSession>,
        schema: String,
        table: String,
        order_by: Vec<String>,
    ) -> wasmtime::Result<Result<Resource<pg::PgRows>, wit_pg::PgError>> {
        let r = self
            .table
            .get_mut(&session)?
            .scan(&schema, &table, &order_by)
            .await;
        match r {
            Ok(rows) => Ok(Ok(self.table.push(rows)?)),
            Err(e) => Ok(Err(pg_error(e))),
        }
    }

    async fn last_commit_time(
        &mut self,
        session: Resource<pg::PgSession>,
        schema: String,
        tables: Vec<String>,
    ) -> wasmtime::Result<Result<Option<String>, wit_pg::PgError>> {
        let r = self
            .table
            .get_mut(&session)?
            .last_commit_time(&schema, &tables)
            .await;
        Ok(r.map_err(pg_error))
    }

    async fn query(
        &mut self,
        session: Resource<pg::PgSession>,
        sql: String,
        params: Vec<wit_pg::Param>,
    ) -> wasmtime::Result<Result<Resource<pg::PgRows>, wit_pg::PgError>> {
        let params = params.into_iter().map(param).collect();
        let result = self.table.get_mut(&session)?.query(&sql, params).await;
        match result {
            Ok(rows) => Ok(Ok(self.table.push(rows)?)),
            Err(e) => Ok(Err(pg_error(e))),
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
            .map(column)
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
            Err(e) => Ok(Err(pg_error(e))),
        }
    }

    async fn drop(&mut self, rows: Resource<pg::PgRows>) -> wasmtime::Result<()> {
        self.table.delete(rows)?;
        Ok(())
    }
}
