//! Sandbox test plugin `memory-hog`: `next-batch` allocates until the host stops it.

wit_bindgen::generate!({ world: "source-plugin", path: "../../../wit" });

use exports::tributary::connector::source::{self, Guest, GuestSync};
use tributary::connector::types::{
    Batch, ConfigField, Features, FieldError, Metadata, PluginError, SyncRequest,
};

struct Plugin;
struct Job;

impl Guest for Plugin {
    type Sync = Job;
    fn metadata() -> Metadata {
        Metadata {
            service_type: "memory-hog".into(),
            name: "Sandbox test: memory hog".into(),
            version: "0.1.0".into(),
            features: Features {
                incremental_sync: false,
                basic_rules: false,
                advanced_rules: false,
                document_level_security: false,
            },
        }
    }
    fn configuration_schema() -> Vec<ConfigField> {
        vec![]
    }
    fn validate_config(_config: String) -> Vec<FieldError> {
        vec![]
    }
    fn ping(_config: String) -> Result<(), PluginError> {
        Ok(())
    }
    fn validate_advanced_rules(_config: String, _rules: String) -> Vec<String> {
        vec![]
    }
    fn start_sync(_config: String, _request: SyncRequest) -> Result<source::Sync, PluginError> {
        Ok(source::Sync::new(Job))
    }
}

impl GuestSync for Job {
    fn next_batch(&self) -> Result<Option<Batch>, PluginError> {
        // Touch every page so the memory is really committed, and keep it alive.
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![0xA5u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
    fn cursor(&self) -> Option<String> {
        None
    }
}

export!(Plugin);
