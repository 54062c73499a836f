//! Counters in integer fen changed only with `increment`, under one key prefix: a region's
//! month of settled amounts per drug (the agency's report, S5). Each settlement adds its
//! amounts, and its reversal takes them off, each at most once per marker key claimed first
//! with `increment`, so a retried settlement never counts an amount twice. An instance dying
//! between a marker and its add leaves that amount out of the report (a person's year, whose
//! totals decide payments, is kept as one versioned record instead: `store::year`).

use crate::{KeyValue, StoreResult, keys};
use std::collections::BTreeMap;

/// Accumulator names with amounts in fen (e.g. `pooled`, `drug:{code}`).
pub type Fen = BTreeMap<String, i64>;

/// A set of counters under one key prefix.
pub struct Accumulators<'a, K> {
    kv: &'a K,
    prefix: String,
}

impl<'a, K: KeyValue> Accumulators<'a, K> {
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

    /// Adds `amounts` (`sign` 1) or takes them off (`sign` -1), each once per `step` of the
    /// settlement's attempt. Amounts of zero are skipped.
    pub async fn add_all_once(&self, setl_id: &str, attempt: u32, step: &str, amounts: &Fen, sign: i64) -> StoreResult<()> {
        for (name, &fen) in amounts.iter().filter(|(_, fen)| **fen != 0) {
            if self.kv.increment(&keys::settle_marker(setl_id, attempt, step, name), 1).await? == 1 {
                self.kv.increment(&self.key(name), sign * fen).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;

    #[test]
    fn amounts_are_added_and_taken_off_once_per_step() {
        let kv = MemoryKv::new();
        let month = Accumulators::region_month(&kv, "420100", "202606");
        let amounts: Fen = [("X1:medfee".to_string(), 220_000), ("X1:lines".to_string(), 1)].into();
        block_on(async {
            month.add_all_once("S1", 1, "report", &amounts, 1).await.unwrap();
            month.add_all_once("S1", 1, "report", &amounts, 1).await.unwrap();
            assert_eq!(month.read(["X1:medfee", "X1:lines"]).await.unwrap(), amounts);
            month.add_all_once("S1", 1, "unreport", &amounts, -1).await.unwrap();
            month.add_all_once("S1", 1, "unreport", &amounts, -1).await.unwrap();
            assert_eq!(month.read(["X1:medfee"]).await.unwrap(), [("X1:medfee".to_string(), 0)].into());
        });
    }
}
