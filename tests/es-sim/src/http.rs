//! Request/response types shared by all handlers, and Elasticsearch's error envelope.

use bytes::Bytes;
use hyper::{HeaderMap, Method, StatusCode};
use serde_json::{json, Map, Value};

/// Who is calling (after authentication).
#[derive(Clone, Debug)]
pub struct Principal {
    pub username: String,
    /// Set when the caller authenticated with an API key.
    pub api_key: Option<(String, String)>,
    /// The key's limits; `None` for a superuser (the owner, or a key without role descriptors).
    pub grants: Option<std::sync::Arc<crate::privileges::Grants>>,
}

pub struct Req {
    pub method: Method,
    /// Raw path and query, for error messages ("... for REST request [/x?y]").
    pub uri: String,
    /// Percent-decoded path segments; empty segments are kept (`/_connector//_name`).
    pub segs: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub principal: Principal,
}

impl Req {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter; a bare `?flag` means true, like Elasticsearch.
    pub fn flag(&self, k: &str, default: bool) -> Result<bool, EsError> {
        match self.param(k) {
            None => Ok(default),
            Some("") | Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(EsError::illegal_argument(format!(
                "Failed to parse value [{v}] as only [true] or [false] are allowed."
            ))),
        }
    }

    pub fn param_usize(&self, k: &str) -> Result<Option<i64>, EsError> {
        match self.param(k) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                EsError::illegal_argument(format!(
                    "Failed to parse int parameter [{k}] with value [{v}]"
                ))
            }),
        }
    }

    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }

    /// True when the caller identifies as a product allowed to touch system indices.
    pub fn system_origin(&self) -> bool {
        matches!(
            self.header("x-elastic-product-origin")
                .map(|s| s.to_ascii_lowercase())
                .as_deref(),
            Some("connectors") | Some("kibana")
        )
    }

    pub fn has_body(&self) -> bool {
        self.body.iter().any(|b| !b.is_ascii_whitespace())
    }

    /// Parses the body as a JSON object; an absent body is `None`.
    pub fn json_body(&self) -> Result<Option<Map<String, Value>>, EsError> {
        if !self.has_body() {
            return Ok(None);
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            Ok(_) => Err(EsError::parse("request body must be a JSON object")),
            Err(e) => Err(EsError::json_parse(&e)),
        }
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub body: Bytes,
    pub headers: Vec<(&'static str, String)>,
}

impl Resp {
    pub fn json(status: u16, v: &Value) -> Resp {
        let body = serde_json::to_vec(v).unwrap_or_default();
        Resp::raw(status, body)
    }

    pub fn ok(v: Value) -> Resp {
        Resp::json(200, &v)
    }

    pub fn raw(status: u16, body: Vec<u8>) -> Resp {
        Resp {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: Bytes::from(body),
            headers: Vec::new(),
        }
    }

    pub fn empty(status: u16) -> Resp {
        Resp::raw(status, Vec::new())
    }
}

/// An Elasticsearch error: rendered as `{"error": {"root_cause": [...], "type", "reason", ...}, "status"}`.
#[derive(Debug, Clone)]
pub struct EsError(Box<ErrorBody>);

#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub status: u16,
    pub ty: String,
    pub reason: String,
    /// Extra keys next to type/reason (e.g. `index`, `resource.id`).
    pub extra: Map<String, Value>,
    /// Overrides the root cause (defaults to this error without `caused_by`).
    pub root_cause: Option<Value>,
    pub caused_by: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

// Boxed so that `Result<_, EsError>` stays small on the happy path.
impl std::ops::Deref for EsError {
    type Target = ErrorBody;
    fn deref(&self) -> &ErrorBody {
        &self.0
    }
}

impl std::ops::DerefMut for EsError {
    fn deref_mut(&mut self) -> &mut ErrorBody {
        &mut self.0
    }
}

impl EsError {
    pub fn new(status: u16, ty: &str, reason: impl Into<String>) -> EsError {
        EsError(Box::new(ErrorBody {
            status,
            ty: ty.to_string(),
            reason: reason.into(),
            extra: Map::new(),
            root_cause: None,
            caused_by: None,
            headers: Vec::new(),
        }))
    }

    pub fn with(mut self, k: &str, v: impl Into<Value>) -> EsError {
        self.extra.insert(k.to_string(), v.into());
        self
    }

    pub fn illegal_argument(reason: impl Into<String>) -> EsError {
        EsError::new(400, "illegal_argument_exception", reason)
    }

    pub fn validation(problems: &[&str]) -> EsError {
        let mut r = String::from("Validation Failed: ");
        for (i, p) in problems.iter().enumerate() {
            r.push_str(&format!("{}: {};", i + 1, p));
        }
        EsError::new(400, "action_request_validation_exception", r)
    }

    pub fn status_exception(reason: impl Into<String>) -> EsError {
        EsError::new(400, "status_exception", reason)
    }

    pub fn parse(reason: impl Into<String>) -> EsError {
        EsError::new(400, "parse_exception", reason)
    }

    pub fn x_content(reason: impl Into<String>) -> EsError {
        EsError::new(400, "x_content_parse_exception", reason)
    }

    pub fn json_parse(e: &serde_json::Error) -> EsError {
        EsError::x_content(format!("[{}:{}] {}", e.line(), e.column(), e))
    }

    pub fn not_found(reason: impl Into<String>) -> EsError {
        EsError::new(404, "resource_not_found_exception", reason)
    }

    pub fn index_not_found(index: &str) -> EsError {
        EsError::new(
            404,
            "index_not_found_exception",
            format!("no such index [{index}]"),
        )
        .with("resource.type", "index_or_alias")
        .with("resource.id", index)
        .with("index_uuid", "_na_")
        .with("index", index)
    }

    /// The error object (type, reason, extras) without the root-cause list.
    pub fn cause_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::String(self.ty.clone()));
        m.insert("reason".into(), Value::String(self.reason.clone()));
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        if let Some(c) = &self.caused_by {
            m.insert("caused_by".into(), c.clone());
        }
        Value::Object(m)
    }

    pub fn to_json(&self) -> Value {
        let mut cause = self.cause_json();
        let root = match &self.root_cause {
            Some(r) => r.clone(),
            None => {
                let mut r = cause.clone();
                if let Some(o) = r.as_object_mut() {
                    o.remove("caused_by");
                }
                json!([r])
            }
        };
        if let Some(o) = cause.as_object_mut() {
            let mut full = Map::new();
            full.insert("root_cause".into(), root);
            for (k, v) in std::mem::take(o) {
                full.insert(k, v);
            }
            *o = full;
        }
        json!({"error": cause, "status": self.status})
    }

    pub fn into_resp(self) -> Resp {
        let mut r = Resp::json(self.status, &self.to_json());
        r.headers = self.0.headers;
        r
    }
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Percent-decodes one URL component (`+` is left alone in paths, decoded in queries).
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
