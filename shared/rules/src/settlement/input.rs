//! What a settlement is computed from, besides the policy: the lines with their coverage (as
//! the catalogue decided it), the person, the prescribing institution's level and the person's
//! year so far, and the bounds that keep every sum of them exact and in range.

use super::engine::Step;
use super::year::Totals;
use crate::catalogue::{InsuranceClass, LocalRestriction, PatientFacts};
use crate::registry::{FieldProblem, Insutype, Level};
use crate::role::is_code;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// At most this many lines in one settlement.
pub const MAX_LINES: usize = 50;
/// The most units of a drug on one line.
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);
/// The highest unit price or payment standard, in yuan.
pub const MAX_PRICE: Decimal = Decimal::from_parts(10_000_000, 0, 0, false, 0);
/// The highest personal-account balance, in yuan.
pub const MAX_BALANCE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
/// The highest drug annual maximum (S4), in yuan: a policy amount's bound.
pub const MAX_ANNUAL_MAX: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 0);
/// The highest total a person's year may hold, in yuan: far above any cap, and whole fen of
/// it fit an `i64` counter.
pub const MAX_TOTAL: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

/// How a covered line is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Treatment {
    /// A dual-channel or other catalogue drug: the ordinary outpatient terms of the
    /// prescribing institution's level (S3).
    Ordinary,
    /// On the region's separate-payment list: the inpatient ratio, no deductible (S2).
    SeparatePayment,
    /// On the region's outpatient negotiated-drug list, with the drug's annual maximum of
    /// pooled-fund payments from that list (S4).
    OutpatientNegotiated { annual_max: Decimal },
}

/// Where the standard a line is paid against comes from. For the audit steps only: the
/// calculation is the same whatever the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum StandardBasis {
    Published,
    /// A `*` standard (C6): used here, never shown.
    Confidential,
    /// A drug the edition in force dropped, paid at its old standard until the date (C4).
    Transition { until: NaiveDate },
}

/// A line's coverage, as the catalogue decides it for the date and region. The caller resolves
/// the standard: published, the region's adjusted one (C5), a confidential amount through
/// `ConfidentialAmount::for_settlement` (C6), or the old standard of a transition drug (C4).
///
/// `Debug` never shows a confidential standard (C6).
#[derive(Clone, PartialEq, Eq)]
pub enum LineCoverage {
    /// Not payable on the date: the whole line is the patient's (`fulamt_ownpay_amt`).
    NotCovered { reason: String },
    /// `standard` is the payment standard per unit, `None` for a drug without one (a regular
    /// catalogue drug, a hospital preparation), which is paid on its actual price.
    Covered { standard: Option<Decimal>, basis: StandardBasis, class: InsuranceClass, treatment: Treatment },
}

impl fmt::Debug for LineCoverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineCoverage::NotCovered { reason } => f.debug_struct("NotCovered").field("reason", reason).finish(),
            LineCoverage::Covered { standard, basis, class, treatment } => {
                // Logs and panic messages are public enough to count as a leak (rule C6).
                let standard: &dyn fmt::Debug = match (basis, standard) {
                    (StandardBasis::Confidential, Some(_)) => &Withheld,
                    _ => standard,
                };
                f.debug_struct("Covered").field("standard", standard).field("basis", basis).field("class", class).field("treatment", treatment).finish()
            }
        }
    }
}

/// A confidential standard in `Debug` output.
struct Withheld;

impl fmt::Debug for Withheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Some(*)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementLine {
    pub med_list_codg: String,
    /// Units sold, above 0.
    pub quantity: Decimal,
    /// The actual price per unit.
    pub unit_price: Decimal,
    pub coverage: LineCoverage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonFacts {
    pub insutype: Insutype,
    /// The person's medical-assistance category (e.g. `low_income`), if any. A category the
    /// region's policy does not name pays no assistance, and a step says so.
    pub assistance_category: Option<String>,
    pub account_balance: Decimal,
}

/// Everything the calculation needs besides the policy (which the caller picks: the version
/// in force on the settlement's date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementInput {
    pub lines: Vec<SettlementLine>,
    pub person: PersonFacts,
    /// The prescribing institution's level (S3), also for a pharmacy's sale.
    pub institution_level: Level,
    /// The person's totals for the calendar year before this settlement.
    pub year_to_date: Totals,
    /// Steps of what the caller decided before the calculation, shown first: which outpatient
    /// lines the mechanism pays under the outpatient list's own restriction
    /// ([`outpatient_restriction`], C9).
    pub decided: Vec<Step>,
}

/// Rule C9 for the outpatient mechanism (S4): a line the catalogue gives the mechanism
/// (`coverage`), whose entry on the outpatient list carries a restriction of the city's own,
/// is paid by the mechanism only where that restriction is met ([`LocalRestriction::unmet`]:
/// its conditions against `facts`, or the text on the prescriber's attestation); otherwise it
/// is paid as an ordinary drug (S3), under the national restriction the pre-check checked.
/// Returns the line's coverage and the step that says which, and why.
pub fn outpatient_restriction(code: &str, coverage: LineCoverage, restriction: &LocalRestriction, facts: &PatientFacts<'_>, attested: bool) -> (LineCoverage, Step) {
    let LineCoverage::Covered { standard, basis, class, treatment: Treatment::OutpatientNegotiated { .. } } = coverage else {
        let step = Step { rule: "C9".into(), what: "the outpatient list's restriction applies only to the mechanism's lines".into(), input: code.to_string(), output: "unchanged".into() };
        return (coverage, step);
    };
    let unmet = restriction.unmet(facts, attested);
    let how = if restriction.is_structured() { "its conditions" } else { "the prescriber's attestation" };
    if unmet.is_empty() {
        let step = Step {
            rule: "C9".into(),
            what: "the outpatient list's own restriction is met: the outpatient mechanism pays (S4)".into(),
            input: format!("{code}: {} (by {how})", restriction.text),
            output: "outpatient_negotiated".into(),
        };
        return (coverage, step);
    }
    let step = Step {
        rule: "C9".into(),
        what: "the outpatient list's own restriction is not met: not paid by the outpatient mechanism (S4), paid as an ordinary outpatient drug (S3)".into(),
        input: format!("{code}: {} (by {how}): {}", restriction.text, unmet.join("; ")),
        output: "ordinary".into(),
    };
    (LineCoverage::Covered { standard, basis, class, treatment: Treatment::Ordinary }, step)
}

/// A decimal from `low` (exclusive or inclusive) to `max` with at most `scale` places.
pub(crate) fn bounded(problems: &mut Vec<FieldProblem>, field: String, value: Decimal, low_exclusive: bool, max: Decimal, scale: u32) {
    let too_low = if low_exclusive { value <= Decimal::ZERO } else { value < Decimal::ZERO };
    if too_low || value > max || value.normalize().scale() > scale {
        let low = if low_exclusive { "above 0" } else { "from 0" };
        problems.push(FieldProblem::new(field, format!("{low} to {max}, to {scale} decimal places")));
    }
}

impl SettlementInput {
    /// Every problem of the figures at once, each at a JSON Pointer into the input. Within
    /// these bounds no sum or product of the calculation can overflow.
    ///
    /// Prices, standards and quantities may have 4 decimal places (a tablet's price often has
    /// more than 2; the line's cost is rounded to the fen, S8); the balance, a drug's annual
    /// maximum and the year's totals are yuan amounts, 2 places.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            problems.push(FieldProblem::new("/lines", format!("1 to {MAX_LINES} lines")));
        }
        for (n, line) in self.lines.iter().enumerate().take(MAX_LINES) {
            if !is_code(&line.med_list_codg) {
                problems.push(FieldProblem::new(format!("/lines/{n}/med_list_codg"), "a catalogue code: 1 to 64 letters, digits, '-' or '_'"));
            }
            bounded(&mut problems, format!("/lines/{n}/quantity"), line.quantity, true, MAX_QUANTITY, 4);
            bounded(&mut problems, format!("/lines/{n}/unit_price"), line.unit_price, false, MAX_PRICE, 4);
            if let LineCoverage::Covered { standard, treatment, .. } = &line.coverage {
                if let Some(standard) = *standard {
                    // the reason names the bounds, never the figure (C6)
                    bounded(&mut problems, format!("/lines/{n}/standard"), standard, false, MAX_PRICE, 4);
                }
                if let Treatment::OutpatientNegotiated { annual_max } = *treatment {
                    bounded(&mut problems, format!("/lines/{n}/annual_max"), annual_max, false, MAX_ANNUAL_MAX, 2);
                }
            }
        }
        bounded(&mut problems, "/account_balance".into(), self.person.account_balance, false, MAX_BALANCE, 2);
        self.year_to_date.check("/year_to_date", &mut problems);
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn line(quantity: Decimal, price: Decimal, coverage: LineCoverage) -> SettlementLine {
        SettlementLine { med_list_codg: "X1".into(), quantity, unit_price: price, coverage }
    }

    fn covered(standard: Decimal, basis: StandardBasis, treatment: Treatment) -> LineCoverage {
        LineCoverage::Covered { standard: Some(standard), basis, class: InsuranceClass::A, treatment }
    }

    fn input(lines: Vec<SettlementLine>, balance: Decimal) -> SettlementInput {
        SettlementInput {
            lines,
            person: PersonFacts { insutype: Insutype::EmployeeBasic, assistance_category: None, account_balance: balance },
            institution_level: Level::Third,
            year_to_date: Totals::default(),
            decided: Vec::new(),
        }
    }

    fn fields(input: &SettlementInput) -> Vec<String> {
        input.problems().into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn the_bounds_name_the_largest_figures_that_keep_the_sums_exact() {
        assert_eq!(MAX_QUANTITY, dec!(100000));
        assert_eq!(MAX_PRICE, dec!(10000000));
        assert_eq!(MAX_BALANCE, dec!(1000000000));
        assert_eq!(MAX_ANNUAL_MAX, dec!(100000000));
        assert_eq!(MAX_TOTAL, dec!(1000000000000));
        assert!(crate::money::to_fen(MAX_TOTAL).is_ok());
    }

    #[test]
    fn every_bad_figure_is_reported_at_its_pointer_at_once() {
        let bad = vec![
            line(dec!(0), dec!(-1), covered(dec!(1.00001), StandardBasis::Published, Treatment::OutpatientNegotiated { annual_max: dec!(-5) })),
            SettlementLine { med_list_codg: "X 1".into(), ..line(dec!(100001), dec!(10000000.01), covered(dec!(1), StandardBasis::Published, Treatment::Ordinary)) },
            line(dec!(0.00001), dec!(1), LineCoverage::NotCovered { reason: "x".into() }),
        ];
        let mut input = input(bad, dec!(1.001));
        input.year_to_date.pooled = dec!(-0.01);
        input.year_to_date.per_drug.insert("O:1".into(), dec!(1.005));
        assert_eq!(
            fields(&input),
            [
                "/lines/0/quantity",
                "/lines/0/unit_price",
                "/lines/0/standard",
                "/lines/0/annual_max",
                "/lines/1/med_list_codg",
                "/lines/1/quantity",
                "/lines/1/unit_price",
                "/lines/2/quantity",
                "/account_balance",
                "/year_to_date/pooled",
                "/year_to_date/per_drug/O:1",
            ]
        );
    }

    #[test]
    fn a_settlement_has_one_to_fifty_lines() {
        assert_eq!(fields(&input(vec![], dec!(0))), ["/lines"]);
        let many = vec![line(dec!(1), dec!(1), LineCoverage::NotCovered { reason: "x".into() }); MAX_LINES + 1];
        assert_eq!(fields(&input(many, dec!(0))), ["/lines"]);
        let fine = vec![line(dec!(1.5), dec!(0.1234), covered(dec!(0.12), StandardBasis::Published, Treatment::Ordinary))];
        assert_eq!(fields(&input(fine, dec!(0))), Vec::<String>::new());
    }

    #[test]
    fn the_outpatient_lists_own_restriction_decides_whether_the_mechanism_pays() {
        // rule C9 for S4: 奥曲肽 on the city's list "限肢端肥大症" (E22.0)
        let restriction = LocalRestriction { text: "限肢端肥大症".into(), indications: vec!["E22.0".into()], min_age: None, max_age: None, specialties: vec![], min_line_of_therapy: None };
        let mechanism = covered(dec!(5000), StandardBasis::Published, Treatment::OutpatientNegotiated { annual_max: dec!(66000) });
        let facts = |diagnoses| PatientFacts { diagnoses, age: None, prescriber_specialty: None, line_of_therapy: None };
        let acromegaly = ["E22.000".to_string()];
        let (kept, step) = outpatient_restriction("O1", mechanism.clone(), &restriction, &facts(&acromegaly), false);
        assert_eq!((kept, step.rule.as_str(), step.output.as_str()), (mechanism.clone(), "C9", "outpatient_negotiated"));
        // a neuroendocrine tumour: nationally payable, not by the city's mechanism
        let tumour = ["C7A.0".to_string()];
        let (ordinary, step) = outpatient_restriction("O1", mechanism.clone(), &restriction, &facts(&tumour), true);
        assert_eq!(ordinary, covered(dec!(5000), StandardBasis::Published, Treatment::Ordinary));
        assert_eq!(step.output, "ordinary");
        assert!(step.input.contains("限肢端肥大症") && step.input.contains("E22.0"), "{step:?}");
        // a line the mechanism does not pay is left as it is
        let separate = covered(dec!(5000), StandardBasis::Published, Treatment::SeparatePayment);
        assert_eq!(outpatient_restriction("O1", separate.clone(), &restriction, &facts(&tumour), false).0, separate);
    }

    #[test]
    fn a_confidential_standard_is_never_debugged_nor_named_in_a_problem() {
        // rule C6
        let secret = line(dec!(1), dec!(1), covered(dec!(4321.5678), StandardBasis::Confidential, Treatment::SeparatePayment));
        let mut out_of_range = secret.clone();
        out_of_range.coverage = covered(dec!(98765432.1), StandardBasis::Confidential, Treatment::SeparatePayment);
        let input = input(vec![secret, out_of_range], dec!(0));
        let shown = format!("{input:?} {:?}", input.problems());
        assert!(!shown.contains("4321") && !shown.contains("98765432"), "{shown}");
        assert!(shown.contains("Some(*)"), "{shown}");
        // a published one is shown as it is
        let published = format!("{:?}", covered(dec!(4321.5678), StandardBasis::Published, Treatment::Ordinary));
        assert!(published.contains("4321.5678"), "{published}");
    }
}
