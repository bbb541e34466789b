//! {{title}}: a Tributary source plugin on the outbound HTTP capability. It GETs
//! a JSON array of objects from `url` (an origin the operator allowed,
//! `plugins.http.allowed_origins`) and sends one document per object, its id
//! taken from `id_field`. A bearer token goes by reference: the plugin names the
//! field, the host reads it and sets `Authorization`.

use tributary_sdk::http::{self, Auth, Request};
use tributary_sdk::{
    Batch, BatchBuilder, Config, DocumentStream, Error, Field, Metadata, Schema, Source,
    SyncRequest, Value,
};

/// The plugin.
pub struct Plugin;

/// The configuration schema.
pub fn schema() -> Schema {
    Schema::new()
        .field(Field::str("url", "URL of a JSON array").order(1))
        .field(Field::str("id_field", "Id field of each object").value("id").order(2))
        .field(Field::str("token", "Bearer token").sensitive().optional().order(3))
}

fn request(config: &Config) -> Result<Request, Error> {
    let url = config
        .str("url")
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Error::config("'URL of a JSON array' cannot be empty."))?;
    let mut request = Request::get(url).header("accept", "application/json");
    if config.str("token").is_some_and(|t| !t.is_empty()) {
        // The field's name, never its value: the host inserts the secret.
        request = request.auth(Auth::Bearer("token".into()));
    }
    Ok(request)
}

/// The objects the endpoint answers with.
fn fetch(config: &Config) -> Result<Vec<serde_json::Value>, Error> {
    let response = http::send(request(config)?)?;
    if response.status != 200 {
        return Err(Error::source(format!(
            "{} answered HTTP {}",
            response.url, response.status
        )));
    }
    match serde_json::from_slice(&response.body) {
        Ok(serde_json::Value::Array(items)) => Ok(items),
        Ok(_) => Err(Error::source(format!("{} did not answer a JSON array", response.url))),
        Err(e) => Err(Error::source(format!("{} did not answer JSON: {e}", response.url))),
    }
}

impl Source for Plugin {
    type Stream = Objects;

    fn metadata() -> Metadata {
        Metadata::new("{{name}}", "{{title}}", env!("CARGO_PKG_VERSION"))
    }

    fn configuration() -> Schema {
        schema()
    }

    fn ping(config: &Config) -> Result<(), Error> {
        fetch(config).map(|_| ())
    }

    fn start_sync(config: &Config, request: &SyncRequest) -> Result<Objects, Error> {
        let id_field = config.str("id_field").unwrap_or("id").to_string();
        Ok(Objects {
            items: fetch(config)?.into_iter(),
            id_field,
            batch_size: request.batch_size.max(1) as usize,
        })
    }
}

/// One sync: the objects not sent yet.
pub struct Objects {
    items: std::vec::IntoIter<serde_json::Value>,
    id_field: String,
    batch_size: usize,
}

impl DocumentStream for Objects {
    fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        let mut batch = BatchBuilder::new();
        for item in self.items.by_ref().take(self.batch_size) {
            let serde_json::Value::Object(fields) = item else {
                return Err(Error::source("an item of the array is not an object"));
            };
            let id = match fields.get(&self.id_field) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v @ serde_json::Value::Number(_)) => v.to_string(),
                _ => {
                    return Err(Error::source(format!(
                        "an object has no string or number `{}`",
                        self.id_field
                    )))
                }
            };
            let mut doc = batch.document(id);
            for (name, value) in fields {
                doc = doc.set(&name, Value::from(value));
            }
            doc.finish();
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
    fn an_empty_url_is_named() {
        let config = Config::from_json(r#"{"url": "", "id_field": "id"}"#).expect("JSON");
        let errors = schema().validate(&config);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key.as_deref(), Some("url"));
    }
}
