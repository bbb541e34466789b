//! Sandbox test plugin `ungranted-import`: imports `tributary-test:ungranted/vault`,
//! an interface the host does not provide; the host must refuse it, naming the
//! plugin and the missing import.

wit_bindgen::generate!({ world: "plugin", path: "wit", generate_all });

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
            service_type: "ungranted-import".into(),
            name: "Sandbox test: ungranted import".into(),
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
        let _ = tributary_test::ungranted::vault::secret("elastic-password");
        Ok(None)
    }
    fn cursor(&self) -> Option<String> {
        None
    }
}

export!(Plugin);
