//! On-disk cache of compiled components, so a restart does not recompile.
//!
//! Key: SHA-256 of the `.wasm` bytes plus a hash of wasmtime's version and the
//! engine settings that affect code generation (`precompile_compatibility_hash`).
//! Each entry carries a SHA-256 of its body: a truncated or corrupted entry is
//! detected before it reaches `Component::deserialize` and is recompiled.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

const MAGIC: &[u8; 8] = b"TRBCWSM1";
const HEADER: usize = MAGIC.len() + 32;

/// Feeds `Hash` output into SHA-256 so the key is stable across processes
/// (unlike `DefaultHasher`, whose algorithm is unspecified).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// A hash of everything about the engine that makes compiled code (in)compatible.
pub fn engine_fingerprint(engine: &Engine) -> [u8; 32] {
    let mut h = ShaHasher(Sha256::new());
    "wasmtime".hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    engine.precompile_compatibility_hash().hash(&mut h);
    h.0.finalize().into()
}

/// The cache key of `wasm` compiled by an engine with `fingerprint`.
pub fn cache_key(wasm: &[u8], fingerprint: &[u8; 32]) -> String {
    let content = Sha256::digest(wasm);
    let mut h = Sha256::new();
    h.update(content);
    h.update(fingerprint);
    hex::encode(h.finalize())
}

/// The compile cache: a folder of `<key>.cwasm` files.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// A cache rooted at `dir` (created on first store).
    pub fn new(dir: PathBuf) -> Self {
        CompileCache { dir }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// The cached component for `key`, or `None` when absent or unusable.
    pub fn load(&self, engine: &Engine, key: &str) -> Option<Component> {
        let path = self.path(key);
        let bytes = std::fs::read(&path).ok()?;
        let body = match verify(&bytes) {
            Some(body) => body,
            None => {
                tracing::warn!(file = %path.display(), "corrupt compile-cache entry; recompiling");
                let _ = std::fs::remove_file(&path);
                return None;
            }
        };
        // SAFETY: the body was written by `store` below from `Component::serialize`
        // of an engine with the same fingerprint (part of the key), and its digest
        // matches, so it is not truncated or corrupted. The cache folder belongs
        // to the operator, like the plugin folder.
        match unsafe { Component::deserialize(engine, body) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "unusable compile-cache entry; recompiling");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a compiled component; failures are logged, never fatal.
    pub fn store(&self, key: &str, component: &Component) {
        if let Err(e) = self.try_store(key, component) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot write the compile cache");
        }
    }

    fn try_store(&self, key: &str, component: &Component) -> Result<(), String> {
        let body = component.serialize().map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        // Write to a unique temporary file, then rename: readers never see a partial entry.
        let tmp = self.dir.join(format!("{key}.{}.tmp", std::process::id()));
        let mut f = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        let digest = Sha256::digest(&body);
        f.write_all(MAGIC)
            .and_then(|_| f.write_all(&digest))
            .and_then(|_| f.write_all(&body))
            .and_then(|_| f.sync_all())
            .map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, self.path(key)).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            e.to_string()
        })
    }
}

/// The body of a cache entry whose header and digest check out.
fn verify(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (digest, body) = bytes[MAGIC.len()..].split_at(32);
    (Sha256::digest(body).as_slice() == digest).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_content_and_engine() {
        let a = cache_key(b"one", &[0; 32]);
        assert_eq!(a, cache_key(b"one", &[0; 32]));
        assert_ne!(a, cache_key(b"two", &[0; 32]));
        assert_ne!(a, cache_key(b"one", &[1; 32]));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn fingerprint_follows_engine_settings() {
        let e1 = Engine::default();
        let mut cfg = wasmtime::Config::new();
        cfg.epoch_interruption(true);
        let e2 = Engine::new(&cfg).expect("engine");
        assert_eq!(engine_fingerprint(&e1), engine_fingerprint(&e1.clone()));
        assert_ne!(engine_fingerprint(&e1), engine_fingerprint(&e2));
    }

    #[test]
    fn verify_rejects_truncation_and_corruption() {
        let body = b"compiled code";
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(&Sha256::digest(body));
        entry.extend_from_slice(body);
        assert_eq!(verify(&entry), Some(&body[..]));
        assert_eq!(verify(&entry[..entry.len() - 1]), None);
        let mut flipped = entry.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(verify(&flipped), None);
        assert_eq!(verify(b"garbage"), None);
    }

    #[test]
    fn corrupt_entry_is_a_miss_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::new(dir.path().to_path_buf());
        let engine = Engine::default();
        std::fs::write(cache.path("k"), b"TRBCWSM1 not really").expect("write");
        assert!(cache.load(&engine, "k").is_none());
        assert!(!cache.path("k").exists(), "the corrupt entry is removed");
        assert!(cache.load(&engine, "absent").is_none());
    }
}
