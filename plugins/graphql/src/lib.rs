//! The GraphQL source connector: a drop-in for Elastic's `graphql` connector
//! (same configuration, validation, document ids and fields), built as a
//! wasm32-wasip2 component. It calls the endpoint through the host's HTTP
//! capability: the operator allows the origin, and the token or password is
//! named by field, never read — the host sets `Authorization` itself.
//!
//! Differences on purpose: the endpoint is checked with a URL parser (Elastic's
//! regex refuses `http://localhost:…`); with GET, variables are sent as the
//! `variables` query parameter (Elastic drops them, so a paginated GET never
//! advances); a page whose cursor does not advance stops the sync with an error
//! instead of looping.

use std::time::Duration;

use serde_json::{Map, Value as Json};
use tributary_sdk::http::{self, Auth, Request};
use tributary_sdk::time::now_iso;
use tributary_sdk::{
    log, Batch, BatchBuilder, Config, Display, DocumentStream, Error, Field, FieldError, Metadata,
    Schema, Source, SyncRequest, Value,
};

pub mod query;

/// The plugin.
pub struct GraphQl;

const PING_QUERY: &str = "\n{\n  __schema {\n    queryType {\n      name\n    }\n  }\n}\n";
const RETRIES: u32 = 3;
const RETRY_INTERVAL: Duration = Duration::from_secs(2);
const NO_PAGINATION: &str = "no_pagination";
const CURSOR_PAGINATION: &str = "cursor_pagination";

/// The configuration schema, as Elastic's connector declares it.
pub fn schema() -> Schema {
    Schema::new()
        .field(Field::str("http_endpoint", "GraphQL HTTP endpoint").order(1))
        .field(
            Field::str("http_method", "HTTP method for GraphQL requests")
                .display(Display::Dropdown)
                .option("GET", "get")
                .option("POST", "post")
                .value("post")
                .order(2),
        )
        .field(
            Field::str("authentication_method", "Authentication Method")
                .display(Display::Dropdown)
                .option("No Auth", "none")
                .option("Basic Auth", "basic")
                .option("Bearer Token", "bearer")
                .value("none")
                .order(3),
        )
        .field(
            Field::str("username", "Username")
                .depends_on("authentication_method", "basic")
                .order(4),
        )
        .field(
            Field::str("password", "Password")
                .depends_on("authentication_method", "basic")
                .sensitive()
                .order(5),
        )
        .field(
            Field::str("token", "Bearer Token")
                .depends_on("authentication_method", "bearer")
                .sensitive()
                .order(6),
        )
        .field(
            Field::str("graphql_query", "GraphQL Body")
                .display(Display::Textarea)
                .order(7),
        )
        .field(
            Field::str("graphql_variables", "Graphql Variables")
                .depends_on("http_method", "post")
                .display(Display::Textarea)
                .optional()
                .order(8),
        )
        .field(
            Field::str("graphql_object_to_id_map", "GraphQL Objects to ID mapping")
                .display(Display::Textarea)
                .tooltip("Specifies which GraphQL objects should be indexed as individual documents. This allows finer control over indexing, ensuring only relevant data sections from the GraphQL response are stored as separate documents. Use a JSON with key as the GraphQL object name and value as string field within the document, with the requirement that each document must have a distinct value for this field. Use '.' to provide full path of the object from the root of the response. For example {'organization.users.nodes': 'id'}")
                .order(9),
        )
        .field(Field::str("headers", "Headers").optional().order(10))
        .field(
            Field::str("pagination_model", "Pagination model")
                .display(Display::Dropdown)
                .option("No pagination", NO_PAGINATION)
                .option("Cursor-based pagination", CURSOR_PAGINATION)
                .value(NO_PAGINATION)
                .tooltip("For cursor-based pagination, add 'pageInfo' and an 'after' argument variable in your query at the desired node (Pagination key). Use 'after' query argument with a variable to iterate through pages. Detailed examples and setup instructions are available in the docs.")
                .order(11),
        )
        .field(
            Field::str("pagination_key", "Pagination key")
                .depends_on("pagination_model", CURSOR_PAGINATION)
                .tooltip("Specifies which GraphQL object is used for pagination. Use '.' to provide full path of the object from the root of the response. For example 'organization.users'")
                .order(12),
        )
        .field(
            Field::int("connection_timeout", "Connection Timeout")
                .display(Display::Numeric)
                .optional()
                .default_value(300)
                .advanced()
                .order(13),
        )
}

/// The configuration, checked as Elastic's `validate_config` does.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoint: String,
    pub get: bool,
    pub auth: Auth,
    pub query: String,
    pub variables: Map<String, Json>,
    pub headers: Vec<(String, String)>,
    /// Dotted object path → id field, in configuration order.
    pub id_map: Vec<(String, String)>,
    /// For cursor pagination: the dotted key and the variable bound to its `after`.
    pub pagination: Option<(String, String)>,
    pub timeout: Duration,
}

fn json_object(config: &Config, key: &str, what: &str) -> Result<Option<Map<String, Json>>, Error> {
    let raw = config.str(key).unwrap_or("").trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Json>(raw) {
        Ok(Json::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(Error::config(format!(
            "GraphQL {what} must be in valid JSON format. Exception: not a JSON object"
        ))),
        Err(e) => Err(Error::config(format!(
            "GraphQL {what} must be in valid JSON format. Exception: {e}"
        ))),
    }
}

impl Settings {
    /// Reads and checks the configuration.
    pub fn from_config(config: &Config) -> Result<Settings, Error> {
        let endpoint = config.str("http_endpoint").unwrap_or("").trim().to_string();
        if !valid_endpoint(&endpoint) {
            return Err(Error::config("GraphQL HTTP endpoint is not a valid URL."));
        }
        let query = config.str("graphql_query").unwrap_or("").to_string();
        let doc = query::parse(&query)
            .map_err(|e| Error::config(format!("Failed to parse GraphQL query. Error: {e}")))?;
        if !doc.is_query() {
            return Err(Error::config("The configured query is either invalid or a mutation which is not supported by the connector."));
        }
        let headers = json_object(config, "headers", "Headers")?
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect();
        let variables = json_object(config, "graphql_variables", "Variables")?.unwrap_or_default();
        let Some(map) = json_object(config, "graphql_object_to_id_map", "Objects to ID mapping")?
        else {
            return Err(Error::config(
                "GraphQL Objects to ID mapping field is not configured.",
            ));
        };
        let mut id_map = Vec::new();
        for (object, id) in map {
            let id = match id {
                Json::String(s) => s,
                other => other.to_string(),
            };
            let (present, id_present) = doc.field_exists(&object, Some(&id));
            if !present {
                return Err(Error::config(format!(
                    "{object} is not present in the query."
                )));
            }
            if !id_present {
                return Err(Error::config(format!("{id} is not present in the query.")));
            }
            id_map.push((object, id));
        }
        let pagination = match config.str("pagination_model").unwrap_or(NO_PAGINATION) {
            CURSOR_PAGINATION => {
                let key = config
                    .str("pagination_key")
                    .unwrap_or("")
                    .trim()
                    .to_string();
                if !doc.field_exists(&key, None).0 {
                    return Err(Error::config(format!("{key} is not present in the query.")));
                }
                let object = key.rsplit('.').next().unwrap_or(&key).to_string();
                if !(doc.has_argument(&object, "after") && doc.selects("pageInfo")) {
                    return Err(Error::config(format!("Pagination is enabled but 'pageInfo' not found. Please include 'pageInfo' field inside '{object}' and 'after' argument in '{object}'.")));
                }
                let Some(var) = doc.argument_variable(&object, "after") else {
                    return Err(Error::config(format!(
                        "Pagination is enabled but the 'after' argument of '{object}' is not a variable."
                    )));
                };
                Some((key, var))
            }
            _ => None,
        };
        let auth = match config.str("authentication_method").unwrap_or("none") {
            "bearer" => Auth::Bearer("token".into()),
            "basic" => Auth::Basic(("username".into(), "password".into())),
            _ => Auth::None,
        };
        let timeout = config
            .int("connection_timeout")
            .filter(|t| *t > 0)
            .unwrap_or(300);
        Ok(Settings {
            endpoint,
            get: config
                .str("http_method")
                .unwrap_or("post")
                .eq_ignore_ascii_case("get"),
            auth,
            query,
            variables,
            headers,
            id_map,
            pagination,
            timeout: Duration::from_secs(timeout as u64),
        })
    }

    fn request(&self, query: &str, variables: &Map<String, Json>) -> Result<Request, Error> {
        let mut req = if self.get {
            let mut url = format!(
                "{}{}query=",
                self.endpoint,
                if self.endpoint.contains('?') {
                    '&'
                } else {
                    '?'
                }
            );
            url.push_str(&percent_encode(query));
            if !variables.is_empty() {
                url.push_str("&variables=");
                url.push_str(&percent_encode(
                    &Json::Object(variables.clone()).to_string(),
                ));
            }
            Request::get(url)
        } else {
            let body = serde_json::json!({"query": query, "variables": variables});
            Request::post(&self.endpoint, body.to_string().into_bytes())
                .header("content-type", "application/json")
        };
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        Ok(req.auth(self.auth.clone()).timeout(self.timeout))
    }

    /// One query, retried as Elastic does on transport failures and 5xx/429;
    /// the response's `data`.
    pub fn call(&self, query: &str, variables: &Map<String, Json>) -> Result<Json, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = http::send(self.request(query, variables)?);
            let retry = match &result {
                Err(e) => matches!(
                    e.kind,
                    http::HttpErrorKind::Connection | http::HttpErrorKind::Timeout
                ),
                Ok(r) => r.status >= 500 || r.status == 429,
            };
            if retry && attempt < RETRIES {
                let wait = RETRY_INTERVAL * 2u32.pow(attempt - 1);
                log::warn(&format!(
                    "GraphQL request failed (attempt {attempt} of {RETRIES}); retrying in {} s",
                    wait.as_secs()
                ));
                std::thread::sleep(wait);
                continue;
            }
            let response = result?;
            if response.status == 401 {
                return Err(Error::connection("Provided credentials or token do not have the necessary permissions to perform the request."));
            }
            if !(200..300).contains(&response.status) {
                return Err(Error::source(format!(
                    "GraphQL endpoint answered HTTP {}: {}",
                    response.status,
                    String::from_utf8_lossy(&response.body[..response.body.len().min(500)])
                )));
            }
            let body: Json = serde_json::from_slice(&response.body)
                .map_err(|e| Error::source(format!("GraphQL response is not JSON: {e}")))?;
            if let Some(errors) = body.get("errors").filter(|e| !is_empty_json(e)) {
                return Err(Error::source(format!(
                    "Error while executing query. Exception: {errors}"
                )));
            }
            return Ok(body
                .get("data")
                .cloned()
                .unwrap_or(Json::Object(Map::new())));
        }
    }
}

fn is_empty_json(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
        Json::String(s) => s.is_empty(),
        Json::Bool(b) => !b,
        Json::Number(_) => false,
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An http(s) URL with a host.
fn valid_endpoint(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && !host.contains('@')
        && !url.chars().any(char::is_whitespace)
}

/// One extracted object and the value of its id field, if it has one.
pub type Item = (Option<Json>, Map<String, Json>);

/// Elastic's `extract_graphql_data_items`: the objects at each mapped path,
/// each with its `_id` from the mapped field.
pub fn extract(data: &Json, id_map: &[(String, String)]) -> Result<Vec<Item>, Error> {
    let mut out = Vec::new();
    for (path, id_field) in id_map {
        let mut level = data;
        for key in path.split('.') {
            match level {
                Json::Object(m) => {
                    level = m.get(key).ok_or_else(|| {
                        Error::config(format!("{key} not found in the response. Please check the query."))
                    })?;
                }
                _ => {
                    return Err(Error::config("Found list while processing GraphQL Objects List. Please check the query and provide path upto dictionary."))
                }
            }
        }
        match level {
            Json::Object(m) if !m.is_empty() => out.push((m.get(id_field).cloned(), m.clone())),
            Json::Array(items) => {
                for item in items {
                    if let Json::Object(m) = item {
                        out.push((m.get(id_field).cloned(), m.clone()));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Elastic's `extract_pagination_info`: `(has_next_page, end_cursor)`.
pub fn page_info(data: &Json, key: &str) -> Result<(bool, Option<String>), Error> {
    let mut level = data;
    for k in key.split('.') {
        match level {
            Json::Object(m) => {
                level = m.get(k).ok_or_else(|| {
                    Error::config(format!("Pagination key: {k} not found in the response. Please check the query."))
                })?;
            }
            _ => return Err(Error::config("Found list while processing Pagination key. Please check the query and provide path upto dictionary.")),
        }
    }
    let info = level
        .get("pageInfo")
        .filter(|i| i.get("hasNextPage").is_some() && i.get("endCursor").is_some());
    let Some(info) = info else {
        return Err(Error::config("Pagination is enabled but the query is missing 'pageInfo'. Please include 'pageInfo { hasNextPage endCursor }' in the query to support pagination."));
    };
    let has_next = info
        .get("hasNextPage")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let cursor = match info.get("endCursor") {
        Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok((has_next, cursor))
}

fn to_value(v: Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => Value::Number(n.to_string()),
        Json::String(s) => Value::Text(s),
        other => Value::Json(other.to_string()),
    }
}

impl Source for GraphQl {
    type Stream = GraphQlStream;

    fn metadata() -> Metadata {
        Metadata::new("graphql", "GraphQL", env!("CARGO_PKG_VERSION"))
    }

    fn configuration() -> Schema {
        schema()
    }

    fn validate_config(config: &Config) -> Vec<FieldError> {
        let mut errors = schema().validate(config);
        if errors.is_empty() {
            if let Err(e) = Settings::from_config(config) {
                errors.push(FieldError {
                    key: None,
                    message: e.message,
                });
            }
        }
        errors
    }

    fn ping(config: &Config) -> Result<(), Error> {
        let settings = Settings::from_config(config)?;
        settings.call(PING_QUERY, &Map::new()).map(|_| ())
    }

    fn start_sync(config: &Config, _request: &SyncRequest) -> Result<GraphQlStream, Error> {
        let settings = Settings::from_config(config)?;
        let variables = settings.variables.clone();
        Ok(GraphQlStream {
            settings,
            variables,
            done: false,
            last_cursor: None,
        })
    }
}

/// One sync: one request per page.
pub struct GraphQlStream {
    settings: Settings,
    variables: Map<String, Json>,
    done: bool,
    last_cursor: Option<String>,
}

impl DocumentStream for GraphQlStream {
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        if self.done {
            return Ok(None);
        }
        let data = self.settings.call(&self.settings.query, &self.variables)?;
        match &self.settings.pagination {
            None => self.done = true,
            Some((key, var)) => {
                let (has_next, cursor) = page_info(&data, key)?;
                match cursor {
                    Some(c) if has_next => {
                        if self.last_cursor.as_deref() == Some(c.as_str()) {
                            return Err(Error::source(format!(
                                "the endpoint returned end cursor {c:?} twice; pagination does not advance"
                            )));
                        }
                        self.variables.insert(var.clone(), Json::String(c.clone()));
                        self.last_cursor = Some(c);
                    }
                    _ => self.done = true,
                }
            }
        }
        let now = now_iso();
        let mut batch = BatchBuilder::new();
        for (id, object) in extract(&data, &self.settings.id_map)? {
            let id = match id {
                Some(Json::String(s)) if !s.is_empty() => s,
                None | Some(Json::Null) => {
                    log::warn("Skipping a document: the connector does not find the configured unique field.");
                    continue;
                }
                Some(Json::String(_)) => {
                    log::warn("Skipping a document: its unique field is empty.");
                    continue;
                }
                Some(other) => {
                    return Err(Error::config(format!("{other} is not a string.")));
                }
            };
            let mut doc = batch.document(id).timestamp(now.clone());
            for (k, v) in object {
                if k == "_id" || k == "_timestamp" {
                    continue;
                }
                doc = doc.set(&k, to_value(v));
            }
            doc.finish();
        }
        Ok(Some(batch.finish()))
    }
}

tributary_sdk::register_source!(GraphQl);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: Json) -> Config {
        Config::from_map(v.as_object().cloned().unwrap_or_default())
    }

    fn base() -> Json {
        json!({
            "http_endpoint": "http://127.0.0.1:8080/graphql",
            "http_method": "post",
            "authentication_method": "bearer",
            "token": "********",
            "graphql_query": "query($after: String) { org { users(after: $after) { pageInfo { hasNextPage endCursor } nodes { id name } } } }",
            "graphql_object_to_id_map": "{\"org.users.nodes\": \"id\"}",
            "pagination_model": "cursor_pagination",
            "pagination_key": "org.users",
            "connection_timeout": 30
        })
    }

    #[test]
    fn settings_validate_as_elastic_does() {
        let s = Settings::from_config(&config(base())).expect("valid");
        assert_eq!(s.pagination, Some(("org.users".into(), "after".into())));
        assert_eq!(
            s.id_map,
            vec![("org.users.nodes".to_string(), "id".to_string())]
        );
        let with = |k: &str, v: Json| {
            let mut b = base();
            b[k] = v;
            Settings::from_config(&config(b)).expect_err(k).message
        };
        assert_eq!(
            with(
                "graphql_object_to_id_map",
                json!("{\"org.members\": \"id\"}")
            ),
            "org.members is not present in the query."
        );
        assert_eq!(
            with(
                "graphql_object_to_id_map",
                json!("{\"org.users.nodes\": \"login\"}")
            ),
            "login is not present in the query."
        );
        assert_eq!(
            with("graphql_object_to_id_map", json!("")),
            "GraphQL Objects to ID mapping field is not configured."
        );
        assert!(with("graphql_object_to_id_map", json!("{nope"))
            .starts_with("GraphQL Objects to ID mapping must be in valid JSON format."));
        assert_eq!(
            with("pagination_key", json!("org.groups")),
            "org.groups is not present in the query."
        );
        assert!(with("graphql_query", json!("mutation { x { id } }")).contains("mutation"));
        assert_eq!(
            with("http_endpoint", json!("ftp://x")),
            "GraphQL HTTP endpoint is not a valid URL."
        );
    }

    #[test]
    fn extracts_objects_and_page_info() {
        let data = json!({"org": {"users": {"pageInfo": {"hasNextPage": true, "endCursor": "c2"},
            "nodes": [{"id": "u1", "name": "Ann"}, {"id": "u2", "name": "Bob"}]}}});
        let items = extract(&data, &[("org.users.nodes".into(), "id".into())]).expect("extract");
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].0, Some(json!("u2")));
        assert_eq!(
            page_info(&data, "org.users").expect("page"),
            (true, Some("c2".into()))
        );
        assert!(extract(&data, &[("org.teams".into(), "id".into())]).is_err());
    }
}
