//! Append-only logs built on `increment`, the one atomic operation Spin's stores all honour
//! (compare-and-swap falsely fails on Redis, see `spin-notes.md`).
//!
//! A log named `n` has three kinds of key (see [`keys::log_head`] and neighbours):
//! - `n:log:head`: a counter; appending first takes the next sequence number from it, so two
//!   writers racing each other get different slots and neither overwrites the other;
//! - `n:log:{seq}`: the record in its slot, written once;
//! - `n:version`: a counter bumped *after* the record is written, so a reader that sees the
//!   version change finds every record whose append completed.
//!
//! Readers keep the records in memory ([`LogReader`]) and validate them with one read of the
//! version per request; only when it moved do they read the head and the new slots. A slot
//! taken but not yet written (an append in flight, or one that crashed after taking its
//! number) is remembered as pending and read again at the next refresh: an append in flight
//! bumps the version when it completes, which triggers that refresh.

use crate::{KeyValue, StoreResult, keys};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// One log in the store, by name (e.g. `catalogue`).
pub struct Log<'a, K> {
    kv: &'a K,
    name: String,
}

impl<'a, K: KeyValue> Log<'a, K> {
    pub fn new(kv: &'a K, name: impl Into<String>) -> Self {
        Self { kv, name: name.into() }
    }

    /// The log's name, which its keys start with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Changes after every completed append. One small read.
    pub async fn version(&self) -> StoreResult<i64> {
        self.kv.increment(&keys::log_version(&self.name), 0).await
    }

    /// Appends `record` and returns its sequence number (from 1). Safe against racing
    /// appends. A failure after the slot was taken leaves a hole readers skip.
    pub async fn append<T: Serialize>(&self, record: &T) -> StoreResult<i64> {
        let seq = self.kv.increment(&keys::log_head(&self.name), 1).await?;
        self.kv.set_json(&keys::log_record(&self.name, seq), record).await?;
        self.kv.increment(&keys::log_version(&self.name), 1).await?;
        Ok(seq)
    }

    /// The newest records, newest first, until `enough` says so of one (it is included) or
    /// `limit` were read: one read for the head and one per record, however long the log.
    pub async fn newest_first<T: DeserializeOwned>(&self, limit: usize, enough: impl Fn(&T) -> bool) -> StoreResult<Vec<T>> {
        let head = self.kv.increment(&keys::log_head(&self.name), 0).await?;
        let mut records = Vec::new();
        for seq in (1..=head).rev().take(limit) {
            // a slot taken and not written (an append in flight or dead) is skipped
            let Some(record) = self.kv.get_json::<T>(&keys::log_record(&self.name, seq)).await? else { continue };
            let done = enough(&record);
            records.push(record);
            if done {
                break;
            }
        }
        Ok(records)
    }

    /// Appends `record` unless the key `marker` says an earlier call did: one read, however
    /// long the log. The marker is written after the append, so a crash between the two (or
    /// two calls racing) can append the record twice but never lose it: readers of a log
    /// written this way skip repeats.
    pub async fn append_once<T: Serialize>(&self, marker: &str, record: &T) -> StoreResult<()> {
        append_once_each(self.kv, &[(Log::new(self.kv, self.name.as_str()), marker.to_string(), record)]).await
    }
}

/// [`Log::append_once`] to several logs at once (and the one implementation of it), step by
/// step for all of them: which are marked already (a read each), a number from each head,
/// every record in one write, each version moved, then every marker in one write. Each log has
/// its record written before its version moves and its marker written after, so a crash
/// anywhere leaves a record maybe listed twice, never missing; the records and the markers
/// each cost one write however many logs (issue 19: one commit on SQLite, one round trip on
/// Redis).
pub async fn append_once_each<K: KeyValue, T: Serialize>(kv: &K, appends: &[(Log<'_, K>, String, T)]) -> StoreResult<()> {
    let mut pending = Vec::with_capacity(appends.len());
    for (log, marker, record) in appends {
        if !kv.exists(marker).await? {
            pending.push((log, marker, record));
        }
    }
    let mut records = Vec::with_capacity(pending.len());
    let mut markers = Vec::with_capacity(pending.len());
    for (log, marker, record) in &pending {
        let seq = kv.increment(&keys::log_head(&log.name), 1).await?;
        let key = keys::log_record(&log.name, seq);
        records.push((key.clone(), crate::to_json(&key, record)?));
        markers.push((marker.to_string(), crate::to_json(marker, &seq)?));
    }
    kv.set_many(&records).await?;
    for (log, _, _) in &pending {
        kv.increment(&keys::log_version(&log.name), 1).await?;
    }
    kv.set_many(&markers).await
}

/// The records of one log as far as this reader has read them, in sequence order.
#[derive(Debug, Clone)]
pub struct LogReader<T> {
    version: Option<i64>,
    /// The first sequence number not read yet.
    next: i64,
    /// Slots below `next` that were taken but empty when last read.
    pending: Vec<i64>,
    records: BTreeMap<i64, T>,
}

impl<T> Default for LogReader<T> {
    fn default() -> Self {
        Self { version: None, next: 1, pending: Vec::new(), records: BTreeMap::new() }
    }
}

impl<T: DeserializeOwned> LogReader<T> {
    /// Whether the log may hold records this reader has not seen (`version` from
    /// [`Log::version`]).
    pub fn is_stale(&self, version: i64) -> bool {
        self.version != Some(version)
    }

    /// Reads what was appended since the last refresh (and any pending slot), given the
    /// version just read. Costs one read for the head plus one per new or pending slot.
    pub async fn refresh<K: KeyValue>(&mut self, log: &Log<'_, K>, version: i64) -> StoreResult<()> {
        let head = log.kv.increment(&keys::log_head(&log.name), 0).await?;
        let mut still_pending = Vec::new();
        let unread: Vec<i64> = self.pending.drain(..).chain(self.next..=head).collect();
        for seq in unread {
            match log.kv.get_json::<T>(&keys::log_record(&log.name, seq)).await? {
                Some(record) => {
                    self.records.insert(seq, record);
                }
                None => still_pending.push(seq),
            }
        }
        self.pending = still_pending;
        self.next = self.next.max(head + 1);
        self.version = Some(version);
        Ok(())
    }

    /// Every record read so far, in the order they were appended.
    pub fn records(&self) -> impl DoubleEndedIterator<Item = (i64, &T)> {
        self.records.iter().map(|(seq, record)| (*seq, record))
    }

    /// The records newest first, each `key` once: how a list shows an index log, where a retry
    /// after a crash can have appended a record twice.
    pub fn newest_first_once<'a, Q: Eq + Hash + 'a>(&'a self, key: impl Fn(&'a T) -> Q + 'a) -> impl Iterator<Item = &'a T> + 'a {
        let mut seen = HashSet::new();
        self.records.values().rev().filter(move |record| seen.insert(key(record)))
    }
}

/// An instance's copies of many logs of one record type (a pharmacy's prescriptions, a
/// person's filings), by log name, each validated per request by one read of its version.
pub struct LogCache<T> {
    readers: Mutex<BTreeMap<String, Arc<LogReader<T>>>>,
}

impl<T> Default for LogCache<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> LogCache<T> {
    pub const fn new() -> Self {
        LogCache { readers: Mutex::new(BTreeMap::new()) }
    }
}

impl<T: Clone + DeserializeOwned> LogCache<T> {
    /// The log as of now: one read (the version) when this instance's copy is current, else
    /// also the head and the new slots.
    pub async fn read<K: KeyValue>(&self, log: &Log<'_, K>) -> StoreResult<Arc<LogReader<T>>> {
        let version = log.version().await?;
        let cached = self.readers.lock().unwrap_or_else(|p| p.into_inner()).get(log.name()).cloned();
        let mut reader = cached.unwrap_or_default();
        if reader.is_stale(version) {
            Arc::make_mut(&mut reader).refresh(log, version).await?;
            self.readers.lock().unwrap_or_else(|p| p.into_inner()).insert(log.name().to_string(), reader.clone());
        }
        Ok(reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;

    fn seen(reader: &LogReader<String>) -> Vec<(i64, String)> {
        reader.records().map(|(seq, r)| (seq, r.clone())).collect()
    }

    #[test]
    fn append_once_appends_a_record_once_per_marker() {
        let kv = MemoryKv::new();
        let log = Log::new(&kv, "test");
        block_on(async {
            log.append_once("marker:a", &"a").await.unwrap();
            log.append_once("marker:a", &"a").await.unwrap(); // a retry: only checks its marker
            log.append_once("marker:b", &"b").await.unwrap();
            let mut reader = LogReader::<String>::default();
            reader.refresh(&log, log.version().await.unwrap()).await.unwrap();
            assert_eq!(seen(&reader), [(1, "a".into()), (2, "b".into())]);
        });
    }

    #[test]
    fn append_once_each_lists_in_every_log_once_and_leaves_what_append_once_leaves() {
        let kv = MemoryKv::new();
        let (a, b) = (Log::new(&kv, "a"), Log::new(&kv, "b"));
        block_on(async {
            a.append(&"earlier".to_string()).await.unwrap();
            // b was listed by an earlier call: only a gets the record
            b.append_once("listed:b", &"r".to_string()).await.unwrap();
            let each = |record: &str| [(Log::new(&kv, "a"), "listed:a".to_string(), record.to_string()), (Log::new(&kv, "b"), "listed:b".to_string(), record.to_string())];
            append_once_each(&kv, &each("r")).await.unwrap();
            append_once_each(&kv, &each("r")).await.unwrap(); // a retry: only checks the markers
            for (log, expected) in [(&a, vec![(1, "earlier".to_string()), (2, "r".into())]), (&b, vec![(1, "r".into())])] {
                let mut reader = LogReader::<String>::default();
                reader.refresh(log, log.version().await.unwrap()).await.unwrap();
                assert_eq!(seen(&reader), expected);
            }
            // the marker names the record's number, as append_once's does
            assert_eq!(kv.get_json::<i64>("listed:a").await.unwrap(), Some(2));
        });
    }

    #[test]
    fn an_index_lists_newest_first_and_a_repeated_record_once() {
        let kv = MemoryKv::new();
        let log = Log::new(&kv, "test");
        block_on(async {
            for id in ["a", "b", "a", "c"] {
                log.append(&id).await.unwrap();
            }
            let mut reader = LogReader::<String>::default();
            reader.refresh(&log, log.version().await.unwrap()).await.unwrap();
            assert_eq!(reader.newest_first_once(String::as_str).collect::<Vec<_>>(), ["c", "a", "b"]);
        });
    }

    #[test]
    fn a_reader_sees_appends_in_order_and_only_reads_what_is_new() {
        let kv = MemoryKv::new();
        let log = Log::new(&kv, "test");
        block_on(async {
            let mut reader = LogReader::<String>::default();
            assert!(reader.is_stale(log.version().await.unwrap()));
            reader.refresh(&log, log.version().await.unwrap()).await.unwrap();
            assert!(seen(&reader).is_empty());
            assert_eq!(log.append(&"a").await.unwrap(), 1);
            assert_eq!(log.append(&"b").await.unwrap(), 2);
            let version = log.version().await.unwrap();
            assert!(reader.is_stale(version));
            reader.refresh(&log, version).await.unwrap();
            assert!(!reader.is_stale(version));
            assert_eq!(seen(&reader), [(1, "a".into()), (2, "b".into())]);
            log.append(&"c").await.unwrap();
            reader.refresh(&log, log.version().await.unwrap()).await.unwrap();
            assert_eq!(seen(&reader).len(), 3);
        });
    }

    #[test]
    fn a_slot_taken_but_not_yet_written_is_read_again_later() {
        let kv = MemoryKv::new();
        let log = Log::new(&kv, "test");
        block_on(async {
            log.append(&"a").await.unwrap();
            // a writer took slot 2 and has not written it yet; another completed slot 3
            kv.increment(&keys::log_head("test"), 1).await.unwrap();
            log.append(&"c").await.unwrap();
            let mut reader = LogReader::<String>::default();
            reader.refresh(&log, log.version().await.unwrap()).await.unwrap();
            assert_eq!(seen(&reader), [(1, "a".into()), (3, "c".into())]);
            // the slow writer completes: its version bump makes the reader refresh
            kv.set_json(&keys::log_record("test", 2), &"b").await.unwrap();
            kv.increment(&keys::log_version("test"), 1).await.unwrap();
            let version = log.version().await.unwrap();
            assert!(reader.is_stale(version));
            reader.refresh(&log, version).await.unwrap();
            assert_eq!(seen(&reader), [(1, "a".into()), (2, "b".into()), (3, "c".into())]);
        });
    }

    #[test]
    fn racing_appends_get_distinct_slots() {
        let kv = MemoryKv::new();
        block_on(async {
            let log = Log::new(&kv, "race");
            let appends = (0..20).map(|i| {
                let log = Log::new(&kv, "race");
                async move { log.append(&format!("r{i}")).await.unwrap() }
            });
            let mut seqs = futures::future::join_all(appends).await;
            seqs.sort_unstable();
            assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
            let mut reader = LogReader::<String>::default();
            reader.refresh(&log, log.version().await.unwrap()).await.unwrap();
            assert_eq!(reader.records().count(), 20);
        });
    }
}
