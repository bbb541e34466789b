//! The one Elasticsearch client: auth (API key or basic), TLS, the
//! `X-elastic-product-origin: connectors` header, timeouts, bounded retries with
//! backoff, start-up wait and version check; the connector and sync-job documents
//! and calls (Connector API and direct `.elastic-connectors*` access, as
//! elastic-ingest mixes them); `_bulk`; index admin. Knows nothing about plugins.
//!
//! Code map: [`client`] (HTTP, retries, wait), [`retry`], [`auth`], [`error`],
//! [`models`] (documents), [`documents`] (generic `_doc`/`_update`/`_search`),
//! [`connectors`], [`jobs`] (incl. the exactly-once claim), [`bulk`] (encode,
//! decode, `BulkTarget`), [`index`] (admin, count, delete-by-query).

pub mod auth;
pub mod bulk;
pub mod client;
mod config;
pub mod connectors;
pub mod documents;
pub mod error;
pub mod index;
pub mod jobs;
pub mod models;
pub mod retry;

pub use auth::Credentials;
pub use bulk::{decode_bulk, encode_bulk};
pub use client::{check_version, Client, ServerInfo, ServerVersion};
pub use config::ClientConfig;
pub use connectors::{LastSync, ListConnectors, ListResponse, CAS_ATTEMPTS, CONNECTORS_INDEX};
pub use documents::UpdateResult;
pub use error::EsError;
pub use jobs::{JobQuery, JobStats, JOBS_INDEX};
pub use models::*;
pub use retry::RetryPolicy;
