//! Returns (退药): packs handed back to the pharmacy after a dispensing. A return names the
//! traceability code of each pack handed back; a line's quantity goes down in proportion to its
//! packs handed back (the last pack of a line takes back what remains); a pack is returned at
//! most once. The kept quantities are what a settlement pays for (S8: the settlement of the
//! whole is reversed first, the rest settled again).

use super::dispensing::Dispensing;
use crate::registry::{FieldProblem, check_text};
use crate::role::is_code;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

const REASON_CHARS: usize = 500;

/// A return as the pharmacy's system sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Return {
    /// The pharmacy's own return number: the same return sent again is answered, not repeated.
    pub return_no: String,
    /// The traceability codes of the packs handed back.
    pub drug_trac_codg: Vec<String>,
    pub reason: String,
}

/// What one return took back from one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnedLine {
    pub med_list_codg: String,
    /// In the prescription line's unit.
    pub drug_cnt: Decimal,
    pub drug_trac_codg: Vec<String>,
}

/// The lines `ret` takes back from `dispensing`, after the earlier returns `earlier`; or every
/// problem: a malformed number or reason, no pack, a pack this dispensing did not hand out, a
/// pack returned before or named twice (P7).
pub fn returned_lines(dispensing: &Dispensing, earlier: &[ReturnedLine], ret: &Return) -> Result<Vec<ReturnedLine>, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    if !is_code(&ret.return_no) {
        problems.push(FieldProblem::new("/return_no", "1 to 64 letters, digits, '-' or '_'"));
    }
    check_text(&mut problems, "/reason", &ret.reason, REASON_CHARS);
    if ret.drug_trac_codg.is_empty() {
        problems.push(FieldProblem::new("/drug_trac_codg", "the code of each pack handed back").rule("P7"));
    }
    let returned_before: HashSet<&str> = earlier.iter().flat_map(|l| l.drug_trac_codg.iter().map(String::as_str)).collect();
    let mut named = HashSet::new();
    for (k, code) in ret.drug_trac_codg.iter().enumerate() {
        let at = format!("/drug_trac_codg/{k}");
        if !named.insert(code.as_str()) {
            problems.push(FieldProblem::new(at, "the same pack is named twice").rule("P7"));
        } else if !dispensing.lines.iter().any(|line| line.drug_trac_codg.contains(code)) {
            problems.push(FieldProblem::new(at, "not a pack of this dispensing").rule("P7"));
        } else if returned_before.contains(code.as_str()) {
            problems.push(FieldProblem::new(at, "this pack was returned before").rule("P7"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut lines = Vec::new();
    for line in &dispensing.lines {
        let back: Vec<String> = line.drug_trac_codg.iter().filter(|code| named.contains(code.as_str())).cloned().collect();
        if back.is_empty() {
            continue;
        }
        let before: Vec<&ReturnedLine> = earlier.iter().filter(|l| l.med_list_codg == line.med_list_codg).collect();
        let packs_left = line.drug_trac_codg.len() - before.iter().map(|l| l.drug_trac_codg.len()).sum::<usize>();
        let left = line.drug_cnt - before.iter().map(|l| l.drug_cnt).sum::<Decimal>();
        let drug_cnt = if back.len() == packs_left {
            left
        } else {
            // quantities have at most 2 places (as a dispensing's)
            let share = line.drug_cnt * Decimal::from(back.len() as u64) / Decimal::from(line.drug_trac_codg.len() as u64);
            share.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero).min(left)
        };
        lines.push(ReturnedLine { med_list_codg: line.med_list_codg.clone(), drug_cnt, drug_trac_codg: back });
    }
    Ok(lines)
}

/// What is kept of each dispensed line after the returns: its quantity less what was handed
/// back; lines handed back whole are left out.
pub fn kept(dispensing: &Dispensing, returned: &[ReturnedLine]) -> Vec<(String, Decimal)> {
    dispensing
        .lines
        .iter()
        .map(|line| {
            let back: Decimal = returned.iter().filter(|r| r.med_list_codg == line.med_list_codg).map(|r| r.drug_cnt).sum();
            (line.med_list_codg.clone(), line.drug_cnt - back)
        })
        .filter(|(_, kept)| *kept > Decimal::ZERO)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prescription::dispensing::DispensedLine;
    use rust_decimal_macros::dec;

    fn dispensing() -> Dispensing {
        let line = |code: &str, cnt: Decimal, packs: &[&str]| DispensedLine {
            med_list_codg: code.into(),
            batch: "B1".into(),
            drug_cnt: cnt,
            drug_trac_codg: packs.iter().map(|p| p.to_string()).collect(),
        };
        Dispensing { dispensing_no: "D-1".into(), lines: vec![line("X1", dec!(2), &["A1", "A2"]), line("X2", dec!(1), &["B1", "B2", "B3"])] }
    }

    fn ret(no: &str, packs: &[&str]) -> Return {
        Return { return_no: no.into(), drug_trac_codg: packs.iter().map(|p| p.to_string()).collect(), reason: "过敏停药".into() }
    }

    #[test]
    fn a_return_takes_back_each_line_in_proportion_to_its_packs() {
        let d = dispensing();
        let first = returned_lines(&d, &[], &ret("T-1", &["A2", "B1"])).unwrap();
        assert_eq!(first.iter().map(|l| (l.med_list_codg.as_str(), l.drug_cnt)).collect::<Vec<_>>(), [("X1", dec!(1)), ("X2", dec!(0.33))]);
        assert_eq!(kept(&d, &first), [("X1".to_string(), dec!(1)), ("X2".to_string(), dec!(0.67))]);
        // the last packs of a line take back exactly what remains
        let second = returned_lines(&d, &first, &ret("T-2", &["B2", "B3"])).unwrap();
        assert_eq!(second[0].drug_cnt, dec!(0.67));
        let all: Vec<ReturnedLine> = first.into_iter().chain(second).collect();
        assert_eq!(kept(&d, &all), [("X1".to_string(), dec!(1))]);
    }

    #[test]
    fn a_pack_is_returned_once_and_only_if_it_was_handed_out() {
        // rule P7: every problem at once
        let d = dispensing();
        let first = returned_lines(&d, &[], &ret("T-1", &["A1"])).unwrap();
        let problems = returned_lines(&d, &first, &ret("T 2", &["A1", "C9", "B1", "B1"])).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["/return_no", "/drug_trac_codg/0", "/drug_trac_codg/1", "/drug_trac_codg/3"]);
        assert!(returned_lines(&d, &[], &ret("T-3", &[])).is_err());
    }
}
