//! Plugin SQL, checked with a real MySQL-dialect parser against an allow-list.
//!
//! A statement runs only when it parses as exactly one query (`SELECT`, `WITH …
//! SELECT`, set operations of them) that
//! - writes nowhere (`INTO` of any kind) and takes no locks (`FOR UPDATE`/`SHARE`),
//! - reads only tables of the connector's own database (unqualified names, or
//!   qualified with that database), derived tables, joins and `JSON_TABLE`,
//! - calls only allow-listed built-in functions (pure, no waits, no locks, no file
//!   or network access; stored functions are refused: they may write),
//! - reads no user or system variables (`@x`, `@@secure_file_priv`).
//!
//! Anything the parser does not understand is refused. The check matters more than
//! for PostgreSQL: MySQL commits the read-only transaction implicitly on DDL.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

/// Why a plugin statement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The MySQL grammar does not accept the text.
    #[error("it does not parse as MySQL: {0}")]
    Syntax(String),
    /// More than one statement, or none.
    #[error("exactly one statement is allowed, found {0}")]
    StatementCount(usize),
    /// Not a query.
    #[error("only SELECT queries are allowed, not {0}")]
    NotAQuery(String),
    /// `SELECT … INTO`.
    #[error("SELECT … INTO is not allowed")]
    Into,
    /// `FOR UPDATE` / `FOR SHARE`.
    #[error("locking clauses (FOR UPDATE/SHARE) are not allowed")]
    Lock,
    /// A write or other non-SELECT inside the query.
    #[error("only SELECT is allowed inside a query, not {0}")]
    NestedStatement(&'static str),
    /// A table outside the connector's database.
    #[error("table {0} is outside the connector's database")]
    ForeignRelation(String),
    /// A table source that is not a table, a subquery, a join or JSON_TABLE.
    #[error("table source {0} is not allowed")]
    TableSource(String),
    /// A function outside the allow-list.
    #[error("function {0} is not on the allow-list")]
    Function(String),
    /// A user or system variable.
    #[error("variables ({0}) are not allowed")]
    Variable(String),
}

/// A statement that passed the allow-list; the text is the plugin's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked(pub String);

/// Checks one plugin statement for a session on `database`.
pub fn check(sql: &str, database: &str) -> Result<Checked, Refusal> {
    let statements =
        Parser::parse_sql(&MySqlDialect {}, sql).map_err(|e| Refusal::Syntax(e.to_string()))?;
    let [statement] = statements.as_slice() else {
        return Err(Refusal::StatementCount(statements.len()));
    };
    let Statement::Query(_) = statement else {
        let kind = statement.to_string();
        let first = kind.split_whitespace().next().unwrap_or("?").to_uppercase();
        return Err(Refusal::NotAQuery(first));
    };
    let mut v = Check {
        database: database.to_ascii_lowercase(),
    };
    match statement.visit(&mut v) {
        ControlFlow::Break(r) => Err(r),
        ControlFlow::Continue(()) => Ok(Checked(sql.trim().trim_end_matches(';').to_string())),
    }
}

struct Check {
    database: String,
}

fn body_ok(body: &SetExpr) -> Result<(), Refusal> {
    match body {
        SetExpr::Select(s) if s.into.is_some() => Err(Refusal::Into),
        SetExpr::Select(_) | SetExpr::Query(_) => Ok(()),
        SetExpr::SetOperation { left, right, .. } => {
            body_ok(left)?;
            body_ok(right)
        }
        SetExpr::Values(_) => Ok(()),
        SetExpr::Insert(_) => Err(Refusal::NestedStatement("INSERT")),
        SetExpr::Update(_) => Err(Refusal::NestedStatement("UPDATE")),
        SetExpr::Delete(_) => Err(Refusal::NestedStatement("DELETE")),
        SetExpr::Merge(_) => Err(Refusal::NestedStatement("MERGE")),
        SetExpr::Table(_) => Err(Refusal::NestedStatement("TABLE")),
    }
}

fn part(p: &ObjectNamePart) -> String {
    match p {
        ObjectNamePart::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

impl Visitor for Check {
    type Break = Refusal;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Refusal> {
        if !query.locks.is_empty() || query.for_clause.is_some() {
            return ControlFlow::Break(Refusal::Lock);
        }
        match body_ok(&query.body) {
            Ok(()) => ControlFlow::Continue(()),
            Err(r) => ControlFlow::Break(r),
        }
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<Refusal> {
        match relation.0.as_slice() {
            [_] => ControlFlow::Continue(()),
            [db, _] if part(db).to_ascii_lowercase() == self.database => ControlFlow::Continue(()),
            _ => ControlFlow::Break(Refusal::ForeignRelation(relation.to_string())),
        }
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Refusal> {
        match factor {
            TableFactor::Table { args: None, .. }
            | TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::JsonTable { .. } => ControlFlow::Continue(()),
            other => {
                let text = other.to_string();
                ControlFlow::Break(Refusal::TableSource(text.chars().take(60).collect()))
            }
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Refusal> {
        match expr {
            Expr::Identifier(i) if i.value.starts_with('@') => {
                ControlFlow::Break(Refusal::Variable(i.value.clone()))
            }
            Expr::CompoundIdentifier(parts) if parts.iter().any(|i| i.value.starts_with('@')) => {
                ControlFlow::Break(Refusal::Variable(expr.to_string()))
            }
            Expr::Function(f) => {
                let name = match f.name.0.as_slice() {
                    [one] => part(one).to_ascii_lowercase(),
                    _ => return ControlFlow::Break(Refusal::Function(f.name.to_string())),
                };
                if ALLOWED_FUNCTIONS.binary_search(&name.as_str()).is_ok() {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(Refusal::Function(f.name.to_string()))
                }
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

/// Built-in functions a plugin may call: pure computations on their arguments
/// (sorted, lower case). Absent on purpose: `sleep`, `benchmark`, `load_file`,
/// the lock functions, `master_pos_wait`, `sys_*`, and anything not listed.
const ALLOWED_FUNCTIONS: &[&str] = &[
    "abs",
    "acos",
    "adddate",
    "addtime",
    "any_value",
    "ascii",
    "asin",
    "atan",
    "atan2",
    "avg",
    "bin",
    "bit_and",
    "bit_count",
    "bit_length",
    "bit_or",
    "bit_xor",
    "cast",
    "ceil",
    "ceiling",
    "char",
    "char_length",
    "character_length",
    "coalesce",
    "concat",
    "concat_ws",
    "conv",
    "convert",
    "convert_tz",
    "cos",
    "cot",
    "count",
    "crc32",
    "cume_dist",
    "curdate",
    "current_date",
    "current_time",
    "current_timestamp",
    "curtime",
    "database",
    "date",
    "date_add",
    "date_format",
    "date_sub",
    "datediff",
    "day",
    "dayname",
    "dayofmonth",
    "dayofweek",
    "dayofyear",
    "degrees",
    "dense_rank",
    "elt",
    "exp",
    "extract",
    "field",
    "find_in_set",
    "first_value",
    "floor",
    "format",
    "from_base64",
    "from_days",
    "from_unixtime",
    "greatest",
    "group_concat",
    "hex",
    "hour",
    "if",
    "ifnull",
    "inet6_aton",
    "inet6_ntoa",
    "inet_aton",
    "inet_ntoa",
    "insert",
    "instr",
    "json_array",
    "json_arrayagg",
    "json_contains",
    "json_contains_path",
    "json_depth",
    "json_extract",
    "json_keys",
    "json_length",
    "json_merge_patch",
    "json_merge_preserve",
    "json_object",
    "json_objectagg",
    "json_quote",
    "json_search",
    "json_type",
    "json_unquote",
    "json_valid",
    "json_value",
    "lag",
    "last_day",
    "last_value",
    "lcase",
    "lead",
    "least",
    "left",
    "length",
    "ln",
    "localtime",
    "localtimestamp",
    "locate",
    "log",
    "log10",
    "log2",
    "lower",
    "lpad",
    "ltrim",
    "makedate",
    "maketime",
    "max",
    "md5",
    "microsecond",
    "mid",
    "min",
    "minute",
    "mod",
    "month",
    "monthname",
    "now",
    "nth_value",
    "ntile",
    "nullif",
    "oct",
    "octet_length",
    "ord",
    "percent_rank",
    "period_add",
    "period_diff",
    "pi",
    "position",
    "pow",
    "power",
    "quarter",
    "quote",
    "radians",
    "rank",
    "regexp_instr",
    "regexp_like",
    "regexp_replace",
    "regexp_substr",
    "repeat",
    "replace",
    "reverse",
    "right",
    "round",
    "row_number",
    "rpad",
    "rtrim",
    "sec_to_time",
    "second",
    "sha1",
    "sha2",
    "sign",
    "sin",
    "soundex",
    "space",
    "sqrt",
    "std",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "str_to_date",
    "strcmp",
    "subdate",
    "substr",
    "substring",
    "substring_index",
    "subtime",
    "sum",
    "sysdate",
    "tan",
    "time",
    "time_format",
    "time_to_sec",
    "timediff",
    "timestamp",
    "timestampadd",
    "timestampdiff",
    "to_base64",
    "to_days",
    "to_seconds",
    "trim",
    "truncate",
    "ucase",
    "unhex",
    "unix_timestamp",
    "upper",
    "utc_date",
    "utc_time",
    "utc_timestamp",
    "uuid",
    "var_pop",
    "var_samp",
    "variance",
    "version",
    "week",
    "weekday",
    "weekofyear",
    "year",
    "yearweek",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) {
        if let Err(e) = check(sql, "music") {
            panic!("{sql}: refused: {e}");
        }
    }

    fn refused(sql: &str) -> Refusal {
        match check(sql, "music") {
            Ok(_) => panic!("{sql}: accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn allow_list_is_sorted() {
        let mut sorted = ALLOWED_FUNCTIONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, ALLOWED_FUNCTIONS);
    }

    #[test]
    fn reads_pass() {
        ok("SELECT * FROM album");
        ok("SELECT a.AlbumId, ar.Name FROM album a JOIN artist ar ON ar.ArtistId = a.ArtistId WHERE a.AlbumId > ? ORDER BY a.AlbumId");
        ok("SELECT * FROM music.album;");
        ok("SELECT * FROM `Music`.`album`");
        ok("WITH x AS (SELECT AlbumId FROM album) SELECT count(*) FROM x");
        ok("SELECT id FROM t UNION ALL SELECT id FROM (SELECT id FROM u) d");
        ok("SELECT CONCAT(Title, '!'), JSON_EXTRACT(doc, '$.a'), COALESCE(NULL, 1) FROM album");
        ok("SELECT * FROM album WHERE AlbumId IN (SELECT AlbumId FROM track)");
    }

    #[test]
    fn writes_and_ddl_are_refused() {
        assert_eq!(
            refused("DELETE FROM album"),
            Refusal::NotAQuery("DELETE".into())
        );
        assert_eq!(
            refused("INSERT INTO album VALUES (1)"),
            Refusal::NotAQuery("INSERT".into())
        );
        assert!(matches!(
            refused("CREATE TABLE x AS SELECT 1"),
            Refusal::NotAQuery(_)
        ));
        assert!(matches!(refused("DROP TABLE album"), Refusal::NotAQuery(_)));
        assert!(matches!(
            refused("SET autocommit = 1"),
            Refusal::NotAQuery(_)
        ));
        assert!(matches!(refused("COMMIT"), Refusal::NotAQuery(_)));
        assert_eq!(
            refused("SELECT 1; DELETE FROM album"),
            Refusal::StatementCount(2)
        );
        assert_eq!(refused(""), Refusal::StatementCount(0));
        assert!(matches!(refused("SELEC 1"), Refusal::Syntax(_)));
    }

    #[test]
    fn side_effects_are_refused() {
        assert_eq!(refused("SELECT * FROM album FOR UPDATE"), Refusal::Lock);
        assert!(matches!(refused("SELECT SLEEP(10)"), Refusal::Function(_)));
        assert!(matches!(
            refused("SELECT BENCHMARK(1000000, MD5('a'))"),
            Refusal::Function(_)
        ));
        assert!(matches!(
            refused("SELECT LOAD_FILE('/etc/passwd')"),
            Refusal::Function(_)
        ));
        assert!(matches!(
            refused("SELECT GET_LOCK('a', 10)"),
            Refusal::Function(_)
        ));
        assert!(matches!(
            refused("SELECT music.my_func(1)"),
            Refusal::Function(_)
        ));
        assert!(matches!(
            refused("SELECT * FROM mysql.user"),
            Refusal::ForeignRelation(_)
        ));
        assert!(matches!(
            refused("SELECT * FROM information_schema.tables"),
            Refusal::ForeignRelation(_)
        ));
        assert!(matches!(
            refused("SELECT @@secure_file_priv"),
            Refusal::Variable(_)
        ));
        assert!(matches!(refused("SELECT @x"), Refusal::Variable(_)));
        assert!(check("SELECT * FROM album INTO OUTFILE '/tmp/x'", "music").is_err());
        assert!(check("SELECT 1 INTO @x", "music").is_err());
    }
}
