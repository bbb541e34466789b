//! {{title}}: a Tributary source plugin on the MySQL/MariaDB capability. The host
//! opens the connection from the connector's configuration (`host`, `port`,
//! `user`, `password`, `database`; the plugin never sees the password) in a
//! READ ONLY transaction; this plugin scans one table of that database in primary-key order and
//! sends one document per row, its id built from the key.

use tributary_sdk::mysql::{self, Rows, Session};
use tributary_sdk::{
    Batch, BatchBuilder, Config, DocumentStream, Error, Field, Metadata, Schema, Source,
    SyncRequest,
};

/// The plugin.
pub struct Plugin;

/// The configuration schema. The host opens the connection from the keys
/// `host`, `port`, `user`, `password` and `database`, so they keep these names.
pub fn schema() -> Schema {
    Schema::new()
        .field(Field::str("host", "Host").value("127.0.0.1").order(1))
        .field(
            Field::int("port", "Port")
                .value(3306)
                .validation("greater_than", 0)
                .validation("less_than", 65536)
                .order(2),
        )
        .field(Field::str("user", "Username").order(3))
        .field(Field::str("password", "Password").sensitive().optional().order(4))
        .field(Field::str("database", "Database").order(5))
        .field(Field::str("table", "Table").order(6))
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
        mysql::connect().map_err(|e| Error::connection(e.to_string()))?;
        Ok(())
    }

    fn start_sync(config: &Config, request: &SyncRequest) -> Result<TableRows, Error> {
        let table = setting(config, "table", "Table")?.to_string();
        let session = mysql::connect().map_err(|e| Error::connection(e.to_string()))?;
        let key = session.primary_key(&table)?;
        if key.is_empty() {
            return Err(Error::config(format!(
                "table {table} has no primary key: document ids need one"
            )));
        }
        let rows = session.scan(&table, &key)?;
        let columns: Vec<String> = rows.columns().iter().map(|c| c.name.clone()).collect();
        let key_at = key
            .iter()
            .filter_map(|k| columns.iter().position(|c| c == k))
            .collect();
        Ok(TableRows {
            rows,
            _session: session,
            table,
            columns,
            key_at,
            batch_size: request.batch_size.clamp(1, 5000),
        })
    }
}

/// One sync: a server-side scan of the table.
pub struct TableRows {
    // Declared before the session: the scan is dropped first.
    rows: Rows,
    _session: Session,
    table: String,
    columns: Vec<String>,
    key_at: Vec<usize>,
    batch_size: u32,
}

impl DocumentStream for TableRows {
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        let Some(rows) = self.rows.next_batch(self.batch_size)? else {
            return Ok(None);
        };
        let mut batch = BatchBuilder::with_fields(self.columns.iter().map(String::as_str));
        for row in rows.rows() {
            let row = row.map_err(|e| Error::source(e.to_string()))?;
            // `table_key1_key2`: stable across syncs, unique by the primary key.
            let mut id = self.table.clone();
            for &i in &self.key_at {
                id.push('_');
                id.push_str(&mysql::to_text(&row[i]));
            }
            batch.push(id, None, row.iter().map(mysql::to_value).collect());
        }
        Ok(Some(batch.finish()))
    }
}

tributary_sdk::register_source!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_blamed_on_their_field() {
        let config = Config::from_json(
            r#"{"host": "h", "port": 70000, "user": "u", "database": "", "table": "t"}"#,
        )
        .expect("JSON");
        let keys: Vec<Option<String>> = schema().validate(&config).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, [Some("port".to_string()), Some("database".to_string())]);
    }
}
