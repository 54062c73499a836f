//! Persistence over Spin's key-value store.
//!
//! - [`KeyValue`]: the few operations the app needs, async, with a Spin implementation
//!   ([`SpinKv`]) and an in-memory one ([`MemoryKv`]) for native tests.
//! - [`keys`]: every key the app writes, in one place (mirrored in `ARCHITECTURE.md`).
//! - Repositories (one module per kind of record) build on these.
//!
//! Racing writes go through `increment` only: Spin's `increment` is atomic on SQLite and Redis,
//! while its compare-and-swap falsely reports failure on Redis (see `spin-notes.md`).

pub mod alerts;
pub mod catalogue;
pub mod dated;
pub mod draws;
pub mod filing;
pub mod keys;
pub mod ledger;
pub mod log;
mod memory;
pub mod prescription;
mod read_ahead;
#[cfg(test)]
mod recorded;
pub mod registry;
pub mod revocations;
pub mod settlement;
pub mod stocking;
mod spin;
pub mod versions;
pub mod year;

pub use catalogue::Catalogue;
pub use log::{Log, LogCache, LogReader};
pub use memory::MemoryKv;
pub use read_ahead::ReadAhead;
pub use registry::Registry;
pub use revocations::Revocations;
pub use spin::SpinKv;

use serde::{Serialize, de::DeserializeOwned};

/// A store operation that failed. The API layer turns it into a 503 problem, never a 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key-value store unavailable: {0}")]
    Unavailable(String),
    #[error("stored record at {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An id derived from what names a record (a person, drug and generation; an institution and
/// its prescription number): `prefix` and 16 hex digits of a SHA-256 over the parts, so a
/// retried write lands on the record its first attempt wrote.
pub fn derived_id(prefix: &str, parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0x1f]);
    }
    let hex: String = hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// The key-value operations the app relies on. Counters are only ever read with
/// `increment(key, 0)`: backends store them in different byte formats.
#[allow(async_fn_in_trait)] // only used with concrete types inside one component; no Send bound needed
pub trait KeyValue {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()>;
    async fn delete(&self, key: &str) -> StoreResult<()>;
    async fn exists(&self, key: &str) -> StoreResult<bool>;
    /// Atomically adds `delta` to the counter at `key` (missing = 0) and returns the new value.
    async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64>;

    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> StoreResult<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| StoreError::Corrupt {
                key: key.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    async fn set_json<T: Serialize>(&self, key: &str, value: &T) -> StoreResult<()> {
        self.set(key, &to_json(key, value)?).await
    }

    /// Writes every pair, for writes that need no order among themselves (issue 19: fewer
    /// round trips and commits). On Spin it is one operation (`wasi:keyvalue/batch` set-many:
    /// one transaction on Spin's SQLite store, `MSET` on its Redis store); elsewhere one `set`
    /// each.
    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> StoreResult<()> {
        for (key, value) in entries {
            self.set(key, value).await?;
        }
        Ok(())
    }

    /// Reads `keys` ahead in one operation, to serve the reads that follow, and says whether it
    /// did: only [`ReadAhead`] does (see there what it serves and why that is safe); every
    /// other store reads nothing here, and the reads go to it one by one.
    async fn read_ahead(&self, _keys: &[String]) -> StoreResult<bool> {
        Ok(false)
    }

    /// Reads `keys` in one operation, each with its value or `None`; `None` for the whole when
    /// this store cannot (the default; on Spin, a store whose `get_many` fails, as Redis's
    /// does, `spin-notes.md`). Only [`ReadAhead`] calls it: see there why that is safe.
    async fn get_many(&self, _keys: &[String]) -> StoreResult<Option<Vec<(String, Option<Vec<u8>>)>>> {
        Ok(None)
    }
}

/// `value` as the JSON stored at `key`.
pub fn to_json<T: Serialize>(key: &str, value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt { key: key.to_string(), reason: e.to_string() })
}
