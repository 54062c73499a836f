//! Ledgers: a region's month of settled figures (rules S5, M2), each settlement and reversal
//! counted exactly once, even when a request dies half-way and is sent again.
//!
//! A ledger is a record with numbered versions ([`crate::versions`]): its rows of totals (by
//! pharmacy or institution, by field), and the one event the version added. An event is
//! counted by writing the ledger's next version: the totals plus the event's figures. So a
//! count is one write, and whether an event was counted is a fact of the store, not of a
//! marker written beside it (the counters this replaces claimed a marker and then added: a
//! crash between the two lost the amount).
//!
//! To find out later whether its event was counted, a settlement names the version it will
//! write, *before* writing it: its *intent*, kept in the settlement's own version
//! (`SettlementRecord::ledger`). Counting then reads the ledger:
//! - the intended version is written and names the event: counted (a retry does nothing);
//! - it is written by another event (a settlement that got there first): the settlement
//!   writes a new intent, the version after the newest, and tries again;
//! - it is the next version: claimed and written; a lost claim waits for the winner.
//!
//! A version claimed by a request that died is taken over after the lease, like any version.
//! Only one request at a time can change a settlement's intent (a new intent is a new version
//! of the settlement, claimed), so an event is never counted under two intents.
//!
//! Each region's month has a ledger per drug (rows: the settling parties) and per settling
//! party (one row: the settlement's totals), each split into [`SHARDS`] by settlement so that
//! concurrent settlements of one drug or one pharmacy seldom race for the same version.

use crate::versions::{Raced, Seen, Versions};
use crate::{KeyValue, StoreResult, keys};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Ledgers per drug or party and month: a settlement counts in one of them (by its id).
pub const SHARDS: u32 = 4;

/// What a ledger is kept by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// A negotiated drug (`med_list_codg`); rows: the settling parties, and the prescribing
    /// institutions ([`prescriber_row`]).
    Drug,
    /// A settling pharmacy or institution (`fixmedins_code`); one row.
    Party,
}

impl Dimension {
    fn name(self) -> &'static str {
        match self {
            Dimension::Drug => "drug",
            Dimension::Party => "party",
        }
    }
}

/// The ledger of `dimension` `code` in region `admdvs`'s month `month` (`YYYYMM`) that
/// settlement `setl_id` counts in.
pub fn ledger_id(admdvs: &str, month: &str, dimension: Dimension, code: &str, setl_id: &str) -> String {
    keys::ledger(admdvs, month, dimension.name(), code, shard(setl_id))
}

/// Every shard's ledger of `dimension` `code` in a region's month: what a report sums.
pub fn ledger_ids(admdvs: &str, month: &str, dimension: Dimension, code: &str) -> impl Iterator<Item = String> {
    let (admdvs, month, code) = (admdvs.to_string(), month.to_string(), code.to_string());
    (0..SHARDS).map(move |s| keys::ledger(&admdvs, &month, dimension.name(), &code, s))
}

/// A settlement's shard: stable (FNV-1a of its id), so a retry picks the same ledgers.
fn shard(setl_id: &str) -> u32 {
    use std::hash::Hasher;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(setl_id.as_bytes());
    (hasher.finish() % u64::from(SHARDS)) as u32
}

/// The prefix of a drug ledger's rows kept by prescribing institution (the others are by
/// settling party): who prescribed the drug (M1), whose budget its cost stays out of (S5).
const PRESCRIBER: &str = "prescriber:";

/// The row of a drug ledger kept for prescribing institution `code`.
pub fn prescriber_row(code: &str) -> String {
    format!("{PRESCRIBER}{code}")
}

/// The prescribing institution a drug ledger's row is kept for, if it is such a row.
pub fn prescriber(row: &str) -> Option<&str> {
    row.strip_prefix(PRESCRIBER)
}

/// Amounts by national field name (and counts: `settlements`, `lines`, `qty`).
pub type Figures = BTreeMap<String, Decimal>;

/// Figures by row (a party's code; `""` for a party's own ledger).
pub type Rows = BTreeMap<String, Figures>;

/// Adds `figures` to `into`, field by field.
pub fn add_figures(into: &mut Figures, figures: &Figures) {
    for (field, amount) in figures {
        *into.entry(field.clone()).or_default() += amount;
    }
}

/// What a settlement's version adds to a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Settled,
    /// Counted in the month of the reversal, negative: a closed month never changes.
    Reversed,
}

/// One counted event: a settlement's settling or reversal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub setl_id: String,
    pub kind: EventKind,
}

/// One version of a ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// The event this version added (none: a ledger never written).
    pub by: Option<Event>,
    pub rows: Rows,
}

impl LedgerRecord {
    /// The next version: these totals plus `rows`, added by `event`.
    pub fn with(&self, event: &Event, rows: &Rows) -> LedgerRecord {
        let mut next = LedgerRecord { by: Some(event.clone()), rows: self.rows.clone() };
        for (row, figures) in rows {
            add_figures(next.rows.entry(row.clone()).or_default(), figures);
        }
        next
    }
}

/// Where an event is to be counted: the version it will write in each of its ledgers (by id),
/// and the month the ledgers are of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intents {
    pub month: String,
    pub versions: BTreeMap<String, i64>,
}

/// What counting an event in one ledger found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// The intended version names the event: counted (now, or by an earlier attempt).
    Counted,
    /// Another event wrote the intended version: aim at `next` instead.
    Elsewhere { next: i64 },
    /// The version before the intended one, or the intended one, is claimed and not yet
    /// written: wait for it (its owner is writing, or died and it is taken over after the lease).
    Pending,
}

/// A ledger's newest version, and what was seen to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerState {
    pub seen: Seen,
    pub record: LedgerRecord,
}

impl LedgerState {
    /// The version a new event aims at: the one after the newest written.
    pub fn next_version(&self) -> i64 {
        self.seen.written + 1
    }
}

/// One ledger.
pub struct Ledger<'a, K> {
    versions: Versions<'a, K>,
}

impl<'a, K: KeyValue> Ledger<'a, K> {
    /// The ledger `id` (from [`ledger_id`]).
    pub fn new(kv: &'a K, id: &str) -> Self {
        Ledger { versions: Versions::new(kv, id, keys::ledger_version_counter(id), keys::ledger_version) }
    }

    /// The newest version as it stands, with what was seen: two reads.
    pub async fn read(&self) -> StoreResult<LedgerState> {
        let (seen, record) = self.versions.current_or_default().await?;
        Ok(LedgerState { seen, record })
    }

    /// The totals as they stand: two reads.
    pub async fn current(&self) -> StoreResult<LedgerRecord> {
        Ok(self.read().await?.record)
    }

    /// Counts `event`'s `rows` by writing version `intended` (the event's intent), unless it
    /// is already counted there; `state` is the ledger as read since the intent was named (at
    /// the latest: the claim decides whether it is still the newest). Two or three operations
    /// when it counts (the claim, the head moved, the write), one at most when it was counted.
    pub async fn count(&self, state: LedgerState, intended: i64, event: &Event, rows: &Rows, now: i64) -> StoreResult<Count> {
        let LedgerState { seen, record: newest } = state;
        if seen.written >= intended {
            let at = if seen.written == intended { Some(newest) } else { self.versions.get::<LedgerRecord>(intended).await? };
            return Ok(match at {
                Some(version) if version.by.as_ref() == Some(event) => Count::Counted,
                _ => Count::Elsewhere { next: seen.written + 1 },
            });
        }
        if seen.written + 1 < intended {
            return Ok(Count::Pending);
        }
        // the intended version is the one after `newest`: if nobody claimed it, `newest` is
        // still the newest, so the totals below add to the very version they follow
        match self.versions.claim(seen, now).await? {
            Ok(claim) => {
                self.versions.write(claim, &newest.with(event, rows)).await?;
                Ok(Count::Counted)
            }
            Err(Raced) => Ok(Count::Pending),
        }
    }

    /// Whether version `version` is written: what a pending count waits for.
    pub async fn written(&self, version: i64) -> StoreResult<Option<()>> {
        Ok(self.versions.get::<LedgerRecord>(version).await?.map(|_| ()))
    }
}

/// The totals of `dimension` `code` in region `admdvs`'s month `month`, by row, summed over
/// its shards: two reads per shard, however many settlements were counted; two in all where
/// the store reads ahead (`versions::read_ahead_newest`).
pub async fn month_totals<K: KeyValue>(kv: &K, admdvs: &str, month: &str, dimension: Dimension, code: &str) -> StoreResult<Rows> {
    let ledgers: Vec<Ledger<'_, K>> = ledger_ids(admdvs, month, dimension, code).map(|id| Ledger::new(kv, &id)).collect();
    crate::versions::read_ahead_newest(kv, &ledgers.iter().map(|ledger| &ledger.versions).collect::<Vec<_>>()).await?;
    let mut totals = Rows::new();
    for ledger in &ledgers {
        for (row, figures) in ledger.current().await?.rows {
            add_figures(totals.entry(row).or_default(), &figures);
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;
    use rust_decimal_macros::dec;

    const NOW: i64 = 1_750_000_000;

    /// One line of `medfee` (negative: a reversal takes the line off).
    fn rows(party: &str, medfee: Decimal) -> Rows {
        let lines = if medfee.is_sign_negative() { dec!(-1) } else { dec!(1) };
        [(party.to_string(), [("medfee".to_string(), medfee), ("lines".to_string(), lines)].into())].into()
    }

    fn event(setl_id: &str) -> Event {
        Event { setl_id: setl_id.into(), kind: EventKind::Settled }
    }

    #[test]
    fn an_event_counts_once_at_its_intent_and_a_loser_aims_again() {
        let kv = MemoryKv::new();
        let ledger = Ledger::new(&kv, "ledger:t");
        block_on(async {
            // two settlements read the same newest version and aim at the same next one
            let aim = ledger.read().await.unwrap().next_version();
            assert_eq!(aim, 1);
            assert_eq!(ledger.count(ledger.read().await.unwrap(), aim, &event("S1"), &rows("P1", dec!(100)), NOW).await.unwrap(), Count::Counted);
            // a retry of S1 finds it counted, adds nothing
            assert_eq!(ledger.count(ledger.read().await.unwrap(), aim, &event("S1"), &rows("P1", dec!(100)), NOW).await.unwrap(), Count::Counted);
            // S2 finds its intended version taken by S1: it aims at the next
            let next = match ledger.count(ledger.read().await.unwrap(), aim, &event("S2"), &rows("P2", dec!(30)), NOW).await.unwrap() {
                Count::Elsewhere { next } => next,
                other => panic!("{other:?}"),
            };
            assert_eq!(ledger.count(ledger.read().await.unwrap(), next, &event("S2"), &rows("P2", dec!(30)), NOW).await.unwrap(), Count::Counted);
            assert_eq!(ledger.count(ledger.read().await.unwrap(), next, &event("S2"), &rows("P2", dec!(30)), NOW).await.unwrap(), Count::Counted);
            // a count from a state read before S2 counted claims a version already taken: it
            // waits, and read again finds its intent taken
            let stale = ledger.read().await.unwrap();
            let both = stale.next_version();
            assert_eq!(ledger.count(ledger.read().await.unwrap(), both, &event("S3"), &rows("P3", dec!(1)), NOW).await.unwrap(), Count::Counted);
            assert_eq!(ledger.count(stale, both, &event("S4"), &rows("P4", dec!(1)), NOW).await.unwrap(), Count::Pending);
            assert_eq!(ledger.count(ledger.read().await.unwrap(), both, &event("S4"), &rows("P4", dec!(1)), NOW).await.unwrap(), Count::Elsewhere { next: both + 1 });
            // and S1 still reads as counted at its own version, below the newest
            assert_eq!(ledger.count(ledger.read().await.unwrap(), aim, &event("S1"), &rows("P1", dec!(100)), NOW).await.unwrap(), Count::Counted);
            let totals = ledger.current().await.unwrap();
            assert_eq!(totals.rows["P1"]["medfee"], dec!(100));
            assert_eq!(totals.rows["P2"]["medfee"], dec!(30));
            let reversal = Event { setl_id: "S1".into(), kind: EventKind::Reversed };
            let aim = ledger.read().await.unwrap().next_version();
            assert_eq!(ledger.count(ledger.read().await.unwrap(), aim, &reversal, &rows("P1", dec!(-100)), NOW).await.unwrap(), Count::Counted);
            assert_eq!(ledger.current().await.unwrap().rows["P1"], [("medfee".to_string(), dec!(0)), ("lines".to_string(), dec!(0))].into());
        });
    }

    #[test]
    fn a_claimed_unwritten_version_is_waited_for_then_taken_over_after_the_lease() {
        let kv = MemoryKv::new();
        let ledger = Ledger::new(&kv, "ledger:t");
        block_on(async {
            // S1's request claims version 1 and dies before writing it
            let seen = ledger.versions.seen_empty().await.unwrap();
            let _dead = ledger.versions.claim(seen, NOW).await.unwrap().unwrap();
            // S1 sent again: pending while the lease runs, counted after
            assert_eq!(ledger.count(ledger.read().await.unwrap(), 1, &event("S1"), &rows("P1", dec!(5)), NOW).await.unwrap(), Count::Pending);
            assert_eq!(ledger.written(1).await.unwrap(), None);
            // an event aiming past the unwritten version waits too
            assert_eq!(ledger.count(ledger.read().await.unwrap(), 2, &event("S2"), &rows("P1", dec!(7)), NOW).await.unwrap(), Count::Pending);
            let later = NOW + crate::versions::LEASE_SECONDS;
            assert_eq!(ledger.count(ledger.read().await.unwrap(), 1, &event("S1"), &rows("P1", dec!(5)), later).await.unwrap(), Count::Counted);
            assert_eq!(ledger.count(ledger.read().await.unwrap(), 2, &event("S2"), &rows("P1", dec!(7)), later).await.unwrap(), Count::Counted);
            assert_eq!(ledger.current().await.unwrap().rows["P1"]["medfee"], dec!(12));
        });
    }

    #[test]
    fn shards_are_stable_and_every_shard_is_listed() {
        let id = ledger_id("420100", "202612", Dimension::Drug, "XA01", "ST1");
        assert_eq!(id, ledger_id("420100", "202612", Dimension::Drug, "XA01", "ST1"));
        let all: Vec<String> = ledger_ids("420100", "202612", Dimension::Drug, "XA01").collect();
        assert_eq!(all.len(), SHARDS as usize);
        assert!(all.contains(&id));
        let used: std::collections::BTreeSet<u32> = (0..64).map(|n| shard(&format!("ST{n}"))).collect();
        assert_eq!(used.len(), SHARDS as usize, "settlements spread over every shard");
    }
}
