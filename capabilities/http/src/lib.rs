//! The outbound HTTP capability: the only place that sends HTTP on a plugin's
//! behalf. Free of wasmtime; the runtime binds it to the WIT interface.
//!
//! A Tributary interface rather than `wasi:http`: the host sees one whole request
//! (URL, headers, auth by reference) instead of a stream of resources, so it can
//! check the origin with a real URL parser before connecting, check every
//! redirect the same way, insert credentials the plugin never holds, and cap
//! response size, time and request count — without wasmtime-wasi-http and its
//! hyper stack (reqwest with rustls is already the host's client).
//!
//! - [`origin`]: the operator's allowlist (`plugins.http.allowed_origins`).
//! - [`HttpGrant::send`]: one request, under the job's caps.

pub mod origin;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

pub use origin::{AllowedOrigin, Allowlist};

/// The config.yml key of the operator's grant.
pub const ORIGINS_KEY: &str = "plugins.http.allowed_origins";

/// Redirects followed per request (each checked against the allowlist).
pub const MAX_REDIRECTS: usize = 10;

/// Everything the HTTP capability refuses or fails at, each named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("the http capability is not granted: list the origins plugins may call under {ORIGINS_KEY} in config.yml")]
    NotGranted,
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("origin {origin} is not allowed (requested {url}); add it to {ORIGINS_KEY}")]
    OriginNotAllowed { url: String, origin: String },
    #[error("redirect from {from} to {to} refused: origin {origin} is not in {ORIGINS_KEY}")]
    RedirectNotAllowed {
        from: String,
        to: String,
        origin: String,
    },
    #[error("{url}: more than {max} redirects")]
    TooManyRedirects { url: String, max: usize },
    #[error(
        "the response of {url} is larger than {limit} bytes (plugins.http.max_response_bytes)"
    )]
    ResponseTooLarge { url: String, limit: u64 },
    #[error("{url}: no complete response within {millis} ms")]
    Timeout { url: String, millis: u64 },
    #[error(
        "this job has made {limit} requests, the most plugins.http.max_requests_per_job allows"
    )]
    RequestLimit { limit: u64 },
    #[error("the request's auth names configuration field `{key}`, which is not set")]
    MissingCredential { key: String },
    #[error("header {name:?} refused: {reason}")]
    InvalidHeader { name: String, reason: String },
    #[error("{url}: {message}")]
    Connection { url: String, message: String },
}

impl HttpError {
    /// A short stable name of the error's kind (the WIT `http-error-kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            HttpError::NotGranted => "not-granted",
            HttpError::InvalidUrl { .. } => "invalid-url",
            HttpError::OriginNotAllowed { .. } => "origin-not-allowed",
            HttpError::RedirectNotAllowed { .. } => "redirect-not-allowed",
            HttpError::TooManyRedirects { .. } => "too-many-redirects",
            HttpError::ResponseTooLarge { .. } => "response-too-large",
            HttpError::Timeout { .. } => "timeout",
            HttpError::RequestLimit { .. } => "request-limit",
            HttpError::MissingCredential { .. } => "missing-credential",
            HttpError::InvalidHeader { .. } => "invalid-header",
            HttpError::Connection { .. } => "connection",
        }
    }
}

/// What the operator grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Origins plugins may call; empty = the capability is off.
    pub allowlist: Allowlist,
    /// Largest response body accepted (default 16 MiB).
    pub max_response_bytes: u64,
    /// One request, redirects and body included (default 30 s).
    pub request_timeout: Duration,
    /// Requests one job may send (default 10000).
    pub max_requests_per_job: u64,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            allowlist: Allowlist::default(),
            max_response_bytes: 16 << 20,
            request_timeout: Duration::from_secs(30),
            max_requests_per_job: 10_000,
        }
    }
}

impl HttpPolicy {
    /// Whether the operator granted the capability at all.
    pub fn is_granted(&self) -> bool {
        !self.allowlist.is_empty()
    }
}

/// Request methods a plugin may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Head,
}

/// Credentials by reference: configuration fields the host reads and turns
/// into a header; the plugin only names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// `Authorization: Bearer <value of field>`.
    Bearer {
        token_key: String,
    },
    /// `Authorization: Basic base64(<username>:<password>)`.
    Basic {
        username_key: String,
        password_key: String,
    },
}

/// One request as a plugin asks for it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub auth: Auth,
    /// The plugin's own bound, below the operator's.
    pub timeout: Option<Duration>,
}

/// A response: the whole body, within the cap.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The URL that answered (after redirects).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Raised from the redirect policy; found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("redirect to {to} refused")]
struct RedirectRefused {
    to: String,
    origin: String,
}

#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirects;

/// Headers the host sets itself: a plugin cannot set them.
fn host_owned(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "te"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-connection"
    )
}

/// One job's grant: the connector's values (for credentials), the policy, the
/// job's request count.
#[derive(Debug, Clone)]
pub struct HttpGrant {
    policy: Arc<HttpPolicy>,
    values: Arc<Map<String, Value>>,
    requests: Arc<AtomicU64>,
    client: Arc<OnceLock<reqwest::Client>>,
}

impl HttpGrant {
    /// The grant of a job whose connector configuration is `values`.
    pub fn new(values: Map<String, Value>, policy: Arc<HttpPolicy>) -> Self {
        HttpGrant {
            policy,
            values: Arc::new(values),
            requests: Arc::new(AtomicU64::new(0)),
            client: Arc::new(OnceLock::new()),
        }
    }

    /// Requests sent so far by this job.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn client(&self) -> Result<&reqwest::Client, HttpError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let allow = self.policy.allowlist.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(TooManyRedirects);
            }
            if allow.allows(attempt.url()) {
                attempt.follow()
            } else {
                let err = RedirectRefused {
                    to: attempt.url().to_string(),
                    origin: origin::origin_of(attempt.url()),
                };
                attempt.error(err)
            }
        });
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(redirects)
            // The allowlist is about where requests go: no proxy from the environment.
            .no_proxy()
            .timeout(self.policy.request_timeout)
            .build()
            .map_err(|e| HttpError::Connection {
                url: String::new(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(self.client.get_or_init(|| client))
    }

    fn credential(&self, key: &str) -> Result<String, HttpError> {
        match self.values.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(HttpError::MissingCredential {
                key: key.to_string(),
            }),
        }
    }

    /// Sends one request: the URL and every redirect checked against the
    /// allowlist, credentials added by the host, the response capped.
    pub async fn send(&self, req: Request) -> Result<Response, HttpError> {
        if !self.policy.is_granted() {
            return Err(HttpError::NotGranted);
        }
        let url = origin::parse_url(&req.url)?;
        if !self.policy.allowlist.allows(&url) {
            return Err(HttpError::OriginNotAllowed {
                url: url.to_string(),
                origin: origin::origin_of(&url),
            });
        }
        let limit = self.policy.max_requests_per_job;
        if self.requests.fetch_add(1, Ordering::Relaxed) >= limit {
            return Err(HttpError::RequestLimit { limit });
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &req.headers {
            let invalid = |reason: String| HttpError::InvalidHeader {
                name: name.clone(),
                reason,
            };
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
            if host_owned(&n) || (n == reqwest::header::AUTHORIZATION && req.auth != Auth::None) {
                return Err(invalid("the host sets this header".into()));
            }
            let v = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
            headers.append(n, v);
        }
        // Secrets the host adds: masked in whatever comes back.
        let mut secrets: Vec<String> = Vec::new();
        let auth_value = match &req.auth {
            Auth::None => None,
            Auth::Bearer { token_key } => {
                let token = self.credential(token_key)?;
                let v = format!("Bearer {token}");
                secrets.push(token);
                Some(v)
            }
            Auth::Basic {
                username_key,
                password_key,
            } => {
                let user = self.credential(username_key)?;
                let pass = self.credential(password_key)?;
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                secrets.push(pass);
                secrets.push(encoded.clone());
                Some(format!("Basic {encoded}"))
            }
        };
        if let Some(v) = auth_value {
            let mut hv = HeaderValue::from_str(&v).map_err(|_| HttpError::InvalidHeader {
                name: "authorization".into(),
                reason: "the credential is not a valid header value".into(),
            })?;
            // Sensitive: not logged, and reqwest drops it on a cross-origin redirect.
            hv.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, hv);
        }
        let timeout = req.timeout.map_or(self.policy.request_timeout, |t| {
            t.min(self.policy.request_timeout)
        });
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Head => reqwest::Method::HEAD,
        };
        let shown = url.to_string();
        let mut builder = self
            .client()?
            .request(method, url)
            .headers(headers)
            .timeout(timeout);
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let started = std::time::Instant::now();
        let mut resp = builder
            .send()
            .await
            .map_err(|e| self.error(&shown, timeout, e))?;
        let status = resp.status().as_u16();
        let final_url = resp.url().to_string();
        let cap = self.policy.max_response_bytes;
        if resp.content_length().is_some_and(|n| n > cap) {
            return Err(HttpError::ResponseTooLarge {
                url: final_url,
                limit: cap,
            });
        }
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                let text = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_string(), mask_text(text, &secrets))
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.error(&final_url, timeout, e))?
        {
            if body.len() as u64 + chunk.len() as u64 > cap {
                return Err(HttpError::ResponseTooLarge {
                    url: final_url,
                    limit: cap,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let body = mask_bytes(body, &secrets);
        tracing::debug!(url = %final_url, status, bytes = body.len(), ms = started.elapsed().as_millis() as u64, "http request");
        Ok(Response {
            status,
            url: final_url,
            headers,
            body,
        })
    }

    fn error(&self, url: &str, timeout: Duration, e: reqwest::Error) -> HttpError {
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = src {
            if let Some(r) = s.downcast_ref::<RedirectRefused>() {
                return HttpError::RedirectNotAllowed {
                    from: url.to_string(),
                    to: r.to.clone(),
                    origin: r.origin.clone(),
                };
            }
            if s.downcast_ref::<TooManyRedirects>().is_some() {
                return HttpError::TooManyRedirects {
                    url: url.to_string(),
                    max: MAX_REDIRECTS,
                };
            }
            src = s.source();
        }
        if e.is_timeout() {
            return HttpError::Timeout {
                url: url.to_string(),
                millis: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            };
        }
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        HttpError::Connection {
            url: url.to_string(),
            message,
        }
    }
}

/// Secrets shorter than this are not masked (too likely to garble data).
const MIN_MASKED: usize = 4;

fn mask_text(text: String, secrets: &[String]) -> String {
    let mut out = text;
    for s in secrets.iter().filter(|s| s.len() >= MIN_MASKED) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "********");
        }
    }
    out
}

fn mask_bytes(body: Vec<u8>, secrets: &[String]) -> Vec<u8> {
    let mut out = body;
    for s in secrets.iter().filter(|s| s.len() >= MIN_MASKED) {
        let needle = s.as_bytes();
        if !out.windows(needle.len()).any(|w| w == needle) {
            continue;
        }
        let mut masked = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(needle) {
                masked.extend_from_slice(b"********");
                i += needle.len();
            } else {
                masked.push(out[i]);
                i += 1;
            }
        }
        out = masked;
    }
    out
}
