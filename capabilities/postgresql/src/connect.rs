//! Opening a connection: the operator's allowlist, TLS, and the session setup the
//! host runs before the plugin can send anything.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{CancelToken, Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::policy::{bool_value, host_allowed, port_value, required, text_value};
use super::{PgError, PgGrant, SessionInfo};

/// How to reach the server again for a cancel request (same TLS as the session).
#[derive(Clone)]
pub(super) enum Tls {
    None,
    Rustls(MakeRustlsConnect),
}

/// An open connection inside its READ ONLY transaction.
pub(super) struct Opened {
    pub client: Client,
    pub cancel: CancelToken,
    pub tls: Tls,
    pub info: SessionInfo,
}

/// Re-flows a PEM that lost its line breaks (pasted into a one-line text field),
/// as Elastic's connector does.
pub(super) fn reflow_pem(pem: &str) -> String {
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

fn tls_connector(ca: Option<&str>) -> Result<MakeRustlsConnect, PgError> {
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
    Ok(MakeRustlsConnect::new(config))
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

/// Connects to the server the grant names, after checking the operator's
/// allowlist; nothing is run on the connection yet.
pub(super) async fn connect_client(grant: &PgGrant) -> Result<(Client, Tls), PgError> {
    let v = &*grant.values;
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
    if let Some(pw) = v.get("password").and_then(serde_json::Value::as_str) {
        cfg.password(pw);
    }
    if bool_value(v, "ssl_enabled") {
        cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
        let tls = tls_connector(text_value(v, "ssl_ca"))?;
        let (client, conn) = cfg.connect(tls.clone()).await.map_err(PgError::from)?;
        spawn_connection(conn);
        Ok((client, Tls::Rustls(tls)))
    } else {
        let (client, conn) = cfg.connect(NoTls).await.map_err(PgError::from)?;
        spawn_connection(conn);
        Ok((client, Tls::None))
    }
}

/// A connection for the host's own statements (change data capture): the
/// statement timeout and standard strings, no READ ONLY transaction (creating,
/// advancing and dropping a replication slot write), and a search path of
/// `pg_catalog` only, so every name the host writes resolves to the built-in.
/// Plugins never send SQL on it.
pub(super) async fn open_admin(grant: &PgGrant) -> Result<(Client, CancelToken, Tls), PgError> {
    let (client, tls) = connect_client(grant).await?;
    let timeout = grant.policy.statement_timeout_ms();
    client
        .batch_execute(&format!(
            "SET statement_timeout = {timeout}; SET standard_conforming_strings = on; \
             SET search_path = pg_catalog, pg_temp"
        ))
        .await?;
    let cancel = client.cancel_token();
    Ok((client, cancel, tls))
}

/// Opens the connection described by the grant (after checking the policy) and
/// sets the session up: statement timeout, standard strings, READ ONLY
/// transaction, and a check that the search path holds no system schema.
pub(super) async fn open(grant: &PgGrant) -> Result<Opened, PgError> {
    let (client, tls) = connect_client(grant).await?;
    let timeout = grant.policy.statement_timeout_ms();
    // Set by the host before the plugin can send anything. Plugin SQL can only be
    // one allow-listed SELECT, so none of this can be changed afterwards.
    client
        .batch_execute(&format!(
            "SET statement_timeout = {timeout}; SET standard_conforming_strings = on; \
             SET default_transaction_read_only = on"
        ))
        .await?;
    // PostgreSQL 14+: a backend whose client went away stops its statement within a
    // second instead of running it to the end. Older servers do not know the setting.
    if let Err(e) = client
        .batch_execute("SET client_connection_check_interval = 1000")
        .await
    {
        tracing::debug!(error = %e, "client_connection_check_interval not supported");
    }
    // Unqualified names resolve through the search path; the allow-list assumes it
    // holds no system schema besides the implicit pg_catalog.
    let risky = client
        .query(
            "SELECT s::text FROM unnest(current_schemas(false)) AS s \
             WHERE s = 'information_schema' OR s LIKE 'pg\\_%'",
            &[],
        )
        .await?;
    if let Some(row) = risky.first() {
        let schema: String = row.try_get(0)?;
        return Err(PgError::local(format!(
            "the role's search_path includes the system schema \"{schema}\"; remove it (ALTER ROLE … SET search_path) to connect"
        )));
    }
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let row = client
        .query_one(
            "SELECT now(), current_setting('server_version'), current_database()::text, \
             current_setting('track_commit_timestamp') = 'on'",
            &[],
        )
        .await?;
    let now: chrono::DateTime<chrono::Utc> = row.try_get(0)?;
    let info = SessionInfo {
        started_at: iso8601(now),
        server_version: row.try_get(1)?,
        database: row.try_get(2)?,
        commit_timestamps: row.try_get(3)?,
    };
    let cancel = client.cancel_token();
    Ok(Opened {
        client,
        cancel,
        tls,
        info,
    })
}

/// A `timestamptz` as the codec prints it (what plugins see for row values).
pub(super) fn iso8601(t: chrono::DateTime<chrono::Utc>) -> String {
    // µs since PostgreSQL's epoch, 2000-01-01.
    const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;
    tributary_codec::TimestampTz(t.timestamp_micros() - PG_EPOCH_UNIX_MICROS).to_string()
}

/// Sends a cancel request for whatever `token`'s backend runs now.
pub(super) fn spawn_cancel(token: CancelToken, tls: Tls) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        let sent = match tls {
            Tls::None => token.cancel_query(NoTls).await,
            Tls::Rustls(t) => token.cancel_query(t).await,
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "PostgreSQL cancel request failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_reflow() {
        let one_line = "-----BEGIN CERTIFICATE----- AAAA BBBB -----END CERTIFICATE-----";
        assert_eq!(
            reflow_pem(one_line),
            "-----BEGIN CERTIFICATE-----\nAAAA\nBBBB\n-----END CERTIFICATE-----\n"
        );
    }
}
