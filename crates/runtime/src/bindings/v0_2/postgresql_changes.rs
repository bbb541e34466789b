//! The `postgresql-changes` import of contract 0.2: change data capture from the
//! PostgreSQL capability crate, bound. Every statement is the host's; the plugin
//! only chooses when to start a capture and hands back the cursor it was given.

use wasmtime::component::Resource;

use tributary_capability_postgresql as pg;
use tributary_capability_postgresql::changes::{self, Capture, ChangeError, ChangeReader};

use super::super::super::state::HostState;
use super::postgresql::pg_error;
use super::tributary::connector::postgresql_changes as wit_changes;

impl HostState {
    /// The connector's change-capture grant, or why there is none.
    fn changes_grant(&self) -> Result<changes::ChangesGrant, ChangeError> {
        if self.grants.postgresql.is_none() {
            return Err(ChangeError::Pg(pg::PgError {
                sqlstate: None,
                message: "this job was not granted a PostgreSQL connection".into(),
            }));
        }
        self.grants
            .postgresql_changes
            .clone()
            .ok_or(ChangeError::NoConnector)
    }
}

fn refused(e: ChangeError) -> wit_changes::PgError {
    pg_error(e.into())
}

impl wit_changes::Host for HostState {
    async fn start_capture(
        &mut self,
    ) -> wasmtime::Result<Result<Resource<Capture>, wit_changes::PgError>> {
        let grant = match self.changes_grant() {
            Ok(g) => g,
            Err(e) => return Ok(Err(refused(e))),
        };
        match Capture::start(&grant).await {
            Ok(c) => Ok(Ok(self.table.push(c)?)),
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, slot = %grant.slot, error = %e, "change capture not started");
                Ok(Err(refused(e)))
            }
        }
    }

    async fn read_changes(
        &mut self,
        cursor: Option<String>,
        schema: String,
        tables: Vec<String>,
    ) -> wasmtime::Result<Result<Resource<ChangeReader>, wit_changes::PgError>> {
        let grant = match self.changes_grant() {
            Ok(g) => g,
            Err(e) => return Ok(Err(refused(e))),
        };
        match ChangeReader::open(&grant, cursor.as_deref(), &schema, &tables).await {
            Ok(r) => Ok(Ok(self.table.push(r)?)),
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, slot = %grant.slot, error = %e, "changes not read");
                Ok(Err(refused(e)))
            }
        }
    }
}

impl wit_changes::HostCapture for HostState {
    async fn session(
        &mut self,
        capture: Resource<Capture>,
    ) -> wasmtime::Result<Result<Resource<pg::PgSession>, wit_changes::PgError>> {
        match self.table.get(&capture)?.session().await {
            Ok(s) => Ok(Ok(self.table.push(s)?)),
            Err(e) => Ok(Err(pg_error(e))),
        }
    }

    async fn cursor(
        &mut self,
        capture: Resource<Capture>,
        schema: String,
        tables: Vec<String>,
    ) -> wasmtime::Result<String> {
        Ok(self.table.get(&capture)?.cursor(&schema, &tables))
    }

    async fn drop(&mut self, capture: Resource<Capture>) -> wasmtime::Result<()> {
        self.table.delete(capture)?;
        Ok(())
    }
}

impl wit_changes::HostChanges for HostState {
    async fn next(
        &mut self,
        changes: Resource<ChangeReader>,
    ) -> wasmtime::Result<Result<Option<wit_changes::TableChanges>, wit_changes::PgError>> {
        match self.table.get_mut(&changes)?.next().await {
            Ok(Some(t)) => {
                let upserts = self.table.push(t.upserts)?;
                let deletes = self.table.push(t.deletes)?;
                Ok(Ok(Some(wit_changes::TableChanges {
                    table: t.table,
                    upserts,
                    deletes,
                })))
            }
            Ok(None) => Ok(Ok(None)),
            Err(e) => Ok(Err(refused(e))),
        }
    }

    async fn cursor(&mut self, changes: Resource<ChangeReader>) -> wasmtime::Result<String> {
        Ok(self.table.get(&changes)?.cursor())
    }

    async fn drop(&mut self, changes: Resource<ChangeReader>) -> wasmtime::Result<()> {
        self.table.delete(changes)?;
        Ok(())
    }
}
