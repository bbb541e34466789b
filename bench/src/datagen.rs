//! The benchmark tables: generated server-side with `generate_series`, reused when
//! present with the right size and generator version.
//!
//! Every column is a pure function of the row number `i`, so rows changed by the
//! "1 % changed" run can be put back exactly ([`restore_changed`]).

use anyhow::{bail, Context, Result};
use tokio_postgres::{Client, NoTls};

use crate::PgConn;

/// Bumped whenever the generator's output changes; stored as the table comment.
const GENERATOR_VERSION: u32 = 1;

/// The schema every benchmark table lives in.
pub const SCHEMA: &str = "public";

/// ~1 KB of prose the text columns are cut from (plus quotes, a newline, a tab
/// and non-ASCII letters so JSON escaping is exercised).
pub const LOREM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in \
reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint \
occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum. \
Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium, \
totam rem aperiam, eaque ipsa quae ab illo inventore veritatis et quasi architecto beatae vitae \
dicta sunt explicabo. Nemo enim ipsam voluptatem quia voluptas sit aspernatur aut odit aut fugit, \
sed quia consequuntur magni dolores eos qui ratione voluptatem sequi nesciunt. Neque porro \
quisquam est, qui dolorem ipsum quia dolor sit amet, consectetur, adipisci velit, sed quia non \
numquam eius modi tempora incidunt ut labore et dolore magnam aliquam quaerat voluptatem. Ut \
enim ad minima veniam, quis nostrum exercitationem ullam corporis suscipit laboriosam, nisi ut \
aliquid ex ea commodi consequatur? Quis autem vel eum iure reprehenderit qui in ea voluptate \
velit esse quam nihil molestiae consequatur, vel illum qui dolorem eum fugiat quo voluptas nulla \
pariatur? At vero eos et accusamus et iusto odio dignissimos ducimus qui blanditiis praesentium.";

/// The table for `rows` rows: `bench_100k`, `bench_1m`, `bench_5m`, or `bench_<n>`.
pub fn table_name(rows: u64) -> String {
    match rows {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("bench_{}m", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("bench_{}k", n / 1_000),
        n => format!("bench_{n}"),
    }
}

/// Column expressions as functions of `{i}` (the row number / primary key).
fn column_exprs(i: &str) -> [(&'static str, &'static str, String); 8] {
    let lorem = format!("'{}'", LOREM.replace('\'', "''"));
    let ll = LOREM.len();
    [
        ("id", "integer NOT NULL", i.to_string()),
        (
            // 50–120 characters.
            "title",
            "text NOT NULL",
            format!("'Item ' || {i} || ': ' || substr({lorem}, 1 + ({i} * 7) % 400, 40 + ({i} * 13) % 71)"),
        ),
        (
            // 200–500 characters; every 50th row has quotes, a newline, a tab, accents.
            "body",
            "text NOT NULL",
            format!(
                "substr({lorem} || ' ' || {lorem}, 1 + ({i} * 11) % {ll}, 200 + ({i} * 17) % 281) \
                 || CASE WHEN {i} % 50 = 0 THEN E' \\\"quoted\\\"\\n\\tcafé déjà vu' ELSE '' END"
            ),
        ),
        (
            // 50–300 characters, NULL for 5 % of rows.
            "summary",
            "text",
            format!("CASE WHEN {i} % 20 = 0 THEN NULL ELSE substr({lorem}, 1 + ({i} * 3) % 600, 50 + ({i} * 19) % 251) END"),
        ),
        (
            "price",
            "numeric(14,4) NOT NULL",
            format!("round((({i}::bigint * 7919) % 100000000)::numeric / 100 + ({i} % 7) * 0.0001, 4)"),
        ),
        (
            "updated_at",
            "timestamptz NOT NULL",
            format!("timestamptz '2020-01-01 00:00:00+00' + ({i}::bigint * 37000123) * interval '1 microsecond'"),
        ),
        (
            "attrs",
            "jsonb NOT NULL",
            format!(
                "jsonb_build_object('sku', 'SKU-' || lpad({i}::text, 8, '0'), 'qty', {i} % 1000, \
                 'active', {i} % 3 <> 0, 'rating', round(({i} % 50)::numeric / 10, 1), \
                 'dims', jsonb_build_object('w', {i} % 100, 'h', {i} % 37, 'unit', 'cm'), \
                 'labels', jsonb_build_array('l' || ({i} % 7), 'm' || ({i} % 11)))"
            ),
        ),
        (
            // 1–4 tags.
            "tags",
            "text[] NOT NULL",
            format!(
                "(ARRAY['red','green','blue','small','large','sale','new','eco','refurbished','limited'])\
                 [1 + {i} % 7 : 1 + {i} % 7 + {i} % 4]"
            ),
        ),
    ]
}

/// Connects to `dbname` on the benchmark server (spawning the connection task).
pub async fn connect(pg: &PgConn, dbname: &str) -> Result<Client> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&pg.host)
        .port(pg.port)
        .user(&pg.user)
        .dbname(dbname)
        .application_name("tributary-bench");
    if let Some(pw) = &pg.password {
        cfg.password(pw);
    }
    let (client, conn) = cfg.connect(NoTls).await.with_context(|| {
        format!(
            "connecting to PostgreSQL {}:{} database {dbname}",
            pg.host, pg.port
        )
    })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("bench: PostgreSQL connection error: {e}");
        }
    });
    Ok(client)
}

/// Creates the benchmark database when missing.
pub async fn ensure_database(pg: &PgConn) -> Result<()> {
    let admin = connect(pg, "postgres").await?;
    let exists = admin
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[&pg.dbname],
        )
        .await
        .context("looking up the benchmark database")?
        .is_some();
    if !exists {
        if !pg
            .dbname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            bail!("database name {:?} must be [A-Za-z0-9_]", pg.dbname);
        }
        eprintln!("bench: creating database {}", pg.dbname);
        admin
            .batch_execute(&format!("CREATE DATABASE {}", pg.dbname))
            .await
            .with_context(|| format!("creating database {}", pg.dbname))?;
    }
    Ok(())
}

fn marker(rows: u64) -> String {
    format!("tributary-bench v{GENERATOR_VERSION} rows={rows}")
}

/// What [`ensure_table`] did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TableInfo {
    pub table: String,
    pub rows: u64,
    /// `pg_total_relation_size` in bytes.
    pub bytes: u64,
    /// Seconds spent generating (0 when reused).
    pub generated_secs: f64,
    pub reused: bool,
}

/// Makes sure `bench_<rows>` exists with `rows` rows from this generator version.
pub async fn ensure_table(client: &Client, rows: u64) -> Result<TableInfo> {
    let table = table_name(rows);
    let qualified = format!("{SCHEMA}.{table}");
    let comment: Option<String> = client
        .query_one(
            "SELECT obj_description(to_regclass($1), 'pg_class')",
            &[&qualified],
        )
        .await
        .context("reading the table comment")?
        .get(0);
    let mut reused = false;
    let mut generated_secs = 0.0;
    if comment.as_deref() == Some(marker(rows).as_str()) {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {qualified}"), &[])
            .await
            .context("counting rows")?
            .get(0);
        reused = u64::try_from(n).ok() == Some(rows);
    }
    if !reused {
        let started = std::time::Instant::now();
        eprintln!("bench: generating {qualified} ({rows} rows, server-side generate_series)");
        let cols = column_exprs("i");
        let ddl: Vec<String> = cols.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
        let select: Vec<String> = cols.iter().map(|(_, _, e)| e.clone()).collect();
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {qualified};\n\
                 CREATE TABLE {qualified} ({});\n\
                 INSERT INTO {qualified} SELECT {} FROM generate_series(1, {rows}) AS g(i);\n\
                 ALTER TABLE {qualified} ADD PRIMARY KEY (id);",
                ddl.join(", "),
                select.join(",\n  "),
            ))
            .await
            .with_context(|| format!("generating {qualified}"))?;
        // Hint bits and the visibility map set now, so the first measured read does
        // not pay for them.
        // VACUUM cannot run inside the implicit transaction of a multi-statement batch.
        client
            .batch_execute(&format!("VACUUM (FREEZE, ANALYZE) {qualified}"))
            .await
            .with_context(|| format!("vacuuming {qualified}"))?;
        client
            .batch_execute(&format!(
                "COMMENT ON TABLE {qualified} IS '{}'",
                marker(rows)
            ))
            .await
            .with_context(|| format!("marking {qualified}"))?;
        generated_secs = started.elapsed().as_secs_f64();
        eprintln!("bench: generated {qualified} in {generated_secs:.1} s");
    }
    let bytes: i64 = client
        .query_one(
            "SELECT pg_total_relation_size(to_regclass($1))",
            &[&qualified],
        )
        .await
        .context("reading the table size")?
        .get(0);
    Ok(TableInfo {
        table,
        rows,
        bytes: bytes.max(0) as u64,
        generated_secs,
        reused,
    })
}

/// Which rows the "1 % changed" run touches.
fn changed_predicate() -> &'static str {
    "id % 100 = 0"
}

/// Changes 1 % of the rows (every 100th id); returns how many.
pub async fn change_one_percent(client: &Client, table: &str) -> Result<u64> {
    let n = client
        .execute(
            &format!(
                "UPDATE {SCHEMA}.{table} SET summary = 'changed by tributary-bench at ' || now(), \
                 updated_at = now(), attrs = attrs || '{{\"changed\": true}}' WHERE {}",
                changed_predicate()
            ),
            &[],
        )
        .await
        .with_context(|| format!("changing 1 % of {table}"))?;
    Ok(n)
}

/// Puts the rows [`change_one_percent`] touched back to the generator's values.
pub async fn restore_changed(client: &Client, table: &str) -> Result<()> {
    let cols = column_exprs("id");
    let set: Vec<String> = cols
        .iter()
        .filter(|(n, _, _)| matches!(*n, "summary" | "updated_at" | "attrs"))
        .map(|(n, _, e)| format!("{n} = {e}"))
        .collect();
    client
        .batch_execute(&format!(
            "UPDATE {SCHEMA}.{table} SET {} WHERE {}",
            set.join(", "),
            changed_predicate()
        ))
        .await
        .with_context(|| format!("restoring the changed rows of {table}"))?;
    client
        .batch_execute(&format!("VACUUM (ANALYZE) {SCHEMA}.{table}"))
        .await
        .with_context(|| format!("vacuuming {table}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert_eq!(table_name(100_000), "bench_100k");
        assert_eq!(table_name(1_000_000), "bench_1m");
        assert_eq!(table_name(5_000_000), "bench_5m");
        assert_eq!(table_name(1234), "bench_1234");
    }

    #[test]
    fn every_column_uses_the_row_number() {
        for (name, _, expr) in column_exprs("id") {
            assert!(expr.contains("id"), "{name}: {expr}");
        }
    }
}
