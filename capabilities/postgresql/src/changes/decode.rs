//! Reading `test_decoding`'s output: one line per change,
//! `table public.album: UPDATE: old-key: id[integer]:1 new-tuple: id[integer]:2 title[text]:'A'`.
//!
//! Only what the reader needs is kept: which table, what kind of change, and the
//! values of the columns (as the type's text output; the key columns are cast
//! back by the server, so nothing here interprets a value). Transaction lines
//! (`BEGIN`, `COMMIT`) and messages are [`Line::Other`].

/// What one output line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// An INSERT, UPDATE or DELETE of one row.
    Row(RowChange),
    /// `TRUNCATE` of these `(schema, table)`s.
    Truncate(Vec<(String, String)>),
    /// `BEGIN`, `COMMIT`, a logical message: nothing to do.
    Other,
}

/// The kind of a row change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Insert,
    Update,
    Delete,
}

/// One decoded row change. `old` holds the old key (DELETE, or an UPDATE that
/// changed the key or a table with `REPLICA IDENTITY FULL`); `new` the new tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowChange {
    pub schema: String,
    pub table: String,
    pub kind: Kind,
    pub old: Option<Vec<ColumnValue>>,
    pub new: Option<Vec<ColumnValue>>,
}

/// A column and its value: `None` for NULL or a TOASTed value the change did not
/// touch (`unchanged-toast-datum`), else the type's text output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnValue {
    pub name: String,
    pub value: Option<String>,
}

/// Why a line could not be read (the output plugin's format was not what this
/// parser knows).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected test_decoding output ({what}) in: {line}")]
pub struct DecodeError {
    pub what: &'static str,
    pub line: String,
}

/// Parses one line of `test_decoding` output.
pub fn parse_line(line: &str) -> Result<Line, DecodeError> {
    let Some(rest) = line.strip_prefix("table ") else {
        return Ok(Line::Other);
    };
    let err = |what: &'static str| DecodeError {
        what,
        line: line.chars().take(300).collect(),
    };
    let mut p = Parser { s: rest, pos: 0 };
    let mut relations = Vec::new();
    loop {
        let schema = p.ident().ok_or_else(|| err("schema name"))?;
        if !p.eat(".") {
            return Err(err("'.' after the schema"));
        }
        let table = p.ident().ok_or_else(|| err("table name"))?;
        relations.push((schema, table));
        if !p.eat(", ") {
            break;
        }
    }
    if !p.eat(": ") {
        return Err(err("': ' after the table"));
    }
    let action = p.until(':').ok_or_else(|| err("action"))?;
    p.eat(":");
    if action == "TRUNCATE" {
        return Ok(Line::Truncate(relations));
    }
    let (schema, table) = match relations.pop() {
        Some(r) if relations.is_empty() => r,
        _ => return Err(err("one table per row change")),
    };
    let kind = match action {
        "INSERT" => Kind::Insert,
        "UPDATE" => Kind::Update,
        "DELETE" => Kind::Delete,
        _ => return Err(err("action")),
    };
    let (mut old, mut new) = (None, None);
    match kind {
        Kind::Insert => new = p.tuple().map_err(err)?,
        Kind::Delete => old = p.tuple().map_err(err)?,
        Kind::Update => {
            if p.eat(" old-key:") {
                old = p.tuple_until(" new-tuple:").map_err(err)?;
                if !p.eat(" new-tuple:") {
                    return Err(err("' new-tuple:' after the old key"));
                }
            }
            new = p.tuple().map_err(err)?;
        }
    }
    Ok(Line::Row(RowChange {
        schema,
        table,
        kind,
        old,
        new,
    }))
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }

    /// Up to (not including) `c`.
    fn until(&mut self, c: char) -> Option<&'a str> {
        let i = self.rest().find(c)?;
        let out = &self.rest()[..i];
        self.pos += i;
        Some(out)
    }

    /// An identifier as `quote_identifier` prints it: bare, or in double quotes
    /// with embedded quotes doubled.
    fn ident(&mut self) -> Option<String> {
        let rest = self.rest();
        if let Some(q) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if q[i + 1..].starts_with('"') {
                        out.push('"');
                        chars.next();
                        continue;
                    }
                    self.pos += 1 + i + 1;
                    return Some(out);
                }
                out.push(c);
            }
            return None;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        self.pos += end;
        Some(rest[..end].to_string())
    }

    /// ` (no-tuple-data)` or the columns up to the end of the line.
    fn tuple(&mut self) -> Result<Option<Vec<ColumnValue>>, &'static str> {
        self.tuple_until("")
    }

    /// Columns ` name[type]:value` until `stop` (or the end when `stop` is empty).
    fn tuple_until(&mut self, stop: &str) -> Result<Option<Vec<ColumnValue>>, &'static str> {
        if self.eat(" (no-tuple-data)") {
            return Ok(None);
        }
        let mut cols = Vec::new();
        loop {
            let rest = self.rest();
            if rest.is_empty() || (!stop.is_empty() && rest.starts_with(stop)) {
                return Ok(Some(cols));
            }
            if !self.eat(" ") {
                return Err("' ' before a column");
            }
            let name = self.ident().ok_or("column name")?;
            if !self.eat("[") {
                return Err("'[' after a column name");
            }
            // The type as format_type prints it; `]:` ends it (`integer[]]:` is an array).
            let end = self.rest().find("]:").ok_or("']:' after a column type")?;
            self.pos += end + 2;
            let value = self.value()?;
            cols.push(ColumnValue { name, value });
        }
    }

    /// A value as `print_literal` writes it: `null`, `unchanged-toast-datum`,
    /// `'text'` with quotes doubled, `B'0101'` for bit strings, or a bare token.
    fn value(&mut self) -> Result<Option<String>, &'static str> {
        let rest = self.rest();
        let quoted = rest
            .strip_prefix('\'')
            .map(|q| (q, 1))
            .or_else(|| rest.strip_prefix("B'").map(|q| (q, 2)));
        if let Some((q, skip)) = quoted {
            let mut out = String::new();
            let mut chars = q.char_indices();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if q[i + 1..].starts_with('\'') {
                        out.push('\'');
                        chars.next();
                        continue;
                    }
                    self.pos += skip + i + 1;
                    return Ok(Some(out));
                }
                out.push(c);
            }
            return Err("closing quote of a value");
        }
        let end = rest.find(' ').unwrap_or(rest.len());
        let token = &rest[..end];
        self.pos += end;
        Ok(match token {
            "null" | "unchanged-toast-datum" => None,
            t => Some(t.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cv(name: &str, value: Option<&str>) -> ColumnValue {
        ColumnValue {
            name: name.into(),
            value: value.map(Into::into),
        }
    }

    #[test]
    fn insert_update_delete() {
        let l = parse_line(
            "table public.album: INSERT: id[integer]:1 title[text]:'It''s a me' n[numeric]:null",
        )
        .unwrap();
        assert_eq!(
            l,
            Line::Row(RowChange {
                schema: "public".into(),
                table: "album".into(),
                kind: Kind::Insert,
                old: None,
                new: Some(vec![
                    cv("id", Some("1")),
                    cv("title", Some("It's a me")),
                    cv("n", None)
                ]),
            })
        );
        let Line::Row(u) = parse_line(
            "table public.t: UPDATE: old-key: id[integer]:1 new-tuple: id[integer]:2 v[character varying(20)]:'a b' big[text]:unchanged-toast-datum",
        )
        .unwrap() else {
            panic!("not a row")
        };
        assert_eq!(u.kind, Kind::Update);
        assert_eq!(u.old, Some(vec![cv("id", Some("1"))]));
        assert_eq!(
            u.new,
            Some(vec![
                cv("id", Some("2")),
                cv("v", Some("a b")),
                cv("big", None)
            ])
        );
        let Line::Row(d) = parse_line("table public.t: DELETE: id[integer]:7").unwrap() else {
            panic!("not a row")
        };
        assert_eq!(
            (d.kind, d.old),
            (Kind::Delete, Some(vec![cv("id", Some("7"))]))
        );
        let Line::Row(n) = parse_line("table public.t: DELETE: (no-tuple-data)").unwrap() else {
            panic!("not a row")
        };
        assert_eq!(n.old, None);
    }

    #[test]
    fn quoted_names_arrays_bits() {
        let Line::Row(r) = parse_line(
            "table \"My Schema\".\"Odd \"\"T\"\"\": INSERT: \"Key Col\"[integer[]]:'{1,2}' b[bit(4)]:B'0101' ok[boolean]:true",
        )
        .unwrap() else {
            panic!("not a row")
        };
        assert_eq!(r.schema, "My Schema");
        assert_eq!(r.table, "Odd \"T\"");
        assert_eq!(
            r.new,
            Some(vec![
                cv("Key Col", Some("{1,2}")),
                cv("b", Some("0101")),
                cv("ok", Some("true"))
            ])
        );
    }

    #[test]
    fn truncate_and_other_lines() {
        assert_eq!(
            parse_line("table public.a, public.b: TRUNCATE: (no-flags)").unwrap(),
            Line::Truncate(vec![
                ("public".into(), "a".into()),
                ("public".into(), "b".into())
            ])
        );
        assert_eq!(parse_line("BEGIN").unwrap(), Line::Other);
        assert_eq!(parse_line("COMMIT").unwrap(), Line::Other);
        assert!(parse_line("table public.t: MERGE: x").is_err());
        assert!(parse_line("table public.t: INSERT: id[integer]:'open").is_err());
    }
}
