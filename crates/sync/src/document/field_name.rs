//! Which field names a source may put in a document.
//!
//! Elasticsearch refuses its metadata fields inside `_source` ("Field [_id] is a
//! metadata field and cannot be added inside a document"), and the host owns the
//! fields it stamps on every document. A name is also refused when Elasticsearch
//! would fail the document for it anyway (empty path segments, only whitespace),
//! or when printing it could forge output (control characters).

/// Elasticsearch's metadata fields (the built-in metadata mappers of 8.x/9.x,
/// `IndicesModule` in elastic/elasticsearch, plus plugin mappers such as `_size`
/// and names older versions reserved). None may appear inside a document.
pub const RESERVED: &[&str] = &[
    "_all",
    "_data_stream_timestamp",
    "_doc_count",
    "_feature",
    "_field_names",
    "_id",
    "_ignored",
    "_ignored_source",
    "_index",
    "_index_mode",
    "_nested_path",
    "_parent",
    "_primary_term",
    "_routing",
    "_seq_no",
    "_size",
    "_source",
    "_tier",
    "_type",
    "_uid",
    "_version",
];

/// Prefix of the fields the host itself writes (`_tributary_sync_id`, …).
pub const HOST_PREFIX: &str = "_tributary";

/// Longest field name accepted, in bytes.
pub const MAX_BYTES: usize = 1024;

/// Why a field name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldNameError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_BYTES} bytes")]
    TooLong,
    #[error("holds a control character")]
    Control,
    #[error("holds only whitespace")]
    Blank,
    #[error("has an empty path segment (a leading, trailing or double '.')")]
    EmptySegment,
    #[error("is an Elasticsearch metadata field, which cannot appear inside a document")]
    Metadata,
    #[error("is reserved for the host (fields starting with `{HOST_PREFIX}`)")]
    Host,
}

/// Checks one field name.
pub fn check(name: &str) -> Result<(), FieldNameError> {
    if name.is_empty() {
        return Err(FieldNameError::Empty);
    }
    if name.len() > MAX_BYTES {
        return Err(FieldNameError::TooLong);
    }
    if name.chars().any(is_unprintable) {
        return Err(FieldNameError::Control);
    }
    if name.trim().is_empty() {
        return Err(FieldNameError::Blank);
    }
    if name.split('.').any(str::is_empty) {
        return Err(FieldNameError::EmptySegment);
    }
    // `_id.x` is the object `_id` to Elasticsearch: check the first path segment.
    let head = name.split('.').next().unwrap_or(name);
    if RESERVED.contains(&head) {
        return Err(FieldNameError::Metadata);
    }
    if head.starts_with(HOST_PREFIX) {
        return Err(FieldNameError::Host);
    }
    Ok(())
}

/// Characters that change how a line prints: C0/C1 controls, line and paragraph
/// separators, and the bidirectional overrides (a reversed name in a log or table).
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for ok in [
            "title",
            "public_album_title",
            "Table",
            "a.b.c",
            "_timestamp",
            "_attachment",
            "_allow_access_control",
            "_private_album_id",
            "名前",
            "with space",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn reserved_and_malformed_names_are_refused() {
        assert_eq!(check("_id"), Err(FieldNameError::Metadata));
        assert_eq!(check("_index"), Err(FieldNameError::Metadata));
        assert_eq!(check("_source.x"), Err(FieldNameError::Metadata));
        assert_eq!(check("_routing"), Err(FieldNameError::Metadata));
        assert_eq!(check("_tributary_sync_id"), Err(FieldNameError::Host));
        assert_eq!(check(""), Err(FieldNameError::Empty));
        assert_eq!(check("  "), Err(FieldNameError::Blank));
        assert_eq!(check("a..b"), Err(FieldNameError::EmptySegment));
        assert_eq!(check(".a"), Err(FieldNameError::EmptySegment));
        assert_eq!(check("a."), Err(FieldNameError::EmptySegment));
        assert_eq!(check("a\nb"), Err(FieldNameError::Control));
        assert_eq!(check("a\u{202e}b"), Err(FieldNameError::Control));
        assert_eq!(
            check(&"x".repeat(MAX_BYTES + 1)),
            Err(FieldNameError::TooLong)
        );
    }
}
