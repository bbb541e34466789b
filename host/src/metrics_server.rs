//! The operators' endpoint (`service.metrics_listen`): `GET /metrics` (Prometheus
//! text) and `GET /healthz` (readiness: 200 when every check passes, else 503, with
//! a JSON body naming each check). Plain HTTP/1.1; bind it to loopback or a private
//! interface — it has no authentication, and exposes nothing secret.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// One readiness check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// What `/healthz` answers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HealthReport {
    pub ready: bool,
    pub checks: Vec<Check>,
}

impl HealthReport {
    /// Ready when every check passed.
    pub fn from_checks(checks: Vec<Check>) -> Self {
        Self {
            ready: checks.iter().all(|c| c.ok),
            checks,
        }
    }
}

/// Runs the readiness checks (the service supplies Elasticsearch and plugins).
#[async_trait]
pub trait HealthCheck: Send + Sync {
    async fn check(&self) -> HealthReport;
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("service.metrics_listen: cannot listen on {addr}: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// A bound endpoint; [`MetricsServer::serve`] runs it until `stop` fires.
pub struct MetricsServer {
    listener: TcpListener,
    health: Arc<dyn HealthCheck>,
}

impl MetricsServer {
    /// Binds now, so a bad or busy address stops start-up with its name.
    pub async fn bind(addr: SocketAddr, health: Arc<dyn HealthCheck>) -> Result<Self, BindError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BindError { addr, source })?;
        Ok(Self { listener, health })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `stop` is cancelled.
    pub async fn serve(self, stop: CancellationToken) {
        let Self { listener, health } = self;
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => return,
                a = listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let health = health.clone();
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let service = hyper::service::service_fn(move |req| {
                    let health = health.clone();
                    async move { Ok::<_, Infallible>(handle(req, health).await) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    tracing::debug!(peer = %peer, error = %e, "metrics endpoint: connection ended with an error");
                }
            });
        }
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}

async fn handle(req: Request<Incoming>, health: Arc<dyn HealthCheck>) -> Response<Full<Bytes>> {
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    match (get, req.uri().path()) {
        (true, "/metrics") => text(
            StatusCode::OK,
            tributary_metrics::CONTENT_TYPE,
            tributary_metrics::render(),
        ),
        (true, "/healthz") => {
            let report = health.check().await;
            let status = if report.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let body = serde_json::to_string(&report).unwrap_or_else(|_| "{}".into());
            text(status, "application/json", body)
        }
        (false, "/metrics" | "/healthz") => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "only GET\n".into(),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /metrics or /healthz\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(bool);

    #[async_trait]
    impl HealthCheck for Fixed {
        async fn check(&self) -> HealthReport {
            HealthReport::from_checks(vec![Check {
                name: "elasticsearch",
                ok: self.0,
                detail: "fixed".into(),
            }])
        }
    }

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let status = out[9..12].parse().unwrap();
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    #[tokio::test]
    async fn serves_metrics_and_health() {
        for ready in [true, false] {
            let server =
                MetricsServer::bind("127.0.0.1:0".parse().unwrap(), Arc::new(Fixed(ready)))
                    .await
                    .unwrap();
            let addr = server.local_addr().unwrap();
            let stop = CancellationToken::new();
            let task = tokio::spawn(server.serve(stop.clone()));
            let (status, body) = get(addr, "/healthz").await;
            assert_eq!(status, if ready { 200 } else { 503 }, "{body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["ready"], ready);
            assert_eq!(v["checks"][0]["name"], "elasticsearch");
            let (status, body) = get(addr, "/metrics").await;
            assert_eq!(status, 200);
            assert!(
                body.contains("# TYPE tributary_sync_jobs_running gauge"),
                "{body}"
            );
            assert_eq!(get(addr, "/nope").await.0, 404);
            stop.cancel();
            task.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_busy_address_is_named() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = MetricsServer::bind(addr, Arc::new(Fixed(true)))
            .await
            .err()
            .expect("bind must fail");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        assert!(err.to_string().contains("service.metrics_listen"), "{err}");
    }
}
