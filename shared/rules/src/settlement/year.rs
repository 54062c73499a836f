//! A person's calendar year in yuan: the totals before a settlement ([`YearToDate`]), what one
//! settlement adds to them ([`Accrual`]), and the caps those totals must stay under.
//!
//! The store keeps the totals in integer fen in one versioned record (`store::year`), named as
//! [`Totals::by_name`] names them (`pooled`, `drug:{code}`, ...). A settlement is computed from
//! one version and counted by writing the next; of concurrent settlements of one person the one
//! that loses that race is computed again from the winner's totals. So every accrual is added
//! to the very totals it was computed from, and the engine never passes a cap from there (its
//! tests check it with `caps` and `over_caps`). A cap therefore holds whatever the interleaving.

use super::input::{MAX_TOTAL, bounded};
#[cfg(test)]
use super::input::{LineCoverage, PersonFacts, SettlementLine, Treatment};
#[cfg(test)]
use super::policy::{AnnualMaxBasis, SchemeTerms};
use crate::registry::FieldProblem;
#[cfg(test)]
use crate::registry::Level;
use crate::role::is_code;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A person's year, in yuan, 2 places: the totals before a settlement, or what one adds to
/// them. Both have the same fields, so they are one type.
///
/// Equality treats a drug missing from `per_drug` as one with 0 paid.
#[derive(Debug, Clone, Default, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// The ordinary outpatient deductible used (the prescribing level's deductible is its cap).
    pub ordinary_deductible: Decimal,
    /// The outpatient negotiated-drug mechanism's deductible used (S4).
    pub outpatient_deductible: Decimal,
    /// The pooled fund's payments, all treatments together.
    pub pooled: Decimal,
    /// The pooled fund's payments per outpatient-mechanism drug (S4's annual maximum on the
    /// `fund_payment` basis).
    #[serde(default)]
    pub per_drug: BTreeMap<String, Decimal>,
    /// The eligible (in-scope) cost counted per outpatient-mechanism drug (S4's annual maximum
    /// on the `eligible_cost` basis: never above it there). Counted under either basis, so a
    /// region that changes its basis finds the year's cost already counted; absent from years
    /// and settlements stored before it existed, which read as nothing counted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_drug_cost: BTreeMap<String, Decimal>,
    /// The compliant self-pay critical-illness insurance counts toward its deductible.
    pub critical_illness_base: Decimal,
    /// Critical-illness insurance's payments (S7).
    pub critical_illness: Decimal,
    /// Medical assistance's payments (S7).
    pub assistance: Decimal,
}

/// The person's totals for the calendar year before a settlement.
pub type YearToDate = Totals;
/// What a settlement adds to the person's year; a reversal takes it off again.
pub type Accrual = Totals;

impl PartialEq for Totals {
    fn eq(&self, other: &Totals) -> bool {
        let drug = |totals: &Totals, code: &String| totals.per_drug.get(code).copied().unwrap_or_default();
        let cost = |totals: &Totals, code: &String| totals.per_drug_cost.get(code).copied().unwrap_or_default();
        self.ordinary_deductible == other.ordinary_deductible
            && self.outpatient_deductible == other.outpatient_deductible
            && self.pooled == other.pooled
            && self.critical_illness_base == other.critical_illness_base
            && self.critical_illness == other.critical_illness
            && self.assistance == other.assistance
            && self.per_drug.keys().chain(other.per_drug.keys()).all(|code| drug(self, code) == drug(other, code))
            && self.per_drug_cost.keys().chain(other.per_drug_cost.keys()).all(|code| cost(self, code) == cost(other, code))
    }
}

/// The prefix of a drug's accumulator name (the fund's payments).
const DRUG: &str = "drug:";
/// The prefix of a drug's eligible-cost accumulator name.
const DRUG_COST: &str = "drug_cost:";

/// `~` and `/` escaped for a JSON Pointer token (RFC 6901).
fn pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl Totals {
    /// Each total by its accumulator name (`pooled`, `drug:{code}`, ...).
    pub fn by_name(&self) -> BTreeMap<String, Decimal> {
        let mut named = BTreeMap::from([
            ("ordinary_deductible".to_string(), self.ordinary_deductible),
            ("outpatient_deductible".to_string(), self.outpatient_deductible),
            ("pooled".to_string(), self.pooled),
            ("critical_illness_base".to_string(), self.critical_illness_base),
            ("critical_illness".to_string(), self.critical_illness),
            ("assistance".to_string(), self.assistance),
        ]);
        named.extend(self.per_drug.iter().map(|(code, amount)| (format!("{DRUG}{code}"), *amount)));
        named.extend(self.per_drug_cost.iter().map(|(code, amount)| (format!("{DRUG_COST}{code}"), *amount)));
        named
    }

    /// The totals from accumulators by name; unknown names are ignored.
    pub fn from_names(named: &BTreeMap<String, Decimal>) -> Totals {
        let get = |name: &str| named.get(name).copied().unwrap_or_default();
        Totals {
            ordinary_deductible: get("ordinary_deductible"),
            outpatient_deductible: get("outpatient_deductible"),
            pooled: get("pooled"),
            per_drug: named.iter().filter_map(|(name, amount)| name.strip_prefix(DRUG).map(|code| (code.to_string(), *amount))).collect(),
            per_drug_cost: named.iter().filter_map(|(name, amount)| name.strip_prefix(DRUG_COST).map(|code| (code.to_string(), *amount))).collect(),
            critical_illness_base: get("critical_illness_base"),
            critical_illness: get("critical_illness"),
            assistance: get("assistance"),
        }
    }

    /// The year after a settlement: `ytd.plus(&breakdown.accrual)`.
    pub fn plus(&self, accrual: &Accrual) -> Totals {
        self.combine(accrual, Decimal::ONE)
    }

    /// The year after a reversal: `ytd.minus(&breakdown.accrual)`; `ytd.plus(a).minus(a) == ytd`.
    pub fn minus(&self, accrual: &Accrual) -> Totals {
        self.combine(accrual, Decimal::NEGATIVE_ONE)
    }

    /// Within the bounds [`Totals::check`] and the engine keep (every total and accrual at most
    /// [`MAX_TOTAL`]), no sum here overflows.
    fn combine(&self, other: &Totals, sign: Decimal) -> Totals {
        let by_drug = |mine: &BTreeMap<String, Decimal>, theirs: &BTreeMap<String, Decimal>| {
            let mut all = mine.clone();
            for (code, amount) in theirs {
                *all.entry(code.clone()).or_default() += sign * amount;
            }
            all.retain(|_, amount| !amount.is_zero());
            all
        };
        let per_drug = by_drug(&self.per_drug, &other.per_drug);
        let per_drug_cost = by_drug(&self.per_drug_cost, &other.per_drug_cost);
        Totals {
            ordinary_deductible: self.ordinary_deductible + sign * other.ordinary_deductible,
            outpatient_deductible: self.outpatient_deductible + sign * other.outpatient_deductible,
            pooled: self.pooled + sign * other.pooled,
            per_drug,
            per_drug_cost,
            critical_illness_base: self.critical_illness_base + sign * other.critical_illness_base,
            critical_illness: self.critical_illness + sign * other.critical_illness,
            assistance: self.assistance + sign * other.assistance,
        }
    }

    /// Every total from 0 to [`MAX_TOTAL`] yuan in whole fen, and each drug a catalogue code;
    /// problems at `{at}/{field}`.
    pub(crate) fn check(&self, at: &str, problems: &mut Vec<FieldProblem>) {
        let fields = [
            ("ordinary_deductible", self.ordinary_deductible),
            ("outpatient_deductible", self.outpatient_deductible),
            ("pooled", self.pooled),
            ("critical_illness_base", self.critical_illness_base),
            ("critical_illness", self.critical_illness),
            ("assistance", self.assistance),
        ];
        for (name, value) in fields {
            bounded(problems, format!("{at}/{name}"), value, false, MAX_TOTAL, 2);
        }
        for (map, drugs) in [("per_drug", &self.per_drug), ("per_drug_cost", &self.per_drug_cost)] {
            for (code, value) in drugs {
                let field = format!("{at}/{map}/{}", pointer_token(code));
                if is_code(code) {
                    bounded(problems, field, *value, false, MAX_TOTAL, 2);
                } else {
                    problems.push(FieldProblem::new(field, "a catalogue code: 1 to 64 letters, digits, '-' or '_'"));
                }
            }
        }
    }
}

/// The cap of each capped accumulator for a settlement of `lines` under `terms` at `level`, by
/// accumulator name: what concurrent settlements, each adding its accrual, must never pass
/// together. `ordinary_deductible` and `outpatient_deductible` (the deductibles are used up
/// to them), `pooled` (`annual_pooled_cap`), per outpatient-mechanism drug of the lines its
/// annual maximum (the smallest if lines disagree) on `drug:{code}` or, on the `eligible_cost`
/// basis, on `drug_cost:{code}`, `critical_illness` and,
/// for a person with a category the policy names, `assistance`.
///
/// The ordinary deductible differs by level: a year that used a tier-3 deductible is already
/// past a tier-2 one. The check after adding therefore looks only at the totals a settlement
/// adds to. The engine's tests' oracle: the engine itself applies the caps.
#[cfg(test)]
pub(crate) fn caps(terms: &SchemeTerms, level: Level, person: &PersonFacts, lines: &[SettlementLine]) -> BTreeMap<String, Decimal> {
    let mut caps = BTreeMap::from([
        ("ordinary_deductible".to_string(), terms.ordinary.at(level).deductible),
        ("outpatient_deductible".to_string(), terms.outpatient_negotiated.deductible),
        ("pooled".to_string(), terms.annual_pooled_cap),
        ("critical_illness".to_string(), terms.critical_illness.annual_cap),
    ]);
    if let Some(assistance) = person.assistance_category.as_ref().and_then(|c| terms.assistance.get(c)) {
        caps.insert("assistance".to_string(), assistance.annual_cap);
    }
    let drug = match terms.outpatient_negotiated.annual_max_basis {
        AnnualMaxBasis::FundPayment => DRUG,
        AnnualMaxBasis::EligibleCost => DRUG_COST,
    };
    for line in lines {
        if let LineCoverage::Covered { treatment: Treatment::OutpatientNegotiated { annual_max }, .. } = &line.coverage {
            caps.entry(format!("{drug}{}", line.med_list_codg)).and_modify(|cap| *cap = (*cap).min(*annual_max)).or_insert(*annual_max);
        }
    }
    caps
}

/// The accumulators (by name) that `accrual` adds to and whose total in `after` (the year with
/// the accrual, and whatever raced it, added) passes its cap in `caps`. Empty when the
/// settlement may stand; otherwise the caller gives the accrual back and computes the
/// settlement again from the totals as they now are. A settlement computed from the totals it
/// adds to never passes a cap (the store counts an accrual only on the year version it was
/// computed from, `store::year`): the engine's tests hold it to that with this.
#[cfg(test)]
pub(crate) fn over_caps(caps: &BTreeMap<String, Decimal>, accrual: &Accrual, after: &YearToDate) -> Vec<String> {
    let totals = after.by_name();
    accrual
        .by_name()
        .into_iter()
        .filter(|(name, amount)| *amount > Decimal::ZERO && caps.get(name).is_some_and(|cap| totals.get(name).copied().unwrap_or_default() > *cap))
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn totals_round_trip_through_accumulator_names() {
        let totals = Totals { pooled: dec!(1), per_drug: BTreeMap::from([("O1".into(), dec!(2))]), assistance: dec!(3), ..Totals::default() };
        assert_eq!(Totals::from_names(&totals.by_name()), totals);
        assert_eq!(totals.by_name()["drug:O1"], dec!(2));
        assert_eq!(totals.by_name().len(), 7);
        // the eligible cost counted per drug has names of its own, apart from the fund's payments
        let costs = Totals { per_drug_cost: BTreeMap::from([("O1".into(), dec!(4))]), ..totals.clone() };
        assert_eq!((costs.by_name()["drug:O1"], costs.by_name()["drug_cost:O1"]), (dec!(2), dec!(4)));
        assert_eq!(Totals::from_names(&costs.by_name()), costs);
        assert_ne!(costs, totals);
    }

    #[test]
    fn a_year_or_accrual_stored_before_the_drug_cost_existed_reads_as_none_counted() {
        let stored = serde_json::json!({"ordinary_deductible": "0", "outpatient_deductible": "300", "pooled": "10", "per_drug": {"O1": "10"}, "critical_illness_base": "0", "critical_illness": "0", "assistance": "0"});
        let read: Totals = serde_json::from_value(stored.clone()).expect("reads");
        assert!(read.per_drug_cost.is_empty());
        // and is written as it was while nothing is counted
        assert_eq!(serde_json::to_value(&read).unwrap(), stored);
    }

    #[test]
    fn a_reversal_takes_off_exactly_what_the_settlement_added() {
        let ytd = Totals { pooled: dec!(100.10), per_drug: BTreeMap::from([("O1".into(), dec!(0)), ("O2".into(), dec!(5))]), ..Totals::default() };
        let accrual = Totals { pooled: dec!(20.05), per_drug: BTreeMap::from([("O1".into(), dec!(20.05)), ("O3".into(), dec!(1))]), ..Totals::default() };
        let after = ytd.plus(&accrual);
        assert_eq!((after.pooled, after.per_drug["O1"], after.per_drug["O3"]), (dec!(120.15), dec!(20.05), dec!(1)));
        // a drug at 0 and a drug missing are the same year
        assert_eq!(after.minus(&accrual), ytd);
        assert_ne!(after, ytd);
    }

    #[test]
    fn only_a_total_the_settlement_adds_to_can_pass_its_cap() {
        let caps = BTreeMap::from([("pooled".to_string(), dec!(100)), ("ordinary_deductible".to_string(), dec!(400))]);
        // the year used a tier-3 deductible of 800: past the tier-2 cap, but this settlement
        // adds nothing to it
        let accrual = Totals { pooled: dec!(60), ..Totals::default() };
        let after = Totals { pooled: dec!(100), ordinary_deductible: dec!(800), ..Totals::default() };
        assert_eq!(over_caps(&caps, &accrual, &after), Vec::<String>::new());
        // another settlement raced it: 60 + 50 passes 100
        let raced = after.plus(&Totals { pooled: dec!(50), ..Totals::default() });
        assert_eq!(over_caps(&caps, &accrual, &raced), ["pooled"]);
    }

    #[test]
    fn a_years_figures_are_checked_at_their_pointers() {
        let mut problems = Vec::new();
        let year = Totals {
            ordinary_deductible: dec!(-1),
            critical_illness: dec!(0.001),
            per_drug: BTreeMap::from([("a/b".into(), dec!(1)), ("O1".into(), MAX_TOTAL + dec!(0.01))]),
            ..Totals::default()
        };
        year.check("/year_to_date", &mut problems);
        let fields: Vec<String> = problems.into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["/year_to_date/ordinary_deductible", "/year_to_date/critical_illness", "/year_to_date/per_drug/O1", "/year_to_date/per_drug/a~1b"]);
    }
}
