//! Results: one record per measured run, derived figures (the (b)/(a) ratio,
//! linearity, RSS growth), the markdown table, the JSON file and the README section.

use serde::{Deserialize, Serialize};

use crate::datagen::TableInfo;

/// One measured run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// Short key, e.g. `a-native-sync`, `b-wasm-sync`, `c-pg-read`.
    pub key: String,
    /// What the row of the table says.
    pub label: String,
    pub rows: u64,
    pub batch_size: u32,
    pub docs: u64,
    pub bytes: u64,
    /// The work itself, measured inside the child.
    pub wall_s: f64,
    /// Spawn to exit of the child (process start-up included).
    pub process_wall_s: f64,
    pub user_s: f64,
    pub sys_s: f64,
    /// Peak RSS of the process doing the work (`ru_maxrss`), MiB.
    pub peak_rss_mib: f64,
    pub es_sim_cpu_s: Option<f64>,
    /// Share of both cores busy (all processes on the machine) during the run.
    pub machine_busy: Option<f64>,
    pub wasm_memory_mib: Option<f64>,
    pub indexed: u64,
    pub deleted: u64,
    pub errors: u64,
    pub index_count: u64,
    /// `ok` or the failure.
    pub result: String,
}

impl Run {
    pub fn docs_per_s(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.docs as f64 / self.wall_s
        } else {
            0.0
        }
    }
    pub fn mb_per_s(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.bytes as f64 / 1e6 / self.wall_s
        } else {
            0.0
        }
    }
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }
    /// Wall microseconds per row.
    pub fn us_per_row(&self) -> f64 {
        if self.docs > 0 {
            self.wall_s * 1e6 / self.docs as f64
        } else {
            0.0
        }
    }
    /// CPU microseconds (of the measured process) per row.
    pub fn cpu_us_per_row(&self) -> f64 {
        if self.docs > 0 {
            self.cpu_s() * 1e6 / self.docs as f64
        } else {
            0.0
        }
    }
}

/// A target of issue 5 and whether it was met.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub target: String,
    pub value: String,
    pub met: bool,
}

/// The machine the numbers come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub postgresql: String,
    pub load_avg_at_start: String,
}

/// Everything one `cargo xtask bench` produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub started_at: String,
    pub command: String,
    pub machine: Machine,
    /// How (b) ran: in-process runtime or the real binary.
    pub wasm_path: String,
    pub tables: Vec<TableInfo>,
    pub runs: Vec<Run>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

fn find<'a>(runs: &'a [Run], key: &str, rows: u64) -> Option<&'a Run> {
    runs.iter()
        .find(|r| r.key == key && r.rows == rows && r.result == "ok")
}

impl Results {
    /// Writes the raw numbers as pretty JSON to `out` (creating its folder) and says where.
    pub fn save(&self, out: &std::path::Path) -> anyhow::Result<()> {
        use anyhow::Context;
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(
            out,
            serde_json::to_vec_pretty(self).context("encoding the results")?,
        )
        .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("bench: raw numbers in {}", out.display());
        Ok(())
    }

    /// Derives the target checks from the runs.
    pub fn derive_checks(&mut self) {
        let mut checks = Vec::new();
        let mut sizes: Vec<u64> = self.runs.iter().map(|r| r.rows).collect();
        sizes.sort_unstable();
        sizes.dedup();
        for &n in &sizes {
            for (key, how) in [
                ("b-wasm-sync", ""),
                ("b-cli-sync", " (`tributary sync` binary)"),
            ] {
                let (Some(a), Some(b)) = (
                    find(&self.runs, "a-native-sync", n),
                    find(&self.runs, key, n),
                ) else {
                    continue;
                };
                let ratio = b.docs_per_s() / a.docs_per_s();
                checks.push(Check {
                    name: format!("(b)/(a) end to end, {}{how}", human_rows(n)),
                    target: "≥ 0.85".into(),
                    value: format!("{ratio:.2}"),
                    met: ratio >= 0.85,
                });
                // Issue 17: what the sandbox costs the host per row, whatever
                // the wall time hides (PostgreSQL and es-sim share the cores).
                if n >= 1_000_000 {
                    let cpu = b.cpu_us_per_row() / a.cpu_us_per_row();
                    checks.push(Check {
                        name: format!("host CPU per row, (b)/(a), {}{how}", human_rows(n)),
                        target: "≤ 1.10×".into(),
                        value: format!(
                            "{:.2} vs {:.2} µs ({cpu:.2}×)",
                            b.cpu_us_per_row(),
                            a.cpu_us_per_row()
                        ),
                        met: cpu <= 1.10,
                    });
                }
            }
        }
        let small = sizes.iter().copied().find(|&n| n <= 100_000);
        let big = sizes.iter().copied().filter(|&n| n >= 1_000_000).max();
        for (key, how) in [
            ("b-wasm-sync", ""),
            ("b-cli-sync", " (`tributary sync` binary)"),
        ] {
            if let Some(b1m) = find(&self.runs, key, 1_000_000) {
                checks.push(Check {
                    name: format!("peak host RSS of (b) at 1M{how}"),
                    target: "< 150 MiB".into(),
                    value: format!("{:.0} MiB", b1m.peak_rss_mib),
                    met: b1m.peak_rss_mib < 150.0,
                });
            }
            let (Some(s), Some(l)) = (small, big) else {
                continue;
            };
            let (Some(bs), Some(bl)) = (find(&self.runs, key, s), find(&self.runs, key, l)) else {
                continue;
            };
            let growth = bl.peak_rss_mib / bs.peak_rss_mib;
            checks.push(Check {
                name: format!(
                    "RSS of (b) not growing, {} → {}{how}",
                    human_rows(s),
                    human_rows(l)
                ),
                target: "≤ 1.10×".into(),
                value: format!(
                    "{:.0} → {:.0} MiB ({growth:.2}×)",
                    bs.peak_rss_mib, bl.peak_rss_mib
                ),
                met: growth <= 1.10,
            });
            let lin = bl.us_per_row() / bs.us_per_row();
            checks.push(Check {
                name: format!(
                    "per-row cost of (b), {} vs {}{how}",
                    human_rows(l),
                    human_rows(s)
                ),
                target: "≤ 1.2×".into(),
                value: format!(
                    "{:.1} vs {:.1} µs/row ({lin:.2}×)",
                    bl.us_per_row(),
                    bs.us_per_row()
                ),
                met: lin <= 1.2,
            });
        }
        // Issue 2: plugin path vs native read+JSON at each batch size (1M table).
        if let Some(n) = big {
            let mut batches: Vec<u32> = self
                .runs
                .iter()
                .filter(|r| r.key == "m-wasm-extract" && r.rows == n)
                .map(|r| r.batch_size)
                .collect();
            batches.sort_unstable();
            for bs in batches {
                let w = self.runs.iter().find(|r| {
                    r.key == "m-wasm-extract"
                        && r.rows == n
                        && r.batch_size == bs
                        && r.result == "ok"
                });
                let nat = self.runs.iter().find(|r| {
                    r.key == "m-native-json"
                        && r.rows == n
                        && r.batch_size == bs
                        && r.result == "ok"
                });
                if let (Some(w), Some(nat)) = (w, nat) {
                    let ratio = w.docs_per_s() / nat.docs_per_s();
                    checks.push(Check {
                        name: format!(
                            "issue 2: wasm / native read+JSON, {}, batch {bs}",
                            human_rows(n)
                        ),
                        target: "≥ 0.85".into(),
                        value: format!("{ratio:.2}"),
                        met: ratio >= 0.85,
                    });
                }
            }
        }
        self.checks = checks;
    }

    /// The markdown table plus the checks.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s.push_str("| run | rows | batch | docs/s | MB/s | wall s | CPU s (user+sys) | peak RSS MiB | µs/row | CPU µs/row | es-sim CPU s | machine busy |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in &self.runs {
            if r.result != "ok" {
                s.push_str(&format!(
                    "| {} | {} | {} | failed: {} | | | | | | | | |\n",
                    r.label,
                    human_rows(r.rows),
                    r.batch_size,
                    r.result
                        .replace('|', "/")
                        .chars()
                        .take(120)
                        .collect::<String>()
                ));
                continue;
            }
            s.push_str(&format!(
                "| {} | {} | {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {} |\n",
                r.label,
                human_rows(r.rows),
                r.batch_size,
                r.docs_per_s(),
                r.mb_per_s(),
                r.wall_s,
                r.cpu_s(),
                r.peak_rss_mib,
                r.us_per_row(),
                r.cpu_us_per_row(),
                r.es_sim_cpu_s.map_or("–".to_string(), |c| format!("{c:.1}")),
                r.machine_busy.map_or("–".to_string(), |b| format!("{:.0} %", b * 100.0)),
            ));
        }
        if !self.checks.is_empty() {
            s.push_str("\n| target | wanted | measured | met |\n|---|---|---|---|\n");
            for c in &self.checks {
                s.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    c.name,
                    c.target,
                    c.value,
                    if c.met { "yes" } else { "**no**" }
                ));
            }
        }
        s
    }

    /// The README section (heading included).
    pub fn readme_section(&self) -> String {
        let m = &self.machine;
        let mut s = String::from("## Benchmarks\n\n");
        s.push_str(&format!(
            "Latest run of `cargo xtask bench` ({}), on this project's build machine: {} cores ({}), \
             {:.0} GiB RAM, {}, {}; load average at start {} (the machine is shared, so figures move \
             by ±10–20 % between runs). es-sim is the sink (a separate process, in-memory), not a real \
             Elasticsearch. {}\n\n",
            self.started_at, m.cores, m.cpu, m.memory_gib, m.kernel, m.postgresql, m.load_avg_at_start, self.wasm_path
        ));
        s.push_str(
            "Runs: **(a)** native baseline: tokio-postgres server-side cursor, the plugin's document shaping, \
             the host's sync engine + Elasticsearch client, no WASM; **(b)** Tributary's full sync through \
             `postgresql.wasm`; **(c)** the parts alone (PostgreSQL read only; es-sim bulk ingest of pre-built \
             documents); **(b2)/(b3)** a second full sync of the unchanged table and one after 1 % of the rows \
             changed (same index); **micro** (issue 2): no Elasticsearch, plugin vs native read+JSON by batch \
             size. Every run is its own child process; CPU and peak RSS are that process's `rusage`.\n\n",
        );
        s.push_str(&self.markdown());
        if !self.notes.is_empty() {
            s.push('\n');
            for n in &self.notes {
                s.push_str(&format!("- {n}\n"));
            }
        }
        s.push_str(
            "\nReproduce (needs PostgreSQL on 127.0.0.1:5432, user `postgres`, trust auth; creates the \
             database `tributary_bench`; ~10 min): `cargo xtask bench` (add `--with-5m` for the 5M-row \
             table). Raw numbers: `target/bench/results.json`.\n",
        );
        s
    }
}

/// `100k`, `1M`, `5M`, or the number.
pub fn human_rows(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// Replaces the `## Benchmarks` section of `readme` (up to the next `## ` heading or
/// the end) with `section`, or appends it at the end.
pub fn replace_section(readme: &str, section: &str) -> String {
    let heading = "## Benchmarks\n";
    let start = if readme.starts_with(heading) {
        Some(0)
    } else {
        readme.find(&format!("\n{heading}")).map(|i| i + 1)
    };
    let section = section.trim_end_matches('\n');
    match start {
        Some(start) => {
            let after = start + heading.len();
            let end = readme[after..]
                .find("\n## ")
                .map(|i| after + i + 1)
                .unwrap_or(readme.len());
            let mut out = String::with_capacity(readme.len() + section.len());
            out.push_str(&readme[..start]);
            out.push_str(section);
            out.push('\n');
            if end < readme.len() {
                out.push('\n');
                out.push_str(&readme[end..]);
            }
            out
        }
        None => {
            let mut out = readme.trim_end_matches('\n').to_string();
            out.push_str("\n\n");
            out.push_str(section);
            out.push('\n');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(key: &str, rows: u64, wall: f64, rss: f64) -> Run {
        Run {
            key: key.into(),
            label: key.into(),
            rows,
            batch_size: 1000,
            docs: rows,
            bytes: rows * 1000,
            wall_s: wall,
            process_wall_s: wall + 0.1,
            user_s: wall / 2.0,
            sys_s: 0.1,
            peak_rss_mib: rss,
            es_sim_cpu_s: Some(1.0),
            machine_busy: Some(0.9),
            wasm_memory_mib: None,
            indexed: rows,
            deleted: 0,
            errors: 0,
            index_count: rows,
            result: "ok".into(),
        }
    }

    fn results(runs: Vec<Run>) -> Results {
        Results {
            started_at: "2026-01-01T00:00:00Z".into(),
            command: "cargo xtask bench".into(),
            machine: Machine {
                cores: 2,
                cpu: "cpu".into(),
                memory_gib: 24.0,
                kernel: "Linux".into(),
                postgresql: "PostgreSQL 15".into(),
                load_avg_at_start: "1.0".into(),
            },
            wasm_path: String::new(),
            tables: Vec::new(),
            runs,
            checks: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn derives_ratio_linearity_and_rss_checks() {
        let mut r = results(vec![
            run("a-native-sync", 100_000, 1.0, 40.0),
            run("b-wasm-sync", 100_000, 1.1, 60.0),
            run("a-native-sync", 1_000_000, 10.0, 40.0),
            run("b-wasm-sync", 1_000_000, 14.0, 61.0),
        ]);
        r.derive_checks();
        let by = |p: &str| {
            r.checks
                .iter()
                .find(|c| c.name.starts_with(p))
                .cloned()
                .unwrap()
        };
        assert_eq!(by("(b)/(a) end to end, 100k").value, "0.91");
        assert!(by("(b)/(a) end to end, 100k").met);
        assert!(!by("(b)/(a) end to end, 1M").met);
        assert!(by("peak host RSS").met);
        assert!(by("RSS of (b) not growing").met);
        // user = wall / 2, sys 0.1: (7.1 / 1M) / (5.1 / 1M).
        let cpu = by("host CPU per row, (b)/(a), 1M");
        assert!(!cpu.met, "{cpu:?}");
        assert!(cpu.value.contains("(1.39×)"), "{}", cpu.value);
        assert!(r
            .checks
            .iter()
            .all(|c| !c.name.contains("CPU per row, (b)/(a), 100k")));
        let lin = by("per-row cost");
        assert!(!lin.met, "{lin:?}");
        assert!(lin.value.contains("1.27×"), "{}", lin.value);
        let md = r.markdown();
        assert!(
            md.contains("| b-wasm-sync | 1M | 1000 | 71429 | 71.4 |"),
            "{md}"
        );
        assert!(
            md.contains("| per-row cost of (b), 1M vs 100k | ≤ 1.2× |"),
            "{md}"
        );
    }

    #[test]
    fn readme_section_is_replaced_or_appended() {
        let section = "## Benchmarks\n\nnew table\n";
        assert_eq!(
            replace_section("# T\n\nintro\n", section),
            "# T\n\nintro\n\n## Benchmarks\n\nnew table\n"
        );
        let with = "# T\n\n## Benchmarks\n\nold\n\n## Later\n\nkeep\n";
        assert_eq!(
            replace_section(with, section),
            "# T\n\n## Benchmarks\n\nnew table\n\n## Later\n\nkeep\n"
        );
        let at_end = "# T\n\n## Benchmarks\n\nold\nold2\n";
        assert_eq!(
            replace_section(at_end, section),
            "# T\n\n## Benchmarks\n\nnew table\n"
        );
    }
}
