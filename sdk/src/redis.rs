//! The Redis capability (cargo feature `redis`).
//!
//! The host opens the connection from the connector's configuration (`host`,
//! `port`, `username`, `password`, `ssl_enabled`, mutual TLS; the plugin never
//! sees the password or the client key) after checking the operator's allowlist.
//! A plugin names a database number and calls read-only commands the host writes:
//! `SCAN` iteration ([`Connection::keys`]; never `KEYS`), `TYPE`, `MEMORY USAGE`
//! and one whole-value read per type. A value larger than the operator's reply
//! cap is refused before it is read.
//!
//! ```no_run
//! use tributary_sdk::redis;
//! # fn run() -> Result<(), tributary_sdk::redis::RedisError> {
//! let con = redis::connect(11)?;
//! let mut keys = con.keys(Some("user:*"), None);
//! while let Some(page) = keys.next_page()? {
//!     for key in page {
//!         match con.key_type(&key)?.as_str() {
//!             "hash" => { let fields = con.hash(&key)?; # let _ = fields; }
//!             "string" => { let v = con.get(&key)?; # let _ = v; }
//!             _ => {}
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```

use crate::__bindings::tributary::connector::redis as wit_rd;

pub use wit_rd::StreamEntry;

/// A hash's field/value pairs, in the server's order.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// A Redis error: the server's code (when it sent one) and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", code.as_ref().map(|c| format!("[{c}] ")).unwrap_or_default())]
pub struct RedisError {
    /// `WRONGTYPE`, `NOAUTH`, …
    pub code: Option<String>,
    /// The message.
    pub message: String,
}

impl From<wit_rd::RedisError> for RedisError {
    fn from(e: wit_rd::RedisError) -> Self {
        RedisError {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<RedisError> for crate::Error {
    fn from(e: RedisError) -> Self {
        crate::Error::source(e.to_string())
    }
}

/// A connection the host opened on one database.
pub struct Connection(wit_rd::Connection);

/// Opens a connection on database `db`.
pub fn connect(db: u32) -> Result<Connection, RedisError> {
    Ok(Connection(wit_rd::connect(db)?))
}

/// `SCAN` pages (the server's cursor).
pub struct Keys<'a> {
    con: &'a Connection,
    pattern: Option<String>,
    key_type: Option<String>,
    cursor: u64,
    done: bool,
}

impl Keys<'_> {
    /// The next page of keys (possibly empty); `None` when the scan is complete.
    pub fn next_page(&mut self) -> Result<Option<Vec<Vec<u8>>>, RedisError> {
        if self.done {
            return Ok(None);
        }
        let (next, keys) = self.con.0.scan(
            self.cursor,
            self.pattern.as_deref(),
            1000,
            self.key_type.as_deref(),
        )?;
        self.cursor = next;
        self.done = next == 0;
        Ok(Some(keys))
    }
}

impl Connection {
    /// `PING`.
    pub fn ping(&self) -> Result<(), RedisError> {
        Ok(self.0.ping()?)
    }

    /// How many databases the server has.
    pub fn databases(&self) -> Result<u32, RedisError> {
        Ok(self.0.databases()?)
    }

    /// Every key matching `pattern` (all when `None`) of `key_type` (any when
    /// `None`), page by page. SCAN may return a key twice; dedupe if it matters.
    pub fn keys(&self, pattern: Option<&str>, key_type: Option<&str>) -> Keys<'_> {
        Keys {
            con: self,
            pattern: pattern.map(str::to_string),
            key_type: key_type.map(str::to_string),
            cursor: 0,
            done: false,
        }
    }

    /// One `SCAN` step from `cursor` (0 to start): the next cursor (0 when the
    /// scan is complete) and a page of keys.
    pub fn scan_from(
        &self,
        cursor: u64,
        pattern: Option<&str>,
        key_type: Option<&str>,
    ) -> Result<(u64, Vec<Vec<u8>>), RedisError> {
        Ok(self.0.scan(cursor, pattern, 1000, key_type)?)
    }

    /// `TYPE`.
    pub fn key_type(&self, key: &[u8]) -> Result<String, RedisError> {
        Ok(self.0.key_type(key)?)
    }

    /// `MEMORY USAGE`.
    pub fn memory_usage(&self, key: &[u8]) -> Result<Option<u64>, RedisError> {
        Ok(self.0.memory_usage(key)?)
    }

    /// `GET`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, RedisError> {
        Ok(self.0.get(key)?)
    }

    /// The whole list.
    pub fn list(&self, key: &[u8]) -> Result<Vec<Vec<u8>>, RedisError> {
        Ok(self.0.list(key)?)
    }

    /// The set's members.
    pub fn set(&self, key: &[u8]) -> Result<Vec<Vec<u8>>, RedisError> {
        Ok(self.0.set(key)?)
    }

    /// The sorted set's members with scores, lowest first.
    pub fn sorted_set(&self, key: &[u8]) -> Result<Vec<(Vec<u8>, f64)>, RedisError> {
        Ok(self.0.sorted_set(key)?)
    }

    /// The hash's fields and values.
    pub fn hash(&self, key: &[u8]) -> Result<Fields, RedisError> {
        Ok(self.0.hash(key)?)
    }

    /// The stream's entries.
    pub fn stream(&self, key: &[u8]) -> Result<Vec<StreamEntry>, RedisError> {
        Ok(self.0.stream(key)?)
    }
}
