//! `connectors: [{connector_id, service_type, api_key}]`.

use serde_yaml::{Mapping, Value};

use super::{v, Ctx, Section};
use crate::config::model::*;
use crate::config::ConfigError;

pub(super) fn read_connectors(
    root: &mut Section,
    ctx: &Ctx,
) -> Result<Vec<ConnectorEntry>, ConfigError> {
    let mut entries: Vec<ConnectorEntry> = Vec::new();
    let push = |entry: ConnectorEntry, key: &str, entries: &mut Vec<ConnectorEntry>| {
        if let Some(i) = entries
            .iter()
            .position(|e| e.connector_id == entry.connector_id)
        {
            ctx.warn(format!(
                "`{key}`: connector {:?} is listed more than once; the later entry wins",
                entry.connector_id
            ));
            entries.remove(i);
        }
        entries.push(entry);
    };
    match root.map.remove("connectors") {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let path = format!("connectors[{i}]");
                let Value::Mapping(m) = item else {
                    return Err(ConfigError::Invalid {
                        source_name: ctx.source.to_owned(),
                        key: path,
                        message: format!(
                            "expected {{connector_id, service_type, api_key}}, got {item:?}"
                        ),
                    });
                };
                let mut s = Section::new(m, path.clone());
                let entry = read_connector_entry(&mut s, ctx)?;
                s.finish(ctx);
                push(entry, &path, &mut entries);
            }
        }
        Some(other) => {
            return Err(ConfigError::Invalid {
                source_name: ctx.source.to_owned(),
                key: "connectors".into(),
                message: format!("expected a list, got {other:?}"),
            })
        }
    }
    // Deprecated single-connector form, still read by elastic-ingest.
    if root.map.contains_key("connector_id") || root.map.contains_key("service_type") {
        let mut legacy = Mapping::new();
        for k in ["connector_id", "service_type"] {
            if let Some(val) = root.map.remove(k) {
                legacy.insert(Value::String(k.into()), val);
            }
        }
        let mut s = Section::new(legacy, "");
        let entry = read_connector_entry(&mut s, ctx)?;
        ctx.warn(
            "top-level `connector_id`/`service_type` are deprecated; use \
             `connectors: [{connector_id, service_type}]`"
                .into(),
        );
        push(entry, "connector_id", &mut entries);
    }
    Ok(entries)
}

pub(super) fn read_connector_entry(
    s: &mut Section,
    ctx: &Ctx,
) -> Result<ConnectorEntry, ConfigError> {
    let Some(connector_id) = s.get(ctx, "connector_id", v::non_empty_string)? else {
        return Err(ConfigError::Invalid {
            source_name: ctx.source.to_owned(),
            key: s.key("connector_id"),
            message: "missing".into(),
        });
    };
    // elastic-ingest's preflight refuses the example config's placeholder.
    if connector_id == "changeme" {
        return Err(ConfigError::Invalid {
            source_name: ctx.source.to_owned(),
            key: s.key("connector_id"),
            message: "is the placeholder \"changeme\"; set the id of your connector".into(),
        });
    }
    let service_type = s
        .get(ctx, "service_type", v::string)?
        .filter(|t| !t.trim().is_empty());
    if service_type.as_deref() == Some("changeme") {
        return Err(ConfigError::Invalid {
            source_name: ctx.source.to_owned(),
            key: s.key("service_type"),
            message: "is the placeholder \"changeme\"; set the connector's service type".into(),
        });
    }
    let api_key = s
        .get(ctx, "api_key", v::string)?
        .filter(|k| !k.trim().is_empty());
    Ok(ConnectorEntry {
        connector_id,
        service_type,
        api_key,
    })
}
