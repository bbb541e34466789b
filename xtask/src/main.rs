//! Build, test, demo and benchmark automation: `cargo xtask <command>`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod bench;
mod demo;
mod python;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root).context("entering the workspace root")?;
    match args.first().map(String::as_str) {
        Some("build") => build(&root),
        Some("test") => {
            ensure_libclang()?;
            build_plugins(&root)?;
            // One compile of the native crates. `cargo test` builds a package's
            // binaries only for that package's own integration tests, but the
            // end-to-end tests (their own package) run `target/release/tributary` and
            // `es-sim`; so build every target first with the same package set and
            // dev-dependencies (the same features), and `cargo test` reuses it all.
            // Release: plugins compile at full speed inside the tests, and the
            // end-to-end syncs are realistic.
            let native = native_test_args(&root)?;
            run(Command::new(cargo())
                .args(["build", "--release", "--workspace", "--all-targets"])
                .args(&native))?;
            python::unit_tests(&root)?;
            python::warm_compile_cache(&root)?;
            run(Command::new(cargo())
                .args(["test", "--release", "--workspace"])
                .args(&native)
                .args(&args[1..]))
        }
        Some("plugins") => build_plugins(&root),
        Some("demo") => demo::demo(&root),
        Some("bench") => bench::bench(&root, &args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 build     add the {WASM_TARGET} target if missing, build the host and es-sim (release) and every plugin into target/plugins/\n  \
                 plugins   build only the plugins\n  \
                 demo      the Connector API tutorial end to end (es-sim unless ELASTICSEARCH_URL is set)\n  \
                 bench     PostgreSQL → es-sim benchmark, native vs postgresql.wasm (README \"Benchmarks\"; --with-5m)\n  \
                 test      build, then run the whole test suite"
            );
            bail!("no command given")
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// `cargo test` arguments for the native crates: every workspace member except
/// the wasm-only plugin crates.
fn native_test_args(root: &Path) -> Result<Vec<String>> {
    let mut args = Vec::new();
    for p in wasm_packages(root)? {
        args.push("--exclude".to_string());
        args.push(p.package);
    }
    Ok(args)
}

fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup (needed to add the wasm32-wasip2 target)")?;
    let installed = String::from_utf8_lossy(&out.stdout);
    if !installed.lines().any(|l| l.trim() == WASM_TARGET) {
        run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    Ok(())
}

/// libpg_query's bindings are generated with bindgen, which loads libclang. On a
/// fresh Debian machine run as root it is installed here; elsewhere the error says how.
fn ensure_libclang() -> Result<()> {
    let found = ["/usr/lib", "/usr/lib64", "/usr/local/lib"]
        .iter()
        .any(|base| {
            std::fs::read_dir(base)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    let p = e.path();
                    p.join("lib/libclang.so").is_file()
                        || p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("libclang") && n.contains(".so"))
                })
        })
        || std::env::var_os("LIBCLANG_PATH").is_some();
    if found {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root && Path::new("/usr/bin/apt-get").exists() {
        eprintln!(
            "xtask: libclang is missing (needed to build libpg_query); installing libclang-dev"
        );
        let mut install = Command::new("apt-get");
        install
            .args(["install", "-y", "-q", "libclang-dev"])
            .env("DEBIAN_FRONTEND", "noninteractive");
        if run(&mut install).is_err() {
            run(Command::new("apt-get").args(["update", "-q"]))?;
            run(&mut install)?;
        }
        return Ok(());
    }
    bail!(
        "libclang is missing: the host embeds PostgreSQL's parser (libpg_query), whose bindings \
         are generated with bindgen. Install it (Debian/Ubuntu: `apt-get install libclang-dev`) \
         or point LIBCLANG_PATH at it"
    )
}

fn build(root: &Path) -> Result<()> {
    ensure_wasm_target()?;
    ensure_libclang()?;
    run(Command::new(cargo()).args(["build", "--release", "-p", "tributary", "-p", "es-sim"]))?;
    build_plugins(root)
}

/// A workspace member built for wasm32-wasip2.
struct WasmPackage {
    package: String,
    lib: String,
    /// `plugins` for first-party plugins, `test-plugins` for the sandbox test plugins.
    dest: &'static str,
}

fn wasm_packages(root: &Path) -> Result<Vec<WasmPackage>> {
    let out = Command::new(cargo())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let mut found = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let manifest = PathBuf::from(pkg["manifest_path"].as_str().unwrap_or_default());
        let rel = manifest
            .strip_prefix(root)
            .unwrap_or(&manifest)
            .to_string_lossy()
            .to_string();
        let dest = if rel.starts_with("plugins/") {
            "plugins"
        } else if rel.starts_with("tests/plugins/") {
            "test-plugins"
        } else {
            continue;
        };
        let lib = pkg["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| {
                t["crate_types"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c == "cdylib"))
            })
            .and_then(|t| t["name"].as_str())
            .map(|n| n.replace('-', "_"));
        let Some(lib) = lib else { continue };
        found.push(WasmPackage {
            package: pkg["name"].as_str().unwrap_or_default().to_string(),
            lib,
            dest,
        });
    }
    Ok(found)
}

fn build_plugins(root: &Path) -> Result<()> {
    ensure_wasm_target()?;
    let packages = wasm_packages(root)?;
    let python_plugins = python::plugins(root)?;
    if packages.is_empty() && python_plugins.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new(cargo());
    cmd.args(["build", "--release", "--target", WASM_TARGET]);
    // Plugins ship without debug info: a few hundred KB instead of megabytes.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true");
    for p in &packages {
        cmd.args(["-p", &p.package]);
    }
    run(&mut cmd)?;
    let built = root.join("target").join(WASM_TARGET).join("release");
    // A plugin removed from the workspace must not linger in the folders the
    // host and the tests load.
    for dest in ["plugins", "test-plugins"] {
        let dir = root.join("target").join(dest);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let current = packages.iter().any(|p| p.dest == dest && p.lib == stem)
                || (dest == "plugins" && python_plugins.iter().any(|p| p.name == stem));
            if path.extension().is_some_and(|e| e == "wasm") && !current {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing stale {}", path.display()))?;
            }
        }
    }
    for p in &packages {
        let dir = root.join("target").join(p.dest);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let from = built.join(format!("{}.wasm", p.lib));
        let to = dir.join(format!("{}.wasm", p.lib));
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        eprintln!("xtask: {} -> {}", p.package, to.display());
    }
    python::build(root, &python_plugins)
}
