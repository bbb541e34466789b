//! `_bulk`: NDJSON parsed from borrowed bytes, every action line validated before anything is
//! written (as Elasticsearch does), items applied in order, per-item results and errors.

use crate::docs::write::{self, Cond, Done, UpdateBody, PRIMARY_TERM};
use crate::http::{EsError, Req, Resp};
use crate::router::App;
use crate::store::{new_doc_id, Index};
use serde::Deserialize;
use std::borrow::Cow;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Debug)]
enum OpKind {
    Index,
    Create,
    Update,
    Delete,
}

impl OpKind {
    fn name(self) -> &'static str {
        match self {
            OpKind::Index => "index",
            OpKind::Create => "create",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Meta<'a> {
    #[serde(rename = "_index", borrow, default)]
    index: Option<Cow<'a, str>>,
    #[serde(rename = "_id", borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pipeline: Option<Cow<'a, str>>,
    #[serde(default)]
    if_seq_no: Option<i64>,
    #[serde(default)]
    if_primary_term: Option<i64>,
    #[serde(default, alias = "_routing")]
    routing: Option<serde_json::Value>,
    #[serde(default)]
    require_alias: Option<bool>,
    #[serde(default)]
    retry_on_conflict: Option<u32>,
    #[serde(default, alias = "_version")]
    version: Option<i64>,
    #[serde(default, alias = "_version_type")]
    version_type: Option<serde_json::Value>,
    #[serde(default)]
    dynamic_templates: Option<serde_json::Value>,
    #[serde(default, rename = "_source")]
    source: Option<serde_json::Value>,
    #[serde(default)]
    list_executed_pipelines: Option<bool>,
    #[serde(default)]
    require_data_stream: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionLine<'a> {
    #[serde(borrow, default)]
    index: Option<Meta<'a>>,
    #[serde(borrow, default)]
    create: Option<Meta<'a>>,
    #[serde(borrow, default)]
    update: Option<Meta<'a>>,
    #[serde(borrow, default)]
    delete: Option<Meta<'a>>,
}

struct Item<'a> {
    op: OpKind,
    index: Cow<'a, str>,
    id: Option<Cow<'a, str>>,
    src: &'a [u8],
    update: Option<UpdateBody>,
    pipeline: Option<Cow<'a, str>>,
    cond: Cond,
}

fn malformed(line: usize, what: String) -> EsError {
    EsError::illegal_argument(format!("Malformed action/metadata line [{line}], {what}"))
}

fn parse_items<'a>(
    body: &'a [u8],
    default_index: Option<&'a str>,
) -> Result<Vec<Item<'a>>, EsError> {
    let mut items = Vec::new();
    let mut lines = memchr::memchr_iter(b'\n', body);
    let mut start = 0usize;
    let mut line_no = 0usize;
    let mut next_line = |start: &mut usize| -> Option<&'a [u8]> {
        let end = lines.next()?;
        let l = &body[*start..end];
        *start = end + 1;
        Some(l)
    };
    while let Some(line) = next_line(&mut start) {
        line_no += 1;
        let line = trim(line);
        if line.is_empty() {
            continue;
        }
        let action: ActionLine = serde_json::from_slice(line).map_err(|e| {
            let msg = e.to_string();
            if let Some(rest) = msg.strip_prefix("unknown field `") {
                let key = rest.split('`').next().unwrap_or("");
                if ["index", "create", "update", "delete"].iter().any(|k| msg.contains(&format!("expected one of `{k}`"))) {
                    return malformed(line_no, format!("expected field [create], [delete], [index] or [update] but found [{key}]"));
                }
                return EsError::illegal_argument(format!("Action/metadata line [{line_no}] contains an unknown parameter [{key}]"));
            }
            malformed(line_no, format!("expected START_OBJECT or END_OBJECT: {msg}"))
        })?;
        let (op, meta) = match action {
            ActionLine {
                index: Some(m),
                create: None,
                update: None,
                delete: None,
            } => (OpKind::Index, m),
            ActionLine {
                index: None,
                create: Some(m),
                update: None,
                delete: None,
            } => (OpKind::Create, m),
            ActionLine {
                index: None,
                create: None,
                update: Some(m),
                delete: None,
            } => (OpKind::Update, m),
            ActionLine {
                index: None,
                create: None,
                update: None,
                delete: Some(m),
            } => (OpKind::Delete, m),
            _ => return Err(malformed(line_no, "expected a single action".into())),
        };
        let _ = (
            &meta.routing,
            &meta.require_alias,
            &meta.retry_on_conflict,
            &meta.dynamic_templates,
            &meta.source,
        );
        let _ = (&meta.list_executed_pipelines, &meta.require_data_stream);
        if meta.version.is_some() || meta.version_type.is_some() {
            return Err(EsError::validation(&[
                "es-sim supports if_seq_no/if_primary_term, not external versioning",
            ]));
        }
        let index = match meta.index.or(default_index.map(Cow::Borrowed)) {
            Some(i) => i,
            None => return Err(EsError::validation(&["index is missing"])),
        };
        if op != OpKind::Index && op != OpKind::Create && meta.id.is_none() {
            return Err(EsError::validation(&["id is missing"]));
        }
        if meta.id.as_deref() == Some("") {
            return Err(EsError::validation(&[
                "if _id is specified it must not be empty",
            ]));
        }
        let mut item = Item {
            op,
            index,
            id: meta.id,
            src: &[],
            update: None,
            pipeline: meta.pipeline,
            cond: Cond {
                if_seq_no: meta.if_seq_no,
                if_primary_term: meta.if_primary_term,
            },
        };
        if op != OpKind::Delete {
            let Some(src) = next_line(&mut start) else {
                return Err(EsError::validation(&[&format!(
                    "{} request on index [{}] is missing source",
                    op.name(),
                    item.index
                )]));
            };
            line_no += 1;
            item.src = trim(src);
            if op == OpKind::Update {
                let v: serde_json::Value =
                    serde_json::from_slice(item.src).map_err(|e| EsError::json_parse(&e))?;
                item.update = Some(UpdateBody::parse(&v)?);
            }
        }
        items.push(item);
    }
    if items.is_empty() {
        return Err(EsError::validation(&["no requests added"]));
    }
    Ok(items)
}

fn trim(mut l: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b' ' | b'\t'] = l {
        l = rest;
    }
    l
}

fn esc(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Writes one item result object.
fn write_item(
    out: &mut Vec<u8>,
    op: OpKind,
    index: &str,
    id: &str,
    res: &Result<(Done, u64), EsError>,
) {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(op.name().as_bytes());
    out.extend_from_slice(b"\":{\"_index\":");
    esc(out, index);
    out.extend_from_slice(b",\"_id\":");
    esc(out, id);
    match res {
        Ok((d, replicas)) => {
            let (total, ok) = if d.wrote { (1 + replicas, 1) } else { (0, 0) };
            let _ = write!(
                out,
                ",\"_version\":{},\"result\":\"{}\",\"_shards\":{{\"total\":{},\"successful\":{},\"failed\":0}},\"_seq_no\":{},\"_primary_term\":{},\"status\":{}}}}}",
                d.version, d.result, total, ok, d.seq_no, PRIMARY_TERM, d.status
            );
        }
        Err(e) => {
            let _ = write!(out, ",\"status\":{},\"error\":", e.status);
            let _ = serde_json::to_writer(&mut *out, &e.cause_json());
            out.extend_from_slice(b"}}");
        }
    }
}

pub fn bulk_api(app: &App, req: &Req, path_index: Option<&str>) -> Result<Resp, EsError> {
    let started = Instant::now();
    if req.body.is_empty() {
        return Err(EsError::parse("request body is required"));
    }
    if req.body.last() != Some(&b'\n') {
        return Err(EsError::illegal_argument(
            "The bulk request must be terminated by a newline [\\n]",
        ));
    }
    let refresh = refresh_param(req)?;
    let req_pipeline = req.param("pipeline");
    let items = parse_items(&req.body, path_index)?;
    let item_rate = app.faults.bulk_item_rate();

    let mut out: Vec<u8> = Vec::with_capacity(64 + items.len() * 160);
    let mut errors = false;
    let mut touched: Vec<Arc<Index>> = Vec::new();
    out.extend_from_slice(b"{\"errors\":false,\"took\":0000000000,\"items\":[");
    let mut first = true;
    let mut i = 0;
    while i < items.len() {
        // Process the run of consecutive items that target the same index under one lock.
        let name = items[i].index.clone();
        let mut j = i;
        while j < items.len() && items[j].index == name {
            j += 1;
        }
        // Authorized before the index is auto-created: a denied item creates nothing.
        let target = crate::privileges::check_bulk_item(req, &name)
            .and_then(|_| resolve_target(app, req, &name));
        match target {
            Err(e) => {
                for it in &items[i..j] {
                    errors = true;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    let id = it.id.as_deref().unwrap_or("");
                    write_item(&mut out, it.op, &name, id, &Err(e.clone()));
                }
            }
            Ok(ix) => {
                let mut d = ix.data.write();
                let replicas = d.replicas();
                let default_pipeline = d.setting("default_pipeline").map(str::to_string);
                for it in &items[i..j] {
                    let generated;
                    let id: &str = match &it.id {
                        Some(id) => id,
                        None => {
                            generated = new_doc_id();
                            &generated
                        }
                    };
                    let res = if item_rate > 0.0 && app.faults.roll_item(item_rate) {
                        Err(rejected())
                    } else {
                        let pipeline = it
                            .pipeline
                            .as_deref()
                            .or(req_pipeline)
                            .or(default_pipeline.as_deref())
                            .filter(|p| *p != "_none");
                        apply(app, &mut d, it, id, pipeline).map(|done| (done, replicas))
                    };
                    if res.is_err() {
                        errors = true;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    write_item(&mut out, it.op, &ix.name, id, &res);
                }
                drop(d);
                if !touched.iter().any(|t| Arc::ptr_eq(t, &ix)) {
                    touched.push(ix);
                }
            }
        }
        i = j;
    }
    out.extend_from_slice(b"]}");
    if errors {
        out[10..15].copy_from_slice(b"true,");
        // `{"errors":true,` is one byte shorter than `false,`; pad with a space (valid JSON).
        out[15] = b' ';
    }
    let took = started.elapsed().as_millis().min(9_999_999_999) as u64;
    let took_s = format!("{took:<10}");
    out[23..33].copy_from_slice(took_s.as_bytes());
    if refresh == Refresh::True {
        for ix in &touched {
            ix.data.write().refresh();
        }
    }
    Ok(Resp::raw(200, out))
}

fn rejected() -> EsError {
    EsError::new(
        429,
        "es_rejected_execution_exception",
        "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=0, max_coordinating_and_primary_bytes=0] (es-sim fault injection)",
    )
}

fn resolve_target(app: &App, req: &Req, name: &str) -> Result<Arc<Index>, EsError> {
    let ix = match app.store.resolve_write(name)? {
        Some(ix) => ix,
        None => match app.store.create(
            name,
            Default::default(),
            Default::default(),
            Default::default(),
        ) {
            Ok(ix) => ix,
            // Another request created it in between.
            Err(e) if e.ty == "resource_already_exists_exception" => app
                .store
                .get(name)
                .ok_or_else(|| EsError::index_not_found(name))?,
            Err(e) => return Err(e),
        },
    };
    app.check_system(req, &ix.data.read())?;
    Ok(ix)
}

fn apply(
    app: &App,
    d: &mut crate::store::IndexData,
    it: &Item,
    id: &str,
    pipeline: Option<&str>,
) -> Result<Done, EsError> {
    match it.op {
        OpKind::Index | OpKind::Create => {
            write::check_id(id)?;
            let create = it.op == OpKind::Create;
            match pipeline {
                None => write::index_doc(d, id, it.src, create, it.cond),
                Some(p) => {
                    let Some(src) = run_pipeline(app, p, it.src)? else {
                        return Ok(Done {
                            result: "noop",
                            status: 200,
                            version: -1i64 as u64,
                            seq_no: -2,
                            wrote: false,
                        });
                    };
                    write::index_doc(d, id, &src, create, it.cond)
                }
            }
        }
        OpKind::Update => match &it.update {
            Some(u) => write::update_doc(d, id, u, it.cond).map(|(done, _)| done),
            None => Err(EsError::validation(&["script or doc is missing"])),
        },
        OpKind::Delete => write::delete_doc(d, id, it.cond),
    }
}

/// Runs an ingest pipeline over a source. `Ok(None)` when the pipeline dropped the document.
pub fn run_pipeline(app: &App, pipeline: &str, src: &[u8]) -> Result<Option<Vec<u8>>, EsError> {
    if !app.pipelines.exists(pipeline) {
        return Err(crate::ingest::missing(pipeline));
    }
    if pipeline == crate::ingest::DEFAULT_PIPELINE {
        if let Some(out) = crate::ingest::default_ingestion_raw(src) {
            return Ok(Some(out));
        }
    }
    let mut v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(src).map_err(|e| crate::mapping::parse_failure(&e))?;
    if !app.pipelines.run(pipeline, &mut v)? {
        return Ok(None);
    }
    Ok(Some(serde_json::to_vec(&v).unwrap_or_default()))
}

#[derive(PartialEq, Clone, Copy, Debug)]
pub enum Refresh {
    False,
    True,
    WaitFor,
}

pub fn refresh_param(req: &Req) -> Result<Refresh, EsError> {
    match req.param("refresh") {
        None | Some("false") => Ok(Refresh::False),
        Some("") | Some("true") => Ok(Refresh::True),
        Some("wait_for") => Ok(Refresh::WaitFor),
        Some(v) => Err(EsError::illegal_argument(format!(
            "Unknown value for refresh: [{v}]."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_actions() {
        let body = b"{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"x\":1}\n{\"delete\":{\"_id\":\"2\"}}\n{\"update\":{\"_id\":\"3\"}}\n{\"doc\":{\"y\":2}}\n";
        let items = parse_items(body, Some("b")).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].index, "a");
        assert_eq!(items[1].index, "b");
        assert_eq!(items[1].op, OpKind::Delete);
        assert!(items[2].update.as_ref().unwrap().doc.is_some());
        let e = parse_items(b"{\"foo\":{}}\n", Some("b")).err().unwrap();
        assert!(
            e.reason
                .contains("expected field [create], [delete], [index] or [update] but found [foo]"),
            "{}",
            e.reason
        );
        let e = parse_items(b"{\"index\":{\"bogus\":1}}\n{}\n", Some("b"))
            .err()
            .unwrap();
        assert!(
            e.reason.contains("unknown parameter [bogus]"),
            "{}",
            e.reason
        );
        let e = parse_items(b"{\"index\":{}}\n", None).err().unwrap();
        assert_eq!(e.ty, "action_request_validation_exception");
    }
}
