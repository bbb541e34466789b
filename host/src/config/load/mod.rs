//! From YAML text to [`Config`]: parse, nest dotted keys, interpolate the
//! environment, read every known key (warning on the others), validate.

use std::cell::RefCell;
use std::path::Path;

use serde_yaml::{Mapping, Value};

/// `set!(section, ctx, target, "key", parser)`: assigns when the key is present.
macro_rules! set {
    ($sec:expr, $ctx:expr, $target:expr, $key:literal, $parse:expr) => {
        if let Some(v) = $sec.get($ctx, $key, $parse)? {
            $target = v;
        }
    };
}

mod connectors;
mod elasticsearch;
mod plugins;
mod service;
mod sync;

use connectors::read_connectors;
use elasticsearch::read_elasticsearch;
use plugins::read_plugins;
use service::read_service;
use sync::read_sync;

use super::interpolate::interpolate;
use super::model::*;
use super::validate::{self as v, At};
use super::ConfigError;

/// Reads and parses a config file.
pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    from_str(&text, &path.display().to_string())
}

/// Parses config text; `source_name` (a file name) prefixes every message.
pub fn from_str(yaml: &str, source_name: &str) -> Result<Config, ConfigError> {
    from_str_with_env(yaml, source_name, &|name| std::env::var(name).ok())
}

/// [`from_str`] with an explicit environment (for tests and embedding).
pub fn from_str_with_env(
    yaml: &str,
    source_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let root: Value = serde_yaml::from_str(yaml).map_err(|e| ConfigError::Yaml {
        source_name: source_name.to_owned(),
        message: e.to_string(),
    })?;
    let root = match root {
        Value::Null => Mapping::new(),
        Value::Mapping(m) => m,
        other => {
            return Err(ConfigError::Invalid {
                source_name: source_name.to_owned(),
                key: "(top level)".into(),
                message: format!("expected a mapping of keys, got {other:?}"),
            })
        }
    };
    let root = nest_dotted(root, "", source_name)?;
    let root = match interpolate_tree(Value::Mapping(root), "", source_name, env)? {
        Value::Mapping(m) => m,
        _ => Mapping::new(),
    };
    let ctx = Ctx {
        source: source_name,
        warnings: RefCell::new(Vec::new()),
    };
    let mut config = read_config(root, &ctx)?;
    config.warnings = ctx.warnings.into_inner();
    for w in &config.warnings {
        tracing::warn!(config = source_name, "{w}");
    }
    Ok(config)
}

fn key_path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn key_text(k: &Value, prefix: &str, source: &str) -> Result<String, ConfigError> {
    match k {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(ConfigError::Invalid {
            source_name: source.to_owned(),
            key: if prefix.is_empty() {
                "(top level)".into()
            } else {
                prefix.to_owned()
            },
            message: format!("keys must be text, got {other:?}"),
        }),
    }
}

/// `a.b.c: 1` ≡ `a: {b: {c: 1}}`, at every level, deep-merged with nested forms.
/// A key given twice (in either form) is an error rather than a silent override.
fn nest_dotted(map: Mapping, prefix: &str, source: &str) -> Result<Mapping, ConfigError> {
    let mut out = Mapping::new();
    for (k, val) in map {
        let k = key_text(&k, prefix, source)?;
        let parts: Vec<&str> = k.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::Invalid {
                source_name: source.to_owned(),
                key: key_path(prefix, &k),
                message: "empty segment in dotted key".into(),
            });
        }
        // Build the nested value for the remaining segments, then merge it in.
        let mut nested = normalize_value(val, &key_path(prefix, &k), source)?;
        for part in parts[1..].iter().rev() {
            let mut m = Mapping::new();
            m.insert(Value::String((*part).to_owned()), nested);
            nested = Value::Mapping(m);
        }
        merge(&mut out, parts[0], nested, prefix, source)?;
    }
    Ok(out)
}

fn normalize_value(val: Value, path: &str, source: &str) -> Result<Value, ConfigError> {
    Ok(match val {
        Value::Mapping(m) => Value::Mapping(nest_dotted(m, path, source)?),
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| normalize_value(item, &format!("{path}[{i}]"), source))
                .collect::<Result<_, _>>()?,
        ),
        Value::Tagged(t) => normalize_value(t.value, path, source)?,
        other => other,
    })
}

fn merge(
    into: &mut Mapping,
    key: &str,
    val: Value,
    prefix: &str,
    source: &str,
) -> Result<(), ConfigError> {
    let path = key_path(prefix, key);
    let k = Value::String(key.to_owned());
    match (into.get_mut(&k), val) {
        (None, val) => {
            into.insert(k, val);
            Ok(())
        }
        (Some(Value::Mapping(existing)), Value::Mapping(new)) => {
            for (nk, nv) in new {
                let nk = key_text(&nk, &path, source)?;
                merge(existing, &nk, nv, &path, source)?;
            }
            Ok(())
        }
        (Some(_), _) => Err(ConfigError::Invalid {
            source_name: source.to_owned(),
            key: path,
            message: "set more than once (as a dotted key and as a nested key?)".into(),
        }),
    }
}

fn interpolate_tree(
    val: Value,
    path: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, ConfigError> {
    Ok(match val {
        Value::String(s) => Value::String(interpolate(&s, path, source, env)?),
        Value::Mapping(m) => {
            let mut out = Mapping::new();
            for (k, v) in m {
                let ks = key_text(&k, path, source)?;
                out.insert(k, interpolate_tree(v, &key_path(path, &ks), source, env)?);
            }
            Value::Mapping(out)
        }
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| interpolate_tree(item, &format!("{path}[{i}]"), source, env))
                .collect::<Result<_, _>>()?,
        ),
        other => other,
    })
}

struct Ctx<'a> {
    source: &'a str,
    warnings: RefCell<Vec<String>>,
}

impl Ctx<'_> {
    fn warn(&self, message: String) {
        self.warnings.borrow_mut().push(message);
    }
}

/// One mapping being read; keys are removed as they are read so the rest are unknown.
struct Section {
    map: Mapping,
    path: String,
}

impl Section {
    fn new(map: Mapping, path: impl Into<String>) -> Self {
        Self {
            map,
            path: path.into(),
        }
    }

    fn key(&self, key: &str) -> String {
        key_path(&self.path, key)
    }

    /// The value of `key`, parsed; `None` when absent or null (null means "default",
    /// as a commented-out value in elastic-ingest's example config does).
    fn get<T>(
        &mut self,
        ctx: &Ctx,
        key: &str,
        parse: impl FnOnce(&Value, &At) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(val) => {
                let k = self.key(key);
                parse(
                    &val,
                    &At {
                        key: &k,
                        source: ctx.source,
                    },
                )
                .map(Some)
            }
        }
    }

    /// A nested section; absent or null → empty.
    fn section(&mut self, ctx: &Ctx, key: &str) -> Result<Section, ConfigError> {
        let path = self.key(key);
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(Section::new(Mapping::new(), path)),
            Some(Value::Mapping(m)) => Ok(Section::new(m, path)),
            Some(other) => Err(ConfigError::Invalid {
                source_name: ctx.source.to_owned(),
                key: path,
                message: format!("expected a mapping of keys, got {other:?}"),
            }),
        }
    }

    /// Known elastic-ingest keys Tributary has no use for: read, warned about.
    fn ignore(&mut self, ctx: &Ctx, key: &str, why: &str) {
        if self.map.remove(key).is_some_and(|v| !v.is_null()) {
            ctx.warn(format!("`{}` is ignored: {why}", self.key(key)));
        }
    }

    fn finish(self, ctx: &Ctx) {
        for (k, _) in self.map {
            let k = match k {
                Value::String(s) => s,
                other => format!("{other:?}"),
            };
            ctx.warn(format!(
                "unknown key `{}` (ignored)",
                key_path(&self.path, &k)
            ));
        }
    }
}

fn read_config(root: Mapping, ctx: &Ctx) -> Result<Config, ConfigError> {
    let mut root = Section::new(root, "");
    let mut config = Config::default();

    let mut es = root.section(ctx, "elasticsearch")?;
    let explicit = read_elasticsearch(&mut es, ctx, &mut config.elasticsearch)?;
    es.finish(ctx);

    let mut service = root.section(ctx, "service")?;
    read_service(&mut service, ctx, &mut config.service)?;
    service.finish(ctx);

    config.connectors = read_connectors(&mut root, ctx)?;

    let mut plugins = root.section(ctx, "plugins")?;
    read_plugins(&mut plugins, ctx, &mut config.plugins)?;
    plugins.finish(ctx);

    let mut sync = root.section(ctx, "sync")?;
    read_sync(
        &mut sync,
        ctx,
        &mut config.sync,
        &config.elasticsearch.bulk,
        &explicit,
    )?;
    sync.finish(ctx);

    root.ignore(
        ctx,
        "sources",
        "Tributary loads source plugins from the --plugins folder, not Python classes",
    );
    root.ignore(
        ctx,
        "extraction_service",
        "Tributary has no text extraction service",
    );
    root.ignore(
        ctx,
        "native_service_types",
        "Elastic-managed (native) connectors are not supported",
    );
    root.finish(ctx);
    Ok(config)
}
