//! What the client needs to reach Elasticsearch: the connection part of
//! elastic-ingest's `elasticsearch.*` keys. The `tributary` binary reads config.yml
//! and converts its section into this.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Endpoint, credentials, TLS, timeouts and the retry policy of one client.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// `host`, default `http://localhost:9200`.
    pub host: String,
    /// `api_key` (encoded `id:key`, base64); preferred over username/password.
    pub api_key: Option<String>,
    /// `username`, default `elastic`.
    pub username: String,
    /// `password`, default `changeme`.
    pub password: String,
    /// `verify_certs`, default true. False accepts any server certificate.
    pub verify_certs: bool,
    /// `ca_certs`: PEM file with the CA(s) that signed the server certificate.
    pub ca_certs: Option<PathBuf>,
    /// `retry_on_timeout`, default true: timeouts are retried like 5xx.
    pub retry_on_timeout: bool,
    /// `request_timeout`, default 240 s.
    pub request_timeout: Duration,
    /// `initial_backoff_duration`, default 1 s: first retry delay.
    pub initial_backoff_duration: Duration,
    /// `backoff_multiplier`, default 2.
    pub backoff_multiplier: f64,
    /// `max_retries`, default 5.
    pub max_retries: u32,
    /// `retry_interval`, default 10 s: the longest delay between retries.
    pub retry_interval: Duration,
    /// `headers`: sent with every request.
    pub headers: BTreeMap<String, String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            host: "http://localhost:9200".into(),
            api_key: None,
            username: "elastic".into(),
            password: "changeme".into(),
            verify_certs: true,
            ca_certs: None,
            retry_on_timeout: true,
            request_timeout: Duration::from_secs(240),
            initial_backoff_duration: Duration::from_secs(1),
            backoff_multiplier: 2.0,
            max_retries: 5,
            retry_interval: Duration::from_secs(10),
            headers: BTreeMap::new(),
        }
    }
}
