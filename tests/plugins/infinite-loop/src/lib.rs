//! Sandbox test plugin `infinite-loop`: `next-batch` never returns.

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
            service_type: "infinite-loop".into(),
            name: "Sandbox test: infinite loop".into(),
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
        // A busy loop the optimizer cannot remove.
        let mut x: u64 = 1;
        loop {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    fn cursor(&self) -> Option<String> {
        None
    }
}

export!(Plugin);
