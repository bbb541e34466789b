//! {{title}}: a Tributary source plugin on the Redis capability. The host opens
//! the connection from the connector's configuration (`host`, `port`,
//! `username`, `password`; the plugin never sees the password) and allows only
//! read commands; this plugin SCANs one database and sends one document per key.

use std::collections::HashSet;

use tributary_sdk::redis::{self, Connection};
use tributary_sdk::{
    Batch, BatchBuilder, Config, DocumentStream, Error, Field, Metadata, Schema, Source,
    SyncRequest, Value,
};

/// The plugin.
pub struct Plugin;

/// The configuration schema. The host opens the connection from the keys
/// `host`, `port`, `username` and `password`, so they keep these names.
pub fn schema() -> Schema {
    Schema::new()
        .field(Field::str("host", "Host").value("127.0.0.1").order(1))
        .field(
            Field::int("port", "Port")
                .value(6379)
                .validation("greater_than", 0)
                .validation("less_than", 65536)
                .order(2),
        )
        .field(Field::str("username", "Username").optional().order(3))
        .field(Field::str("password", "Password").sensitive().optional().order(4))
        .field(
            Field::int("database", "Database number")
                .value(0)
                .validation("greater_than", -1)
                .order(5),
        )
        .field(
            Field::str("pattern", "Key pattern (SCAN MATCH)")
                .optional()
                .default_value("*")
                .order(6),
        )
}

fn database(config: &Config) -> Result<u32, Error> {
    config
        .int("database")
        .and_then(|d| u32::try_from(d).ok())
        .ok_or_else(|| Error::config("'Database number' must be a number from 0."))
}

impl Source for Plugin {
    type Stream = Keys;

    fn metadata() -> Metadata {
        Metadata::new("{{name}}", "{{title}}", env!("CARGO_PKG_VERSION"))
    }

    fn configuration() -> Schema {
        schema()
    }

    fn ping(config: &Config) -> Result<(), Error> {
        redis::connect(database(config)?)?.ping()?;
        Ok(())
    }

    fn start_sync(config: &Config, _request: &SyncRequest) -> Result<Keys, Error> {
        let db = database(config)?;
        let pattern = config
            .str("pattern")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .unwrap_or("*")
            .to_string();
        Ok(Keys {
            con: redis::connect(db)?,
            db,
            pattern,
            cursor: 0,
            done: false,
            seen: HashSet::new(),
        })
    }
}

/// One sync: a SCAN in progress.
pub struct Keys {
    con: Connection,
    db: u32,
    pattern: String,
    cursor: u64,
    done: bool,
    /// SCAN may return a key twice; ids must be unique within a sync.
    seen: HashSet<Vec<u8>>,
}

impl Keys {
    fn value(&self, key: &[u8], kind: &str) -> Result<Value, Error> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let list = |items: Vec<Vec<u8>>| {
            let items: Vec<serde_json::Value> = items.iter().map(|b| text(b).into()).collect();
            Value::Json(serde_json::Value::Array(items).to_string())
        };
        Ok(match kind {
            "string" => self.con.get(key)?.map_or(Value::Null, |v| Value::Text(text(&v))),
            "list" => list(self.con.list(key)?),
            "set" => list(self.con.set(key)?),
            "hash" => {
                let fields: serde_json::Map<String, serde_json::Value> = self
                    .con
                    .hash(key)?
                    .into_iter()
                    .map(|(k, v)| (text(&k), text(&v).into()))
                    .collect();
                Value::Json(serde_json::Value::Object(fields).to_string())
            }
            _ => Value::Absent,
        })
    }
}

impl DocumentStream for Keys {
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        let mut batch = BatchBuilder::with_fields(["key", "type", "value"]);
        while batch.is_empty() && !self.done {
            let (next, keys) = self.con.scan_from(self.cursor, Some(&self.pattern), None)?;
            self.cursor = next;
            self.done = next == 0;
            for key in keys {
                if !self.seen.insert(key.clone()) {
                    continue;
                }
                let kind = self.con.key_type(&key)?;
                let value = self.value(&key, &kind)?;
                let name = String::from_utf8_lossy(&key).into_owned();
                batch.push(
                    format!("{}:{name}", self.db),
                    None,
                    vec![Value::Text(name), Value::Text(kind), value],
                );
            }
        }
        if batch.is_empty() {
            return Ok(None);
        }
        Ok(Some(batch.finish()))
    }
}

tributary_sdk::register_source!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_port_is_blamed_on_it() {
        let config = Config::from_json(r#"{"host": "h", "port": "x", "database": 0}"#).expect("JSON");
        let keys: Vec<Option<String>> = schema().validate(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, [Some("port".to_string())]);
    }
}
