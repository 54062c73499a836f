//! Records kept as numbered versions, without compare-and-swap (filings, prescriptions):
//!
//! - A record's versions are numbered by its own counter: a change first takes the next number
//!   (`increment`), then writes that version, a full snapshot with the entry that made it, once.
//! - Two racing changes get different numbers; the one that expected another is refused before
//!   it writes, so exactly one of them lands (the atomic claim).
//! - A number taken by a change that then failed leaves a hole that readers step over: the
//!   record stays as its last written version, and the next change takes the number after the
//!   hole.
//!
//! Reading the latest version costs two reads (the counter, the version) unless the newest
//! numbers are holes.

use crate::{KeyValue, StoreResult};
use serde::{Serialize, de::DeserializeOwned};

/// How far back a reader looks for the latest written version when the newest numbers are
/// holes (each hole is a change that failed after taking its number).
const HOLES_TOLERATED: i64 = 8;

/// A change lost a race: another took the number it expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raced;

/// The latest written version of a record, with the newest number taken so far (larger than
/// the version's own when changes failed after taking a number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest<T> {
    pub newest: i64,
    pub version: i64,
    pub record: T,
}

/// The versions of one record: its counter key and the key of each version.
pub struct Versions<'a, K> {
    kv: &'a K,
    counter: String,
    version_key: fn(&str, i64) -> String,
    id: String,
}

impl<'a, K: KeyValue> Versions<'a, K> {
    /// The versions of record `id`, numbered by the counter at `counter` and stored at
    /// `version_key(id, n)` (both from [`crate::keys`]).
    pub fn new(kv: &'a K, id: &str, counter: String, version_key: fn(&str, i64) -> String) -> Self {
        Versions { kv, counter, version_key, id: id.to_string() }
    }

    /// The newest number taken (0: nothing yet). One read.
    pub async fn newest(&self) -> StoreResult<i64> {
        self.kv.increment(&self.counter, 0).await
    }

    /// The latest written version: two reads when the newest number was written.
    pub async fn latest<T: DeserializeOwned>(&self) -> StoreResult<Option<Latest<T>>> {
        let newest = self.newest().await?;
        for version in (1..=newest).rev().take(HOLES_TOLERATED as usize) {
            if let Some(record) = self.kv.get_json(&(self.version_key)(&self.id, version)).await? {
                return Ok(Some(Latest { newest, version, record }));
            }
        }
        Ok(None)
    }

    /// Version `version`, if it was written. One read.
    pub async fn get<T: DeserializeOwned>(&self, version: i64) -> StoreResult<Option<T>> {
        self.kv.get_json(&(self.version_key)(&self.id, version)).await
    }

    /// Takes the number after `newest` (as [`Versions::latest`] saw it) for a change; refused
    /// when another change took a number since.
    pub async fn claim(&self, newest: i64) -> StoreResult<Result<i64, Raced>> {
        let taken = self.kv.increment(&self.counter, 1).await?;
        Ok(if taken == newest + 1 { Ok(taken) } else { Err(Raced) })
    }

    /// Writes a version under the number claimed for it (once: a number is never reused).
    pub async fn write<T: Serialize>(&self, version: i64, record: &T) -> StoreResult<()> {
        self.kv.set_json(&(self.version_key)(&self.id, version), record).await
    }

    /// Every written version, oldest first: the record's audit trail. One read per version.
    pub async fn history<T: DeserializeOwned>(&self) -> StoreResult<Vec<T>> {
        let newest = self.newest().await?;
        let mut versions = Vec::new();
        for version in 1..=newest {
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
    fn racing_changes_get_one_winner_and_holes_are_stepped_over() {
        let kv = MemoryKv::new();
        let versions = Versions::new(&kv, "r1", "t:r1:version".into(), key);
        block_on(async {
            assert_eq!(versions.claim(0).await.unwrap(), Ok(1));
            versions.write(1, &"first").await.unwrap();
            let latest = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!((latest.newest, latest.version, latest.record.as_str()), (1, 1, "first"));
            // two changes read version 1; the second to claim loses
            assert_eq!(versions.claim(latest.newest).await.unwrap(), Ok(2));
            assert_eq!(versions.claim(latest.newest).await.unwrap(), Err(Raced));
            // neither wrote: numbers 2 and 3 are holes, version 1 is still the latest
            let latest = versions.latest::<String>().await.unwrap().unwrap();
            assert_eq!((latest.newest, latest.version), (3, 1));
            assert_eq!(versions.claim(latest.newest).await.unwrap(), Ok(4));
            versions.write(4, &"second").await.unwrap();
            assert_eq!(versions.history::<String>().await.unwrap(), ["first", "second"]);
        });
    }
}
