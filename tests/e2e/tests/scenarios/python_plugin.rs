//! The plugin written in Python (`plugins/python/pydir`, built by `cargo xtask`
//! with the Python SDK on componentize-py into `target/plugins/pydir.wasm`):
//! it loads in the host, passes `tributary check`, yields the same documents as
//! its Rust twin `dir` on the same tree, and syncs end to end into es-sim.
//!
//! A Python component is ~36 MB and compiles slowly: every run here shares the
//! e2e compile cache (`plugins.cache_dir`), and the tests are few.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tributary_e2e::harness::{plugins_dir, repo_root, tributary_bin, wait_for, EsSim, Workdir};

use crate::plugin_check::{assert_conforms, check, grant_config, small_tree};

fn pydir_built() {
    let wasm = plugins_dir().join("pydir.wasm");
    assert!(
        wasm.is_file(),
        "{} is missing — build it with `cargo xtask plugins` (needs python3; installs componentize-py)",
        wasm.display()
    );
}

/// `tributary extract SERVICE` on `dir`: the documents by id, and the seconds it took.
fn extract(service: &str, values: &Path, config: &Path) -> (Vec<Value>, f64) {
    let started = Instant::now();
    let out = Command::new(tributary_bin())
        .args(["extract", service, "--plugins"])
        .arg(plugins_dir())
        .arg("--values")
        .arg(values)
        .arg("--config")
        .arg(config)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("tributary extract");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "extract {service}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut docs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    docs.sort_by(|a, b| a["_id"].as_str().cmp(&b["_id"].as_str()));
    (docs, secs)
}

#[test]
fn python_plugin_passes_check_and_matches_its_rust_twin() {
    pydir_built();
    let work = Workdir::new();
    let data = work.path("data");
    small_tree(&data);
    // Enough files for a throughput figure that is not all start-up.
    std::fs::create_dir_all(data.join("many")).expect("mkdir");
    for i in 0..2000 {
        std::fs::write(
            data.join(format!("many/f{i:04}.txt")),
            format!("file {i}\n"),
        )
        .expect("write");
    }
    let config = grant_config(
        &work,
        &format!("  filesystem:\n    roots: [{}]\n", data.display()),
    );
    let values_file = repo_root().join("plugins/python/pydir/check-values.json");
    let (ok, report, out) = check(
        "pydir",
        &plugins_dir(),
        &values_file,
        &config,
        &[("CHECK_DIRECTORY", data.display().to_string())],
    );
    assert_conforms("pydir", ok, &report, &out);

    let values = work.path("values.json");
    std::fs::write(
        &values,
        json!({"directory": data, "pattern": "**/*.*"}).to_string(),
    )
    .expect("values");
    let (rust, rust_secs) = extract("dir", &values, &config);
    let (python, python_secs) = extract("pydir", &values, &config);
    assert_eq!(rust.len(), 2005);
    assert_eq!(
        python, rust,
        "the Python twin must yield exactly the Rust plugin's documents"
    );
    eprintln!(
        "pydir vs dir, {} files through `tributary extract` (process start and load included): \
         Python {python_secs:.2} s ({:.0} docs/s), Rust {rust_secs:.2} s ({:.0} docs/s)",
        rust.len(),
        rust.len() as f64 / python_secs,
        rust.len() as f64 / rust_secs
    );
}

#[test]
fn python_plugin_syncs_into_es_sim() {
    pydir_built();
    let work = Workdir::new();
    let data = work.path("data");
    small_tree(&data);
    let sim = EsSim::start(&[]);
    let es = &sim.es;
    let config = work.config("config.yml", sim.url(), &[("py-connector", "pydir")], "");
    // The grant, under the `plugins:` section the harness wrote first.
    let yaml = std::fs::read_to_string(&config).expect("config");
    let yaml = yaml.replacen(
        "plugins:\n",
        &format!("plugins:\n  filesystem:\n    roots: [{}]\n", data.display()),
        1,
    );
    std::fs::write(&config, yaml).expect("config");
    es.create_connector("py-connector", "pyfiles", "pydir");
    let host = work.run("host", &config);
    let schema = wait_for(Duration::from_secs(180), "the pydir schema", || {
        let c = es.connector("py-connector")["configuration"].clone();
        c.as_object()
            .is_some_and(|m| m.contains_key("directory"))
            .then_some(c)
    });
    assert_eq!(schema["pattern"]["value"], "**/*.*", "{schema}");
    es.configure(
        "py-connector",
        json!({"directory": data, "pattern": "**/*.*"}),
    );
    let job_id = es.create_full_job("py-connector");
    let job = es.wait_job(
        &job_id,
        &["completed", "error", "canceled"],
        Duration::from_secs(180),
    );
    assert_eq!(
        job["status"],
        "completed",
        "job: {job}\n{}",
        host.log_tail(40)
    );
    assert_eq!(job["indexed_document_count"], 5, "{job}");
    assert_eq!(es.count("pyfiles"), 5);
}
