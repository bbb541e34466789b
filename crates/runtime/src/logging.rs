//! Where a plugin's words go: the `logging` import and the guest's stdout/stderr,
//! all as `tracing` events carrying the plugin's name.
//!
//! Nothing a plugin writes can forge or flood the host's log: every message, field
//! key and value is escaped (no line breaks, control characters or bidirectional
//! overrides), secrets are masked, long texts are cut, and each instance has a
//! budget of lines and bytes with a rate limit. What the budget drops is counted
//! and reported in one summary line when the instance ends.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::secrets::Secrets;
use tributary_sync::document::field_name::is_unprintable;

/// Longest message or line a plugin can log in one event; the rest is cut.
const MAX_LINE: usize = 16 * 1024;
/// Longest field key, and most fields kept per event.
const MAX_KEY: usize = 64;
const MAX_FIELDS: usize = 32;
/// How many recent stderr lines are kept to explain a crash (panic messages).
const TAIL_LINES: usize = 32;

/// Per-instance budget: lines and bytes in total, and a rate (a token bucket).
const MAX_LINES: u64 = 20_000;
const MAX_BYTES: u64 = 16 * 1024 * 1024;
const BURST_LINES: f64 = 1_000.0;
const LINES_PER_SEC: f64 = 100.0;

/// Cuts `s` to at most `max` bytes on a char boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` with every unprintable character escaped (`\n`, `\u{1b}`, …), so one
/// event stays one line and prints as what it is.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unprintable) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unprintable(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A field key as the log shows it: letters, digits, `_`, `-`, `.`; others become `_`.
fn key(k: &str) -> String {
    let k: String = cut(k, MAX_KEY)
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if k.is_empty() {
        "_".into()
    } else {
        k
    }
}

/// The guest's log level; mirrors the WIT `level`.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug)]
struct Budget {
    lines: u64,
    bytes: u64,
    tokens: f64,
    refilled: Instant,
    dropped_lines: u64,
    dropped_bytes: u64,
    warned: bool,
}

/// One instance's log: the plugin's name, its budget and the secrets to mask.
#[derive(Debug, Clone)]
pub struct PluginLog(Arc<LogInner>);

#[derive(Debug)]
struct LogInner {
    plugin: Arc<str>,
    secrets: Secrets,
    budget: Mutex<Budget>,
}

impl PluginLog {
    pub fn new(plugin: Arc<str>, secrets: Secrets) -> Self {
        PluginLog(Arc::new(LogInner {
            plugin,
            secrets,
            budget: Mutex::new(Budget {
                lines: 0,
                bytes: 0,
                tokens: BURST_LINES,
                refilled: Instant::now(),
                dropped_lines: 0,
                dropped_bytes: 0,
                warned: false,
            }),
        }))
    }

    /// Whether one more line of `bytes` fits the budget; counts it either way.
    fn admit(&self, bytes: usize) -> bool {
        let Ok(mut b) = self.0.budget.lock() else {
            return false;
        };
        let now = Instant::now();
        let elapsed = now.duration_since(b.refilled).as_secs_f64();
        b.tokens = (b.tokens + elapsed * LINES_PER_SEC).min(BURST_LINES);
        b.refilled = now;
        let bytes = bytes as u64;
        if b.tokens >= 1.0 && b.lines < MAX_LINES && b.bytes + bytes <= MAX_BYTES {
            b.tokens -= 1.0;
            b.lines += 1;
            b.bytes += bytes;
            return true;
        }
        b.dropped_lines += 1;
        b.dropped_bytes += bytes;
        if !b.warned {
            b.warned = true;
            drop(b);
            tracing::warn!(
                target: "tributary::plugin",
                plugin = %self.0.plugin,
                max_lines = MAX_LINES,
                max_bytes = MAX_BYTES,
                lines_per_sec = LINES_PER_SEC,
                "plugin log budget reached; dropping its log lines for now"
            );
        }
        false
    }

    fn clean(&self, s: &str) -> String {
        let s = self.0.secrets.mask(cut(s, MAX_LINE));
        printable(&s).into_owned()
    }

    /// Emits one event from the plugin's `logging.log` call.
    pub fn event(&self, level: Level, message: &str, fields: &[(String, String)]) {
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if !self.admit(size) {
            return;
        }
        let message = self.clean(message);
        let mut rendered = String::new();
        for (i, (k, v)) in fields.iter().take(MAX_FIELDS).enumerate() {
            if i > 0 {
                rendered.push(' ');
            }
            let _ = write!(rendered, "{}={:?}", key(k), self.clean(v));
        }
        let plugin = &*self.0.plugin;
        // `tracing` needs static levels and field names, hence one arm per level and
        // the plugin's own fields rendered into one `fields` field.
        match level {
            Level::Trace => {
                tracing::trace!(target: "tributary::plugin", plugin, fields = %rendered, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "tributary::plugin", plugin, fields = %rendered, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "tributary::plugin", plugin, fields = %rendered, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "tributary::plugin", plugin, fields = %rendered, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "tributary::plugin", plugin, fields = %rendered, "{message}")
            }
        }
    }

    fn line(&self, stream: Stream, text: &str) {
        if !self.admit(text.len()) {
            return;
        }
        let text = self.clean(text);
        let plugin = &*self.0.plugin;
        match stream {
            Stream::Stdout => {
                tracing::info!(target: "tributary::plugin", plugin, stream = "stdout", "{text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "tributary::plugin", plugin, stream = "stderr", "{text}")
            }
        }
    }

    /// Lines and bytes the budget dropped so far.
    #[cfg(test)]
    pub fn dropped(&self) -> (u64, u64) {
        self.0
            .budget
            .lock()
            .map(|b| (b.dropped_lines, b.dropped_bytes))
            .unwrap_or_default()
    }
}

impl Drop for LogInner {
    fn drop(&mut self) {
        if let Ok(b) = self.budget.lock() {
            if b.dropped_lines > 0 {
                tracing::warn!(
                    target: "tributary::plugin",
                    plugin = %self.plugin,
                    dropped_lines = b.dropped_lines,
                    dropped_bytes = b.dropped_bytes,
                    kept_lines = b.lines,
                    "plugin log lines were dropped (budget: {MAX_LINES} lines, {MAX_BYTES} bytes, {LINES_PER_SEC} lines/s)"
                );
            }
        }
    }
}

/// The last lines a guest wrote to stderr.
#[derive(Debug, Default, Clone)]
pub struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: &str) {
        if let Ok(mut t) = self.0.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(cut(line, 1024).to_string());
        }
    }

    /// The panic message, if the guest's stderr shows a Rust panic:
    /// `thread '..' panicked at FILE:LINE:COL:` followed by the message lines.
    pub fn panic_message(&self) -> Option<String> {
        let t = self.0.lock().ok()?;
        let start = t.iter().rposition(|l| l.contains("panicked at"))?;
        let location = t[start]
            .split_once("panicked at ")
            .map(|(_, loc)| loc.trim_end_matches(':').to_string())
            .unwrap_or_default();
        let message: Vec<&str> = t
            .iter()
            .skip(start + 1)
            .take_while(|l| !l.starts_with("note:") && !l.starts_with("stack backtrace"))
            .map(String::as_str)
            .collect();
        let message = message.join("\n");
        Some(if message.is_empty() {
            format!("panicked at {location}")
        } else {
            format!("{message} (at {location})")
        })
    }
}

/// Which guest stream a sink serves.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

struct LineState {
    log: PluginLog,
    stream: Stream,
    buf: Vec<u8>,
    /// Inside a line already emitted cut: drop bytes until its newline.
    skipping: bool,
    tail: Option<StderrTail>,
}

impl LineState {
    fn emit(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        let text = cut(text, MAX_LINE);
        self.log.line(self.stream, text);
        if let Some(tail) = &self.tail {
            tail.push(text);
        }
    }

    /// Splits into lines; a line longer than the cap is emitted cut, and the rest
    /// of it (up to its newline) is dropped.
    fn write(&mut self, data: &[u8]) {
        let mut rest = data;
        while !rest.is_empty() {
            let (chunk, newline) = match rest.iter().position(|&b| b == b'\n') {
                Some(nl) => (&rest[..nl], true),
                None => (rest, false),
            };
            rest = &rest[(chunk.len() + usize::from(newline)).min(rest.len())..];
            if !self.skipping {
                let room = MAX_LINE.saturating_sub(self.buf.len());
                self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if newline || self.buf.len() >= MAX_LINE {
                    let line = std::mem::take(&mut self.buf);
                    self.emit(&line);
                    self.skipping = !newline;
                }
            } else if newline {
                self.skipping = false;
            }
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.emit(&line);
        }
    }
}

/// A guest stdout/stderr that turns each line into a `tracing` event.
#[derive(Clone)]
pub struct TracingSink(Arc<Mutex<LineState>>);

impl TracingSink {
    /// A sink for `stream` of an instance; stderr lines are also kept in `tail`.
    pub fn new(log: PluginLog, stream: Stream, tail: Option<StderrTail>) -> Self {
        TracingSink(Arc::new(Mutex::new(LineState {
            log,
            stream,
            buf: Vec::new(),
            skipping: false,
            tail,
        })))
    }

    /// Emits a pending partial line (at the end of a call).
    pub fn flush(&self) {
        if let Ok(mut s) = self.0.lock() {
            s.flush();
        }
    }
}

impl IsTerminal for TracingSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TracingSink {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for TracingSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Ok(mut s) = self.0.lock() {
            s.write(data);
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flush();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_rust_panic_messages() {
        let tail = StderrTail::default();
        let log = PluginLog::new("p".into(), Secrets::default());
        let sink = TracingSink::new(log, Stream::Stderr, Some(tail.clone()));
        if let Ok(mut s) = sink.0.lock() {
            s.write(b"some noise\nthread '<unnamed>' panicked at src/lib.rs:49:13:\nboom on purpose\nnote: run with `RUST_BACKTRACE=1`\n");
        }
        assert_eq!(
            tail.panic_message().as_deref(),
            Some("boom on purpose (at src/lib.rs:49:13)")
        );
        assert_eq!(StderrTail::default().panic_message(), None);
    }

    #[test]
    fn cuts_on_char_boundaries() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("abc", 10), "abc");
    }

    #[test]
    fn escapes_what_could_forge_a_line() {
        assert_eq!(
            printable("ok\n2026-01-01 INFO forged\r\u{1b}[31m\u{202e}"),
            "ok\\n2026-01-01 INFO forged\\r\\u{1b}[31m\\u{202e}"
        );
        assert!(matches!(printable("plain text"), Cow::Borrowed(_)));
        assert_eq!(key("a b\nc=d"), "a_b_c_d");
        assert_eq!(key(""), "_");
    }

    #[test]
    fn the_budget_drops_a_flood_and_counts_it() {
        let log = PluginLog::new("p".into(), Secrets::default());
        let mut kept = 0;
        for _ in 0..5_000 {
            if log.admit(10) {
                kept += 1;
            }
        }
        // The burst passes, the rest of a tight loop does not.
        assert!((1_000..1_100).contains(&kept), "{kept}");
        assert_eq!(log.dropped().0, 5_000 - kept);
        let sink = TracingSink::new(log.clone(), Stream::Stdout, None);
        let flood = vec![b'x'; 4 * MAX_LINE];
        let mut s = sink.0.lock().expect("lock");
        s.write(&flood);
        assert!(
            s.buf.is_empty() && s.skipping,
            "a line without newline is cut"
        );
        s.write(b"rest of the long line\nnext\n");
        assert!(!s.skipping && s.buf.is_empty());
    }
}
