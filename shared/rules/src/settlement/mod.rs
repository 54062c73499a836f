//! Settlement (rules S1–S8): the region's policy as data ([`policy`]), what a settlement is
//! computed from ([`input`]), the person's year and its caps ([`year`]) and the one-stop
//! calculation ([`engine`]), all pure: no I/O, no clock. The settlement component loads the
//! policy in force on the settlement's date, the catalogue's coverage of each line and the
//! person's year, calls [`settle`], and counts the accrual by writing the year's next version
//! (`store::year`): a settlement computed from the very totals it is added to never passes a
//! cap, which the engine's tests hold it to (see [`year`]).
//!
//! # The calculation, in order
//!
//! Per line:
//!
//! 1. `medfee` = quantity × unit price, **rounded**.
//! 2. Not covered: the whole `medfee` is `fulamt_ownpay_amt`; nothing else.
//! 3. Covered, with a payment standard (published, confidential (C6), or a dropped drug's old
//!    one (C4), as the caller resolved it): above it, `overlmt_selfpay` = quantity × (price −
//!    standard), **rounded** (S1); at or below it, 0 and the actual price is paid. A drug
//!    without a standard is paid on its price. Price and standard are per the same unit: the
//!    caller brings a standard quoted per another unit to the line's first ([`units`]: × the
//!    line's `pack_size`), or refuses the settlement.
//! 4. Class B: `preselfpay_amt` = (`medfee` − `overlmt_selfpay`) × the policy's first
//!    self-pay share, **rounded**; class A: 0. The rest is `inscp_scp_amt`.
//!
//! Then per treatment:
//!
//! 5. `act_pay_dedc`: ordinary lines take what is left of the prescribing level's ordinary
//!    deductible this year (S3), mechanism lines what is left of the mechanism's deductible
//!    (S4), each in line order; separate payment has none (S2).
//! 6. `hifp_pay`: per group (the ordinary lines; the separate-payment lines; each
//!    outpatient-mechanism drug), (in scope − deductible) × the ratio (the level's, the level's
//!    inpatient ratio (S2), or the mechanism's), **rounded once per group**. A mechanism drug's
//!    annual maximum (S4) limits what the policy's `annual_max_basis` says: `fund_payment`, the
//!    fund's payments for the drug this year (the group gets at most what the maximum leaves);
//!    `eligible_cost`, the drug's in-scope cost counted this year (`004_…`: the label's highest
//!    annual drug cost): only the part of this purchase's in-scope amount that fits under the
//!    maximum is counted, the group's amount is (that part − deductible) × the ratio, and the
//!    rest stays in scope unpaid, the patient's share. The steps name the basis, and where the
//!    maximum bit. The cost counted is added to the year (`drug_cost:{code}`) under either
//!    basis, the fund's payment too (`drug:{code}`). A group's amount is split
//!    over its lines by rounding the running total of their exact shares (each line's share is
//!    the rounded running total less the one before, so the lines add up to the group). Last,
//!    all groups together get at most what is left of the pooled fund's annual cap, taken by
//!    the lines in line order: the last lines are cut first.
//! 7. `hifmi_pay` (S7): this settlement's compliant self-pay (in scope − `hifp_pay`) extends
//!    the year's; of that stretch, the part above the critical-illness deductible is paid by
//!    segment (segments count from the deductible), **rounded once**, up to the annual cap.
//! 8. `maf_pay` (S7): for a person whose assistance category the policy names, (in scope −
//!    `hifp_pay` − `hifmi_pay`) × the category's ratio, **rounded once**, up to its annual cap.
//!    A category the policy does not name pays nothing, and a step says so (the person's
//!    category is registry data, the policy the region's: neither is the patient's error).
//! 9. `fund_pay_sumamt` = `hifp_pay` + `hifmi_pay` + `maf_pay`; `psn_part_amt` = `medfee_sumamt`
//!    − `fund_pay_sumamt`; `acct_pay` = the smaller of the share and the balance when the
//!    policy lets the account pay (S7), else 0; `psn_cash_pay` = the rest.
//!
//! # Rounding (S8)
//!
//! Half up to the fen ([`crate::money::round_yuan`]) at exactly the points marked **rounded**
//! above: per line `medfee`, `overlmt_selfpay`, `preselfpay_amt`; per group the pooled fund
//! (and each line's share of it, as a difference of rounded running totals); once each
//! `hifmi_pay` and `maf_pay`. Every other amount is a sum, difference or minimum of rounded
//! amounts, caps and balances, so each has at most 2 places; the breakdown states them with
//! exactly 2. The national identities hold exactly: `medfee_sumamt` = `fulamt_ownpay_amt` +
//! `overlmt_selfpay` + `preselfpay_amt` + `inscp_scp_amt` = `fund_pay_sumamt` + `psn_part_amt`,
//! and `psn_part_amt` = `acct_pay` + `psn_cash_pay`.
//!
//! # Confidential standards (C6)
//!
//! A confidential standard is used, never stated: no step, no `LineDetail::payment_standard`,
//! no `Debug` of the input (`LineCoverage` prints `Some(*)`) and no input problem names it; a
//! `C6` step records that one was applied. The national fields cannot hide what follows from
//! it by S1: when the price is above the standard, `overlmt_selfpay` = quantity × (price −
//! standard) and `inscp_scp_amt` is the rest, so for one unit of a class-A drug
//! `inscp_scp_amt` *is* the standard. A negotiated drug's price may not exceed its standard
//! (C7), so this arises only with a price that breaks C7; whoever sees a breakdown (the
//! settlement's parties) sees these amounts.

pub mod engine;
pub mod input;
pub mod mechanism;
pub mod policy;
pub mod units;
pub mod year;

pub use engine::{Breakdown, LineDetail, Step, settle};
pub use input::{LineCoverage, MAX_LINES, PersonFacts, SettlementInput, SettlementLine, StandardBasis, Treatment, outpatient_restriction};
pub use mechanism::{DispensingPharmacy, MechanismPurchase, Registration, Unregistered, registration_gate};
pub use policy::{AnnualMaxBasis, Assistance, ByLevel, CriticalIllness, MechanismTerms, SchemeTerms, Segment, SettlementPolicy, Terms};
pub use units::{MAX_PACK_SIZE, in_line_units, standard_unit, unit_mismatch, unit_of_specification, valid_pack_size};
pub use year::{Accrual, Totals, YearToDate};

use crate::registry::BenefitStatus;

/// Rule S6 (and E1): whether a person insured in region `insured`, with `benefits`, may have a
/// purchase settled directly at a party (the dispensing pharmacy, or the institution of a
/// visit) of region `region`: benefits must be normal; outside the insured city only within the
/// province, and only where that party is open for cross-region settlement (`party_open`).
/// `Err` says why not.
pub fn direct_settlement(insured: &str, region: &str, benefits: BenefitStatus, party_open: bool) -> Result<(), &'static str> {
    if benefits != BenefitStatus::Normal {
        return Err("the person's benefits are suspended");
    }
    // rule S6 compares cities: a district of the insured city is not "outside" it
    if crate::registry::city_of(insured) == crate::registry::city_of(region) {
        return Ok(());
    }
    if crate::registry::province_of(insured) != crate::registry::province_of(region) {
        return Err("insured in another province: no direct settlement here");
    }
    if !party_open {
        return Err("the dispensing pharmacy or institution is not open for cross-region settlement");
    }
    Ok(())
}

/// Rule C7: a negotiated drug's price may not exceed its payment standard (seed `000_…`:
/// 挂网价格不得高于支付标准). `Some(reason)` when `line`, of a negotiated drug (`negotiated`), is
/// priced above the standard it is paid against. The reason names a published standard, never a
/// confidential one (C6): it says only that the price is above it, and no amount of the line is
/// computed from it (the settlement is refused).
pub fn price_above_standard(line: &SettlementLine, negotiated: bool) -> Option<String> {
    let LineCoverage::Covered { standard: Some(standard), basis, .. } = &line.coverage else { return None };
    if !negotiated || line.unit_price <= *standard {
        return None;
    }
    Some(match basis {
        StandardBasis::Confidential => format!("{}: the price {} is above the drug's payment standard, which a negotiated drug's price may not exceed", line.med_list_codg, line.unit_price),
        StandardBasis::Published | StandardBasis::Transition { .. } => {
            format!("{}: the price {} is above the drug's payment standard {standard}, which a negotiated drug's price may not exceed", line.med_list_codg, line.unit_price)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_negotiated_drug_priced_above_its_standard_is_refused_without_naming_a_confidential_one() {
        // rule C7, with C6
        use crate::catalogue::InsuranceClass;
        use rust_decimal_macros::dec;
        let line = |price, basis| SettlementLine {
            med_list_codg: "X1".into(),
            quantity: dec!(2),
            unit_price: price,
            coverage: LineCoverage::Covered { standard: Some(dec!(63.00)), basis, class: InsuranceClass::B, treatment: Treatment::Ordinary },
        };
        assert_eq!(price_above_standard(&line(dec!(63.00), StandardBasis::Published), true), None, "at the standard");
        assert_eq!(price_above_standard(&line(dec!(70.00), StandardBasis::Published), false), None, "not negotiated: S1");
        let published = price_above_standard(&line(dec!(70.00), StandardBasis::Published), true).expect("refused");
        assert!(published.contains("70.00") && published.contains("63.00"), "{published}");
        let secret = price_above_standard(&line(dec!(70.00), StandardBasis::Confidential), true).expect("refused");
        assert!(secret.contains("70.00") && !secret.contains("63"), "{secret}");
        let uncovered = SettlementLine { coverage: LineCoverage::NotCovered { reason: "r".into() }, ..line(dec!(70.00), StandardBasis::Published) };
        assert_eq!(price_above_standard(&uncovered, true), None);
    }

    #[test]
    fn direct_settlement_outside_the_city_stays_in_the_province_at_open_institutions() {
        // rule S6
        let normal = BenefitStatus::Normal;
        assert_eq!(direct_settlement("420100", "420100", normal, false), Ok(()));
        assert_eq!(direct_settlement("420100", "420102", normal, false), Ok(()), "a district of the insured city");
        assert_eq!(direct_settlement("420100", "420500", normal, true), Ok(()));
        assert!(direct_settlement("420100", "420500", normal, false).is_err());
        assert!(direct_settlement("420100", "110100", normal, true).is_err());
        assert!(direct_settlement("420100", "420100", BenefitStatus::Suspended, true).is_err());
    }
}

