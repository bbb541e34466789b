//! The single place documents are written: index/create, update (partial merge, upsert, noop
//! detection) and delete, with optimistic-concurrency checks and mapping checks.

use crate::http::EsError;
use crate::mapping::check_document;
use crate::store::IndexData;
use serde_json::{Map, Value};
use std::sync::Arc;

/// `if_seq_no` / `if_primary_term` of a request.
#[derive(Clone, Copy, Default, Debug)]
pub struct Cond {
    pub if_seq_no: Option<i64>,
    pub if_primary_term: Option<i64>,
}

pub const PRIMARY_TERM: i64 = 1;

/// Outcome of a successful write.
#[derive(Debug, Clone)]
pub struct Done {
    pub result: &'static str,
    pub status: u16,
    pub version: u64,
    pub seq_no: i64,
    /// False for noops (`_shards` is then all zeros).
    pub wrote: bool,
}

pub fn conflict(d: &IndexData, id: &str, reason: String) -> EsError {
    EsError::new(
        409,
        "version_conflict_engine_exception",
        format!("[{id}]: version conflict, {reason}"),
    )
    .with("index_uuid", d.uuid.clone())
    .with("shard", "0")
    .with("index", d.name.clone())
}

fn check_cond(d: &IndexData, id: &str, c: Cond) -> Result<(), EsError> {
    let (Some(seq), term) = (c.if_seq_no, c.if_primary_term) else {
        if c.if_primary_term.is_some() {
            return Err(EsError::validation(&[
                "ifSeqNo is unassigned, but primary term is [1]",
            ]));
        }
        return Ok(());
    };
    let Some(term) = term else {
        return Err(EsError::validation(&[
            "ifSeqNo is set, but primary term is [0]",
        ]));
    };
    match d.get_live(id) {
        None => Err(conflict(d, id, format!("required seqNo [{seq}], primary term [{term}]. but no document was found"))),
        Some(v) if v.seq_no != seq || term != PRIMARY_TERM => Err(conflict(
            d,
            id,
            format!(
                "required seqNo [{seq}], primary term [{term}]. current document has seqNo [{}] and primary term [{PRIMARY_TERM}]",
                v.seq_no
            ),
        )),
        Some(_) => Ok(()),
    }
}

pub fn check_id(id: &str) -> Result<(), EsError> {
    if id.len() > 512 {
        return Err(EsError::illegal_argument(format!(
            "id [{id}] is too long, must be no longer than 512 bytes but was: {}",
            id.len()
        )));
    }
    Ok(())
}

/// Indexes `src` (already through any pipeline) under `id`.
pub fn index_doc(
    d: &mut IndexData,
    id: &str,
    src: &[u8],
    create: bool,
    c: Cond,
) -> Result<Done, EsError> {
    check_id(id)?;
    if create {
        if let Some(v) = d.get_live(id) {
            return Err(conflict(
                d,
                id,
                format!("document already exists (current version [{}])", v.version),
            ));
        }
    }
    check_cond(d, id, c)?;
    let additions = check_document(&d.mapping, id, src)?;
    apply_additions(d, additions)?;
    let r = d.put(id, Arc::from(src));
    Ok(Done {
        result: if r.created { "created" } else { "updated" },
        status: if r.created { 201 } else { 200 },
        version: r.version,
        seq_no: r.seq_no,
        wrote: true,
    })
}

fn apply_additions(
    d: &mut IndexData,
    additions: Vec<(Vec<String>, crate::mapping::Field)>,
) -> Result<(), EsError> {
    if additions.is_empty() {
        return Ok(());
    }
    let limit: usize = d
        .setting("mapping.total_fields.limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut m = d.mapping.clone();
    for (p, f) in additions {
        m.add(&p, f);
    }
    if m.field_count() > limit {
        return Err(EsError::illegal_argument(format!(
            "Limit of total fields [{limit}] has been exceeded while adding new fields [{}]",
            m.field_count() - d.mapping.field_count()
        )));
    }
    d.mapping = m;
    Ok(())
}

pub fn delete_doc(d: &mut IndexData, id: &str, c: Cond) -> Result<Done, EsError> {
    check_id(id)?;
    check_cond(d, id, c)?;
    let r = d.delete(id);
    Ok(Done {
        result: if r.found { "deleted" } else { "not_found" },
        status: if r.found { 200 } else { 404 },
        version: r.version,
        seq_no: r.seq_no,
        wrote: true,
    })
}

/// The body of an update (`_update` API or bulk `update` source line).
#[derive(Debug, Default, Clone)]
pub struct UpdateBody {
    pub doc: Option<Map<String, Value>>,
    pub upsert: Option<Map<String, Value>>,
    pub doc_as_upsert: bool,
    pub detect_noop: bool,
}

impl UpdateBody {
    pub fn parse(v: &Value) -> Result<UpdateBody, EsError> {
        let Some(m) = v.as_object() else {
            return Err(EsError::x_content(
                "[UpdateRequest] failed to parse, expected an object",
            ));
        };
        let mut u = UpdateBody {
            detect_noop: true,
            ..Default::default()
        };
        for (k, val) in m {
            match k.as_str() {
                "doc" => match val {
                    Value::Object(o) => u.doc = Some(o.clone()),
                    _ => {
                        return Err(EsError::x_content(
                            "[UpdateRequest] failed to parse field [doc]",
                        ))
                    }
                },
                "upsert" => match val {
                    Value::Object(o) => u.upsert = Some(o.clone()),
                    _ => {
                        return Err(EsError::x_content(
                            "[UpdateRequest] failed to parse field [upsert]",
                        ))
                    }
                },
                "doc_as_upsert" => u.doc_as_upsert = val.as_bool().unwrap_or(false),
                "detect_noop" => u.detect_noop = val.as_bool().unwrap_or(true),
                "_source" | "scripted_upsert" => {}
                "script" => {
                    return Err(EsError::illegal_argument(
                        "es-sim does not run scripts; send a partial [doc] instead",
                    ))
                }
                other => {
                    return Err(EsError::x_content(format!(
                        "[UpdateRequest] unknown field [{other}]"
                    )))
                }
            }
        }
        if u.doc.is_none() && u.upsert.is_none() {
            return Err(EsError::validation(&["script or doc is missing"]));
        }
        Ok(u)
    }
}

/// Deep merge of `patch` into `base` (objects merge recursively, everything else replaces);
/// returns whether anything changed.
pub fn merge(base: &mut Map<String, Value>, patch: &Map<String, Value>) -> bool {
    let mut changed = false;
    for (k, v) in patch {
        match (base.get_mut(k), v) {
            (Some(Value::Object(b)), Value::Object(p)) => changed |= merge(b, p),
            (Some(old), v) => {
                if old != v {
                    *old = v.clone();
                    changed = true;
                }
            }
            (None, v) => {
                base.insert(k.clone(), v.clone());
                changed = true;
            }
        }
    }
    changed
}

/// Applies a partial update. Returns the outcome and the new source (for `_source` in replies).
pub fn update_doc(
    d: &mut IndexData,
    id: &str,
    u: &UpdateBody,
    c: Cond,
) -> Result<(Done, Vec<u8>), EsError> {
    check_id(id)?;
    check_cond(d, id, c)?;
    let current = d.get_live(id).cloned();
    let (new_doc, created) = match current {
        Some(cur) => {
            let mut base: Map<String, Value> = serde_json::from_slice(&cur.src).unwrap_or_default();
            let changed = match &u.doc {
                Some(p) => merge(&mut base, p),
                None => false,
            };
            if !changed && u.detect_noop {
                let src = cur.src.to_vec();
                return Ok((
                    Done {
                        result: "noop",
                        status: 200,
                        version: cur.version,
                        seq_no: cur.seq_no,
                        wrote: false,
                    },
                    src,
                ));
            }
            (base, false)
        }
        None => {
            if u.doc_as_upsert {
                (u.doc.clone().unwrap_or_default(), true)
            } else if let Some(up) = &u.upsert {
                (up.clone(), true)
            } else {
                return Err(EsError::new(
                    404,
                    "document_missing_exception",
                    format!("[{id}]: document missing"),
                )
                .with("index_uuid", d.uuid.clone())
                .with("shard", "0")
                .with("index", d.name.clone()));
            }
        }
    };
    let bytes = serde_json::to_vec(&Value::Object(new_doc)).unwrap_or_else(|_| b"{}".to_vec());
    let mut done = index_doc(d, id, &bytes, false, Cond::default())?;
    if !created {
        done.result = "updated";
        done.status = 200;
    }
    Ok((done, bytes))
}
