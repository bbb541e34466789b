//! One job's sessions: the per-job cap, the connection each session holds, and
//! the calls a plugin makes on it (structured discovery and scans, checked SQL).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio_postgres::{CancelToken, Client};
use tributary_capability_common::slots::{Full, Slot, Slots};

use super::connect::{self, Tls};
use super::rows::{open_cursor, PgRows};
use super::sql;
use super::{Param, PgError, PgGrant, Relation, RelationKind, SessionInfo};

/// The sessions one job holds: at most `max` open at once. Clones share the count.
#[derive(Debug, Clone)]
pub struct SessionSlots(Slots<Handle>);

impl SessionSlots {
    /// Slots for one job.
    pub fn new(max: usize) -> Self {
        SessionSlots(Slots::new(max))
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.0.open()
    }

    pub(crate) fn take(&self) -> Result<Slot<Handle>, PgError> {
        self.0.take().map_err(|Full { max }| {
            PgError::local(format!(
                "session limit reached: this job already holds {max} PostgreSQL sessions (plugins.postgresql.max_sessions)"
            ))
        })
    }

    fn register(&self, conn: &Arc<Handle>) {
        self.0.register(conn);
    }

    /// Cancels what every live session of the job is running.
    pub fn cancel_running(&self) {
        for handle in self.0.live() {
            handle.0.cancel_if_busy();
        }
    }
}

/// A connection: the client, how to cancel what it runs, and how many statements
/// are in flight. Background fetches hold it too, so it lives until they end.
pub(super) struct Conn {
    pub client: Client,
    cancel: CancelToken,
    tls: Tls,
    /// Statements sent and not seen to finish.
    busy: AtomicUsize,
    _slot: Slot<Handle>,
}

impl Conn {
    /// Marks a statement as running until the guard is completed.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy { conn: self.clone() }
    }

    fn cancel_if_busy(&self) {
        if self.busy.load(Ordering::SeqCst) > 0 {
            connect::spawn_cancel(self.cancel.clone(), self.tls.clone());
        }
    }
}

/// What a session and the results it streams hold. When the plugin has let go of
/// all of them, whatever still runs on the connection (a fetch running ahead, a
/// statement whose call was abandoned) is cancelled: no backend outlives its job.
pub(super) struct Handle(pub Arc<Conn>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.cancel_if_busy();
    }
}

/// A statement in flight. [`Busy::done`] when it finished; one that is never done
/// (its future dropped, its result abandoned) keeps the connection marked busy, so
/// the statement is cancelled when the host gives up or the connection goes.
pub(super) struct Busy {
    conn: Arc<Conn>,
}

impl Busy {
    pub fn done(self) {
        self.conn.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One session: an open connection inside a READ ONLY transaction.
pub struct PgSession {
    conn: Arc<Handle>,
    info: SessionInfo,
    next_cursor: u64,
}

impl std::fmt::Debug for PgSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSession")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl PgSession {
    /// Opens a session of the job the grant belongs to, within its session cap.
    pub async fn connect(grant: &PgGrant) -> Result<Self, PgError> {
        let slot = grant.slots.take()?;
        let opened = connect::open(grant).await?;
        let conn = Arc::new(Handle(Arc::new(Conn {
            client: opened.client,
            cancel: opened.cancel,
            tls: opened.tls,
            busy: AtomicUsize::new(0),
            _slot: slot,
        })));
        grant.slots.register(&conn);
        Ok(PgSession {
            conn,
            info: opened.info,
            next_cursor: 0,
        })
    }

    /// A connection for the host's own statements (change data capture), counted
    /// in the job's session cap and cancelled with the job's other statements.
    pub(crate) async fn connect_admin(grant: &PgGrant) -> Result<Arc<Handle>, PgError> {
        let slot = grant.slots.take()?;
        let (client, cancel, tls) = connect::open_admin(grant).await?;
        let conn = Arc::new(Handle(Arc::new(Conn {
            client,
            cancel,
            tls,
            busy: AtomicUsize::new(0),
            _slot: slot,
        })));
        grant.slots.register(&conn);
        Ok(conn)
    }

    /// Streams a statement the host wrote (never plugin SQL), with parameters.
    pub(crate) async fn host_rows(
        &mut self,
        text: &str,
        params: Vec<Param>,
    ) -> Result<PgRows, PgError> {
        self.run(text, params).await
    }

    /// What the host read when it opened the session.
    pub fn info(&self) -> SessionInfo {
        self.info.clone()
    }

    /// Runs one plugin statement if it passes the allow-list; refuses anything else.
    pub async fn query(&mut self, sql: &str, params: Vec<Param>) -> Result<PgRows, PgError> {
        let sql::Checked(text) =
            sql::check(sql).map_err(|r| PgError::local(format!("statement refused: {r}")))?;
        self.run(&text, params).await
    }

    /// Tables (with `include_views`, views and foreign tables too) of `schema`
    /// visible to the role, sorted, as `information_schema.tables` lists them.
    pub async fn list_tables(
        &mut self,
        schema: &str,
        include_views: bool,
    ) -> Result<Vec<Relation>, PgError> {
        let rows = self
            .small(
                "SELECT table_name::text, table_type::text FROM information_schema.tables \
                 WHERE table_catalog = current_database() AND table_schema = $1 \
                 AND (table_type = 'BASE TABLE' OR $2) ORDER BY table_name::text",
                &[&schema, &include_views],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(1)?;
                Ok(Relation {
                    name: r.try_get(0)?,
                    kind: match kind.as_str() {
                        "BASE TABLE" => RelationKind::Table,
                        "FOREIGN" => RelationKind::ForeignTable,
                        _ => RelationKind::View,
                    },
                })
            })
            .collect()
    }

    /// The primary-key columns of a table, in key order.
    pub async fn primary_key(&mut self, schema: &str, table: &str) -> Result<Vec<String>, PgError> {
        let rows = self
            .small(
                "SELECT a.attname::text FROM pg_index i \
                 JOIN pg_class c ON c.oid = i.indrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indisprimary AND n.nspname = $1 AND c.relname = $2 \
                 ORDER BY array_position(i.indkey::int2[], a.attnum)",
                &[&schema, &table],
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Every row of a table in `order_by` order; the host writes and quotes the SQL.
    pub async fn scan(
        &mut self,
        schema: &str,
        table: &str,
        order_by: &[String],
    ) -> Result<PgRows, PgError> {
        let mut text = format!(
            "SELECT * FROM {}.{}",
            quote_ident(schema),
            quote_ident(table)
        );
        if !order_by.is_empty() {
            let cols: Vec<String> = order_by.iter().map(|c| quote_ident(c)).collect();
            text.push_str(" ORDER BY ");
            text.push_str(&cols.join(", "));
        }
        self.run(&text, Vec::new()).await
    }

    /// The latest commit time of any row of `tables` (Elastic's `_timestamp` for
    /// PostgreSQL), when the server records commit timestamps.
    pub async fn last_commit_time(
        &mut self,
        schema: &str,
        tables: &[String],
    ) -> Result<Option<String>, PgError> {
        if !self.info.commit_timestamps || tables.is_empty() {
            return Ok(None);
        }
        let parts: Vec<String> = tables
            .iter()
            .map(|t| {
                format!(
                    "SELECT max(pg_xact_commit_timestamp(xmin)) AS ts FROM {}.{}",
                    quote_ident(schema),
                    quote_ident(t)
                )
            })
            .collect();
        let text = format!("SELECT max(ts) FROM ({}) AS t", parts.join(" UNION ALL "));
        let rows = self.small(&text, &[]).await?;
        let ts: Option<chrono::DateTime<chrono::Utc>> = match rows.first() {
            Some(r) => r.try_get(0)?,
            None => None,
        };
        Ok(ts.map(connect::iso8601))
    }

    /// A small host-written statement, inside its own savepoint.
    async fn small(
        &mut self,
        text: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, PgError> {
        let n = self.bump();
        let client = &self.conn.0.client;
        client
            .batch_execute(&format!("SAVEPOINT tributary_q{n}"))
            .await?;
        let busy = self.conn.0.begin();
        let result = client.query(text, params).await;
        busy.done();
        match result {
            Ok(rows) => {
                client
                    .batch_execute(&format!("RELEASE SAVEPOINT tributary_q{n}"))
                    .await?;
                Ok(rows)
            }
            Err(e) => {
                rollback_to(client, n).await;
                Err(e.into())
            }
        }
    }

    /// Declares a cursor for a checked or host-written statement.
    async fn run(&mut self, text: &str, params: Vec<Param>) -> Result<PgRows, PgError> {
        let n = self.bump();
        // A savepoint per statement: an error (missing table, timeout) rolls back to it,
        // so the session stays usable for the plugin's next statement.
        self.conn
            .0
            .client
            .batch_execute(&format!("SAVEPOINT tributary_q{n}"))
            .await?;
        match open_cursor(&self.conn, n, text, params).await {
            Ok(rows) => Ok(rows),
            Err(e) => {
                rollback_to(&self.conn.0.client, n).await;
                Err(e)
            }
        }
    }

    fn bump(&mut self) -> u64 {
        self.next_cursor += 1;
        self.next_cursor
    }
}

pub(super) async fn rollback_to(client: &Client, n: u64) {
    if let Err(e) = client
        .batch_execute(&format!("ROLLBACK TO SAVEPOINT tributary_q{n}"))
        .await
    {
        tracing::debug!(error = %e, "rollback to savepoint failed");
    }
}

/// `"identifier"` with embedded quotes doubled.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
