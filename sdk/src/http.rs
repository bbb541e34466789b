//! The outbound HTTP capability: requests to origins the operator allowed.
//!
//! The host checks every URL and redirect against the operator's allowlist
//! (`plugins.http.allowed_origins`), verifies TLS and caps response size, time
//! and requests per job. Credentials go by reference: name the configuration
//! fields and the host sets `Authorization` — the plugin never holds them.
//!
//! ```no_run
//! use tributary_sdk::http::{self, Auth, Request};
//! # fn run() -> Result<(), tributary_sdk::http::HttpError> {
//! let response = http::send(
//!     Request::post("https://api.example.com/graphql", br#"{"query":"{ me { id } }"}"#.to_vec())
//!         .header("content-type", "application/json")
//!         .auth(Auth::Bearer("token".into())),
//! )?;
//! assert_eq!(response.status, 200);
//! # Ok(()) }
//! ```

use std::time::Duration;

use crate::__bindings::tributary::connector::http as wit_http;

pub use wit_http::{Auth, HttpErrorKind, Method};

/// An HTTP error: its kind (origin not allowed, response too large …) and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HttpError {
    /// What was refused or failed.
    pub kind: HttpErrorKind,
    /// The host's message (names the URL and the limit or origin).
    pub message: String,
}

impl From<wit_http::HttpError> for HttpError {
    fn from(e: wit_http::HttpError) -> Self {
        HttpError {
            kind: e.kind,
            message: e.message,
        }
    }
}

impl From<HttpError> for crate::Error {
    fn from(e: HttpError) -> Self {
        match e.kind {
            HttpErrorKind::NotGranted
            | HttpErrorKind::InvalidUrl
            | HttpErrorKind::OriginNotAllowed
            | HttpErrorKind::MissingCredential
            | HttpErrorKind::InvalidHeader => crate::Error::config(e.message),
            HttpErrorKind::Connection | HttpErrorKind::Timeout => {
                crate::Error::connection(e.message)
            }
            _ => crate::Error::source(e.message),
        }
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    auth: Auth,
    timeout: Option<Duration>,
}

impl Request {
    /// A request without body or auth.
    pub fn new(method: Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            auth: Auth::None,
            timeout: None,
        }
    }

    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Request {
        Request::new(Method::Get, url)
    }

    /// `POST url` with `body`.
    pub fn post(url: impl Into<String>, body: Vec<u8>) -> Request {
        let mut r = Request::new(Method::Post, url);
        r.body = Some(body);
        r
    }

    /// Adds a header (the host refuses the ones it sets itself).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Credentials by reference (configuration field keys).
    pub fn auth(mut self, auth: Auth) -> Request {
        self.auth = auth;
        self
    }

    /// The plugin's own time bound (the operator's applies above it).
    pub fn timeout(mut self, t: Duration) -> Request {
        self.timeout = Some(t);
        self
    }
}

/// A response: status, final URL, headers and the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The URL that answered, after redirects.
    pub url: String,
    /// Response headers (names lower case).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends `request`; any HTTP status is a response.
pub fn send(request: Request) -> Result<Response, HttpError> {
    let r = wit_http::send(&wit_http::Request {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
        auth: request.auth,
        timeout_ms: request
            .timeout
            .map(|t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX)),
    })?;
    Ok(Response {
        status: r.status,
        url: r.url,
        headers: r.headers,
        body: r.body,
    })
}
