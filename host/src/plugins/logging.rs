//! Where a plugin's words go: the `logging` import and the guest's stdout/stderr,
//! all as `tracing` events carrying the plugin's name.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest message or line a plugin can log in one event; the rest is cut so a
/// plugin cannot flood the host's log with one giant line.
const MAX_LINE: usize = 16 * 1024;
/// How many recent stderr lines are kept to explain a crash (panic messages).
const TAIL_LINES: usize = 32;

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

/// The guest's log level; mirrors the WIT `level`.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Renders the plugin's fields as `key="value"` pairs.
struct Fields<'a>(&'a [(String, String)]);

impl std::fmt::Display for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.0.iter().take(64).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}={:?}", cut(k, 128), cut(v, MAX_LINE))?;
        }
        Ok(())
    }
}

/// Emits one event from the plugin's `logging.log` call.
pub fn plugin_log(plugin: &str, level: Level, message: &str, fields: &[(String, String)]) {
    let message = cut(message, MAX_LINE);
    let fields = Fields(fields);
    // `tracing` needs static levels and field names, hence one arm per level and
    // the plugin's own fields rendered into one `fields` field.
    match level {
        Level::Trace => tracing::trace!(target: "tributary::plugin", plugin, %fields, "{message}"),
        Level::Debug => tracing::debug!(target: "tributary::plugin", plugin, %fields, "{message}"),
        Level::Info => tracing::info!(target: "tributary::plugin", plugin, %fields, "{message}"),
        Level::Warn => tracing::warn!(target: "tributary::plugin", plugin, %fields, "{message}"),
        Level::Error => tracing::error!(target: "tributary::plugin", plugin, %fields, "{message}"),
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
    plugin: Arc<str>,
    stream: Stream,
    buf: Vec<u8>,
    tail: Option<StderrTail>,
}

impl LineState {
    fn emit(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        let text = cut(text, MAX_LINE);
        let plugin = &*self.plugin;
        match self.stream {
            Stream::Stdout => {
                tracing::info!(target: "tributary::plugin", plugin, stream = "stdout", "{text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "tributary::plugin", plugin, stream = "stderr", "{text}")
            }
        }
        if let Some(tail) = &self.tail {
            tail.push(text);
        }
    }

    fn write(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if self.buf.len() > MAX_LINE {
            let line = std::mem::take(&mut self.buf);
            self.emit(&line);
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
    /// A sink for `stream` of `plugin`; stderr lines are also kept in `tail`.
    pub fn new(plugin: Arc<str>, stream: Stream, tail: Option<StderrTail>) -> Self {
        TracingSink(Arc::new(Mutex::new(LineState {
            plugin,
            stream,
            buf: Vec::new(),
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
        let sink = TracingSink::new("p".into(), Stream::Stderr, Some(tail.clone()));
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
}
