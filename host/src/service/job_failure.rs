//! Why a claimed job failed before its sync started. The `Display` text is what the
//! job document's `error` says; the `UnsupportedJobType:` / `InvalidFilteringError:`
//! prefixes follow Elastic's service, whose error class names users search for.

use tributary_runtime::{FieldError, PluginError};
use tributary_sync::SpecError;

#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
    #[error("connector {0} has no service_type")]
    NoServiceType(String),
    #[error("no plugin for service type '{0}' is loaded")]
    NoPlugin(String),
    #[error("UnsupportedJobType: the {0} plugin does not support incremental syncs")]
    IncrementalUnsupported(String),
    #[error("UnsupportedJobType: access control (document-level security) syncs are not supported by Tributary")]
    AccessControlUnsupported,
    #[error("UnsupportedJobType: unknown job_type")]
    UnknownJobType,
    #[error("Connector has missing configuration fields: {}", .0.join(", "))]
    MissingFields(Vec<String>),
    #[error("{}", field_errors_message(.0))]
    InvalidConfiguration(Vec<FieldError>),
    #[error("InvalidFilteringError: the sync rules of this job are invalid: {0}")]
    InvalidFilteringSnapshot(String),
    #[error("the {0} plugin does not support advanced sync rules")]
    AdvancedRulesUnsupported(String),
    #[error("InvalidFilteringError: {}", .0.join("; "))]
    InvalidAdvancedRules(Vec<String>),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// Elastic's wording for configuration errors.
pub fn field_errors_message(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| match &e.key {
            Some(k) => format!("'{k}': {}", e.message),
            None => e.message.clone(),
        })
        .collect();
    format!("Field validation errors: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_elastic_prefixes_and_name_the_fields() {
        let e = JobFailure::MissingFields(vec!["host".into(), "tables".into()]);
        assert_eq!(
            e.to_string(),
            "Connector has missing configuration fields: host, tables"
        );
        let e = JobFailure::InvalidConfiguration(vec![
            FieldError {
                key: Some("port".into()),
                message: "must be a number".into(),
            },
            FieldError {
                key: None,
                message: "cannot connect".into(),
            },
        ]);
        assert_eq!(
            e.to_string(),
            "Field validation errors: 'port': must be a number; cannot connect"
        );
        assert!(JobFailure::IncrementalUnsupported("mysql".into())
            .to_string()
            .starts_with("UnsupportedJobType: "));
    }
}
