use super::*;

fn refused(sql: &str) -> Refusal {
    match check(sql) {
        Ok(Checked(t)) => panic!("accepted {sql:?} as {t:?}"),
        Err(r) => r,
    }
}

#[test]
fn ordinary_reads_pass_and_run_as_deparsed_text() {
    for sql in [
        "SELECT * FROM public.album ORDER BY album_id",
        "select a.title, b.name from album a join artist b using (artist_id) where a.album_id > $1",
        "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
        "VALUES (1, 'a'), (2, 'b')",
        "TABLE album",
        "SELECT count(*), max(total), string_agg(name, ', ' ORDER BY name) FROM track GROUP BY album_id HAVING count(*) > 1",
        "SELECT row_number() OVER (PARTITION BY genre_id ORDER BY name) FROM track",
        "SELECT coalesce(a, 'x'), nullif(b, 0), greatest(1, 2), CASE WHEN c THEN 1 ELSE 2 END FROM t",
        "SELECT extract(year FROM invoice_date), date_trunc('month', now()), now() AT TIME ZONE 'UTC' FROM invoice",
        "SELECT x::text, CAST(y AS numeric(10,2)), z::jsonb -> 'k' ->> 'v' FROM t",
        "SELECT * FROM t WHERE id IN (SELECT id FROM u) AND EXISTS (SELECT 1 FROM v WHERE v.a = t.a)",
        "SELECT * FROM generate_series(1, 10) AS g(n)",
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
        "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace",
        "SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3",
        "SELECT substring(name FROM 1 FOR 3), trim(both ' ' from name), position('a' in name) FROM t",
        "SELECT * FROM t TABLESAMPLE bernoulli (10)",
        "SELECT E'multi\\nline', $q$dollar$q$, U&'\\0041'",
    ] {
        let Checked(text) = check(sql).unwrap_or_else(|e| panic!("{sql:?} refused: {e}"));
        assert!(!text.is_empty());
    }
    assert_eq!(
        check("select  1 -- comment\n").map(|c| c.0),
        Ok("SELECT 1".to_string())
    );
}

#[test]
fn functions_that_run_sql_text_or_reach_outside_are_refused() {
    for (sql, f) in [
        ("SELECT word FROM ts_stat($q$SELECT to_tsvector('simple', pg_read_file('/etc/passwd'))$q$)", "ts_stat"),
        ("SELECT ts_rewrite('a'::tsquery, 'SELECT 1')", "ts_rewrite"),
        ("SELECT query_to_xml('select 1', true, true, '')", "query_to_xml"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        ("SELECT set_config('statement_timeout', '0', false)", "set_config"),
        ("SELECT pg_try_advisory_lock(1)", "pg_try_advisory_lock"),
        ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
        ("SELECT pg_terminate_backend(123)", "pg_terminate_backend"),
        ("SELECT lo_import('/etc/passwd')", "lo_import"),
        ("SELECT dblink_exec('x', 'COPY t TO PROGRAM ''id''')", "dblink_exec"),
        ("SELECT * FROM dblink('x', 'select 1') AS t(a int)", "dblink"),
        ("SELECT pg_create_physical_replication_slot('s')", "pg_create_physical_replication_slot"),
        ("SELECT pg_stat_reset()", "pg_stat_reset"),
        ("SELECT * FROM pg_ls_waldir()", "pg_ls_waldir"),
        ("SELECT pg_sleep(1000)", "pg_sleep"),
        ("SELECT current_setting('data_directory')", "current_setting"),
        ("SELECT nextval('s')", "nextval"),
        ("SELECT public.lower('x')", "public.lower"),
        ("SELECT 1 FROM t WHERE lower(pg_read_file('/etc/passwd')) = ''", "pg_read_file"),
        ("WITH x AS (SELECT set_config('a.b', 'c', false)) SELECT * FROM x", "set_config"),
        ("SELECT (SELECT pg_read_file('x'))", "pg_read_file"),
    ] {
        assert_eq!(refused(sql), Refusal::Function(f.into()), "{sql}");
    }
}

#[test]
fn secret_and_system_catalogs_are_refused() {
    for (sql, rel) in [
        ("SELECT rolpassword FROM pg_authid", "pg_authid"),
        ("SELECT * FROM pg_catalog.pg_shadow", "pg_catalog.pg_shadow"),
        ("SELECT * FROM pg_user_mappings", "pg_user_mappings"),
        ("SELECT * FROM pg_hba_file_rules", "pg_hba_file_rules"),
        ("SELECT * FROM pg_settings", "pg_settings"),
        ("SELECT * FROM pg_stat_activity", "pg_stat_activity"),
        (
            "SELECT * FROM information_schema.user_mapping_options",
            "information_schema.user_mapping_options",
        ),
        (
            "SELECT * FROM pg_toast.pg_toast_1234",
            "pg_toast.pg_toast_1234",
        ),
        ("SELECT * FROM otherdb.public.t", "otherdb.public.t"),
        (
            "SELECT * FROM t WHERE x IN (SELECT usename FROM pg_shadow)",
            "pg_shadow",
        ),
    ] {
        assert_eq!(refused(sql), Refusal::Relation(rel.into()), "{sql}");
    }
}

#[test]
fn statements_other_than_one_select_are_refused() {
    assert_eq!(refused("SELECT 1; SELECT 2"), Refusal::NotOne(2));
    assert_eq!(refused(""), Refusal::NotOne(0));
    assert_eq!(
        refused("COMMIT"),
        Refusal::NotSelect("transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT)".into())
    );
    assert_eq!(
        refused("SET statement_timeout = 0"),
        Refusal::NotSelect("SET".into())
    );
    assert_eq!(
        refused("INSERT INTO t VALUES (1)"),
        Refusal::NotSelect("INSERT".into())
    );
    assert_eq!(
        refused("COPY t TO PROGRAM 'id'"),
        Refusal::NotSelect("COPY".into())
    );
    assert_eq!(refused("DO $$BEGIN END$$"), Refusal::NotSelect("DO".into()));
    assert!(matches!(
        refused("CREATE TABLE x (a int)"),
        Refusal::NotSelect(_)
    ));
    assert!(matches!(refused("SELECT 1 FROM"), Refusal::Syntax(_)));
    assert_eq!(
        refused("SELECT * INTO newt FROM t"),
        Refusal::Construct("SELECT … INTO".into())
    );
    assert!(
        matches!(refused("SELECT * FROM t FOR UPDATE"), Refusal::Construct(c) if c.contains("LockingClause"))
    );
    assert!(
        matches!(refused("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"), Refusal::Construct(c) if c.contains("DeleteStmt"))
    );
    assert!(
        matches!(refused("SELECT xmlelement(name a)"), Refusal::Construct(c) if c.contains("XmlExpr"))
    );
    assert_eq!(
        refused("SELECT 1 OPERATOR(public.===) 2"),
        Refusal::Operator("public.===".into())
    );
    assert_eq!(
        refused("SELECT * FROM t TABLESAMPLE system_rows (10)"),
        Refusal::SampleMethod("system_rows".into())
    );
    assert_eq!(
        refused(&format!("SELECT '{}'", "x".repeat(MAX_SQL_BYTES))),
        Refusal::TooLong
    );
}

#[test]
fn lexer_tricks_cannot_hide_a_second_statement() {
    // An E'' string continued on the next line: a lexer-based guard and the server
    // disagreed on where the string ends. Here the server runs the parser's reading.
    let sql = "SELECT E'x'\n'\\'', set_config('a', 'b', false) AS y --'";
    assert!(matches!(
        check(sql),
        Err(Refusal::Function(_)) | Err(Refusal::Syntax(_))
    ));
    for sql in [
        "SELECT 1 /* ; SELECT pg_read_file('x') */",
        "SELECT $$; SELECT pg_read_file('x'); $$",
        "SELECT 'it''s; COMMIT'",
    ] {
        let Checked(text) = check(sql).unwrap_or_else(|e| panic!("{sql:?}: {e}"));
        assert!(!text.to_lowercase().contains("commit;"), "{text}");
    }
}
