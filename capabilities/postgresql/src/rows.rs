//! A streaming result: `DECLARE … NO SCROLL CURSOR`, read with `FETCH n` (one
//! fetch running ahead while the plugin works), rows packed in the codec format.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::task::JoinHandle;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Row, Statement};
use tributary_codec::{Decoder, Encoder, Value};

use super::session::{rollback_to, Handle};
use super::{wire, Column, Param, PgError};

/// Largest batch one `next` call returns.
pub const MAX_FETCH_ROWS: u32 = 10_000;

/// A streaming result.
pub struct PgRows {
    conn: Arc<Handle>,
    /// Savepoint and cursor number.
    n: u64,
    cursor: String,
    columns: Vec<Column>,
    plans: Vec<wire::Plan>,
    /// `FETCH n` statements prepared once per batch size.
    fetch: Option<(u32, Statement)>,
    /// The next `FETCH`, already running while the plugin works on the current
    /// batch (server, connection and plugin overlap).
    pending: Option<Fetch>,
    /// Rows fetched but not yet returned (a prefetch larger than the next request).
    carry: VecDeque<Row>,
    /// A `FETCH` returned fewer rows than asked: the server has no more.
    exhausted: bool,
    done: bool,
}

/// A `FETCH` running on its own task: `(rows asked, task)`.
type Fetch = (u32, JoinHandle<Result<Vec<Row>, tokio_postgres::Error>>);

/// Declares cursor `n` for `body` (already checked, or written by the host).
pub(super) async fn open_cursor(
    conn: &Arc<Handle>,
    n: u64,
    body: &str,
    params: Vec<Param>,
) -> Result<PgRows, PgError> {
    let client = &conn.0.client;
    let cursor = format!("tributary_c{n}");
    let stmt = client.prepare(body).await?;
    if stmt.params().len() != params.len() {
        return Err(PgError::local(format!(
            "the statement has {} parameters but {} were given",
            stmt.params().len(),
            params.len()
        )));
    }
    let columns: Vec<Column> = stmt
        .columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_string(),
            type_oid: c.type_().oid(),
            type_name: c.type_().name().into(),
        })
        .collect();
    let mut plans = Vec::with_capacity(columns.len());
    let mut casts = Vec::with_capacity(columns.len());
    for c in stmt.columns() {
        let (plan, cast) = wire::plan_for(c.type_());
        plans.push(plan);
        casts.push(cast);
    }
    // Types without a binary decoder here are read as PostgreSQL's text form:
    // wrap the query and cast only those columns (positional aliases keep
    // duplicate column names intact).
    let query = if casts.iter().any(Option::is_some) {
        let aliases: Vec<String> = (1..=casts.len()).map(|i| format!("c{i}")).collect();
        let select: Vec<String> = casts
            .iter()
            .zip(&aliases)
            .map(|(cast, a)| match cast {
                Some(cast) => format!("{a}::{cast}"),
                None => a.clone(),
            })
            .collect();
        format!(
            "SELECT {} FROM (\n{body}\n) AS tributary_t({})",
            select.join(", "),
            aliases.join(", ")
        )
    } else {
        body.to_string()
    };
    let declare = format!("DECLARE {cursor} NO SCROLL CURSOR FOR\n{query}\n");
    let declare_stmt = client.prepare_typed(&declare, stmt.params()).await?;
    let bound: Vec<BoundParam> = params.into_iter().map(BoundParam).collect();
    let busy = conn.0.begin();
    client
        .execute_raw(
            &declare_stmt,
            bound.iter().map(|p| p as &(dyn ToSql + Sync)),
        )
        .await?;
    busy.done();
    Ok(PgRows {
        conn: conn.clone(),
        n,
        cursor,
        columns,
        plans,
        fetch: None,
        pending: None,
        carry: VecDeque::new(),
        exhausted: false,
        done: false,
    })
}

impl PgRows {
    /// The result columns.
    pub fn columns(&self) -> Vec<Column> {
        self.columns.clone()
    }

    /// How many columns each row has.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// Up to `max_rows` rows encoded in the `tributary-codec` format: `(rows, bytes)`.
    /// `None` once the result is exhausted.
    pub async fn next(&mut self, max_rows: u32) -> Result<Option<(u32, Vec<u8>)>, PgError> {
        let Some(rows) = self.next_rows(max_rows).await? else {
            return Ok(None);
        };
        let mut enc = Encoder::with_capacity(self.plans.len() as u32, 64 * 1024);
        let encoded = rows.iter().try_for_each(|row| {
            enc.begin_row();
            self.plans.iter().enumerate().try_for_each(|(i, plan)| {
                let raw: wire::Raw<'_> = row.try_get(i)?;
                wire::encode(&mut enc, plan, raw.0)
            })
        });
        match encoded {
            Ok(()) => Ok(Some((enc.rows(), enc.finish()))),
            Err(e) => Err(self.fail(e).await),
        }
    }

    /// Up to `max_rows` rows handed to `f` one by one as codec values read straight
    /// from the wire — no codec buffer between the server and `f` (the host shapes
    /// documents this way, WIT `shaping`). The number of rows; `None` once the
    /// result is exhausted. An error from `f` stops the batch and is returned as
    /// [`Each::Stopped`]; the rows of the batch are consumed either way.
    pub async fn next_each<E>(
        &mut self,
        max_rows: u32,
        f: impl FnMut(&[Value<'_>]) -> Result<(), E>,
    ) -> Result<Option<u32>, Each<E>> {
        let Some(rows) = self.next_rows(max_rows).await.map_err(Each::Source)? else {
            return Ok(None);
        };
        match self.visit(&rows, f) {
            Ok(()) => Ok(Some(rows.len() as u32)),
            Err(Each::Source(e)) => Err(Each::Source(self.fail(e).await)),
            Err(stopped) => Err(stopped),
        }
    }

    /// Two passes over a batch: first the values that need new bytes (numeric
    /// text; `"char"` and arrays of numeric or `"char"` through the codec) are
    /// built for every row into two batch-wide buffers, then each row's values
    /// borrow the wire bytes and those buffers, which no longer change.
    fn visit<E>(
        &self,
        rows: &[Row],
        mut f: impl FnMut(&[Value<'_>]) -> Result<(), E>,
    ) -> Result<(), Each<E>> {
        let routes: Vec<wire::Route> = self.plans.iter().map(wire::Plan::route).collect();
        let encoded_columns = routes
            .iter()
            .filter(|r| **r == wire::Route::Encoded)
            .count() as u32;
        let mut numeric = String::new();
        let mut numeric_ends: Vec<usize> = Vec::new();
        let mut encoded = Encoder::new(encoded_columns);
        let has_built = routes.iter().any(|r| *r != wire::Route::Borrowed);
        if has_built {
            for row in rows {
                if encoded_columns > 0 {
                    encoded.begin_row();
                }
                for (i, (plan, route)) in self.plans.iter().zip(&routes).enumerate() {
                    match route {
                        wire::Route::Borrowed => {}
                        wire::Route::Numeric => {
                            let raw: wire::Raw<'_> = row.try_get(i).map_err(PgError::from)?;
                            if let Some(b) = raw.0 {
                                wire::numeric_text(b, &mut numeric)?;
                            }
                            numeric_ends.push(numeric.len());
                        }
                        wire::Route::Encoded => {
                            let raw: wire::Raw<'_> = row.try_get(i).map_err(PgError::from)?;
                            wire::encode(&mut encoded, plan, raw.0)?;
                        }
                    }
                }
            }
        }
        let encoded = encoded.finish();
        let mut built = Decoder::new(&encoded).map_err(|e| PgError::local(e.to_string()))?;
        let mut built_row: Vec<Value<'_>> = Vec::with_capacity(encoded_columns as usize);
        let mut values: Vec<Value<'_>> = Vec::with_capacity(self.plans.len());
        let (mut next_numeric, mut start) = (0, 0);
        for row in rows {
            values.clear();
            if encoded_columns > 0 {
                built
                    .next_row(&mut built_row)
                    .map_err(|e| PgError::local(e.to_string()))?;
            }
            let mut next_built = 0;
            for (i, (plan, route)) in self.plans.iter().zip(&routes).enumerate() {
                let raw: wire::Raw<'_> = row.try_get(i).map_err(PgError::from)?;
                values.push(match (route, raw.0) {
                    (wire::Route::Numeric, raw) => {
                        let text = numeric_ends
                            .get(next_numeric)
                            .and_then(|&end| numeric.get(start..end).map(|t| (t, end)));
                        let Some((text, end)) = text else {
                            return Err(Each::Source(unbuilt()));
                        };
                        next_numeric += 1;
                        start = end;
                        match raw {
                            Some(_) => Value::Numeric(text),
                            None => Value::Null,
                        }
                    }
                    (wire::Route::Encoded, _) => {
                        next_built += 1;
                        built_row
                            .get_mut(next_built - 1)
                            .map(|v| std::mem::replace(v, Value::Null))
                            .ok_or_else(unbuilt)?
                    }
                    (wire::Route::Borrowed, None) => Value::Null,
                    (wire::Route::Borrowed, Some(b)) => wire::borrowed(plan, b)?,
                });
            }
            f(&values).map_err(Each::Stopped)?;
        }
        Ok(())
    }

    /// Up to `n` rows (the carry first, then `FETCH`es), with the next `FETCH`
    /// started ahead; `None` once the result is exhausted. A failure rolls the
    /// result back and ends it.
    async fn next_rows(&mut self, max_rows: u32) -> Result<Option<Vec<Row>>, PgError> {
        if self.done {
            return Ok(None);
        }
        match self.take_rows(max_rows.clamp(1, MAX_FETCH_ROWS)).await {
            Ok(rows) if rows.is_empty() => Ok(None),
            Ok(rows) => Ok(Some(rows)),
            Err(e) => Err(self.fail(e).await),
        }
    }

    /// Ends the result after a failure: rolls back to its savepoint.
    async fn fail(&mut self, e: PgError) -> PgError {
        self.done = true;
        rollback_to(&self.conn.0.client, self.n).await;
        e
    }

    async fn fetch_stmt(&mut self, n: u32) -> Result<Statement, PgError> {
        if let Some((m, s)) = &self.fetch {
            if *m == n {
                return Ok(s.clone());
            }
        }
        let s = self
            .conn
            .0
            .client
            .prepare(&format!("FETCH FORWARD {n} FROM {}", self.cursor))
            .await?;
        self.fetch = Some((n, s.clone()));
        Ok(s)
    }

    /// Starts `FETCH n` on its own task; at most one is outstanding.
    async fn spawn_fetch(&mut self, n: u32) -> Result<Fetch, PgError> {
        let stmt = self.fetch_stmt(n).await?;
        // The task holds the connection, not the handle: a fetch nobody waits for
        // any more is cancelled when the plugin lets go of the session.
        let conn = self.conn.0.clone();
        Ok((
            n,
            tokio::spawn(async move {
                let busy = conn.begin();
                let rows = conn.client.query(&stmt, &[]).await;
                busy.done();
                rows
            }),
        ))
    }

    async fn take_rows(&mut self, n: u32) -> Result<Vec<Row>, PgError> {
        let n = n as usize;
        let mut out = Vec::new();
        while out.len() < n {
            if !self.carry.is_empty() {
                let k = (n - out.len()).min(self.carry.len());
                out.extend(self.carry.drain(..k));
                continue;
            }
            if self.exhausted {
                break;
            }
            let (asked, task) = match self.pending.take() {
                Some(p) => p,
                None => self.spawn_fetch(n as u32).await?,
            };
            // A lost connection or a server error surfaces here, never as an end of rows.
            let rows = task
                .await
                .map_err(|e| PgError::local(format!("fetch task failed: {e}")))??;
            if (rows.len() as u64) < u64::from(asked) {
                self.exhausted = true;
            }
            if out.is_empty() && rows.len() <= n {
                out = rows;
            } else {
                self.carry.extend(rows);
            }
        }
        // Prefetch while the plugin works on this batch; memory stays bounded by
        // one batch in flight plus the carry.
        if !self.exhausted && self.pending.is_none() && self.carry.len() < n {
            self.pending = Some(self.spawn_fetch(n as u32).await?);
        }
        if self.exhausted && self.carry.is_empty() {
            self.done = true;
            // Free the portal now: a sync runs many statements in one transaction.
            self.conn
                .0
                .client
                .batch_execute(&format!("CLOSE {}", self.cursor))
                .await?;
        }
        Ok(out)
    }
}

/// A value the first pass of [`PgRows::next_each`] should have built is missing
/// (cannot happen: both passes walk the same rows and plans).
#[cold]
fn unbuilt() -> PgError {
    PgError::local("internal: a row value was not built in the first pass")
}

/// Why [`PgRows::next_each`] stopped early.
#[derive(Debug)]
pub enum Each<E> {
    /// The server or the connection failed, or a value was malformed; the result
    /// is ended.
    Source(PgError),
    /// The caller's function returned an error.
    Stopped(E),
}

impl<E> From<PgError> for Each<E> {
    fn from(e: PgError) -> Self {
        Each::Source(e)
    }
}

/// A plugin parameter bound to whatever type the server inferred for it.
#[derive(Debug)]
struct BoundParam(Param);

impl ToSql for BoundParam {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = || -> Box<dyn std::error::Error + Sync + Send> {
            format!(
                "parameter {:?} cannot be sent as {}; cast it in SQL (e.g. $1::text::{})",
                self.0,
                ty.name(),
                ty.name()
            )
            .into()
        };
        match (&self.0, ty) {
            (Param::Null, _) => Ok(IsNull::Yes),
            (Param::Bool(b), &Type::BOOL) => b.to_sql(ty, out),
            (Param::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (Param::Int(i), &Type::INT4) => {
                i32::try_from(*i).map_err(|_| mismatch())?.to_sql(ty, out)
            }
            (Param::Int(i), &Type::INT2) => {
                i16::try_from(*i).map_err(|_| mismatch())?.to_sql(ty, out)
            }
            (Param::Int(i), &Type::OID) => {
                u32::try_from(*i).map_err(|_| mismatch())?.to_sql(ty, out)
            }
            (Param::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Param::Float(f), &Type::FLOAT8) => f.to_sql(ty, out),
            (Param::Float(f), &Type::FLOAT4) => (*f as f32).to_sql(ty, out),
            (Param::Text(s), &Type::JSON) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Param::Text(s), &Type::JSONB) => {
                out.extend_from_slice(&[1]);
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Param::Text(s), t) if <&str as ToSql>::accepts(t) => s.as_str().to_sql(ty, out),
            _ => Err(mismatch()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}
