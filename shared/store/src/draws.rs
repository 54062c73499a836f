//! What was dispensed under a filing whose treatment plan bounds the quantity (rules E5, M3),
//! as one record with numbered versions ([`crate::versions`]), like a person's year: a
//! dispensing checks its quantity against one version and draws it by writing the next. Two
//! dispensings under the same filing that read the same version race for the next; the loser
//! checks again against the winner's version. So the plan holds exactly, whatever the
//! interleaving.
//!
//! A draw names its prescription and dispensing, so a retry finds it drawn and draws nothing
//! twice. A dispensing that is given back later (a pack taken, an agency's release) or packs
//! handed back leave their draw as it was: it can only count too much, never too little, and
//! the dispensing that would be refused because of it corrects the record first
//! (`prescription::plan` in the prescription component).

use crate::versions::{Raced, Seen, Versions};
use crate::{KeyValue, StoreResult, keys};
use rules::plan::{Draw, LONGEST_PERIOD_DAYS};
use serde::{Deserialize, Serialize};

/// One version of a filing's draws.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilingDraws {
    /// Oldest first; at most one per prescription (P8: a prescription is dispensed once).
    pub draws: Vec<Draw>,
}

impl FilingDraws {
    /// Whether the dispensing's quantity is drawn.
    pub fn holds(&self, hi_rxno: &str, dispensing_no: &str) -> bool {
        self.draws.iter().any(|d| d.hi_rxno == hi_rxno && d.dispensing_no == dispensing_no)
    }

    /// The draws that count beside a dispensing of `hi_rxno`: all but an earlier dispensing of
    /// the same prescription (given back, or it would not be dispensed again).
    pub fn others<'d>(&'d self, hi_rxno: &'d str) -> impl Iterator<Item = &'d Draw> + 'd {
        self.draws.iter().filter(move |d| d.hi_rxno != hi_rxno)
    }

    /// The record with `draw` added (replacing an earlier dispensing of its prescription), and
    /// the draws no plan can count any more (older than the longest period before `draw`'s
    /// day) left out, so the record stays small.
    pub fn with(&self, draw: Draw) -> FilingDraws {
        let forgotten_before = draw.on - chrono::Days::new(u64::from(LONGEST_PERIOD_DAYS));
        let mut draws: Vec<Draw> = self.draws.iter().filter(|d| d.hi_rxno != draw.hi_rxno && d.on >= forgotten_before).cloned().collect();
        draws.push(draw);
        FilingDraws { draws }
    }
}

/// A filing's draws: its versions.
pub struct PlanDraws<'a, K> {
    versions: Versions<'a, K>,
}

impl<'a, K: KeyValue> PlanDraws<'a, K> {
    pub fn new(kv: &'a K, filing_id: &str) -> Self {
        PlanDraws { versions: Versions::new(kv, filing_id, keys::filing_draws_version_counter(filing_id), keys::filing_draws_version) }
    }

    /// The draws as they stand, and what was seen: two reads (one before the first draw).
    pub async fn current(&self) -> StoreResult<(Seen, FilingDraws)> {
        self.versions.current_or_default().await
    }

    /// Writes `next` as the version after `seen`; refused when another dispensing under the
    /// filing wrote (or is writing) that version first.
    pub async fn advance(&self, seen: Seen, next: &FilingDraws, now: i64) -> StoreResult<Result<(), Raced>> {
        self.versions.advance(seen, next, now).await
    }

    /// Whether a version after `seen` is written: a dispensing that lost the race waits for it.
    pub async fn moved_past(&self, seen: Seen) -> StoreResult<Option<()>> {
        self.versions.moved_past::<FilingDraws>(seen).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use rules::fixtures::date;
    use rust_decimal_macros::dec;

    fn draw(hi_rxno: &str, dispensing_no: &str, on: NaiveDate) -> Draw {
        Draw { hi_rxno: hi_rxno.into(), dispensing_no: dispensing_no.into(), on, drug_cnt: dec!(10) }
    }

    #[test]
    fn a_prescription_draws_once_and_old_draws_are_forgotten() {
        let first = FilingDraws::default().with(draw("RX1", "D1", date(2025, 1, 1)));
        assert!(first.holds("RX1", "D1") && !first.holds("RX1", "D2"));
        // the same prescription dispensed again (its first dispensing was given back) replaces it
        let again = first.with(draw("RX1", "D2", date(2025, 1, 2)));
        assert_eq!(again.draws, [draw("RX1", "D2", date(2025, 1, 2))]);
        assert_eq!(again.others("RX1").count(), 0);
        // a year and more later the first draw no plan counts is left out
        let later = again.with(draw("RX2", "D3", date(2026, 1, 10)));
        assert_eq!(later.draws, [draw("RX2", "D3", date(2026, 1, 10))]);
    }
}
