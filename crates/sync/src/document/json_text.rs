//! Re-encoding the JSON text a plugin hands over (`value::json`) into compact JSON.
//!
//! A JSON parser accepts raw `\n`/`\r` between tokens, so validating a plugin's text
//! and then copying it would let the plugin add lines to NDJSON output and to the
//! `_bulk` body. This validates the text against RFC 8259 and writes it back with no
//! whitespace between tokens: strings are copied verbatim (a JSON string cannot hold
//! a raw control character), everything else is re-emitted token by token. The
//! output is exactly one JSON value on one line, whatever the input was.

/// Deepest nesting accepted (arrays and objects). Elasticsearch refuses documents
/// nested deeper than its mapping depth limit long before this.
pub const MAX_DEPTH: usize = 128;

/// Why a JSON text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonTextError {
    #[error("empty JSON text")]
    Empty,
    #[error("{what} at byte {offset}")]
    Syntax { what: &'static str, offset: usize },
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("more than one JSON value (trailing data at byte {offset})")]
    Trailing { offset: usize },
}

/// Appends the compact form of `text` to `out`; on error `out` may hold a partial
/// value, which the caller discards.
pub fn compact_into(text: &str, out: &mut String) -> Result<(), JsonTextError> {
    let mut c = Compactor {
        src: text,
        bytes: text.as_bytes(),
        pos: 0,
        out,
    };
    c.skip_ws();
    if c.pos == c.bytes.len() {
        return Err(JsonTextError::Empty);
    }
    c.value(0)?;
    c.skip_ws();
    if c.pos != c.bytes.len() {
        return Err(JsonTextError::Trailing { offset: c.pos });
    }
    Ok(())
}

/// The compact form of `text`. Already-compact text comes back unchanged.
pub fn compact(text: &str) -> Result<String, JsonTextError> {
    let mut out = String::with_capacity(text.len());
    compact_into(text, &mut out)?;
    Ok(out)
}

struct Compactor<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    out: &'a mut String,
}

impl Compactor<'_> {
    fn err(&self, what: &'static str) -> JsonTextError {
        if self.pos >= self.bytes.len() {
            JsonTextError::Syntax {
                what: "unexpected end of text",
                offset: self.pos,
            }
        } else {
            JsonTextError::Syntax {
                what,
                offset: self.pos,
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Copies `src[from..self.pos]`; both ends sit on ASCII bytes, so on char boundaries.
    fn copy_from(&mut self, from: usize) {
        self.out.push_str(&self.src[from..self.pos]);
    }

    fn value(&mut self, depth: usize) -> Result<(), JsonTextError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string(),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expected a JSON value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<(), JsonTextError> {
        if depth > MAX_DEPTH {
            return Err(JsonTextError::TooDeep);
        }
        self.pos += 1;
        self.out.push('{');
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.out.push('}');
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected an object key"));
            }
            self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':' after an object key"));
            }
            self.pos += 1;
            self.out.push(':');
            self.skip_ws();
            self.value(depth)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.out.push(',');
                }
                Some(b'}') => {
                    self.pos += 1;
                    self.out.push('}');
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), JsonTextError> {
        if depth > MAX_DEPTH {
            return Err(JsonTextError::TooDeep);
        }
        self.pos += 1;
        self.out.push('[');
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.out.push(']');
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.value(depth)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.out.push(',');
                }
                Some(b']') => {
                    self.pos += 1;
                    self.out.push(']');
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or ']' in an array")),
            }
        }
    }

    fn string(&mut self) -> Result<(), JsonTextError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    self.copy_from(start);
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            for _ in 0..4 {
                                if !self.peek().is_some_and(|b| b.is_ascii_hexdigit()) {
                                    return Err(self.err("bad \\u escape in a string"));
                                }
                                self.pos += 1;
                            }
                        }
                        _ => return Err(self.err("bad escape in a string")),
                    }
                }
                Some(0..=0x1f) => return Err(self.err("raw control character in a string")),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn literal(&mut self, word: &'static str) -> Result<(), JsonTextError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            self.out.push_str(word);
            Ok(())
        } else {
            Err(self.err("expected true, false or null"))
        }
    }

    fn digits(&mut self) -> usize {
        let from = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - from
    }

    fn number(&mut self) -> Result<(), JsonTextError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("bad number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("bad number: no digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("bad number: no digit in the exponent"));
            }
        }
        self.copy_from(start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_whitespace_between_tokens_only() {
        assert_eq!(
            compact("{\"a\":\n 1,\r\n \"b c\" : [ true , null,\t\"x\\ny\" ] }").unwrap(),
            r#"{"a":1,"b c":[true,null,"x\ny"]}"#
        );
        assert_eq!(compact(" -0.5e+10 ").unwrap(), "-0.5e+10");
        assert_eq!(compact("\"é\\u00e9\"").unwrap(), "\"é\\u00e9\"");
        assert_eq!(compact("{}").unwrap(), "{}");
        assert_eq!(compact("[ ]").unwrap(), "[]");
    }

    #[test]
    fn output_never_holds_a_line_break() {
        let out = compact("{\n\"a\"\n:\n[\n1\n,\n{\n}\n]\n}\n").unwrap();
        assert!(!out.contains('\n') && !out.contains('\r'), "{out}");
    }

    #[test]
    fn refuses_what_is_not_exactly_one_value() {
        for bad in [
            "",
            "   ",
            "{\"a\":1}\n{\"delete\":{\"_index\":\"victim\",\"_id\":\"1\"}}",
            "1 2",
            "{\"a\":1,}",
            "[1,]",
            "{a:1}",
            "\"line\nbreak\"",
            "\"tab\tin string\"",
            "'single'",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "NaN",
            "tru",
            "nul",
            "\"bad \\x escape\"",
            "\"\\u12G4\"",
            "\"unterminated",
            "{\"a\" 1}",
        ] {
            assert!(compact(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(
            compact("{\"a\":1}\n{\"b\":2}"),
            Err(JsonTextError::Trailing { offset: 8 })
        );
    }

    #[test]
    fn bounds_nesting() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(compact(&ok).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(compact(&deep), Err(JsonTextError::TooDeep));
        let bomb = "[".repeat(1_000_000);
        assert_eq!(compact(&bomb), Err(JsonTextError::TooDeep));
    }

    #[test]
    fn agrees_with_serde_json_on_valid_text() {
        for text in [
            r#"{"k": [1, 2.5, -3e-2, "s", {"n": null}], "t": true, "f": false}"#,
            r#"["\"quoted\"", "\\", "\/", "\b\f\n\r\t", "\ud83d\ude00"]"#,
        ] {
            let ours: serde_json::Value = serde_json::from_str(&compact(text).unwrap()).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs);
        }
    }
}
