//! The System Directory source connector: a drop-in for Elastic's `dir` connector
//! (same configuration, document ids and fields), built as a wasm32-wasip2
//! component. It reads through the host's filesystem capability: the host opens
//! the connector's `directory` (which must lie inside a root the operator
//! granted) read-only, and confines every path to it.
//!
//! Beyond Elastic, which hands file content to a separate extraction service, the
//! text of plain-text files (by extension, valid UTF-8, at most [`BODY_LIMIT`]
//! bytes) is sent in `body`. Differences on purpose: a symlink that leads outside
//! the directory is skipped with a warning (Elastic would follow it), and
//! symlinked directories are not entered.

use md5::{Digest, Md5};
use tributary_sdk::filesystem::{self, Directory, EntryKind, FileStat, Walk};
use tributary_sdk::{
    log, Batch, BatchBuilder, Config, Display, DocumentStream, Error, Field, FieldError, Metadata,
    Schema, Source, SyncRequest, Value,
};

mod glob;

pub use glob::Pattern;
use tributary_sdk::time::iso_utc;

/// The plugin.
pub struct Dir;

/// Largest file whose text goes into `body`; larger files are indexed without it.
pub const BODY_LIMIT: u64 = 1 << 20;

/// Body bytes after which a batch is sent even if it has room for documents.
const BATCH_BODY_BYTES: usize = 8 << 20;

/// Extensions read as text into `body`.
pub const TEXT_EXTENSIONS: &[&str] = &[
    "txt", "text", "md", "markdown", "rst", "csv", "tsv", "json", "jsonl", "ndjson", "log", "xml",
    "yaml", "yml", "toml", "ini", "cfg", "conf", "html", "htm", "sql",
];

/// The document fields, in Elastic's order, then `body`.
pub const FIELDS: [&str; 12] = [
    "path",
    "last_modified_time",
    "inode_protection_mode",
    "inode_number",
    "device_inode_reside",
    "number_of_links",
    "uid",
    "gid",
    "ctime",
    "last_access_time",
    "size",
    "body",
];

/// The configuration schema, as Elastic's connector declares it.
pub fn schema() -> Schema {
    Schema::new()
        .field(Field::str("directory", "Directory path").order(1))
        .field(
            Field::str("pattern", "File glob-like pattern")
                .display(Display::Text)
                .value("**/*.*")
                .order(2),
        )
}

/// Elastic's document id: the md5 hex digest of the path.
pub fn doc_id(path: &str) -> String {
    let digest = Md5::digest(path.as_bytes());
    let mut out = String::with_capacity(32);
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `path` is read into `body` by its extension.
pub fn is_text(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            TEXT_EXTENSIONS.iter().any(|t| t.eq_ignore_ascii_case(ext))
        }
        _ => false,
    }
}

fn pattern_of(config: &Config) -> Result<Pattern, Error> {
    let raw = config.str("pattern").unwrap_or("**/*.*");
    Pattern::new(raw).map_err(|e| Error::config(format!("pattern: {e}")))
}

impl Source for Dir {
    type Stream = DirStream;

    fn metadata() -> Metadata {
        Metadata::new("dir", "System Directory", env!("CARGO_PKG_VERSION"))
    }

    fn configuration() -> Schema {
        schema()
    }

    fn validate_config(config: &Config) -> Vec<FieldError> {
        let mut errors = schema().validate(config);
        if let Err(e) = pattern_of(config) {
            errors.push(FieldError {
                key: Some("pattern".into()),
                message: e.message,
            });
        }
        errors
    }

    fn ping(_config: &Config) -> Result<(), Error> {
        // Opening checks the grant and that the directory exists.
        filesystem::open()?;
        Ok(())
    }

    fn start_sync(config: &Config, request: &SyncRequest) -> Result<DirStream, Error> {
        let pattern = pattern_of(config)?;
        let dir = filesystem::open()?;
        let walk = dir.walk()?;
        let base = dir.path();
        Ok(DirStream {
            base,
            pattern,
            dir,
            walk: Some(walk),
            batch_size: request.batch_size.clamp(1, 1000),
        })
    }
}

/// One sync: the walk, filtered by the pattern.
pub struct DirStream {
    base: String,
    pattern: Pattern,
    dir: Directory,
    walk: Option<Walk>,
    batch_size: u32,
}

impl DirStream {
    fn body(&self, path: &str, stat: &FileStat) -> Value {
        if !is_text(path) || stat.size > BODY_LIMIT {
            return Value::Absent;
        }
        match self.dir.read_to_end(path, BODY_LIMIT) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Value::Text(text),
                // Not text after all: indexed without a body.
                Err(_) => Value::Absent,
            },
            Err(e) => {
                log::warn(&format!("cannot read {path}: {e}"));
                Value::Absent
            }
        }
    }
}

impl DocumentStream for DirStream {
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        let mut batch = BatchBuilder::with_fields(FIELDS);
        let mut body_bytes = 0usize;
        while batch.len() < self.batch_size as usize && body_bytes < BATCH_BODY_BYTES {
            let Some(walk) = self.walk.as_mut() else {
                break;
            };
            let Some(entries) = walk.next_entries(self.batch_size)? else {
                self.walk = None;
                break;
            };
            for entry in entries {
                if entry.kind == EntryKind::Directory || !self.pattern.matches(&entry.path) {
                    continue;
                }
                let stat = match entry.stat {
                    Ok(s) => s,
                    Err(e) => {
                        log::warn(&format!("skipping {}: {e}", entry.path));
                        continue;
                    }
                };
                if stat.kind != EntryKind::File {
                    continue;
                }
                let path = format!("{}/{}", self.base.trim_end_matches('/'), entry.path);
                let modified = iso_utc(stat.modified.as_f64());
                let body = self.body(&entry.path, &stat);
                if let Value::Text(t) = &body {
                    body_bytes += t.len();
                }
                batch.push(
                    doc_id(&path),
                    Some(modified.clone()),
                    vec![
                        Value::Text(path),
                        Value::Text(modified),
                        Value::Int(i64::from(stat.mode)),
                        Value::UInt(stat.inode),
                        Value::UInt(stat.device),
                        Value::UInt(stat.links),
                        Value::Int(i64::from(stat.uid)),
                        Value::Int(i64::from(stat.gid)),
                        Value::Float(stat.changed.as_f64()),
                        Value::Float(stat.accessed.as_f64()),
                        Value::UInt(stat.size),
                        body,
                    ],
                );
            }
        }
        if batch.is_empty() && self.walk.is_none() {
            return Ok(None);
        }
        Ok(Some(batch.finish()))
    }
}

tributary_sdk::register_source!(Dir);
