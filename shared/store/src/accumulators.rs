//! A person's annual accumulators for settlement (rule S4's per-drug maximum, the pooled-fund
//! and critical-illness caps, the deductibles used): integer fen counters changed only with
//! `increment`, so that concurrent settlements for one person add up exactly.
//!
//! A settlement reserves what it computed: it adds each amount, then looks at the total the
//! add returned. A total above its cap means another settlement got there first; the
//! settlement then gives back everything it added and computes again from the totals as they
//! are now (the caller's loop). A cap therefore holds exactly, whatever the interleaving.
//!
//! Each add and each give-back is done at most once per marker key, claimed first with
//! `increment`: a retried settlement (after a crash, or the caller sending again) never adds an
//! amount twice. An instance dying between a claim and its add leaves that amount unadded,
//! which the settlement's stored accrual shows.

use crate::{KeyValue, StoreResult, keys};
use std::collections::BTreeMap;

/// Accumulator names with amounts in fen (e.g. `pooled`, `drug:{code}`).
pub type Fen = BTreeMap<String, i64>;

/// Why a reservation was given back: the settlement computes again, as its next attempt, from
/// the totals as they are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    /// An accumulator's total passed its cap after this attempt's add.
    OverCap { name: String, total: i64, cap: i64 },
    /// This attempt was given back before (a retry of a settlement that lost a race).
    GivenBack,
}

/// A set of counters under one key prefix: one person's calendar year, or a region's month
/// of settled amounts (the agency's report, S5).
pub struct Accumulators<'a, K> {
    kv: &'a K,
    prefix: String,
}

impl<'a, K: KeyValue> Accumulators<'a, K> {
    /// Person `psn_no`'s totals for calendar year `year`.
    pub fn new(kv: &'a K, psn_no: &str, year: i32) -> Self {
        Accumulators { kv, prefix: keys::settle_person_year(psn_no, year) }
    }

    /// Region `admdvs`'s settled amounts for month `month` (`YYYYMM`).
    pub fn region_month(kv: &'a K, admdvs: &str, month: &str) -> Self {
        Accumulators { kv, prefix: keys::settle_region_month(admdvs, month) }
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// The totals of `names` (missing: 0). One read each.
    pub async fn read<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> StoreResult<Fen> {
        let mut totals = Fen::new();
        for name in names {
            totals.insert(name.to_string(), self.kv.increment(&self.key(name), 0).await?);
        }
        Ok(totals)
    }

    /// Adds `fen` to `name` unless `marker` was claimed before. The total after the add, or
    /// `None` when an earlier call did it.
    async fn add_once(&self, marker: &str, name: &str, fen: i64) -> StoreResult<Option<i64>> {
        if self.kv.increment(marker, 1).await? != 1 {
            return Ok(None);
        }
        Ok(Some(self.kv.increment(&self.key(name), fen).await?))
    }

    /// Reserves `amounts` for attempt `attempt` of settlement `setl_id`: adds each (once),
    /// and if a total then exceeds its cap in `caps`, gives all of this attempt's amounts back
    /// (once) and reports the first accumulator over its cap. Amounts of zero are skipped.
    pub async fn reserve(&self, setl_id: &str, attempt: u32, amounts: &Fen, caps: &Fen) -> StoreResult<Result<(), Retry>> {
        let mut nonzero = amounts.iter().filter(|(_, fen)| **fen != 0);
        if let Some((name, _)) = nonzero.next()
            && self.kv.increment(&keys::settle_marker(setl_id, attempt, "return", name), 0).await? > 0
        {
            return Ok(Err(Retry::GivenBack));
        }
        let mut over = None;
        for (name, &fen) in amounts.iter().filter(|(_, fen)| **fen != 0) {
            let marker = keys::settle_marker(setl_id, attempt, "add", name);
            let Some(total) = self.add_once(&marker, name, fen).await? else { continue };
            if let Some(&cap) = caps.get(name)
                && total > cap
                && over.is_none()
            {
                over = Some(Retry::OverCap { name: name.clone(), total, cap });
            }
        }
        match over {
            None => Ok(Ok(())),
            Some(over) => {
                self.give_back(setl_id, attempt, "return", amounts).await?;
                Ok(Err(over))
            }
        }
    }

    /// Takes `amounts` off again, once per `step` (`return` after a lost race, `reverse` for a
    /// reversal): the settlement's accrual restored exactly.
    pub async fn give_back(&self, setl_id: &str, attempt: u32, step: &str, amounts: &Fen) -> StoreResult<()> {
        self.add_all_once(setl_id, attempt, step, amounts, -1).await
    }

    /// Adds `amounts` (`sign` 1) or takes them off (`sign` -1), each once per `step` of the
    /// settlement's attempt: for counters no cap applies to (the region's report).
    pub async fn add_all_once(&self, setl_id: &str, attempt: u32, step: &str, amounts: &Fen, sign: i64) -> StoreResult<()> {
        for (name, &fen) in amounts.iter().filter(|(_, fen)| **fen != 0) {
            self.add_once(&keys::settle_marker(setl_id, attempt, step, name), name, sign * fen).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;

    fn fen(pairs: &[(&str, i64)]) -> Fen {
        pairs.iter().map(|(name, fen)| (name.to_string(), *fen)).collect()
    }

    #[test]
    fn a_reservation_adds_each_amount_once_and_a_reversal_restores_it() {
        let kv = MemoryKv::new();
        let year = Accumulators::new(&kv, "N1", 2026);
        block_on(async {
            let amounts = fen(&[("pooled", 30_000), ("ordinary_deductible", 0), ("drug:X1", 30_000)]);
            let caps = fen(&[("pooled", 100_000), ("drug:X1", 50_000)]);
            assert_eq!(year.reserve("S1", 1, &amounts, &caps).await.unwrap(), Ok(()));
            // the same attempt retried adds nothing
            assert_eq!(year.reserve("S1", 1, &amounts, &caps).await.unwrap(), Ok(()));
            let totals = year.read(["pooled", "drug:X1", "ordinary_deductible"]).await.unwrap();
            assert_eq!(totals, fen(&[("pooled", 30_000), ("drug:X1", 30_000), ("ordinary_deductible", 0)]));
            year.give_back("S1", 1, "reverse", &amounts).await.unwrap();
            year.give_back("S1", 1, "reverse", &amounts).await.unwrap();
            assert_eq!(year.read(["pooled", "drug:X1"]).await.unwrap(), fen(&[("pooled", 0), ("drug:X1", 0)]));
        });
    }

    #[test]
    fn a_reservation_that_passes_a_cap_gives_everything_back() {
        let kv = MemoryKv::new();
        let year = Accumulators::new(&kv, "N1", 2026);
        block_on(async {
            let caps = fen(&[("drug:X1", 50_000)]);
            let first = fen(&[("pooled", 40_000), ("drug:X1", 40_000)]);
            assert_eq!(year.reserve("S1", 1, &first, &caps).await.unwrap(), Ok(()));
            // a second settlement computed from stale totals: 40,000 + 20,000 > 50,000
            let second = fen(&[("pooled", 20_000), ("drug:X1", 20_000)]);
            let over = year.reserve("S2", 1, &second, &caps).await.unwrap().unwrap_err();
            assert_eq!(over, Retry::OverCap { name: "drug:X1".into(), total: 60_000, cap: 50_000 });
            assert_eq!(year.read(["pooled", "drug:X1"]).await.unwrap(), fen(&[("pooled", 40_000), ("drug:X1", 40_000)]));
            // that attempt retried is known to be given back
            assert_eq!(year.reserve("S2", 1, &second, &caps).await.unwrap(), Err(Retry::GivenBack));
            // its next attempt, computed from the totals now, fits
            let again = fen(&[("pooled", 10_000), ("drug:X1", 10_000)]);
            assert_eq!(year.reserve("S2", 2, &again, &caps).await.unwrap(), Ok(()));
            assert_eq!(year.read(["drug:X1"]).await.unwrap(), fen(&[("drug:X1", 50_000)]));
        });
    }
}
