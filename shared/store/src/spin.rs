//! [`KeyValue`] on Spin: `spin:key-value` for plain values and `wasi:keyvalue/atomics` for
//! counters. Both open the same "default" store (every component lists it in `spin.toml`).

use crate::{KeyValue, StoreError, StoreResult};
use spin_sdk::experimental::wasi::keyvalue::{atomics, batch, store as wasi_store};
use spin_sdk::key_value::Store;
use std::sync::atomic::{AtomicBool, Ordering};

const STORE_LABEL: &str = "default";

/// The default store of one request. Each of its two handles (`spin:key-value` for values,
/// the `wasi:keyvalue` bucket for counters and batches) is opened on its first use: a request
/// that reads only counters or reads ahead never opens the other, a host call saved (issue 19).
#[derive(Default)]
pub struct SpinKv {
    store: std::cell::OnceCell<Store>,
    bucket: std::cell::OnceCell<wasi_store::Bucket>,
}

impl SpinKv {
    /// The store, opened lazily: nothing is asked of Spin yet.
    pub fn new() -> Self {
        Self::default()
    }

    async fn store(&self) -> StoreResult<&Store> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = Store::open(STORE_LABEL).await.map_err(unavailable)?;
        Ok(self.store.get_or_init(|| store))
    }

    fn bucket(&self) -> StoreResult<&wasi_store::Bucket> {
        if let Some(bucket) = self.bucket.get() {
            return Ok(bucket);
        }
        let bucket = wasi_store::open(STORE_LABEL).map_err(unavailable)?;
        Ok(self.bucket.get_or_init(|| bucket))
    }
}

/// Set when this instance's store refused `get_many` (Spin's Redis store sends `KEYS`): it is
/// not asked again while the instance lives, and reads go one at a time.
static GET_MANY_REFUSED: AtomicBool = AtomicBool::new(false);

fn unavailable(error: impl std::fmt::Debug) -> StoreError {
    StoreError::Unavailable(format!("{error:?}"))
}

impl KeyValue for SpinKv {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.store().await?.get(key).await.map_err(unavailable)
    }

    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.store().await?.set(key, value).await.map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.store().await?.delete(key).await.map_err(unavailable)
    }

    async fn exists(&self, key: &str) -> StoreResult<bool> {
        self.store().await?.exists(key).await.map_err(unavailable)
    }

    async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        atomics::increment(self.bucket()?, key, delta).map_err(unavailable)
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> StoreResult<()> {
        // Redis refuses an MSET without pairs
        if entries.is_empty() {
            return Ok(());
        }
        batch::set_many(self.bucket()?, entries).map_err(unavailable)
    }

    async fn get_many(&self, keys: &[String]) -> StoreResult<Option<Vec<(String, Option<Vec<u8>>)>>> {
        if GET_MANY_REFUSED.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match batch::get_many(self.bucket()?, keys) {
            Ok(found) => Ok(Some(found)),
            Err(error) => {
                // a misconfiguration (kv_read_ahead = "sqlite" on Redis), not a failed request:
                // the reads go one by one, and a store that is really down fails them
                eprintln!("configuration error: the key-value store refused get_many ({error:?}); reading one key at a time. On Redis set kv_read_ahead = \"off\"");
                GET_MANY_REFUSED.store(true, Ordering::Relaxed);
                Ok(None)
            }
        }
    }
}
