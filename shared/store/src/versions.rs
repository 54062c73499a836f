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
//! Stalled slots: an owner that died between its claim and its write leaves the slot claimed
//! and unwritten. The first change that loses to such a slot notes when it saw it so
//! ([`keys::slot_stalled_since`]); a change that finds it still unwritten [`LEASE_SECONDS`]
//! later takes it over with a claim of the next attempt ([`keys::slot_takeover_claims`], again
//! 1 wins). So that a slow owner never writes after its slot was taken over, an owner writes
//! only within [`OWNER_DEADLINE`] of its claim (measured on its own monotonic clock), far less
//! than the lease; past it, it gives up without writing.

use crate::{KeyValue, StoreError, StoreResult, keys};
use serde::{Serialize, de::DeserializeOwned};
use std::time::{Duration, Instant};

/// How long a claimed slot may stay unwritten before another change takes it over.
pub const LEASE_SECONDS: i64 = 60;

/// Whether the lease has run out since `began` (an RFC 3339 instant a record carries) at `now`:
/// a change an agency undoes must be past it, so that no request is still completing it. An
/// unreadable instant counts as just now.
pub fn lease_ran_out(began: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    let began = chrono::DateTime::parse_from_rfc3339(began).map_or(now, |t| t.to_utc());
    (now - began).num_seconds() >= LEASE_SECONDS
}

/// How long after its claim an owner may still write its slot (and move the head): well inside
/// the lease, so a takeover never meets a late write. A request holding a claim this long is
/// stuck anyway (a store stalled for seconds).
pub const OWNER_DEADLINE: Duration = Duration::from_secs(10);

/// How many takeovers a slot may see: each needs an owner that died and a lease that passed.
const ATTEMPTS_TOLERATED: u32 = 16;

/// How far below the head a reader looks for the newest written slot. One step back is the
/// only case this scheme produces (an owner between its head move and its write); the rest is
/// for stores written before it.
const UNWRITTEN_TOLERATED: i64 = 8;

/// A change lost a race: another change claimed the slot it needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raced;

/// A slot this request owns: to be written before [`OWNER_DEADLINE`] has passed.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub slot: i64,
    claimed_at: Instant,
}

impl PartialEq for Claim {
    fn eq(&self, other: &Self) -> bool {
        self.slot == other.slot
    }
}

impl Claim {
    /// Refuses once the deadline has passed: the slot may be taken over by now.
    fn check(&self) -> StoreResult<()> {
        if self.claimed_at.elapsed() > OWNER_DEADLINE {
            return Err(StoreError::Unavailable(format!("the claim on slot {} outlived its deadline; nothing was written", self.slot)));
        }
        Ok(())
    }
}

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

    /// The newest written slot's value, with what was seen: two reads (one while no slot was
    /// claimed), three while the newest claimed slot is being written.
    pub async fn newest<T: DeserializeOwned>(&self) -> StoreResult<(Seen, Option<T>)> {
        let head = self.head().await?;
        for n in (1..=head).rev().take(UNWRITTEN_TOLERATED as usize + 1) {
            if let Some(value) = self.kv.get_json(&self.key(n)).await? {
                return Ok((Seen { head, written: n }, Some(value)));
            }
        }
        Ok((Seen { head, written: 0 }, None))
    }

    /// Claims the slot after `seen.written` and moves the head to it; refused, having taken
    /// nothing, when another change claimed it first, unless that change left it unwritten for
    /// longer than the lease (`now`: Unix seconds, the request's time).
    pub async fn claim(&self, seen: Seen, now: i64) -> StoreResult<Result<Claim, Raced>> {
        let next = seen.written + 1;
        let key = self.key(next);
        let claimed_at = Instant::now();
        if self.kv.increment(&keys::slot_claims(&key), 1).await? != 1 && !self.take_over(&key, now).await? {
            return Ok(Err(Raced));
        }
        let claim = Claim { slot: next, claimed_at };
        claim.check()?;
        self.move_head(seen, next).await?;
        Ok(Ok(claim))
    }

    /// Only the owner of slot `next` moves the head, and it stood at `seen.head` (after a
    /// takeover it may already stand at `next`; a store written before this scheme may have it
    /// above `next`: it comes down to `next`).
    async fn move_head(&self, seen: Seen, next: i64) -> StoreResult<()> {
        self.kv.increment(&self.head, next - seen.head).await?;
        Ok(())
    }

    /// Rewrites written slot `n`: an amendment by the one request that may make it (a pack's
    /// owner marked as returned by the return, which holds its prescription's version claim).
    pub async fn rewrite<T: Serialize>(&self, n: i64, value: &T) -> StoreResult<()> {
        self.kv.set_json(&self.key(n), value).await
    }

    /// Writes `value` in the slot `claim` owns, unless the claim outlived its deadline.
    pub async fn write<T: Serialize>(&self, claim: Claim, value: &T) -> StoreResult<()> {
        claim.check()?;
        self.kv.set_json(&self.key(claim.slot), value).await
    }

    /// After losing the claim on slot `key`: takes it over when the attempt that holds it left it
    /// unwritten for longer than the lease; else notes when it was first seen unwritten.
    async fn take_over(&self, key: &str, now: i64) -> StoreResult<bool> {
        if self.kv.exists(key).await? {
            return Ok(false);
        }
        // the attempt that holds the slot now: the first, or the last taken over
        let mut attempt = 1;
        while attempt < ATTEMPTS_TOLERATED && self.kv.increment(&keys::slot_takeover_claims(key, attempt + 1), 0).await? > 0 {
            attempt += 1;
        }
        let stalled = keys::slot_stalled_since(key, attempt);
        match self.kv.get_json::<i64>(&stalled).await? {
            None => {
                self.kv.set_json(&stalled, &now).await?;
                Ok(false)
            }
            Some(since) if now - since >= LEASE_SECONDS && attempt < ATTEMPTS_TOLERATED => {
                Ok(self.kv.increment(&keys::slot_takeover_claims(key, attempt + 1), 1).await? == 1)
            }
            Some(_) => Ok(false),
        }
    }
}

/// The keys a read-ahead fetches so that [`Versions::latest`] of a record with at most `count`
/// versions is answered from it alone (issue 19, [`crate::ReadAhead`]): its head and its first
/// `count` slots, since which slot the head names is known only once the head is read. A record
/// with more versions reads the slot its head names on its own, as it would have.
pub fn latest_keys(head: String, slot: impl Fn(i64) -> String, count: i64) -> Vec<String> {
    std::iter::once(head).chain((1..=count).map(slot)).collect()
}

/// Reads ahead what [`Versions::newest`] of each of `records` will read, for a request that
/// reads them one after another (issue 19, [`crate::ReadAhead`]): their heads in one operation,
/// then each head with the version it names in another. Two operations for any number of
/// records where the store reads ahead (a head moved in between is read again, with its
/// version, by the store); none where it does not.
pub async fn read_ahead_newest<K: KeyValue>(kv: &K, records: &[&Versions<'_, K>]) -> StoreResult<()> {
    let heads: Vec<String> = records.iter().map(|versions| versions.slots.head.clone()).collect();
    if !kv.read_ahead(&heads).await? {
        return Ok(());
    }
    let mut newest = Vec::with_capacity(records.len() * 2);
    for versions in records {
        let head = versions.slots.head().await?;
        newest.push(versions.slots.head.clone());
        if head > 0 {
            newest.push(versions.slots.key(head));
        }
    }
    kv.read_ahead(&newest).await?;
    Ok(())
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
        let (seen, record) = self.newest().await?;
        Ok(record.map(|record| Latest { seen, record }))
    }

    /// The latest written version if there is one, and what was seen either way: as
    /// [`Versions::latest`], for a change that claims the first version when there is none
    /// (without reading the head again, as [`Versions::seen_empty`] would).
    pub async fn newest<T: DeserializeOwned>(&self) -> StoreResult<(Seen, Option<T>)> {
        self.slots.newest().await
    }

    /// Version `version`, if it was written. One read.
    pub async fn get<T: DeserializeOwned>(&self, version: i64) -> StoreResult<Option<T>> {
        self.kv.get_json(&self.slots.key(version)).await
    }

    /// Claims the version after the one `seen` read; refused when another change claimed it.
    pub async fn claim(&self, seen: Seen, now: i64) -> StoreResult<Result<Claim, Raced>> {
        self.slots.claim(seen, now).await
    }

    /// Writes the version `claim` owns (once: a number is never reused).
    pub async fn write<T: Serialize>(&self, claim: Claim, record: &T) -> StoreResult<()> {
        self.slots.write(claim, record).await
    }

    /// The record as it stands (its default before the first version), and what was seen:
    /// two reads (one before the first version: the head read says there is none, and is what
    /// was seen; it is not read again).
    pub async fn current_or_default<T: DeserializeOwned + Default>(&self) -> StoreResult<(Seen, T)> {
        let (seen, record) = self.newest::<T>().await?;
        Ok((seen, record.unwrap_or_default()))
    }

    /// Writes `next` as the version after `seen`: claimed, then written; refused, having
    /// written nothing, when another change claimed that version first.
    pub async fn advance<T: Serialize>(&self, seen: Seen, next: &T, now: i64) -> StoreResult<Result<(), Raced>> {
        let claim = match self.claim(seen, now).await? {
            Ok(claim) => claim,
            Err(raced) => return Ok(Err(raced)),
        };
        self.write(claim, next).await?;
        Ok(Ok(()))
    }

    /// Whether a version after `seen` is written: a change that lost the race waits for it
    /// before computing again.
    pub async fn moved_past<T: DeserializeOwned>(&self, seen: Seen) -> StoreResult<Option<()>> {
        Ok(self.latest::<T>().await?.filter(|l| l.version() > seen.written).map(|_| ()))
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

    const NOW: i64 = 1_750_000_000;

    fn slot(claim: StoreResult<Result<Claim, Raced>>) -> Result<i64, Raced> {
        claim.unwrap().map(|c| c.slot)
    }

    #[test]
    fn racing_changes_get_one_winner_and_losers_take_no_number() {
        let kv = MemoryKv::new();
        let versions = Versions::new(&kv, "r1", "t:r1:version".into(), key);
        block_on(async {
            let empty = versions.seen_empty().await.unwrap();
            let first = versions.claim(empty, NOW).await.unwrap().unwrap();
            assert_eq!(slot(versions.claim(empty, NOW).await), Err(Raced), "a second first version");
            versions.write(first, &"first").await.unwrap();
            let latest = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!((latest.seen, latest.record.as_str()), (Seen { head: 1, written: 1 }, "first"));
            // fifty changes read version 1; one claims version 2, the others take nothing
            let mut won = Vec::new();
            for _ in 0..50 {
                won.extend(versions.claim(latest.seen, NOW).await.unwrap().ok());
            }
            assert_eq!(won.len(), 1);
            assert_eq!(versions.slots.head().await.unwrap(), 2);
            // while the winner has not written, readers see version 1
            let before = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!((before.seen, before.record.as_str()), (Seen { head: 2, written: 1 }, "first"));
            // and a change based on it is refused: version 2 is taken
            assert_eq!(slot(versions.claim(before.seen, NOW).await), Err(Raced));
            versions.write(won[0], &"second").await.unwrap();
            // the winner's next step is not disturbed by the losers
            let latest = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!(latest.seen, Seen { head: 2, written: 2 });
            let third = versions.claim(latest.seen, NOW).await.unwrap().unwrap();
            assert_eq!(third.slot, 3);
            versions.write(third, &"third").await.unwrap();
            assert_eq!(versions.history::<String>().await.unwrap(), ["first", "second", "third"]);
        });
    }

    #[test]
    fn a_slot_left_unwritten_is_taken_over_after_the_lease_and_only_then() {
        let kv = MemoryKv::new();
        let versions = Versions::new(&kv, "r1", "t:r1:version".into(), key);
        block_on(async {
            let empty = versions.seen_empty().await.unwrap();
            let first = versions.claim(empty, NOW).await.unwrap().unwrap();
            versions.write(first, &"first").await.unwrap();
            let seen = versions.latest::<String>().await.unwrap().unwrap().seen;
            // an owner claims version 2 and dies before writing it
            let _dead = versions.claim(seen, NOW).await.unwrap().unwrap();
            let seen = versions.latest::<String>().await.unwrap().unwrap().seen;
            assert_eq!(seen, Seen { head: 2, written: 1 });
            // refused while the lease runs (the first refusal starts it)
            assert_eq!(slot(versions.claim(seen, NOW + 5).await), Err(Raced));
            assert_eq!(slot(versions.claim(seen, NOW + 5 + LEASE_SECONDS - 1).await), Err(Raced));
            // then one change takes it over, once
            let taken = versions.claim(seen, NOW + 5 + LEASE_SECONDS).await.unwrap().unwrap();
            assert_eq!(taken.slot, 2);
            assert_eq!(slot(versions.claim(seen, NOW + 5 + LEASE_SECONDS).await), Err(Raced));
            versions.write(taken, &"second").await.unwrap();
            let latest = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!((latest.seen, latest.record.as_str()), (Seen { head: 2, written: 2 }, "second"));
            // a written slot is never taken over, however late
            assert_eq!(slot(versions.claim(Seen { head: 2, written: 1 }, NOW + 10 * LEASE_SECONDS).await), Err(Raced));
        });
    }

    #[test]
    fn a_record_without_versions_is_read_once_and_its_first_version_claimed_against_that_read() {
        // issue 19: nothing read twice; the head read that finds no version is what was seen
        let store = crate::recorded::Recorded::default();
        let kv = &store;
        let versions = Versions::new(&kv, "r1", "t:r1:version".into(), key);
        block_on(async {
            let (seen, record) = versions.current_or_default::<String>().await.unwrap();
            assert_eq!((seen, record.as_str(), store.taken().len()), (Seen { head: 0, written: 0 }, "", 1));
            let (seen, found) = versions.newest::<String>().await.unwrap();
            assert_eq!((seen, found, store.taken().len()), (Seen { head: 0, written: 0 }, None, 1));
            let first = versions.claim(seen, NOW).await.unwrap().unwrap();
            versions.write(first, &"first".to_string()).await.unwrap();
            store.taken();
            let (seen, record) = versions.current_or_default::<String>().await.unwrap();
            assert_eq!((seen, record.as_str(), store.taken().len()), (Seen { head: 1, written: 1 }, "first", 2));
            // a claim made against the read that found nothing loses once a version exists
            assert_eq!(slot(versions.claim(Seen { head: 0, written: 0 }, NOW).await), Err(Raced));
        });
    }

    #[test]
    fn the_lease_runs_out_a_lease_after_the_instant_a_record_carries() {
        let began = "2026-12-04T09:00:00+08:00";
        let at = |seconds: i64| chrono::DateTime::parse_from_rfc3339(began).unwrap().to_utc() + chrono::TimeDelta::seconds(seconds);
        assert!(!lease_ran_out(began, at(LEASE_SECONDS - 1)));
        assert!(lease_ran_out(began, at(LEASE_SECONDS)));
        assert!(!lease_ran_out("not an instant", at(0)));
    }

    #[test]
    fn an_owner_past_its_deadline_writes_nothing() {
        let kv = MemoryKv::new();
        let versions = Versions::new(&kv, "r1", "t:r1:version".into(), key);
        block_on(async {
            let empty = versions.seen_empty().await.unwrap();
            let mut claim = versions.claim(empty, NOW).await.unwrap().unwrap();
            claim.claimed_at -= OWNER_DEADLINE + Duration::from_secs(1);
            assert!(versions.write(claim, &"late").await.is_err());
            assert_eq!(versions.latest::<String>().await.unwrap(), None);
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
            let second = versions.claim(latest.seen, NOW).await.unwrap().unwrap();
            assert_eq!(second.slot, 2);
            versions.write(second, &"second").await.unwrap();
            // the head came down to the version written
            let latest = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!((latest.seen, latest.record.as_str()), (Seen { head: 2, written: 2 }, "second"));
        });
    }
}
