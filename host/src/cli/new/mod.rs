//! `tributary new NAME [--capability C] [--sdk PATH]`: scaffolds a plugin crate
//! in `./NAME` that builds with one command (`cargo build --release --target
//! wasm32-wasip2`) and passes `tributary check` as generated. The templates are
//! embedded in the binary (`templates/`), so the command works anywhere.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// A capability the scaffold's source uses (its typed SDK client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Capability {
    Postgresql,
    Mysql,
    Redis,
    Filesystem,
    Http,
}

impl Capability {
    fn feature(self) -> &'static str {
        match self {
            Capability::Postgresql => "postgresql",
            Capability::Mysql => "mysql",
            Capability::Redis => "redis",
            Capability::Filesystem => "filesystem",
            Capability::Http => "http",
        }
    }

    /// The config.yml grant the operator sets for it (README's plugins table).
    fn grant(self) -> &'static str {
        match self {
            Capability::Postgresql => "",
            Capability::Mysql => "plugins:\n  mysql:\n    enabled: true\n",
            Capability::Redis => "plugins:\n  redis:\n    enabled: true\n",
            Capability::Filesystem => "plugins:\n  filesystem:\n    roots: [/srv/share]\n",
            Capability::Http => {
                "plugins:\n  http:\n    allowed_origins: [\"http://127.0.0.1:*\"]\n"
            }
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's name: its crate, its service type and its folder `./NAME`
    /// (lower-case letters, digits, `-` and `_`, starting with a letter).
    pub name: String,
    /// Build the source on this capability's typed client.
    #[arg(long, value_enum)]
    pub capability: Option<Capability>,
    /// Depend on the SDK at this path (a checkout's `sdk/`) instead of the
    /// published crate.
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// Names Cargo or Rust refuse as a crate name.
const RESERVED: &[&str] = &[
    "test",
    "core",
    "std",
    "alloc",
    "proc_macro",
    "proc-macro",
    "self",
    "super",
    "crate",
    "build",
    "deps",
    "examples",
    "incremental",
];

/// Why `name` cannot be a plugin name, if it cannot.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 64 {
        return Some("it must be 1 to 64 characters".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some("it must start with a lower-case letter".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return Some(format!(
            "{c:?} is not allowed (use lower-case letters, digits, `-` and `_`: the name is a crate name and a service type)"
        ));
    }
    if RESERVED.contains(&name) {
        return Some("Cargo reserves it".into());
    }
    None
}

/// `my-source` → `My Source`.
fn title(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// The files of a new plugin, relative to its folder.
pub fn files(
    name: &str,
    capability: Option<Capability>,
    sdk: Option<&Path>,
) -> Vec<(&'static str, String)> {
    let lib = name.replace('-', "_");
    let title = title(name);
    let (sdk_spec, sdk_note) = match sdk {
        Some(p) => (
            format!("path = {:?}", p.display().to_string()),
            format!(
                "`Cargo.toml` depends on the SDK at `{}` (`tributary new --sdk`).",
                p.display()
            ),
        ),
        None => (
            "version = \"0.1\"".to_string(),
            "`Cargo.toml` depends on `tributary-sdk = \"0.1\"` from crates.io, which works once the \
             SDK is published. Until then point it at a checkout of Tributary: \
             `tributary-sdk = { path = \"/path/to/tributary/sdk\", default-features = false, … }` \
             (or create the plugin with `tributary new NAME --sdk /path/to/tributary/sdk`)."
                .to_string(),
        ),
    };
    let features = capability
        .map(|c| format!(", features = [\"{}\"]", c.feature()))
        .unwrap_or_default();
    let (capability_note, config_flag, capability_readme) = match capability {
        None => (String::new(), "", String::new()),
        Some(c) => {
            let grant = c.grant();
            let readme = if grant.is_empty() {
                format!(
                    "\nThe `{}` capability is granted by default; `plugins.postgresql.allowed_hosts` in \
                     config.yml narrows it. Set the `CHECK_*` variables named in `check-values.json` \
                     (or edit it) to reach a table with data.\n",
                    c.feature()
                )
            } else {
                format!(
                    "\nThe operator grants the `{}` capability in config.yml; for the commands above:\n\n\
                     ```yaml\n# config.yml\n{grant}```\n\nSet the `CHECK_*` variables named in \
                     `check-values.json` (or edit it) to reach a source with data.\n",
                    c.feature()
                )
            };
            (
                format!(" on the `{}` capability", c.feature()),
                if grant.is_empty() {
                    ""
                } else {
                    " --config config.yml"
                },
                readme,
            )
        }
    };
    let vars = [
        ("name", name),
        ("lib", lib.as_str()),
        ("title", title.as_str()),
        ("sdk", sdk_spec.as_str()),
        ("features", features.as_str()),
        ("capability_note", capability_note.as_str()),
        ("config_flag", config_flag),
        ("capability_readme", capability_readme.as_str()),
        ("sdk_note", sdk_note.as_str()),
    ];
    let (lib_rs, values) = match capability {
        None => (
            include_str!("templates/lib_none.rs"),
            include_str!("templates/values_none.json"),
        ),
        Some(Capability::Postgresql) => (
            include_str!("templates/lib_postgresql.rs"),
            include_str!("templates/values_postgresql.json"),
        ),
        Some(Capability::Mysql) => (
            include_str!("templates/lib_mysql.rs"),
            include_str!("templates/values_mysql.json"),
        ),
        Some(Capability::Redis) => (
            include_str!("templates/lib_redis.rs"),
            include_str!("templates/values_redis.json"),
        ),
        Some(Capability::Filesystem) => (
            include_str!("templates/lib_filesystem.rs"),
            include_str!("templates/values_filesystem.json"),
        ),
        Some(Capability::Http) => (
            include_str!("templates/lib_http.rs"),
            include_str!("templates/values_http.json"),
        ),
    };
    let mut out = vec![
        (
            "Cargo.toml",
            render(include_str!("templates/Cargo.toml.tmpl"), &vars),
        ),
        (
            "README.md",
            render(include_str!("templates/README.md.tmpl"), &vars),
        ),
        (
            ".gitignore",
            include_str!("templates/gitignore.tmpl").to_string(),
        ),
        ("src/lib.rs", render(lib_rs, &vars)),
        ("check-values.json", values.to_string()),
    ];
    if let Some(c) = capability {
        if !c.grant().is_empty() {
            out.push(("config.yml", c.grant().to_string()));
        }
    }
    out
}

/// Writes the new plugin's folder.
pub fn new(args: NewArgs) -> anyhow::Result<()> {
    if let Some(problem) = name_problem(&args.name) {
        bail!(
            "`{}` cannot be a plugin name: {problem}",
            args.name.escape_debug()
        );
    }
    let dir = PathBuf::from(&args.name);
    if dir.exists() {
        bail!(
            "{} already exists; `tributary new` writes only into a new folder",
            dir.display()
        );
    }
    let sdk = match &args.sdk {
        Some(p) => {
            let abs = p
                .canonicalize()
                .with_context(|| format!("--sdk {}: no such folder", p.display()))?;
            if !abs.join("Cargo.toml").is_file() {
                bail!(
                    "--sdk {}: no Cargo.toml there (point it at Tributary's `sdk/` folder)",
                    p.display()
                );
            }
            Some(abs)
        }
        None => None,
    };
    let files = files(&args.name, args.capability, sdk.as_deref());
    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "created {dir}/ ({} files). Build it:\n  cd {dir} && cargo build --release --target wasm32-wasip2\nthen see {dir}/README.md to check it with `tributary check`.",
        files.len(),
        dir = dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(name_problem("my-source"), None);
        assert_eq!(name_problem("pg2"), None);
        assert!(name_problem("My").is_some_and(|p| p.contains("lower-case letter")));
        assert!(name_problem("a/b").is_some_and(|p| p.contains("'/'")));
        assert!(name_problem("test").is_some_and(|p| p.contains("reserves")));
        assert!(name_problem("").is_some());
    }

    #[test]
    fn every_template_is_filled_in() {
        let caps = [
            None,
            Some(Capability::Postgresql),
            Some(Capability::Mysql),
            Some(Capability::Redis),
            Some(Capability::Filesystem),
            Some(Capability::Http),
        ];
        for cap in caps {
            let files = files("my-source", cap, Some(Path::new("/opt/tributary/sdk")));
            for (rel, text) in &files {
                assert!(
                    !text.contains("{{"),
                    "{cap:?} {rel} has an unfilled placeholder"
                );
            }
            let get = |n: &str| &files.iter().find(|(r, _)| *r == n).expect(n).1;
            assert!(get("Cargo.toml").contains("path = \"/opt/tributary/sdk\""));
            assert!(get("src/lib.rs").contains("Metadata::new(\"my-source\", \"My Source\""));
            assert!(get("README.md").contains("cargo build --release --target wasm32-wasip2"));
            assert!(get("README.md").contains("target/wasm32-wasip2/release/my_source.wasm"));
            let values: serde_json::Value =
                serde_json::from_str(get("check-values.json")).expect("JSON values");
            assert!(values.is_object());
        }
        let published = files("x", None, None);
        assert!(published[0]
            .1
            .contains("tributary-sdk = { version = \"0.1\""));
    }
}
