//! [`KeyValue`] on Spin: `spin:key-value` for plain values and `wasi:keyvalue/atomics` for
//! counters. Both open the same "default" store (every component lists it in `spin.toml`).

use crate::{KeyValue, StoreError, StoreResult};
use spin_sdk::experimental::wasi::keyvalue::{atomics, batch, store as wasi_store};
use spin_sdk::key_value::Store;

const STORE_LABEL: &str = "default";

/// The default store, opened once per request. The atomics bucket is opened only when a
/// counter is first touched, since most requests never use one.
pub struct SpinKv {
    store: Store,
    bucket: std::cell::OnceCell<wasi_store::Bucket>,
}

impl SpinKv {
    pub async fn open() -> StoreResult<Self> {
        let store = Store::open(STORE_LABEL).await.map_err(unavailable)?;
        Ok(Self { store, bucket: std::cell::OnceCell::new() })
    }

    fn bucket(&self) -> StoreResult<&wasi_store::Bucket> {
        if let Some(bucket) = self.bucket.get() {
            return Ok(bucket);
        }
        let bucket = wasi_store::open(STORE_LABEL).map_err(unavailable)?;
        Ok(self.bucket.get_or_init(|| bucket))
    }
}

fn unavailable(error: impl std::fmt::Debug) -> StoreError {
    StoreError::Unavailable(format!("{error:?}"))
}

impl KeyValue for SpinKv {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.store.get(key).await.map_err(unavailable)
    }

    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.store.set(key, value).await.map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.store.delete(key).await.map_err(unavailable)
    }

    async fn exists(&self, key: &str) -> StoreResult<bool> {
        self.store.exists(key).await.map_err(unavailable)
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
}
