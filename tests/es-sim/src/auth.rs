//! Basic and ApiKey authentication, and the API keys created through `_security/api_key`.

use crate::http::{EsError, Principal, Req};
use base64::Engine;
use parking_lot::RwLock;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub key: String,
    pub owner: String,
    pub creation: i64,
    pub expiration: Option<i64>,
    pub invalidated: bool,
    pub metadata: Value,
    pub role_descriptors: Value,
    pub grants: Option<std::sync::Arc<crate::privileges::Grants>>,
}

pub struct AuthState {
    pub username: String,
    password: String,
    security: bool,
    pub keys: RwLock<HashMap<String, ApiKey>>,
}

pub fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl AuthState {
    pub fn new(username: &str, password: &str, security: bool) -> Self {
        AuthState {
            username: username.into(),
            password: password.into(),
            security,
            keys: RwLock::new(HashMap::new()),
        }
    }

    pub fn authenticate(&self, req: &Req) -> Result<Principal, EsError> {
        let anon = Principal {
            username: self.username.clone(),
            api_key: None,
            grants: None,
        };
        if !self.security {
            return Ok(anon);
        }
        let Some(h) = req.header("authorization") else {
            return Err(unauthorized(format!(
                "missing authentication credentials for REST request [{}]",
                req.uri
            )));
        };
        let (scheme, cred) = h.split_once(' ').unwrap_or((h, ""));
        let cred = cred.trim();
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(cred)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                let Some((user, pass)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                    return Err(unauthorized(format!(
                        "missing authentication credentials for REST request [{}]",
                        req.uri
                    )));
                };
                if user == self.username && pass == self.password {
                    Ok(Principal {
                        username: user.to_string(),
                        api_key: None,
                        grants: None,
                    })
                } else {
                    Err(unauthorized(format!(
                        "unable to authenticate user [{user}] for REST request [{}]",
                        req.uri
                    )))
                }
            }
            "apikey" => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(cred)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                let Some((id, key)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                    return Err(bad_key(req, "API key: invalid ApiKey value"));
                };
                let keys = self.keys.read();
                match keys.get(id) {
                    Some(k)
                        if k.key == key
                            && !k.invalidated
                            && k.expiration.is_none_or(|e| e > crate::http::now_millis()) =>
                    {
                        Ok(Principal {
                            username: k.owner.clone(),
                            api_key: Some((k.id.clone(), k.name.clone())),
                            grants: k.grants.clone(),
                        })
                    }
                    Some(_) => Err(bad_key(
                        req,
                        &format!("API key: invalid credentials for API key [{id}]"),
                    )),
                    None => Err(bad_key(
                        req,
                        &format!("API key: unable to find apikey with id {id}"),
                    )),
                }
            }
            _ => Err(unauthorized(format!(
                "missing authentication credentials for REST request [{}]",
                req.uri
            ))),
        }
    }
}

fn www_authenticate() -> Value {
    serde_json::json!(["Basic realm=\"security\", charset=\"UTF-8\"", "ApiKey"])
}

fn unauthorized(reason: String) -> EsError {
    let mut e = EsError::new(401, "security_exception", reason).with(
        "header",
        serde_json::json!({"WWW-Authenticate": www_authenticate()}),
    );
    e.headers.push((
        "WWW-Authenticate",
        "Basic realm=\"security\", charset=\"UTF-8\"".into(),
    ));
    e.headers.push(("WWW-Authenticate", "ApiKey".into()));
    e
}

fn bad_key(_req: &Req, detail: &str) -> EsError {
    unauthorized("unable to authenticate with provided credentials and anonymous access is not allowed for this request".into())
        .with("additional_unsuccessful_credentials", detail)
}

pub fn b64url(s: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}
