//! The PostgreSQL capability: the only place that opens connections to PostgreSQL
//! on a plugin's behalf. Free of wasmtime; `plugins/` binds it to the WIT interface.
//!
//! A session is one connection, opened from the connector's configuration values,
//! checked against the operator's allowlist, running one `REPEATABLE READ READ ONLY`
//! transaction with a statement timeout. Plugin statements pass the [`guard`]
//! and then run as `DECLARE … NO SCROLL CURSOR`, read with `FETCH n`: memory stays
//! flat whatever the table size. Rows are read in PostgreSQL's binary format and
//! packed into one `tributary-codec` buffer per batch.

mod guard;
mod wire;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use serde_json::{Map, Value};
use tokio::task::JoinHandle;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, Row, Statement};
use tributary_codec::Encoder;

pub use guard::Refusal;

/// A PostgreSQL error as the plugin sees it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PgError {
    /// SQLSTATE, when the server sent one.
    pub sqlstate: Option<String>,
    /// Human-readable message.
    pub message: String,
}

impl PgError {
    fn local(message: impl Into<String>) -> Self {
        PgError {
            sqlstate: None,
            message: message.into(),
        }
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let mut message = db.message().to_string();
            if let Some(d) = db.detail() {
                message.push_str(": ");
                message.push_str(d);
            }
            return PgError {
                sqlstate: Some(db.code().code().to_string()),
                message,
            };
        }
        // Not from the server (connection lost, protocol error): keep the cause chain.
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        PgError {
            sqlstate: None,
            message,
        }
    }
}

/// A statement parameter.
#[derive(Debug, Clone)]
pub enum Param {
    /// SQL NULL (any type).
    Null,
    /// `bool`.
    Bool(bool),
    /// Any integer type (range-checked), or float/numeric-free text use.
    Int(i64),
    /// `float4`/`float8`.
    Float(f64),
    /// Text-like types, json/jsonb.
    Text(String),
}

/// A result column.
#[derive(Debug, Clone)]
pub struct Column {
    /// The column name as the query labels it.
    pub name: String,
    /// The column's PostgreSQL type OID.
    pub type_oid: u32,
    /// The type's name, e.g. `int4`, `numeric`, `_text`.
    pub type_name: String,
}

/// Operator policy from config.yml (`plugins.postgresql.*`).
#[derive(Debug, Clone, Default)]
pub struct PgPolicy {
    /// `host` or `host:port` patterns the operator allows (`*.example.com` matches
    /// subdomains); empty = allow any.
    pub allowed_hosts: Vec<String>,
    /// Statement timeout for every statement, in milliseconds (0 = the default, 5 minutes).
    pub statement_timeout_ms: u64,
}

/// The statement timeout when the policy leaves it at 0.
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 300_000;

/// What a job is granted: the connection the host will open (from the connector's
/// configuration values) and the operator's policy.
#[derive(Debug, Clone)]
pub struct PgGrant {
    /// The connector's configuration values (`host`, `port`, `username`, `password`,
    /// `database`, `ssl_enabled`, `ssl_ca`; others are ignored).
    pub values: Map<String, Value>,
    /// The operator's policy.
    pub policy: PgPolicy,
}

/// One job's session: an open connection inside a READ ONLY transaction.
pub struct PgSession {
    client: Arc<Client>,
    next_cursor: u64,
}

/// A streaming result.
pub struct PgRows {
    client: Arc<Client>,
    cursor: String,
    columns: Vec<Column>,
    plans: Vec<wire::Plan>,
    /// `FETCH n` statements prepared once per batch size.
    fetch: Option<(u32, Statement)>,
    /// The next `FETCH`, already running while the plugin works on the current
    /// batch (server, connection and plugin overlap): `(rows asked, task)`.
    pending: Option<Fetch>,
    /// Rows fetched but not yet returned (a prefetch larger than the next request).
    carry: VecDeque<Row>,
    /// A `FETCH` returned fewer rows than asked: the server has no more.
    exhausted: bool,
    done: bool,
}

/// A `FETCH` running on its own task: `(rows asked, task)`.
type Fetch = (u32, JoinHandle<Result<Vec<Row>, tokio_postgres::Error>>);

fn text_value<'a>(values: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    values
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn required<'a>(values: &'a Map<String, Value>, key: &str) -> Result<&'a str, PgError> {
    text_value(values, key)
        .ok_or_else(|| PgError::local(format!("configuration value '{key}' is missing")))
}

fn port_value(values: &Map<String, Value>) -> Result<u16, PgError> {
    let bad = || PgError::local("configuration value 'port' is not a port number");
    match values.get("port") {
        None | Some(Value::Null) => Ok(5432),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(bad),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(5432),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn bool_value(values: &Map<String, Value>, key: &str) -> bool {
    match values.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        ),
        Some(Value::Number(n)) => n.as_i64().is_some_and(|v| v != 0),
        _ => false,
    }
}

/// Whether `host:port` is allowed by the operator's patterns.
pub fn host_allowed(patterns: &[String], host: &str, port: u16) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    patterns.iter().any(|p| {
        let p = p.trim().to_ascii_lowercase();
        // `[v6]:port`, `host:port`, or a bare host (any port).
        let (ph, pp) = match p.rsplit_once(':') {
            Some((h, port))
                if port.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']')) =>
            {
                (
                    h.trim_start_matches('[').trim_end_matches(']').to_string(),
                    port.parse::<u16>().ok(),
                )
            }
            _ => (
                p.trim_start_matches('[').trim_end_matches(']').to_string(),
                None,
            ),
        };
        let host_ok = match ph.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => ph == "*" || ph == host,
        };
        host_ok && pp.is_none_or(|pp| pp == port)
    })
}

/// Re-flows a PEM that lost its line breaks (pasted into a one-line text field),
/// as Elastic's connector does.
fn reflow_pem(pem: &str) -> String {
    if pem.contains('\n') {
        return pem.to_string();
    }
    let mut out = String::new();
    let mut rest = pem.trim();
    while let Some(start) = rest.find("-----BEGIN ") {
        let Some(hdr_end) = rest[start + 11..].find("-----").map(|e| start + 11 + e + 5) else {
            break;
        };
        let header = &rest[start..hdr_end];
        let label = &header[11..header.len() - 5];
        let footer = format!("-----END {label}-----");
        let Some(foot) = rest[hdr_end..].find(&footer).map(|f| hdr_end + f) else {
            break;
        };
        out.push_str(header);
        out.push('\n');
        for chunk in rest[hdr_end..foot].split_whitespace() {
            out.push_str(chunk);
            out.push('\n');
        }
        out.push_str(&footer);
        out.push('\n');
        rest = &rest[foot + footer.len()..];
    }
    out
}

fn tls_connector(ca: Option<&str>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, PgError> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = ca.map(reflow_pem).unwrap_or_default();
    let mut reader = std::io::BufReader::new(pem.as_bytes());
    for cert in rustls_pemfile::certs(&mut reader) {
        let cert = cert
            .map_err(|e| PgError::local(format!("ssl_ca is not a valid PEM certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| PgError::local(format!("ssl_ca certificate refused: {e}")))?;
    }
    if roots.is_empty() {
        return Err(PgError::local(
            "ssl_enabled is on but ssl_ca holds no PEM certificate",
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::local(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl PgSession {
    /// Opens the connection described by the grant (after checking the policy).
    pub async fn connect(grant: &PgGrant) -> Result<Self, PgError> {
        let v = &grant.values;
        let host = required(v, "host")?;
        let port = port_value(v)?;
        if !host_allowed(&grant.policy.allowed_hosts, host, port) {
            return Err(PgError::local(format!(
                "connecting to {host}:{port} is not allowed by the operator's allowlist (plugins.postgresql.allowed_hosts)"
            )));
        }
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(host)
            .port(port)
            .user(required(v, "username")?)
            .dbname(required(v, "database")?)
            .application_name("tributary")
            .connect_timeout(Duration::from_secs(30));
        if let Some(pw) = v.get("password").and_then(Value::as_str) {
            cfg.password(pw);
        }
        let client = if bool_value(v, "ssl_enabled") {
            cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls = tls_connector(text_value(v, "ssl_ca"))?;
            let (client, conn) = cfg.connect(tls).await.map_err(PgError::from)?;
            spawn_connection(conn);
            client
        } else {
            let (client, conn) = cfg
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(PgError::from)?;
            spawn_connection(conn);
            client
        };
        let timeout = match grant.policy.statement_timeout_ms {
            0 => DEFAULT_STATEMENT_TIMEOUT_MS,
            t => t,
        };
        // Set by the host before the plugin can send anything; the guard refuses SET,
        // set_config() and transaction control, so they hold for the whole session.
        // standard_conforming_strings keeps the server's lexing equal to the guard's.
        client
            .batch_execute(&format!(
                "SET statement_timeout = {timeout}; SET standard_conforming_strings = on; \
                 SET default_transaction_read_only = on; \
                 BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            ))
            .await?;
        Ok(PgSession {
            client: Arc::new(client),
            next_cursor: 0,
        })
    }

    /// Runs one read-only statement; refuses anything else.
    pub async fn query(&mut self, sql: &str, params: Vec<Param>) -> Result<PgRows, PgError> {
        let body =
            guard::check(sql).map_err(|r| PgError::local(format!("statement refused: {}", r.0)))?;
        self.next_cursor += 1;
        let n = self.next_cursor;
        let cursor = format!("tributary_c{n}");
        // A savepoint per statement: an error (missing table, timeout) rolls back to it,
        // so the session stays usable for the plugin's next statement.
        self.client
            .batch_execute(&format!("SAVEPOINT tributary_q{n}"))
            .await?;
        match self.open(body, params, &cursor).await {
            Ok((columns, plans)) => Ok(PgRows {
                client: self.client.clone(),
                cursor,
                columns,
                plans,
                fetch: None,
                pending: None,
                carry: VecDeque::new(),
                exhausted: false,
                done: false,
            }),
            Err(e) => {
                rollback_to(&self.client, &cursor).await;
                Err(e)
            }
        }
    }

    async fn open(
        &self,
        body: &str,
        params: Vec<Param>,
        cursor: &str,
    ) -> Result<(Vec<Column>, Vec<wire::Plan>), PgError> {
        let stmt = self.client.prepare(body).await?;
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
        let declare_stmt = self.client.prepare_typed(&declare, stmt.params()).await?;
        let bound: Vec<BoundParam> = params.into_iter().map(BoundParam).collect();
        self.client
            .execute_raw(
                &declare_stmt,
                bound.iter().map(|p| p as &(dyn ToSql + Sync)),
            )
            .await?;
        Ok((columns, plans))
    }
}

fn spawn_connection<S, T>(conn: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio_postgres::tls::TlsStream + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        // The client sees the failure as an error on its next call (never as end of rows).
        if let Err(e) = conn.await {
            tracing::warn!(error = %e, "PostgreSQL connection ended with an error");
        }
    });
}

async fn rollback_to(client: &Client, cursor: &str) {
    let n = cursor.trim_start_matches("tributary_c");
    if let Err(e) = client
        .batch_execute(&format!("ROLLBACK TO SAVEPOINT tributary_q{n}"))
        .await
    {
        tracing::debug!(error = %e, "rollback to savepoint failed");
    }
}

/// Largest batch one `next` call returns.
pub const MAX_FETCH_ROWS: u32 = 10_000;

impl PgRows {
    /// The result columns.
    pub fn columns(&self) -> Vec<Column> {
        self.columns.clone()
    }

    /// Up to `max_rows` rows encoded in the `tributary-codec` format: `(rows, bytes)`.
    /// `None` once the result is exhausted.
    pub async fn next(&mut self, max_rows: u32) -> Result<Option<(u32, Vec<u8>)>, PgError> {
        if self.done {
            return Ok(None);
        }
        match self.fetch_batch(max_rows.clamp(1, MAX_FETCH_ROWS)).await {
            Ok(r) => Ok(r),
            Err(e) => {
                self.done = true;
                rollback_to(&self.client, &self.cursor).await;
                Err(e)
            }
        }
    }

    async fn fetch_stmt(&mut self, n: u32) -> Result<Statement, PgError> {
        if let Some((m, s)) = &self.fetch {
            if *m == n {
                return Ok(s.clone());
            }
        }
        let s = self
            .client
            .prepare(&format!("FETCH FORWARD {n} FROM {}", self.cursor))
            .await?;
        self.fetch = Some((n, s.clone()));
        Ok(s)
    }

    /// Starts `FETCH n` on its own task; at most one is outstanding.
    async fn spawn_fetch(&mut self, n: u32) -> Result<Fetch, PgError> {
        let stmt = self.fetch_stmt(n).await?;
        let client = self.client.clone();
        Ok((
            n,
            tokio::spawn(async move { client.query(&stmt, &[]).await }),
        ))
    }

    async fn fetch_batch(&mut self, n: u32) -> Result<Option<(u32, Vec<u8>)>, PgError> {
        let mut enc = Encoder::with_capacity(self.plans.len() as u32, 64 * 1024);
        while enc.rows() < n {
            if let Some(row) = self.carry.pop_front() {
                enc.begin_row();
                for (i, plan) in self.plans.iter().enumerate() {
                    let raw: wire::Raw<'_> = row.try_get(i)?;
                    wire::encode(&mut enc, plan, raw.0)?;
                }
                continue;
            }
            if self.exhausted {
                break;
            }
            let (asked, task) = match self.pending.take() {
                Some(p) => p,
                None => self.spawn_fetch(n).await?,
            };
            // A lost connection or a server error surfaces here, never as an end of rows.
            let rows = task
                .await
                .map_err(|e| PgError::local(format!("fetch task failed: {e}")))??;
            if (rows.len() as u64) < u64::from(asked) {
                self.exhausted = true;
            }
            self.carry.extend(rows);
        }
        // Prefetch while the plugin decodes this batch; memory stays bounded by
        // one batch in flight plus the carry.
        if !self.exhausted && self.pending.is_none() && (self.carry.len() as u64) < u64::from(n) {
            self.pending = Some(self.spawn_fetch(n).await?);
        }
        let rows = enc.rows();
        if self.exhausted && self.carry.is_empty() {
            self.done = true;
            // Free the portal now: a sync runs many statements in one transaction.
            self.client
                .batch_execute(&format!("CLOSE {}", self.cursor))
                .await?;
        }
        if rows == 0 {
            return Ok(None);
        }
        Ok(Some((rows, enc.finish())))
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

#[cfg(test)]
mod tests;
