//! Indices and documents. Each document keeps its latest version (realtime GET) and the version
//! searches see; a refresh copies latest → visible for the documents changed since the last
//! refresh only, so its cost is O(changed documents).

use crate::http::{now_millis, EsError};
use crate::mapping::ObjectMapping;
use hashbrown::HashTable;
use parking_lot::RwLock;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const CONNECTORS_INDEX: &str = ".elastic-connectors-v1";
pub const CONNECTORS_ALIAS: &str = ".elastic-connectors";
pub const JOBS_INDEX: &str = ".elastic-connectors-sync-jobs-v1";
pub const JOBS_ALIAS: &str = ".elastic-connectors-sync-jobs";

/// One version of a document.
#[derive(Clone, Debug)]
pub struct Ver {
    pub seq_no: i64,
    pub version: u64,
    /// `_source` exactly as indexed.
    pub src: Arc<[u8]>,
}

pub struct Slot {
    pub id: Arc<str>,
    /// Latest version; `None` once deleted.
    pub live: Option<Ver>,
    /// What searches see (as of the last refresh).
    pub visible: Option<Ver>,
    /// Version and seq_no of the last operation, kept across deletes.
    pub last_version: u64,
    pub last_seq: i64,
    dirty: bool,
}

pub struct IndexData {
    pub name: String,
    pub uuid: String,
    pub creation_date: i64,
    /// Flat settings without the `index.` prefix, values as strings (as Elasticsearch shows them).
    pub settings: BTreeMap<String, String>,
    pub mapping: ObjectMapping,
    pub aliases: BTreeMap<String, Value>,
    table: HashTable<u32>,
    pub slots: Vec<Slot>,
    dirty: Vec<u32>,
    next_seq: i64,
    pub live_docs: usize,
    pub visible_docs: usize,
    pub system: bool,
    /// When search last caught up with the writes (creation counts as one), so the automatic
    /// refresh honours each index's own `refresh_interval`.
    pub last_refresh: std::time::Instant,
}

pub struct Index {
    pub name: String,
    pub data: RwLock<IndexData>,
}

fn hasher() -> &'static hashbrown::DefaultHashBuilder {
    static H: std::sync::OnceLock<hashbrown::DefaultHashBuilder> = std::sync::OnceLock::new();
    H.get_or_init(hashbrown::DefaultHashBuilder::default)
}

fn hash_id(id: &str) -> u64 {
    hasher().hash_one(id)
}

/// Result of a write.
pub struct WriteResult {
    pub version: u64,
    pub seq_no: i64,
    pub created: bool,
    /// For deletes: whether the document existed.
    pub found: bool,
}

impl IndexData {
    pub fn new(
        name: &str,
        uuid: String,
        settings: BTreeMap<String, String>,
        mapping: ObjectMapping,
    ) -> IndexData {
        IndexData {
            name: name.to_string(),
            uuid,
            creation_date: now_millis(),
            settings,
            mapping,
            aliases: BTreeMap::new(),
            table: HashTable::new(),
            slots: Vec::new(),
            dirty: Vec::new(),
            next_seq: 0,
            live_docs: 0,
            visible_docs: 0,
            system: false,
            last_refresh: std::time::Instant::now(),
        }
    }

    fn find(&self, id: &str) -> Option<u32> {
        let h = hash_id(id);
        self.table
            .find(h, |&i| &*self.slots[i as usize].id == id)
            .copied()
    }

    pub fn get(&self, id: &str) -> Option<&Slot> {
        self.find(id).map(|i| &self.slots[i as usize])
    }

    pub fn get_live(&self, id: &str) -> Option<&Ver> {
        self.get(id).and_then(|s| s.live.as_ref())
    }

    fn slot_for(&mut self, id: &str) -> u32 {
        if let Some(i) = self.find(id) {
            return i;
        }
        let i = self.slots.len() as u32;
        self.slots.push(Slot {
            id: Arc::from(id),
            live: None,
            visible: None,
            last_version: 0,
            last_seq: -1,
            dirty: false,
        });
        let slots = &self.slots;
        self.table
            .insert_unique(hash_id(id), i, |&j| hash_id(&slots[j as usize].id));
        i
    }

    fn mark_dirty(&mut self, i: u32) {
        let s = &mut self.slots[i as usize];
        if !s.dirty {
            s.dirty = true;
            self.dirty.push(i);
        }
    }

    /// Stores `src` as the new latest version of `id`.
    pub fn put(&mut self, id: &str, src: Arc<[u8]>) -> WriteResult {
        let i = self.slot_for(id);
        let seq = self.next_seq;
        self.next_seq += 1;
        let s = &mut self.slots[i as usize];
        let created = s.live.is_none();
        s.last_version += 1;
        s.last_seq = seq;
        let version = s.last_version;
        s.live = Some(Ver {
            seq_no: seq,
            version,
            src,
        });
        if created {
            self.live_docs += 1;
        }
        self.mark_dirty(i);
        WriteResult {
            version,
            seq_no: seq,
            created,
            found: !created,
        }
    }

    /// Deletes `id`; a missing document still consumes a seq_no, like Elasticsearch.
    pub fn delete(&mut self, id: &str) -> WriteResult {
        let i = self.slot_for(id);
        let seq = self.next_seq;
        self.next_seq += 1;
        let s = &mut self.slots[i as usize];
        let found = s.live.is_some();
        s.last_version += 1;
        s.last_seq = seq;
        let version = s.last_version;
        s.live = None;
        if found {
            self.live_docs -= 1;
        }
        self.mark_dirty(i);
        WriteResult {
            version,
            seq_no: seq,
            created: false,
            found,
        }
    }

    /// Makes every change since the last refresh visible to search. Returns whether anything changed.
    pub fn refresh(&mut self) -> bool {
        self.last_refresh = std::time::Instant::now();
        if self.dirty.is_empty() {
            return false;
        }
        for i in std::mem::take(&mut self.dirty) {
            let s = &mut self.slots[i as usize];
            s.dirty = false;
            let was = s.visible.is_some();
            s.visible = s.live.clone();
            match (was, s.visible.is_some()) {
                (false, true) => self.visible_docs += 1,
                (true, false) => self.visible_docs -= 1,
                _ => {}
            }
        }
        true
    }

    /// Whether the automatic refresh is due: there are unseen writes and the index's own
    /// interval (default `default_ms`) has passed since its last refresh. `slack_ms` absorbs
    /// ticker jitter so an index on the default interval refreshes on every tick.
    pub fn refresh_due(&self, default_ms: u64, slack_ms: u64) -> bool {
        match self.refresh_interval_ms(default_ms) {
            Some(every) if self.has_pending() => {
                self.last_refresh.elapsed().as_millis() as u64 + slack_ms >= every
            }
            _ => false,
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.dirty.is_empty()
    }

    pub fn setting(&self, k: &str) -> Option<&str> {
        self.settings.get(k).map(|s| s.as_str())
    }

    pub fn replicas(&self) -> u64 {
        self.setting("number_of_replicas")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
    }

    pub fn hidden(&self) -> bool {
        self.system || self.setting("hidden") == Some("true")
    }

    pub fn max_result_window(&self) -> i64 {
        self.setting("max_result_window")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000)
    }

    /// `index.refresh_interval` in ms; `None` when automatic refresh is disabled (`-1`).
    pub fn refresh_interval_ms(&self, default_ms: u64) -> Option<u64> {
        match self.setting("refresh_interval") {
            None => Some(default_ms),
            Some("-1") => None,
            Some(v) => parse_duration_ms(v).or(Some(default_ms)),
        }
    }

    /// `_shards` of a write response: primary plus the (unassigned) replicas of a one-node cluster.
    pub fn write_shards(&self) -> Value {
        json!({"total": 1 + self.replicas(), "successful": 1, "failed": 0})
    }

    pub fn settings_json(&self) -> Value {
        let mut root = Map::new();
        for (k, v) in &self.settings {
            insert_path(&mut root, k, Value::String(v.clone()));
        }
        insert_path(
            &mut root,
            "creation_date",
            Value::String(self.creation_date.to_string()),
        );
        insert_path(&mut root, "uuid", Value::String(self.uuid.clone()));
        insert_path(&mut root, "provided_name", Value::String(self.name.clone()));
        insert_path(
            &mut root,
            "version.created",
            Value::String("9009000".into()),
        );
        json!({"index": root})
    }
}

fn insert_path(m: &mut Map<String, Value>, path: &str, v: Value) {
    match path.split_once('.') {
        None => {
            m.insert(path.to_string(), v);
        }
        Some((head, rest)) => {
            let e = m
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !e.is_object() {
                *e = Value::Object(Map::new());
            }
            if let Some(o) = e.as_object_mut() {
                insert_path(o, rest, v);
            }
        }
    }
}

pub fn parse_duration_ms(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    let ms = match unit {
        "" | "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        "d" => n * 86_400_000.0,
        "nanos" => n / 1_000_000.0,
        "micros" => n / 1000.0,
        _ => return None,
    };
    Some(ms as u64)
}

/// Flattens index settings given nested or dotted, with or without the `index.` prefix.
pub fn flatten_settings(v: &Value) -> Result<BTreeMap<String, String>, EsError> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(m) => {
                for (k, val) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, val, out);
                }
            }
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            Value::Null => {}
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut raw = BTreeMap::new();
    if !v.is_object() {
        return Err(EsError::new(
            400,
            "settings_exception",
            "Failed to load settings from [settings]",
        ));
    }
    walk("", v, &mut raw);
    Ok(raw
        .into_iter()
        .map(|(k, v)| (k.strip_prefix("index.").map(str::to_string).unwrap_or(k), v))
        .collect())
}

static UUID_COUNTER: AtomicU64 = AtomicU64::new(1);

/// A 22-character, URL-safe unique id (the shape of Elasticsearch's index uuids).
pub fn new_uuid() -> String {
    let n = UUID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = now_millis() as u64;
    let x = hash_id(&format!("{t}-{n}")) as u128 | ((n as u128) << 64);
    crate::auth::b64url(&x.to_be_bytes())[..22].to_string()
}

/// A 20-character auto-generated document id, time-based like Elasticsearch's.
pub fn new_doc_id() -> String {
    let n = UUID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = now_millis() as u64;
    let mut b = [0u8; 15];
    b[..6].copy_from_slice(&t.to_be_bytes()[2..]);
    b[6..15].copy_from_slice(
        &(n as u128 ^ ((hash_id(&n.to_string()) as u128) << 16)).to_be_bytes()[7..16],
    );
    crate::auth::b64url(&b)
}

#[derive(Default)]
pub struct Store {
    indices: RwLock<BTreeMap<String, Arc<Index>>>,
}

pub fn validate_index_name(name: &str) -> Result<(), EsError> {
    let bad = |why: &str| {
        Err(EsError::new(
            400,
            "invalid_index_name_exception",
            format!("Invalid index name [{name}], {why}"),
        )
        .with("index_uuid", "_na_")
        .with("index", name))
    };
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name != name.to_lowercase() {
        return bad("must be lowercase");
    }
    if name.starts_with(['_', '-', '+']) {
        return bad("must not start with '_', '-', or '+'");
    }
    if name == "." || name == ".." {
        return bad("must not be '.' or '..'");
    }
    if name.len() > 255 {
        return bad("index name is too long, (256 > 255)");
    }
    for c in ['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'] {
        if name.contains(c) {
            return bad(
                "must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]",
            );
        }
    }
    Ok(())
}

impl Store {
    pub fn get(&self, name: &str) -> Option<Arc<Index>> {
        self.indices.read().get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Index>> {
        self.indices.read().values().cloned().collect()
    }

    /// Creates an index; `resource_already_exists_exception` when it (or an alias of that name) exists.
    pub fn create(
        &self,
        name: &str,
        settings: BTreeMap<String, String>,
        mapping: ObjectMapping,
        aliases: BTreeMap<String, Value>,
    ) -> Result<Arc<Index>, EsError> {
        validate_index_name(name)?;
        let mut map = self.indices.write();
        if let Some(existing) = map.get(name) {
            let uuid = existing.data.read().uuid.clone();
            return Err(EsError::new(
                400,
                "resource_already_exists_exception",
                format!("index [{name}/{uuid}] already exists"),
            )
            .with("index_uuid", uuid)
            .with("index", name));
        }
        if map
            .values()
            .any(|ix| ix.data.read().aliases.contains_key(name))
        {
            return Err(EsError::new(
                400,
                "invalid_index_name_exception",
                format!("Invalid index name [{name}], an alias with the same name already exists"),
            )
            .with("index_uuid", "_na_")
            .with("index", name));
        }
        let mut settings = settings;
        settings
            .entry("number_of_shards".into())
            .or_insert_with(|| "1".into());
        settings
            .entry("number_of_replicas".into())
            .or_insert_with(|| "1".into());
        let mut data = IndexData::new(name, new_uuid(), settings, mapping);
        data.aliases = aliases;
        let ix = Arc::new(Index {
            name: name.to_string(),
            data: RwLock::new(data),
        });
        map.insert(name.to_string(), ix.clone());
        Ok(ix)
    }

    pub fn remove(&self, name: &str) -> Option<Arc<Index>> {
        self.indices.write().remove(name)
    }

    /// The concrete indices an alias points to.
    pub fn alias_targets(&self, alias: &str) -> Vec<Arc<Index>> {
        self.indices
            .read()
            .values()
            .filter(|ix| ix.data.read().aliases.contains_key(alias))
            .cloned()
            .collect()
    }

    /// Resolves a name for a write: a concrete index, or an alias with one write index.
    /// `Ok(None)` means nothing of that name exists (the caller may auto-create it).
    pub fn resolve_write(&self, name: &str) -> Result<Option<Arc<Index>>, EsError> {
        if let Some(ix) = self.get(name) {
            return Ok(Some(ix));
        }
        let targets = self.alias_targets(name);
        match targets.len() {
            0 => Ok(None),
            1 => Ok(targets.into_iter().next()),
            _ => {
                let w: Vec<_> = targets
                    .iter()
                    .filter(|ix| {
                        ix.data
                            .read()
                            .aliases
                            .get(name)
                            .and_then(|a| a.get("is_write_index"))
                            .and_then(|v| v.as_bool())
                            == Some(true)
                    })
                    .cloned()
                    .collect();
                if w.len() == 1 {
                    Ok(w.into_iter().next())
                } else {
                    Err(EsError::illegal_argument(format!(
                        "no write index is defined for alias [{name}]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index"
                    )))
                }
            }
        }
    }

    /// Resolves an index expression for reads (comma list, wildcards, aliases, `_all`).
    pub fn resolve_read(&self, expr: &str, opts: &ResolveOpts) -> Result<Vec<Arc<Index>>, EsError> {
        let mut out: Vec<Arc<Index>> = Vec::new();
        let push = |out: &mut Vec<Arc<Index>>, ix: Arc<Index>| {
            if !out.iter().any(|o| Arc::ptr_eq(o, &ix)) {
                out.push(ix);
            }
        };
        let all = self.all();
        let expr = if expr.is_empty() { "_all" } else { expr };
        for part in expr.split(',') {
            let part = part.trim();
            if part == "_all" || part.contains('*') {
                let pat = if part == "_all" { "*" } else { part };
                for ix in &all {
                    let d = ix.data.read();
                    let name_hit = glob(pat, &ix.name);
                    let alias_hit = d.aliases.keys().any(|a| glob(pat, a));
                    if !(name_hit || alias_hit) {
                        continue;
                    }
                    // Hidden indices (and dot-prefixed ones) only match patterns that ask for them.
                    let hidden = d.hidden() || ix.name.starts_with('.');
                    if hidden && !opts.expand_hidden && !pat.starts_with('.') {
                        continue;
                    }
                    if d.system && !opts.system_access {
                        continue;
                    }
                    drop(d);
                    push(&mut out, ix.clone());
                }
                continue;
            }
            if let Some(ix) = self.get(part) {
                push(&mut out, ix);
                continue;
            }
            let targets = self.alias_targets(part);
            if !targets.is_empty() {
                for t in targets {
                    push(&mut out, t);
                }
                continue;
            }
            if !opts.ignore_unavailable {
                return Err(EsError::index_not_found(part));
            }
        }
        if out.is_empty() && !opts.allow_no_indices {
            return Err(EsError::index_not_found(expr));
        }
        Ok(out)
    }

    /// Refreshes every index with pending changes whose interval has elapsed.
    pub fn refresh_all(&self) -> bool {
        let mut any = false;
        for ix in self.all() {
            let mut d = ix.data.write();
            any |= d.refresh();
        }
        any
    }
}

pub struct ResolveOpts {
    pub ignore_unavailable: bool,
    pub allow_no_indices: bool,
    pub expand_hidden: bool,
    pub system_access: bool,
}

/// Glob with `*` only (index patterns).
pub fn glob(pat: &str, s: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == s;
    }
    let mut rest = s;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            if !rest.starts_with(p) {
                return false;
            }
            rest = &rest[p.len()..];
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else if let Some(pos) = rest.find(p) {
            rest = &rest[pos + p.len()..];
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_is_incremental() {
        let mut d = IndexData::new("x", new_uuid(), BTreeMap::new(), ObjectMapping::default());
        let r = d.put("a", Arc::from(&b"{}"[..]));
        assert!(r.created);
        assert_eq!((r.version, r.seq_no), (1, 0));
        assert_eq!(d.visible_docs, 0);
        assert!(d.get_live("a").is_some());
        assert!(d.refresh());
        assert_eq!(d.visible_docs, 1);
        assert!(!d.refresh());
        let r = d.delete("a");
        assert!(r.found);
        assert_eq!(r.version, 2);
        assert_eq!(d.visible_docs, 1);
        d.refresh();
        assert_eq!(d.visible_docs, 0);
        let r = d.put("a", Arc::from(&b"{}"[..]));
        assert!(r.created);
        assert_eq!(r.version, 3);
    }

    #[test]
    fn names_and_globs() {
        assert!(validate_index_name("music").is_ok());
        assert_eq!(
            validate_index_name("Music").unwrap_err().ty,
            "invalid_index_name_exception"
        );
        assert!(validate_index_name("_x").is_err());
        assert!(glob("mu*c", "music"));
        assert!(!glob("mu*x", "music"));
        assert!(glob("*", "a"));
    }
}
