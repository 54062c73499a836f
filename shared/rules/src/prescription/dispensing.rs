//! What a pharmacy records when it dispenses (P6, P7): per prescription line the quantity
//! handed out, the batch, and the traceability code of every pack.

use super::is_traceability_code;
use super::precheck::Prescription;
use crate::registry::{FieldProblem, check_text};
use crate::role::is_code;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The most packs one line may record: more is a hostile or broken body.
pub const MAX_PACKS_PER_LINE: usize = 200;
const BATCH_CHARS: usize = 40;

/// A dispensing as the pharmacy's system sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dispensing {
    /// The pharmacy's own dispensing number: a retry with the same number completes an
    /// interrupted dispensing.
    pub dispensing_no: String,
    pub lines: Vec<DispensedLine>,
}

/// One prescription line as dispensed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispensedLine {
    pub med_list_codg: String,
    /// Production batch (批号).
    pub batch: String,
    /// Quantity handed out, in the prescription line's unit.
    pub drug_cnt: Decimal,
    /// The traceability code (`drug_trac_codg`) of every pack handed out.
    pub drug_trac_codg: Vec<String>,
}

/// Everything wrong with a dispensing of `rx`: every prescribed line dispensed once, no more
/// than prescribed, a batch, and well-formed traceability codes, none twice (P7).
pub fn dispensing_problems(rx: &Prescription, dispensing: &Dispensing) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    if !is_code(&dispensing.dispensing_no) {
        problems.push(FieldProblem::new("/dispensing_no", "1 to 64 letters, digits, '-' or '_'"));
    }
    if dispensing.lines.len() > rx.lines.len() {
        problems.push(FieldProblem::new("/lines", format!("the prescription has {} lines", rx.lines.len())));
        return problems;
    }
    for (n, prescribed) in rx.lines.iter().enumerate() {
        if !dispensing.lines.iter().any(|line| line.med_list_codg == prescribed.med_list_codg) {
            problems.push(FieldProblem::new("/lines", format!("line {n} ({}) is not dispensed", prescribed.med_list_codg)).rule("P6"));
        }
    }
    let mut seen_codes = std::collections::HashSet::new();
    for (i, line) in dispensing.lines.iter().enumerate() {
        let at = |field: &str| format!("/lines/{i}/{field}");
        let prescribed = rx.lines.iter().find(|p| p.med_list_codg == line.med_list_codg);
        match prescribed {
            None => problems.push(FieldProblem::new(at("med_list_codg"), "the drug is not on the prescription").rule("P6")),
            Some(_) if dispensing.lines[..i].iter().any(|earlier| earlier.med_list_codg == line.med_list_codg) => {
                problems.push(FieldProblem::new(at("med_list_codg"), "the drug is already on an earlier line"));
            }
            Some(prescribed) if line.drug_cnt <= Decimal::ZERO || line.drug_cnt > prescribed.drug_cnt || line.drug_cnt.normalize().scale() > 2 => {
                problems.push(FieldProblem::new(at("drug_cnt"), format!("above 0 and at most the {} prescribed", prescribed.drug_cnt)).rule("M3"));
            }
            Some(_) => {}
        }
        check_text(&mut problems, &at("batch"), &line.batch, BATCH_CHARS);
        if line.drug_trac_codg.is_empty() || line.drug_trac_codg.len() > MAX_PACKS_PER_LINE {
            problems.push(FieldProblem::new(at("drug_trac_codg"), format!("the codes of the 1 to {MAX_PACKS_PER_LINE} packs handed out")).rule("P7"));
            continue;
        }
        for (k, code) in line.drug_trac_codg.iter().enumerate() {
            if !is_traceability_code(code) {
                problems.push(FieldProblem::new(format!("/lines/{i}/drug_trac_codg/{k}"), "a traceability code is 20 digits").rule("P7"));
            } else if !seen_codes.insert(code.as_str()) {
                problems.push(FieldProblem::new(format!("/lines/{i}/drug_trac_codg/{k}"), "the same pack is listed twice").rule("P7"));
            }
        }
    }
    problems
}

/// Every traceability code of a dispensing, in order.
pub fn traceability_codes(dispensing: &Dispensing) -> impl Iterator<Item = &str> {
    dispensing.lines.iter().flat_map(|line| line.drug_trac_codg.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prescription::precheck::tests::prescription;
    use crate::prescription::precheck::RxLine;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    /// The `n`-th traceability code: 20 digits.
    fn code(n: u64) -> String {
        format!("8{n:019}")
    }

    /// `prescribed` dispensed in full, one pack per code.
    fn dispensed(prescribed: &RxLine, codes: &[u64]) -> DispensedLine {
        DispensedLine {
            med_list_codg: prescribed.med_list_codg.clone(),
            batch: "B20250301".into(),
            drug_cnt: prescribed.drug_cnt,
            drug_trac_codg: codes.iter().map(|n| code(*n)).collect(),
        }
    }

    /// Every line of `rx` dispensed in full, two packs each, no code twice.
    fn complete(rx: &Prescription) -> Dispensing {
        let lines = rx.lines.iter().zip(0..).map(|(line, i)| dispensed(line, &[10 * i + 1, 10 * i + 2])).collect();
        Dispensing { dispensing_no: "D-20250310_0001".into(), lines }
    }

    /// A prescription of two drugs, and its complete dispensing.
    fn two_drugs() -> (Prescription, Dispensing) {
        let rx = prescription(&["XL01", "XA02"]);
        let dispensing = complete(&rx);
        (rx, dispensing)
    }

    /// (field, rule) of each problem, in order.
    fn found(problems: &[FieldProblem]) -> Vec<(&str, Option<&str>)> {
        problems.iter().map(|p| (p.field.as_str(), p.rule)).collect()
    }

    #[test]
    fn a_complete_dispensing_passes() {
        let (rx, dispensing) = two_drugs();
        assert_eq!(dispensing_problems(&rx, &dispensing), []);
        // in any order, and less than prescribed
        let mut partial = dispensing.clone();
        partial.lines.reverse();
        partial.lines[0].drug_cnt = dec!(0.5);
        assert_eq!(dispensing_problems(&rx, &partial), []);
    }

    #[test]
    fn every_prescribed_line_is_dispensed() {
        // rule P6
        let (rx, mut dispensing) = two_drugs();
        dispensing.lines.remove(0);
        assert_eq!(found(&dispensing_problems(&rx, &dispensing)), [("/lines", Some("P6"))]);
        dispensing.lines.clear();
        assert_eq!(found(&dispensing_problems(&rx, &dispensing)), [("/lines", Some("P6")); 2]);
    }

    #[test]
    fn a_drug_not_on_the_prescription_is_refused() {
        // rule P6: and the prescribed drug it replaced is missing
        let (rx, mut dispensing) = two_drugs();
        dispensing.lines[1].med_list_codg = "ZZ99".into();
        assert_eq!(found(&dispensing_problems(&rx, &dispensing)), [("/lines", Some("P6")), ("/lines/1/med_list_codg", Some("P6"))]);
    }

    #[test]
    fn a_drug_is_dispensed_on_one_line() {
        let (rx, mut dispensing) = two_drugs();
        dispensing.lines[1].med_list_codg = "XL01".into();
        assert_eq!(found(&dispensing_problems(&rx, &dispensing)), [("/lines", Some("P6")), ("/lines/1/med_list_codg", None)]);
    }

    #[test]
    fn no_more_than_prescribed_is_dispensed() {
        // rule M3
        let (rx, dispensing) = two_drugs();
        for drug_cnt in [rx.lines[0].drug_cnt + dec!(0.01), Decimal::ZERO, dec!(-1), dec!(1.005)] {
            let mut dispensing = dispensing.clone();
            dispensing.lines[0].drug_cnt = drug_cnt;
            assert_eq!(found(&dispensing_problems(&rx, &dispensing)), [("/lines/0/drug_cnt", Some("M3"))], "{drug_cnt}");
        }
        // the prescribed quantity written with trailing zeros is the same quantity
        let mut dispensing = dispensing;
        dispensing.lines[0].drug_cnt = rx.lines[0].drug_cnt + dec!(0.000);
        assert_eq!(found(&dispensing_problems(&rx, &dispensing)), []);
    }

    #[test]
    fn a_dispensing_number_is_a_code() {
        let (rx, dispensing) = two_drugs();
        for dispensing_no in ["", "D 1", "发药-1", &"D".repeat(65)] {
            let dispensing = Dispensing { dispensing_no: dispensing_no.into(), ..dispensing.clone() };
            assert_eq!(found(&dispensing_problems(&rx, &dispensing)), [("/dispensing_no", None)], "{dispensing_no:?}");
        }
    }

    #[test]
    fn a_batch_is_recorded() {
        let (rx, mut dispensing) = two_drugs();
        dispensing.lines[1].batch = " ".into();
        assert_eq!(found(&dispensing_problems(&rx, &dispensing)), [("/lines/1/batch", None)]);
    }

    #[test]
    fn a_line_records_one_to_two_hundred_pack_codes() {
        // rule P7
        let (rx, dispensing) = two_drugs();
        let with_packs = |packs: u64| {
            let mut dispensing = dispensing.clone();
            dispensing.lines[0].drug_trac_codg = (1000..1000 + packs).map(code).collect();
            dispensing_problems(&rx, &dispensing)
        };
        assert_eq!(found(&with_packs(0)), [("/lines/0/drug_trac_codg", Some("P7"))]);
        assert_eq!(with_packs(MAX_PACKS_PER_LINE as u64), []);
        assert_eq!(found(&with_packs(MAX_PACKS_PER_LINE as u64 + 1)), [("/lines/0/drug_trac_codg", Some("P7"))]);
    }

    #[test]
    fn a_malformed_traceability_code_is_refused() {
        // rule P7
        let (rx, mut dispensing) = two_drugs();
        dispensing.lines[0].drug_trac_codg[1] = "8123456789012345678".into();
        assert_eq!(found(&dispensing_problems(&rx, &dispensing)), [("/lines/0/drug_trac_codg/1", Some("P7"))]);
    }

    #[test]
    fn the_same_pack_is_not_dispensed_twice() {
        // rule P7: across lines and within one
        let (rx, dispensing) = two_drugs();
        let mut across = dispensing.clone();
        across.lines[1].drug_trac_codg[0] = across.lines[0].drug_trac_codg[1].clone();
        assert_eq!(found(&dispensing_problems(&rx, &across)), [("/lines/1/drug_trac_codg/0", Some("P7"))]);
        let mut within = dispensing;
        let first = within.lines[0].drug_trac_codg[0].clone();
        within.lines[0].drug_trac_codg.push(first);
        assert_eq!(found(&dispensing_problems(&rx, &within)), [("/lines/0/drug_trac_codg/2", Some("P7"))]);
    }

    #[test]
    fn more_lines_than_the_prescription_has_are_refused_whole() {
        let (rx, mut dispensing) = two_drugs();
        // the extra line is otherwise malformed: it is not read
        dispensing.lines.push(DispensedLine { batch: String::new(), drug_trac_codg: Vec::new(), ..dispensing.lines[0].clone() });
        assert_eq!(found(&dispensing_problems(&rx, &dispensing)), [("/lines", None)]);
    }

    #[test]
    fn traceability_codes_are_listed_in_order() {
        let (_, dispensing) = two_drugs();
        let codes: Vec<&str> = traceability_codes(&dispensing).collect();
        assert_eq!(codes, [code(1), code(2), code(11), code(12)]);
    }

    /// A prescription of up to five drugs, its lines dispensed in some order with quantities
    /// within the prescribed, one to five packs each, every code distinct.
    fn valid_dispensing() -> impl Strategy<Value = (Prescription, Dispensing)> {
        let line = (1..=999_900i64, any::<prop::sample::Index>(), 1..=5usize);
        (
            prop::collection::vec(line, 1..=5),
            Just((0..5).collect::<Vec<usize>>()).prop_shuffle(),
            prop::collection::hash_set("[0-9]{20}", 25),
        )
            .prop_map(|(lines, order, codes)| {
                const DRUGS: [&str; 5] = ["XL01", "XL02", "XA01", "XA02", "XB01"];
                let mut rx = prescription(&DRUGS[..lines.len()]);
                let mut codes = codes.into_iter();
                let mut dispensed = Vec::new();
                for (prescribed, (cents, share, packs)) in rx.lines.iter_mut().zip(&lines) {
                    prescribed.drug_cnt = Decimal::new(*cents, 2);
                    let given = 1 + share.index(*cents as usize) as i64;
                    dispensed.push(DispensedLine {
                        med_list_codg: prescribed.med_list_codg.clone(),
                        batch: "B20250301".into(),
                        drug_cnt: Decimal::new(given, 2),
                        drug_trac_codg: codes.by_ref().take(*packs).collect(),
                    });
                }
                let lines = order.into_iter().filter(|i| *i < dispensed.len()).map(|i| dispensed[i].clone()).collect();
                (rx, Dispensing { dispensing_no: "D-1".into(), lines })
            })
    }

    proptest! {
        /// Rules P6, P7: every prescribed drug, within the prescribed quantity, each pack once.
        #[test]
        fn a_dispensing_within_the_prescription_with_distinct_codes_passes((rx, dispensing) in valid_dispensing()) {
            prop_assert_eq!(dispensing_problems(&rx, &dispensing), vec![]);
        }

        /// Rule P7: a pack listed twice, on one line or two, is always caught.
        #[test]
        fn a_repeated_traceability_code_is_always_caught(
            (rx, mut dispensing) in valid_dispensing(),
            from in any::<prop::sample::Index>(),
            to in any::<prop::sample::Index>(),
        ) {
            let places: Vec<(usize, usize)> = dispensing
                .lines
                .iter()
                .enumerate()
                .flat_map(|(i, line)| (0..line.drug_trac_codg.len()).map(move |k| (i, k)))
                .collect();
            let (from, to) = (from.get(&places), to.get(&places));
            prop_assume!(from != to);
            dispensing.lines[to.0].drug_trac_codg[to.1] = dispensing.lines[from.0].drug_trac_codg[from.1].clone();
            let problems = dispensing_problems(&rx, &dispensing);
            prop_assert!(problems.iter().any(|p| p.rule == Some("P7")), "{:?}", problems);
            prop_assert!(problems.iter().all(|p| p.rule == Some("P7")), "{:?}", problems);
        }
    }
}
