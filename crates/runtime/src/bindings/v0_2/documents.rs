//! The `shaping`, `postgresql-documents` and `mysql-documents` imports of contract
//! 0.2: rows the host turns into documents itself ([`crate::shaping`]).

use std::future::Future;

use wasmtime::component::Resource;

use tributary_capability_mysql as my;
use tributary_capability_postgresql as pg;
use tributary_sync::document::Document;

use super::super::super::shaping::{self, Shape};
use super::super::super::state::HostState;
use super::tributary::connector::mysql as wit_my;
use super::tributary::connector::mysql_documents as wit_mydocs;
use super::tributary::connector::postgresql as wit_pg;
use super::tributary::connector::postgresql_documents as wit_pgdocs;
use super::tributary::connector::shaping as wit_shaping;

impl wit_shaping::Host for HostState {}

/// A capability's streaming result, as `emit` reads it: up to `max_rows` rows
/// shaped into `out`, `Ok(0)` at the end.
trait RowSource: Send + 'static {
    type Error;
    fn shape_into(
        &mut self,
        max_rows: u32,
        shape: &Shape,
        out: &mut Vec<Document>,
    ) -> impl Future<Output = Result<u32, EmitError<Self::Error>>> + Send;
}

/// PostgreSQL rows are shaped straight from the wire values: no codec buffer
/// between the server and the documents.
impl RowSource for pg::PgRows {
    type Error = pg::PgError;
    async fn shape_into(
        &mut self,
        max_rows: u32,
        shape: &Shape,
        out: &mut Vec<Document>,
    ) -> Result<u32, EmitError<pg::PgError>> {
        shape
            .check_columns(self.width())
            .map_err(EmitError::Refused)?;
        let first = out.len();
        let shaped = self
            .next_each(max_rows, |row| {
                out.push(shape.document(out.len() - first, row)?);
                Ok(())
            })
            .await;
        match shaped {
            Ok(rows) => Ok(rows.unwrap_or(0)),
            Err(pg::Each::Source(e)) => Err(EmitError::Source(e)),
            Err(pg::Each::Stopped(refused)) => Err(EmitError::Refused(refused)),
        }
    }
}

impl RowSource for my::MysqlRows {
    type Error = my::MysqlError;
    async fn shape_into(
        &mut self,
        max_rows: u32,
        shape: &Shape,
        out: &mut Vec<Document>,
    ) -> Result<u32, EmitError<my::MysqlError>> {
        match self.next(max_rows).await {
            Ok(Some((_, data))) => shape.documents(&data, out).map_err(EmitError::Refused),
            Ok(None) => Ok(0),
            Err(e) => Err(EmitError::Source(e)),
        }
    }
}

/// Why `emit` emitted nothing: the host refused the shape (recorded, the job
/// fails on it), or the data source failed.
enum EmitError<E> {
    Refused(String),
    Source(E),
}

impl HostState {
    /// Reads rows of `rows` and adds them to the pending documents as `shape`.
    async fn emit_from<R: RowSource>(
        &mut self,
        rows: Resource<R>,
        shape: wit_shaping::Shape,
        max_rows: u32,
    ) -> wasmtime::Result<Result<u32, EmitError<R::Error>>> {
        let pending = self.shaped.len();
        let checked = if pending >= shaping::MAX_PENDING {
            Err(format!(
                "{pending} documents were emitted within one next-batch call (at most {})",
                shaping::MAX_PENDING
            ))
        } else {
            Shape::new(shape)
        };
        let shape = match checked {
            Ok(shape) => shape,
            Err(e) => return Ok(Err(EmitError::Refused(self.shape_refused(e)))),
        };
        let room = (shaping::MAX_PENDING - pending) as u32;
        let source = self.table.get_mut(&rows)?;
        let mut shaped = std::mem::take(&mut self.shaped);
        let result = source
            .shape_into(max_rows.min(room), &shape, &mut shaped)
            .await;
        self.shaped = shaped;
        Ok(result.map_err(|e| match e {
            EmitError::Refused(message) => EmitError::Refused(self.shape_refused(message)),
            source => source,
        }))
    }

    /// Records the first refusal (the job fails on it whatever the plugin does
    /// with the error) and returns the message for the plugin.
    fn shape_refused(&mut self, message: String) -> String {
        let message = format!("emit: {message}");
        self.shape_violation.get_or_insert_with(|| message.clone());
        message
    }
}

impl wit_pgdocs::Host for HostState {
    async fn emit(
        &mut self,
        rows: Resource<pg::PgRows>,
        shape: wit_shaping::Shape,
        max_rows: u32,
    ) -> wasmtime::Result<Result<u32, wit_pg::PgError>> {
        Ok(self
            .emit_from(rows, shape, max_rows)
            .await?
            .map_err(|e| match e {
                EmitError::Refused(message) => wit_pg::PgError {
                    sqlstate: None,
                    message,
                },
                EmitError::Source(e) => super::postgresql::pg_error(e),
            }))
    }
}

impl wit_mydocs::Host for HostState {
    async fn emit(
        &mut self,
        rows: Resource<my::MysqlRows>,
        shape: wit_shaping::Shape,
        max_rows: u32,
    ) -> wasmtime::Result<Result<u32, wit_my::MysqlError>> {
        Ok(self
            .emit_from(rows, shape, max_rows)
            .await?
            .map_err(|e| match e {
                EmitError::Refused(message) => wit_my::MysqlError {
                    code: None,
                    sqlstate: None,
                    message,
                },
                EmitError::Source(e) => super::mysql::my_error(e),
            }))
    }
}
