//! Rule S1 across units (issue 14 item 3). A payment standard is quoted per specification (C3):
//! `63.00元(10mg/支)` is 63.00 per 支, `479.00元/盒(…)` 479.00 per 盒. A line's `unit_price` is
//! per the line's own unit: a prescription line's `drug_dosunt`, a visit line's `drug_dosunt`
//! (else the unit its `drug_spec` names). S1 compares the price with the standard, so both must
//! be per the same unit: the same unit is compared directly; a line in another unit that states
//! its `pack_size` (how many of the standard's units one line unit holds: a 盒 of 10 支 is 10)
//! is compared with the standard × `pack_size`; any other line is refused, never settled with
//! the difference charged to the patient as "above the standard".
//!
//! A standard whose unit cannot be read (a specification without `/`, or with a measure after
//! it such as `0.5g/10ml`, and no `per`) and a line without a unit are compared as they always
//! were: the standard is taken to be per the line's unit. That keeps every settlement of a
//! specification the text does not resolve as it was, and refuses only what is known to differ.

use super::engine::Step;
use super::input::{LineCoverage, MAX_PRICE, StandardBasis};
use rust_decimal::Decimal;

/// The most units of the standard one line unit may hold.
pub const MAX_PACK_SIZE: u32 = 10_000;

/// Whether `pack_size` is one a line may state: a whole number from 1 to [`MAX_PACK_SIZE`].
pub fn valid_pack_size(pack_size: u32) -> bool {
    (1..=MAX_PACK_SIZE).contains(&pack_size)
}

/// The unit a specification is counted in: the text after its last `/` outside brackets, up to
/// a bracket or a space (`10mg/支` → 支, `100mg (10ml)/瓶` → 瓶, `10mg/片(按C22H25FN2O4S计)` →
/// 片, `0. 1ml/支 预灌封注射器` → 支). `None` without a `/`, or when what follows it is a
/// measure (`0.5g/10ml`) or nothing.
pub fn unit_of_specification(specification: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut slash = None;
    for (at, c) in specification.char_indices() {
        match c {
            '(' | '（' | '[' | '【' => depth += 1,
            ')' | '）' | ']' | '】' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => slash = Some(at),
            _ => {}
        }
    }
    let tail = &specification[slash? + 1..];
    let end = tail.find(|c: char| matches!(c, '(' | '（' | '[' | '【') || c.is_whitespace()).unwrap_or(tail.len());
    let unit = tail[..end].trim();
    (!unit.is_empty() && !unit.chars().any(|c| c.is_ascii_digit() || c == '.')).then_some(unit)
}

/// The unit a payment standard is quoted per (C3): `per` when the cell names one
/// (`479.00元/盒(…)`), else the unit of its specification ([`unit_of_specification`]).
pub fn standard_unit<'a>(specification: Option<&'a str>, per: Option<&'a str>) -> Option<&'a str> {
    match per.map(str::trim).filter(|p| !p.is_empty()) {
        Some(per) => Some(per),
        None => specification.and_then(unit_of_specification),
    }
}

/// Why a line priced per `line_unit` cannot be compared with a standard quoted per
/// `standard_unit` (S1), if it cannot: another unit and no `pack_size`, or a `pack_size` out of
/// range. `None` for the same unit, a `pack_size` in range, or a unit that cannot be read.
pub fn unit_mismatch(code: &str, standard_unit: Option<&str>, line_unit: Option<&str>, pack_size: Option<u32>) -> Option<String> {
    let (standard_unit, line_unit) = (standard_unit?.trim(), line_unit?.trim());
    if standard_unit == line_unit || line_unit.is_empty() {
        return None;
    }
    match pack_size {
        None => Some(format!(
            "{code}: the line is priced per {line_unit} and its payment standard is per {standard_unit} (S1 compares like with like): state pack_size, how many {standard_unit} one {line_unit} holds"
        )),
        Some(pack_size) if !valid_pack_size(pack_size) => Some(format!("{code}: pack_size is a whole number from 1 to {MAX_PACK_SIZE}")),
        Some(_) => None,
    }
}

/// Rule S1 across units: the line's coverage with its standard per the line's unit, and the
/// step that says how, for line `code` priced per `line_unit` against a standard quoted per
/// `standard_unit`, the line stating `pack_size` or not (see the [module documentation](self)).
///
/// The coverage is unchanged, and no step is added, for a line not covered, a drug without a
/// standard, the same unit, or a unit that cannot be read on either side. A line in another
/// unit with a `pack_size` is paid against the standard × `pack_size`. `Err` (the settlement is
/// refused) for another unit without a `pack_size`, a `pack_size` out of range, or a standard
/// per line unit above [`MAX_PRICE`]. Neither the step nor the reason names a confidential
/// standard (C6).
pub fn in_line_units(code: &str, coverage: LineCoverage, standard_unit: Option<&str>, line_unit: Option<&str>, pack_size: Option<u32>) -> Result<(LineCoverage, Option<Step>), String> {
    let LineCoverage::Covered { standard: Some(standard), basis, class, treatment } = coverage else {
        return Ok((coverage, None));
    };
    let (Some(standard_unit), Some(line_unit)) = (standard_unit.map(str::trim), line_unit.map(str::trim)) else {
        return Ok((coverage, None));
    };
    if standard_unit == line_unit || line_unit.is_empty() {
        return Ok((coverage, None));
    }
    if let Some(reason) = unit_mismatch(code, Some(standard_unit), Some(line_unit), pack_size) {
        return Err(reason);
    }
    // another unit with a pack size in range (a missing one is the mismatch above)
    let Some(pack_size) = pack_size else { return Ok((coverage, None)) };
    let per_line_unit = standard * Decimal::from(pack_size);
    if per_line_unit > MAX_PRICE {
        // the reason names the bound, never the figure (C6)
        return Err(format!("{code}: the payment standard per {line_unit} (per {standard_unit} × {pack_size}) is above {MAX_PRICE}"));
    }
    let (input, output) = match basis {
        StandardBasis::Confidential => (format!("{code}: the confidential standard per {standard_unit} × {pack_size}"), "standard withheld".to_string()),
        StandardBasis::Published | StandardBasis::Transition { .. } => {
            (format!("{code}: standard {standard} per {standard_unit} × {pack_size}"), format!("standard {per_line_unit} per {line_unit}"))
        }
    };
    let step = Step {
        rule: "S1".into(),
        what: format!("the line is priced per {line_unit} of {pack_size} {standard_unit}, the payment standard per {standard_unit}: compared per {line_unit}"),
        input,
        output,
    };
    Ok((LineCoverage::Covered { standard: Some(per_line_unit), basis, class, treatment }, Some(step)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::InsuranceClass;
    use crate::registry::{Insutype, Level};
    use crate::settlement::input::{PersonFacts, SettlementInput, SettlementLine, Treatment};
    use crate::settlement::policy::tests::wuhan;
    use crate::settlement::year::Totals;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn covered(standard: Decimal, basis: StandardBasis) -> LineCoverage {
        LineCoverage::Covered { standard: Some(standard), basis, class: InsuranceClass::A, treatment: Treatment::SeparatePayment }
    }

    fn standard_of(coverage: &LineCoverage) -> Option<Decimal> {
        match coverage {
            LineCoverage::Covered { standard, .. } => *standard,
            LineCoverage::NotCovered { .. } => None,
        }
    }

    /// The breakdown of `quantity` line units at `price` against `coverage`.
    fn settled(quantity: Decimal, price: Decimal, coverage: LineCoverage) -> crate::settlement::Breakdown {
        let line = SettlementLine { med_list_codg: "X1".into(), quantity, unit_price: price, coverage };
        let person = PersonFacts { insutype: Insutype::EmployeeBasic, assistance_category: None, account_balance: Decimal::ZERO };
        let input = SettlementInput { lines: vec![line], person, institution_level: Level::Third, year_to_date: Totals::default(), decided: Vec::new() };
        assert!(input.problems().is_empty(), "{:?}", input.problems());
        crate::settlement::settle(&wuhan(), &input)
    }

    #[test]
    fn the_unit_of_a_specification_is_what_follows_its_last_slash() {
        // the shapes of the 2024 edition's specifications (see `catalogue::payment`)
        for (specification, unit) in [
            ("10mg/支", Some("支")),
            ("100mg (10ml)/瓶", Some("瓶")),
            ("10mg/片(按C22H25FN2O4S计)", Some("片")),
            ("1ml :12.5mg/支", Some("支")),
            ("0. 1ml/支 预灌封注射器", Some("支")),
            ("625ml/袋[中长链脂肪乳注射液125ml；  复方氨基酸(16)注射液250ml]", Some("袋")),
            ("粉体室1.0g；  液体室100ml:0.9g/袋", Some("袋")),
            ("5mg/ml", Some("ml")),
            // no unit to read: compared per the line's unit, as before
            ("0.5g/10ml", None),
            ("20mg", None),
            ("每粒胶囊含碘[131I]的放射性活度为37-3700MBq", None),
            ("10mg/", None),
        ] {
            assert_eq!(unit_of_specification(specification), unit, "{specification}");
        }
        // the cell's pack unit comes first (`479.00元/盒(…)`)
        assert_eq!(standard_unit(Some("先诺特韦片0.375g/利托那韦片0.1g,每盒30片"), Some("盒")), Some("盒"));
        assert_eq!(standard_unit(Some("10mg/支"), None), Some("支"));
        assert_eq!(standard_unit(None, None), None);
    }

    #[test]
    fn the_same_unit_is_compared_directly() {
        // rule S1: 1100.00 per 瓶 against 1000.00元(100mg/瓶): the existing settlements, unchanged
        let coverage = covered(dec!(1000), StandardBasis::Published);
        assert_eq!(in_line_units("X1", coverage.clone(), Some("瓶"), Some("瓶"), None), Ok((coverage.clone(), None)));
        // a pack size stated by a system that always sends it changes nothing
        assert_eq!(in_line_units("X1", coverage.clone(), Some("瓶"), Some(" 瓶 "), Some(10)), Ok((coverage, None)));
    }

    #[test]
    fn a_box_of_ten_is_compared_with_ten_times_the_standard() {
        // rule S1: 63.00元(10mg/支), a line of 1 盒 of 10 支 at 630.00: exactly at the standard
        let (coverage, step) = in_line_units("X1", covered(dec!(63.00), StandardBasis::Published), Some("支"), Some("盒"), Some(10)).unwrap();
        assert_eq!(standard_of(&coverage), Some(dec!(630.00)));
        let step = step.expect("a step");
        assert_eq!((step.rule.as_str(), step.input.as_str(), step.output.as_str()), ("S1", "X1: standard 63.00 per 支 × 10", "standard 630.00 per 盒"));
        let b = settled(dec!(1), dec!(630.00), coverage.clone());
        assert_eq!((b.overlmt_selfpay, b.inscp_scp_amt, b.lines[0].payment_standard), (dec!(0.00), dec!(630.00), Some(dec!(630.00))));
        // above it, the excess per 盒 is the patient's: 2 × (650.00 − 630.00)
        assert_eq!(settled(dec!(2), dec!(650.00), coverage).overlmt_selfpay, dec!(40.00));
        // what the line was compared with before: 9/10 of the box "above the standard"
        let before = settled(dec!(1), dec!(630.00), covered(dec!(63.00), StandardBasis::Published));
        assert_eq!(before.overlmt_selfpay, dec!(567.00));
    }

    #[test]
    fn another_unit_without_a_pack_size_is_refused_naming_both_units() {
        // rule S1: never charged the difference as "above the standard"
        let refused = in_line_units("X1", covered(dec!(63.00), StandardBasis::Published), Some("支"), Some("盒"), None).unwrap_err();
        assert!(refused.contains("per 盒") && refused.contains("per 支") && refused.contains("pack_size"), "{refused}");
        for bad in [0, MAX_PACK_SIZE + 1] {
            assert!(in_line_units("X1", covered(dec!(63.00), StandardBasis::Published), Some("支"), Some("盒"), Some(bad)).is_err());
        }
        // a standard per 盒 would pass the highest standard settled: refused, not out of range
        let dear = in_line_units("X1", covered(dec!(5000), StandardBasis::Published), Some("支"), Some("盒"), Some(MAX_PACK_SIZE));
        assert!(dear.is_err_and(|reason| reason.contains("above")));
    }

    #[test]
    fn what_cannot_be_read_is_compared_as_before() {
        let coverage = covered(dec!(63.00), StandardBasis::Published);
        // a standard without a unit, a line without one
        assert_eq!(in_line_units("X1", coverage.clone(), None, Some("盒"), None), Ok((coverage.clone(), None)));
        assert_eq!(in_line_units("X1", coverage.clone(), Some("支"), None, None), Ok((coverage, None)));
        // a drug without a standard, a line not covered: nothing to compare
        let plain = LineCoverage::Covered { standard: None, basis: StandardBasis::Published, class: InsuranceClass::A, treatment: Treatment::Ordinary };
        assert_eq!(in_line_units("X1", plain.clone(), Some("支"), Some("盒"), None), Ok((plain, None)));
        let not = LineCoverage::NotCovered { reason: "x".into() };
        assert_eq!(in_line_units("X1", not.clone(), Some("支"), Some("盒"), None), Ok((not, None)));
    }

    #[test]
    fn a_confidential_standard_is_converted_but_never_shown() {
        // rule C6
        let (coverage, step) = in_line_units("X1", covered(dec!(4321.5678), StandardBasis::Confidential), Some("支"), Some("盒"), Some(10)).unwrap();
        assert_eq!(standard_of(&coverage), Some(dec!(43215.678)));
        let shown = format!("{step:?} {coverage:?}");
        assert!(!shown.contains("4321") && !shown.contains("43215"), "{shown}");
        assert_eq!(step.map(|s| s.output), Some("standard withheld".to_string()));
        let refused = in_line_units("X1", covered(dec!(4321.5678), StandardBasis::Confidential), Some("支"), Some("盒"), Some(MAX_PACK_SIZE)).unwrap_err();
        assert!(!refused.contains("4321"), "{refused}");
    }

    proptest! {
        #[test]
        fn a_pack_of_n_units_at_n_times_the_standard_is_exactly_at_the_standard(
            cents in 1i64..1_000_000, pack_size in 1u32..=500, quantity in 1i64..100, above in 0i64..10_000,
        ) {
            // rule S1: like with like: q packs of n units at n × standard (+ d) put exactly
            // q × d above the standard, never q × (n − 1) × standard
            let standard = Decimal::new(cents, 2);
            let (coverage, _) = in_line_units("X1", covered(standard, StandardBasis::Published), Some("支"), Some("盒"), Some(pack_size)).unwrap();
            let quantity = Decimal::from(quantity);
            let excess = Decimal::new(above, 2);
            let b = settled(quantity, standard * Decimal::from(pack_size) + excess, coverage);
            prop_assert_eq!(b.overlmt_selfpay, quantity * excess);
            prop_assert_eq!(b.lines[0].payment_standard, Some(standard * Decimal::from(pack_size)));
            // and without the pack size the line is refused
            prop_assert!(in_line_units("X1", covered(standard, StandardBasis::Published), Some("支"), Some("盒"), None).is_err());
        }
    }
}
