//! Plugin SQL, read by PostgreSQL's own grammar and allowed, never denied.
//!
//! Each statement is parsed with libpg_query (the server's parser, as a library),
//! and every node of the tree must be on the [`allowlist`]: one `SELECT` (set
//! operations, `VALUES`, `TABLE`, CTEs that only read), no locking clause, no
//! `INTO`, calls only to listed side-effect-free built-ins, relations outside the
//! catalogs or on the list of harmless catalogs. What runs on the server is the
//! tree deparsed back to text, not the plugin's text, so the server executes
//! exactly what was checked (no lexer disagreement, comment or quoting trick).
//!
//! The connection is still a READ ONLY transaction with a statement timeout, and
//! a role that may only `SELECT` the synced tables remains the real boundary.

pub mod allowlist;

use serde_json::{Map, Value};

/// Longest statement a plugin may send.
pub const MAX_SQL_BYTES: usize = 256 * 1024;

/// Why a statement was refused; each names the construct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the statement is longer than {MAX_SQL_BYTES} bytes")]
    TooLong,
    #[error("the statement does not parse: {0}")]
    Syntax(String),
    #[error("exactly one statement must be sent, not {0}")]
    NotOne(usize),
    #[error("only SELECT statements are allowed, not {0}")]
    NotSelect(String),
    #[error("{0} is not allowed")]
    Construct(String),
    #[error("function `{0}` is not allowed")]
    Function(String),
    #[error("relation `{0}` is not allowed")]
    Relation(String),
    #[error("operator `{0}` is not allowed")]
    Operator(String),
    #[error("TABLESAMPLE method `{0}` is not allowed")]
    SampleMethod(String),
    #[error("the checked statement could not be re-encoded: {0}")]
    Deparse(String),
}

/// A statement that passed the allow-list, as the text to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked(pub String);

/// Parses and checks one plugin statement; returns the text to send to the server.
pub fn check(sql: &str) -> Result<Checked, Refusal> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(Refusal::TooLong);
    }
    let parsed = pg_query::parse(sql, 0).map_err(|e| Refusal::Syntax(e.to_string()))?;
    let stmts = &parsed.protobuf.stmts;
    if stmts.len() != 1 {
        return Err(Refusal::NotOne(stmts.len()));
    }
    let kind = parsed
        .statement_types()
        .first()
        .map(|s| s.to_string())
        .unwrap_or_default();
    if kind != "SelectStmt" {
        return Err(Refusal::NotSelect(statement_name(&kind)));
    }
    let tree = serde_json::to_value(&parsed.protobuf)
        .map_err(|e| Refusal::Syntax(format!("unreadable parse tree: {e}")))?;
    walk(&tree)?;
    let text = parsed
        .protobuf
        .deparse(Default::default())
        .map_err(|e| Refusal::Deparse(e.to_string()))?;
    Ok(Checked(text))
}

/// Visits every object of the tree. `{"node": {"Kind": {...}}}` is a node of
/// that kind; a few structures sit directly in fields and are checked by field.
fn walk(v: &Value) -> Result<(), Refusal> {
    match v {
        Value::Object(m) => {
            // A node is `{"node": {"Kind": {...}}}` and nothing else (other structures
            // have a field named `node` too, e.g. `SortBy`).
            if let (1, Some(Value::Object(inner))) = (m.len(), m.get("node")) {
                if let (1, Some((kind, body))) = (inner.len(), inner.iter().next()) {
                    check_node(kind, body)?;
                }
            }
            if m.get("into_clause").is_some_and(|x| !x.is_null()) {
                return Err(Refusal::Construct("SELECT … INTO".into()));
            }
            if m.contains_key("relname") {
                check_relation(m)?;
            }
            m.values().try_for_each(walk)
        }
        Value::Array(a) => a.iter().try_for_each(walk),
        _ => Ok(()),
    }
}

fn check_node(kind: &str, body: &Value) -> Result<(), Refusal> {
    if allowlist::NODES.binary_search(&kind).is_err() {
        return Err(Refusal::Construct(construct_name(kind)));
    }
    match kind {
        "FuncCall" => {
            let name = names(&body["funcname"]);
            match name.as_slice() {
                [f] | [_, f]
                    if allowlist::FUNCTIONS.binary_search(f).is_ok() && in_catalog(&name) =>
                {
                    Ok(())
                }
                _ => Err(Refusal::Function(name.join("."))),
            }
        }
        "AExpr" => {
            let name = names(&body["name"]);
            if in_catalog(&name) {
                Ok(())
            } else {
                Err(Refusal::Operator(name.join(".")))
            }
        }
        "RangeTableSample" => {
            let name = names(&body["method"]);
            match name.as_slice() {
                [m] | [_, m] if allowlist::SAMPLE_METHODS.contains(m) && in_catalog(&name) => {
                    Ok(())
                }
                _ => Err(Refusal::SampleMethod(name.join("."))),
            }
        }
        _ => Ok(()),
    }
}

/// A name is unqualified (resolved in `pg_catalog` first) or qualified by `pg_catalog`.
fn in_catalog(name: &[&str]) -> bool {
    match name {
        [_] => true,
        [schema, _] => *schema == "pg_catalog",
        _ => false,
    }
}

/// The strings of a name list (`[{"node": {"String": {"sval": "lower"}}}]`).
fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["node"]["String"]["sval"].as_str())
        .collect()
}

fn check_relation(m: &Map<String, Value>) -> Result<(), Refusal> {
    let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default();
    let (catalog, schema, rel) = (text("catalogname"), text("schemaname"), text("relname"));
    let full = || {
        [catalog, schema, rel]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(".")
    };
    let allowed = match (catalog, schema) {
        ("", "pg_catalog") => allowlist::CATALOG_RELATIONS.binary_search(&rel).is_ok(),
        ("", "information_schema") => allowlist::INFORMATION_SCHEMA_RELATIONS
            .binary_search(&rel)
            .is_ok(),
        // pg_toast, pg_temp_N and other system schemas.
        ("", s) if s.starts_with("pg_") => false,
        // Unqualified names resolve in pg_catalog first, where every relation is `pg_*`.
        ("", "") if rel.starts_with("pg_") => {
            allowlist::CATALOG_RELATIONS.binary_search(&rel).is_ok()
        }
        ("", _) => true,
        // `database.schema.relation`.
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::Relation(full()))
    }
}

fn statement_name(kind: &str) -> String {
    let plain = kind.trim_end_matches("Stmt");
    let words = match plain {
        "Insert" => "INSERT",
        "Update" => "UPDATE",
        "Delete" => "DELETE",
        "Merge" => "MERGE",
        "Copy" => "COPY",
        "VariableSet" => "SET",
        "VariableShow" => "SHOW",
        "Transaction" => "transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT)",
        "Call" => "CALL",
        "Do" => "DO",
        "Lock" => "LOCK",
        "Explain" => "EXPLAIN",
        "DeclareCursor" => "DECLARE CURSOR",
        "Fetch" => "FETCH",
        "Listen" | "Notify" | "Unlisten" => "LISTEN/NOTIFY",
        _ => return format!("`{kind}`"),
    };
    words.to_string()
}

fn construct_name(kind: &str) -> String {
    let hint = match kind {
        "LockingClause" => " (FOR UPDATE/SHARE)",
        "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => " (data-modifying statement)",
        "XmlExpr" | "XmlSerialize" | "RangeTableFunc" => " (XML functions)",
        "CurrentOfExpr" => " (WHERE CURRENT OF)",
        _ => "",
    };
    format!("`{kind}`{hint}")
}

#[cfg(test)]
mod tests;
