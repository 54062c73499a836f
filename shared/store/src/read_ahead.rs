//! Reading ahead (issue 19): the keys a request is about to read, fetched in one `get_many`
//! and served from that snapshot, so a request whose next reads are known (a pre-settlement's
//! person, institution, pharmacy, policy, catalogue and year) pays one round trip for them
//! instead of one each.
//!
//! Why it cannot change what a request decides: the snapshot is one statement, so its values
//! are what the store held at one instant. It serves reads only until the request reads a key
//! outside it or writes anything (then it is forgotten and every later operation goes to the
//! store). So the values served are a run of consecutive reads, in the request's own order,
//! with no write of its own among them, all taken at that instant: the same as an execution in
//! which no other request acted while this one made those reads. The claim protocols
//! (`versions.rs`, `log.rs`), which read a head and then the record it names, see the order
//! they rely on; a later read is never served older than an earlier one.
//!
//! Spin's SQLite store answers `get_many` in one statement; its Redis store cannot (it sends
//! `KEYS`, `spin-notes.md`), so reading ahead is the `kv_read_ahead` variable's choice, and a
//! store that refuses `get_many` just reads one key at a time. Counters are served from the
//! snapshot in SQLite's format (8 little-endian bytes), the only store read ahead; for the same
//! reason a counter read outside a snapshot is a `get` there (`increment(key, 0)` is a write
//! transaction on Spin's SQLite store: about 8 µs more per read on the test host).

use crate::{KeyValue, StoreResult};
use std::collections::HashMap;
use std::sync::Mutex;

/// `inner` with reads served from the latest read-ahead while that is allowed (module doc).
/// One per request: the snapshot is the request's own.
pub struct ReadAhead<K> {
    inner: K,
    enabled: bool,
    /// What the last `read_ahead` found: every key asked for, `None` where nothing is stored.
    snapshot: Mutex<Option<HashMap<String, Option<Vec<u8>>>>>,
}

/// Fewer keys than this are read one by one: a `get_many` of one key saves nothing (and on
/// Spin's Redis store it would be `KEYS key`, a different question with a wrong answer).
const FEWEST_READ_AHEAD: usize = 2;

impl<K: KeyValue> ReadAhead<K> {
    /// `enabled`: whether `read_ahead` asks the store at all (the `kv_read_ahead` variable).
    pub fn new(inner: K, enabled: bool) -> Self {
        Self { inner, enabled, snapshot: Mutex::new(None) }
    }

    fn snapshot(&self) -> std::sync::MutexGuard<'_, Option<HashMap<String, Option<Vec<u8>>>>> {
        // every use is one map operation: a poisoned lock leaves nothing half-done
        self.snapshot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn forget(&self) {
        *self.snapshot() = None;
    }

    /// The snapshot's value of `key`, if it may serve it; otherwise the snapshot is forgotten.
    fn served(&self, key: &str) -> Option<Option<Vec<u8>>> {
        let mut snapshot = self.snapshot();
        let value = snapshot.as_ref()?.get(key).cloned();
        if value.is_none() {
            *snapshot = None;
        }
        value
    }

    /// The snapshot's value of the counter at `key` (absent: 0), if it may serve it.
    fn served_counter(&self, key: &str) -> Option<i64> {
        let value = sqlite_counter(self.served(key)?);
        if value.is_none() {
            // not SQLite's format: the store itself reads it
            self.forget();
        }
        value
    }
}

/// A counter's value as Spin's SQLite store keeps it (8 little-endian bytes; absent: 0), or
/// `None` for anything else. The top byte must be 0x00 or 0xFF (a counter within ±2^56), so
/// a counter kept as decimal text, as Redis keeps it, is never taken for one, even at 8 digits.
fn sqlite_counter(stored: Option<Vec<u8>>) -> Option<i64> {
    match stored {
        None => Some(0),
        Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice()).ok().filter(|b| matches!(b[7], 0x00 | 0xFF)).map(i64::from_le_bytes),
    }
}

impl<K: KeyValue> KeyValue for ReadAhead<K> {
    /// Reads `keys` in one operation, to be served to the reads that follow (module doc), and
    /// says whether it did. Without reading ahead, or when the store cannot, nothing is read:
    /// the reads go to the store one by one, as they would have.
    async fn read_ahead(&self, keys: &[String]) -> StoreResult<bool> {
        if !self.enabled || keys.len() < FEWEST_READ_AHEAD {
            self.forget();
            return Ok(false);
        }
        let found = self.inner.get_many(keys).await?;
        let mut held = self.snapshot();
        *held = found.map(|found| {
            let mut snapshot: HashMap<String, Option<Vec<u8>>> = keys.iter().map(|k| (k.clone(), None)).collect();
            for (key, value) in found {
                // a store answers for the keys it was asked about only; anything else is ignored
                if let Some(slot) = snapshot.get_mut(&key) {
                    *slot = value;
                }
            }
            snapshot
        });
        Ok(held.is_some())
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        match self.served(key) {
            Some(value) => Ok(value),
            None => self.inner.get(key).await,
        }
    }

    async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.forget();
        self.inner.set(key, value).await
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.forget();
        self.inner.delete(key).await
    }

    async fn exists(&self, key: &str) -> StoreResult<bool> {
        match self.served(key) {
            Some(value) => Ok(value.is_some()),
            None => self.inner.exists(key).await,
        }
    }

    async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        if delta == 0
            && let Some(value) = self.served_counter(key)
        {
            return Ok(value);
        }
        self.forget();
        // on SQLite a counter is read as the value it is (one SELECT) rather than by a write
        // transaction that adds 0 (select, then upsert); anything unexpected, an error
        // included, is left to `increment`, which reads every store's counters
        if delta == 0
            && self.enabled
            && let Ok(stored) = self.inner.get(key).await
            && let Some(value) = sqlite_counter(stored)
        {
            return Ok(value);
        }
        self.inner.increment(key, delta).await
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> StoreResult<()> {
        self.forget();
        self.inner.set_many(entries).await
    }

    async fn get_many(&self, keys: &[String]) -> StoreResult<Option<Vec<(String, Option<Vec<u8>>)>>> {
        self.forget();
        self.inner.get_many(keys).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorded::Recorded;
    use futures::executor::block_on;

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn the_keys_read_ahead_are_served_without_another_operation() {
        let store = Recorded::default();
        block_on(async {
            store.kv.set("a", b"1").await.unwrap();
            store.kv.increment("n", 7).await.unwrap();
            let request = ReadAhead::new(&store, true);
            request.read_ahead(&keys(&["a", "n", "none"])).await.unwrap();
            assert_eq!(request.get("a").await.unwrap(), Some(b"1".to_vec()));
            assert_eq!(request.increment("n", 0).await.unwrap(), 7);
            assert!(!request.exists("none").await.unwrap());
            // a missing counter reads 0, as increment(key, 0) answers
            assert_eq!(request.increment("none", 0).await.unwrap(), 0);
            assert_eq!(request.get("a").await.unwrap(), Some(b"1".to_vec()));
        });
        assert_eq!(store.taken(), ["get_many a,n,none"]);
    }

    #[test]
    fn a_read_outside_the_snapshot_ends_it_so_no_later_read_is_older_than_an_earlier_one() {
        // the head/record order of versions.rs: a record is written before its head moves, so a
        // reader that saw the head must not then be served a record older than that head
        let store = Recorded::default();
        block_on(async {
            let request = ReadAhead::new(&store, true);
            request.read_ahead(&keys(&["record:v:1", "other"])).await.unwrap();
            // meanwhile another request writes the record, then moves the head
            store.kv.set("record:v:1", b"new").await.unwrap();
            store.kv.increment("record:head", 1).await.unwrap();
            assert_eq!(request.increment("record:head", 0).await.unwrap(), 1);
            assert_eq!(request.get("record:v:1").await.unwrap(), Some(b"new".to_vec()));
            assert_eq!(request.get("other").await.unwrap(), None);
        });
        // a counter read outside a snapshot is a get of its SQLite bytes
        assert_eq!(store.taken(), ["get_many record:v:1,other", "get record:head", "get record:v:1", "get other"]);
    }

    #[test]
    fn a_write_ends_the_snapshot() {
        let store = Recorded::default();
        block_on(async {
            let request = ReadAhead::new(&store, true);
            request.read_ahead(&keys(&["a", "b", "n"])).await.unwrap();
            request.set("a", b"mine").await.unwrap();
            assert_eq!(request.get("a").await.unwrap(), Some(b"mine".to_vec()));
            request.read_ahead(&keys(&["b", "n"])).await.unwrap();
            assert_eq!(request.increment("n", 1).await.unwrap(), 1);
            assert_eq!(request.get("b").await.unwrap(), None);
        });
        assert_eq!(store.taken(), ["get_many a,b,n", "set a", "get a", "get_many b,n", "increment n", "get b"]);
    }

    #[test]
    fn without_reading_ahead_or_for_one_key_every_read_goes_to_the_store() {
        let store = Recorded::default();
        block_on(async {
            let off = ReadAhead::new(&store, false);
            off.read_ahead(&keys(&["a", "b"])).await.unwrap();
            off.get("a").await.unwrap();
            // a store not known to be SQLite: counters only through increment
            off.increment("n", 0).await.unwrap();
            let on = ReadAhead::new(&store, true);
            on.read_ahead(&keys(&["a"])).await.unwrap();
            on.get("a").await.unwrap();
        });
        assert_eq!(store.taken(), ["get a", "increment n", "get a"]);
    }

    #[test]
    fn several_records_newest_versions_are_read_in_two_operations_or_as_before() {
        use crate::versions::{Versions, read_ahead_newest};
        let store = Recorded::default();
        let ids = ["a", "b", "c", "d"];
        block_on(async {
            // a, b and c have versions (c two), d none
            for (id, versions) in [("a", 1), ("b", 1), ("c", 2)] {
                for n in 1..=versions {
                    store.kv.set_json(&crate::keys::ledger_version(id, n), &format!("{id}{n}")).await.unwrap();
                }
                store.kv.increment(&crate::keys::ledger_version_counter(id), versions).await.unwrap();
            }
            for enabled in [true, false] {
                let request = ReadAhead::new(&store, enabled);
                let records: Vec<_> = ids.iter().map(|id| Versions::new(&request, id, crate::keys::ledger_version_counter(id), crate::keys::ledger_version)).collect();
                read_ahead_newest(&request, &records.iter().collect::<Vec<_>>()).await.unwrap();
                let mut newest = Vec::new();
                for versions in &records {
                    newest.push(versions.newest::<String>().await.unwrap().1);
                }
                assert_eq!(newest, [Some("a1".to_string()), Some("b1".into()), Some("c2".into()), None]);
                let ops = store.taken();
                let get_many = ops.iter().filter(|op| op.starts_with("get_many")).count();
                if enabled {
                    assert_eq!((get_many, ops.len()), (2, 2), "{ops:?}");
                } else {
                    // without reading ahead, what `newest` reads anyway: nothing more
                    assert_eq!((get_many, ops.len()), (0, 7), "{ops:?}");
                }
            }
        });
    }

    #[test]
    fn a_record_within_its_read_ahead_versions_is_read_in_one_operation() {
        use crate::versions::{Versions, latest_keys};
        let store = Recorded::default();
        block_on(async {
            // "short" has 3 versions, "long" 6; both are read ahead with their first 4
            for (id, count) in [("short", 3), ("long", 6)] {
                for n in 1..=count {
                    store.kv.set_json(&crate::keys::rx_version(id, n), &format!("{id}{n}")).await.unwrap();
                }
                store.kv.increment(&crate::keys::rx_version_counter(id), count).await.unwrap();
            }
            for (id, newest, operations) in [("short", "short3", 1), ("long", "long6", 2)] {
                let request = ReadAhead::new(&store, true);
                let keys = latest_keys(crate::keys::rx_version_counter(id), |n| crate::keys::rx_version(id, n), 4);
                assert_eq!(keys.len(), 5);
                request.read_ahead(&keys).await.unwrap();
                let versions = Versions::new(&request, id, crate::keys::rx_version_counter(id), crate::keys::rx_version);
                let latest = versions.latest::<String>().await.unwrap().unwrap();
                assert_eq!(latest.record, newest);
                // past the versions read ahead, the one the head names is read on its own
                let ops = store.taken();
                assert_eq!(ops.len(), operations, "{ops:?}");
            }
        });
    }

    #[test]
    fn a_store_without_get_many_reads_one_key_at_a_time() {
        let store = Recorded::without_get_many();
        block_on(async {
            store.kv.set("a", b"1").await.unwrap();
            let request = ReadAhead::new(&store, true);
            request.read_ahead(&keys(&["a", "b"])).await.unwrap();
            assert_eq!(request.get("a").await.unwrap(), Some(b"1".to_vec()));
            assert!(request.snapshot().is_none());
        });
        assert_eq!(store.taken(), ["get_many a,b", "get a"]);
    }

    #[test]
    fn a_counter_in_decimal_text_is_never_read_as_sqlite_bytes() {
        // Redis keeps counters as text: "12345678" is 8 bytes, and must not be decoded
        assert_eq!(sqlite_counter(Some(b"12345678".to_vec())), None);
        assert_eq!(sqlite_counter(Some(b"-1234567".to_vec())), None);
        assert_eq!(sqlite_counter(Some(12_345_678_i64.to_le_bytes().to_vec())), Some(12_345_678));
        assert_eq!(sqlite_counter(Some((-5_i64).to_le_bytes().to_vec())), Some(-5));
        assert_eq!(sqlite_counter(None), Some(0));
    }

    #[test]
    fn a_value_that_is_not_a_sqlite_counter_is_read_by_the_store() {
        let store = Recorded::default();
        block_on(async {
            store.kv.set("n", b"12").await.unwrap();
            let request = ReadAhead::new(&store, true);
            request.read_ahead(&keys(&["n", "b"])).await.unwrap();
            // MemoryKv reads 2 bytes as no counter (0); what matters: the store answered
            assert_eq!(request.increment("n", 0).await.unwrap(), 0);
        });
        assert_eq!(store.taken(), ["get_many n,b", "get n", "increment n"]);
    }
}
