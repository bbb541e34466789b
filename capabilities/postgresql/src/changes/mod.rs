//! Change data capture through logical decoding: what lets a connector's
//! incremental sync read only what changed since the last sync.
//!
//! # How it works
//!
//! - **One replication slot per connector** ([`slot_name`]), created by the host
//!   (never by plugin SQL) when a full sync starts ([`Capture::start`]), after
//!   dropping the connector's previous slot.
//! - **The hand-off from the full sync to the first incremental one.** The slot is
//!   created with `pg_create_logical_replication_slot`, which returns its
//!   consistent point *L*: every transaction committing after *L* is decoded from
//!   the slot. The full sync then reads through a session opened *after* the slot
//!   exists ([`Capture::session`]), so its snapshot sees every transaction that
//!   committed before *L*. Every change is in the snapshot, in the slot, or in
//!   both; none falls between. A change in both is read twice, which is harmless
//!   because of the next point.
//! - **Changes name keys; rows are read again.** An incremental sync decodes the
//!   slot's changes only to learn which primary keys of the connector's tables
//!   changed ([`ChangeReader`]); it then reads those rows as they are now, in one
//!   snapshot taken after the decoded range, and emits an `index` for each row that
//!   exists and a `delete` for each key that has no row any more. Replaying a
//!   range twice yields the same documents, the documents are exactly what a full
//!   sync makes (same columns, same types, same ids), and a TRUNCATE (which names
//!   no keys) asks for a full sync.
//! - **Acknowledged only after Elasticsearch accepted.** The slot is read with
//!   `pg_logical_slot_peek_changes`, which consumes nothing. The cursor the sync
//!   returns (the end of the last decoded commit) is stored in the connector's
//!   `sync_cursor` only after the sync succeeded; the *next* sync advances the slot
//!   to that stored cursor (`pg_replication_slot_advance`) before reading. A host
//!   killed mid-sync stored nothing, so the next sync reads the same range again:
//!   at least once, never lost, never doubled (same `_id`s).
//! - **One reader per slot.** The connector lock in Elasticsearch keeps two jobs of
//!   one connector apart; on the server, every slot operation runs on a
//!   connection holding a session-level advisory lock on the slot, released when
//!   the connection ends (a killed host's included), and a slot another process
//!   has active (`active_pid`) is reported, not taken.
//! - **Bounded WAL.** A slot holding more WAL than
//!   `plugins.postgresql.max_slot_wal_bytes` when a sync starts is dropped and
//!   the sync fails saying so (on the connector), instead of letting the server's
//!   disk fill; a slot the server invalidated (`max_slot_wal_keep_size`) too.
//!
//! # Why `test_decoding` through SQL functions
//!
//! - It ships with PostgreSQL (contrib) on every installation that has logical
//!   decoding; `wal2json` is an extension the operator would have to install.
//! - The SQL interface (`peek` + `advance`) gives acknowledgement after
//!   Elasticsearch for free: nothing is consumed until the host says so, on an
//!   ordinary connection. `pgoutput` needs the streaming replication protocol,
//!   which `tokio-postgres` does not speak, a publication per connector (a write
//!   to the user's catalog, needing table ownership), and a client that keeps
//!   standby status updates flowing.
//! - Only the key columns of its text output are used, and the server casts them
//!   back to the column types; every value a document carries is read from the
//!   table in PostgreSQL's binary format, exactly as a full sync reads it. Its
//!   text format's ambiguities therefore never reach a document.
//! - Its cost: it decodes every table of the database (no table filter), so the
//!   host skips changes of other tables; a `replication=database` connection is not
//!   needed, so neither is a `pg_hba.conf` replication entry. The role needs the
//!   `REPLICATION` attribute (or superuser) for any slot function.

mod cursor;
mod decode;
mod reader;
mod slot;

use std::sync::Arc;

pub use cursor::{Cursor, Lsn};
pub use decode::DecodeError;
pub use reader::{ChangeReader, TableChanges};
pub use slot::{slot_name, OUTPUT_PLUGIN};

use crate::session::Handle;
use crate::{PgError, PgGrant, PgSession};

/// WAL a slot may hold (from its restart point) when a sync starts, when the
/// operator sets no bound: 1 GiB.
pub const DEFAULT_MAX_SLOT_WAL_BYTES: u64 = 1 << 30;

/// The operator's policy for change data capture (config.yml `plugins.postgresql`).
#[derive(Debug, Clone, Default)]
pub struct ChangesPolicy {
    /// `max_slot_wal_bytes` (0 = [`DEFAULT_MAX_SLOT_WAL_BYTES`]).
    pub max_slot_wal_bytes: u64,
}

impl ChangesPolicy {
    /// The effective bound.
    pub fn max_slot_wal_bytes(&self) -> u64 {
        match self.max_slot_wal_bytes {
            0 => DEFAULT_MAX_SLOT_WAL_BYTES,
            n => n,
        }
    }
}

/// What one job of a connector may do with change data capture: its PostgreSQL
/// grant and the connector's slot (named by the host from the connector id).
#[derive(Debug, Clone)]
pub struct ChangesGrant {
    pub pg: PgGrant,
    /// The connector's replication slot.
    pub slot: String,
    pub policy: ChangesPolicy,
}

impl ChangesGrant {
    /// The grant of a job of `connector_id`.
    pub fn new(pg: PgGrant, connector_id: &str, policy: ChangesPolicy) -> Self {
        ChangesGrant {
            pg,
            slot: slot_name(connector_id),
            policy,
        }
    }
}

/// Why change data capture cannot go on; the message says what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChangeError {
    #[error("incremental syncs of PostgreSQL read changes through logical decoding, but the server's wal_level is '{wal_level}': set wal_level = logical in postgresql.conf (keep max_replication_slots and max_wal_senders at 1 or more) and restart PostgreSQL, then run a full sync")]
    NotLogical { wal_level: String },
    #[error("the server allows no replication slot (max_replication_slots is 0 or every slot is taken): raise max_replication_slots in postgresql.conf and restart PostgreSQL, then run a full sync")]
    NoSlots,
    #[error("the role '{role}' may not use replication slots: grant it the REPLICATION attribute (ALTER ROLE \"{role}\" REPLICATION) or connect as a superuser, then run a full sync")]
    NoReplicationPrivilege { role: String },
    #[error("change data capture needs a connector (its replication slot is named after the connector id); this run has none")]
    NoConnector,
    /// Elastic's wording (its sources raise `SyncCursorEmpty` with this text).
    #[error("Unable to start incremental sync. Please perform a full sync to re-enable incremental syncs.")]
    NoCursor,
    #[error("{0}. Please perform a full sync to re-enable incremental syncs.")]
    InvalidCursor(String),
    #[error("the connector's tables changed since its last full sync (then {was}; now {now}); its replication slot was dropped. Please perform a full sync to re-enable incremental syncs.")]
    TablesChanged { was: String, now: String },
    #[error("the replication slot '{slot}' does not exist (dropped, or the server was replaced), so the changes since the last sync are unknown. Please perform a full sync to re-enable incremental syncs.")]
    SlotMissing { slot: String },
    #[error("the server invalidated the replication slot '{slot}' (it held more WAL than max_slot_wal_keep_size); it was dropped. Please perform a full sync to re-enable incremental syncs.")]
    SlotLost { slot: String },
    #[error("the replication slot '{slot}' was advanced to {confirmed}, past the sync cursor {cursor}: the changes in between may not be in Elasticsearch. Please perform a full sync to re-enable incremental syncs.")]
    SlotPassed {
        slot: String,
        confirmed: String,
        cursor: String,
    },
    #[error("the replication slot '{slot}' is in use by server process {pid}; another host may be syncing this connector. Try again when it is done.")]
    SlotInUse { slot: String, pid: i32 },
    #[error("another Tributary host is using the replication slot '{slot}' of this connector right now (its advisory lock is held). Try again when it is done.")]
    Busy { slot: String },
    #[error("the replication slot '{slot}' held {held} bytes of WAL, more than plugins.postgresql.max_slot_wal_bytes ({max}); it was dropped so the server's disk does not fill. Sync more often or raise the bound, and perform a full sync to re-enable incremental syncs.")]
    WalBound { slot: String, held: u64, max: u64 },
    #[error("table {table} was truncated; an incremental sync cannot replay a TRUNCATE. Please perform a full sync.")]
    Truncated { table: String },
    #[error("table {table} has no primary key; change data capture needs one")]
    NoPrimaryKey { table: String },
    #[error("a change of table {table} carries no value for its key column '{column}' (is the table's REPLICA IDENTITY set to NOTHING or to another index?); set REPLICA IDENTITY DEFAULT and perform a full sync")]
    KeyMissing { table: String, column: String },
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Pg(#[from] PgError),
}

impl ChangeError {
    /// Whether the server or the role lacks what change data capture needs (a
    /// full sync can still run without it).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            ChangeError::NotLogical { .. }
                | ChangeError::NoSlots
                | ChangeError::NoReplicationPrivilege { .. }
                | ChangeError::NoConnector
        )
    }
}

impl From<ChangeError> for PgError {
    fn from(e: ChangeError) -> PgError {
        match e {
            ChangeError::Pg(e) => e,
            e => PgError {
                // object_not_in_prerequisite_state, as the server's own refusal.
                sqlstate: Some(if e.is_unavailable() { "55000" } else { "55T01" }.into()),
                message: e.to_string(),
            },
        }
    }
}

/// The start of a full sync that captures changes: the connector's new slot,
/// and the connection that holds its lock until the job ends.
pub struct Capture {
    _admin: Arc<Handle>,
    pg: PgGrant,
    slot: String,
    lsn: Lsn,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("slot", &self.slot)
            .field("lsn", &self.lsn)
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Checks the server, drops the connector's previous slot and creates a new one.
    pub async fn start(grant: &ChangesGrant) -> Result<Capture, ChangeError> {
        let admin = PgSession::connect_admin(&grant.pg).await?;
        slot::check_server(&admin).await?;
        slot::lock(&admin, &grant.slot).await?;
        slot::drop_if_exists(&admin, &grant.slot).await?;
        let lsn = slot::create(&admin, &grant.slot).await?;
        tracing::info!(slot = %grant.slot, lsn = %lsn, "created the connector's replication slot");
        Ok(Capture {
            _admin: admin,
            pg: grant.pg.clone(),
            slot: grant.slot.clone(),
            lsn,
        })
    }

    /// A session whose snapshot is taken after the slot was created: read the
    /// full sync through it, so no change falls between it and the slot.
    pub async fn session(&self) -> Result<PgSession, PgError> {
        PgSession::connect(&self.pg).await
    }

    /// The cursor to return after the full sync of `tables` of `schema`.
    pub fn cursor(&self, schema: &str, tables: &[String]) -> String {
        Cursor::new(&self.slot, self.lsn, schema, tables).to_json()
    }

    /// The slot's consistent point.
    pub fn lsn(&self) -> Lsn {
        self.lsn
    }
}

/// Drops a connector's slot (the connector was deleted); `true` when one existed.
pub async fn drop_slot(grant: &ChangesGrant) -> Result<bool, ChangeError> {
    let admin = PgSession::connect_admin(&grant.pg).await?;
    slot::lock(&admin, &grant.slot).await?;
    slot::drop_if_exists(&admin, &grant.slot).await
}

/// WAL the connector's slot holds now, in bytes; `None` without a slot.
pub async fn slot_wal_bytes(grant: &ChangesGrant) -> Result<Option<u64>, ChangeError> {
    let admin = PgSession::connect_admin(&grant.pg).await?;
    Ok(slot::status(&admin, &grant.slot)
        .await?
        .and_then(|s| s.held_bytes)
        .map(|b| b.max(0) as u64))
}
