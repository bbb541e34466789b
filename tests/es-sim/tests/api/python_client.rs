//! An independent client: Elastic's official Python client must accept es-sim's answers.

use crate::common;

#[tokio::test]
async fn official_python_client_accepts_es_sim() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import elasticsearch"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "the official Elasticsearch Python client is missing: run `python3 -m pip install \"elasticsearch>=9,<10\"` (CI does this in .ci/run)"
        ),
    }
    let s = common::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_check.py");
    let url = s.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .arg(url)
            .output()
    })
    .await
    .expect("join")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client check failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("python client check: OK"), "{stdout}");
}
