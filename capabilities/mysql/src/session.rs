//! One job's sessions: the per-job cap, the connection each session holds, and
//! the calls a plugin makes on it (structured discovery and scans, checked SQL).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row, SslOpts};
use tokio::sync::OwnedMutexGuard;
use tributary_capability_common::slots::{Full, Slot, Slots};

use super::policy::{bool_value, port_value, required, text_value};
use super::rows::MysqlRows;
use super::{
    host_allowed, sql, MysqlError, MysqlGrant, Param, Relation, RelationKind, SessionInfo,
};

/// How long opening a connection (TCP, TLS, authentication, setup) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The sessions one job holds: at most `max` open at once. Clones share the count.
#[derive(Debug, Clone)]
pub struct SessionSlots(Slots<Shared>);

impl SessionSlots {
    /// Slots for one job.
    pub fn new(max: usize) -> Self {
        SessionSlots(Slots::new(max))
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.0.open()
    }

    fn take(&self) -> Result<Slot<Shared>, MysqlError> {
        self.0.take().map_err(|Full { max }| {
            MysqlError::local(format!(
                "session limit reached: this job already holds {max} MySQL sessions (plugins.mysql.max_sessions)"
            ))
        })
    }

    fn register(&self, shared: &Arc<Shared>) {
        self.0.register(shared);
    }

    /// Stops what every live session of the job is running (`KILL QUERY` from a
    /// connection of its own: the session's connection is busy streaming).
    pub fn cancel_running(&self) {
        for shared in self.0.live() {
            if shared.busy.load(Ordering::SeqCst) > 0 {
                spawn_kill(shared.opts.clone(), shared.id);
            }
        }
    }
}

fn spawn_kill(opts: Opts, id: u32) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        let killed = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let mut c = Conn::new(opts).await?;
            c.query_drop(format!("KILL QUERY {id}")).await?;
            c.disconnect().await
        })
        .await;
        if let Ok(Err(e)) = killed {
            tracing::warn!(connection = id, error = %e, "could not stop a MySQL statement");
        }
    });
}

/// What a session and the results it streams share: the connection (one result
/// at a time: MySQL does not multiplex), how to stop what it runs, and the slot.
#[derive(Debug)]
pub(crate) struct Shared {
    pub conn: Arc<tokio::sync::Mutex<Conn>>,
    opts: Opts,
    id: u32,
    /// Statements sent and not seen to finish.
    pub busy: AtomicUsize,
    /// `(table, column)` pairs MariaDB declares JSON (its JSON is `LONGTEXT` with a
    /// `json_valid` check), read once per session.
    pub json_columns: HashSet<(String, String)>,
    _slot: Slot<Shared>,
}

impl Shared {
    /// The connection, unless a result still streams on it.
    pub fn lock(self: &Arc<Self>) -> Result<OwnedMutexGuard<Conn>, MysqlError> {
        self.conn.clone().try_lock_owned().map_err(|_| {
            MysqlError::local(
                "a result is still streaming on this session: read it to the end or drop it first, or open another session",
            )
        })
    }
}

/// One session: an open connection inside a `READ ONLY` transaction with a
/// consistent snapshot.
pub struct MysqlSession {
    shared: Arc<Shared>,
    info: SessionInfo,
}

impl std::fmt::Debug for MysqlSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlSession")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// A MySQL identifier in backticks.
pub fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// Connection options from the grant; the allowlist is checked first.
fn options(grant: &MysqlGrant) -> Result<Opts, MysqlError> {
    let v = &grant.values;
    let host = required(v, "host")?;
    let port = port_value(v)?;
    if !host_allowed(&grant.policy.allowed_hosts, host, port) {
        return Err(MysqlError::local(format!(
            "host {host}:{port} is not allowed by the operator (plugins.mysql.allowed_hosts)"
        )));
    }
    let user = required(v, "user")?;
    let database = required(v, "database")?;
    let mut b = OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(user))
        .pass(text_value(v, "password"))
        .db_name(Some(database))
        // Stay on the TCP endpoint the operator allowed.
        .prefer_socket(false)
        .stmt_cache_size(16);
    if bool_value(v, "ssl_enabled") {
        let mut ssl = SslOpts::default();
        if let Some(ca) = text_value(v, "ssl_ca") {
            // The PEM from the configuration is the only trust root.
            ssl = ssl.with_root_certs(vec![ca.as_bytes().to_vec().into()]);
        }
        b = b.ssl_opts(ssl);
    }
    Ok(b.into())
}

impl MysqlSession {
    /// Opens a session of the job the grant belongs to, within its session cap.
    pub async fn connect(grant: &MysqlGrant) -> Result<Self, MysqlError> {
        let slot = grant.slots.take()?;
        let opts = options(grant)?;
        let timeout_ms = grant.policy.statement_timeout_ms();
        let opened = tokio::time::timeout(CONNECT_TIMEOUT, open(opts.clone(), timeout_ms))
            .await
            .map_err(|_| {
                MysqlError::local(format!(
                    "connecting to MySQL took longer than {} s",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })??;
        let (conn, info, json_columns) = opened;
        let shared = Arc::new(Shared {
            id: conn.id(),
            conn: Arc::new(tokio::sync::Mutex::new(conn)),
            opts,
            busy: AtomicUsize::new(0),
            json_columns,
            _slot: slot,
        });
        grant.slots.register(&shared);
        Ok(MysqlSession { shared, info })
    }

    /// What the host read when it opened the session.
    pub fn info(&self) -> SessionInfo {
        self.info.clone()
    }

    /// Runs one plugin statement if it passes the allow-list; refuses anything else.
    pub async fn query(&mut self, sql: &str, params: Vec<Param>) -> Result<MysqlRows, MysqlError> {
        let sql::Checked(text) = sql::check(sql, &self.info.database)
            .map_err(|r| MysqlError::local(format!("statement refused: {r}")))?;
        MysqlRows::start(&self.shared, text, params).await
    }

    /// Tables (with `include_views`, views too) of the connector's database, sorted
    /// by name.
    pub async fn list_tables(&mut self, include_views: bool) -> Result<Vec<Relation>, MysqlError> {
        let rows = self
            .small(
                "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
                Vec::new(),
            )
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let (name, kind): (String, String) = mysql_async::from_row_opt(r)
                .map_err(|e| MysqlError::local(format!("unexpected catalog row: {e}")))?;
            let kind = if kind == "VIEW" {
                RelationKind::View
            } else {
                RelationKind::Table
            };
            if include_views || kind == RelationKind::Table {
                out.push(Relation { name, kind });
            }
        }
        Ok(out)
    }

    /// The primary-key columns of a table in column order (Elastic's order);
    /// empty when it has none.
    pub async fn primary_key(&mut self, table: &str) -> Result<Vec<String>, MysqlError> {
        let rows = self
            .small(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_KEY = 'PRI' \
                 ORDER BY ORDINAL_POSITION",
                vec![Param::Text(table.to_string())],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                mysql_async::from_row_opt::<String>(r)
                    .map_err(|e| MysqlError::local(format!("unexpected catalog row: {e}")))
            })
            .collect()
    }

    /// The table's `UPDATE_TIME` (ISO-8601, UTC), when the engine keeps one.
    pub async fn last_update_time(&mut self, table: &str) -> Result<Option<String>, MysqlError> {
        let rows = self
            .small(
                "SELECT DATE_FORMAT(UPDATE_TIME, '%Y-%m-%dT%H:%i:%s+00:00') FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                vec![Param::Text(table.to_string())],
            )
            .await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| mysql_async::from_row_opt::<Option<String>>(r).ok())
            .flatten())
    }

    /// Every row of a table in `order_by` order; the host writes and quotes the SQL.
    pub async fn scan(
        &mut self,
        table: &str,
        order_by: &[String],
    ) -> Result<MysqlRows, MysqlError> {
        let mut text = format!("SELECT * FROM {}", quote_ident(table));
        if !order_by.is_empty() {
            let cols: Vec<String> = order_by.iter().map(|c| quote_ident(c)).collect();
            text.push_str(" ORDER BY ");
            text.push_str(&cols.join(", "));
        }
        MysqlRows::start(&self.shared, text, Vec::new()).await
    }

    /// A small result the host itself asked for, read whole.
    async fn small(&mut self, text: &str, params: Vec<Param>) -> Result<Vec<Row>, MysqlError> {
        let mut conn = self.shared.lock()?;
        self.shared.busy.fetch_add(1, Ordering::SeqCst);
        let r = conn.exec(text, crate::rows::params(params)).await;
        self.shared.busy.fetch_sub(1, Ordering::SeqCst);
        Ok(r?)
    }
}

/// Connects and sets the session up before the plugin can send anything.
async fn open(
    opts: Opts,
    timeout_ms: u64,
) -> Result<(Conn, SessionInfo, HashSet<(String, String)>), MysqlError> {
    let mut conn = Conn::new(opts).await?;
    let version: String = conn
        .query_first("SELECT VERSION()")
        .await?
        .unwrap_or_default();
    let mariadb = version.contains("MariaDB");
    let limit = if mariadb {
        // Seconds, fractions allowed.
        format!(
            "SET SESSION max_statement_time = {:.3}",
            timeout_ms as f64 / 1000.0
        )
    } else {
        format!("SET SESSION max_execution_time = {timeout_ms}")
    };
    conn.query_drop(limit).await?;
    // TIMESTAMP values are read in UTC, whatever the server's zone.
    conn.query_drop("SET SESSION time_zone = '+00:00'").await?;
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await?;
    let (started_at, database): (String, Option<String>) = conn
        .query_first(
            "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%f+00:00'), DATABASE()",
        )
        .await?
        .ok_or_else(|| MysqlError::local("the server returned no session facts"))?;
    let mut json_columns = HashSet::new();
    if mariadb {
        // A column-level check constraint is named after its column.
        let pairs: Vec<(String, String)> = conn
            .query(
                "SELECT TABLE_NAME, CONSTRAINT_NAME FROM information_schema.CHECK_CONSTRAINTS \
                 WHERE CONSTRAINT_SCHEMA = DATABASE() AND CHECK_CLAUSE LIKE 'json\\_valid(%'",
            )
            .await?;
        json_columns.extend(pairs);
    }
    let info = SessionInfo {
        started_at,
        server_version: version,
        database: database.unwrap_or_default(),
    };
    Ok((conn, info, json_columns))
}
