//! `_bulk`: NDJSON encoding straight into a reused byte buffer, per-item decoding in
//! request order, and the [`BulkTarget`] the sync writes through.

use std::fmt;

use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use reqwest::Method;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::client::{Client, Request};
use super::EsError;
use tributary_sync::{BulkAction, BulkItemResult, BulkOp, BulkTarget, IndexInfo, TargetError};

/// Writes `s` as a JSON string. Ids and index names rarely need escaping, so the
/// common case is a plain copy.
fn put_json_str(buf: &mut BytesMut, s: &str) {
    let plain = s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if plain {
        buf.put_u8(b'"');
        buf.put_slice(s.as_bytes());
        buf.put_u8(b'"');
    } else {
        // Writing a &str to a growable buffer cannot fail.
        let _ = serde_json::to_writer((&mut *buf).writer(), s);
    }
}

/// Encodes `ops` as a `_bulk` body (action line + source line per op, final newline)
/// into `buf`, appending. `source` must be compact JSON (no raw newlines), as
/// `crate::document` produces; an `index`/`update` op without one sends `{}`.
pub fn encode_bulk(index: &str, ops: &[BulkOp], buf: &mut BytesMut) {
    let mut index_json = BytesMut::with_capacity(index.len() + 2);
    put_json_str(&mut index_json, index);
    let need: usize = ops
        .iter()
        .map(|op| 48 + index_json.len() + op.id.len() + op.source.as_ref().map_or(0, Vec::len))
        .sum();
    buf.reserve(need);
    for op in ops {
        let action: &[u8] = match op.action {
            BulkAction::Index => b"{\"index\":{\"_index\":",
            BulkAction::Update => b"{\"update\":{\"_index\":",
            BulkAction::Delete => b"{\"delete\":{\"_index\":",
        };
        buf.put_slice(action);
        buf.put_slice(&index_json);
        buf.put_slice(b",\"_id\":");
        put_json_str(buf, &op.id);
        buf.put_slice(b"}}\n");
        let source = op.source.as_deref().unwrap_or(b"{}");
        match op.action {
            BulkAction::Index => {
                buf.put_slice(source);
                buf.put_u8(b'\n');
            }
            // elastic-ingest's update: a partial doc that creates the document if missing.
            BulkAction::Update => {
                buf.put_slice(b"{\"doc\":");
                buf.put_slice(source);
                buf.put_slice(b",\"doc_as_upsert\":true}\n");
            }
            BulkAction::Delete => {}
        }
    }
}

#[derive(Deserialize)]
struct BulkResponse {
    #[serde(default)]
    items: Vec<Item>,
}

/// `{"<action>": {...}}`: one key, whichever action it is.
struct Item(ItemBody);

#[derive(Deserialize)]
struct ItemBody {
    #[serde(default)]
    status: u16,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a bulk item {\"<action>\": {...}}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Item, A::Error> {
                let mut out = None;
                while m.next_key::<IgnoredAny>()?.is_some() {
                    let body: ItemBody = m.next_value()?;
                    out.get_or_insert(body);
                }
                out.map(Item)
                    .ok_or_else(|| de::Error::custom("empty bulk item"))
            }
        }
        d.deserialize_map(V)
    }
}

fn item_error(e: Value) -> (String, String) {
    match e {
        Value::Object(m) => {
            let t = m
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .to_owned();
            let mut reason = m
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if let Some(cause) = m
                .get("caused_by")
                .and_then(|c| c.get("reason"))
                .and_then(Value::as_str)
            {
                if !reason.contains(cause) {
                    reason = format!("{reason} (caused by: {cause})");
                }
            }
            if reason.is_empty() {
                reason = t.clone();
            }
            (t, reason)
        }
        Value::String(s) => ("error".into(), s),
        other => ("error".into(), other.to_string()),
    }
}

/// Decodes a `_bulk` answer into one result per op, in request order. An answer
/// with a different number of items than `expected` is an error (results could not
/// be matched to documents).
pub fn decode_bulk(body: &[u8], expected: usize) -> Result<Vec<BulkItemResult>, String> {
    let resp: BulkResponse = serde_json::from_slice(body)
        .map_err(|e| format!("cannot parse the _bulk response: {e}"))?;
    if resp.items.len() != expected {
        return Err(format!(
            "the _bulk response has {} items for {expected} operations",
            resp.items.len()
        ));
    }
    Ok(resp
        .items
        .into_iter()
        .map(|Item(b)| {
            let error = b.error.map(item_error);
            BulkItemResult {
                status: b.status,
                // A failed item has no result; some servers still send one.
                result: if error.is_some() { None } else { b.result },
                error,
            }
        })
        .collect())
}

impl Client {
    /// `POST /_bulk[?pipeline=]`: one request for `ops` (retried as a whole on
    /// 429/5xx/connection errors); per-item results in request order. Per-item
    /// failures (including per-item 429s) are results, not errors — the caller
    /// decides what to retry.
    pub async fn send_bulk(
        &self,
        index: &str,
        pipeline: Option<&str>,
        ops: &[BulkOp],
    ) -> Result<Vec<BulkItemResult>, EsError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let mut buf = self.take_buffer(0);
        encode_bulk(index, ops, &mut buf);
        let body = buf.freeze();
        let bytes = body.len();
        let mut req = Request::new(Method::POST, "/_bulk")
            // Only what decode_bulk reads: a fraction of the default answer to parse.
            .query("filter_path", "items.*.status,items.*.result,items.*.error")
            .ndjson(body.clone());
        if let Some(p) = pipeline.filter(|p| !p.is_empty()) {
            req = req.query("pipeline", p);
        }
        let result = self.execute(&req).await;
        let request = format!(
            "POST /_bulk ({} ops, {bytes} bytes, index {index})",
            ops.len()
        );
        drop(req);
        self.return_buffer(body);
        let resp = result?;
        decode_bulk(&resp.body, ops.len()).map_err(|message| EsError::Decode { request, message })
    }
}

/// The sync's target: `Client` itself (the index is a parameter of every call; use
/// [`Client::with_api_key`] for a connector's own key).
#[async_trait]
impl BulkTarget for Client {
    async fn prepare_index(&self, index: &str) -> Result<(), TargetError> {
        Client::prepare_index(self, index).await.map_err(Into::into)
    }

    async fn bulk(
        &self,
        index: &str,
        pipeline: Option<&str>,
        ops: &[BulkOp],
    ) -> Result<Vec<BulkItemResult>, TargetError> {
        self.send_bulk(index, pipeline, ops)
            .await
            .map_err(Into::into)
    }

    async fn index_info(&self, index: &str) -> Result<Option<IndexInfo>, TargetError> {
        Client::index_info(self, index).await.map_err(Into::into)
    }

    async fn count_where(&self, index: &str, field: &str, value: &str) -> Result<u64, TargetError> {
        Client::count_where(self, index, field, value)
            .await
            .map_err(Into::into)
    }

    async fn refresh(&self, index: &str) -> Result<(), TargetError> {
        Client::refresh(self, index).await.map_err(Into::into)
    }

    async fn count(&self, index: &str) -> Result<u64, TargetError> {
        Client::count(self, index).await.map_err(Into::into)
    }

    async fn delete_where_not(
        &self,
        index: &str,
        field: &str,
        value: &str,
    ) -> Result<u64, TargetError> {
        Client::delete_where_not(self, index, field, value)
            .await
            .map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(action: BulkAction, id: &str, source: Option<&str>) -> BulkOp {
        BulkOp {
            action,
            id: id.into(),
            source: source.map(|s| s.as_bytes().to_vec()),
        }
    }

    #[test]
    fn encodes_every_action_with_final_newline() {
        let ops = [
            op(BulkAction::Index, "1", Some(r#"{"a":1}"#)),
            op(BulkAction::Update, "2", Some(r#"{"b":2}"#)),
            op(BulkAction::Delete, "3", None),
        ];
        let mut buf = BytesMut::new();
        encode_bulk("music", &ops, &mut buf);
        let text = std::str::from_utf8(&buf).unwrap();
        assert_eq!(
            text,
            concat!(
                "{\"index\":{\"_index\":\"music\",\"_id\":\"1\"}}\n{\"a\":1}\n",
                "{\"update\":{\"_index\":\"music\",\"_id\":\"2\"}}\n{\"doc\":{\"b\":2},\"doc_as_upsert\":true}\n",
                "{\"delete\":{\"_index\":\"music\",\"_id\":\"3\"}}\n",
            )
        );
        // Every line is JSON.
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
    }

    #[test]
    fn escapes_ids_and_index() {
        let ops = [op(BulkAction::Delete, "a\"b\\c\nd", None)];
        let mut buf = BytesMut::new();
        encode_bulk("we\"ird", &ops, &mut buf);
        let line = std::str::from_utf8(&buf).unwrap().trim_end();
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["delete"]["_id"], "a\"b\\c\nd");
        assert_eq!(v["delete"]["_index"], "we\"ird");
    }

    #[test]
    fn index_without_source_sends_empty_object() {
        let mut buf = BytesMut::new();
        encode_bulk("i", &[op(BulkAction::Index, "x", None)], &mut buf);
        assert!(buf.ends_with(b"}}\n{}\n"));
    }

    #[test]
    fn appends_to_a_reused_buffer() {
        let mut buf = BytesMut::with_capacity(4096);
        encode_bulk("i", &[op(BulkAction::Delete, "1", None)], &mut buf);
        let first = buf.len();
        encode_bulk("i", &[op(BulkAction::Delete, "2", None)], &mut buf);
        assert_eq!(buf.len(), first * 2);
    }

    #[test]
    fn decodes_items_in_order() {
        let body = br#"{"took":3,"errors":true,"items":[
            {"index":{"_index":"music","_id":"1","_version":1,"result":"created","status":201}},
            {"update":{"_index":"music","_id":"2","result":"noop","status":200}},
            {"delete":{"_index":"music","_id":"3","result":"not_found","status":404}},
            {"index":{"_index":"music","_id":"4","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}},
            {"create":{"_id":"5","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse","caused_by":{"type":"x","reason":"bad date"}}}}
        ]}"#;
        let items = decode_bulk(body, 5).unwrap();
        assert_eq!(
            items[0],
            BulkItemResult {
                status: 201,
                result: Some("created".into()),
                error: None
            }
        );
        assert_eq!(items[1].result.as_deref(), Some("noop"));
        assert_eq!(
            (items[2].status, items[2].result.as_deref()),
            (404, Some("not_found"))
        );
        assert_eq!(
            items[3].error,
            Some((
                "es_rejected_execution_exception".into(),
                "rejected execution".into()
            ))
        );
        assert_eq!(items[3].result, None);
        assert_eq!(
            items[4].error.as_ref().map(|e| e.1.as_str()),
            Some("failed to parse (caused by: bad date)")
        );
    }

    #[test]
    fn decode_checks_item_count_and_shape() {
        let body = br#"{"items":[{"index":{"status":201,"result":"created"}}]}"#;
        assert!(decode_bulk(body, 2).unwrap_err().contains("1 items for 2"));
        assert!(decode_bulk(b"not json", 1).is_err());
        assert!(decode_bulk(br#"{"items":[{}]}"#, 1).is_err());
        // filter_path drops `items` entirely when empty.
        assert!(decode_bulk(b"{}", 0).unwrap().is_empty());
        assert!(decode_bulk(b"{}", 1).is_err());
    }
}
