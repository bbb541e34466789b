//! The conformance report: one line per check (pass, fail or skip with the
//! reason), as text or JSON. Everything in a reason may come from the plugin, so
//! the text form escapes it (one check, one line); JSON escapes by construction.

use serde::Serialize;

use tributary_runtime::printable;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not applicable (a feature the plugin does not declare) or impossible
    /// after an earlier failure; the reason says which.
    Skip,
}

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Dotted name, e.g. `schema.depends_on`.
    pub check: String,
    pub status: Status,
    /// What was found (why it failed, what passed, why it was skipped).
    pub detail: String,
}

/// Every outcome of one `tributary check`.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub service_type: String,
    pub plugin: String,
    pub checks: Vec<Outcome>,
}

/// Text details are cut here so one failing check cannot bury the others.
const MAX_DETAIL_CHARS: usize = 2000;

impl Report {
    pub fn pass(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Status::Pass, detail.into());
    }

    pub fn fail(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Status::Fail, detail.into());
    }

    pub fn skip(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Status::Skip, detail.into());
    }

    /// Pass when `problems` is empty (with `ok`), else fail listing them.
    pub fn verdict(&mut self, check: &str, problems: Vec<String>, ok: impl Into<String>) {
        if problems.is_empty() {
            self.pass(check, ok);
        } else {
            self.fail(check, problems.join("; "));
        }
    }

    fn push(&mut self, check: &str, status: Status, detail: String) {
        tracing::debug!(check, ?status, detail = %printable(&detail), "check");
        self.checks.push(Outcome {
            check: check.to_string(),
            status,
            detail,
        });
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// Exit status 0 only when nothing failed.
    pub fn passed(&self) -> bool {
        self.count(Status::Fail) == 0
    }

    /// The human-readable form: one line per check, then a summary.
    pub fn to_text(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.check.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = format!(
            "tributary check {} ({})\n",
            printable(&self.service_type),
            printable(&self.plugin)
        );
        for c in &self.checks {
            let status = match c.status {
                Status::Pass => "PASS",
                Status::Fail => "FAIL",
                Status::Skip => "SKIP",
            };
            let mut detail = printable(&c.detail).into_owned();
            if detail.chars().count() > MAX_DETAIL_CHARS {
                detail = detail.chars().take(MAX_DETAIL_CHARS).collect::<String>() + " …";
            }
            out.push_str(&format!(
                "{status}  {:<width$}  {detail}\n",
                printable(&c.check)
            ));
        }
        out.push_str(&format!(
            "{} passed, {} failed, {} skipped: {}\n",
            self.count(Status::Pass),
            self.count(Status::Fail),
            self.count(Status::Skip),
            if self.passed() {
                "the plugin conforms"
            } else {
                "the plugin does NOT conform"
            }
        ));
        out
    }

    /// The machine-readable form.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "service_type": self.service_type,
            "plugin": self.plugin,
            "passed": self.count(Status::Pass),
            "failed": self.count(Status::Fail),
            "skipped": self.count(Status::Skip),
            "ok": self.passed(),
            "checks": self.checks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_what_the_plugin_said_and_json_counts() {
        let mut r = Report {
            service_type: "demo".into(),
            plugin: "demo.wasm".into(),
            ..Report::default()
        };
        r.pass("ping", "the source answered");
        r.fail("sync.ids", "duplicate id \"a\nFAIL forged\u{1b}[31m\"");
        r.skip("incremental", "not declared");
        let text = r.to_text();
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.contains("\\nFAIL forged\\u{1b}[31m"), "{text}");
        assert!(text.contains("1 passed, 1 failed, 1 skipped"), "{text}");
        assert!(!r.passed());
        let j = r.to_json();
        assert_eq!(j["failed"], 1);
        assert_eq!(j["ok"], false);
        assert_eq!(j["checks"][1]["status"], "fail");
    }
}
