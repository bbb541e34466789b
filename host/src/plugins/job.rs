//! One sync job's instance, seen by `sync/` as a [`DocumentSource`].

use std::sync::Arc;

use async_trait::async_trait;
use wasmtime::component::ResourceAny;

use super::convert;
use super::error::PluginError;
use super::instance::Instance;
use crate::document::Document;
use crate::sync::{DocumentSource, SourceError};

/// A running sync: one store and instance for the whole job.
pub struct PluginSync {
    instance: Instance,
    sync: ResourceAny,
    label: Arc<str>,
    finished: bool,
    batches: u64,
    documents: u64,
}

impl PluginSync {
    pub(crate) fn new(instance: Instance, sync: ResourceAny, label: Arc<str>) -> Self {
        PluginSync {
            instance,
            sync,
            label,
            finished: false,
            batches: 0,
            documents: 0,
        }
    }

    /// The next batch, converted and validated; `None` once the plugin is done.
    pub async fn next(&mut self) -> Result<Option<Vec<Document>>, PluginError> {
        if self.finished {
            return Ok(None);
        }
        match self.instance.next_batch(self.sync).await? {
            Ok(Some(batch)) => {
                let docs = convert::batch(batch).map_err(|message| PluginError::Contract {
                    plugin: self.label.to_string(),
                    message,
                })?;
                self.batches += 1;
                self.documents += docs.len() as u64;
                Ok(Some(docs))
            }
            Ok(None) => {
                self.finished = true;
                tracing::debug!(plugin = %self.label, batches = self.batches, documents = self.documents, "sync exhausted");
                Ok(None)
            }
            Err(e) => Err(PluginError::Reported {
                plugin: self.label.to_string(),
                kind: convert::error_kind(e.kind),
                message: e.message,
            }),
        }
    }

    /// The cursor to persist after a successful incremental sync (JSON text).
    pub async fn cursor_text(&mut self) -> Result<Option<String>, PluginError> {
        let cursor = self.instance.cursor(self.sync).await?;
        if let Some(c) = &cursor {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(c) {
                return Err(PluginError::Contract {
                    plugin: self.label.to_string(),
                    message: format!("cursor is not JSON text: {e}"),
                });
            }
        }
        Ok(cursor)
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
