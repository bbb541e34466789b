//! Request-body checks shared by the Connector API endpoints (strict parsers, enums, dates,
//! Quartz cron) and the two status state machines.

use crate::http::EsError;
use serde_json::{Map, Value};

/// The body as an object; a missing body is a 400 like Elasticsearch's required-body check.
pub fn body(req: &crate::http::Req) -> Result<Map<String, Value>, EsError> {
    req.json_body()?
        .ok_or_else(|| EsError::parse("request body is required"))
}

pub fn strict(m: &Map<String, Value>, parser: &str, allowed: &[&str]) -> Result<(), EsError> {
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(EsError::x_content(format!(
                "[{parser}] unknown field [{k}]"
            )));
        }
    }
    Ok(())
}

pub fn bad_field(parser: &str, k: &str) -> EsError {
    EsError::x_content(format!("[{parser}] failed to parse field [{k}]"))
}

/// The parser token Elasticsearch names for a JSON value.
pub fn token(v: &Value) -> &'static str {
    match v {
        Value::Null => "VALUE_NULL",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Number(_) => "VALUE_NUMBER",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

/// A value of a type the field's parser does not accept (ObjectParser's own check, before any
/// value parsing, so no `failed to parse field` wrapper).
pub fn unsupported(parser: &str, k: &str, v: &Value) -> EsError {
    EsError::x_content(format!(
        "[{parser}] {k} doesn't support values of type: {}",
        token(v)
    ))
}

/// An error inside the nested object `field` of parser `outer`: ObjectParser wraps it.
pub fn nested(outer: &str, field: &str, inner: EsError) -> EsError {
    let mut e = bad_field(outer, field);
    e.caused_by = Some(inner.cause_json());
    e
}

/// A missing required field of a top-level request parser: ConstructingObjectParser throws an
/// IllegalArgumentException, which the REST layer answers as is.
pub fn required(fields: &[&str]) -> EsError {
    EsError::illegal_argument(format!("Required [{}]", fields.join(", ")))
}

/// A nullable string field: `Ok(None)` for absent or null.
pub fn opt_str(m: &Map<String, Value>, parser: &str, k: &str) -> Result<Option<String>, EsError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(unsupported(parser, k, v)),
    }
}

/// A nullable boolean field; like Elasticsearch it also takes the strings "true" and "false".
pub fn opt_bool(m: &Map<String, Value>, parser: &str, k: &str) -> Result<Option<bool>, EsError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(Value::String(s)) => {
            let mut e = bad_field(parser, k);
            e.caused_by = Some(serde_json::json!({"type": "illegal_argument_exception",
                "reason": format!("Failed to parse value [{s}] as only [true] or [false] are allowed.")}));
            Err(e)
        }
        Some(v) => Err(unsupported(parser, k, v)),
    }
}

pub fn req_bool(m: &Map<String, Value>, parser: &str, k: &str) -> Result<bool, EsError> {
    opt_bool(m, parser, k)?.ok_or_else(|| required(&[k]))
}

pub fn opt_date(m: &Map<String, Value>, parser: &str, k: &str) -> Result<Option<Value>, EsError> {
    match m.get(k) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Value::Null)),
        Some(v @ Value::String(s)) if crate::dates::parse_date(s).is_some() => Ok(Some(v.clone())),
        Some(v @ Value::Number(_)) => Ok(Some(v.clone())),
        Some(_) => Err(bad_field(parser, k)),
    }
}

pub fn enum_str(
    m: &Map<String, Value>,
    parser: &str,
    k: &str,
    allowed: &[&str],
) -> Result<Option<String>, EsError> {
    match opt_str(m, parser, k)? {
        None => Ok(None),
        Some(s) if allowed.contains(&s.as_str()) => Ok(Some(s)),
        Some(s) => Err(
            EsError::x_content(format!("[{parser}] failed to parse field [{k}]")).with(
                "caused_by_reason",
                format!("Unknown value [{s}] for [{k}]; expected one of {allowed:?}"),
            ),
        ),
    }
}

pub const CONNECTOR_STATUSES: &[&str] = &[
    "created",
    "needs_configuration",
    "configured",
    "connected",
    "error",
];
pub const JOB_STATUSES: &[&str] = &[
    "canceling",
    "canceled",
    "completed",
    "error",
    "in_progress",
    "pending",
    "suspended",
];
pub const JOB_TYPES: &[&str] = &["full", "incremental", "access_control"];
pub const TRIGGER_METHODS: &[&str] = &["on_demand", "scheduled"];

/// ConnectorStateMachine as of 8.15 (self-transitions for configured/connected/error allowed).
pub fn connector_transition_ok(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("created", "needs_configuration" | "error")
            | ("needs_configuration", "configured" | "error")
            | (
                "configured",
                "needs_configuration" | "configured" | "connected" | "error"
            )
            | ("connected", "connected" | "configured" | "error")
            | ("error", "connected" | "configured" | "error")
    )
}

pub fn job_transition_ok(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("pending", "in_progress" | "canceled")
            | (
                "in_progress",
                "canceling" | "completed" | "suspended" | "error"
            )
            | ("suspended", "in_progress" | "canceled")
            | ("canceling", "canceled" | "error")
    )
}

pub fn transition_error(from: &str, to: &str) -> EsError {
    EsError::status_exception(format!(
        "Invalid transition attempt from [{from}] to [{to}]. Such a status transition is not supported by the Connector Protocol."
    ))
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn cron_value(v: &str, lo: u32, hi: u32, names: &[&str]) -> bool {
    if let Ok(n) = v.parse::<u32>() {
        return n >= lo && n <= hi;
    }
    names.iter().any(|n| n.eq_ignore_ascii_case(v))
}

fn cron_field(f: &str, lo: u32, hi: u32, names: &[&str], question_ok: bool) -> bool {
    if f == "?" {
        return question_ok;
    }
    f.split(',').all(|part| {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        if let Some(s) = step {
            if !s.parse::<u32>().is_ok_and(|n| n > 0 && n <= hi.max(1)) {
                return false;
            }
        }
        if range == "*" {
            return true;
        }
        // Quartz extras for day fields: L, W, #.
        if question_ok
            && (range == "L" || range.ends_with('L') || range.ends_with('W') || range.contains('#'))
        {
            let core = range.trim_end_matches(['L', 'W']);
            let core = core.split('#').next().unwrap_or("");
            return core.is_empty() || cron_value(core, lo, hi, names);
        }
        match range.split_once('-') {
            Some((a, b)) => cron_value(a, lo, hi, names) && cron_value(b, lo, hi, names),
            None => cron_value(range, lo, hi, names),
        }
    })
}

/// Validates a Quartz-style cron: sec min hour day-of-month month day-of-week [year].
pub fn valid_cron(expr: &str) -> bool {
    let f: Vec<&str> = expr.split_whitespace().collect();
    if f.len() != 6 && f.len() != 7 {
        return false;
    }
    cron_field(f[0], 0, 59, &[], false)
        && cron_field(f[1], 0, 59, &[], false)
        && cron_field(f[2], 0, 23, &[], false)
        && cron_field(f[3], 1, 31, &[], true)
        && cron_field(f[4], 1, 12, MONTHS, false)
        && cron_field(f[5], 1, 7, DAYS, true)
        && (f.len() == 6 || cron_field(f[6], 1970, 2199, &[], false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_and_machines() {
        assert!(valid_cron("0 0 0 * * ?"));
        assert!(valid_cron("0 0/5 * * * ?"));
        assert!(valid_cron("0 15 10 ? * MON-FRI"));
        assert!(valid_cron("0 0 12 1/5 * ? 2030"));
        assert!(!valid_cron("61 0 0 * * ?"));
        assert!(!valid_cron("0 0 0 * *"));
        assert!(!valid_cron("0 0 25 * * ?"));
        assert!(connector_transition_ok("created", "needs_configuration"));
        assert!(!connector_transition_ok("created", "connected"));
        assert!(connector_transition_ok("connected", "connected"));
        assert!(!job_transition_ok("pending", "error"));
        assert!(job_transition_ok("in_progress", "canceling"));
        assert!(!job_transition_ok("completed", "canceling"));
    }
}
