//! {{title}}: a Tributary source plugin on the PostgreSQL capability. The host
//! opens the connection from the connector's configuration (`host`, `port`,
//! `username`, `password`, `database`; the plugin never sees the password) in a
//! READ ONLY transaction; this plugin scans one table in primary-key order and
//! has the host build one document per row (`Rows::emit`), its id from the key.

use tributary_sdk::postgresql::{self, Rows, Session};
use tributary_sdk::shape::Shape;
use tributary_sdk::{
    Batch, BatchBuilder, Config, DocumentStream, Error, Field, Metadata, Schema, Source,
    SyncRequest,
};

/// The plugin.
pub struct Plugin;

/// The configuration schema. The host opens the connection from the keys
/// `host`, `port`, `username`, `password` and `database`, so they keep these names.
pub fn schema() -> Schema {
    Schema::new()
        .field(Field::str("host", "Host").value("127.0.0.1").order(1))
        .field(
            Field::int("port", "Port")
                .value(5432)
                .validation("greater_than", 0)
                .validation("less_than", 65536)
                .order(2),
        )
        .field(Field::str("username", "Username").order(3))
        .field(Field::str("password", "Password").sensitive().optional().order(4))
        .field(Field::str("database", "Database").order(5))
        .field(Field::str("schema", "Schema").value("public").order(6))
        .field(Field::str("table", "Table").order(7))
}

fn setting<'a>(config: &'a Config, key: &str, label: &str) -> Result<&'a str, Error> {
    config
        .str(key)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::config(format!("'{label}' cannot be empty.")))
}

impl Source for Plugin {
    type Stream = TableRows;

    fn metadata() -> Metadata {
        Metadata::new("{{name}}", "{{title}}", env!("CARGO_PKG_VERSION"))
    }

    fn configuration() -> Schema {
        schema()
    }

    fn ping(_config: &Config) -> Result<(), Error> {
        postgresql::connect().map_err(|e| Error::connection(e.to_string()))?;
        Ok(())
    }

    fn start_sync(config: &Config, request: &SyncRequest) -> Result<TableRows, Error> {
        let schema = setting(config, "schema", "Schema")?.to_string();
        let table = setting(config, "table", "Table")?.to_string();
        let session = postgresql::connect().map_err(|e| Error::connection(e.to_string()))?;
        let key = session.primary_key(&schema, &table)?;
        if key.is_empty() {
            return Err(Error::config(format!(
                "table {schema}.{table} has no primary key: document ids need one"
            )));
        }
        let rows = session.scan(&schema, &table, &key)?;
        let columns: Vec<String> = rows.columns().iter().map(|c| c.name.clone()).collect();
        // `table_key1_key2`: stable across syncs, unique by the primary key; one
        // field per column. The host builds the documents from this shape: the
        // row values never enter the plugin, and no code here decodes them.
        let shape = Shape::from_result(format!("{table}_"), &columns, &key)
            .map_err(|k| Error::source(format!("the scan has no key column {k}")))?;
        Ok(TableRows {
            rows,
            _session: session,
            shape,
            batch_size: request.batch_size.clamp(1, 5000),
        })
    }
}

/// One sync: a server-side scan of the table.
pub struct TableRows {
    // Declared before the session: the scan is dropped first.
    rows: Rows,
    _session: Session,
    shape: Shape,
    batch_size: u32,
}

impl DocumentStream for TableRows {
    /// Each call has the host read one batch of rows and turn them into
    /// documents (`Rows::emit`); the batch returned here is empty.
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        if self.rows.emit(&self.shape, self.batch_size)? == 0 {
            return Ok(None);
        }
        Ok(Some(BatchBuilder::new().finish()))
    }
}

tributary_sdk::register_source!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_blamed_on_their_field() {
        let config = Config::from_json(
            r#"{"host": "h", "port": 70000, "username": "u", "database": "", "table": "t"}"#,
        )
        .expect("JSON");
        let keys: Vec<Option<String>> = schema().validate(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, [Some("port".to_string()), Some("database".to_string())]);
    }
}
