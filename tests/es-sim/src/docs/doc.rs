//! Single-document APIs: `_doc` (index, realtime get, delete), `_create`, `_source`, `_update`.

use super::source_filter::SourceFilter;
use super::write::{self, Cond, Done, UpdateBody, PRIMARY_TERM};
use crate::bulk::{refresh_param, run_pipeline, Refresh};
use crate::http::{EsError, Req, Resp};
use crate::router::App;
use crate::store::{new_doc_id, Index};
use serde_json::{json, Value};
use std::sync::Arc;

fn cond(req: &Req) -> Result<Cond, EsError> {
    let p = |k: &str| -> Result<Option<i64>, EsError> {
        match req.param(k) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                EsError::illegal_argument(format!(
                    "Failed to parse long parameter [{k}] with value [{v}]"
                ))
            }),
        }
    };
    Ok(Cond {
        if_seq_no: p("if_seq_no")?,
        if_primary_term: p("if_primary_term")?,
    })
}

/// Resolves (and auto-creates) the index a write goes to.
pub fn write_target(app: &App, req: &Req, name: &str) -> Result<Arc<Index>, EsError> {
    let ix = match app.store.resolve_write(name)? {
        Some(ix) => ix,
        None => match app.store.create(
            name,
            Default::default(),
            Default::default(),
            Default::default(),
        ) {
            Ok(ix) => ix,
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

fn write_resp(ix: &Index, id: &str, d: &Done, shards: Value, forced: bool) -> Resp {
    let mut v = json!({
        "_index": ix.name, "_id": id, "_version": d.version, "result": d.result,
        "_shards": if d.wrote { shards } else { json!({"total": 0, "successful": 0, "failed": 0}) },
        "_seq_no": d.seq_no, "_primary_term": PRIMARY_TERM
    });
    if forced {
        if let Some(o) = v.as_object_mut() {
            o.insert("forced_refresh".into(), json!(true));
        }
    }
    Resp::json(d.status, &v)
}

pub fn index_api(
    app: &App,
    req: &Req,
    index: &str,
    id: Option<&str>,
    create: bool,
) -> Result<Resp, EsError> {
    let refresh = refresh_param(req)?;
    let c = cond(req)?;
    let create = create || req.param("op_type") == Some("create");
    if !req.has_body() {
        return Err(EsError::parse("request body is required"));
    }
    let generated;
    let id = match id {
        Some(id) => id,
        None => {
            generated = new_doc_id();
            &generated
        }
    };
    if id.len() > 512 {
        return Err(EsError::validation(&[&format!(
            "id [{id}] is too long, must be no longer than 512 bytes but was: {}",
            id.len()
        )]));
    }
    let ix = write_target(app, req, index)?;
    let mut d = ix.data.write();
    let pipeline = req
        .param("pipeline")
        .map(str::to_string)
        .or_else(|| d.setting("default_pipeline").map(str::to_string));
    let body: Vec<u8>;
    let src: &[u8] = match pipeline.as_deref().filter(|p| *p != "_none") {
        None => &req.body,
        Some(p) => match run_pipeline(app, p, &req.body)? {
            Some(b) => {
                body = b;
                &body
            }
            None => {
                return Ok(Resp::ok(
                    json!({"_index": ix.name, "_id": id, "_version": -3, "result": "noop",
                    "_shards": {"total": 0, "successful": 0, "failed": 0}}),
                ))
            }
        },
    };
    let done = write::index_doc(&mut d, id, trim_ws(src), create, c)?;
    let shards = d.write_shards();
    let forced = refresh == Refresh::True;
    if forced {
        d.refresh();
    }
    Ok(write_resp(&ix, id, &done, shards, forced))
}

fn trim_ws(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |p| p + 1);
    &b[s..e]
}

pub fn read_target(app: &App, req: &Req, name: &str) -> Result<Arc<Index>, EsError> {
    let ix = match app.store.get(name) {
        Some(ix) => ix,
        None => {
            let t = app.store.alias_targets(name);
            match t.len() {
                0 => return Err(EsError::index_not_found(name)),
                1 => t.into_iter().next().ok_or_else(|| EsError::index_not_found(name))?,
                _ => {
                    return Err(EsError::illegal_argument(format!(
                        "alias [{name}] has more than one index associated with it [{}], can't execute a single index op",
                        t.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
                    )))
                }
            }
        }
    };
    app.check_system(req, &ix.data.read())?;
    Ok(ix)
}

pub fn get_api(
    app: &App,
    req: &Req,
    index: &str,
    id: &str,
    source_only: bool,
) -> Result<Resp, EsError> {
    let ix = read_target(app, req, index)?;
    let realtime = req.flag("realtime", true)?;
    if req.flag("refresh", false)? {
        ix.data.write().refresh();
    }
    let d = ix.data.read();
    let ver = if realtime {
        d.get_live(id)
    } else {
        d.get(id).and_then(|s| s.visible.as_ref())
    };
    let Some(ver) = ver else {
        if source_only {
            return Err(EsError::new(
                404,
                "resource_not_found_exception",
                format!("Document not found [{}]/[{id}]", ix.name),
            ));
        }
        return Ok(Resp::json(
            404,
            &json!({"_index": ix.name, "_id": id, "found": false}),
        ));
    };
    let filter = SourceFilter::all().with_params(req);
    let src = filter.apply(&ver.src);
    if source_only {
        let body = src
            .map(|r| r.get().as_bytes().to_vec())
            .unwrap_or_else(|| b"{}".to_vec());
        return Ok(Resp::raw(200, body));
    }
    let mut v = json!({"_index": ix.name, "_id": id, "_version": ver.version, "_seq_no": ver.seq_no,
        "_primary_term": PRIMARY_TERM, "found": true});
    if let (Some(s), Some(o)) = (src, v.as_object_mut()) {
        o.insert(
            "_source".into(),
            serde_json::to_value(s).unwrap_or(Value::Null),
        );
    }
    Ok(Resp::ok(v))
}

pub fn delete_api(app: &App, req: &Req, index: &str, id: &str) -> Result<Resp, EsError> {
    let refresh = refresh_param(req)?;
    let c = cond(req)?;
    let ix = read_target(app, req, index)?;
    let mut d = ix.data.write();
    let done = write::delete_doc(&mut d, id, c)?;
    let shards = d.write_shards();
    let forced = refresh == Refresh::True;
    if forced {
        d.refresh();
    }
    Ok(write_resp(&ix, id, &done, shards, forced))
}

pub fn update_api(app: &App, req: &Req, index: &str, id: &str) -> Result<Resp, EsError> {
    let refresh = refresh_param(req)?;
    let c = cond(req)?;
    let body = req
        .json_body()?
        .ok_or_else(|| EsError::validation(&["script or doc is missing"]))?;
    let u = UpdateBody::parse(&Value::Object(body.clone()))?;
    let ix = write_target(app, req, index)?;
    let retries = req
        .param("retry_on_conflict")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    let _ = retries; // Writes are serialised under the index lock, so there is nothing to retry.
    let mut d = ix.data.write();
    let (done, new_src) = write::update_doc(&mut d, id, &u, c)?;
    let shards = d.write_shards();
    let forced = refresh == Refresh::True && done.wrote;
    if forced {
        d.refresh();
    }
    let mut resp = write_resp(&ix, id, &done, shards, forced);
    // `_source` in the body (or `_source=true`) asks for the updated document back.
    let want = body
        .get("_source")
        .cloned()
        .or_else(|| req.param("_source").map(|s| json!(s != "false")));
    if let Some(w) = want {
        if w != json!(false) {
            let filter = SourceFilter::from_json(Some(&w)).unwrap_or_else(|_| SourceFilter::all());
            if let Ok(mut v) = serde_json::from_slice::<Value>(&resp.body) {
                if let (Some(o), Some(src)) = (v.as_object_mut(), filter.apply(&new_src)) {
                    o.insert(
                        "get".into(),
                        json!({"_seq_no": done.seq_no, "_primary_term": PRIMARY_TERM, "found": true,
                        "_source": serde_json::to_value(src).unwrap_or(Value::Null)}),
                    );
                }
                resp = Resp::json(done.status, &v);
            }
        }
    }
    Ok(resp)
}
