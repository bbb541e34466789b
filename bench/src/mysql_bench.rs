//! The `mysql` scenario (issue 12): MariaDB tables of `--sizes` rows, each read
//! by `mysql.wasm` in-process and by the native reader, both into JSON lines with
//! no sink. Reports docs/s, CPU and peak RSS per run, the wasm/native ratios
//! (target ≥ 0.85) and RSS across sizes (flat), after checking that both paths
//! write the same lines for the first batch.

use anyhow::{anyhow, bail, Context, Result};

use crate::mysql::{self, MyConn, NativeMysqlSource};
use crate::report::{human_rows, Results, Run};
use crate::worker::{encode_line, Kind};
use crate::{machine, now_utc, runtime, AllArgs, Bench, EsSim};

pub fn run(args: AllArgs, my: MyConn, sizes: Vec<u64>) -> Result<()> {
    let exe = std::env::current_exe().context("locating tributary-bench")?;
    let mut tables = Vec::new();
    for &n in &sizes {
        let (table, secs, reused) = mysql::ensure_table(&my, n)?;
        eprintln!("bench: {table}: {n} rows (reused: {reused}, generated in {secs:.1} s)");
        tables.push(table);
    }
    let version = std::process::Command::new("mysql")
        .args([
            "-uroot",
            "--protocol=socket",
            "-N",
            "-B",
            "-e",
            "SELECT VERSION()",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let status = std::process::Command::new(&exe)
        .arg("warm-cache")
        .arg("--plugins")
        .arg(&args.plugins)
        .status()
        .context("starting the plugin cache warm-up")?;
    if !status.success() {
        bail!("warming the plugin cache failed ({status})");
    }
    let smallest = sizes.iter().copied().min().unwrap_or(0);
    same_lines(&my, &mysql::table_name(smallest), &args)?;
    let es = EsSim::start(&exe)?;
    let mut b = Bench {
        exe,
        args: args.clone(),
        es,
        seq: 0,
        results: Results {
            started_at: now_utc(),
            command: "cargo xtask bench mysql".into(),
            machine: machine(format!("MariaDB {version}")),
            wasm_path: "mysql.wasm in-process (PluginRuntime), JSON lines, no sink".into(),
            tables: Vec::new(),
            runs: Vec::new(),
            checks: Vec::new(),
            notes: Vec::new(),
        },
    };
    let batch = args.batch;
    let mut pairs: Vec<(u64, Run, Run)> = Vec::new();
    for &n in &sizes {
        let mut spec = b.spec(Kind::MysqlNativeJson, n, batch, None, "my-native");
        spec.table = mysql::table_name(n);
        spec.mysql = Some(my.clone());
        let native = b.measure(
            "my-native-json",
            "MariaDB native read + JSON (no ES)",
            spec.clone(),
            n,
        );
        spec.kind = Kind::MysqlWasmExtract;
        let wasm = b.measure(
            "my-wasm-extract",
            "mysql.wasm + JSON (no ES, in-process)",
            spec,
            n,
        );
        pairs.push((n, native, wasm));
    }
    let mut lines = vec![
        "| run | rows | batch | docs/s | MB/s | wall s | CPU s (user+sys) | peak RSS MiB | CPU µs/row |".to_string(),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|".to_string(),
    ];
    for (n, native, wasm) in &pairs {
        for r in [native, wasm] {
            lines.push(format!(
                "| {} | {} | {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.0} | {:.2} |",
                r.label,
                human_rows(*n),
                r.batch_size,
                r.docs_per_s(),
                r.mb_per_s(),
                r.wall_s,
                r.cpu_s(),
                r.peak_rss_mib,
                r.cpu_s() * 1e6 / (*n).max(1) as f64,
            ));
        }
    }
    for (n, native, wasm) in &pairs {
        let ratio = native.wall_s / wasm.wall_s.max(1e-9);
        lines.push(format!(
            "{}: wasm / native docs/s {ratio:.2} (target ≥ 0.85: {}); CPU wasm / native {:.2}; {} and {} documents",
            human_rows(*n),
            if ratio >= 0.85 { "met" } else { "NOT met" },
            wasm.cpu_s() / native.cpu_s().max(1e-9),
            native.docs,
            wasm.docs,
        ));
    }
    if let (Some(first), Some(last)) = (pairs.first(), pairs.last()) {
        lines.push(format!(
            "peak RSS of the wasm path {} → {}: {:.0} → {:.0} MiB ({:.2}×)",
            human_rows(first.0),
            human_rows(last.0),
            first.2.peak_rss_mib,
            last.2.peak_rss_mib,
            last.2.peak_rss_mib / first.2.peak_rss_mib.max(1e-9)
        ));
    }
    for l in &lines {
        println!("{l}");
        b.results.notes.push(l.clone());
    }
    let out = args.out.with_file_name("mysql.json");
    b.results.save(&out)
}

/// Both paths must write the same lines, or the ratio compares different work.
fn same_lines(my: &MyConn, table: &str, args: &AllArgs) -> Result<()> {
    runtime()?.block_on(async {
        use tributary_sync::DocumentSource;
        let mut native = NativeMysqlSource::open(my, table, args.batch).await?;
        let mut wasm = mysql::wasm_source(my, table, args.batch, &args.plugins).await?;
        let a = native
            .next_batch()
            .await
            .map_err(|e| anyhow!("{e}"))?
            .unwrap_or_default();
        let b = wasm
            .next_batch()
            .await
            .map_err(|e| anyhow!("{e}"))?
            .unwrap_or_default();
        if a.is_empty() || a.len() != b.len() {
            bail!(
                "first batches differ in size: native {}, wasm {}",
                a.len(),
                b.len()
            );
        }
        for (x, y) in a.iter().zip(&b) {
            let (mut lx, mut ly) = (Vec::new(), Vec::new());
            encode_line(x, &mut lx);
            encode_line(y, &mut ly);
            if lx != ly {
                bail!(
                    "native and wasm documents differ:\n native {}\n wasm   {}",
                    String::from_utf8_lossy(&lx),
                    String::from_utf8_lossy(&ly)
                );
            }
        }
        eprintln!(
            "bench: the first {} documents of {table} are identical on both paths",
            a.len()
        );
        Ok(())
    })
}
