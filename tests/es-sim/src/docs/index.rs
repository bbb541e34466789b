//! Index administration: create / exists / get / delete, mappings, settings, aliases,
//! `_refresh`, `_stats` and `_cat/indices`.

use crate::http::{EsError, Req, Resp};
use crate::mapping::ObjectMapping;
use crate::router::App;
use crate::store::{flatten_settings, Index};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn create(app: &App, req: &Req, name: &str) -> Result<Resp, EsError> {
    let body = req.json_body()?.unwrap_or_default();
    let mut settings = BTreeMap::new();
    let mut mapping = ObjectMapping::default();
    let mut aliases = BTreeMap::new();
    for (k, v) in &body {
        match k.as_str() {
            "settings" => settings = flatten_settings(v)?,
            "mappings" => {
                // A typeless mapping; `{"_doc": {...}}` is the pre-7 form and is rejected in 9.x.
                if v.get("_doc").is_some() && v.get("properties").is_none() {
                    return Err(crate::mapping::mapper_parsing(
                        "Root mapping definition has unsupported parameters:  [_doc : ...]",
                    ));
                }
                mapping = ObjectMapping::from_json(v, true)?;
            }
            "aliases" => {
                if let Some(m) = v.as_object() {
                    for (a, def) in m {
                        aliases.insert(a.clone(), def.clone());
                    }
                }
            }
            other => {
                return Err(EsError::parse(format!(
                    "unknown key [{other}] for create index"
                )))
            }
        }
    }
    app.store.create(name, settings, mapping, aliases)?;
    Ok(Resp::ok(
        json!({"acknowledged": true, "shards_acknowledged": true, "index": name}),
    ))
}

fn resolve(app: &App, req: &Req, expr: &str) -> Result<Vec<Arc<Index>>, EsError> {
    let opts = app.resolve_opts(req, false)?;
    let ixs = app.store.resolve_read(expr, &opts)?;
    for ix in &ixs {
        let explicit = expr
            .split(',')
            .any(|p| p == ix.name || ix.data.read().aliases.contains_key(p));
        if explicit {
            app.check_system(req, &ix.data.read())?;
        }
    }
    Ok(ixs)
}

pub fn exists(app: &App, req: &Req, expr: &str) -> Result<Resp, EsError> {
    let opts = app.resolve_opts(req, false)?;
    Ok(match app.store.resolve_read(expr, &opts) {
        Ok(v) if !v.is_empty() => Resp::empty(200),
        _ => Resp::empty(404),
    })
}

pub fn get(app: &App, req: &Req, expr: &str) -> Result<Resp, EsError> {
    let mut out = Map::new();
    for ix in resolve(app, req, expr)? {
        let d = ix.data.read();
        out.insert(
            ix.name.clone(),
            json!({"aliases": d.aliases, "mappings": d.mapping.to_json(), "settings": d.settings_json()}),
        );
    }
    Ok(Resp::ok(Value::Object(out)))
}

pub fn delete(app: &App, req: &Req, expr: &str) -> Result<Resp, EsError> {
    for part in expr.split(',') {
        if app.store.get(part).is_none() && !app.store.alias_targets(part).is_empty() {
            return Err(EsError::illegal_argument(format!(
                "The provided expression [{part}] matches an alias, specify the corresponding concrete indices instead."
            )));
        }
    }
    let opts = app.resolve_opts(req, false)?;
    let ixs = app.store.resolve_read(expr, &opts)?;
    for ix in &ixs {
        let d = ix.data.read();
        if d.system && app.major() >= 9 {
            return Err(EsError::illegal_argument(format!(
                "Indices [{}] use and access is reserved for system operations",
                d.name
            )));
        }
    }
    for ix in ixs {
        app.store.remove(&ix.name);
        app.contexts.forget_index(&ix.name);
    }
    Ok(Resp::ok(json!({"acknowledged": true})))
}

pub fn get_mapping(app: &App, req: &Req, expr: Option<&str>) -> Result<Resp, EsError> {
    let mut out = Map::new();
    for ix in resolve(app, req, expr.unwrap_or("_all"))? {
        out.insert(
            ix.name.clone(),
            json!({"mappings": ix.data.read().mapping.to_json()}),
        );
    }
    Ok(Resp::ok(Value::Object(out)))
}

pub fn put_mapping(app: &App, req: &Req, expr: &str) -> Result<Resp, EsError> {
    let body = req
        .json_body()?
        .ok_or_else(|| EsError::validation(&["mapping source is missing"]))?;
    let incoming = ObjectMapping::from_json(&Value::Object(body), true)?;
    let ixs = resolve(app, req, expr)?;
    // Check every target first so a conflict leaves all of them unchanged.
    for ix in &ixs {
        let mut m = ix.data.read().mapping.clone();
        m.merge(incoming.clone(), "")?;
    }
    for ix in &ixs {
        let mut d = ix.data.write();
        let mut m = d.mapping.clone();
        m.merge(incoming.clone(), "")?;
        d.mapping = m;
    }
    Ok(Resp::ok(json!({"acknowledged": true})))
}

pub fn get_settings(app: &App, req: &Req, expr: &str) -> Result<Resp, EsError> {
    let mut out = Map::new();
    for ix in resolve(app, req, expr)? {
        out.insert(
            ix.name.clone(),
            json!({"settings": ix.data.read().settings_json()}),
        );
    }
    Ok(Resp::ok(Value::Object(out)))
}

pub fn refresh(app: &App, req: &Req, expr: Option<&str>) -> Result<Resp, EsError> {
    let ixs = resolve(app, req, expr.unwrap_or("_all"))?;
    let (mut total, mut ok) = (0u64, 0u64);
    for ix in &ixs {
        let mut d = ix.data.write();
        d.refresh();
        total += 1 + d.replicas();
        ok += 1;
    }
    Ok(Resp::ok(
        json!({"_shards": {"total": total, "successful": ok, "failed": 0}}),
    ))
}

fn store_bytes(ix: &Index) -> usize {
    ix.data
        .read()
        .slots
        .iter()
        .filter_map(|s| s.visible.as_ref())
        .map(|v| v.src.len())
        .sum()
}

fn human(b: usize) -> String {
    if b >= 1 << 30 {
        format!("{:.1}gb", b as f64 / (1u64 << 30) as f64)
    } else if b >= 1 << 20 {
        format!("{:.1}mb", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1}kb", b as f64 / 1024.0)
    } else {
        format!("{b}b")
    }
}

pub fn cat_indices(app: &App, req: &Req, expr: Option<&str>) -> Result<Resp, EsError> {
    let ixs = resolve(app, req, expr.unwrap_or("_all"))?;
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    for ix in &ixs {
        let size = store_bytes(ix);
        let d = ix.data.read();
        let rep = d.replicas();
        let mut r = Map::new();
        r.insert(
            "health".into(),
            json!(if rep > 0 { "yellow" } else { "green" }),
        );
        r.insert("status".into(), json!("open"));
        r.insert("index".into(), json!(ix.name));
        r.insert("uuid".into(), json!(d.uuid));
        r.insert("pri".into(), json!("1"));
        r.insert("rep".into(), json!(rep.to_string()));
        r.insert("docs.count".into(), json!(d.visible_docs.to_string()));
        r.insert("docs.deleted".into(), json!("0"));
        let sz = if req.param("bytes") == Some("b") {
            size.to_string()
        } else {
            human(size)
        };
        r.insert("store.size".into(), json!(sz));
        r.insert("pri.store.size".into(), json!(sz));
        r.insert("dataset.size".into(), json!(sz));
        rows.push(r);
    }
    if let Some(h) = req.param("h") {
        let cols: Vec<&str> = h.split(',').collect();
        for r in rows.iter_mut() {
            r.retain(|k, _| cols.contains(&k.as_str()));
        }
    }
    if req.param("format") == Some("json") {
        return Ok(Resp::ok(Value::Array(
            rows.into_iter().map(Value::Object).collect(),
        )));
    }
    let mut text = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .values()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect();
        text.push_str(&line.join(" "));
        text.push('\n');
    }
    let mut resp = Resp::raw(200, text.into_bytes());
    resp.headers
        .push(("content-type", "text/plain; charset=UTF-8".into()));
    Ok(resp)
}

pub fn stats(app: &App, req: &Req, expr: Option<&str>) -> Result<Resp, EsError> {
    let ixs = resolve(app, req, expr.unwrap_or("_all"))?;
    let mut indices = Map::new();
    let (mut all_docs, mut all_size) = (0usize, 0usize);
    for ix in &ixs {
        let size = store_bytes(ix);
        let d = ix.data.read();
        let part = json!({"docs": {"count": d.visible_docs, "deleted": 0}, "store": {"size_in_bytes": size}});
        indices.insert(
            ix.name.clone(),
            json!({"uuid": d.uuid, "health": "yellow", "status": "open",
            "primaries": part, "total": part}),
        );
        all_docs += d.visible_docs;
        all_size += size;
    }
    let all =
        json!({"docs": {"count": all_docs, "deleted": 0}, "store": {"size_in_bytes": all_size}});
    Ok(Resp::ok(json!({
        "_shards": {"total": ixs.len() * 2, "successful": ixs.len(), "failed": 0},
        "_all": {"primaries": all, "total": all},
        "indices": indices
    })))
}

pub fn put_alias(app: &App, req: &Req, expr: &str, alias: &str) -> Result<Resp, EsError> {
    let body = req.json_body()?.map(Value::Object).unwrap_or(json!({}));
    for ix in resolve(app, req, expr)? {
        ix.data
            .write()
            .aliases
            .insert(alias.to_string(), body.clone());
    }
    Ok(Resp::ok(json!({"acknowledged": true})))
}

pub fn get_alias(app: &App, _req: &Req, alias: &str) -> Result<Resp, EsError> {
    let mut out = Map::new();
    for ix in app.store.all() {
        let d = ix.data.read();
        let hits: Map<String, Value> = d
            .aliases
            .iter()
            .filter(|(a, _)| crate::store::glob(alias, a))
            .map(|(a, v)| (a.clone(), v.clone()))
            .collect();
        if !hits.is_empty() {
            out.insert(ix.name.clone(), json!({"aliases": hits}));
        }
    }
    if out.is_empty() {
        return Ok(Resp::json(
            404,
            &json!({"error": format!("alias [{alias}] missing"), "status": 404}),
        ));
    }
    Ok(Resp::ok(Value::Object(out)))
}
