//! Plugins written in Python (`plugins/python/NAME/`, each with a pyproject.toml
//! whose `[tool.tributary]` names the module and capabilities), built with the
//! repository's Python SDK (`sdk/python`, on componentize-py) into
//! `target/plugins/NAME.wasm`.
//!
//! componentize-py comes from PyPI: installed with pip at the pinned version
//! when missing, so a fresh machine builds them too. A component is rebuilt only
//! when one of its inputs (the plugin's files, the SDK, the WIT) is newer: a
//! Python component takes ~15 s to build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};

/// The componentize-py release the SDK is written against (`sdk/python/pyproject.toml`).
const COMPONENTIZE_PY: &str = "componentize-py==0.17.2";

/// A Python plugin folder.
pub struct PythonPlugin {
    /// The folder name, which is also the output file's stem.
    pub name: String,
    pub dir: PathBuf,
}

/// Every `plugins/python/*/pyproject.toml`.
pub fn plugins(root: &Path) -> Result<Vec<PythonPlugin>> {
    let base = root.join("plugins").join("python");
    let Ok(entries) = std::fs::read_dir(&base) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.join("pyproject.toml").is_file() {
            continue;
        }
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(String::from) else {
            continue;
        };
        found.push(PythonPlugin { name, dir });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Installs componentize-py with pip unless the interpreter already has it.
fn ensure_componentize_py() -> Result<()> {
    let has = Command::new(python())
        .args(["-c", "import componentize_py"])
        .output()
        .with_context(|| format!("running {} (needed to build Python plugins)", python()))?
        .status
        .success();
    if has {
        return Ok(());
    }
    eprintln!("xtask: componentize-py is missing; installing {COMPONENTIZE_PY} with pip");
    super::run(Command::new(python()).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        COMPONENTIZE_PY,
    ]))
}

/// The newest modification time of the files under `dir` (recursively).
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "__pycache__" || path.extension().is_some_and(|e| e == "wasm") {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if let Ok(m) = meta.modified() {
                newest = newest.max(Some(m));
            }
        }
    }
    newest
}

/// Builds every Python plugin whose component is missing or older than its inputs.
pub fn build(root: &Path, plugins: &[PythonPlugin]) -> Result<()> {
    if plugins.is_empty() {
        return Ok(());
    }
    let sdk = root.join("sdk").join("python");
    let wit = root.join("wit").join("v0.2.0");
    let dest = root.join("target").join("plugins");
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    let shared_inputs = [newest(&sdk), newest(&wit)].into_iter().flatten().max();
    let mut installed = false;
    for p in plugins {
        let out = dest.join(format!("{}.wasm", p.name));
        let inputs = [shared_inputs, newest(&p.dir)].into_iter().flatten().max();
        let built = std::fs::metadata(&out).and_then(|m| m.modified()).ok();
        if let (Some(built), Some(inputs)) = (built, inputs) {
            if built > inputs {
                eprintln!("xtask: {} is up to date", out.display());
                continue;
            }
        }
        if !installed {
            ensure_componentize_py()?;
            installed = true;
        }
        // The SDK from this checkout (not an installed copy), against this WIT.
        let mut cmd = Command::new(python());
        cmd.args(["-m", "tributary_sdk", "build", "--project"])
            .arg(&p.dir)
            .arg("--wit")
            .arg(&wit)
            .arg("-o")
            .arg(&out)
            .env("PYTHONPATH", &sdk)
            .env("PYTHONDONTWRITEBYTECODE", "1");
        if let Err(e) = super::run(&mut cmd) {
            // A half-written component must not look up to date next time.
            let _ = std::fs::remove_file(&out);
            bail!("building the Python plugin {}: {e:#}", p.dir.display());
        }
    }
    Ok(())
}

/// `$TRIBUTARY_CACHE_DIR`, else `$XDG_CACHE_HOME/tributary`, else
/// `~/.cache/tributary`: the runtime's default compile cache.
fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("TRIBUTARY_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("tributary")))
        .or_else(|| env("HOME").map(|h| h.join(".cache").join("tributary")))
}

/// Compiles every plugin into the two compile caches the tests use (the e2e
/// cache, `target/e2e-plugin-cache`, and the default one of CLI runs without a
/// config.yml) once, before the tests start: otherwise the first test processes
/// would all compile the ~36 MB Python components at the same time. Every
/// capability is granted here so that no plugin is refused before it compiles;
/// the second cache gets copies (entries are keyed by content and engine).
pub fn warm_compile_cache(root: &Path) -> Result<()> {
    if plugins(root)?.is_empty() {
        return Ok(());
    }
    let target = root.join("target");
    let e2e_cache = target.join("e2e-plugin-cache");
    std::fs::create_dir_all(&e2e_cache)
        .with_context(|| format!("creating {}", e2e_cache.display()))?;
    let config = target.join("xtask-warm-cache.yml");
    std::fs::write(
        &config,
        format!(
            "plugins:\n  cache_dir: {}\n  filesystem:\n    roots: [{}]\n  http:\n    allowed_origins: [\"http://127.0.0.1:*\"]\n  mysql:\n    enabled: true\n  redis:\n    enabled: true\n",
            e2e_cache.display(),
            target.display()
        ),
    )
    .with_context(|| format!("writing {}", config.display()))?;
    let started = std::time::Instant::now();
    super::run(
        Command::new(target.join("release").join("tributary"))
            .args(["plugins", "list", "--plugins"])
            .arg(target.join("plugins"))
            .arg("--config")
            .arg(&config)
            .stdout(std::process::Stdio::null()),
    )?;
    if let Some(default) = default_cache_dir() {
        std::fs::create_dir_all(&default)
            .with_context(|| format!("creating {}", default.display()))?;
        for entry in std::fs::read_dir(&e2e_cache)?.flatten() {
            let to = default.join(entry.file_name());
            let is_entry = entry.path().extension().is_some_and(|e| e == "cwasm");
            if is_entry && !to.exists() {
                // Copied under a temporary name and renamed: a reader never sees half a file.
                let tmp = default.join(format!(".{}.xtask", entry.file_name().to_string_lossy()));
                std::fs::copy(entry.path(), &tmp)
                    .and_then(|_| std::fs::rename(&tmp, &to))
                    .with_context(|| {
                        format!("copying {} to {}", entry.path().display(), to.display())
                    })?;
            }
        }
    }
    eprintln!(
        "xtask: compile caches warm in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The Python SDK's own unit tests (its pure parts, natively; < 1 s).
pub fn unit_tests(root: &Path) -> Result<()> {
    let tests = root.join("sdk").join("python").join("tests");
    if !tests.is_dir() {
        return Ok(());
    }
    super::run(
        Command::new(python())
            .args(["-m", "unittest", "discover", "-s"])
            .arg(&tests)
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    )
}
