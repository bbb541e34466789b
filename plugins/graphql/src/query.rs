//! Just enough of the GraphQL grammar (October 2021 spec) to check a configured
//! query the way Elastic's connector does: every operation is a `query`, the
//! objects of the id map and the pagination key are selected, and which variable
//! feeds a field's `after` argument.

/// One field of a selection set.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field's name (not its alias, as Elastic compares).
    pub name: String,
    /// Arguments: name, and the variable it is bound to, if it is one.
    pub arguments: Vec<(String, Option<String>)>,
    pub selections: Vec<Field>,
}

/// One operation of the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// `query`, `mutation` or `subscription` (`query` for the `{ … }` shorthand).
    pub kind: String,
    pub selections: Vec<Field>,
}

/// A parsed document: its operations (fragments are parsed and set aside).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub operations: Vec<Operation>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Punct(char),
    Spread,
    Name(String),
    Value,
}

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            // Insignificant: whitespace, commas, BOM, line terminators.
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' && chars[i] != '\r' {
                    i += 1;
                }
            }
            '!' | '$' | '&' | '(' | ')' | ':' | '=' | '@' | '[' | ']' | '{' | '|' | '}' => {
                out.push(Tok::Punct(c));
                i += 1;
            }
            '.' => {
                if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
                    out.push(Tok::Spread);
                    i += 3;
                } else {
                    return Err(format!("unexpected `.` at character {i}"));
                }
            }
            '"' => {
                if chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"') {
                    i += 3;
                    loop {
                        if i >= chars.len() {
                            return Err("unterminated block string".into());
                        }
                        if chars.get(i) == Some(&'\\')
                            && chars.get(i + 1) == Some(&'"')
                            && chars.get(i + 2) == Some(&'"')
                            && chars.get(i + 3) == Some(&'"')
                        {
                            i += 4;
                        } else if chars.get(i) == Some(&'"')
                            && chars.get(i + 1) == Some(&'"')
                            && chars.get(i + 2) == Some(&'"')
                        {
                            i += 3;
                            break;
                        } else {
                            i += 1;
                        }
                    }
                } else {
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None | Some('\n') | Some('\r') => {
                                return Err("unterminated string".into())
                            }
                            Some('\\') => i += 2,
                            Some('"') => {
                                i += 1;
                                break;
                            }
                            Some(_) => i += 1,
                        }
                    }
                }
                out.push(Tok::Value);
            }
            c if c == '-' || c.is_ascii_digit() => {
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '+' | '-'))
                {
                    i += 1;
                }
                out.push(Tok::Value);
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                out.push(Tok::Name(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Punct(p)) if p == c => Ok(()),
            other => Err(format!("expected `{c}`, found {}", shown(other.as_ref()))),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Name(n)) => Ok(n),
            other => Err(format!("expected a name, found {}", shown(other.as_ref()))),
        }
    }

    fn document(&mut self) -> Result<Document, String> {
        let mut operations = Vec::new();
        if self.peek().is_none() {
            return Err("the query is empty".into());
        }
        while let Some(t) = self.peek().cloned() {
            match t {
                Tok::Punct('{') => operations.push(Operation {
                    kind: "query".into(),
                    selections: self.selection_set()?,
                }),
                Tok::Name(n) if n == "fragment" => {
                    self.next();
                    self.name()?;
                    match self.next() {
                        Some(Tok::Name(on)) if on == "on" => {}
                        other => {
                            return Err(format!("expected `on`, found {}", shown(other.as_ref())))
                        }
                    }
                    self.name()?;
                    self.directives()?;
                    self.selection_set()?;
                }
                Tok::Name(n) if n == "query" || n == "mutation" || n == "subscription" => {
                    self.next();
                    if matches!(self.peek(), Some(Tok::Name(_))) {
                        self.next();
                    }
                    if self.is('(') {
                        self.variable_definitions()?;
                    }
                    self.directives()?;
                    operations.push(Operation {
                        kind: n,
                        selections: self.selection_set()?,
                    });
                }
                other => {
                    return Err(format!(
                        "expected an operation or fragment, found {}",
                        shown(Some(&other))
                    ))
                }
            }
        }
        Ok(Document { operations })
    }

    fn variable_definitions(&mut self) -> Result<(), String> {
        self.expect('(')?;
        while !self.is(')') {
            self.expect('$')?;
            self.name()?;
            self.expect(':')?;
            self.type_ref()?;
            if self.is('=') {
                self.next();
                self.value()?;
            }
            self.directives()?;
        }
        self.expect(')')
    }

    fn type_ref(&mut self) -> Result<(), String> {
        if self.is('[') {
            self.next();
            self.type_ref()?;
            self.expect(']')?;
        } else {
            self.name()?;
        }
        if self.is('!') {
            self.next();
        }
        Ok(())
    }

    /// A value; returns the variable name when it is one.
    fn value(&mut self) -> Result<Option<String>, String> {
        match self.next() {
            Some(Tok::Punct('$')) => Ok(Some(self.name()?)),
            Some(Tok::Value) | Some(Tok::Name(_)) => Ok(None),
            Some(Tok::Punct('[')) => {
                while !self.is(']') {
                    if self.peek().is_none() {
                        return Err("unterminated list".into());
                    }
                    self.value()?;
                }
                self.next();
                Ok(None)
            }
            Some(Tok::Punct('{')) => {
                while !self.is('}') {
                    self.name()?;
                    self.expect(':')?;
                    self.value()?;
                }
                self.next();
                Ok(None)
            }
            other => Err(format!("expected a value, found {}", shown(other.as_ref()))),
        }
    }

    fn arguments(&mut self) -> Result<Vec<(String, Option<String>)>, String> {
        let mut args = Vec::new();
        if !self.is('(') {
            return Ok(args);
        }
        self.next();
        while !self.is(')') {
            let name = self.name()?;
            self.expect(':')?;
            args.push((name, self.value()?));
        }
        self.next();
        if args.is_empty() {
            return Err("empty argument list".into());
        }
        Ok(args)
    }

    fn directives(&mut self) -> Result<(), String> {
        while self.is('@') {
            self.next();
            self.name()?;
            self.arguments()?;
        }
        Ok(())
    }

    fn selection_set(&mut self) -> Result<Vec<Field>, String> {
        self.expect('{')?;
        let mut fields = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Punct('}')) => {
                    self.next();
                    break;
                }
                None => return Err("unterminated selection set".into()),
                Some(Tok::Spread) => {
                    self.next();
                    match self.peek().cloned() {
                        // `... on Type { … }` or `... @dir { … }`: its fields are
                        // selected here too.
                        Some(Tok::Name(n)) if n == "on" => {
                            self.next();
                            self.name()?;
                            self.directives()?;
                            fields.extend(self.selection_set()?);
                        }
                        Some(Tok::Punct('{')) | Some(Tok::Punct('@')) => {
                            self.directives()?;
                            fields.extend(self.selection_set()?);
                        }
                        Some(Tok::Name(_)) => {
                            self.next();
                            self.directives()?;
                        }
                        other => {
                            return Err(format!(
                                "expected a fragment, found {}",
                                shown(other.as_ref())
                            ))
                        }
                    }
                }
                Some(_) => fields.push(self.field()?),
            }
        }
        if fields.is_empty() {
            return Err("empty selection set".into());
        }
        Ok(fields)
    }

    fn field(&mut self) -> Result<Field, String> {
        let mut name = self.name()?;
        if self.is(':') {
            self.next();
            name = self.name()?;
        }
        let arguments = self.arguments()?;
        self.directives()?;
        let selections = if self.is('{') {
            self.selection_set()?
        } else {
            Vec::new()
        };
        Ok(Field {
            name,
            arguments,
            selections,
        })
    }
}

fn shown(t: Option<&Tok>) -> String {
    match t {
        None => "the end of the query".into(),
        Some(Tok::Punct(c)) => format!("`{c}`"),
        Some(Tok::Spread) => "`...`".into(),
        Some(Tok::Name(n)) => format!("`{n}`"),
        Some(Tok::Value) => "a value".into(),
    }
}

/// Parses a GraphQL document.
pub fn parse(src: &str) -> Result<Document, String> {
    let toks = tokenize(src)?;
    Parser { toks, pos: 0 }.document()
}

impl Document {
    /// Every operation is a `query` (Elastic refuses mutations and subscriptions).
    pub fn is_query(&self) -> bool {
        self.operations.iter().all(|o| o.kind == "query")
    }

    /// Elastic's `check_field_existence`: whether the dotted `path` is selected
    /// in the first query, and whether its selection includes field `id`.
    pub fn field_exists(&self, path: &str, id: Option<&str>) -> (bool, bool) {
        let Some(op) = self.operations.iter().find(|o| o.kind == "query") else {
            return (false, false);
        };
        let parts: Vec<&str> = path.split('.').collect();
        let mut level = &op.selections;
        for (i, part) in parts.iter().enumerate() {
            let Some(f) = level.iter().find(|f| f.name == *part) else {
                return (false, false);
            };
            if i + 1 == parts.len() {
                let has_id = id.is_some_and(|id| f.selections.iter().any(|s| s.name == id));
                return (true, has_id);
            }
            level = &f.selections;
        }
        (false, false)
    }

    fn walk<'a>(&'a self, mut f: impl FnMut(&'a Field)) {
        fn go<'a>(fields: &'a [Field], f: &mut impl FnMut(&'a Field)) {
            for x in fields {
                f(x);
                go(&x.selections, f);
            }
        }
        for op in &self.operations {
            go(&op.selections, &mut f);
        }
    }

    /// Whether any field named `name` is selected anywhere.
    pub fn selects(&self, name: &str) -> bool {
        let mut found = false;
        self.walk(|f| found |= f.name == name);
        found
    }

    /// The variable bound to argument `arg` of the (last seen) field `field`,
    /// as Elastic's visitor records it.
    pub fn argument_variable(&self, field: &str, arg: &str) -> Option<String> {
        let mut found = None;
        self.walk(|f| {
            if f.name == field {
                found = f
                    .arguments
                    .iter()
                    .find(|(n, _)| n == arg)
                    .and_then(|(_, v)| v.clone());
            }
        });
        found
    }

    /// Whether the (last seen) field `field` has an argument `arg`.
    pub fn has_argument(&self, field: &str, arg: &str) -> bool {
        let mut found = false;
        self.walk(|f| {
            if f.name == field {
                found = f.arguments.iter().any(|(n, _)| n == arg);
            }
        });
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = r#"
        # users, 2 per page
        query Users($after: String, $n: Int = 2) {
          organization(login: "acme") {
            users(first: $n, after: $after) @include(if: true) {
              pageInfo { hasNextPage endCursor }
              nodes { id name ... on User { email } }
            }
          }
        }"#;

    #[test]
    fn checks_as_elastic_does() {
        let d = parse(Q).expect("parse");
        assert!(d.is_query());
        assert_eq!(
            d.field_exists("organization.users.nodes", Some("id")),
            (true, true)
        );
        assert_eq!(
            d.field_exists("organization.users.nodes", Some("login")),
            (true, false)
        );
        assert_eq!(
            d.field_exists("organization.members", Some("id")),
            (false, false)
        );
        assert!(d.selects("pageInfo") && d.selects("email"));
        assert_eq!(
            d.argument_variable("users", "after").as_deref(),
            Some("after")
        );
        assert!(d.has_argument("users", "after"));
        assert!(!parse("mutation { addUser(name: \"x\") { id } }")
            .expect("parse")
            .is_query());
        assert!(parse("{ a { }").is_err());
        assert!(parse("query { a(b: ) }").is_err());
        assert!(parse("").is_err());
        assert!(parse(r#"{ a(s: """block "" string""") { b } }"#).is_ok());
    }
}
