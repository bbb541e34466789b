//! The `mysql` import of contract 0.2: the MySQL capability crate, bound.

use wasmtime::component::Resource;

use tributary_capability_mysql as my;

use super::super::super::state::HostState;
pub use super::tributary::connector::mysql as wit_my;

pub(super) fn my_error(e: my::MysqlError) -> wit_my::MysqlError {
    wit_my::MysqlError {
        code: e.code,
        sqlstate: e.sqlstate,
        message: e.message,
    }
}

fn param(p: wit_my::Param) -> my::Param {
    match p {
        wit_my::Param::Null => my::Param::Null,
        wit_my::Param::Boolean(b) => my::Param::Bool(b),
        wit_my::Param::Integer(i) => my::Param::Int(i),
        wit_my::Param::Unsigned(u) => my::Param::UInt(u),
        wit_my::Param::Float(f) => my::Param::Float(f),
        wit_my::Param::Text(s) => my::Param::Text(s),
    }
}

impl wit_my::Host for HostState {
    async fn connect(
        &mut self,
    ) -> wasmtime::Result<Result<Resource<my::MysqlSession>, wit_my::MysqlError>> {
        let Some(grant) = self.grants.mysql.as_ref() else {
            return Ok(Err(wit_my::MysqlError {
                code: None,
                sqlstate: None,
                message: "this job was not granted a MySQL connection".into(),
            }));
        };
        match my::MysqlSession::connect(grant).await {
            Ok(session) => Ok(Ok(self.table.push(session)?)),
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, error = %e, "MySQL connect failed");
                Ok(Err(my_error(e)))
            }
        }
    }
}

impl wit_my::HostSession for HostState {
    async fn info(
        &mut self,
        session: Resource<my::MysqlSession>,
    ) -> wasmtime::Result<wit_my::SessionInfo> {
        let i = self.table.get(&session)?.info();
        Ok(wit_my::SessionInfo {
            started_at: i.started_at,
            server_version: i.server_version,
            database: i.database,
        })
    }

    async fn list_tables(
        &mut self,
        session: Resource<my::MysqlSession>,
        include_views: bool,
    ) -> wasmtime::Result<Result<Vec<wit_my::Relation>, wit_my::MysqlError>> {
        let r = self
            .table
            .get_mut(&session)?
            .list_tables(include_views)
            .await;
        Ok(r.map(|rels| {
            rels.into_iter()
                .map(|r| wit_my::Relation {
                    name: r.name,
                    kind: match r.kind {
                        my::RelationKind::Table => wit_my::RelationKind::Table,
                        my::RelationKind::View => wit_my::RelationKind::View,
                    },
                })
                .collect()
        })
        .map_err(my_error))
    }

    async fn primary_key(
        &mut self,
        session: Resource<my::MysqlSession>,
        table: String,
    ) -> wasmtime::Result<Result<Vec<String>, wit_my::MysqlError>> {
        let r = self.table.get_mut(&session)?.primary_key(&table).await;
        Ok(r.map_err(my_error))
    }

    async fn last_update_time(
        &mut self,
        session: Resource<my::MysqlSession>,
        table: String,
    ) -> wasmtime::Result<Result<Option<String>, wit_my::MysqlError>> {
        let r = self.table.get_mut(&session)?.last_update_time(&table).await;
        Ok(r.map_err(my_error))
    }

    async fn scan(
        &mut self,
        session: Resource<my::MysqlSession>,
        table: String,
        order_by: Vec<String>,
    ) -> wasmtime::Result<Result<Resource<my::MysqlRows>, wit_my::MysqlError>> {
        let r = self.table.get_mut(&session)?.scan(&table, &order_by).await;
        match r {
            Ok(rows) => Ok(Ok(self.table.push(rows)?)),
            Err(e) => Ok(Err(my_error(e))),
        }
    }

    async fn query(
        &mut self,
        session: Resource<my::MysqlSession>,
        sql: String,
        params: Vec<wit_my::Param>,
    ) -> wasmtime::Result<Result<Resource<my::MysqlRows>, wit_my::MysqlError>> {
        let params = params.into_iter().map(param).collect();
        let r = self.table.get_mut(&session)?.query(&sql, params).await;
        match r {
            Ok(rows) => Ok(Ok(self.table.push(rows)?)),
            Err(e) => Ok(Err(my_error(e))),
        }
    }

    async fn drop(&mut self, session: Resource<my::MysqlSession>) -> wasmtime::Result<()> {
        self.table.delete(session)?;
        Ok(())
    }
}

impl wit_my::HostRows for HostState {
    async fn columns(
        &mut self,
        rows: Resource<my::MysqlRows>,
    ) -> wasmtime::Result<Vec<wit_my::Column>> {
        Ok(self
            .table
            .get(&rows)?
            .columns()
            .into_iter()
            .map(|c| wit_my::Column {
                name: c.name,
                type_name: c.type_name,
            })
            .collect())
    }

    async fn next(
        &mut self,
        rows: Resource<my::MysqlRows>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<Option<wit_my::RowBatch>, wit_my::MysqlError>> {
        match self.table.get_mut(&rows)?.next(max_rows).await {
            Ok(Some((rows, data))) => Ok(Ok(Some(wit_my::RowBatch { rows, data }))),
            Ok(None) => Ok(Ok(None)),
            Err(e) => Ok(Err(my_error(e))),
        }
    }

    async fn drop(&mut self, rows: Resource<my::MysqlRows>) -> wasmtime::Result<()> {
        self.table.delete(rows)?;
        Ok(())
    }
}
