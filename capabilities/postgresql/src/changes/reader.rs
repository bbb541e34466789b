//! An incremental sync's read: acknowledge the stored cursor, decode what was
//! committed since, and turn each changed key into the row as it is now (or into
//! a deletion when the row is gone).
//!
//! The change stream is only used to learn *which* keys changed; the rows are
//! read again from the table, in one snapshot taken after the decoded range ends.
//! So a change seen twice (a crash before the cursor was stored, the overlap of a
//! full sync's snapshot and the slot) yields the same document twice, never a
//! stale one, and the order of changes within the range does not matter.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use super::cursor::{Cursor, Lsn};
use super::decode::{self, ColumnValue, Line};
use super::slot::{self, KeyColumn};
use super::{ChangeError, ChangesGrant};
use crate::session::{quote_ident, Handle};
use crate::{Param, PgError, PgRows, PgSession};

/// Decoded lines fetched per round trip.
const LINES_PER_FETCH: u32 = 5_000;
/// Changed keys collected before their rows are read (bounds memory and the size
/// of one key list sent back to the server).
const KEYS_PER_ROUND: usize = 10_000;

/// The changes of one table in one round: the current rows of keys that changed
/// and still exist (every column, as a full sync's scan returns them), and the
/// keys of rows that no longer exist (the key columns only, typed).
pub struct TableChanges {
    pub table: String,
    pub upserts: PgRows,
    pub deletes: PgRows,
}

/// Reads one incremental sync's changes; see [`ChangeReader::open`].
pub struct ChangeReader {
    admin: Arc<Handle>,
    grant: ChangesGrant,
    start: Cursor,
    schema: String,
    keys: HashMap<String, Vec<KeyColumn>>,
    /// The highest commit end decoded so far: the cursor once everything is read.
    last_commit: Option<Lsn>,
    start_lsn: Lsn,
    /// Opened after the decoded range ends, so its snapshot sees every change in it.
    session: Option<PgSession>,
    ready: VecDeque<TableChanges>,
    exhausted: bool,
    /// Decoded row changes of the connector's tables (for the log).
    pub changes_seen: u64,
}

impl std::fmt::Debug for ChangeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeReader")
            .field("slot", &self.grant.slot)
            .field("start", &self.start.lsn)
            .finish_non_exhaustive()
    }
}

impl ChangeReader {
    /// Checks the server and the cursor, acknowledges everything before the
    /// cursor (the previous sync's documents were accepted by Elasticsearch,
    /// since the cursor is stored only then) and starts decoding the changes
    /// committed since. `tables` is the connector's table list now; a different
    /// one than the cursor's drops the slot and asks for a full sync.
    pub async fn open(
        grant: &ChangesGrant,
        cursor: Option<&str>,
        schema: &str,
        tables: &[String],
    ) -> Result<ChangeReader, ChangeError> {
        let admin = PgSession::connect_admin(&grant.pg).await?;
        slot::check_server(&admin).await?;
        let Some(text) = cursor else {
            return Err(ChangeError::NoCursor);
        };
        let (start, lsn) = Cursor::read(text, &grant.slot)?;
        slot::lock(&admin, &grant.slot).await?;
        let st =
            slot::status(&admin, &grant.slot)
                .await?
                .ok_or_else(|| ChangeError::SlotMissing {
                    slot: grant.slot.clone(),
                })?;
        if st.wal_status.as_deref() == Some("lost") {
            slot::drop_if_exists(&admin, &grant.slot).await?;
            return Err(ChangeError::SlotLost {
                slot: grant.slot.clone(),
            });
        }
        if !st.same_database || st.plugin.as_deref() != Some(slot::OUTPUT_PLUGIN) {
            return Err(ChangeError::InvalidCursor(format!(
                "the replication slot '{}' belongs to another database or output plugin",
                grant.slot
            )));
        }
        if let Some(pid) = st.active_pid {
            return Err(ChangeError::SlotInUse {
                slot: grant.slot.clone(),
                pid,
            });
        }
        let max = grant.policy.max_slot_wal_bytes();
        if let Some(held) = st.held_bytes.filter(|h| *h >= 0 && *h as u64 > max) {
            slot::drop_if_exists(&admin, &grant.slot).await?;
            return Err(ChangeError::WalBound {
                slot: grant.slot.clone(),
                held: held as u64,
                max,
            });
        }
        let now = Cursor::new(&grant.slot, lsn, schema, tables);
        if (now.schema.as_str(), &now.tables) != (start.schema.as_str(), &start.tables) {
            slot::drop_if_exists(&admin, &grant.slot).await?;
            return Err(ChangeError::TablesChanged {
                was: format!("{}: {}", start.schema, start.tables.join(", ")),
                now: format!("{}: {}", now.schema, now.tables.join(", ")),
            });
        }
        match st.confirmed {
            Some(c) if c > lsn => {
                return Err(ChangeError::SlotPassed {
                    slot: grant.slot.clone(),
                    confirmed: c.to_string(),
                    cursor: lsn.to_string(),
                })
            }
            Some(c) if c == lsn => {}
            _ => slot::advance(&admin, &grant.slot, lsn).await?,
        }
        let mut keys = HashMap::new();
        for t in &now.tables {
            let pk = slot::primary_key(&admin, schema, t).await?;
            if pk.is_empty() {
                return Err(ChangeError::NoPrimaryKey {
                    table: format!("{schema}.{t}"),
                });
            }
            keys.insert(t.clone(), pk);
        }
        let upto = slot::mark(&admin).await?;
        // The decoded range is fixed here: changes committed later wait for the
        // next sync. Empty transactions keep their BEGIN/COMMIT lines: the marker's
        // COMMIT (a message alone counts as empty) is what moves the cursor.
        let declare = format!(
            "BEGIN; DECLARE tributary_changes NO SCROLL CURSOR FOR \
             SELECT lsn::text, data FROM pg_logical_slot_peek_changes('{}', '{upto}'::pg_lsn, NULL, \
             'include-xids', '0')",
            grant.slot
        );
        admin
            .0
            .client
            .batch_execute(&declare)
            .await
            .map_err(PgError::from)?;
        tracing::info!(slot = %grant.slot, from = %lsn, upto = %upto, "reading changes");
        Ok(ChangeReader {
            admin,
            grant: grant.clone(),
            start,
            schema: schema.to_string(),
            keys,
            last_commit: None,
            start_lsn: lsn,
            session: None,
            ready: VecDeque::new(),
            exhausted: false,
            changes_seen: 0,
        })
    }

    /// The next table's changes; `None` once every change in the range was returned.
    pub async fn next(&mut self) -> Result<Option<TableChanges>, ChangeError> {
        loop {
            if let Some(t) = self.ready.pop_front() {
                return Ok(Some(t));
            }
            if self.exhausted {
                return Ok(None);
            }
            let changed = self.collect().await?;
            self.read_rows(changed).await?;
        }
    }

    /// The cursor to store after this sync succeeds: the end of the last commit
    /// decoded once every change was returned; before that, the start (a sync
    /// that stopped early claims nothing).
    pub fn cursor(&self) -> String {
        let lsn = match (self.exhausted && self.ready.is_empty(), self.last_commit) {
            (true, Some(l)) if l > self.start_lsn => l,
            _ => self.start_lsn,
        };
        Cursor::new(
            &self.grant.slot,
            lsn,
            &self.start.schema,
            &self.start.tables,
        )
        .to_json()
    }

    /// Decodes lines until enough keys changed or the range ends.
    async fn collect(&mut self) -> Result<BTreeMap<String, BTreeSet<Vec<String>>>, ChangeError> {
        let mut changed: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
        let mut count = 0usize;
        let fetch = format!("FETCH FORWARD {LINES_PER_FETCH} FROM tributary_changes");
        while count < KEYS_PER_ROUND {
            let rows = slot::query(&self.admin, &fetch, &[]).await?;
            for r in &rows {
                let lsn: String = r.try_get(0).map_err(PgError::from)?;
                let data: String = r.try_get(1).map_err(PgError::from)?;
                if data == "COMMIT" || data.starts_with("COMMIT ") {
                    if let Some(l) = Lsn::parse(&lsn) {
                        self.last_commit = Some(self.last_commit.map_or(l, |m| m.max(l)));
                    }
                    continue;
                }
                match decode::parse_line(&data)? {
                    Line::Other => {}
                    Line::Truncate(rels) => {
                        if let Some((s, t)) = rels
                            .iter()
                            .find(|(s, t)| *s == self.schema && self.keys.contains_key(t))
                        {
                            return Err(ChangeError::Truncated {
                                table: format!("{s}.{t}"),
                            });
                        }
                    }
                    Line::Row(change) => {
                        if change.schema != self.schema {
                            continue;
                        }
                        let Some(pk) = self.keys.get(&change.table) else {
                            continue;
                        };
                        self.changes_seen += 1;
                        let set = changed.entry(change.table.clone()).or_default();
                        let before = set.len();
                        for tuple in [&change.old, &change.new].into_iter().flatten() {
                            set.insert(key_of(tuple, pk, &change.table)?);
                        }
                        if change.old.is_none() && change.new.is_none() {
                            return Err(ChangeError::KeyMissing {
                                table: format!("{}.{}", self.schema, change.table),
                                column: pk
                                    .iter()
                                    .map(|k| k.name.clone())
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            });
                        }
                        count += set.len() - before;
                    }
                }
            }
            if (rows.len() as u64) < u64::from(LINES_PER_FETCH) {
                self.exhausted = true;
                self.admin
                    .0
                    .client
                    .batch_execute("CLOSE tributary_changes; COMMIT")
                    .await
                    .map_err(PgError::from)?;
                break;
            }
        }
        Ok(changed)
    }

    /// Opens, per table, the current rows of the changed keys and the keys gone.
    async fn read_rows(
        &mut self,
        changed: BTreeMap<String, BTreeSet<Vec<String>>>,
    ) -> Result<(), ChangeError> {
        if changed.is_empty() {
            return Ok(());
        }
        if self.session.is_none() {
            self.session = Some(PgSession::connect(&self.grant.pg).await?);
        }
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        for (table, keys) in changed {
            let Some(pk) = self.keys.get(&table) else {
                continue;
            };
            let list: Vec<&Vec<String>> = keys.iter().collect();
            let json = serde_json::to_string(&list)
                .map_err(|e| PgError::local(format!("encoding the changed keys failed: {e}")))?;
            let (upserts_sql, deletes_sql) = statements(&self.schema, &table, pk);
            let upserts = session
                .host_rows(&upserts_sql, vec![Param::Text(json.clone())])
                .await?;
            let deletes = session
                .host_rows(&deletes_sql, vec![Param::Text(json)])
                .await?;
            self.ready.push_back(TableChanges {
                table,
                upserts,
                deletes,
            });
        }
        Ok(())
    }
}

/// The key of a decoded tuple, in primary-key order (text forms).
fn key_of(
    tuple: &[ColumnValue],
    pk: &[KeyColumn],
    table: &str,
) -> Result<Vec<String>, ChangeError> {
    pk.iter()
        .map(|k| {
            tuple
                .iter()
                .find(|c| c.name == k.name)
                .and_then(|c| c.value.clone())
                .ok_or_else(|| ChangeError::KeyMissing {
                    table: table.to_string(),
                    column: k.name.clone(),
                })
        })
        .collect()
}

/// The two statements of one table: rows that exist for the changed keys (in key
/// order, every column as `scan` returns them), and keys without a row. `$1` is a
/// JSON array of keys, each an array of the key columns' text forms, cast back by
/// the server to the column types (the host read them from the catalog).
fn statements(schema: &str, table: &str, pk: &[KeyColumn]) -> (String, String) {
    let rel = format!("{}.{}", quote_ident(schema), quote_ident(table));
    let cast = |i: usize, k: &KeyColumn| format!("(k.e->>{i})::{}", k.type_sql);
    let cols: Vec<String> = pk
        .iter()
        .map(|k| format!("t.{}", quote_ident(&k.name)))
        .collect();
    let casts: Vec<String> = pk.iter().enumerate().map(|(i, k)| cast(i, k)).collect();
    let keys = "pg_catalog.json_array_elements($1::text::pg_catalog.json) AS k(e)";
    let upserts = format!(
        "SELECT t.* FROM {rel} AS t WHERE ({}) IN (SELECT {} FROM {keys}) ORDER BY {}",
        cols.join(", "),
        casts.join(", "),
        cols.join(", ")
    );
    let named: Vec<String> = pk
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{} AS {}", cast(i, k), quote_ident(&k.name)))
        .collect();
    let matches: Vec<String> = pk
        .iter()
        .enumerate()
        .map(|(i, k)| format!("t.{} = {}", quote_ident(&k.name), cast(i, k)))
        .collect();
    let deletes = format!(
        "SELECT {} FROM {keys} WHERE NOT EXISTS (SELECT 1 FROM {rel} AS t WHERE {})",
        named.join(", "),
        matches.join(" AND ")
    );
    (upserts, deletes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_and_cast() {
        let pk = vec![
            KeyColumn {
                name: "id".into(),
                type_sql: "integer".into(),
            },
            KeyColumn {
                name: "Part \"B\"".into(),
                type_sql: "character varying(10)".into(),
            },
        ];
        let (u, d) = statements("public", "my table", &pk);
        assert_eq!(
            u,
            "SELECT t.* FROM \"public\".\"my table\" AS t WHERE (t.\"id\", t.\"Part \"\"B\"\"\") IN \
             (SELECT (k.e->>0)::integer, (k.e->>1)::character varying(10) FROM \
             pg_catalog.json_array_elements($1::text::pg_catalog.json) AS k(e)) ORDER BY t.\"id\", t.\"Part \"\"B\"\"\""
        );
        assert!(d.starts_with(
            "SELECT (k.e->>0)::integer AS \"id\", (k.e->>1)::character varying(10) AS \"Part \"\"B\"\"\" FROM"
        ));
        assert!(d.ends_with("WHERE t.\"id\" = (k.e->>0)::integer AND t.\"Part \"\"B\"\"\" = (k.e->>1)::character varying(10))"));
    }

    #[test]
    fn keys_in_pk_order() {
        let pk = vec![
            KeyColumn {
                name: "b".into(),
                type_sql: "int".into(),
            },
            KeyColumn {
                name: "a".into(),
                type_sql: "int".into(),
            },
        ];
        let tuple = vec![
            ColumnValue {
                name: "a".into(),
                value: Some("1".into()),
            },
            ColumnValue {
                name: "b".into(),
                value: Some("2".into()),
            },
        ];
        assert_eq!(key_of(&tuple, &pk, "t").unwrap(), ["2", "1"]);
        assert!(key_of(&tuple[..1], &pk, "t").is_err());
    }
}
