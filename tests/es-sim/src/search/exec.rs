//! Running a query over live indices or a point-in-time snapshot, and rendering hits.

use super::contexts::PitIndex;
use super::query::{compile, matches, Compiled, Doc, Query};
use super::sort::{self, CompiledKey, SortKey, SortVal};
use crate::docs::source_filter::SourceFilter;
use crate::docs::write::PRIMARY_TERM;
use crate::http::EsError;
use crate::store::{Index, Ver};
use std::cmp::Ordering;
use std::io::Write;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Hit {
    pub index: Arc<str>,
    pub id: Arc<str>,
    pub ver: Ver,
    pub sort: Vec<SortVal>,
}

#[derive(Clone, Copy, Debug)]
pub enum Track {
    Exact,
    UpTo(usize),
    Off,
}

#[derive(Clone, Debug)]
pub struct RenderOpts {
    pub filter: SourceFilter,
    pub seq_no_pt: bool,
    pub version: bool,
    pub sorted: bool,
    pub track: Track,
    pub rest_total_int: bool,
}

pub enum Source<'a> {
    Live(Arc<Index>, u32),
    Pit(&'a PitIndex),
}

pub struct Outcome {
    pub hits: Vec<Hit>,
    pub total: usize,
    pub keys: Vec<CompiledKey>,
}

/// Wraps a per-shard failure the way a search reports it.
pub fn shard_failure(e: EsError, index: &str) -> EsError {
    let cause = e.cause_json();
    let mut out = EsError::new(
        e.status,
        "search_phase_execution_exception",
        "all shards failed",
    )
    .with("phase", "query")
    .with("grouped", true)
    .with(
        "failed_shards",
        serde_json::json!([{"shard": 0, "index": index, "node": "es-sim-node", "reason": cause}]),
    );
    out.root_cause = Some(serde_json::json!([cause]));
    out.caused_by = Some(cause);
    out
}

/// Runs `query`. With `limit` and no sort, stops collecting (not counting) after `limit` hits.
pub fn run(
    sources: &[Source],
    query: &Query,
    post_filter: Option<&Query>,
    sort_keys: &[SortKey],
    after: Option<&[serde_json::Value]>,
    limit: Option<usize>,
) -> Result<Outcome, EsError> {
    let mut hits = Vec::new();
    let mut total = 0usize;
    let mut first_keys: Option<Vec<CompiledKey>> = None;
    for src in sources {
        let (name, ord, guard_live, pit) = match src {
            Source::Live(ix, ord) => (
                Arc::<str>::from(ix.name.as_str()),
                *ord,
                Some(ix.data.read()),
                None,
            ),
            Source::Pit(p) => (p.name.clone(), p.ord, None, Some(*p)),
        };
        let mapping = match (&guard_live, pit) {
            (Some(g), _) => &g.mapping,
            (None, Some(p)) => &p.mapping,
            _ => continue,
        };
        let cq = compile(query, mapping);
        let pf = post_filter.map(|q| compile(q, mapping));
        let keys = sort::compile(sort_keys, mapping, &name).map_err(|e| shard_failure(e, &name))?;
        let after_vals = match after {
            Some(a) => Some(sort::parse_after(&keys, a)?),
            None => None,
        };
        let ctx = VisitCtx {
            name: &name,
            ord,
            cq: &cq,
            pf: pf.as_ref(),
            keys: &keys,
            after: after_vals.as_deref(),
            limit,
        };
        if let Some(g) = &guard_live {
            if cq.is_all() && pf.is_none() && keys.is_empty() && limit.is_some() {
                // Fast path: match_all in index order needs only the first `limit` documents.
                total += g.visible_docs;
                let lim = limit.unwrap_or(0);
                for s in &g.slots {
                    if hits.len() >= lim {
                        break;
                    }
                    if let Some(v) = &s.visible {
                        hits.push(Hit {
                            index: name.clone(),
                            id: s.id.clone(),
                            ver: v.clone(),
                            sort: vec![],
                        });
                    }
                }
            } else {
                for (slot, s) in g.slots.iter().enumerate() {
                    if let Some(v) = &s.visible {
                        ctx.visit(slot as u32, &s.id, v, &mut hits, &mut total);
                    }
                }
            }
        } else if let Some(p) = pit {
            for (slot, id, v) in &p.docs {
                ctx.visit(*slot, id, v, &mut hits, &mut total);
            }
        }
        if first_keys.is_none() {
            first_keys = Some(keys);
        }
    }
    let keys = first_keys.unwrap_or_default();
    if !keys.is_empty() {
        hits.sort_by(|a, b| sort::compare(&keys, &a.sort, &b.sort));
    }
    Ok(Outcome { hits, total, keys })
}

struct VisitCtx<'a> {
    name: &'a Arc<str>,
    ord: u32,
    cq: &'a Compiled,
    pf: Option<&'a Compiled>,
    keys: &'a [CompiledKey],
    after: Option<&'a [SortVal]>,
    limit: Option<usize>,
}

impl VisitCtx<'_> {
    fn visit(&self, slot: u32, id: &Arc<str>, ver: &Ver, hits: &mut Vec<Hit>, total: &mut usize) {
        let doc = Doc::new(id, self.name, &ver.src);
        if !matches(self.cq, &doc) || self.pf.is_some_and(|p| !matches(p, &doc)) {
            return;
        }
        *total += 1;
        if self.keys.is_empty() && self.limit.is_some_and(|l| hits.len() >= l) {
            return;
        }
        let shard_doc = ((self.ord as i64) << 32) | slot as i64;
        let vals = sort::values(self.keys, &doc, shard_doc);
        if let Some(a) = self.after {
            if sort::compare(self.keys, &vals, a) != Ordering::Greater {
                return;
            }
        }
        hits.push(Hit {
            index: self.name.clone(),
            id: id.clone(),
            ver: ver.clone(),
            sort: vals,
        });
    }
}

/// Counts matches over live indices (`_count`).
pub fn count(sources: &[Arc<Index>], query: &Query) -> usize {
    let mut n = 0;
    for ix in sources {
        let d = ix.data.read();
        let cq = compile(query, &d.mapping);
        if cq.is_all() {
            n += d.visible_docs;
            continue;
        }
        for s in &d.slots {
            if let Some(v) = &s.visible {
                if matches(&cq, &Doc::new(&s.id, &ix.name, &v.src)) {
                    n += 1;
                }
            }
        }
    }
    n
}

fn esc(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Renders `hits` (a page) plus the total into a search response body.
pub fn render(
    page: &[Hit],
    total: usize,
    keys: &[CompiledKey],
    o: &RenderOpts,
    took: u128,
    shards: u64,
    extra_head: &[(&str, &str)],
) -> Vec<u8> {
    let mut out: Vec<u8> =
        Vec::with_capacity(256 + page.iter().map(|h| h.ver.src.len() + 128).sum::<usize>());
    out.push(b'{');
    for (k, v) in extra_head {
        esc(&mut out, k);
        out.push(b':');
        esc(&mut out, v);
        out.push(b',');
    }
    let _ = write!(
        out,
        "\"took\":{took},\"timed_out\":false,\"_shards\":{{\"total\":{shards},\"successful\":{shards},\"skipped\":0,\"failed\":0}},\"hits\":{{"
    );
    match (o.track, o.rest_total_int) {
        (Track::Off, _) => {}
        (_, true) => {
            let _ = write!(out, "\"total\":{total},");
        }
        (Track::Exact, _) => {
            let _ = write!(out, "\"total\":{{\"value\":{total},\"relation\":\"eq\"}},");
        }
        (Track::UpTo(n), _) => {
            if total > n {
                let _ = write!(out, "\"total\":{{\"value\":{n},\"relation\":\"gte\"}},");
            } else {
                let _ = write!(out, "\"total\":{{\"value\":{total},\"relation\":\"eq\"}},");
            }
        }
    }
    let score = if o.sorted { "null" } else { "1.0" };
    if page.is_empty() && !o.sorted {
        out.extend_from_slice(b"\"max_score\":null,\"hits\":[");
    } else {
        let _ = write!(out, "\"max_score\":{score},\"hits\":[");
    }
    for (i, h) in page.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"_index\":");
        esc(&mut out, &h.index);
        out.extend_from_slice(b",\"_id\":");
        esc(&mut out, &h.id);
        if o.version {
            let _ = write!(out, ",\"_version\":{}", h.ver.version);
        }
        if o.seq_no_pt {
            let _ = write!(
                out,
                ",\"_seq_no\":{},\"_primary_term\":{PRIMARY_TERM}",
                h.ver.seq_no
            );
        }
        let _ = write!(out, ",\"_score\":{score}");
        if o.filter.is_identity() {
            out.extend_from_slice(b",\"_source\":");
            out.extend_from_slice(&h.ver.src);
        } else if let Some(raw) = o.filter.apply(&h.ver.src) {
            out.extend_from_slice(b",\"_source\":");
            out.extend_from_slice(raw.get().as_bytes());
        }
        if !keys.is_empty() {
            out.extend_from_slice(b",\"sort\":");
            let _ = serde_json::to_writer(&mut out, &sort::render(keys, &h.sort));
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}}");
    out
}
