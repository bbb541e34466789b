//! The one HTTP client: base URL, auth, TLS, headers, timeouts, retries.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::auth::Credentials;
use super::error::parse_error_body;
use super::retry::{is_retryable_status, RetryPolicy};
use super::EsError;
use crate::ClientConfig;

/// Elasticsearch refuses system-index access (9.x) without this; elastic-ingest sends
/// it on every request.
pub const PRODUCT_ORIGIN: (&str, &str) = ("x-elastic-product-origin", "connectors");

/// A cheap-to-clone handle (shares one connection pool) to one Elasticsearch.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
    auth: Option<HeaderValue>,
    retry: RetryPolicy,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    /// `host` without a trailing slash.
    base: String,
    /// Bulk body buffers handed back after their request finished.
    pub(crate) buffers: Mutex<Vec<BytesMut>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.base)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Bytes,
    /// `X-Elastic-Product` (only `GET /` looks at it).
    pub product: Option<String>,
}

/// One request, re-sendable (the body is `Bytes`, cloning is a refcount bump).
pub(crate) struct Request<'a> {
    pub method: Method,
    pub path: Cow<'a, str>,
    pub query: Vec<(&'a str, Cow<'a, str>)>,
    pub body: Option<(Bytes, &'static str)>,
    /// Overrides `request_timeout` (long-running calls such as delete-by-query).
    pub timeout: Option<Duration>,
    /// Answer 404 as a response instead of an error (exists checks, GET _doc).
    pub allow_404: bool,
}

impl<'a> Request<'a> {
    pub fn new(method: Method, path: impl Into<Cow<'a, str>>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            timeout: None,
            allow_404: false,
        }
    }

    pub fn query(mut self, k: &'a str, v: impl Into<Cow<'a, str>>) -> Self {
        self.query.push((k, v.into()));
        self
    }

    pub fn json(mut self, body: &impl Serialize) -> Result<Self, EsError> {
        let bytes = serde_json::to_vec(body).map_err(|e| EsError::Decode {
            request: format!("{} {}", self.method, self.path),
            message: format!("cannot encode request body: {e}"),
        })?;
        self.body = Some((Bytes::from(bytes), "application/json"));
        Ok(self)
    }

    pub fn ndjson(mut self, body: Bytes) -> Self {
        self.body = Some((body, "application/x-ndjson"));
        self
    }

    pub fn allow_404(mut self) -> Self {
        self.allow_404 = true;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Percent-encodes one path segment (index names, document and connector ids).
pub(crate) fn seg(s: &str) -> Cow<'_, str> {
    let safe = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
    if s.bytes().all(safe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if safe(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// `GET /` answer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ServerInfo {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub cluster_name: String,
    pub version: ServerVersion,
    #[serde(default)]
    pub tagline: String,
}

/// `version` of `GET /`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ServerVersion {
    pub number: String,
    /// `default`, or `serverless` on Elastic Cloud Serverless.
    #[serde(default)]
    pub build_flavor: Option<String>,
}

impl ServerInfo {
    /// Serverless projects refuse `_refresh`; elastic-ingest skips it there.
    pub fn is_serverless(&self) -> bool {
        self.version.build_flavor.as_deref() == Some("serverless")
    }

    /// The major version, if `number` starts with one.
    pub fn major(&self) -> Option<u32> {
        self.version.number.split('.').next()?.parse().ok()
    }

    /// The minor version, if `number` has one.
    pub fn minor(&self) -> Option<u32> {
        self.version.number.split('.').nth(1)?.parse().ok()
    }
}

/// Accepts Elasticsearch 8.x and 9.x (and serverless); refuses others with a message
/// saying which version was found and what is supported.
pub fn check_version(url: &str, info: &ServerInfo) -> Result<(), EsError> {
    if info.is_serverless() {
        return Ok(());
    }
    match info.major() {
        Some(8) if info.minor().is_some_and(|m| m < 14) => {
            // Accepted (8.x is supported), but the Connector API calls Tributary makes
            // (`_check_in`, `_sync_job`, `_filtering/_validation`) arrived in 8.12–8.14.
            tracing::warn!(
                url,
                version = %info.version.number,
                "Elasticsearch before 8.14 lacks parts of the Connector API; some calls will fail"
            );
            Ok(())
        }
        Some(8 | 9) => Ok(()),
        Some(m) if m < 8 => Err(EsError::Unsupported {
            url: url.to_owned(),
            message: format!(
                "Elasticsearch {} is too old: Tributary needs 8.x or 9.x (the Connector API \
                 arrived in 8.12)",
                info.version.number
            ),
        }),
        _ => Err(EsError::Unsupported {
            url: url.to_owned(),
            message: format!(
                "Elasticsearch {} is not supported: Tributary supports 8.x and 9.x",
                info.version.number
            ),
        }),
    }
}

impl Client {
    /// Builds the client from `elasticsearch.*`. Reads `ca_certs` (the only file I/O).
    pub fn new(es: &ClientConfig) -> Result<Self, EsError> {
        let mut headers = HeaderMap::new();
        headers.insert(PRODUCT_ORIGIN.0, HeaderValue::from_static(PRODUCT_ORIGIN.1));
        for (k, v) in &es.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| EsError::Config(format!("invalid header name {k:?}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| EsError::Config(format!("invalid value for header {k}")))?;
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .default_headers(headers)
            .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION"), "/service"))
            .timeout(es.request_timeout)
            // A dead host should fail fast and be retried, not eat the whole timeout.
            .connect_timeout(es.request_timeout.min(Duration::from_secs(10)))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60));
        if !es.verify_certs {
            tracing::warn!(host = %es.host, "elasticsearch.verify_certs is false: the server certificate is not checked");
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(path) = &es.ca_certs {
            let pem = std::fs::read(path).map_err(|e| {
                EsError::Config(format!(
                    "cannot read elasticsearch.ca_certs {}: {e}",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                EsError::Config(format!(
                    "elasticsearch.ca_certs {}: not PEM certificates: {e}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(EsError::Config(format!(
                    "elasticsearch.ca_certs {}: no certificate found",
                    path.display()
                )));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| EsError::Config(format!("cannot build the HTTP client: {e}")))?;
        let base = es.host.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base)
            .map_err(|e| EsError::Config(format!("elasticsearch.host {base:?}: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                buffers: Mutex::new(Vec::new()),
            }),
            auth: Credentials::from_config(es).header()?,
            retry: RetryPolicy::from_config(es),
        })
    }

    /// The same client (same connection pool) with other credentials — used for a
    /// connector's own `api_key` on its data writes, as elastic-ingest does.
    pub fn with_credentials(&self, credentials: &Credentials) -> Result<Self, EsError> {
        Ok(Self {
            inner: Arc::clone(&self.inner),
            auth: credentials.header()?,
            retry: self.retry.clone(),
        })
    }

    /// [`Self::with_credentials`] with an encoded API key.
    pub fn with_api_key(&self, api_key: &str) -> Result<Self, EsError> {
        self.with_credentials(&Credentials::ApiKey(api_key.to_owned()))
    }

    /// The same client with another retry policy.
    pub fn with_retry_policy(&self, retry: RetryPolicy) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            auth: self.auth.clone(),
            retry,
        }
    }

    /// The retry policy in use.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// `elasticsearch.host` as configured (no trailing slash).
    pub fn url(&self) -> &str {
        &self.inner.base
    }

    /// Sends with the client's retry policy; non-2xx becomes an error.
    pub(crate) async fn execute(&self, req: &Request<'_>) -> Result<Response, EsError> {
        self.execute_with(req, &self.retry).await
    }

    pub(crate) async fn execute_with(
        &self,
        req: &Request<'_>,
        policy: &RetryPolicy,
    ) -> Result<Response, EsError> {
        let max = policy.max_attempts.max(1);
        // Set once an attempt may have reached the server without us seeing the answer.
        let mut ambiguous = false;
        let mut attempt = 1;
        loop {
            let err = match self.once(req).await {
                Ok(resp) if (200..300).contains(&resp.status) => return Ok(resp),
                Ok(resp) if resp.status == 404 && req.allow_404 => return Ok(resp),
                Ok(resp) => {
                    tributary_metrics::elasticsearch_error(&resp.status.to_string());
                    let retryable = is_retryable_status(resp.status);
                    let err = api_error(req, &resp, ambiguous);
                    if !retryable {
                        return Err(err);
                    }
                    // 429/503 are rejections before any work; a 500/502/504 (often from
                    // a proxy) may come after Elasticsearch applied the request.
                    ambiguous |= matches!(resp.status, 500 | 502 | 504);
                    err
                }
                Err(err) => {
                    tributary_metrics::elasticsearch_error(match &err {
                        EsError::Transport { timeout: true, .. } => "timeout",
                        _ => "transport",
                    });
                    ambiguous = true;
                    if matches!(err, EsError::Transport { timeout: true, .. })
                        && !policy.retry_on_timeout
                    {
                        return Err(err);
                    }
                    err
                }
            };
            if attempt >= max {
                return Err(err);
            }
            if req.path == "/_bulk" {
                // The sync counts the attempt that answered (or failed for good).
                tributary_metrics::bulk_request_retried();
            }
            let delay = policy.delay(attempt);
            tracing::warn!(
                method = %req.method,
                path = %req.path,
                attempt,
                max_attempts = max,
                status = err.status(),
                delay_ms = delay.as_millis() as u64,
                error = %err,
                "Elasticsearch request failed; retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn once(&self, req: &Request<'_>) -> Result<Response, EsError> {
        let url = format!("{}{}", self.inner.base, req.path);
        let mut rb = self.inner.http.request(req.method.clone(), &url);
        if !req.query.is_empty() {
            rb = rb.query(&req.query);
        }
        if let Some(auth) = &self.auth {
            rb = rb.header(AUTHORIZATION, auth.clone());
        }
        if let Some((body, content_type)) = &req.body {
            rb = rb
                .header(CONTENT_TYPE, *content_type)
                .body(reqwest::Body::from(body.clone()));
        }
        if let Some(t) = req.timeout {
            rb = rb.timeout(t);
        }
        let transport = |e: reqwest::Error| EsError::Transport {
            request: req.describe(),
            timeout: e.is_timeout(),
            message: describe_reqwest_error(&e),
        };
        let resp = rb.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let product = resp
            .headers()
            .get("x-elastic-product")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.bytes().await.map_err(transport)?;
        tracing::trace!(method = %req.method, path = %req.path, status, bytes = body.len(), "Elasticsearch response");
        Ok(Response {
            status,
            body,
            product,
        })
    }

    /// Sends and decodes a JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(&self, req: &Request<'_>) -> Result<T, EsError> {
        let resp = self.execute(req).await?;
        decode(req, &resp.body)
    }

    /// Any call not wrapped here (`GET /_license`, `POST /_security/api_key`, ...):
    /// `path` starts with `/` and is sent as given (encode ids with care); the JSON
    /// answer is returned. Same headers, auth and retries as every other call.
    pub async fn request_json(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, EsError> {
        let mut req = Request::new(method, path);
        if let Some(b) = body {
            req = req.json(b)?;
        }
        let resp = self.execute(&req).await?;
        if resp.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        decode(&req, &resp.body)
    }

    /// `GET /` once, no retries; checks the `X-Elastic-Product` header.
    pub async fn info(&self) -> Result<ServerInfo, EsError> {
        let req = Request::new(Method::GET, "/");
        let resp = self.execute_with(&req, &RetryPolicy::none()).await?;
        // Elasticsearch 8+ always sends it; the official clients refuse servers
        // without it (e.g. OpenSearch).
        if resp.product.as_deref() != Some("Elasticsearch") {
            return Err(EsError::Unsupported {
                url: self.inner.base.clone(),
                message: "the server does not identify as Elasticsearch (no \
                          `X-Elastic-Product: Elasticsearch` header); Tributary needs \
                          Elasticsearch 8.x or 9.x"
                    .into(),
            });
        }
        decode(&req, &resp.body)
    }

    /// Start-up: `GET /` until Elasticsearch answers, at most `max_attempts` times with
    /// `idle` between attempts (`service.preflight_max_attempts` / `preflight_idle`);
    /// then the product/version check. Wrong credentials fail at once (waiting would
    /// not fix them).
    pub async fn wait_for_elasticsearch(
        &self,
        max_attempts: u32,
        idle: Duration,
    ) -> Result<ServerInfo, EsError> {
        let started = Instant::now();
        let max_attempts = max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.info().await {
                Ok(info) => {
                    check_version(&self.inner.base, &info)?;
                    tracing::info!(
                        url = %self.inner.base,
                        version = %info.version.number,
                        cluster = %info.cluster_name,
                        "Elasticsearch is up"
                    );
                    return Ok(info);
                }
                Err(e) if !e.is_transient() => return Err(e),
                Err(e) if attempt >= max_attempts => {
                    return Err(EsError::Unreachable {
                        url: self.inner.base.clone(),
                        attempts: attempt,
                        waited_secs: started.elapsed().as_secs(),
                        last_error: e.to_string(),
                    })
                }
                Err(e) => {
                    tracing::warn!(
                        url = %self.inner.base,
                        attempt,
                        max_attempts,
                        retry_in_secs = idle.as_secs_f64(),
                        error = %e,
                        "waiting for Elasticsearch"
                    );
                    tokio::time::sleep(idle).await;
                    attempt += 1;
                }
            }
        }
    }

    /// A cleared buffer for a request body (reused from an earlier request when one
    /// was handed back).
    pub(crate) fn take_buffer(&self, capacity: usize) -> BytesMut {
        let reused = self.inner.buffers.lock().ok().and_then(|mut b| b.pop());
        match reused {
            Some(mut b) => {
                b.clear();
                b.reserve(capacity);
                b
            }
            None => BytesMut::with_capacity(capacity),
        }
    }

    /// Hands a body back for reuse once nothing else references it.
    pub(crate) fn return_buffer(&self, body: Bytes) {
        if let Ok(buf) = body.try_into_mut() {
            if let Ok(mut pool) = self.inner.buffers.lock() {
                // A few buffers cover the requests in flight; more would only hold memory.
                if pool.len() < 8 {
                    pool.push(buf);
                }
            }
        }
    }
}

pub(crate) fn decode<T: DeserializeOwned>(req: &Request<'_>, body: &[u8]) -> Result<T, EsError> {
    serde_json::from_slice(body).map_err(|e| EsError::Decode {
        request: req.describe(),
        message: e.to_string(),
    })
}

fn api_error(req: &Request<'_>, resp: &Response, ambiguous: bool) -> EsError {
    let (error_type, reason) = parse_error_body(&resp.body);
    if resp.status == 409 {
        return EsError::Conflict {
            request: req.describe(),
            error_type,
            reason,
            after_retry: ambiguous,
        };
    }
    let reason = match resp.status {
        401 => format!("{reason} (check elasticsearch.api_key or username/password)"),
        403 => format!("{reason} (the credentials lack a privilege for this request)"),
        _ => reason,
    };
    EsError::Api {
        request: req.describe(),
        status: resp.status,
        error_type,
        reason,
    }
}

/// reqwest's Display stops at the outermost error ("error sending request"); the
/// cause chain says what happened (connection refused, reset, certificate).
fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("my-connector_1.x"), "my-connector_1.x");
        assert_eq!(seg("a/b c#?"), "a%2Fb%20c%23%3F");
        assert_eq!(seg("é"), "%C3%A9");
    }

    fn info(number: &str, flavor: Option<&str>) -> ServerInfo {
        ServerInfo {
            name: String::new(),
            cluster_name: String::new(),
            tagline: String::new(),
            version: ServerVersion {
                number: number.into(),
                build_flavor: flavor.map(str::to_owned),
            },
        }
    }

    #[test]
    fn versions() {
        assert!(check_version("u", &info("8.15.0", None)).is_ok());
        assert!(check_version("u", &info("8.10.0", None)).is_ok());
        assert_eq!(info("8.10.3", None).minor(), Some(10));
        assert!(check_version("u", &info("9.1.2", Some("default"))).is_ok());
        assert!(check_version("u", &info("7.17.0", None))
            .unwrap_err()
            .to_string()
            .contains("too old"));
        assert!(check_version("u", &info("10.0.0", None))
            .unwrap_err()
            .to_string()
            .contains("not supported"));
        assert!(check_version("u", &info("8.11.0", Some("serverless"))).is_ok());
    }

    #[test]
    fn buffers_are_reused() {
        let c = Client::new(&ClientConfig::default()).unwrap();
        let mut b = c.take_buffer(1024);
        b.extend_from_slice(b"hello");
        let ptr = b.as_ptr();
        c.return_buffer(b.freeze());
        let again = c.take_buffer(16);
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty());
    }
}
