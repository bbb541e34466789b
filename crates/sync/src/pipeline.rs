//! The job's ingest-pipeline settings and the body fields Elastic's service derives
//! from them (`docs/elastic/sync-pipeline.md#ingest-pipeline`, `pitfalls.md` item 8).

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// Elastic's `hash_id` threshold: longer `_id`s are rejected by Elasticsearch.
pub const MAX_ID_BYTES: usize = 512;

/// `connector.pipeline` of the job; missing keys take the Connector API defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PipelineSettings {
    /// Ingest pipeline passed as the `pipeline` request parameter (none when empty).
    pub name: String,
    pub extract_binary_content: bool,
    pub reduce_whitespace: bool,
    pub run_ml_inference: bool,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            name: "search-default-ingestion".into(),
            extract_binary_content: true,
            reduce_whitespace: true,
            run_ml_inference: true,
        }
    }
}

impl PipelineSettings {
    /// The `pipeline` request parameter of every `_bulk` call.
    pub fn request_pipeline(&self) -> Option<&str> {
        Some(self.name.as_str()).filter(|n| !n.is_empty())
    }
}

/// The `_id` Elastic's service would send: ids over 512 UTF-8 bytes become the MD5
/// hex digest of the id (`BaseDataSource.hash_id`), so they stay addressable.
pub fn effective_id(id: &str) -> std::borrow::Cow<'_, str> {
    if id.len() > MAX_ID_BYTES {
        std::borrow::Cow::Owned(hex::encode(Md5::digest(id.as_bytes())))
    } else {
        std::borrow::Cow::Borrowed(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ids_are_md5_hex_like_elastic() {
        // Vectors from Python's hashlib.md5(...).hexdigest().
        assert_eq!(
            effective_id(&"x".repeat(513)),
            "d70999aa02d6479b04bc87c1c60a5073"
        );
        assert_eq!(
            effective_id(&"a".repeat(600)),
            "f5091e6f3df8500fadf1c3ca00e10caf"
        );
        let limit = "é".repeat(256); // 512 bytes exactly: kept
        assert_eq!(effective_id(&limit), limit.as_str());
        assert_eq!(effective_id("abc"), "abc");
    }

    #[test]
    fn pipeline_defaults_match_connector_api() {
        let p: PipelineSettings = serde_json::from_str(r#"{"name":"my-pipe"}"#).unwrap();
        assert_eq!(p.name, "my-pipe");
        assert!(p.extract_binary_content && p.reduce_whitespace && p.run_ml_inference);
        let empty = PipelineSettings {
            name: String::new(),
            ..PipelineSettings::default()
        };
        assert_eq!(empty.request_pipeline(), None);
    }
}
