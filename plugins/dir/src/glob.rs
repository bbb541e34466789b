//! Path patterns as Python's `pathlib.Path.glob` reads them (what Elastic's
//! connector uses): `/`-separated segments, `**` for any number of directories
//! (none included), and `*`, `?`, `[abc]`, `[!abc]` within one name. Dot files
//! are not special; matching is case-sensitive.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<String>,
}

impl Pattern {
    /// Parses `raw`; absolute patterns and `..` are refused (pathlib refuses the
    /// first, and the second would leave the directory).
    pub fn new(raw: &str) -> Result<Pattern, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("the pattern is empty".into());
        }
        if raw.starts_with('/') {
            return Err(format!(
                "{raw:?} is absolute; patterns are relative to the directory"
            ));
        }
        let mut segments = Vec::new();
        for s in raw.split('/') {
            match s {
                "" | "." => continue,
                ".." => {
                    return Err(format!(
                        "{raw:?} uses `..`, which would leave the directory"
                    ))
                }
                s => segments.push(s.to_string()),
            }
        }
        if segments.is_empty() {
            return Err(format!("{raw:?} names no file"));
        }
        Ok(Pattern { segments })
    }

    /// Whether the relative `/`-separated `path` of a file matches.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        // pathlib: a trailing `**` selects directories only, never a file.
        if self.segments.last().is_some_and(|s| s == "**") {
            return false;
        }
        match_segments(&self.segments, &parts)
    }
}

fn match_segments(pattern: &[String], parts: &[&str]) -> bool {
    let Some((first, rest)) = pattern.split_first() else {
        return parts.is_empty();
    };
    if first == "**" {
        // Zero or more directories: try every split.
        return (0..=parts.len()).any(|skip| match_segments(rest, &parts[skip..]));
    }
    match parts.split_first() {
        Some((name, others)) => {
            fnmatch(first.as_bytes(), name.as_bytes()) && match_segments(rest, others)
        }
        None => false,
    }
}

/// `fnmatch` on one name (no `/`), over bytes; names are UTF-8 and the
/// wildcards ASCII, so `?` is counted per character by skipping continuation bytes.
fn fnmatch(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let (mut star_p, mut star_n) = (usize::MAX, 0usize);
    let char_len = |b: u8| match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    while n < name.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star_p = p;
                    star_n = n;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += char_len(name[n]).min(name.len() - n);
                    continue;
                }
                b'[' => {
                    if let Some((matched, next_p, len)) = class(pat, p, &name[n..]) {
                        if matched {
                            p = next_p;
                            n += len;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        // An unclosed `[` is a literal.
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        if star_p != usize::MAX {
            p = star_p + 1;
            star_n += char_len(name[star_n]).min(name.len() - star_n);
            n = star_n;
            continue;
        }
        return false;
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// A `[...]` class at `pat[p]` against the next character of `name`:
/// `(matched, index after the class, character length)`; `None` if unclosed.
fn class(pat: &[u8], p: usize, name: &[u8]) -> Option<(bool, usize, usize)> {
    let text = std::str::from_utf8(&pat[p + 1..]).ok()?;
    let ch = std::str::from_utf8(name).ok()?.chars().next()?;
    let mut chars = text.char_indices().peekable();
    let negate = matches!(chars.peek(), Some((_, '!')));
    if negate {
        chars.next();
    }
    let mut matched = false;
    let mut first = true;
    let mut prev: Option<char> = None;
    while let Some((i, c)) = chars.next() {
        if c == ']' && !first {
            return Some((matched != negate, p + 1 + i + 1, ch.len_utf8()));
        }
        first = false;
        if c == '-' {
            if let (Some(lo), Some(&(_, hi))) = (prev, chars.peek()) {
                if hi != ']' {
                    chars.next();
                    matched |= lo <= ch && ch <= hi;
                    prev = None;
                    continue;
                }
            }
        }
        matched |= c == ch;
        prev = Some(c);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        Pattern::new(p).expect("pattern").matches(path)
    }

    #[test]
    fn pathlib_semantics() {
        assert!(m("**/*.*", "a.txt"));
        assert!(m("**/*.*", "docs/deep/c.csv"));
        assert!(!m("**/*.*", "docs/README"));
        assert!(m("*.txt", "a.txt"));
        assert!(!m("*.txt", "docs/a.txt"));
        assert!(m("docs/**/*.md", "docs/b.md"));
        assert!(m("docs/**/*.md", "docs/x/y/b.md"));
        assert!(!m("docs/**/*.md", "other/b.md"));
        assert!(m("**/?.csv", "deep/c.csv"));
        assert!(m("**/[abc].*", "x/b.md"));
        assert!(!m("**/[!abc].*", "x/b.md"));
        assert!(m("**/[a-c].*", "x/b.md"));
        assert!(m("**/*", ".hidden"));
        assert!(m("**/é?.txt", "éa.txt"));
        assert!(!m("**", "a.txt"));
        assert!(Pattern::new("/etc/*").is_err());
        assert!(Pattern::new("../*").is_err());
        assert!(Pattern::new("").is_err());
    }
}
