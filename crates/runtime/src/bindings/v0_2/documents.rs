//! The `shaping`, `postgresql-documents` and `mysql-documents` imports of contract
//! 0.2: rows the host turns into documents itself ([`crate::shaping`]).

use std::future::Future;

use wasmtime::component::Resource;

use tributary_capability_mysql as my;
use tributary_capability_postgresql as pg;

use super::super::super::shaping::{self, Shape};
use super::super::super::state::HostState;
use super::tributary::connector::mysql as wit_my;
use super::tributary::connector::mysql_documents as wit_mydocs;
use super::tributary::connector::postgresql as wit_pg;
use super::tributary::connector::postgresql_documents as wit_pgdocs;
use super::tributary::connector::shaping as wit_shaping;

impl wit_shaping::Host for HostState {}

/// A capability's streaming result, as `emit` reads it: up to `max_rows` rows in
/// the codec format, `None` at the end.
trait RowSource: Send + 'static {
    type Error;
    fn next_rows(
        &mut self,
        max_rows: u32,
    ) -> impl Future<Output = Result<Option<(u32, Vec<u8>)>, Self::Error>> + Send;
}

impl RowSource for pg::PgRows {
    type Error = pg::PgError;
    fn next_rows(
        &mut self,
        max_rows: u32,
    ) -> impl Future<Output = Result<Option<(u32, Vec<u8>)>, pg::PgError>> + Send {
        self.next(max_rows)
    }
}

impl RowSource for my::MysqlRows {
    type Error = my::MysqlError;
    fn next_rows(
        &mut self,
        max_rows: u32,
    ) -> impl Future<Output = Result<Option<(u32, Vec<u8>)>, my::MysqlError>> + Send {
        self.next(max_rows)
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
        let data = match self
            .table
            .get_mut(&rows)?
            .next_rows(max_rows.min(room))
            .await
        {
            Ok(Some((_, data))) => data,
            Ok(None) => return Ok(Ok(0)),
            Err(e) => return Ok(Err(EmitError::Source(e))),
        };
        let mut shaped = std::mem::take(&mut self.shaped);
        let result = shape.documents(&data, &mut shaped);
        self.shaped = shaped;
        Ok(result.map_err(|e| EmitError::Refused(self.shape_refused(e))))
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
