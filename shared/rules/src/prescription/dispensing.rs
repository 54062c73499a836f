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
            Some(prescribed) if line.drug_cnt <= Decimal::ZERO || line.drug_cnt > prescribed.drug_cnt || line.drug_cnt.scale() > 2 => {
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
