//! Test helpers: a started es-sim and a small JSON client for it.
#![allow(dead_code)]

use es_sim::{Options, Server};
use serde_json::Value;
use std::time::Duration;

pub struct Sim {
    pub server: Server,
    pub base: String,
    pub http: reqwest::Client,
    /// Sent as `X-elastic-product-origin` when set (needed for the connector system indices).
    pub origin: Option<&'static str>,
    /// An encoded API key to authenticate with instead of `elastic`'s password.
    pub api_key: Option<String>,
}

pub struct Res {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Res {
    pub fn err_type(&self) -> &str {
        self.body["error"]["type"].as_str().unwrap_or("")
    }
    pub fn reason(&self) -> &str {
        self.body["error"]["reason"].as_str().unwrap_or("")
    }
}

pub async fn start_with(opts: Options) -> Sim {
    let server = Server::start(opts).await.expect("es-sim starts");
    let base = server.url();
    Sim {
        server,
        base,
        http: reqwest::Client::new(),
        origin: Some("connectors"),
        api_key: None,
    }
}

/// A server whose automatic refresh never fires during a test (visibility must be explicit).
pub async fn start() -> Sim {
    start_with(Options {
        refresh_interval: Duration::from_secs(3600),
        ..Default::default()
    })
    .await
}

impl Sim {
    pub async fn raw(
        &self,
        method: &str,
        path: impl AsRef<str>,
        body: Option<Vec<u8>>,
        ctype: &str,
    ) -> Res {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self
            .http
            .request(m, format!("{}{}", self.base, path.as_ref()));
        r = match &self.api_key {
            Some(k) => r.header("Authorization", format!("ApiKey {k}")),
            None => r.basic_auth("elastic", Some("changeme")),
        };
        if let Some(o) = self.origin {
            r = r.header("X-elastic-product-origin", o);
        }
        if let Some(b) = body {
            r = r.header("content-type", ctype).body(b);
        }
        let resp = r.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Res {
            status,
            body,
            headers,
        }
    }

    pub async fn call(&self, method: &str, path: impl AsRef<str>, body: Option<Value>) -> Res {
        self.raw(
            method,
            path,
            body.map(|b| serde_json::to_vec(&b).expect("json")),
            "application/json",
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Res {
        self.call("GET", path, None).await
    }

    pub async fn bulk(&self, path: &str, ndjson: &str) -> Res {
        self.raw(
            "POST",
            path,
            Some(ndjson.as_bytes().to_vec()),
            "application/x-ndjson",
        )
        .await
    }
}
