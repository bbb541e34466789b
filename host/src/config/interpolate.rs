//! Environment interpolation in string values: `${VAR}`, `${VAR:-default}` and `$${`
//! for a literal `${`.
//!
//! Done on parsed string scalars rather than on the raw text (EnvYAML's way), so a
//! value containing `:` or `#` cannot change the YAML structure. A value that was
//! only a reference (`port: ${PORT}`) is coerced later by the typed reader.

use super::ConfigError;

/// Replaces every reference in `input`; `key` names the config key for errors.
pub(crate) fn interpolate(
    input: &str,
    key: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    if !input.contains('$') {
        return Ok(input.to_owned());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or_else(|| ConfigError::Invalid {
                source_name: source.to_owned(),
                key: key.to_owned(),
                message: format!("unterminated `${{` in {input:?}"),
            })?;
            let expr = &tail[..end];
            out.push_str(&resolve(expr, key, source, env)?);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve(
    expr: &str,
    key: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let (name, default) = match expr.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (expr, None),
    };
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(ConfigError::Invalid {
            source_name: source.to_owned(),
            key: key.to_owned(),
            message: format!("`${{{expr}}}` is not a valid environment variable reference"),
        });
    }
    // Shell semantics of `:-`: the default also replaces an empty variable.
    match (env(name), default) {
        (Some(v), _) if !v.is_empty() || default.is_none() => Ok(v),
        (_, Some(d)) => Ok(d.to_owned()),
        (None, None) => Err(ConfigError::MissingEnv {
            source_name: source.to_owned(),
            key: key.to_owned(),
            var: name.to_owned(),
        }),
        // Unreachable in practice: Some(empty) with no default is the first arm.
        (Some(v), None) => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("es.example:9200".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(s: &str) -> Result<String, ConfigError> {
        interpolate(s, "k", "t.yml", &env)
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(run("http://x:9200").unwrap(), "http://x:9200");
        assert_eq!(run("cost $5").unwrap(), "cost $5");
    }

    #[test]
    fn variables_are_replaced() {
        assert_eq!(run("https://${HOST}/").unwrap(), "https://es.example:9200/");
        assert_eq!(
            run("${HOST}${HOST}").unwrap(),
            "es.example:9200es.example:9200"
        );
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        assert_eq!(run("${NOPE:-fallback}").unwrap(), "fallback");
        assert_eq!(run("${EMPTY:-fallback}").unwrap(), "fallback");
        assert_eq!(run("${HOST:-fallback}").unwrap(), "es.example:9200");
        assert_eq!(run("${NOPE:-}").unwrap(), "");
        assert_eq!(run("${EMPTY}").unwrap(), "");
    }

    #[test]
    fn escape_gives_literal() {
        assert_eq!(run("$${HOST}").unwrap(), "${HOST}");
    }

    #[test]
    fn unset_without_default_names_key_and_variable() {
        let err = run("${NOPE}").unwrap_err().to_string();
        assert!(err.contains("`k`") && err.contains("NOPE"), "{err}");
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(run("${HOST").is_err());
        assert!(run("${}").is_err());
        assert!(run("${A-B}").is_err());
        assert!(run("${1A}").is_err());
    }
}
