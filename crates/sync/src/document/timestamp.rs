//! The `_timestamp` a source may give a document: ISO-8601 as Elasticsearch's
//! `strict_date_optional_time` reads it (what dynamic mapping detects as a date).

/// Longest timestamp text accepted.
const MAX_LEN: usize = 64;

/// Whether `s` is a `strict_date_optional_time` value: `yyyy-MM-dd`, optionally
/// followed by `T` (or a space, as PostgreSQL and Python print it) and
/// `HH:mm[:ss[.fraction]]`, optionally followed by `Z` or `±HH:mm` / `±HHmm` / `±HH`.
/// The calendar is checked (no February 30th).
pub fn is_iso8601(s: &str) -> bool {
    if s.len() > MAX_LEN {
        return false;
    }
    let b = s.as_bytes();
    let mut p = Parser { b, i: 0 };
    let Some(year) = p.num(4) else { return false };
    let (Some(()), Some(month), Some(()), Some(day)) =
        (p.lit(b'-'), p.num(2), p.lit(b'-'), p.num(2))
    else {
        return false;
    };
    if !(1..=12).contains(&month) || day == 0 || day > days_in(year, month) {
        return false;
    }
    if p.done() {
        return true;
    }
    if !matches!(p.peek(), Some(b'T' | b' ')) {
        return false;
    }
    p.i += 1;
    let (Some(h), Some(()), Some(m)) = (p.num(2), p.lit(b':'), p.num(2)) else {
        return false;
    };
    if h > 23 || m > 59 {
        return false;
    }
    if p.peek() == Some(b':') {
        p.i += 1;
        let Some(sec) = p.num(2) else { return false };
        if sec > 59 {
            return false;
        }
        if matches!(p.peek(), Some(b'.' | b',')) {
            p.i += 1;
            let digits = p.digits();
            if digits == 0 || digits > 9 {
                return false;
            }
        }
    }
    match p.peek() {
        None => true,
        Some(b'Z') => {
            p.i += 1;
            p.done()
        }
        Some(b'+' | b'-') => {
            p.i += 1;
            let Some(oh) = p.num(2) else { return false };
            if p.peek() == Some(b':') {
                p.i += 1;
            }
            let om = if p.done() { Some(0) } else { p.num(2) };
            matches!(om, Some(om) if oh <= 18 && om <= 59) && p.done()
        }
        _ => false,
    }
}

fn days_in(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn lit(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.i += 1)
    }
    fn num(&mut self, width: usize) -> Option<u32> {
        let digits = self.b.get(self.i..self.i + width)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += width;
        Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    }
    fn digits(&mut self) -> usize {
        let from = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - from
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_sources_print() {
        for ok in [
            "2024-02-29",
            "2024-01-31T10:00",
            "2024-01-31T10:00:59Z",
            "2024-01-31T10:00:59.123456+00:00",
            "2024-01-31 10:00:59.123456+02",
            "2024-01-31T10:00:59,5-0530",
            "2026-12-06T02:18:50.123456789Z",
        ] {
            assert!(is_iso8601(ok), "{ok}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_date() {
        for bad in [
            "",
            "yesterday",
            "2023-02-29",
            "2024-13-01",
            "2024-01-32",
            "2024-01-31T24:00",
            "2024-01-31T10:00:59Zjunk",
            "2024-01-31T10:00:59.",
            "2024-01-31\n10:00",
            "2024-01-31T10:00:59+25:00",
            "24-01-31",
            "2024-01-31T10:00:59.1234567890Z",
        ] {
            assert!(!is_iso8601(bad), "{bad:?}");
        }
    }
}
