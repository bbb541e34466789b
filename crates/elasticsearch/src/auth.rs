//! Credentials: an API key (preferred, as in elastic-ingest) or basic auth.

use base64::Engine;
use reqwest::header::HeaderValue;

use super::EsError;
use crate::ClientConfig;

/// How requests authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: ApiKey <encoded>`; `encoded` is base64 of `id:key` (what
    /// `POST /_security/api_key` returns as `encoded`). A raw `id:key` is encoded for you.
    ApiKey(String),
    /// `Authorization: Basic ...`.
    Basic { username: String, password: String },
    /// No `Authorization` header (security disabled).
    None,
}

// Secrets stay out of logs.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey(***)"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Self::None => f.write_str("None"),
        }
    }
}

impl Credentials {
    /// `api_key` wins over username/password; both empty → no auth.
    pub fn from_config(es: &ClientConfig) -> Self {
        if let Some(key) = es.api_key.as_deref().filter(|k| !k.trim().is_empty()) {
            // elastic-ingest warns when both are given and the basic ones are not the
            // defaults: the operator may believe the username is in use.
            let basic_set = !es.username.is_empty() || !es.password.is_empty();
            let defaults = es.username == "elastic" && es.password == "changeme";
            if basic_set && !defaults {
                tracing::warn!(
                    username = %es.username,
                    "both elasticsearch.api_key and username/password are set; using the API key"
                );
            }
            return Self::ApiKey(key.trim().to_owned());
        }
        if es.username.is_empty() && es.password.is_empty() {
            return Self::None;
        }
        Self::Basic {
            username: es.username.clone(),
            password: es.password.clone(),
        }
    }

    /// The `Authorization` header value, marked sensitive.
    pub fn header(&self) -> Result<Option<HeaderValue>, EsError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let text = match self {
            Self::None => return Ok(None),
            // Base64 has no ':'; a key with one is the raw `id:key` form.
            Self::ApiKey(k) if k.contains(':') => format!("ApiKey {}", b64.encode(k)),
            Self::ApiKey(k) => format!("ApiKey {k}"),
            Self::Basic { username, password } => {
                format!("Basic {}", b64.encode(format!("{username}:{password}")))
            }
        };
        let mut v = HeaderValue::from_str(&text).map_err(|_| {
            EsError::Config(
                "the API key or password contains characters not allowed in an HTTP header".into(),
            )
        })?;
        v.set_sensitive(true);
        Ok(Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_wins() {
        let es = ClientConfig {
            api_key: Some("ZW5jb2RlZA==".into()),
            ..Default::default()
        };
        let c = Credentials::from_config(&es);
        assert_eq!(c, Credentials::ApiKey("ZW5jb2RlZA==".into()));
        assert_eq!(c.header().unwrap().unwrap(), "ApiKey ZW5jb2RlZA==");
        assert_eq!(format!("{c:?}"), "ApiKey(***)");
    }

    #[test]
    fn raw_id_key_is_encoded() {
        let c = Credentials::ApiKey("id:key".into());
        assert_eq!(c.header().unwrap().unwrap(), "ApiKey aWQ6a2V5");
    }

    #[test]
    fn basic_by_default() {
        let c = Credentials::from_config(&ClientConfig::default());
        // base64("elastic:changeme")
        assert_eq!(
            c.header().unwrap().unwrap(),
            "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="
        );
        let none = ClientConfig {
            username: String::new(),
            password: String::new(),
            ..Default::default()
        };
        assert_eq!(Credentials::from_config(&none).header().unwrap(), None);
    }
}
