//! {{title}}: a Tributary source plugin on the filesystem capability. The host
//! opens the connector's `directory` read-only (it must lie inside a root the
//! operator granted, `plugins.filesystem.roots`); this plugin walks it and sends
//! one document per file, with the text of small UTF-8 files.

use tributary_sdk::filesystem::{self, Directory, EntryKind, Walk};
use tributary_sdk::time::iso_utc;
use tributary_sdk::{
    log, Batch, BatchBuilder, Config, DocumentStream, Error, Field, Metadata, Schema, Source,
    SyncRequest, Value,
};

/// The plugin.
pub struct Plugin;

/// Files up to this size have their text in `body`.
const BODY_LIMIT: u64 = 64 * 1024;

/// The configuration schema (Elastic's Rich Configurable Fields).
pub fn schema() -> Schema {
    Schema::new()
        .field(Field::str("directory", "Directory path").order(1))
        .field(
            Field::str("extension", "Only files with this extension (empty: every file)")
                .optional()
                .order(2),
        )
}

impl Source for Plugin {
    type Stream = Files;

    fn metadata() -> Metadata {
        Metadata::new("{{name}}", "{{title}}", env!("CARGO_PKG_VERSION"))
    }

    fn configuration() -> Schema {
        schema()
    }

    fn ping(_config: &Config) -> Result<(), Error> {
        // Opening checks the grant and that the directory exists.
        filesystem::open()?;
        Ok(())
    }

    fn start_sync(config: &Config, request: &SyncRequest) -> Result<Files, Error> {
        let dir = filesystem::open()?;
        let walk = dir.walk()?;
        let extension = config
            .str("extension")
            .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|e| !e.is_empty());
        Ok(Files {
            dir,
            walk: Some(walk),
            extension,
            batch_size: request.batch_size.clamp(1, 1000),
        })
    }
}

/// One sync: the walk in progress.
pub struct Files {
    dir: Directory,
    walk: Option<Walk>,
    extension: Option<String>,
    batch_size: u32,
}

impl Files {
    fn wanted(&self, path: &str) -> bool {
        match &self.extension {
            None => true,
            Some(ext) => path
                .rsplit_once('.')
                .is_some_and(|(_, e)| e.eq_ignore_ascii_case(ext)),
        }
    }
}

impl DocumentStream for Files {
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        let mut batch = BatchBuilder::with_fields(["path", "size", "body"]);
        // Directories and filtered files send nothing: read on until there is a
        // document (the host slows down a plugin that keeps sending empty batches).
        while batch.is_empty() {
            let Some(walk) = self.walk.as_mut() else {
                return Ok(None);
            };
            let Some(entries) = walk.next_entries(self.batch_size)? else {
                self.walk = None;
                return Ok(None);
            };
            for entry in entries {
                if entry.kind != EntryKind::File || !self.wanted(&entry.path) {
                    continue;
                }
                let stat = match entry.stat {
                    Ok(stat) => stat,
                    Err(e) => {
                        log::warn(&format!("skipping {}: {e}", entry.path));
                        continue;
                    }
                };
                let body = if stat.size <= BODY_LIMIT {
                    let bytes = self.dir.read_to_end(&entry.path, BODY_LIMIT)?;
                    String::from_utf8(bytes).map_or(Value::Absent, Value::Text)
                } else {
                    Value::Absent
                };
                // The relative path is stable and unique: the document id.
                batch.push(
                    entry.path.clone(),
                    Some(iso_utc(stat.modified.as_f64())),
                    vec![Value::Text(entry.path), Value::UInt(stat.size), body],
                );
            }
        }
        Ok(Some(batch.finish()))
    }
}

tributary_sdk::register_source!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_directory_is_named() {
        let config = Config::from_json(r#"{"directory": ""}"#).expect("JSON");
        let errors = schema().validate(&config);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key.as_deref(), Some("directory"));
    }
}
