//! In-memory [`KeyValue`] for native tests of repositories and handlers.

use crate::{KeyValue, StoreResult};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A key-value map behind a mutex; `increment` is atomic like Spin's.
/// Counters are stored as 8 little-endian bytes, as Spin's SQLite store does.
#[derive(Default)]
pub struct MemoryKv {
    entries: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated (every operation is
        // a single map call), so a poisoned lock is still safe to use.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl KeyValue for MemoryKv {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.entries().get(key).cloned())
    }

    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.entries().insert(key.to_string(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.entries().remove(key);
        Ok(())
    }

    async fn exists(&self, key: &str) -> StoreResult<bool> {
        Ok(self.entries().contains_key(key))
    }

    async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        let mut entries = self.entries();
        let current = entries
            .get(key)
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map(i64::from_le_bytes)
            .unwrap_or(0);
        let next = current.saturating_add(delta);
        entries.insert(key.to_string(), next.to_le_bytes().to_vec());
        Ok(next)
    }

    async fn get_many(&self, keys: &[String]) -> StoreResult<Option<Vec<(String, Option<Vec<u8>>)>>> {
        let entries = self.entries();
        Ok(Some(keys.iter().map(|key| (key.clone(), entries.get(key).cloned())).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn increment_starts_from_zero_and_reads_with_zero_delta() {
        let kv = MemoryKv::new();
        block_on(async {
            assert_eq!(kv.increment("c", 0).await.unwrap(), 0);
            assert_eq!(kv.increment("c", 5).await.unwrap(), 5);
            assert_eq!(kv.increment("c", -2).await.unwrap(), 3);
            assert_eq!(kv.increment("c", 0).await.unwrap(), 3);
        });
    }

    #[test]
    fn json_round_trips_and_reports_corruption() {
        let kv = MemoryKv::new();
        block_on(async {
            kv.set_json("k", &vec![1, 2, 3]).await.unwrap();
            assert_eq!(kv.get_json::<Vec<i32>>("k").await.unwrap(), Some(vec![1, 2, 3]));
            kv.set("bad", b"{not json").await.unwrap();
            assert!(matches!(
                kv.get_json::<Vec<i32>>("bad").await,
                Err(crate::StoreError::Corrupt { .. })
            ));
            assert_eq!(kv.get_json::<Vec<i32>>("missing").await.unwrap(), None);
        });
    }
}
