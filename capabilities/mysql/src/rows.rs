//! A streaming result: the server streams the result set; a task reads it (the
//! connection, the server and the plugin overlap) and hands rows over through a
//! small bounded channel, so memory stays flat whatever the table size. Rows are
//! packed into one `tributary-codec` buffer per batch.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Row, Value};
use tokio::sync::mpsc;
use tributary_codec::Encoder;

use super::encode::{self, Plan};
use super::session::Shared;
use super::{Column, MysqlError, Param};

/// Largest batch one `next` call returns.
pub const MAX_FETCH_ROWS: u32 = 10_000;
/// Rows per hand-over from the reading task.
const CHUNK_ROWS: usize = 256;
/// Chunks the reading task may run ahead.
const CHUNKS_AHEAD: usize = 8;

type Chunk = Result<Vec<Row>, MysqlError>;

/// A streaming result.
pub struct MysqlRows {
    _shared: Arc<Shared>,
    columns: Vec<Column>,
    plans: Vec<Plan>,
    rx: mpsc::Receiver<Chunk>,
    carry: VecDeque<Row>,
    done: bool,
}

pub(crate) fn params(params: Vec<Param>) -> Params {
    if params.is_empty() {
        return Params::Empty;
    }
    Params::Positional(
        params
            .into_iter()
            .map(|p| match p {
                Param::Null => Value::NULL,
                Param::Bool(b) => Value::Int(i64::from(b)),
                Param::Int(i) => Value::Int(i),
                Param::UInt(u) => Value::UInt(u),
                Param::Float(f) => Value::Double(f),
                Param::Text(s) => Value::Bytes(s.into_bytes()),
            })
            .collect(),
    )
}

impl MysqlRows {
    /// Prepares `text` (checked, or written by the host) and starts streaming it.
    pub(crate) async fn start(
        shared: &Arc<Shared>,
        text: String,
        params_in: Vec<Param>,
    ) -> Result<Self, MysqlError> {
        let mut conn = shared.lock()?;
        shared.busy.fetch_add(1, Ordering::SeqCst);
        let stmt = match conn.prep(text.as_str()).await {
            Ok(s) => s,
            Err(e) => {
                shared.busy.fetch_sub(1, Ordering::SeqCst);
                return Err(e.into());
            }
        };
        if stmt.num_params() as usize != params_in.len() {
            shared.busy.fetch_sub(1, Ordering::SeqCst);
            return Err(MysqlError::local(format!(
                "the statement has {} parameters but {} were given",
                stmt.num_params(),
                params_in.len()
            )));
        }
        let (plans, columns): (Vec<Plan>, Vec<Column>) = stmt
            .columns()
            .iter()
            .map(|c| {
                let (plan, type_name) = encode::plan(c, &shared.json_columns);
                (
                    plan,
                    Column {
                        name: c.name_str().into_owned(),
                        type_name,
                    },
                )
            })
            .unzip();
        let (tx, rx) = mpsc::channel::<Chunk>(CHUNKS_AHEAD);
        let task_shared = shared.clone();
        let params = params(params_in);
        tokio::spawn(async move {
            let streamed = stream(&mut conn, &stmt, params, &tx).await;
            task_shared.busy.fetch_sub(1, Ordering::SeqCst);
            if let Err(e) = streamed {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(MysqlRows {
            _shared: shared.clone(),
            columns,
            plans,
            rx,
            carry: VecDeque::new(),
            done: false,
        })
    }

    /// The result columns.
    pub fn columns(&self) -> Vec<Column> {
        self.columns.clone()
    }

    /// Up to `max_rows` rows (capped at [`MAX_FETCH_ROWS`]) packed in one buffer;
    /// `None` once the result is exhausted.
    pub async fn next(&mut self, max_rows: u32) -> Result<Option<(u32, Vec<u8>)>, MysqlError> {
        let want = max_rows.clamp(1, MAX_FETCH_ROWS) as usize;
        while self.carry.len() < want && !self.done {
            match self.rx.recv().await {
                Some(Ok(rows)) => self.carry.extend(rows),
                Some(Err(e)) => {
                    self.done = true;
                    self.carry.clear();
                    return Err(e);
                }
                None => self.done = true,
            }
        }
        if self.carry.is_empty() {
            return Ok(None);
        }
        let n = want.min(self.carry.len());
        let mut enc = Encoder::with_capacity(self.plans.len() as u32, n * 64);
        for row in self.carry.drain(..n) {
            enc.begin_row();
            for (i, plan) in self.plans.iter().enumerate() {
                match row.as_ref(i) {
                    Some(v) => encode::value(&mut enc, *plan, v),
                    None => enc.null(),
                }
            }
        }
        Ok(Some((n as u32, enc.finish())))
    }
}

/// Reads the result set into the channel until it ends, fails, or the receiver
/// is gone (the plugin dropped the result).
async fn stream(
    conn: &mut mysql_async::Conn,
    stmt: &mysql_async::Statement,
    params: Params,
    tx: &mpsc::Sender<Chunk>,
) -> Result<(), MysqlError> {
    let mut result = conn.exec_iter(stmt, params).await?;
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    while let Some(row) = result.next().await? {
        chunk.push(row);
        if chunk.len() == CHUNK_ROWS {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS));
            if tx.send(Ok(full)).await.is_err() {
                return Ok(());
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(Ok(chunk)).await;
    }
    Ok(())
}
