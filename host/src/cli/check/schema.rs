//! Static checks of a plugin's metadata and configuration schema: what Elastic's
//! connector document and Kibana expect of Rich Configurable Fields
//! (`docs/elastic/connector-document.md#configuration`), beyond what the runtime
//! already refused at load (invalid JSON texts, duplicate keys).

use serde_json::{Map, Value};

use super::report::Report;
use tributary_runtime::Metadata;

/// The displays Kibana can render for each field type. Kibana shows a `toggle`
/// only for booleans and a `numeric` input only for integers; a list is typed as
/// comma-separated text.
fn displays_for(field_type: &str) -> &'static [&'static str] {
    match field_type {
        "str" => &["text", "textbox", "textarea", "dropdown"],
        "int" => &["numeric", "dropdown"],
        "list" => &["text", "textbox", "textarea", "dropdown"],
        "bool" => &["toggle"],
        _ => &[],
    }
}

const VALIDATION_TYPES: [&str; 5] = [
    "less_than",
    "greater_than",
    "list_type",
    "included_in",
    "regex",
];

/// Words in a key that name a credential: such a field must be `sensitive`
/// (Kibana masks it; the host withholds it from the plugin).
fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let words: Vec<&str> = key.split(['_', '-', '.']).collect();
    let has = |w: &str| words.contains(&w);
    has("password")
        || has("passwd")
        || has("secret")
        || has("token")
        || has("apikey")
        || (has("api") && has("key"))
        || (has("private") && has("key"))
}

/// A value of JSON type suitable for `field_type` (`""` and null are "empty",
/// allowed for every type, as Elastic's coercion has them).
fn fits(field_type: &str, v: &Value) -> bool {
    match (field_type, v) {
        (_, Value::Null) => true,
        (_, Value::String(s)) if s.is_empty() => true,
        ("str", Value::String(_)) => true,
        ("int", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("bool", Value::Bool(_)) => true,
        ("list", Value::String(_) | Value::Array(_)) => true,
        _ => false,
    }
}

fn str_of<'a>(f: &'a Map<String, Value>, attr: &str) -> &'a str {
    f.get(attr).and_then(Value::as_str).unwrap_or_default()
}

fn list_of<'a>(f: &'a Map<String, Value>, attr: &str) -> &'a [Value] {
    f.get(attr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Strict semver (`MAJOR.MINOR.PATCH`, optional `-pre` and `+build`).
fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

/// Metadata: the service type asked for, a semver version, features the host
/// can serve.
pub fn check_metadata(report: &mut Report, m: &Metadata) {
    let mut problems = Vec::new();
    if !is_semver(&m.version) {
        problems.push(format!(
            "version {:?} is not semver (MAJOR.MINOR.PATCH)",
            m.version
        ));
    }
    if m.features.document_level_security {
        problems.push(
            "declares document-level security, which Tributary cannot run (access-control \
             syncs end in error); do not declare it"
                .to_string(),
        );
    }
    report.verdict(
        "metadata",
        problems,
        format!(
            "service type {}, name {:?}, version {}, features: incremental {}, advanced rules {}",
            m.service_type,
            m.name,
            m.version,
            m.features.incremental_sync,
            m.features.advanced_rules
        ),
    );
}

/// Every schema check, one report line each.
pub fn check_schema(report: &mut Report, schema: &Map<String, Value>) {
    let fields: Vec<(&String, &Map<String, Value>)> = schema
        .iter()
        .filter_map(|(k, v)| v.as_object().map(|o| (k, o)))
        .collect();
    if fields.is_empty() {
        report.pass(
            "schema",
            "no configuration fields (nothing for Kibana to show)",
        );
        return;
    }
    labels(report, &fields);
    types_and_displays(report, &fields);
    depends_on(report, schema, &fields);
    order(report, &fields);
    options(report, &fields);
    defaults(report, &fields);
    sensitive(report, &fields);
    validations(report, &fields);
}

type Fields<'a> = [(&'a String, &'a Map<String, Value>)];

fn labels(report: &mut Report, fields: &Fields) {
    let mut problems = Vec::new();
    for (key, f) in fields {
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            problems.push(format!(
                "key {key:?}: use letters, digits, `_` or `-` (it is a JSON key in the connector document and a form id in Kibana)"
            ));
        }
        if str_of(f, "label").trim().is_empty() {
            problems.push(format!("`{key}` has an empty label"));
        }
        for r in list_of(f, "ui_restrictions") {
            if r.as_str() != Some("advanced") {
                problems.push(format!(
                    "`{key}`: ui_restriction {r} is unknown to Kibana (only \"advanced\")"
                ));
            }
        }
    }
    report.verdict(
        "schema.labels",
        problems,
        format!("{} fields, each with a key and a label", fields.len()),
    );
}

fn types_and_displays(report: &mut Report, fields: &Fields) {
    let mut problems = Vec::new();
    for (key, f) in fields {
        let ty = str_of(f, "type");
        let display = str_of(f, "display");
        let allowed = displays_for(ty);
        if allowed.is_empty() {
            problems.push(format!("`{key}` has unknown type {ty:?}"));
        } else if !allowed.contains(&display) {
            problems.push(format!(
                "`{key}` is `{ty}` shown as `{display}`; Kibana shows a `{ty}` as {}",
                allowed.join(", ")
            ));
        }
    }
    report.verdict(
        "schema.types",
        problems,
        "every field's display suits its type",
    );
}

fn depends_on(report: &mut Report, schema: &Map<String, Value>, fields: &Fields) {
    let mut problems = Vec::new();
    for (key, f) in fields {
        for dep in list_of(f, "depends_on") {
            let target = dep.get("field").and_then(Value::as_str).unwrap_or_default();
            let value = dep.get("value").unwrap_or(&Value::Null);
            if target == key.as_str() {
                problems.push(format!("`{key}` depends on itself"));
                continue;
            }
            let Some(other) = schema.get(target).and_then(Value::as_object) else {
                problems.push(format!(
                    "`{key}` depends on `{target}`, which is not a field (Elastic fails validation of every configuration)"
                ));
                continue;
            };
            let ty = str_of(other, "type");
            if !fits(ty, value) || value.is_null() {
                problems.push(format!(
                    "`{key}` depends on `{target}` = {value}, which is not a `{ty}` value"
                ));
            }
            let opts = list_of(other, "options");
            if str_of(other, "display") == "dropdown"
                && !opts.iter().any(|o| o.get("value") == Some(value))
            {
                problems.push(format!(
                    "`{key}` depends on `{target}` = {value}, which is not one of its options"
                ));
            }
        }
    }
    report.verdict(
        "schema.depends_on",
        problems,
        "every depends_on names another field and one of its values",
    );
}

fn order(report: &mut Report, fields: &Fields) {
    let mut problems = Vec::new();
    let mut seen: std::collections::BTreeMap<u64, &str> = std::collections::BTreeMap::new();
    for (key, f) in fields {
        match f.get("order").and_then(Value::as_u64) {
            None | Some(0) => problems.push(format!("`{key}` has no positive order")),
            Some(o) => {
                if let Some(first) = seen.insert(o, key.as_str()) {
                    problems.push(format!(
                        "`{first}` and `{key}` share order {o} (Kibana's order is then arbitrary)"
                    ));
                }
            }
        }
    }
    let range = match (seen.keys().next(), seen.keys().last()) {
        (Some(a), Some(b)) => format!("{a}..{b}"),
        _ => "-".into(),
    };
    report.verdict(
        "schema.order",
        problems,
        format!("every field has its own order ({range})"),
    );
}

fn options(report: &mut Report, fields: &Fields) {
    let mut problems = Vec::new();
    for (key, f) in fields {
        let ty = str_of(f, "type");
        let opts = list_of(f, "options");
        if str_of(f, "display") != "dropdown" {
            if !opts.is_empty() {
                problems.push(format!(
                    "`{key}` has options but is not a dropdown (Kibana shows options only for dropdowns)"
                ));
            }
            continue;
        }
        if opts.is_empty() {
            problems.push(format!("dropdown `{key}` has no options"));
            continue;
        }
        let mut values = Vec::new();
        for o in opts {
            let label = o.get("label").and_then(Value::as_str).unwrap_or_default();
            let value = o.get("value").unwrap_or(&Value::Null);
            if label.trim().is_empty() {
                problems.push(format!("dropdown `{key}` has an option without a label"));
            }
            if value.is_null() || !fits(ty, value) {
                problems.push(format!(
                    "dropdown `{key}`: option value {value} is not a `{ty}`"
                ));
            }
            if values.contains(&value) {
                problems.push(format!("dropdown `{key}`: option value {value} twice"));
            }
            values.push(value);
        }
        for attr in ["value", "default_value"] {
            let v = f.get(attr).unwrap_or(&Value::Null);
            let empty = v.is_null() || v.as_str() == Some("");
            if !empty && !values.contains(&v) {
                problems.push(format!(
                    "dropdown `{key}`: {attr} {v} is not one of its options"
                ));
            }
        }
    }
    report.verdict(
        "schema.options",
        problems,
        "dropdowns have options; other fields have none",
    );
}

fn defaults(report: &mut Report, fields: &Fields) {
    let mut problems = Vec::new();
    for (key, f) in fields {
        let ty = str_of(f, "type");
        for attr in ["value", "default_value"] {
            let v = f.get(attr).unwrap_or(&Value::Null);
            if !fits(ty, v) {
                problems.push(format!("`{key}` is `{ty}` but its {attr} is {v}"));
            }
        }
        let required = f.get("required").and_then(Value::as_bool).unwrap_or(true);
        let default = f.get("default_value").unwrap_or(&Value::Null);
        if required && !default.is_null() {
            problems.push(format!(
                "`{key}` is required, so its default_value {default} is never used (Elastic uses it only for optional fields)"
            ));
        }
    }
    report.verdict(
        "schema.defaults",
        problems,
        "values and defaults have their field's type",
    );
}

fn sensitive(report: &mut Report, fields: &Fields) {
    let mut problems = Vec::new();
    let mut count = 0;
    for (key, f) in fields {
        let is_sensitive = f.get("sensitive").and_then(Value::as_bool) == Some(true);
        if is_sensitive {
            count += 1;
            if str_of(f, "type") != "str" {
                problems.push(format!(
                    "`{key}` is sensitive but not a `str` (Kibana masks only text)"
                ));
            }
            let v = f.get("value").unwrap_or(&Value::Null);
            if !(v.is_null() || v.as_str() == Some("")) {
                problems.push(format!(
                    "sensitive `{key}` ships a value in the schema (every connector document would hold it)"
                ));
            }
        } else if looks_secret(key) {
            problems.push(format!(
                "`{key}` looks like a credential but is not sensitive (Kibana would show it and the plugin would receive it)"
            ));
        }
    }
    report.verdict(
        "schema.sensitive",
        problems,
        format!("{count} sensitive field(s); no credential left visible"),
    );
}

fn validations(report: &mut Report, fields: &Fields) {
    let mut problems = Vec::new();
    for (key, f) in fields {
        let ty = str_of(f, "type");
        for v in list_of(f, "validations") {
            let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
            let c = v.get("constraint").unwrap_or(&Value::Null);
            if !VALIDATION_TYPES.contains(&kind) {
                problems.push(format!(
                    "`{key}`: validation type {kind:?} is unknown (Elasticsearch answers 400)"
                ));
                continue;
            }
            let ok = match kind {
                "less_than" | "greater_than" => c.is_number() && ty == "int",
                "list_type" => matches!(c.as_str(), Some("str" | "int")) && ty == "list",
                "included_in" => c.is_array(),
                "regex" => c.is_string() && ty == "str",
                _ => true,
            };
            if !ok {
                problems.push(format!(
                    "`{key}` (`{ty}`): validation {kind} with constraint {c} cannot apply"
                ));
            }
        }
    }
    report.verdict(
        "schema.validations",
        problems,
        "validations are Elastic's types with usable constraints",
    );
}

#[cfg(test)]
mod tests {
    use super::super::report::Status;
    use super::*;
    use serde_json::json;

    fn field(ty: &str, display: &str, order: u32) -> Value {
        json!({"label": "L", "type": ty, "display": display, "value": "", "default_value": null,
               "required": true, "sensitive": false, "order": order, "depends_on": [],
               "validations": [], "options": [], "tooltip": null, "ui_restrictions": []})
    }

    fn run(schema: Value) -> Report {
        let mut r = Report::default();
        check_schema(&mut r, schema.as_object().expect("object"));
        r
    }

    fn failed(r: &Report, check: &str) -> String {
        let c = r
            .checks
            .iter()
            .find(|c| c.check == check)
            .unwrap_or_else(|| panic!("no {check} in {:?}", r.checks));
        assert_eq!(c.status, Status::Fail, "{check}: {}", c.detail);
        c.detail.clone()
    }

    #[test]
    fn a_good_schema_passes_every_check() {
        let mut ssl = field("bool", "toggle", 3);
        ssl["value"] = json!(false);
        let mut ca = field("str", "text", 4);
        ca["depends_on"] = json!([{"field": "ssl", "value": true}]);
        let mut pw = field("str", "text", 2);
        pw["sensitive"] = json!(true);
        let mut mode = field("str", "dropdown", 5);
        mode["options"] = json!([{"label": "A", "value": "a"}, {"label": "B", "value": "b"}]);
        mode["value"] = json!("a");
        let mut size = field("int", "numeric", 6);
        size["required"] = json!(false);
        size["default_value"] = json!(50);
        size["validations"] = json!([{"type": "greater_than", "constraint": 0}]);
        let r = run(
            json!({"host": field("str", "text", 1), "password": pw, "ssl": ssl,
                           "ssl_ca": ca, "mode": mode, "fetch_size": size}),
        );
        assert!(r.passed(), "{}", r.to_text());
        assert_eq!(r.checks.len(), 8);
    }

    #[test]
    fn each_mistake_is_named() {
        let mut toggle_str = field("str", "toggle", 1);
        toggle_str["depends_on"] = json!([{"field": "nope", "value": true}]);
        let mut token = field("str", "text", 1);
        token["validations"] = json!([{"type": "less_than", "constraint": 3}]);
        let mut mode = field("str", "dropdown", 2);
        mode["value"] = json!("c");
        mode["options"] = json!([{"label": "A", "value": "a"}]);
        let mut port = field("int", "numeric", 3);
        port["value"] = json!("5432");
        port["default_value"] = json!(5432);
        let r = run(json!({"flag": toggle_str, "api_token": token, "mode": mode, "port": port}));
        assert!(failed(&r, "schema.types").contains("`flag` is `str` shown as `toggle`"));
        assert!(failed(&r, "schema.depends_on").contains("`nope`, which is not a field"));
        assert!(failed(&r, "schema.order").contains("share order 1"));
        assert!(failed(&r, "schema.options").contains("value \"c\" is not one of its options"));
        let d = failed(&r, "schema.defaults");
        assert!(
            d.contains("`port` is `int` but its value is \"5432\""),
            "{d}"
        );
        assert!(d.contains("never used"), "{d}");
        assert!(failed(&r, "schema.sensitive").contains("`api_token` looks like a credential"));
        assert!(failed(&r, "schema.validations").contains("less_than"));
    }

    #[test]
    fn semver_and_secret_words() {
        assert!(is_semver("0.1.0") && is_semver("1.2.3-rc.1+b5"));
        assert!(!is_semver("1.2") && !is_semver("01.2.3") && !is_semver("v1.2.3"));
        assert!(
            looks_secret("password") && looks_secret("api_key") && looks_secret("bearer-token")
        );
        assert!(
            !looks_secret("tls_keyfile") && !looks_secret("tokenizer") && !looks_secret("host")
        );
    }
}
