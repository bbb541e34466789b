//! Contract `tributary:connector@0.1.0` (`wit/v0.1.0`, frozen): plugins built
//! against it keep working. Its imports are served by the same capabilities as
//! 0.2 (plugin SQL goes through the same allow-list; there are no structured
//! calls), and what it exports is converted to the newest types at this edge.

use wasmtime::component::Resource;

use super::super::state::HostState;
use super::v0_2;
use tributary_capability_postgresql as pg;

wasmtime::component::bindgen!({
    world: "host",
    path: "../../wit/v0.1.0",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "tributary:connector/postgresql.session": tributary_capability_postgresql::PgSession,
        "tributary:connector/postgresql.rows": tributary_capability_postgresql::PgRows,
    },
});

use self::tributary::connector::logging;
use self::tributary::connector::postgresql as wit_pg;
pub use self::tributary::connector::types as wit_types;

use v0_2::wit_types as new;

impl wit_types::Host for HostState {}

impl logging::Host for HostState {
    async fn log(
        &mut self,
        level: logging::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let level = match level {
            logging::Level::Trace => super::super::logging::Level::Trace,
            logging::Level::Debug => super::super::logging::Level::Debug,
            logging::Level::Info => super::super::logging::Level::Info,
            logging::Level::Warn => super::super::logging::Level::Warn,
            logging::Level::Error => super::super::logging::Level::Error,
        };
        self.log.event(level, &message, &fields);
        Ok(())
    }
}

fn pg_error(e: pg::PgError) -> wit_pg::PgError {
    wit_pg::PgError {
        sqlstate: e.sqlstate,
        message: e.message,
    }
}

impl wit_pg::Host for HostState {
    async fn connect(
        &mut self,
    ) -> wasmtime::Result<Result<Resource<pg::PgSession>, wit_pg::PgError>> {
        match self.pg_connect().await {
            Ok(session) => Ok(Ok(self.table.push(session)?)),
            Err(e) => Ok(Err(pg_error(e))),
        }
    }
}

impl wit_pg::HostSession for HostState {
    async fn query(
        &mut self,
        session: Resource<pg::PgSession>,
        sql: String,
        params: Vec<wit_pg::Param>,
    ) -> wasmtime::Result<Result<Resource<pg::PgRows>, wit_pg::PgError>> {
        let params = params
            .into_iter()
            .map(|p| match p {
                wit_pg::Param::Null => pg::Param::Null,
                wit_pg::Param::Boolean(b) => pg::Param::Bool(b),
                wit_pg::Param::Integer(i) => pg::Param::Int(i),
                wit_pg::Param::Float(f) => pg::Param::Float(f),
                wit_pg::Param::Text(s) => pg::Param::Text(s),
            })
            .collect();
        let result = self.table.get_mut(&session)?.query(&sql, params).await;
        match result {
            Ok(rows) => Ok(Ok(self.table.push(rows)?)),
            Err(e) => Ok(Err(pg_error(e))),
        }
    }

    async fn drop(&mut self, session: Resource<pg::PgSession>) -> wasmtime::Result<()> {
        self.table.delete(session)?;
        Ok(())
    }
}

impl wit_pg::HostRows for HostState {
    async fn columns(
        &mut self,
        rows: Resource<pg::PgRows>,
    ) -> wasmtime::Result<Vec<wit_pg::Column>> {
        Ok(self
            .table
            .get(&rows)?
            .columns()
            .into_iter()
            .map(|c| wit_pg::Column {
                name: c.name,
                type_oid: c.type_oid,
                type_name: c.type_name,
            })
            .collect())
    }

    async fn next(
        &mut self,
        rows: Resource<pg::PgRows>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<Option<wit_pg::RowBatch>, wit_pg::PgError>> {
        match self.table.get_mut(&rows)?.next(max_rows).await {
            Ok(Some((rows, data))) => Ok(Ok(Some(wit_pg::RowBatch { rows, data }))),
            Ok(None) => Ok(Ok(None)),
            Err(e) => Ok(Err(pg_error(e))),
        }
    }

    async fn drop(&mut self, rows: Resource<pg::PgRows>) -> wasmtime::Result<()> {
        self.table.delete(rows)?;
        Ok(())
    }
}

// ---------------------------------------------------------------- exports → newest types

pub(super) fn metadata(m: wit_types::Metadata) -> new::Metadata {
    new::Metadata {
        service_type: m.service_type,
        name: m.name,
        version: m.version,
        features: new::Features {
            incremental_sync: m.features.incremental_sync,
            basic_rules: m.features.basic_rules,
            advanced_rules: m.features.advanced_rules,
            document_level_security: m.features.document_level_security,
        },
    }
}

pub(super) fn config_field(f: wit_types::ConfigField) -> new::ConfigField {
    new::ConfigField {
        key: f.key,
        label: f.label,
        field_type: match f.field_type {
            wit_types::FieldType::Str => new::FieldType::Str,
            wit_types::FieldType::Int => new::FieldType::Int,
            wit_types::FieldType::List => new::FieldType::List,
            wit_types::FieldType::Bool => new::FieldType::Bool,
        },
        display: match f.display {
            wit_types::Display::Text => new::Display::Text,
            wit_types::Display::Textbox => new::Display::Textbox,
            wit_types::Display::Textarea => new::Display::Textarea,
            wit_types::Display::Numeric => new::Display::Numeric,
            wit_types::Display::Toggle => new::Display::Toggle,
            wit_types::Display::Dropdown => new::Display::Dropdown,
        },
        value: f.value,
        default_value: f.default_value,
        required: f.required,
        sensitive: f.sensitive,
        order: f.order,
        depends_on: f
            .depends_on
            .into_iter()
            .map(|d| new::Dependency {
                field: d.field,
                value: d.value,
            })
            .collect(),
        validations: f
            .validations
            .into_iter()
            .map(|v| new::Validation {
                kind: v.kind,
                constraint: v.constraint,
            })
            .collect(),
        options: f
            .options
            .into_iter()
            .map(|o| new::FieldOption {
                label: o.label,
                value: o.value,
            })
            .collect(),
        tooltip: f.tooltip,
        ui_restrictions: f.ui_restrictions,
    }
}

pub(super) fn field_error(e: wit_types::FieldError) -> new::FieldError {
    new::FieldError {
        key: e.key,
        message: e.message,
    }
}

pub(super) fn plugin_error(e: wit_types::PluginError) -> new::PluginError {
    new::PluginError {
        kind: match e.kind {
            wit_types::ErrorKind::Config => new::ErrorKind::Config,
            wit_types::ErrorKind::Connection => new::ErrorKind::Connection,
            wit_types::ErrorKind::Source => new::ErrorKind::Source,
            wit_types::ErrorKind::Unsupported => new::ErrorKind::Unsupported,
            wit_types::ErrorKind::Internal => new::ErrorKind::Internal,
        },
        message: e.message,
    }
}

fn value(v: wit_types::Value) -> new::Value {
    match v {
        wit_types::Value::Absent => new::Value::Absent,
        wit_types::Value::Null => new::Value::Null,
        wit_types::Value::Boolean(b) => new::Value::Boolean(b),
        wit_types::Value::Integer(i) => new::Value::Integer(i),
        wit_types::Value::Unsigned(u) => new::Value::Unsigned(u),
        wit_types::Value::Float(f) => new::Value::Float(f),
        wit_types::Value::Number(n) => new::Value::Number(n),
        wit_types::Value::Text(s) => new::Value::Text(s),
        wit_types::Value::Json(j) => new::Value::Json(j),
    }
}

pub(super) fn batch(b: wit_types::Batch) -> new::Batch {
    new::Batch {
        fields: b.fields,
        documents: b
            .documents
            .into_iter()
            .map(|d| new::Document {
                id: d.id,
                operation: match d.operation {
                    wit_types::Operation::Index => new::Operation::Index,
                    wit_types::Operation::Update => new::Operation::Update,
                    wit_types::Operation::Delete => new::Operation::Delete,
                },
                timestamp: d.timestamp,
                values: d.values.into_iter().map(value).collect(),
            })
            .collect(),
    }
}

pub(super) fn sync_request(r: &new::SyncRequest) -> wit_types::SyncRequest {
    wit_types::SyncRequest {
        kind: match r.kind {
            new::JobKind::Full => wit_types::JobKind::Full,
            new::JobKind::Incremental => wit_types::JobKind::Incremental,
        },
        cursor: r.cursor.clone(),
        advanced_rules: r.advanced_rules.clone(),
        batch_size: r.batch_size,
    }
}
