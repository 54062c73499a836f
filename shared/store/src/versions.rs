//! Numbered slots claimed without compare-and-swap: the versions of a record (filings,
//! prescriptions, settlements) and the generations of a person's filings for a drug.
//!
//! - Slot `n` belongs to whoever first increments its claim key ([`keys::slot_claims`]) to 1.
//!   A change claims the slot after the newest one it read, so of several changes that read
//!   the same state exactly one gets the slot; the others are refused ([`Raced`]) having taken
//!   nothing: no number is skipped however many lose, and the winner's next step is not
//!   disturbed by them (it claims a slot no loser asked for).
//! - The owner then moves the head counter to `n` (only the owner of `n` moves it, and slot
//!   `n + 1` cannot be claimed before slot `n` is written, so the head is never moved by two
//!   at once), and only then writes the slot, once.
//! - A reader reads the head and the slot it names: two reads. The slot is missing only while
//!   its owner is between moving the head and writing (or died there); the reader then shows
//!   the slot before, which is the state as it stands until that write lands. Stores written
//!   before this scheme (when a lost claim moved the head) may have a few unwritten numbers
//!   below the head; readers step back over up to [`UNWRITTEN_TOLERATED`] of them.
//!
//! A slot claimed by an owner that died before writing it holds its record at the slot before
//! and refuses later changes until it is released (see ARCHITECTURE.md, "Recovery").

use crate::{KeyValue, StoreResult, keys};
use serde::{Serialize, de::DeserializeOwned};

/// How far below the head a reader looks for the newest written slot. One step back is the
/// only case this scheme produces (an owner between its head move and its write); the rest is
/// for stores written before it.
const UNWRITTEN_TOLERATED: i64 = 8;

/// A change lost a race: another change claimed the slot it needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raced;

/// What a change saw before claiming: the head and the newest written slot (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub head: i64,
    pub written: i64,
}

impl Seen {
    /// What a request sees of the slot it has just written.
    pub fn just_written(slot: i64) -> Seen {
        Seen { head: slot, written: slot }
    }
}

/// The latest written version of a record, with what was seen to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest<T> {
    pub seen: Seen,
    pub record: T,
}

impl<T> Latest<T> {
    /// A version this request has just written as `version`.
    pub fn just_written(version: i64, record: T) -> Self {
        Latest { seen: Seen::just_written(version), record }
    }

    /// The version number of `record`.
    pub fn version(&self) -> i64 {
        self.seen.written
    }
}

/// A sequence of claimable slots: its head counter and where slot `n` is.
pub struct Slots<'a, K> {
    kv: &'a K,
    head: String,
    slot_key: Box<dyn Fn(i64) -> String + 'a>,
}

impl<'a, K: KeyValue> Slots<'a, K> {
    pub fn new(kv: &'a K, head: String, slot_key: impl Fn(i64) -> String + 'a) -> Self {
        Slots { kv, head, slot_key: Box::new(slot_key) }
    }

    /// The newest slot claimed (0: none). One read.
    pub async fn head(&self) -> StoreResult<i64> {
        self.kv.increment(&self.head, 0).await
    }

    /// The key of slot `n`.
    pub fn key(&self, n: i64) -> String {
        (self.slot_key)(n)
    }

    /// The slots a reader tries, newest first, below head `head`.
    pub fn candidates(head: i64) -> impl Iterator<Item = i64> {
        (1..=head).rev().take(UNWRITTEN_TOLERATED as usize + 1)
    }

    /// Claims the slot after `seen.written` and moves the head to it; refused, having taken
    /// nothing, when another change claimed it first.
    pub async fn claim(&self, seen: Seen) -> StoreResult<Result<i64, Raced>> {
        let next = seen.written + 1;
        if self.kv.increment(&keys::slot_claims(&self.key(next)), 1).await? != 1 {
            return Ok(Err(Raced));
        }
        // Only this owner moves the head now, and it stood at `seen.head` (a store written
        // before this scheme may have it above `next`: it comes down to `next`).
        self.kv.increment(&self.head, next - seen.head).await?;
        Ok(Ok(next))
    }
}

/// The versions of one record: a sequence of slots, each a whole snapshot of the record.
pub struct Versions<'a, K> {
    kv: &'a K,
    slots: Slots<'a, K>,
}

impl<'a, K: KeyValue> Versions<'a, K> {
    /// The versions of record `id`, with the head counter at `counter` and version `n` stored
    /// at `version_key(id, n)` (both from [`crate::keys`]).
    pub fn new(kv: &'a K, id: &str, counter: String, version_key: fn(&str, i64) -> String) -> Self {
        let id = id.to_string();
        Versions { kv, slots: Slots::new(kv, counter, move |n| version_key(&id, n)) }
    }

    /// What a change sees of a record that may have no version yet. One read.
    pub async fn seen_empty(&self) -> StoreResult<Seen> {
        Ok(Seen { head: self.slots.head().await?, written: 0 })
    }

    /// The latest written version: two reads, three while a change is being written.
    pub async fn latest<T: DeserializeOwned>(&self) -> StoreResult<Option<Latest<T>>> {
        let head = self.slots.head().await?;
        for version in Slots::<K>::candidates(head) {
            if let Some(record) = self.kv.get_json(&self.slots.key(version)).await? {
                return Ok(Some(Latest { seen: Seen { head, written: version }, record }));
            }
        }
        Ok(None)
    }

    /// Version `version`, if it was written. One read.
    pub async fn get<T: DeserializeOwned>(&self, version: i64) -> StoreResult<Option<T>> {
        self.kv.get_json(&self.slots.key(version)).await
    }

    /// Claims the version after the one `seen` read; refused when another change claimed it.
    pub async fn claim(&self, seen: Seen) -> StoreResult<Result<i64, Raced>> {
        self.slots.claim(seen).await
    }

    /// Writes a version under the number claimed for it (once: a number is never reused).
    pub async fn write<T: Serialize>(&self, version: i64, record: &T) -> StoreResult<()> {
        self.kv.set_json(&self.slots.key(version), record).await
    }

    /// Every written version, oldest first: the record's audit trail. One read per version.
    pub async fn history<T: DeserializeOwned>(&self) -> StoreResult<Vec<T>> {
        let head = self.slots.head().await?;
        let mut versions = Vec::new();
        for version in 1..=head {
            if let Some(found) = self.get(version).await? {
                versions.push(found);
            }
        }
        Ok(versions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;

    fn key(id: &str, n: i64) -> String {
        format!("t:{id}:v:{n}")
    }

    #[test]
    fn racing_changes_get_one_winner_and_losers_take_no_number() {
        let kv = MemoryKv::new();
        let versions = Versions::new(&kv, "r1", "t:r1:version".into(), key);
        block_on(async {
            let empty = versions.seen_empty().await.unwrap();
            assert_eq!(versions.claim(empty).await.unwrap(), Ok(1));
            assert_eq!(versions.claim(empty).await.unwrap(), Err(Raced), "a second first version");
            versions.write(1, &"first").await.unwrap();
            let latest = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!((latest.seen, latest.record.as_str()), (Seen { head: 1, written: 1 }, "first"));
            // fifty changes read version 1; one claims version 2, the others take nothing
            let mut won = 0;
            for _ in 0..50 {
                won += usize::from(versions.claim(latest.seen).await.unwrap().is_ok());
            }
            assert_eq!(won, 1);
            assert_eq!(versions.slots.head().await.unwrap(), 2);
            // while the winner has not written, readers see version 1
            let before = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!((before.seen, before.record.as_str()), (Seen { head: 2, written: 1 }, "first"));
            // and a change based on it is refused: version 2 is taken
            assert_eq!(versions.claim(before.seen).await.unwrap(), Err(Raced));
            versions.write(2, &"second").await.unwrap();
            // the winner's next step is not disturbed by the losers
            let latest = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!(latest.seen, Seen { head: 2, written: 2 });
            assert_eq!(versions.claim(latest.seen).await.unwrap(), Ok(3));
            versions.write(3, &"third").await.unwrap();
            assert_eq!(versions.history::<String>().await.unwrap(), ["first", "second", "third"]);
        });
    }

    #[test]
    fn a_store_written_before_per_slot_claims_is_read_and_repaired() {
        // the old scheme: lost claims moved the head past unwritten numbers
        let kv = MemoryKv::new();
        let versions = Versions::new(&kv, "r1", "t:r1:version".into(), key);
        block_on(async {
            kv.set_json(&key("r1", 1), &"first").await.unwrap();
            kv.increment("t:r1:version", 6).await.unwrap();
            let latest = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!(latest.seen, Seen { head: 6, written: 1 });
            assert_eq!(versions.claim(latest.seen).await.unwrap(), Ok(2));
            versions.write(2, &"second").await.unwrap();
            // the head came down to the version written
            let latest = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!((latest.seen, latest.record.as_str()), (Seen { head: 2, written: 2 }, "second"));
        });
    }
}
