//! A typed builder for the configuration schema (Elastic's Rich Configurable Fields).

use serde_json::{json, Value};

use crate::{wit, Config};

/// RCF `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `str`
    Str,
    /// `int`
    Int,
    /// `list`
    List,
    /// `bool`
    Bool,
}

/// RCF `display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// `text`
    Text,
    /// `textbox`
    Textbox,
    /// `textarea`
    Textarea,
    /// `numeric`
    Numeric,
    /// `toggle`
    Toggle,
    /// `dropdown`
    Dropdown,
}

/// A configuration problem; `key` names the field when one is to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// One Rich Configurable Field. Defaults are Elastic's framework defaults
/// (`required: true`, `value: ""`, `default_value: null`, …); `order` defaults to
/// the field's position in the [`Schema`].
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Key in the configuration.
    pub key: String,
    /// UI label.
    pub label: String,
    /// Value type.
    pub field_type: FieldType,
    /// UI widget.
    pub display: Display,
    /// Initial value.
    pub value: Value,
    /// Used when the value is empty and the field is not required.
    pub default_value: Value,
    /// Empty is an error.
    pub required: bool,
    /// Obfuscated in the UI.
    pub sensitive: bool,
    /// UI order (`None`: position in the schema).
    pub order: Option<u32>,
    /// `(field, value)`: shown and validated only when all hold.
    pub depends_on: Vec<(String, Value)>,
    /// `(type, constraint)`: `less_than`, `greater_than`, `list_type`, `included_in`, `regex`.
    pub validations: Vec<(String, Value)>,
    /// `(label, value)` dropdown options.
    pub options: Vec<(String, Value)>,
    /// UI tooltip.
    pub tooltip: Option<String>,
    /// e.g. `["advanced"]`.
    pub ui_restrictions: Vec<String>,
}

impl Field {
    /// A field of `field_type` shown with `display`.
    pub fn new(key: &str, label: &str, field_type: FieldType, display: Display) -> Field {
        Field {
            key: key.into(),
            label: label.into(),
            field_type,
            display,
            value: json!(""),
            default_value: Value::Null,
            required: true,
            sensitive: false,
            order: None,
            depends_on: Vec::new(),
            validations: Vec::new(),
            options: Vec::new(),
            tooltip: None,
            ui_restrictions: Vec::new(),
        }
    }
    /// `str` shown as `text`.
    pub fn str(key: &str, label: &str) -> Field {
        Self::new(key, label, FieldType::Str, Display::Text)
    }
    /// `int` shown as `numeric`.
    pub fn int(key: &str, label: &str) -> Field {
        Self::new(key, label, FieldType::Int, Display::Numeric)
    }
    /// `bool` shown as `toggle`.
    pub fn toggle(key: &str, label: &str) -> Field {
        Self::new(key, label, FieldType::Bool, Display::Toggle)
    }
    /// `list` shown as `textarea`.
    pub fn list(key: &str, label: &str) -> Field {
        Self::new(key, label, FieldType::List, Display::Textarea)
    }
    /// Sets the display.
    pub fn display(mut self, d: Display) -> Self {
        self.display = d;
        self
    }
    /// Sets the initial value.
    pub fn value(mut self, v: impl Into<Value>) -> Self {
        self.value = v.into();
        self
    }
    /// Sets `default_value`.
    pub fn default_value(mut self, v: impl Into<Value>) -> Self {
        self.default_value = v.into();
        self
    }
    /// `required: false`.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
    /// `sensitive: true`.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    /// Sets the order explicitly.
    pub fn order(mut self, order: u32) -> Self {
        self.order = Some(order);
        self
    }
    /// Adds a `depends_on` entry.
    pub fn depends_on(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.depends_on.push((field.into(), value.into()));
        self
    }
    /// Adds a validation.
    pub fn validation(mut self, kind: &str, constraint: impl Into<Value>) -> Self {
        self.validations.push((kind.into(), constraint.into()));
        self
    }
    /// Adds a dropdown option.
    pub fn option(mut self, label: &str, value: impl Into<Value>) -> Self {
        self.options.push((label.into(), value.into()));
        self
    }
    /// Sets the tooltip.
    pub fn tooltip(mut self, t: &str) -> Self {
        self.tooltip = Some(t.into());
        self
    }
    /// `ui_restrictions: ["advanced"]`.
    pub fn advanced(self) -> Self {
        self.ui_restriction("advanced")
    }
    /// Adds a UI restriction.
    pub fn ui_restriction(mut self, r: &str) -> Self {
        self.ui_restrictions.push(r.into());
        self
    }
}

/// The whole configuration schema, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// The fields.
    pub fields: Vec<Field>,
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.iter().all(|i| i.is_null() || i.as_str() == Some("")),
        Some(_) => false,
    }
}

/// Equality of a configured value and a `depends_on` value, tolerant of
/// `"true"` vs `true` and `"5"` vs `5`.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.trim().to_ascii_lowercase(),
        v => v.to_string(),
    };
    a == b || text(a) == text(b)
}

impl Schema {
    /// An empty schema.
    pub fn new() -> Schema {
        Schema::default()
    }

    /// Appends a field.
    pub fn field(mut self, f: Field) -> Self {
        self.fields.push(f);
        self
    }

    /// The field for `key`.
    pub fn get(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// The schema as the object Elastic stores in the connector's `configuration`.
    pub fn to_json(&self) -> Value {
        let mut o = serde_json::Map::new();
        for (i, f) in self.fields.iter().enumerate() {
            let kv = |v: &[(String, Value)], k: &str, val: &str| -> Value {
                v.iter().map(|(a, b)| json!({ k: a, val: b })).collect()
            };
            o.insert(
                f.key.clone(),
                json!({
                    "default_value": f.default_value,
                    "depends_on": kv(&f.depends_on, "field", "value"),
                    "display": display_name(f.display),
                    "label": f.label,
                    "options": kv(&f.options, "label", "value"),
                    "order": f.order.unwrap_or(i as u32 + 1),
                    "required": f.required,
                    "sensitive": f.sensitive,
                    "tooltip": f.tooltip,
                    "type": type_name(f.field_type),
                    "ui_restrictions": f.ui_restrictions,
                    "validations": kv(&f.validations, "type", "constraint"),
                    "value": f.value,
                }),
            );
        }
        Value::Object(o)
    }

    pub(crate) fn into_wit(self) -> Vec<wit::ConfigField> {
        self.fields
            .into_iter()
            .enumerate()
            .map(|(i, f)| wit::ConfigField {
                order: f.order.unwrap_or(i as u32 + 1),
                key: f.key,
                label: f.label,
                field_type: match f.field_type {
                    FieldType::Str => wit::FieldType::Str,
                    FieldType::Int => wit::FieldType::Int,
                    FieldType::List => wit::FieldType::List,
                    FieldType::Bool => wit::FieldType::Bool,
                },
                display: match f.display {
                    Display::Text => wit::Display::Text,
                    Display::Textbox => wit::Display::Textbox,
                    Display::Textarea => wit::Display::Textarea,
                    Display::Numeric => wit::Display::Numeric,
                    Display::Toggle => wit::Display::Toggle,
                    Display::Dropdown => wit::Display::Dropdown,
                },
                value: f.value.to_string(),
                default_value: f.default_value.to_string(),
                required: f.required,
                sensitive: f.sensitive,
                depends_on: f
                    .depends_on
                    .into_iter()
                    .map(|(field, v)| wit::Dependency {
                        field,
                        value: v.to_string(),
                    })
                    .collect(),
                validations: f
                    .validations
                    .into_iter()
                    .map(|(kind, c)| wit::Validation {
                        kind,
                        constraint: c.to_string(),
                    })
                    .collect(),
                options: f
                    .options
                    .into_iter()
                    .map(|(label, v)| wit::FieldOption {
                        label,
                        value: v.to_string(),
                    })
                    .collect(),
                tooltip: f.tooltip,
                ui_restrictions: f.ui_restrictions,
            })
            .collect()
    }

    /// Elastic's validation (`check_valid`): per field in order, skipped when a
    /// dependency does not hold; required and empty → `'<label>' cannot be empty.`;
    /// then `less_than`, `greater_than`, `list_type`, `included_in`
    /// (`regex` is not checked: the SDK carries no regex engine).
    pub fn validate(&self, config: &Config) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let value_of = |f: &Field| {
            config
                .get(&f.key)
                .cloned()
                .unwrap_or_else(|| f.value.clone())
        };
        for f in &self.fields {
            let mut skip = false;
            for (dep, want) in &f.depends_on {
                match self.get(dep) {
                    None => {
                        errors.push(FieldError {
                            key: Some(f.key.clone()),
                            message: format!("'{}' depends on unknown field '{dep}'", f.label),
                        });
                        skip = true;
                    }
                    Some(df) => {
                        if !loosely_equal(&value_of(df), want) {
                            skip = true;
                        }
                    }
                }
            }
            if skip {
                continue;
            }
            let v = value_of(f);
            let err = |m: String| FieldError {
                key: Some(f.key.clone()),
                message: m,
            };
            if is_empty(Some(&v)) {
                if f.required {
                    errors.push(err(format!("'{}' cannot be empty.", f.label)));
                }
                continue;
            }
            let num = match f.field_type {
                FieldType::Int => config.int(&f.key).or_else(|| v.as_i64()),
                _ => None,
            };
            if f.field_type == FieldType::Int && num.is_none() {
                errors.push(err(format!("'{}' must be an integer.", f.label)));
                continue;
            }
            for (kind, c) in &f.validations {
                match (kind.as_str(), num, c.as_f64()) {
                    ("less_than", Some(n), Some(c)) if (n as f64) >= c => errors.push(err(
                        format!("'{}' value '{n}' should be less than {c}.", f.label),
                    )),
                    ("greater_than", Some(n), Some(c)) if (n as f64) <= c => errors.push(err(
                        format!("'{}' value '{n}' should be greater than {c}.", f.label),
                    )),
                    ("included_in", _, _) => {
                        let allowed = c.as_array().cloned().unwrap_or_default();
                        let items: Vec<Value> = match f.field_type {
                            FieldType::List => {
                                config.list(&f.key).into_iter().map(Value::String).collect()
                            }
                            _ => vec![v.clone()],
                        };
                        for it in items {
                            if !allowed.iter().any(|a| loosely_equal(&it, a)) {
                                errors.push(err(format!(
                                    "'{}' value '{}' should be one of {c}.",
                                    f.label, it
                                )));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        errors
    }
}

fn display_name(d: Display) -> &'static str {
    match d {
        Display::Text => "text",
        Display::Textbox => "textbox",
        Display::Textarea => "textarea",
        Display::Numeric => "numeric",
        Display::Toggle => "toggle",
        Display::Dropdown => "dropdown",
    }
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Str => "str",
        FieldType::Int => "int",
        FieldType::List => "list",
        FieldType::Bool => "bool",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::new()
            .field(Field::str("host", "Host"))
            .field(
                Field::int("port", "Port")
                    .validation("greater_than", 0)
                    .validation("less_than", 65536),
            )
            .field(Field::toggle("ssl_enabled", "Enable SSL").value(false))
            .field(Field::str("ssl_ca", "SSL certificate").depends_on("ssl_enabled", true))
            .field(
                Field::int("fetch_size", "Rows")
                    .optional()
                    .default_value(50)
                    .advanced(),
            )
    }

    #[test]
    fn validation_follows_elastic() {
        let cfg =
            Config::from_json(r#"{"host": "", "port": "70000", "ssl_enabled": false}"#).unwrap();
        let errs: Vec<String> = schema()
            .validate(&cfg)
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(
            errs,
            [
                "'Host' cannot be empty.",
                "'Port' value '70000' should be less than 65536."
            ]
        );
        let cfg = Config::from_json(
            r#"{"host": "h", "port": 5432, "ssl_enabled": "true", "ssl_ca": ""}"#,
        )
        .unwrap();
        let errs: Vec<String> = schema()
            .validate(&cfg)
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(errs, ["'SSL certificate' cannot be empty."]);
    }

    #[test]
    fn json_shape_has_every_attribute() {
        let j = schema().to_json();
        assert_eq!(j["fetch_size"]["order"], 5);
        assert_eq!(j["fetch_size"]["ui_restrictions"], json!(["advanced"]));
        assert_eq!(
            j["ssl_ca"]["depends_on"],
            json!([{"field": "ssl_enabled", "value": true}])
        );
        assert_eq!(j["host"]["value"], "");
        assert_eq!(j["host"]["default_value"], Value::Null);
        assert_eq!(
            j["port"]["validations"][0],
            json!({"type": "greater_than", "constraint": 0})
        );
    }

    #[test]
    fn config_coercions() {
        let c = Config::from_json(
            r#"{"tables": " album, artist ,, ", "port": "5432", "x": {"value": true}}"#,
        )
        .unwrap();
        assert_eq!(c.list("tables"), ["album", "artist"]);
        assert_eq!(c.int("port"), Some(5432));
        assert_eq!(c.bool("x"), Some(true));
        assert!(Config::from_json("[1]").is_err());
    }
}
