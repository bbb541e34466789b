//! The HTTP server: its own thread and multi-thread runtime, body limits, request faults,
//! authentication, and the headers every response carries.

use crate::faults::RequestFault;
use crate::http::{percent_decode, EsError, Principal, Req, Resp};
use crate::router::{self, App};
use crate::{Faults, Options};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Elasticsearch's default `http.max_content_length`.
pub const MAX_CONTENT_LENGTH: usize = 100 * 1024 * 1024;

/// A running es-sim. Dropping it stops the server too.
pub struct Server {
    url: String,
    app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts on an ephemeral port of 127.0.0.1.
    pub async fn start(opts: Options) -> anyhow::Result<Server> {
        Server::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), opts).await
    }

    /// Starts on `addr`. The server runs on a runtime of its own, so it keeps serving even
    /// when the caller's runtime is single-threaded or blocked.
    pub async fn start_on(addr: SocketAddr, opts: Options) -> anyhow::Result<Server> {
        let app = Arc::new(App::new(opts));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<anyhow::Result<SocketAddr>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app2 = app.clone();
        let thread = std::thread::Builder::new()
            .name("es-sim".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("es-sim-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match TcpListener::bind(addr).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx
                                .send(Err(anyhow::anyhow!("es-sim cannot bind {addr}: {e}")));
                            return;
                        }
                    };
                    let local = match listener.local_addr() {
                        Ok(a) => a,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.into()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(local));
                    tokio::spawn(router::background(app2.clone()));
                    serve(listener, app2, stop_rx).await;
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })?;
        let local = ready_rx
            .await
            .map_err(|_| anyhow::anyhow!("es-sim thread died"))??;
        Ok(Server {
            url: format!("http://{local}"),
            app,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Replaces the active faults (same effect as `PUT /_sim/faults`).
    pub fn set_faults(&self, f: Faults) {
        self.app.faults.set(f);
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn serve(listener: TcpListener, app: Arc<App>, mut stop: tokio::sync::oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            acc = listener.accept() => {
                let Ok((stream, _)) = acc else { continue };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let svc = hyper::service::service_fn(move |req| handle(app.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(io, svc)
                        .await;
                });
            }
        }
    }
}

/// Returned to hyper to make it close the connection without an answer.
#[derive(Debug)]
struct DropConnection;
impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}
impl std::error::Error for DropConnection {}

async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = req.into_parts();
    let is_head = parts.method == Method::HEAD;
    let too_long = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_CONTENT_LENGTH);
    if too_long {
        // Elasticsearch answers 413 with an empty body and closes the connection.
        return Ok(finish(Resp::empty(413), is_head, true));
    }
    let body = match Limited::new(body, MAX_CONTENT_LENGTH).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Ok(finish(Resp::empty(413), is_head, true));
            }
            return Err(DropConnection);
        }
    };
    let path = parts.uri.path().to_string();
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| percent_decode(s, false))
        .collect::<Vec<_>>();
    // "/" splits into one empty segment; "/a/" keeps a trailing empty one, which we drop.
    let mut segs = segs;
    if segs.len() == 1 && segs[0].is_empty() {
        segs.clear();
    } else if segs.len() > 1 && segs.last().is_some_and(|s| s.is_empty()) {
        segs.pop();
    }
    let query = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
                    None => (percent_decode(kv, true), String::new()),
                })
                .collect()
        })
        .unwrap_or_default();

    let is_admin = segs.first().is_some_and(|s| s == "_sim");
    let is_root = segs.is_empty();
    let is_bulk = segs.last().is_some_and(|s| s == "_bulk");
    let mut req = Req {
        method: parts.method,
        uri,
        segs,
        query,
        headers: parts.headers,
        body,
        principal: Principal {
            username: app.opts.username.clone(),
            api_key: None,
            grants: None,
        },
    };

    if is_admin {
        return Ok(finish(router::admin(&app, &req), is_head, false));
    }
    if !is_root {
        let latency = app.faults.latency_ms(is_bulk);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        match app.faults.request_fault(is_bulk) {
            RequestFault::None => {}
            RequestFault::Drop => return Err(DropConnection),
            RequestFault::TooMany => {
                let e = EsError::new(
                    429,
                    "es_rejected_execution_exception",
                    "rejected execution of coordinating operation [es-sim fault injection]",
                );
                return Ok(finish(e.into_resp(), is_head, false));
            }
            RequestFault::Unavailable => {
                let e = EsError::new(
                    503,
                    "cluster_block_exception",
                    "blocked by: [SERVICE_UNAVAILABLE/2/no master];",
                );
                return Ok(finish(e.into_resp(), is_head, false));
            }
        }
    }
    match app.auth.authenticate(&req) {
        Ok(p) => req.principal = p,
        Err(e) => return Ok(finish(e.into_resp(), is_head, false)),
    }
    let resp = router::route(app, req).await;
    Ok(finish(resp, is_head, false))
}

fn finish(resp: Resp, is_head: bool, close: bool) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(resp.status)
        .header("X-elastic-product", "Elasticsearch");
    if !resp.body.is_empty() {
        b = b.header("content-type", "application/json");
    }
    if close {
        b = b.header("connection", "close");
    }
    for (k, v) in &resp.headers {
        b = b.header(*k, v.as_str());
    }
    let body = if is_head { Bytes::new() } else { resp.body };
    b.body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
