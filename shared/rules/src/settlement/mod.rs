//! Settlement (rules S1–S8): the region's policy as data ([`policy`]) and the one-stop
//! calculation ([`engine`]), both pure. The settlement component loads the policy in force,
//! the catalogue facts and the person's year, calls [`engine::settle`], and reserves the
//! accrual in the store's accumulators (`store::accumulators`).

pub mod engine;
pub mod policy;

pub use engine::{Breakdown, LineCoverage, LineDetail, PersonFacts, SettlementInput, SettlementLine, StandardBasis, Step, Totals, Treatment, caps, settle};
pub use policy::{Assistance, ByLevel, CriticalIllness, SchemeTerms, Segment, SettlementPolicy, Terms};

use crate::registry::BenefitStatus;

/// Rule S6 (and E1): whether a person insured in region `insured`, with `benefits`, may have a
/// purchase at an institution of region `region` settled directly: benefits must be normal;
/// outside the insured city only within the province, and only at an institution open for
/// cross-region settlement (`institution_open`). `Err` says why not.
pub fn direct_settlement(insured: &str, region: &str, benefits: BenefitStatus, institution_open: bool) -> Result<(), &'static str> {
    if benefits != BenefitStatus::Normal {
        return Err("the person's benefits are suspended");
    }
    if insured == region {
        return Ok(());
    }
    if insured.get(..2) != region.get(..2) {
        return Err("insured in another province: no direct settlement here");
    }
    if !institution_open {
        return Err("the institution is not open for cross-region settlement");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_settlement_outside_the_city_stays_in_the_province_at_open_institutions() {
        // rule S6
        let normal = BenefitStatus::Normal;
        assert_eq!(direct_settlement("420100", "420100", normal, false), Ok(()));
        assert_eq!(direct_settlement("420100", "420500", normal, true), Ok(()));
        assert!(direct_settlement("420100", "420500", normal, false).is_err());
        assert!(direct_settlement("420100", "110100", normal, true).is_err());
        assert!(direct_settlement("420100", "420100", BenefitStatus::Suspended, true).is_err());
    }
}

