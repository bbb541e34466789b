//! The `shaping`, `postgresql-documents` and `mysql-documents` imports of contract
//! 0.2: rows the host turns into documents itself ([`crate::shaping`]).

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

impl HostState {
    /// A shape, or why it is refused. A refusal is also recorded, so the job fails
    /// on it whatever the plugin does with the error.
    fn checked_shape(&mut self, shape: wit_shaping::Shape) -> Result<(Shape, u32), String> {
        let pending = self.shaped.len();
        let checked = if pending >= shaping::MAX_PENDING {
            Err(format!(
                "{pending} documents were emitted within one next-batch call (at most {})",
                shaping::MAX_PENDING
            ))
        } else {
            Shape::new(shape)
        };
        match checked {
            Ok(shape) => Ok((shape, (shaping::MAX_PENDING - pending) as u32)),
            Err(e) => Err(self.shape_refused(e)),
        }
    }

    fn shape_refused(&mut self, message: String) -> String {
        let message = format!("emit: {message}");
        self.shape_violation.get_or_insert_with(|| message.clone());
        message
    }

    fn emit_rows(&mut self, shape: &Shape, data: &[u8]) -> Result<u32, String> {
        let mut shaped = std::mem::take(&mut self.shaped);
        let result = shape.documents(data, &mut shaped);
        self.shaped = shaped;
        result.map_err(|e| self.shape_refused(e))
    }
}

impl wit_pgdocs::Host for HostState {
    async fn emit(
        &mut self,
        rows: Resource<pg::PgRows>,
        shape: wit_shaping::Shape,
        max_rows: u32,
    ) -> wasmtime::Result<Result<u32, wit_pg::PgError>> {
        let refused = |message| wit_pg::PgError {
            sqlstate: None,
            message,
        };
        let (shape, room) = match self.checked_shape(shape) {
            Ok(s) => s,
            Err(e) => return Ok(Err(refused(e))),
        };
        match self.table.get_mut(&rows)?.next(max_rows.min(room)).await {
            Ok(Some((_, data))) => Ok(self.emit_rows(&shape, &data).map_err(refused)),
            Ok(None) => Ok(Ok(0)),
            Err(e) => Ok(Err(super::postgresql::pg_error(e))),
        }
    }
}

impl wit_mydocs::Host for HostState {
    async fn emit(
        &mut self,
        rows: Resource<my::MysqlRows>,
        shape: wit_shaping::Shape,
        max_rows: u32,
    ) -> wasmtime::Result<Result<u32, wit_my::MysqlError>> {
        let refused = |message| wit_my::MysqlError {
            code: None,
            sqlstate: None,
            message,
        };
        let (shape, room) = match self.checked_shape(shape) {
            Ok(s) => s,
            Err(e) => return Ok(Err(refused(e))),
        };
        match self.table.get_mut(&rows)?.next(max_rows.min(room)).await {
            Ok(Some((_, data))) => Ok(self.emit_rows(&shape, &data).map_err(refused)),
            Ok(None) => Ok(Ok(0)),
            Err(e) => Ok(Err(super::mysql::my_error(e))),
        }
    }
}
