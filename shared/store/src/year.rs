//! A person's calendar year of settlements (rule S4's per-drug maximum, the pooled-fund and
//! critical-illness caps, the deductibles used) as one record with numbered versions
//! ([`crate::versions`]): the totals in integer fen, and which settlements they count.
//!
//! A settlement computes its breakdown from one version of the year and counts its accrual by
//! writing the next version: the totals plus its accrual, and its id. Two settlements of the
//! same person computed from the same version race for the next; the loser computes again from
//! the winner's version. So the caps hold exactly whatever the interleaving (each breakdown is
//! computed from the very totals it is added to), and an accrual is counted at most once: it is
//! counted exactly when a version naming the settlement is written, a single write, so a retry
//! after a crash reads whether it was (there is no window between a claim and an add in which
//! an amount could be lost, as there was with one counter per accumulator).
//!
//! A reversal writes the next version with the accrual taken off and the settlement named as
//! reversed, once.

use crate::versions::{Raced, Seen, Versions};
use crate::{KeyValue, StoreResult, keys};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Totals by accumulator name (`pooled`, `drug:{code}`, …), in fen.
pub type Fen = BTreeMap<String, i64>;

/// One version of a person's year.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearTotals {
    /// Totals by accumulator name (`pooled`, `drug:{code}`, …), in fen; missing: 0.
    pub totals: Fen,
    /// The settlements whose accrual the totals count, with the attempt counted.
    pub counted: BTreeMap<String, u32>,
    /// Settlements counted and then taken off again by their reversal.
    pub reversed: BTreeSet<String>,
    /// The drugs settled for the person, by month (`{YYYYMM}:{med_list_codg}`): the month
    /// reports count a patient once per drug and month, at their first settlement (M2).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub drug_months: BTreeSet<String>,
}

/// The key of a drug in a month among a year's `drug_months`.
pub fn drug_month(month: &str, med_list_codg: &str) -> String {
    format!("{month}:{med_list_codg}")
}

impl YearTotals {
    /// The year with attempt `attempt` of settlement `setl_id` counted, and its drugs noted
    /// in their month (`drug_months` keys from [`drug_month`]).
    pub fn with_counted(&self, setl_id: &str, attempt: u32, accrual: &Fen, drug_months: impl IntoIterator<Item = String>) -> YearTotals {
        let mut next = self.clone();
        for (name, fen) in accrual {
            *next.totals.entry(name.clone()).or_default() += fen;
        }
        next.counted.insert(setl_id.to_string(), attempt);
        next.drug_months.extend(drug_months);
        next
    }

    /// Of `codes` settled in `month`, those the person had not had settled that month yet.
    pub fn firsts_in_month<'c>(&self, month: &str, codes: impl IntoIterator<Item = &'c str>) -> Vec<String> {
        codes.into_iter().filter(|code| !self.drug_months.contains(&drug_month(month, code))).map(String::from).collect()
    }

    /// The year with settlement `setl_id`'s accrual taken off again (its reversal).
    pub fn with_reversed(&self, setl_id: &str, accrual: &Fen) -> YearTotals {
        let mut next = self.clone();
        for (name, fen) in accrual {
            *next.totals.entry(name.clone()).or_default() -= fen;
        }
        next.reversed.insert(setl_id.to_string());
        next
    }
}

/// A person's year: its versions.
pub struct PersonYear<'a, K> {
    versions: Versions<'a, K>,
}

impl<'a, K: KeyValue> PersonYear<'a, K> {
    pub fn new(kv: &'a K, psn_no: &str, year: i32) -> Self {
        let id = keys::settle_person_year(psn_no, year);
        PersonYear { versions: Versions::new(kv, &id, keys::settle_year_version_counter(&id), keys::settle_year_version) }
    }

    /// The year as it stands, and what was seen of its versions: two reads (one before the
    /// person's first settlement of the year).
    pub async fn current(&self) -> StoreResult<(Seen, YearTotals)> {
        self.versions.current_or_default().await
    }

    /// Writes `next` as the version after `seen`; refused when another settlement of the
    /// person wrote (or is writing) that version first.
    pub async fn advance(&self, seen: Seen, next: &YearTotals, now: i64) -> StoreResult<Result<(), Raced>> {
        self.versions.advance(seen, next, now).await
    }

    /// Whether a version after `seen` is written: a settlement that lost the race waits for it
    /// before computing again.
    pub async fn moved_past(&self, seen: Seen) -> StoreResult<Option<()>> {
        self.versions.moved_past::<YearTotals>(seen).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;

    const NOW: i64 = 1_750_000_000;

    fn fen(pairs: &[(&str, i64)]) -> Fen {
        pairs.iter().map(|(name, fen)| (name.to_string(), *fen)).collect()
    }

    #[test]
    fn settlements_count_once_each_and_a_reversal_takes_one_off() {
        let kv = MemoryKv::new();
        let year = PersonYear::new(&kv, "N1", 2026);
        block_on(async {
            let (seen, empty) = year.current().await.unwrap();
            assert_eq!(empty, YearTotals::default());
            let first = fen(&[("pooled", 30_000), ("drug:X1", 30_000)]);
            assert_eq!(year.advance(seen, &empty.with_counted("S1", 1, &first, [drug_month("202606", "X1")]), NOW).await.unwrap(), Ok(()));
            // a second settlement computed from the same (now old) year loses, and takes nothing
            assert_eq!(year.advance(seen, &empty.with_counted("S2", 1, &first, []), NOW).await.unwrap(), Err(Raced));
            assert!(year.moved_past(seen).await.unwrap().is_some());
            let (seen, now) = year.current().await.unwrap();
            assert_eq!((now.totals.clone(), now.counted.get("S1")), (first.clone(), Some(&1)));
            // it computes again from the year as it is, and counts
            let second = fen(&[("pooled", 10_000)]);
            assert_eq!(year.advance(seen, &now.with_counted("S2", 2, &second, []), NOW).await.unwrap(), Ok(()));
            let (seen, now) = year.current().await.unwrap();
            assert_eq!(now.totals, fen(&[("pooled", 40_000), ("drug:X1", 30_000)]));
            // S1 reversed: its accrual off, S2's kept
            assert_eq!(year.advance(seen, &now.with_reversed("S1", &first), NOW).await.unwrap(), Ok(()));
            let (_, now) = year.current().await.unwrap();
            assert_eq!(now.totals, fen(&[("pooled", 10_000), ("drug:X1", 0)]));
            assert!(now.reversed.contains("S1") && now.counted.contains_key("S2"));
            // X1 was settled for the person in June: a second settlement of it there is no first
            assert_eq!(now.firsts_in_month("202606", ["X1", "X2"]), ["X2"]);
            assert_eq!(now.firsts_in_month("202607", ["X1"]), ["X1"]);
        });
    }
}
