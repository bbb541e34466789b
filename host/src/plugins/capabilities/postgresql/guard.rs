//! The statement guard: a plugin may send only one read statement.
//!
//! A READ ONLY transaction alone is not a boundary (`COMMIT; SET
//! default_transaction_read_only = off` escapes it), so every statement is tokenized
//! here — quotes, `E''` escapes, `U&` forms, nested comments and dollar quoting
//! included — and refused unless it is a single SELECT/WITH/VALUES/TABLE query with
//! no data-modifying CTE, `SELECT INTO`, locking clause, or call to a function that
//! changes settings or reaches outside the database. The server adds its own layers
//! (the statement runs as `DECLARE … CURSOR`, which accepts only queries, inside a
//! READ ONLY transaction), and a SELECT-only role remains the real boundary.

/// A token; only what the rules below need is kept.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An unquoted identifier or keyword, lower-cased.
    Word(String),
    /// A `"quoted"` identifier, as written.
    Quoted(String),
    /// A string or number literal, or a `$n` parameter.
    Literal,
    Open,
    Close,
    Semi,
    /// Any other punctuation or operator character.
    Punct,
}

/// Why a statement was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(why.into()))
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_cont(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

/// Splits `sql` into tokens. Returns each token with the byte offset where it ends.
fn tokenize(sql: &str) -> Result<Vec<(Tok, usize)>, Refusal> {
    let b = sql.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        // Comments first: `--` and `/*` start a comment even inside an operator.
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            // PostgreSQL block comments nest.
            let mut depth = 1;
            i += 2;
            while depth > 0 {
                if i + 1 >= b.len() {
                    return refuse("unterminated /* comment");
                }
                if b[i] == b'/' && b[i + 1] == b'*' {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b[i + 1] == b'/' {
                    depth -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        match c {
            b'\'' => {
                i = skip_string(b, i, false)?;
                out.push((Tok::Literal, i));
            }
            b'"' => {
                let (end, name) = skip_quoted_ident(b, i)?;
                i = end;
                out.push((Tok::Quoted(name), i));
            }
            b'$' => {
                if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    out.push((Tok::Literal, i));
                } else if let Some(end) = dollar_tag_end(b, i) {
                    let tag = &b[i..end];
                    let close = find(b, end, tag)
                        .ok_or_else(|| Refusal("unterminated dollar-quoted string".into()))?;
                    i = close + tag.len();
                    out.push((Tok::Literal, i));
                } else {
                    i += 1;
                    out.push((Tok::Punct, i));
                }
            }
            b'(' => {
                i += 1;
                out.push((Tok::Open, i));
            }
            b')' => {
                i += 1;
                out.push((Tok::Close, i));
            }
            b';' => {
                i += 1;
                out.push((Tok::Semi, i));
            }
            b'0'..=b'9' => {
                i = skip_number(b, i);
                out.push((Tok::Literal, i));
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = skip_number(b, i);
                out.push((Tok::Literal, i));
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < b.len() && is_ident_cont(b[i]) {
                    i += 1;
                }
                let word = sql[start..i].to_ascii_lowercase();
                let next = b.get(i).copied();
                // String-literal prefixes: E'..' (backslash escapes), B'..', X'..', N'..', U&'..'.
                match (word.as_str(), next) {
                    ("e", Some(b'\'')) => {
                        i = skip_string(b, i, true)?;
                        out.push((Tok::Literal, i));
                    }
                    ("b" | "x" | "n", Some(b'\'')) => {
                        i = skip_string(b, i, false)?;
                        out.push((Tok::Literal, i));
                    }
                    ("u", Some(b'&')) if b.get(i + 1) == Some(&b'\'') => {
                        i = skip_string(b, i + 1, false)?;
                        out.push((Tok::Literal, i));
                    }
                    ("u", Some(b'&')) if b.get(i + 1) == Some(&b'"') => {
                        let (end, name) = skip_quoted_ident(b, i + 1)?;
                        i = end;
                        // Escapes inside U&"" may spell any name: compare it as unknown.
                        out.push((Tok::Quoted(format!("u&{name}")), i));
                    }
                    _ => out.push((Tok::Word(word), i)),
                }
            }
            _ => {
                i += 1;
                out.push((Tok::Punct, i));
            }
        }
    }
    Ok(out)
}

/// `b[i]` is the opening quote; returns the offset after the closing one.
fn skip_string(b: &[u8], mut i: usize, backslash: bool) -> Result<usize, Refusal> {
    i += 1;
    loop {
        match b.get(i) {
            None => return refuse("unterminated string literal"),
            Some(b'\\') if backslash => i += 2,
            Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
            Some(b'\'') => return Ok(i + 1),
            Some(_) => i += 1,
        }
    }
}

fn skip_quoted_ident(b: &[u8], mut i: usize) -> Result<(usize, String), Refusal> {
    i += 1;
    let mut name = Vec::new();
    loop {
        match b.get(i) {
            None => return refuse("unterminated quoted identifier"),
            Some(b'"') if b.get(i + 1) == Some(&b'"') => {
                name.push(b'"');
                i += 2;
            }
            Some(b'"') => return Ok((i + 1, String::from_utf8_lossy(&name).into_owned())),
            Some(&c) => {
                name.push(c);
                i += 1;
            }
        }
    }
}

/// If a dollar-quote tag (`$$` or `$tag$`) starts at `i`, the offset after it.
fn dollar_tag_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if b.get(j) == Some(&b'$') {
        return Some(j + 1);
    }
    if !b.get(j).copied().is_some_and(is_ident_start) {
        return None;
    }
    while let Some(&c) = b.get(j) {
        if c == b'$' {
            return Some(j + 1);
        }
        if !(is_ident_start(c) || c.is_ascii_digit()) {
            return None;
        }
        j += 1;
    }
    None
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn skip_number(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        let c = b[i];
        let exp_sign = (c == b'+' || c == b'-') && i > 0 && matches!(b[i - 1], b'e' | b'E');
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exp_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Functions a read statement could use to change the session (e.g. lift the
/// statement timeout), sleep on locks, or reach outside the database.
const DENIED_FUNCTIONS: &[&str] = &[
    "set_config",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "pg_file_write",
    "lo_import",
    "lo_export",
    "lo_from_bytea",
    "lo_create",
    "lo_unlink",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_promote",
    "pg_notify",
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "pg_logical_emit_message",
    "pg_create_restore_point",
    "pg_switch_wal",
];

fn denied_function(name: &str) -> bool {
    DENIED_FUNCTIONS.contains(&name)
        || name.starts_with("dblink")
        || name.starts_with("pg_advisory")
}

/// Checks `sql`; on success returns the statement without trailing semicolons
/// (so the host can wrap it).
pub fn check(sql: &str) -> Result<&str, Refusal> {
    let toks = tokenize(sql)?;
    // Single statement: a `;` may only be followed by more `;`.
    let end = match toks.iter().position(|(t, _)| *t == Tok::Semi) {
        Some(p) => {
            if toks[p..].iter().any(|(t, _)| *t != Tok::Semi) {
                return refuse("only one statement is allowed");
            }
            p
        }
        None => toks.len(),
    };
    let toks = &toks[..end];
    let Some((first, _)) = toks.first() else {
        return refuse("empty statement");
    };
    let body_end = toks.last().map_or(0, |(_, e)| *e);
    match first {
        Tok::Word(w) if matches!(w.as_str(), "select" | "with" | "values" | "table") => {}
        Tok::Open => {}
        Tok::Word(w) => {
            return refuse(format!(
                "only read statements (SELECT, WITH … SELECT, VALUES, TABLE) are allowed, not {}",
                w.to_uppercase()
            ))
        }
        _ => {
            return refuse(
                "only read statements (SELECT, WITH … SELECT, VALUES, TABLE) are allowed",
            )
        }
    }
    let mut depth: i32 = 0;
    for (idx, (t, _)) in toks.iter().enumerate() {
        let next = toks.get(idx + 1).map(|(t, _)| t);
        match t {
            Tok::Open => {
                depth += 1;
                // A statement inside parentheses: a data-modifying CTE or subquery.
                if let Some(Tok::Word(w)) = next {
                    if matches!(w.as_str(), "insert" | "update" | "delete" | "merge") {
                        return refuse(format!(
                            "data-modifying statements ({}) are not allowed",
                            w.to_uppercase()
                        ));
                    }
                }
            }
            Tok::Close => {
                depth -= 1;
                if depth < 0 {
                    return refuse("unbalanced parentheses");
                }
            }
            Tok::Word(w) => {
                match w.as_str() {
                    "into" => return refuse("SELECT INTO is not allowed"),
                    "for" => {
                        if let Some(Tok::Word(n)) = next {
                            if matches!(n.as_str(), "update" | "share" | "no" | "key") {
                                return refuse(
                                    "locking clauses (FOR UPDATE/SHARE) are not allowed",
                                );
                            }
                        }
                    }
                    _ => {}
                }
                if next == Some(&Tok::Open) && denied_function(w) {
                    return refuse(format!("function {w}() is not allowed"));
                }
            }
            Tok::Quoted(q) => {
                if next == Some(&Tok::Open) && (denied_function(q) || q.starts_with("u&")) {
                    return refuse(format!("function \"{q}\"() is not allowed"));
                }
            }
            Tok::Literal | Tok::Punct | Tok::Semi => {}
        }
    }
    if depth != 0 {
        return refuse("unbalanced parentheses");
    }
    Ok(&sql[..body_end])
}

#[cfg(test)]
mod tests {
    use super::check;

    fn ok(sql: &str) {
        if let Err(e) = check(sql) {
            panic!("refused {sql:?}: {}", e.0);
        }
    }

    fn no(sql: &str) {
        assert!(check(sql).is_err(), "accepted {sql:?}");
    }

    #[test]
    fn accepts_reads() {
        ok("SELECT 1");
        ok("select * from \"public\".\"album\" order by \"album_id\"");
        ok("  SELECT 1 ;  ");
        ok("SELECT 1;;");
        ok("SELECT 1; -- trailing comment");
        ok("WITH a AS (SELECT 1 AS x) SELECT x FROM a");
        ok("WITH a AS MATERIALIZED (SELECT 1) SELECT * FROM a");
        ok("VALUES (1), (2)");
        ok("TABLE album");
        ok("(SELECT 1) UNION (SELECT 2)");
        ok("SELECT ';' AS semi, 'it''s; COMMIT' AS q");
        ok("SELECT $$; COMMIT; SET x = 1$$");
        ok("SELECT $tag$ $$ ; $tag$");
        ok("SELECT E'\\'; COMMIT' AS x");
        ok("SELECT \"weird;\"\"name\" FROM t");
        ok("SELECT 1 /* ; /* nested ; */ still ; */");
        ok("SELECT a$b FROM t");
        ok("SELECT $1::int, $2");
        ok("SELECT substring('abc' for 2), x FROM t WHERE y = 'for update'");
        ok("SELECT \"update\", \"commit\" FROM t");
        ok("SELECT start, comment, copy FROM events"); // unreserved keywords as columns
        ok("SELECT CASE WHEN a THEN 1 END FROM t");
        ok("SELECT 1.5e+3, .5, 0x1f");
        ok("SELECT U&'d\\0061t' FROM t");
        ok("SELECT x FROM t -- no newline at the end");
    }

    #[test]
    fn refuses_writes_and_escapes() {
        no("");
        no("   ;  ");
        no("-- only a comment");
        no("COMMIT");
        no("SELECT 1; COMMIT");
        no("COMMIT; SET default_transaction_read_only = off");
        no("SELECT 1; SET default_transaction_read_only = off");
        no("SET statement_timeout = 0");
        no("RESET ALL");
        no("BEGIN");
        no("ROLLBACK");
        no("START TRANSACTION READ WRITE");
        no("SAVEPOINT a");
        no("END");
        no("ABORT");
        no("INSERT INTO t VALUES (1)");
        no("UPDATE t SET a = 1");
        no("DELETE FROM t");
        no("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE");
        no("TRUNCATE t");
        no("CREATE TABLE x (a int)");
        no("DROP TABLE album");
        no("ALTER ROLE postgres SUPERUSER");
        no("GRANT ALL ON t TO public");
        no("COPY t TO PROGRAM 'sh'");
        no("DO $$ BEGIN PERFORM 1; END $$");
        no("CALL p()");
        no("EXPLAIN ANALYZE DELETE FROM t");
        no("LOCK TABLE t");
        no("VACUUM");
        no("DECLARE c CURSOR FOR SELECT 1");
        no("PREPARE p AS SELECT 1");
        no("EXECUTE p");
        no("LISTEN x");
        no("NOTIFY x");
        no("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d");
        no("WITH d AS MATERIALIZED (update t set a = 1 returning *) SELECT 1");
        no("WITH RECURSIVE a AS (SELECT 1), b AS (INSERT INTO t VALUES (1)) SELECT 1");
        no("SELECT * INTO new_table FROM t");
        no("SELECT * FROM t FOR UPDATE");
        no("SELECT * FROM t FOR NO KEY UPDATE");
        no("SELECT * FROM t FOR SHARE");
        no("SELECT * FROM t FOR KEY SHARE SKIP LOCKED");
        no("SELECT set_config('statement_timeout', '0', false)");
        no("SELECT pg_catalog.set_config('default_transaction_read_only', 'off', false)");
        no("SELECT \"set_config\"('a', 'b', false)");
        no("SELECT pg_read_file('/etc/passwd')");
        no("SELECT dblink_exec('x', 'DROP TABLE t')");
        no("SELECT pg_advisory_lock(1)");
        no("SELECT query_to_xml('DELETE FROM t', true, true, '')");
        no("SELECT 'unterminated");
        no("SELECT \"unterminated");
        no("SELECT $$unterminated");
        no("SELECT 1 /* unterminated");
        no("SELECT (1");
        no("SELECT 1)");
        // Quoting tricks that would hide a second statement from a naive splitter.
        no("SELECT 'a'';'; COMMIT");
        no("SELECT E'\\''; COMMIT; --'");
        no("SELECT $a$ $b$ $a$; COMMIT");
        no("SELECT 1 /* /* */ ; */; COMMIT");
        no("SELECT \"a\"\";\"; COMMIT");
        no("SELECT 1 --\n; COMMIT");
    }

    #[test]
    fn body_drops_trailing_semicolons() {
        assert_eq!(check("SELECT 1 ; ;").ok(), Some("SELECT 1"));
        assert_eq!(check("SELECT 'x;'").ok(), Some("SELECT 'x;'"));
    }
}
