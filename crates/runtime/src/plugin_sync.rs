//! One sync job's instance, seen by `sync/` as a [`DocumentSource`].

use std::sync::Arc;

use async_trait::async_trait;
use wasmtime::component::ResourceAny;

use super::convert;
use super::error::PluginError;
use super::instance::Instance;
use super::secrets::Secrets;
use tributary_sync::document::Document;
use tributary_sync::{DocumentSource, SourceError};

/// A running sync: one store and instance for the whole job.
pub struct PluginSync {
    instance: Instance,
    sync: ResourceAny,
    label: Arc<str>,
    secrets: Secrets,
    finished: bool,
    batches: u64,
    documents: u64,
    /// Empty batches in a row (a source that neither sends nor ends).
    empty_run: u64,
}

/// Empty batches in a row after which the host waits between calls (backoff, up
/// to [`MAX_EMPTY_BACKOFF`]) until `Limits::max_empty_batches` stops the sync:
/// with the default 200, about 20 seconds of nothing.
const EMPTY_BATCHES_BEFORE_BACKOFF: u64 = 16;
const MAX_EMPTY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

impl PluginSync {
    pub(crate) fn new(
        instance: Instance,
        sync: ResourceAny,
        label: Arc<str>,
        secrets: Secrets,
    ) -> Self {
        PluginSync {
            instance,
            sync,
            label,
            secrets,
            finished: false,
            batches: 0,
            documents: 0,
            empty_run: 0,
        }
    }

    /// The next batch, converted and validated; `None` once the plugin is done.
    /// Empty batches are skipped; a plugin that only sends empty batches is slowed
    /// down and then stopped ([`PluginError::NoProgress`]).
    pub async fn next(&mut self) -> Result<Option<Vec<Document>>, PluginError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let returned = self.instance.next_batch(self.sync).await?;
            // Documents the host shaped during the call come first (WIT `shaping`).
            let mut docs = self
                .instance
                .take_shaped()
                .map_err(|message| self.contract(message))?;
            match returned {
                Ok(Some(batch)) => {
                    let converted =
                        convert::batch(batch).map_err(|message| self.contract(message))?;
                    if docs.is_empty() {
                        docs = converted;
                    } else {
                        docs.extend(converted);
                    }
                    self.batches += 1;
                    if docs.is_empty() {
                        self.empty_batch().await?;
                        continue;
                    }
                    self.empty_run = 0;
                    self.documents += docs.len() as u64;
                    return Ok(Some(docs));
                }
                Ok(None) => {
                    self.finished = true;
                    tracing::debug!(plugin = %self.label, batches = self.batches, documents = self.documents, "sync exhausted");
                    if docs.is_empty() {
                        return Ok(None);
                    }
                    self.documents += docs.len() as u64;
                    return Ok(Some(docs));
                }
                Err(e) => {
                    return Err(PluginError::Reported {
                        plugin: self.label.to_string(),
                        kind: convert::error_kind(e.kind),
                        message: e.message,
                    }
                    .masked(&self.secrets))
                }
            }
        }
    }

    fn contract(&self, message: String) -> PluginError {
        PluginError::Contract {
            plugin: self.label.to_string(),
            message,
        }
        .masked(&self.secrets)
    }

    async fn empty_batch(&mut self) -> Result<(), PluginError> {
        self.empty_run += 1;
        if self.empty_run >= self.instance.limits().max_empty_batches {
            return Err(PluginError::NoProgress {
                plugin: self.label.to_string(),
                batches: self.empty_run,
            });
        }
        if self.empty_run > EMPTY_BATCHES_BEFORE_BACKOFF {
            let exp = (self.empty_run - EMPTY_BATCHES_BEFORE_BACKOFF).min(10) as u32;
            let wait = std::time::Duration::from_millis(1 << exp).min(MAX_EMPTY_BACKOFF);
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// The cursor to persist after a successful incremental sync (JSON text).
    pub async fn cursor_text(&mut self) -> Result<Option<String>, PluginError> {
        let Some(cursor) = self.instance.cursor(self.sync).await? else {
            return Ok(None);
        };
        // Stored on the connector as JSON: one value, re-encoded.
        tributary_sync::document::json_text::compact(&cursor)
            .map(Some)
            .map_err(|e| PluginError::Contract {
                plugin: self.label.to_string(),
                message: format!("cursor is not one JSON value: {e}"),
            })
    }

    /// Bytes of linear memory the instance holds now.
    pub fn memory_bytes(&self) -> usize {
        self.instance.memory_bytes()
    }

    /// The plugin label (`service type (file)`).
    pub fn label(&self) -> &str {
        &self.label
    }
}

#[async_trait]
impl DocumentSource for PluginSync {
    async fn next_batch(&mut self) -> Result<Option<Vec<Document>>, SourceError> {
        self.next().await.map_err(SourceError::from)
    }

    async fn cursor(&mut self) -> Result<Option<String>, SourceError> {
        self.cursor_text().await.map_err(SourceError::from)
    }
}
