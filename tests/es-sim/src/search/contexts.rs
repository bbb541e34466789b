//! Scroll and point-in-time contexts: snapshots that live across requests until they expire.

use super::exec::{Hit, RenderOpts};
use super::sort::CompiledKey;
use crate::mapping::ObjectMapping;
use crate::store::Ver;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct ScrollCtx {
    pub hits: Vec<Hit>,
    pub pos: usize,
    pub size: usize,
    pub expires: Instant,
    pub render: RenderOpts,
    pub total: usize,
    pub keys: Vec<CompiledKey>,
}

/// One index frozen at PIT open: the visible documents and the mapping of that moment.
pub struct PitIndex {
    pub name: Arc<str>,
    pub ord: u32,
    pub mapping: ObjectMapping,
    pub docs: Vec<(u32, Arc<str>, Ver)>,
    pub max_result_window: i64,
}

pub struct PitCtx {
    pub indices: Arc<Vec<PitIndex>>,
    pub expires: Instant,
}

#[derive(Default)]
pub struct Contexts {
    pub scrolls: Mutex<HashMap<String, ScrollCtx>>,
    pub pits: Mutex<HashMap<String, PitCtx>>,
    counter: AtomicU64,
}

impl Contexts {
    pub fn new_id(&self, kind: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // Opaque, base64 like Elasticsearch's ids; the counter keeps them unique.
        crate::auth::b64url(format!("es-sim:{kind}:{n}:{}", crate::store::new_uuid()).as_bytes())
    }

    pub fn expire(&self) {
        let now = Instant::now();
        self.scrolls.lock().retain(|_, s| s.expires > now);
        self.pits.lock().retain(|_, p| p.expires > now);
    }

    pub fn forget_index(&self, _name: &str) {
        // Snapshots keep their own copies (Arc'd sources), so nothing dangles.
    }
}

pub fn keep_alive(s: &str) -> Option<Duration> {
    crate::store::parse_duration_ms(s).map(Duration::from_millis)
}
