//! `_search`, `_search/scroll`, `_count`, `_pit`, `_delete_by_query`.

use super::contexts::{keep_alive, PitCtx, PitIndex, ScrollCtx};
use super::exec::{self, shard_failure, RenderOpts, Source, Track};
use super::query::{self, Query};
use super::sort::{self, SortField, SortKey};
use crate::docs::source_filter::SourceFilter;
use crate::http::{EsError, Req, Resp};
use crate::router::App;
use crate::store::Index;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const IGNORED_BODY_KEYS: &[&str] = &[
    "timeout",
    "track_scores",
    "min_score",
    "stored_fields",
    "docvalue_fields",
    "fields",
    "aggs",
    "aggregations",
    "highlight",
    "explain",
    "collapse",
    "runtime_mappings",
    "profile",
    "terminate_after",
    "indices_boost",
    "suggest",
    "rescore",
    "script_fields",
    "stats",
    "ext",
    "slice",
    "_name",
];

struct SearchReq {
    query: Query,
    post_filter: Option<Query>,
    from: i64,
    size: i64,
    sort: Vec<SortKey>,
    after: Option<Vec<Value>>,
    render: RenderOpts,
    pit: Option<(String, Option<String>)>,
}

fn int_of(v: &Value, k: &str) -> Result<i64, EsError> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| query::parsing(format!("[{k}] must be an integer")))
}

fn parse_track(v: Option<&Value>, param: Option<&str>) -> Result<Track, EsError> {
    let v = match (v, param) {
        (Some(v), _) => v.clone(),
        (None, Some(p)) => match p {
            "true" | "" => json!(true),
            "false" => json!(false),
            n => json!(n
                .parse::<i64>()
                .map_err(|_| EsError::illegal_argument(format!(
                    "Failed to parse value [{n}] for [track_total_hits]"
                )))?),
        },
        (None, None) => return Ok(Track::UpTo(10_000)),
    };
    match v {
        Value::Bool(true) => Ok(Track::Exact),
        Value::Bool(false) => Ok(Track::Off),
        Value::Number(n) => match n.as_i64() {
            Some(-1) => Ok(Track::Exact),
            Some(x) if x >= 0 => Ok(Track::UpTo(x as usize)),
            _ => Err(EsError::illegal_argument(
                "[track_total_hits] parameter must be positive or equals to -1",
            )),
        },
        _ => Err(query::parsing(
            "[track_total_hits] must be a boolean or an integer",
        )),
    }
}

fn parse_search(req: &Req) -> Result<SearchReq, EsError> {
    let body = req.json_body()?.unwrap_or_default();
    for k in body.keys() {
        let known = matches!(
            k.as_str(),
            "query"
                | "from"
                | "size"
                | "sort"
                | "_source"
                | "search_after"
                | "seq_no_primary_term"
                | "version"
                | "track_total_hits"
                | "pit"
                | "post_filter"
        );
        if !known && !IGNORED_BODY_KEYS.contains(&k.as_str()) {
            return Err(query::parsing(format!(
                "Unknown key for a VALUE_STRING in [{k}]."
            )));
        }
    }
    let mut query = query::parse_opt(&body)?;
    if let Some(q) = req.param("q") {
        let and = req
            .param("default_operator")
            .is_some_and(|o| o.eq_ignore_ascii_case("and"));
        let df = req.param("df").unwrap_or("*").to_string();
        query = query::query_string(q, &[df], and);
    }
    let post_filter = body.get("post_filter").map(query::parse).transpose()?;
    let from = match (body.get("from"), req.param("from")) {
        (Some(v), _) => int_of(v, "from")?,
        (None, Some(p)) => p.parse().map_err(|_| {
            EsError::illegal_argument(format!(
                "Failed to parse int parameter [from] with value [{p}]"
            ))
        })?,
        _ => -1,
    };
    let size = match (body.get("size"), req.param("size")) {
        (Some(v), _) => int_of(v, "size")?,
        (None, Some(p)) => p.parse().map_err(|_| {
            EsError::illegal_argument(format!(
                "Failed to parse int parameter [size] with value [{p}]"
            ))
        })?,
        _ => -1,
    };
    let mut sort = sort::parse(body.get("sort"))?;
    if let Some(s) = req.param("sort") {
        sort = sort::parse_param(s);
    }
    let after = match body.get("search_after") {
        None => None,
        Some(Value::Array(a)) => Some(a.clone()),
        Some(_) => return Err(query::parsing("[search_after] must be an array")),
    };
    let filter = SourceFilter::from_json(body.get("_source"))?.with_params(req);
    let bool_of = |k: &str| -> Result<bool, EsError> {
        match body.get(k) {
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(query::parsing(format!("[{k}] must be a boolean"))),
            None => req.flag(k, false),
        }
    };
    let pit = match body.get("pit") {
        None => None,
        Some(p) => {
            let id = p
                .get("id")
                .and_then(|v| v.as_str())
                .ok_or_else(|| query::parsing("[pit] requires [id]"))?;
            Some((
                id.to_string(),
                p.get("keep_alive")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
            ))
        }
    };
    let sorted = !sort.is_empty() && !sort.iter().all(|k| k.field == SortField::Score);
    Ok(SearchReq {
        query,
        post_filter,
        from,
        size,
        sort,
        after,
        render: RenderOpts {
            filter,
            seq_no_pt: bool_of("seq_no_primary_term")?,
            version: bool_of("version")?,
            sorted,
            track: parse_track(body.get("track_total_hits"), req.param("track_total_hits"))?,
            rest_total_int: req.flag("rest_total_hits_as_int", false)?,
        },
        pit,
    })
}

fn targets(app: &App, req: &Req, expr: Option<&str>) -> Result<Vec<Arc<Index>>, EsError> {
    let opts = app.resolve_opts(req, false)?;
    let expr = expr.unwrap_or("_all");
    let ixs = app.store.resolve_read(expr, &opts)?;
    for ix in &ixs {
        let d = ix.data.read();
        let explicit = expr
            .split(',')
            .any(|p| p == ix.name || d.aliases.contains_key(p));
        if explicit {
            app.check_system(req, &d)?;
        }
    }
    Ok(ixs)
}

fn window_error(index: &str, n: i64, max: i64) -> EsError {
    shard_failure(
        EsError::illegal_argument(format!(
            "Result window is too large, from + size must be less than or equal to: [{max}] but was [{n}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting."
        )),
        index,
    )
}

pub fn search(app: &App, req: &Req, expr: Option<&str>) -> Result<Resp, EsError> {
    let started = Instant::now();
    let mut s = parse_search(req)?;
    let scroll = req
        .param("scroll")
        .map(|v| {
            keep_alive(v).ok_or_else(|| {
                EsError::illegal_argument(format!(
                    "failed to parse setting [scroll] with value [{v}] as a time value"
                ))
            })
        })
        .transpose()?;
    if s.from < -1 {
        return Err(EsError::illegal_argument(
            "[from] parameter cannot be negative",
        ));
    }
    if s.size < -1 {
        return Err(EsError::illegal_argument(format!(
            "[size] parameter cannot be negative, found [{}]",
            s.size
        )));
    }
    let from = s.from.max(0);
    let size = if s.size < 0 { 10 } else { s.size };
    if s.after.is_some() && from > 0 {
        return Err(EsError::validation(&[
            "`from` parameter must be set to 0 when `search_after` is used",
        ]));
    }
    if s.after.is_some() && s.sort.is_empty() && s.pit.is_none() {
        return Err(EsError::validation(&["[search_after] requires a sort"]));
    }

    // Point in time: search the snapshot instead of the live indices.
    if let Some((pit_id, ka)) = s.pit.clone() {
        if expr.is_some() {
            return Err(EsError::validation(&["[indices] cannot be used with point in time. Do not specify any index with point in time."]));
        }
        if scroll.is_some() {
            return Err(EsError::validation(&[
                "using [point in time] is not allowed in a scroll context",
            ]));
        }
        let indices = {
            let mut pits = app.contexts.pits.lock();
            let Some(p) = pits.get_mut(&pit_id) else {
                return Err(missing_context(&pit_id));
            };
            if let Some(d) = ka.as_deref().and_then(keep_alive) {
                p.expires = Instant::now() + d;
            }
            p.indices.clone()
        };
        // A PIT search is always tie-broken by `_shard_doc`.
        if !s
            .sort
            .iter()
            .any(|k| matches!(k.field, SortField::ShardDoc | SortField::Doc))
        {
            s.sort.push(SortKey {
                field: SortField::ShardDoc,
                desc: false,
                missing_first: false,
                unmapped_type: None,
            });
        }
        let max = indices
            .iter()
            .map(|p| p.max_result_window)
            .min()
            .unwrap_or(10_000);
        if from + size > max {
            return Err(window_error(
                indices.first().map(|p| &*p.name).unwrap_or(""),
                from + size,
                max,
            ));
        }
        let sources: Vec<Source> = indices.iter().map(Source::Pit).collect();
        let out = exec::run(
            &sources,
            &s.query,
            s.post_filter.as_ref(),
            &s.sort,
            s.after.as_deref(),
            None,
        )?;
        let page = page_of(&out.hits, from, size);
        s.render.sorted = true;
        let body = exec::render(
            page,
            out.total,
            &out.keys,
            &s.render,
            started.elapsed().as_millis(),
            sources.len() as u64,
            &[("pit_id", &pit_id)],
        );
        return Ok(Resp::raw(200, body));
    }

    let ixs = targets(app, req, expr)?;
    let sources: Vec<Source> = ixs
        .iter()
        .enumerate()
        .map(|(i, ix)| Source::Live(ix.clone(), i as u32))
        .collect();
    let max = ixs
        .iter()
        .map(|ix| ix.data.read().max_result_window())
        .min()
        .unwrap_or(10_000);
    let first_name = ixs.first().map(|ix| ix.name.clone()).unwrap_or_default();
    if let Some(ka) = scroll {
        if size > max {
            return Err(shard_failure(
                EsError::illegal_argument(format!(
                    "Batch size is too large, size must be less than or equal to: [{max}] but was [{size}]. Scroll batch sizes cost as much memory as result windows so they are controlled by the [index.max_result_window] index level setting."
                )),
                &first_name,
            ));
        }
        if s.after.is_some() {
            return Err(EsError::validation(&[
                "[search_after] cannot be used in a scroll context",
            ]));
        }
        let out = exec::run(
            &sources,
            &s.query,
            s.post_filter.as_ref(),
            &s.sort,
            None,
            None,
        )?;
        let id = app.contexts.new_id("scroll");
        let size = size as usize;
        let start = (from as usize).min(out.hits.len());
        let end = (start + size).min(out.hits.len());
        let body = exec::render(
            &out.hits[start..end],
            out.total,
            &out.keys,
            &s.render,
            started.elapsed().as_millis(),
            sources.len() as u64,
            &[("_scroll_id", &id)],
        );
        app.contexts.scrolls.lock().insert(
            id,
            ScrollCtx {
                hits: out.hits,
                pos: end,
                size,
                expires: Instant::now() + ka,
                render: s.render,
                total: out.total,
                keys: out.keys,
            },
        );
        return Ok(Resp::raw(200, body));
    }
    if from + size > max {
        return Err(window_error(&first_name, from + size, max));
    }
    let limit = if s.sort.is_empty() {
        Some((from + size) as usize)
    } else {
        None
    };
    let out = exec::run(
        &sources,
        &s.query,
        s.post_filter.as_ref(),
        &s.sort,
        s.after.as_deref(),
        limit,
    )?;
    let page = page_of(&out.hits, from, size);
    let body = exec::render(
        page,
        out.total,
        &out.keys,
        &s.render,
        started.elapsed().as_millis(),
        sources.len() as u64,
        &[],
    );
    Ok(Resp::raw(200, body))
}

fn page_of(hits: &[exec::Hit], from: i64, size: i64) -> &[exec::Hit] {
    let start = (from as usize).min(hits.len());
    let end = (start + size as usize).min(hits.len());
    &hits[start..end]
}

fn missing_context(id: &str) -> EsError {
    let cause = json!({"type": "search_context_missing_exception", "reason": format!("No search context found for id [{id}]")});
    let mut e = EsError::new(404, "search_phase_execution_exception", "all shards failed")
        .with("phase", "query")
        .with("grouped", true)
        .with(
            "failed_shards",
            json!([{"shard": -1, "index": null, "reason": cause}]),
        );
    e.root_cause = Some(json!([cause]));
    e.caused_by = Some(cause);
    e
}

pub fn scroll(app: &App, req: &Req) -> Result<Resp, EsError> {
    let started = Instant::now();
    let body = req.json_body()?.unwrap_or_default();
    let id = body
        .get("scroll_id")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or_else(|| req.param("scroll_id").map(str::to_string))
        .or_else(|| req.segs.get(2).cloned())
        .ok_or_else(|| EsError::validation(&["scrollId is missing"]))?;
    let ka = body
        .get("scroll")
        .and_then(|v| v.as_str())
        .or(req.param("scroll"))
        .and_then(keep_alive);
    let mut scrolls = app.contexts.scrolls.lock();
    let Some(ctx) = scrolls.get_mut(&id) else {
        return Err(missing_context(&id));
    };
    if let Some(d) = ka {
        ctx.expires = Instant::now() + d;
    }
    let start = ctx.pos.min(ctx.hits.len());
    let end = (start + ctx.size).min(ctx.hits.len());
    ctx.pos = end;
    let out = exec::render(
        &ctx.hits[start..end],
        ctx.total,
        &ctx.keys,
        &ctx.render,
        started.elapsed().as_millis(),
        1,
        &[("_scroll_id", &id)],
    );
    Ok(Resp::raw(200, out))
}

fn ids_of(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

pub fn clear_scroll(app: &App, req: &Req) -> Result<Resp, EsError> {
    let body = req.json_body()?.unwrap_or_default();
    let mut ids = ids_of(body.get("scroll_id"));
    if let Some(p) = req.segs.get(2) {
        ids.extend(p.split(',').map(str::to_string));
    }
    if let Some(p) = req.param("scroll_id") {
        ids.extend(p.split(',').map(str::to_string));
    }
    let mut scrolls = app.contexts.scrolls.lock();
    let freed = if ids.iter().any(|i| i == "_all") {
        let n = scrolls.len();
        scrolls.clear();
        n
    } else {
        ids.iter().filter(|i| scrolls.remove(*i).is_some()).count()
    };
    let status = if freed == 0 && !ids.is_empty() {
        404
    } else {
        200
    };
    Ok(Resp::json(
        status,
        &json!({"succeeded": true, "num_freed": freed}),
    ))
}

pub fn count(app: &App, req: &Req, expr: Option<&str>) -> Result<Resp, EsError> {
    let body = req.json_body()?.unwrap_or_default();
    for k in body.keys() {
        if k != "query" {
            return Err(query::parsing(format!("request does not support [{k}]")));
        }
    }
    let mut q = query::parse_opt(&body)?;
    if let Some(qs) = req.param("q") {
        q = query::query_string(qs, &[req.param("df").unwrap_or("*").to_string()], false);
    }
    let ixs = targets(app, req, expr)?;
    let n = exec::count(&ixs, &q);
    Ok(Resp::ok(
        json!({"count": n, "_shards": {"total": ixs.len(), "successful": ixs.len(), "skipped": 0, "failed": 0}}),
    ))
}

pub fn open_pit(app: &App, req: &Req, expr: &str) -> Result<Resp, EsError> {
    let Some(ka) = req.param("keep_alive") else {
        return Err(EsError::validation(&["[keep_alive] is not specified"]));
    };
    let ka = keep_alive(ka).ok_or_else(|| {
        EsError::illegal_argument(format!("failed to parse [keep_alive] with value [{ka}]"))
    })?;
    let ixs = targets(app, req, Some(expr))?;
    let mut snap = Vec::new();
    for (i, ix) in ixs.iter().enumerate() {
        let d = ix.data.read();
        let docs = d
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| {
                s.visible
                    .as_ref()
                    .map(|v| (slot as u32, s.id.clone(), v.clone()))
            })
            .collect();
        snap.push(PitIndex {
            name: Arc::from(ix.name.as_str()),
            ord: i as u32,
            mapping: d.mapping.clone(),
            docs,
            max_result_window: d.max_result_window(),
        });
    }
    let id = app.contexts.new_id("pit");
    let n = snap.len();
    app.contexts.pits.lock().insert(
        id.clone(),
        PitCtx {
            indices: Arc::new(snap),
            expires: Instant::now() + ka,
        },
    );
    Ok(Resp::ok(
        json!({"id": id, "_shards": {"total": n, "successful": n, "skipped": 0, "failed": 0}}),
    ))
}

pub fn close_pit(app: &App, req: &Req) -> Result<Resp, EsError> {
    let body = req.json_body()?.unwrap_or_default();
    let Some(id) = body.get("id").and_then(|v| v.as_str()) else {
        return Err(EsError::validation(&["no pit ids specified"]));
    };
    let freed = app.contexts.pits.lock().remove(id).is_some();
    let status = if freed { 200 } else { 404 };
    Ok(Resp::json(
        status,
        &json!({"succeeded": true, "num_freed": freed as u32}),
    ))
}

/// Deletes what a search sees now (the last refresh); a document changed since then is a
/// version conflict, as with Elasticsearch's scroll-based implementation.
pub fn delete_by_query(app: &App, req: &Req, expr: &str) -> Result<Resp, EsError> {
    let started = Instant::now();
    let body = req
        .json_body()?
        .ok_or_else(|| EsError::validation(&["query is missing"]))?;
    let mut q = None;
    let mut max_docs: Option<usize> = req.param("max_docs").and_then(|v| v.parse().ok());
    for (k, v) in &body {
        match k.as_str() {
            "query" => q = Some(query::parse(v)?),
            "max_docs" | "size" => max_docs = v.as_u64().map(|n| n as usize),
            "slice" | "conflicts" => {}
            other => {
                return Err(query::parsing(format!(
                    "[delete_by_query] unknown field [{other}]"
                )))
            }
        }
    }
    let q = q.ok_or_else(|| EsError::validation(&["query is missing"]))?;
    let proceed = req.param("conflicts") == Some("proceed")
        || body.get("conflicts").and_then(|v| v.as_str()) == Some("proceed");
    let ixs = targets(app, req, Some(expr))?;
    let (mut total, mut deleted, mut conflicts) = (0usize, 0usize, 0usize);
    let mut failures: Vec<Value> = Vec::new();
    'outer: for ix in &ixs {
        let mut d = ix.data.write();
        let cq = query::compile(&q, &d.mapping);
        let mut victims: Vec<(Arc<str>, i64)> = Vec::new();
        for s in &d.slots {
            if let Some(v) = &s.visible {
                if query::matches(&cq, &query::Doc::new(&s.id, &ix.name, &v.src)) {
                    victims.push((s.id.clone(), v.seq_no));
                }
            }
        }
        for (id, seq) in victims {
            if max_docs.is_some_and(|m| total >= m) {
                break 'outer;
            }
            total += 1;
            let live_seq = d.get_live(&id).map(|v| v.seq_no);
            if live_seq != Some(seq) {
                conflicts += 1;
                if !proceed {
                    let e = crate::docs::write::conflict(&d, &id, format!("required seqNo [{seq}], primary term [1]. current document has seqNo [{}] and primary term [1]", live_seq.unwrap_or(-1)));
                    failures.push(json!({"index": ix.name, "id": &*id, "cause": e.cause_json(), "status": 409}));
                    break 'outer;
                }
                continue;
            }
            d.delete(&id);
            deleted += 1;
        }
    }
    if crate::bulk::refresh_param(req)? == crate::bulk::Refresh::True {
        for ix in &ixs {
            ix.data.write().refresh();
        }
    }
    let status = if failures.is_empty() { 200 } else { 409 };
    let mut out = Map::new();
    out.insert("took".into(), json!(started.elapsed().as_millis() as u64));
    out.insert("timed_out".into(), json!(false));
    out.insert("total".into(), json!(total));
    out.insert("deleted".into(), json!(deleted));
    out.insert(
        "batches".into(),
        json!(if total == 0 { 0 } else { 1 + total / 1000 }),
    );
    out.insert("version_conflicts".into(), json!(conflicts));
    out.insert("noops".into(), json!(0));
    out.insert("retries".into(), json!({"bulk": 0, "search": 0}));
    out.insert("throttled_millis".into(), json!(0));
    out.insert("requests_per_second".into(), json!(-1.0));
    out.insert("throttled_until_millis".into(), json!(0));
    out.insert("failures".into(), Value::Array(failures));
    let _ = Duration::ZERO;
    Ok(Resp::json(status, &Value::Object(out)))
}
