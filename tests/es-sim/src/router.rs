//! Shared server state and the table from (method, path) to handler.

use crate::auth::AuthState;
use crate::faults::FaultState;
use crate::http::{EsError, Req, Resp};
use crate::ingest::Pipelines;
use crate::search::Contexts;
use crate::store::{IndexData, ResolveOpts, Store};
use crate::{bulk, cluster, connector, docs, ingest, search, Options};
use hyper::Method;
use parking_lot::RwLock;
use std::sync::Arc;
use std::time::Duration;

pub struct App {
    pub opts: Options,
    pub store: Store,
    pub faults: FaultState,
    pub auth: AuthState,
    pub pipelines: Pipelines,
    pub contexts: Contexts,
    pub refresh_tx: tokio::sync::watch::Sender<u64>,
    pub license_type: RwLock<String>,
    pub cluster_uuid: String,
    pub secrets: RwLock<std::collections::HashMap<String, String>>,
}

impl App {
    pub fn new(opts: Options) -> App {
        let (refresh_tx, _) = tokio::sync::watch::channel(0u64);
        let app = App {
            faults: FaultState::new(opts.faults.clone(), opts.seed),
            auth: AuthState::new(&opts.username, &opts.password, opts.security),
            store: Store::default(),
            pipelines: Pipelines::default(),
            contexts: Contexts::default(),
            refresh_tx,
            license_type: RwLock::new("basic".into()),
            cluster_uuid: crate::store::new_uuid(),
            secrets: RwLock::new(Default::default()),
            opts,
        };
        connector::indices::install(&app);
        app
    }

    pub fn major(&self) -> u32 {
        self.opts
            .version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(9)
    }

    /// 9.x makes the connector indices system indices: only the connectors service or Kibana
    /// (identified by `X-elastic-product-origin`) may read or write them directly.
    pub fn check_system(&self, req: &Req, d: &IndexData) -> Result<(), EsError> {
        if d.system && self.major() >= 9 && !req.system_origin() {
            return Err(EsError::illegal_argument(format!(
                "Indices [{}] use and access is reserved for system operations",
                d.name
            )));
        }
        Ok(())
    }

    pub fn resolve_opts(&self, req: &Req, ignore_default: bool) -> Result<ResolveOpts, EsError> {
        let ew = req.param("expand_wildcards").unwrap_or("open");
        Ok(ResolveOpts {
            ignore_unavailable: req.flag("ignore_unavailable", ignore_default)?,
            allow_no_indices: req.flag("allow_no_indices", true)?,
            expand_hidden: ew.contains("hidden") || ew.contains("all"),
            system_access: req.system_origin() || self.major() < 9,
        })
    }

    /// Waits until the next automatic refresh has run (`refresh=wait_for`).
    pub async fn wait_for_refresh(&self) {
        let mut rx = self.refresh_tx.subscribe();
        let _ = rx.changed().await;
    }
}

/// Automatic refresh and expiry of scroll / point-in-time contexts.
pub async fn background(app: Arc<App>) {
    let base = app.opts.refresh_interval.max(Duration::from_millis(10));
    let base_ms = base.as_millis() as u64;
    // The first tick is one interval after start, not at once (`interval` fires immediately,
    // which made a write searchable a few milliseconds after start-up).
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + base, base);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let app2 = app.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for ix in app2.store.all() {
                // Most ticks find nothing due: look under the shared lock, write only when due.
                if !ix.data.read().refresh_due(base_ms, base_ms / 2) {
                    continue;
                }
                let mut d = ix.data.write();
                if d.refresh_due(base_ms, base_ms / 2) {
                    d.refresh();
                }
            }
            app2.contexts.expire();
        })
        .await;
        app.refresh_tx.send_modify(|g| *g += 1);
    }
}

/// `/_sim/*`: es-sim's own admin API (no authentication, no faults).
pub fn admin(app: &App, req: &Req) -> Resp {
    let segs: Vec<&str> = req.segs.iter().map(|s| s.as_str()).collect();
    match (&req.method, segs.as_slice()) {
        (&Method::GET, ["_sim", "faults"]) => Resp::json(
            200,
            &serde_json::to_value(app.faults.get()).unwrap_or_default(),
        ),
        (&Method::PUT, ["_sim", "faults"]) | (&Method::POST, ["_sim", "faults"]) => {
            match serde_json::from_slice::<crate::Faults>(&req.body) {
                Ok(f) => {
                    app.faults.set(f.clone());
                    Resp::json(200, &serde_json::to_value(f).unwrap_or_default())
                }
                Err(e) => EsError::json_parse(&e).into_resp(),
            }
        }
        (&Method::POST, ["_sim", "refresh"]) => {
            app.store.refresh_all();
            Resp::ok(serde_json::json!({"acknowledged": true}))
        }
        _ => no_handler(req),
    }
}

pub fn no_handler(req: &Req) -> Resp {
    Resp::json(
        400,
        &serde_json::json!({"error": format!("no handler found for uri [{}] and method [{}]", req.uri, req.method)}),
    )
}

fn bad_method(req: &Req, allowed: &str) -> Resp {
    Resp::json(
        405,
        &serde_json::json!({
            "error": format!("Incorrect HTTP method for uri [{}] and method [{}], allowed: [{allowed}]", req.uri, req.method),
            "status": 405
        }),
    )
}

pub async fn route(app: Arc<App>, req: Req) -> Resp {
    let app2 = app.clone();
    let res = tokio::task::spawn_blocking(move || {
        let wait = matches!(req.param("refresh"), Some("wait_for"));
        let r = dispatch(&app2, &req);
        (r, wait)
    })
    .await;
    match res {
        Ok((Ok(resp), wait)) => {
            if wait && resp.status.is_success() {
                app.wait_for_refresh().await;
            }
            resp
        }
        Ok((Err(e), _)) => e.into_resp(),
        Err(_) => EsError::new(500, "exception", "es-sim handler failed").into_resp(),
    }
}

fn dispatch(app: &App, req: &Req) -> Result<Resp, EsError> {
    use Method as M;
    let segs: Vec<&str> = req.segs.iter().map(|s| s.as_str()).collect();
    let m = &req.method;
    let get = m == M::GET;
    let post = m == M::POST;
    let put = m == M::PUT;
    let del = m == M::DELETE;
    let head = m == M::HEAD;
    crate::privileges::authorize(app.major(), req, &segs)?;
    if segs.first() == Some(&"_connector") {
        return connector::route(app, req, &segs[1..]);
    }
    Ok(match segs.as_slice() {
        [] if get || head => cluster::root(app),
        [] => bad_method(req, "GET, HEAD"),
        ["_license"] if get => cluster::license(app),
        ["_license", "start_trial"] if post => cluster::start_trial(app),
        ["_cluster", "health"] | ["_cluster", "health", _] if get => cluster::health(app),
        ["_security", "_authenticate"] if get => cluster::authenticate(req),
        ["_security", "api_key"] if post || put => cluster::create_api_key(app, req)?,
        ["_security", "api_key"] if get => cluster::get_api_keys(app, req),
        ["_security", "api_key"] if del => cluster::invalidate_api_keys(app, req)?,
        ["_security", "user", "_has_privileges"] | ["_security", "user", _, "_has_privileges"]
            if get || post =>
        {
            cluster::has_privileges(req)?
        }
        ["_bulk"] if post || put => bulk::bulk_api(app, req, None)?,
        [ix, "_bulk"] if post || put => bulk::bulk_api(app, req, Some(ix))?,
        ["_bulk"] | [_, "_bulk"] => bad_method(req, "POST, PUT"),
        ["_search"] if get || post => search::api::search(app, req, None)?,
        [ix, "_search"] if get || post => search::api::search(app, req, Some(ix))?,
        ["_search", "scroll"] | ["_search", "scroll", _] if get || post => {
            search::api::scroll(app, req)?
        }
        ["_search", "scroll"] | ["_search", "scroll", _] if del => {
            search::api::clear_scroll(app, req)?
        }
        ["_count"] if get || post => search::api::count(app, req, None)?,
        [ix, "_count"] if get || post => search::api::count(app, req, Some(ix))?,
        [ix, "_pit"] if post => search::api::open_pit(app, req, ix)?,
        ["_pit"] if del => search::api::close_pit(app, req)?,
        [ix, "_delete_by_query"] if post => search::api::delete_by_query(app, req, ix)?,
        ["_refresh"] if get || post => docs::index::refresh(app, req, None)?,
        [ix, "_refresh"] if get || post => docs::index::refresh(app, req, Some(ix))?,
        ["_cat", "indices"] if get => docs::index::cat_indices(app, req, None)?,
        ["_cat", "indices", ix] if get => docs::index::cat_indices(app, req, Some(ix))?,
        ["_ingest", "pipeline"] if get => ingest_api::get(app, None),
        ["_ingest", "pipeline", id] if get => ingest_api::get(app, Some(id)),
        ["_ingest", "pipeline", id] if put => ingest_api::put(app, req, id)?,
        ["_ingest", "pipeline", id] if del => ingest_api::delete(app, id)?,
        ["_mapping"] if get => docs::index::get_mapping(app, req, None)?,
        [ix, "_mapping"] if get => docs::index::get_mapping(app, req, Some(ix))?,
        [ix, "_mapping"] if put || post => docs::index::put_mapping(app, req, ix)?,
        [ix, "_settings"] if get => docs::index::get_settings(app, req, ix)?,
        ["_stats"] if get => docs::index::stats(app, req, None)?,
        [ix, "_stats"] if get => docs::index::stats(app, req, Some(ix))?,
        [ix, "_alias", alias] | [ix, "_aliases", alias] if put || post => {
            docs::index::put_alias(app, req, ix, alias)?
        }
        ["_alias", alias] if get => docs::index::get_alias(app, req, alias)?,
        [ix, "_doc"] if post => docs::doc::index_api(app, req, ix, None, false)?,
        [ix, "_doc", id] if put || post => docs::doc::index_api(app, req, ix, Some(id), false)?,
        [ix, "_create", id] if put || post => docs::doc::index_api(app, req, ix, Some(id), true)?,
        [ix, "_doc", id] if get || head => docs::doc::get_api(app, req, ix, id, false)?,
        [ix, "_source", id] if get || head => docs::doc::get_api(app, req, ix, id, true)?,
        [ix, "_doc", id] if del => docs::doc::delete_api(app, req, ix, id)?,
        [ix, "_update", id] if post => docs::doc::update_api(app, req, ix, id)?,
        [ix] if !ix.starts_with('_') && put => docs::index::create(app, req, ix)?,
        [ix] if !ix.starts_with('_') && head => docs::index::exists(app, req, ix)?,
        [ix] if !ix.starts_with('_') && get => docs::index::get(app, req, ix)?,
        [ix] if !ix.starts_with('_') && del => docs::index::delete(app, req, ix)?,
        _ => no_handler(req),
    })
}

mod ingest_api {
    use super::*;
    use serde_json::{Map, Value};

    pub fn get(app: &App, id: Option<&str>) -> Resp {
        let all = app.pipelines.list();
        let mut out = Map::new();
        match id {
            None => {
                for (k, v) in all {
                    out.insert(k, v);
                }
            }
            Some(ids) => {
                for pat in ids.split(',') {
                    for (k, v) in &all {
                        if crate::store::glob(pat, k) {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                }
                if out.is_empty() {
                    // Elasticsearch answers a missing pipeline with 404 and an empty object.
                    return Resp::json(404, &Value::Object(out));
                }
            }
        }
        Resp::json(200, &Value::Object(out))
    }

    pub fn put(app: &App, req: &Req, id: &str) -> Result<Resp, EsError> {
        let body = req
            .json_body()?
            .ok_or_else(|| EsError::parse("request body is required"))?;
        app.pipelines.put(id, Value::Object(body))?;
        Ok(Resp::ok(serde_json::json!({"acknowledged": true})))
    }

    pub fn delete(app: &App, id: &str) -> Result<Resp, EsError> {
        if !app.pipelines.delete(id) {
            return Err(EsError::not_found(format!("pipeline [{id}] is missing")));
        }
        let _ = ingest::DEFAULT_PIPELINE;
        Ok(Resp::ok(serde_json::json!({"acknowledged": true})))
    }
}
