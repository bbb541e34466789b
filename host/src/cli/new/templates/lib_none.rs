//! {{title}}: a Tributary source plugin. It needs no capability: it generates
//! `count` documents named after `prefix`. Replace the stream with your source.

use tributary_sdk::{
    Batch, BatchBuilder, Config, DocumentStream, Error, Field, Metadata, Schema, Source,
    SyncRequest, Value,
};

/// The plugin.
pub struct Plugin;

/// The configuration schema (Elastic's Rich Configurable Fields).
pub fn schema() -> Schema {
    Schema::new()
        .field(Field::str("prefix", "Document id prefix").value("item").order(1))
        .field(
            Field::int("count", "Number of documents")
                .optional()
                .default_value(10)
                .validation("greater_than", 0)
                .validation("less_than", 1_000_001)
                .order(2),
        )
}

impl Source for Plugin {
    type Stream = Items;

    fn metadata() -> Metadata {
        Metadata::new("{{name}}", "{{title}}", env!("CARGO_PKG_VERSION"))
    }

    fn configuration() -> Schema {
        schema()
    }

    fn ping(_config: &Config) -> Result<(), Error> {
        // A real source checks here that it can reach its data.
        Ok(())
    }

    fn start_sync(config: &Config, request: &SyncRequest) -> Result<Items, Error> {
        let prefix = config
            .str("prefix")
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| Error::config("'Document id prefix' cannot be empty."))?;
        Ok(Items {
            prefix: prefix.to_string(),
            next: 0,
            count: config.int("count").unwrap_or(10).max(0) as u64,
            batch_size: u64::from(request.batch_size),
        })
    }
}

/// One sync: the documents not sent yet.
pub struct Items {
    prefix: String,
    next: u64,
    count: u64,
    batch_size: u64,
}

impl DocumentStream for Items {
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        if self.next >= self.count {
            return Ok(None);
        }
        let mut batch = BatchBuilder::with_fields(["title", "number"]);
        let end = (self.next + self.batch_size).min(self.count);
        for i in self.next..end {
            // Ids are stable from one sync to the next and unique within one.
            batch.push(
                format!("{}-{i}", self.prefix),
                None,
                vec![Value::Text(format!("{} {i}", self.prefix)), Value::UInt(i)],
            );
        }
        self.next = end;
        Ok(Some(batch.finish()))
    }
}

tributary_sdk::register_source!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let config = Config::from_json(r#"{"prefix": "", "count": "many"}"#).expect("JSON");
        let keys: Vec<Option<String>> = schema().validate(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, [Some("prefix".to_string()), Some("count".to_string())]);
    }

    #[test]
    fn a_sync_yields_count_documents_with_unique_ids() {
        let config = Config::from_json(r#"{"prefix": "p", "count": 5}"#).expect("JSON");
        let request = SyncRequest {
            kind: tributary_sdk::JobKind::Full,
            cursor: None,
            advanced_rules: None,
            batch_size: 2,
        };
        let mut items = Plugin::start_sync(&config, &request).expect("sync");
        let mut ids = Vec::new();
        while let Some(batch) = items.next_batch().expect("batch") {
            ids.extend(batch.documents.into_iter().map(|d| d.id));
        }
        assert_eq!(ids, ["p-0", "p-1", "p-2", "p-3", "p-4"]);
    }
}
