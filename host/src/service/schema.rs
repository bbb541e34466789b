//! Registering a plugin's configuration schema on a connector, as Elastic's service
//! does on its first poll (`docs/elastic/connector-document.md#schema-registration`): an empty configuration gets the whole
//! schema (and the connector becomes `needs_configuration`); otherwise missing
//! fields are added and missing attributes filled, keeping the user's values.

use serde_json::{Map, Value};

/// What registering the schema changes on the connector's `configuration`.
#[derive(Debug, PartialEq)]
pub enum Registration {
    /// Nothing to write.
    Unchanged,
    /// The configuration was empty: write the whole schema, status `needs_configuration`.
    Initial(Map<String, Value>),
    /// Fields or attributes were added; the listed keys are new.
    Merged {
        configuration: Map<String, Value>,
        added: Vec<String>,
    },
}

/// Merges `schema` (from the plugin) into `stored` (from the connector document).
pub fn register(stored: &Map<String, Value>, schema: &Map<String, Value>) -> Registration {
    if stored.is_empty() {
        return Registration::Initial(schema.clone());
    }
    let mut merged = stored.clone();
    let mut added = Vec::new();
    let mut changed = false;
    for (key, field) in schema {
        match merged.get_mut(key) {
            None => {
                merged.insert(key.clone(), field.clone());
                added.push(key.clone());
                changed = true;
            }
            Some(Value::Object(existing)) => {
                if let Value::Object(declared) = field {
                    for (attr, v) in declared {
                        if attr == "value" {
                            if !existing.contains_key("value") {
                                existing.insert(attr.clone(), v.clone());
                                changed = true;
                            }
                            continue;
                        }
                        // Attributes other than `value` follow the plugin's definition.
                        if existing.get(attr) != Some(v) {
                            existing.insert(attr.clone(), v.clone());
                            changed = true;
                        }
                    }
                }
            }
            Some(other) => {
                // A bare value where an RCF object belongs: keep it as the value.
                let mut f = field.as_object().cloned().unwrap_or_default();
                f.insert("value".into(), other.clone());
                *other = Value::Object(f);
                changed = true;
            }
        }
    }
    if changed {
        Registration::Merged {
            configuration: merged,
            added,
        }
    } else {
        Registration::Unchanged
    }
}

/// The connector `features` object for a plugin (`docs/elastic/connector-document.md#features`).
pub fn features_doc(f: &tributary_runtime::Features) -> Value {
    serde_json::json!({
        "sync_rules": {
            "basic": {"enabled": f.basic_rules},
            "advanced": {"enabled": f.advanced_rules}
        },
        "document_level_security": {"enabled": f.document_level_security},
        "incremental_sync": {"enabled": f.incremental_sync},
        "native_connector_api_keys": {"enabled": false}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn empty_configuration_gets_whole_schema() {
        let schema = obj(json!({"host": {"label": "Host", "value": ""}}));
        assert_eq!(
            register(&Map::new(), &schema),
            Registration::Initial(schema.clone())
        );
    }

    #[test]
    fn merge_keeps_values_and_adds_fields() {
        let schema = obj(json!({
            "host": {"label": "Host", "value": "", "order": 1},
            "port": {"label": "Port", "value": 5432, "order": 2}
        }));
        let stored = obj(json!({"host": {"label": "Old", "value": "db.local"}}));
        let Registration::Merged {
            configuration,
            added,
        } = register(&stored, &schema)
        else {
            panic!("expected a merge");
        };
        assert_eq!(added, vec!["port".to_string()]);
        assert_eq!(configuration["host"]["value"], json!("db.local"));
        assert_eq!(configuration["host"]["label"], json!("Host"));
        assert_eq!(configuration["host"]["order"], json!(1));
        assert_eq!(register(&configuration, &schema), Registration::Unchanged);
    }
}
