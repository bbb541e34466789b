//! What can go wrong talking to Elasticsearch.

/// An Elasticsearch call failed. Messages name the request (`GET /_connector/x`), and
/// for server errors carry ES's own `error.type`, `error.reason` and HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    /// Elasticsearch answered with an error (after retries, if it was retryable).
    #[error("{request}: {status} {error_type}: {reason}")]
    Api {
        /// `METHOD /path`.
        request: String,
        status: u16,
        /// ES's `error.type`, e.g. `resource_not_found_exception`.
        error_type: String,
        /// ES's `error.reason`.
        reason: String,
    },
    /// HTTP 409 (`version_conflict_engine_exception`): the document changed since it
    /// was read (or, for a create, already exists). `after_retry` is true when an
    /// earlier attempt of the same request timed out or lost its connection — that
    /// attempt may have been applied, so the conflict may be with ourselves; callers
    /// doing conditional writes should re-read and compare.
    #[error("{request}: 409 {error_type}: {reason}")]
    Conflict {
        request: String,
        error_type: String,
        reason: String,
        after_retry: bool,
    },
    /// The request never got an HTTP answer (connection refused/reset, timeout, TLS).
    #[error("{request}: {message}")]
    Transport {
        request: String,
        message: String,
        /// True for a timeout rather than a connection failure.
        timeout: bool,
    },
    /// Elasticsearch answered 2xx with a body we could not understand.
    #[error("{request}: unexpected response: {message}")]
    Decode { request: String, message: String },
    /// `wait_for_elasticsearch` gave up.
    #[error("Elasticsearch at {url} is not reachable after {attempts} attempts over {waited_secs} s: {last_error}")]
    Unreachable {
        url: String,
        attempts: u32,
        waited_secs: u64,
        last_error: String,
    },
    /// The server is not Elasticsearch 8.x/9.x.
    #[error("{url}: {message}")]
    Unsupported { url: String, message: String },
    /// The client could not be built (bad URL, header, CA file).
    #[error("Elasticsearch client configuration: {0}")]
    Config(String),
}

impl EsError {
    /// The HTTP status, when Elasticsearch answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::Conflict { .. } => Some(409),
            _ => None,
        }
    }

    /// ES's `error.type`, when Elasticsearch answered with an error.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            Self::Api { error_type, .. } | Self::Conflict { error_type, .. } => Some(error_type),
            _ => None,
        }
    }

    /// 404 of any kind (document, index or connector missing).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 409.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    /// 401 or 403: wrong credentials or missing privileges.
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// Worth trying again later: 429, 5xx, or no answer at all.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { status, .. } => super::retry::is_retryable_status(*status),
            Self::Transport { .. } | Self::Unreachable { .. } => true,
            _ => false,
        }
    }
}

/// Maps a client error onto the sync's two kinds of target failure.
impl From<EsError> for tributary_sync::TargetError {
    fn from(e: EsError) -> Self {
        if e.is_transient() {
            Self::Transient(e.to_string())
        } else {
            Self::Fatal(e.to_string())
        }
    }
}

/// Parses ES's error envelope `{"error": {"type", "reason", ...}, "status": N}` (or the
/// old string form `{"error": "..."}`); falls back to the start of the body.
pub(crate) fn parse_error_body(body: &[u8]) -> (String, String) {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Option<serde_json::Value>,
        // Some 404s (`GET _doc`) have no `error`, only `found: false`.
        found: Option<bool>,
        // `_delete_by_query` failures and some plugins use top-level `message`.
        message: Option<String>,
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
        match env.error {
            Some(serde_json::Value::Object(e)) => {
                let t = e.get("type").and_then(|v| v.as_str()).unwrap_or("error");
                let mut reason = e
                    .get("reason")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned();
                // The root cause often says more than the wrapper (e.g. search failures).
                if let Some(cause) = e
                    .get("caused_by")
                    .and_then(|c| c.get("reason"))
                    .and_then(|r| r.as_str())
                {
                    if !reason.contains(cause) {
                        reason = format!("{reason} (caused by: {cause})");
                    }
                }
                return (t.to_owned(), reason);
            }
            Some(serde_json::Value::String(s)) => return ("error".into(), s),
            _ => {}
        }
        if env.found == Some(false) {
            return ("not_found".into(), "document not found".into());
        }
        if let Some(m) = env.message {
            return ("error".into(), m);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let short: String = text.chars().take(300).collect();
    (
        "http_error".into(),
        if short.is_empty() {
            "(empty body)".into()
        } else {
            short
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope() {
        let body = br#"{"error":{"root_cause":[],"type":"resource_not_found_exception","reason":"connector [x] not found"},"status":404}"#;
        assert_eq!(
            parse_error_body(body),
            (
                "resource_not_found_exception".into(),
                "connector [x] not found".into()
            )
        );
    }

    #[test]
    fn caused_by_is_appended() {
        let body = br#"{"error":{"type":"search_phase_execution_exception","reason":"all shards failed","caused_by":{"type":"x","reason":"bad field"}}}"#;
        let (_, reason) = parse_error_body(body);
        assert_eq!(reason, "all shards failed (caused by: bad field)");
    }

    #[test]
    fn odd_bodies() {
        assert_eq!(parse_error_body(br#"{"error":"boom"}"#).1, "boom");
        assert_eq!(
            parse_error_body(br#"{"_id":"a","found":false}"#).0,
            "not_found"
        );
        assert_eq!(
            parse_error_body(b"<html>bad gateway</html>").1,
            "<html>bad gateway</html>"
        );
        assert_eq!(parse_error_body(b"").1, "(empty body)");
    }

    #[test]
    fn classification() {
        let api = |status| EsError::Api {
            request: "GET /".into(),
            status,
            error_type: "t".into(),
            reason: "r".into(),
        };
        assert!(api(503).is_transient() && api(429).is_transient());
        assert!(!api(400).is_transient() && api(401).is_auth() && api(404).is_not_found());
        let msg = api(404).to_string();
        assert_eq!(msg, "GET /: 404 t: r");
    }
}
