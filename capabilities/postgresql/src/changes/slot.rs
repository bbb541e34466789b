//! The connector's replication slot on the server: what the server must allow,
//! the lock that keeps two hosts off one slot, and creating, reading, advancing
//! and dropping it. Every statement here is the host's own, on an admin
//! connection whose search path is `pg_catalog` only.

use std::sync::Arc;

use super::cursor::Lsn;
use super::ChangeError;
use crate::session::Handle;
use crate::PgError;

/// The output plugin: ships with PostgreSQL (contrib), read through SQL functions.
pub const OUTPUT_PLUGIN: &str = "test_decoding";

/// The slot of a connector: `tributary_<readable part of the id>_<hash of the id>`,
/// within PostgreSQL's 63 characters and its `[a-z0-9_]` alphabet.
pub fn slot_name(connector_id: &str) -> String {
    let readable: String = connector_id
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
        .take(32)
        .collect();
    // FNV-1a 64: two ids that read the same after the filter still get two slots.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in connector_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("tributary_{readable}_{h:016x}")
}

/// Runs one small host statement on the admin connection, marked busy so the
/// job's cancel reaches it.
pub(super) async fn query(
    conn: &Arc<Handle>,
    text: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, PgError> {
    let busy = conn.0.begin();
    let r = conn.0.client.query(text, params).await;
    busy.done();
    Ok(r?)
}

/// `wal_level = logical` and a role that may use replication slots, or an error
/// naming what the server or the role needs.
pub(super) async fn check_server(conn: &Arc<Handle>) -> Result<(), ChangeError> {
    let rows = query(
        conn,
        "SELECT current_setting('wal_level'), current_user::text, \
         coalesce((SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), false), \
         current_setting('max_replication_slots')::int4",
        &[],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| PgError::local("the server returned no settings"))?;
    let wal_level: String = row.try_get(0).map_err(PgError::from)?;
    let role: String = row.try_get(1).map_err(PgError::from)?;
    let may_replicate: bool = row.try_get(2).map_err(PgError::from)?;
    let max_slots: i32 = row.try_get(3).map_err(PgError::from)?;
    if wal_level != "logical" {
        return Err(ChangeError::NotLogical { wal_level });
    }
    if max_slots < 1 {
        return Err(ChangeError::NoSlots);
    }
    if !may_replicate {
        return Err(ChangeError::NoReplicationPrivilege { role });
    }
    Ok(())
}

/// Takes the session-level advisory lock of `slot` for as long as the admin
/// connection lives (a host killed mid-sync loses its connection, and the lock
/// with it). Besides the connector lock in Elasticsearch, this keeps two hosts
/// from reading or recreating one slot at the same time.
pub(super) async fn lock(conn: &Arc<Handle>, slot: &str) -> Result<(), ChangeError> {
    let key = format!("tributary-slot:{slot}");
    let rows = query(
        conn,
        "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
        &[&key],
    )
    .await?;
    let got: bool = rows
        .first()
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(PgError::from)?
        .unwrap_or(false);
    if got {
        Ok(())
    } else {
        Err(ChangeError::Busy {
            slot: slot.to_string(),
        })
    }
}

/// What `pg_replication_slots` says about a slot.
#[derive(Debug, Clone)]
pub(super) struct SlotStatus {
    /// Everything before this position was acknowledged.
    pub confirmed: Option<Lsn>,
    /// The process using the slot now, if any.
    pub active_pid: Option<i32>,
    /// WAL the slot keeps on the server's disk (bytes from its restart point).
    pub held_bytes: Option<i64>,
    /// `reserved`, `extended`, `unreserved` or `lost` (invalidated by the server).
    pub wal_status: Option<String>,
    pub plugin: Option<String>,
    /// The slot belongs to the connection's database.
    pub same_database: bool,
}

pub(super) async fn status(
    conn: &Arc<Handle>,
    slot: &str,
) -> Result<Option<SlotStatus>, ChangeError> {
    let rows = query(
        conn,
        "SELECT confirmed_flush_lsn::text, active_pid, \
         (pg_current_wal_lsn() - restart_lsn)::int8, wal_status, plugin::text, \
         database = current_database() \
         FROM pg_replication_slots WHERE slot_name = $1",
        &[&slot],
    )
    .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let confirmed: Option<String> = r.try_get(0).map_err(PgError::from)?;
    Ok(Some(SlotStatus {
        confirmed: confirmed.as_deref().and_then(Lsn::parse),
        active_pid: r.try_get(1).map_err(PgError::from)?,
        held_bytes: r.try_get(2).map_err(PgError::from)?,
        wal_status: r.try_get(3).map_err(PgError::from)?,
        plugin: r.try_get(4).map_err(PgError::from)?,
        same_database: r
            .try_get::<_, Option<bool>>(5)
            .map_err(PgError::from)?
            .unwrap_or(false),
    }))
}

/// Drops `slot` if it exists; `true` when one was dropped. A slot another
/// process is reading is not dropped (that process is named instead).
pub(super) async fn drop_if_exists(conn: &Arc<Handle>, slot: &str) -> Result<bool, ChangeError> {
    let Some(st) = status(conn, slot).await? else {
        return Ok(false);
    };
    if let Some(pid) = st.active_pid {
        return Err(ChangeError::SlotInUse {
            slot: slot.to_string(),
            pid,
        });
    }
    query(conn, "SELECT pg_drop_replication_slot($1)", &[&slot]).await?;
    tracing::info!(slot, "dropped the connector's replication slot");
    Ok(true)
}

/// Creates the slot; returns its consistent point: every transaction committed
/// after it will be decoded, every one before it is visible to a snapshot taken
/// after this returns.
pub(super) async fn create(conn: &Arc<Handle>, slot: &str) -> Result<Lsn, ChangeError> {
    let rows = query(
        conn,
        "SELECT lsn::text FROM pg_create_logical_replication_slot($1, $2)",
        &[&slot, &OUTPUT_PLUGIN],
    )
    .await
    .map_err(|e| match e.sqlstate.as_deref() {
        // configuration_limit_exceeded: every slot is taken.
        Some("53400") => ChangeError::NoSlots,
        _ => ChangeError::Pg(e),
    })?;
    lsn_of(&rows)
}

/// Acknowledges everything before `to`: the server may recycle that WAL.
pub(super) async fn advance(conn: &Arc<Handle>, slot: &str, to: Lsn) -> Result<(), ChangeError> {
    let to = to.to_string();
    query(
        conn,
        "SELECT end_lsn::text FROM pg_replication_slot_advance($1, $2::text::pg_lsn)",
        &[&slot, &to],
    )
    .await?;
    Ok(())
}

/// Writes a small transactional message into the WAL and returns the current
/// position after it: the read that follows always sees one commit of this
/// database, so the cursor moves past WAL of other databases and the slot does
/// not hold it back while the connector's tables are idle.
pub(super) async fn mark(conn: &Arc<Handle>) -> Result<Lsn, ChangeError> {
    query(
        conn,
        "SELECT pg_logical_emit_message(true, 'tributary', 'incremental sync')",
        &[],
    )
    .await?;
    let rows = query(conn, "SELECT pg_current_wal_lsn()::text", &[]).await?;
    lsn_of(&rows)
}

fn lsn_of(rows: &[tokio_postgres::Row]) -> Result<Lsn, ChangeError> {
    let text: Option<String> = rows
        .first()
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(PgError::from)?;
    text.as_deref()
        .and_then(Lsn::parse)
        .ok_or_else(|| ChangeError::Pg(PgError::local("the server returned no WAL position")))
}

/// A primary-key column: its name and its type as `format_type` prints it (the
/// type keys are cast back to).
#[derive(Debug, Clone)]
pub(super) struct KeyColumn {
    pub name: String,
    pub type_sql: String,
}

pub(super) async fn primary_key(
    conn: &Arc<Handle>,
    schema: &str,
    table: &str,
) -> Result<Vec<KeyColumn>, ChangeError> {
    let rows = query(
        conn,
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) \
         WHERE i.indisprimary AND n.nspname = $1 AND c.relname = $2 \
         ORDER BY array_position(i.indkey::int2[], a.attnum)",
        &[&schema, &table],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyColumn {
                name: r.try_get(0).map_err(PgError::from)?,
                type_sql: r.try_get(1).map_err(PgError::from)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names() {
        let a = slot_name("my-connector-id");
        assert!(a.starts_with("tributary_myconnectorid_"), "{a}");
        assert!(a.len() <= 63);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        assert_ne!(slot_name("My-Connector-Id"), slot_name("my-connector-id"));
        assert!(slot_name(&"x".repeat(500)).len() <= 63);
        assert_eq!(slot_name("abc"), slot_name("abc"));
    }
}
