//! A store for tests that records every operation reaching it, so that a test can count and
//! compare what a request asked of the store (reading ahead, versions).

use crate::{KeyValue, MemoryKv, StoreResult};
use std::cell::RefCell;

/// A store shared by "requests", recording each operation that reached it (`"get key"`,
/// `"get_many a,b"`…).
pub(crate) struct Recorded {
    pub(crate) kv: MemoryKv,
    ops: RefCell<Vec<String>>,
    /// Whether it answers `get_many`; without, it answers as a store that cannot (Spin's Redis).
    get_many: bool,
}

impl Default for Recorded {
    fn default() -> Self {
        Self { kv: MemoryKv::new(), ops: RefCell::default(), get_many: true }
    }
}

impl Recorded {
    /// A store whose `get_many` is unusable, as Spin's Redis store's is.
    pub(crate) fn without_get_many() -> Self {
        Self { get_many: false, ..Self::default() }
    }

    fn record(&self, op: &str, key: &str) {
        self.ops.borrow_mut().push(format!("{op} {key}"));
    }

    /// The operations recorded since the last call.
    pub(crate) fn taken(&self) -> Vec<String> {
        self.ops.take()
    }
}

impl KeyValue for &Recorded {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.record("get", key);
        self.kv.get(key).await
    }
    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.record("set", key);
        self.kv.set(key, value).await
    }
    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.record("delete", key);
        self.kv.delete(key).await
    }
    async fn exists(&self, key: &str) -> StoreResult<bool> {
        self.record("exists", key);
        self.kv.exists(key).await
    }
    async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        self.record("increment", key);
        self.kv.increment(key, delta).await
    }
    async fn get_many(&self, keys: &[String]) -> StoreResult<Option<Vec<(String, Option<Vec<u8>>)>>> {
        self.record("get_many", &keys.join(","));
        if !self.get_many {
            return Ok(None);
        }
        self.kv.get_many(keys).await
    }
}
