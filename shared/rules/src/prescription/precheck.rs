//! What a prescription says and the checks the center runs on it before it may be uploaded
//! (like the national 电子处方上传预核验): its shape, then every rule against the facts the
//! registry, the catalogue, the filings and the region's policy give, all violations at once.

use super::{LineKind, mixed_lines, paper_refusal};
use crate::catalogue::{PatientFacts, StructuredRestriction};
use crate::filing::{Standing, is_icd10};
use crate::registry::{BenefitStatus, FieldProblem, Institution, Person, Pharmacy, Physician, check_text};
use crate::role::is_code;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The most drugs one prescription may carry (a prescription lists at most five drugs).
pub const MAX_LINES: usize = 5;
/// The longest supply any prescription may give: a long prescription covers at most 12 weeks.
pub const LONGEST_SUPPLY_DAYS: u32 = 84;
/// The longest validity any region may set for a prescription, in days.
pub const LONGEST_VALIDITY_DAYS: u32 = 30;
const MAX_DIAGNOSES: usize = 20;
const TEXT_CHARS: usize = 100;

/// `rx_exra_attr_code`: what kind of prescription it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExtraAttribute {
    /// 01: a dual-channel prescription, filled at a designated pharmacy or the hospital.
    #[serde(rename = "01")]
    DualChannel,
    /// 02: an outpatient pooled-fund prescription.
    #[serde(rename = "02")]
    OutpatientPooled,
    /// 99: any other.
    #[serde(rename = "99")]
    Other,
}

/// Whether the prescription was written electronically or on paper (P1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    #[default]
    Electronic,
    Paper,
}

/// A prescription as the prescribing physician's system sends it, in the national interface's
/// field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prescription {
    /// The institution's own prescription number (医院处方编号): uploads are idempotent on it.
    pub hosp_rxno: String,
    pub psn_no: String,
    pub fixmedins_code: String,
    pub dr_code: String,
    pub rx_exra_attr_code: ExtraAttribute,
    /// ICD-10 codes of the diagnoses.
    pub diagnoses: Vec<String>,
    /// Where a drug's restriction depends on them (C9).
    #[serde(default)]
    pub patient_age: Option<u32>,
    #[serde(default)]
    pub line_of_therapy: Option<u8>,
    #[serde(default)]
    pub medium: Medium,
    /// Days the prescription stays valid from upload, the upload day included (P8).
    pub vali_days: u32,
    /// The designated pharmacy that is to fill it (`fixmedins_code`), when chosen; for
    /// separate-payment drugs it is the filing's fixed pharmacy (I4).
    #[serde(default)]
    pub pharmacy: Option<String>,
    pub lines: Vec<RxLine>,
}

/// One drug on a prescription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RxLine {
    /// The drug's catalogue code.
    pub med_list_codg: String,
    pub drug_dosform: String,
    pub drug_spec: String,
    /// Quantity, in `drug_dosunt`.
    pub drug_cnt: Decimal,
    pub drug_dosunt: String,
    /// Days of supply.
    pub medc_days: u32,
    /// Usage: route, dose and frequency as written.
    pub medc_way_dscr: String,
    /// Unit price in yuan.
    pub drug_pric: Decimal,
    /// The physician's statement that the drug's restriction is met, where the region has not
    /// encoded it as checkable conditions (C9).
    #[serde(default)]
    pub restriction_attested: bool,
}

/// The largest quantity and unit price a line may state: anything above is a typing error.
fn max_quantity() -> Decimal {
    Decimal::from(9_999)
}

fn max_price() -> Decimal {
    Decimal::from(1_000_000)
}

/// Everything wrong with the prescription's shape, before any fact is looked up.
pub fn shape_problems(rx: &Prescription) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let codes = [
        ("/hosp_rxno", &rx.hosp_rxno),
        ("/psn_no", &rx.psn_no),
        ("/fixmedins_code", &rx.fixmedins_code),
        ("/dr_code", &rx.dr_code),
    ];
    for (field, value) in codes.into_iter().chain(rx.pharmacy.as_ref().map(|p| ("/pharmacy", p))) {
        if !is_code(value) {
            problems.push(FieldProblem::new(field, "1 to 64 letters, digits, '-' or '_'"));
        }
    }
    if rx.diagnoses.is_empty() || rx.diagnoses.len() > MAX_DIAGNOSES {
        problems.push(FieldProblem::new("/diagnoses", format!("1 to {MAX_DIAGNOSES} ICD-10 codes")));
    }
    for (i, diagnosis) in rx.diagnoses.iter().enumerate().take(MAX_DIAGNOSES) {
        if !is_icd10(diagnosis) {
            problems.push(FieldProblem::new(format!("/diagnoses/{i}"), "an ICD-10 code such as C34.901"));
        }
    }
    if !(1..=LONGEST_VALIDITY_DAYS).contains(&rx.vali_days) {
        problems.push(FieldProblem::new("/vali_days", format!("1 to {LONGEST_VALIDITY_DAYS} days")).rule("P8"));
    }
    if rx.lines.is_empty() || rx.lines.len() > MAX_LINES {
        problems.push(FieldProblem::new("/lines", format!("1 to {MAX_LINES} drugs per prescription")));
        if rx.lines.len() > MAX_LINES {
            // a hostile body is answered without reading it line by line
            return problems;
        }
    }
    for (i, line) in rx.lines.iter().enumerate() {
        let at = |field: &str| format!("/lines/{i}/{field}");
        if !is_code(&line.med_list_codg) {
            problems.push(FieldProblem::new(at("med_list_codg"), "a catalogue code"));
        } else if rx.lines[..i].iter().any(|earlier| earlier.med_list_codg == line.med_list_codg) {
            problems.push(FieldProblem::new(at("med_list_codg"), "the same drug is already on an earlier line"));
        }
        for (field, value) in [("drug_dosform", &line.drug_dosform), ("drug_spec", &line.drug_spec), ("drug_dosunt", &line.drug_dosunt), ("medc_way_dscr", &line.medc_way_dscr)] {
            check_text(&mut problems, &at(field), value, TEXT_CHARS);
        }
        if line.drug_cnt <= Decimal::ZERO || line.drug_cnt > max_quantity() || line.drug_cnt.scale() > 2 {
            problems.push(FieldProblem::new(at("drug_cnt"), format!("a quantity above 0 and at most {}, to 2 decimal places", max_quantity())));
        }
        if line.drug_pric < Decimal::ZERO || line.drug_pric > max_price() || line.drug_pric.scale() > 4 {
            problems.push(FieldProblem::new(at("drug_pric"), format!("a unit price from 0 to {} yuan, to 4 decimal places", max_price())));
        }
        if !(1..=LONGEST_SUPPLY_DAYS).contains(&line.medc_days) {
            problems.push(FieldProblem::new(at("medc_days"), format!("1 to {LONGEST_SUPPLY_DAYS} days of supply")));
        }
    }
    problems
}

/// A region's prescription policy (region data, published by its agency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPolicy {
    /// The longest supply one prescription may give, in days.
    pub max_days_supply: u32,
    /// The longest validity a prescription may have, in days (P8).
    pub max_validity_days: u32,
    /// P2: the region's pharmacies accept only prescriptions of its city's institutions.
    pub same_city_only: bool,
    /// P1: the approved last day of paper prescriptions, if the region has an extension.
    #[serde(default)]
    pub paper_extension_until: Option<NaiveDate>,
}

impl Default for RegionPolicy {
    /// What applies where a region published nothing: a month's supply, three days' validity
    /// (the usual life of a prescription filled outside), any city, no paper.
    fn default() -> Self {
        RegionPolicy { max_days_supply: 30, max_validity_days: 3, same_city_only: false, paper_extension_until: None }
    }
}

impl RegionPolicy {
    /// Everything wrong with a policy an agency publishes.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if !(1..=LONGEST_SUPPLY_DAYS).contains(&self.max_days_supply) {
            problems.push(FieldProblem::new("/max_days_supply", format!("1 to {LONGEST_SUPPLY_DAYS} days")));
        }
        if !(1..=LONGEST_VALIDITY_DAYS).contains(&self.max_validity_days) {
            problems.push(FieldProblem::new("/max_validity_days", format!("1 to {LONGEST_VALIDITY_DAYS} days")).rule("P8"));
        }
        if let Some(until) = self.paper_extension_until {
            // an extension is judged on its own first day of effect: the day paper ends
            if let Some(reason) = paper_refusal(super::electronic_only_from(), Some(until)).filter(|r| r.contains("3 months")) {
                problems.push(FieldProblem::new("/paper_extension_until", reason).rule("P1"));
            }
        }
        problems
    }
}

/// The city of a region code: its first four digits (`420100` and `420102` are both Wuhan).
fn city(admdvs: &str) -> &str {
    admdvs.get(..4).unwrap_or(admdvs)
}

/// Why `pharmacy` may not fill a prescription of `institution` (I2: registered, designated for
/// the dual channel, with electronic traceability, linked to the institution; P2 where the
/// pharmacy's region accepts only its own city's prescriptions). Empty when it may.
pub fn pharmacy_refusals(
    pharmacy: Option<&Pharmacy>,
    institution_code: &str,
    institution_admdvs: &str,
    pharmacy_policy: &RegionPolicy,
) -> Vec<(&'static str, String)> {
    let Some(pharmacy) = pharmacy else { return vec![("I2", "no designated pharmacy is registered under this code".into())] };
    let mut refusals = Vec::new();
    if !pharmacy.dual_channel || !pharmacy.electronic_traceability {
        refusals.push(("I2", "the pharmacy is not a dual-channel pharmacy with electronic traceability".into()));
    }
    if !pharmacy.linked_institutions.iter().any(|linked| linked == institution_code) {
        refusals.push(("I2", "the pharmacy is not linked to the prescribing institution".into()));
    }
    if pharmacy_policy.same_city_only && city(&pharmacy.admdvs) != city(institution_admdvs) {
        refusals.push(("P2", "the pharmacy's region accepts only prescriptions of its own city's institutions".into()));
    }
    refusals
}

/// How a drug's restriction (C9) is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction<'a> {
    None,
    /// Only the official text: the physician attests.
    Text,
    /// Encoded by the region as conditions the prescription's facts must meet.
    Structured(&'a StructuredRestriction),
}

/// What the catalogue says of a line's drug in the institution's region on the date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrugCover<'a> {
    pub payable: bool,
    pub separate_payment: bool,
    pub dual_channel: bool,
    pub restriction: Restriction<'a>,
}

/// The person's current filing for a line's drug (E5, I4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilingFacts<'a> {
    pub standing: Standing,
    pub fixmedins_code: &'a str,
    pub dr_code: &'a str,
    pub pharmacy: Option<&'a str>,
    pub days_per_prescription: Option<u32>,
}

/// What is known of one line: its drug's coverage (`None`: not in the catalogue on the date)
/// and, for a separate-payment drug, the filing (`None`: the person has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineFacts<'a> {
    pub cover: Option<DrugCover<'a>>,
    pub filing: Option<FilingFacts<'a>>,
}

/// Everything the pre-check looks up, as of its date; `None` where nothing is registered.
pub struct PrecheckFacts<'a> {
    pub date: NaiveDate,
    pub person: Option<&'a Person>,
    pub institution: Option<&'a Institution>,
    pub physician: Option<&'a Physician>,
    /// The policy of the institution's region.
    pub policy: &'a RegionPolicy,
    /// The pharmacy that is to fill it, when the prescription names one: its record and its
    /// region's policy.
    pub pharmacy: Option<(Option<&'a Pharmacy>, &'a RegionPolicy)>,
    /// One per line, in order.
    pub lines: Vec<LineFacts<'a>>,
}

/// Each line's payment route, where its drug is known.
pub fn line_kinds(facts: &PrecheckFacts<'_>) -> Vec<Option<LineKind>> {
    facts.lines.iter().map(|line| line.cover.map(|c| if c.separate_payment { LineKind::SeparatePayment } else { LineKind::Ordinary })).collect()
}

/// Every rule the prescription breaks (P1–P4, E1, E5, I1–I4, C1, C2, C9), all at once.
pub fn precheck_problems(rx: &Prescription, facts: &PrecheckFacts<'_>) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let mut refuse = |field: String, rule: &'static str, reason: String| problems.push(FieldProblem::new(field, reason).rule(rule));
    let kinds = line_kinds(facts);
    let separate_payment = kinds.contains(&Some(LineKind::SeparatePayment));

    match facts.person {
        None => refuse("/psn_no".into(), "E1", "no insured person is registered under this psn_no".into()),
        Some(person) if person.benefit_status != BenefitStatus::Normal => {
            refuse("/psn_no".into(), "E1", "the person's insurance benefits are suspended".into())
        }
        Some(_) => {}
    }
    match facts.institution {
        None => refuse("/fixmedins_code".into(), "I1", "no designated institution is registered under this code".into()),
        Some(institution) if separate_payment && !institution.separate_payment().eligible => {
            refuse("/fixmedins_code".into(), "I1", "the institution is not qualified for separate-payment drugs".into())
        }
        Some(_) => {}
    }
    match facts.physician {
        None => refuse("/dr_code".into(), "I3", "no physician is registered under this code".into()),
        Some(physician) if physician.fixmedins_code != rx.fixmedins_code || !physician.active => {
            refuse("/dr_code".into(), "I3", "the physician is not an active physician of the institution".into())
        }
        Some(physician) if separate_payment && !physician.responsible => {
            refuse("/dr_code".into(), "P4", "separate-payment drugs are prescribed by a responsible physician".into())
        }
        Some(_) => {}
    }
    if let Some(reason) = (rx.medium == Medium::Paper).then(|| paper_refusal(facts.date, facts.policy.paper_extension_until)).flatten() {
        refuse("/medium".into(), "P1", reason);
    }
    if rx.vali_days > facts.policy.max_validity_days {
        refuse("/vali_days".into(), "P8", format!("the region allows at most {} days of validity", facts.policy.max_validity_days));
    }
    if let (Some((pharmacy, pharmacy_policy)), Some(institution)) = (facts.pharmacy, facts.institution) {
        for (rule, reason) in pharmacy_refusals(pharmacy, &rx.fixmedins_code, &institution.admdvs, pharmacy_policy) {
            refuse("/pharmacy".into(), rule, reason);
        }
    }

    let known: Vec<(usize, LineKind)> = kinds.iter().enumerate().filter_map(|(i, kind)| kind.map(|kind| (i, kind))).collect();
    let only_kinds: Vec<LineKind> = known.iter().map(|(_, kind)| *kind).collect();
    for n in mixed_lines(&only_kinds) {
        refuse(format!("/lines/{}", known[n].0), "P3", "separate-payment and other drugs go on separate prescriptions".into());
    }

    let prescriber = PatientFacts {
        diagnoses: &rx.diagnoses,
        age: rx.patient_age,
        prescriber_specialty: facts.physician.map(|p| p.specialty.as_str()),
        line_of_therapy: rx.line_of_therapy,
    };
    for (i, (line, known)) in rx.lines.iter().zip(&facts.lines).enumerate() {
        let at = |field: &str| format!("/lines/{i}/{field}");
        if line.medc_days > facts.policy.max_days_supply {
            refuse(at("medc_days"), "P4", format!("the region allows at most {} days of supply", facts.policy.max_days_supply));
        }
        let Some(cover) = known.cover else {
            refuse(at("med_list_codg"), "C1", "no drug with this code is in the catalogue on this date".into());
            continue;
        };
        if !cover.payable {
            refuse(at("med_list_codg"), "C2", "the drug is not payable in the institution's region on this date".into());
        }
        if rx.rx_exra_attr_code == ExtraAttribute::DualChannel && !cover.separate_payment && !cover.dual_channel {
            refuse(at("med_list_codg"), "C2", "the drug is on neither the dual-channel nor the separate-payment list of the region".into());
        }
        if cover.separate_payment {
            filing_problems(rx, known.filing, line, &mut refuse, &at);
        } else {
            match cover.restriction {
                Restriction::None => {}
                Restriction::Text if line.restriction_attested => {}
                Restriction::Text => refuse(at("restriction_attested"), "C9", "attest that the drug's restriction is met".into()),
                Restriction::Structured(restriction) => {
                    for reason in restriction.unmet(&prescriber) {
                        refuse(at("med_list_codg"), "C9", reason);
                    }
                }
            }
        }
    }
    problems
}

/// P4, E5, I4 for a separate-payment line: a valid filing at this institution with this
/// physician, the prescription going to its fixed pharmacy, the supply within its plan. The
/// drug's restriction was checked when the filing was recommended (C9).
fn filing_problems(
    rx: &Prescription,
    filing: Option<FilingFacts<'_>>,
    line: &RxLine,
    refuse: &mut impl FnMut(String, &'static str, String),
    at: &impl Fn(&str) -> String,
) {
    let Some(filing) = filing else {
        refuse(at("med_list_codg"), "P4", "the patient has no filing for this separate-payment drug".into());
        return;
    };
    match filing.standing {
        Standing::Valid => {}
        Standing::Expired => refuse(at("med_list_codg"), "E5", "the filing's year is over".into()),
        Standing::ReassessmentOverdue => refuse(at("med_list_codg"), "E5", "the filing's reassessment is overdue".into()),
        Standing::NotApproved | Standing::NotYetValid => refuse(at("med_list_codg"), "E5", "the filing is not approved for this date".into()),
    }
    if filing.fixmedins_code != rx.fixmedins_code || filing.dr_code != rx.dr_code {
        refuse("/dr_code".into(), "P4", "only the filing's responsible physician at its fixed institution prescribes this drug".into());
    }
    if let (Some(named), Some(fixed)) = (&rx.pharmacy, filing.pharmacy)
        && named != fixed
    {
        refuse("/pharmacy".into(), "I4", format!("the filing's fixed pharmacy is {fixed}"));
    }
    if let Some(days) = filing.days_per_prescription.filter(|days| line.medc_days > *days) {
        refuse(at("medc_days"), "E5", format!("the filing's treatment plan allows at most {days} days per prescription"));
    }
}

/// The pharmacy a prescription goes to: the one it names, else the fixed pharmacy of its
/// separate-payment drugs' filings (I4); `None` leaves the choice to the patient.
pub fn bound_pharmacy(rx: &Prescription, lines: &[LineFacts<'_>]) -> Option<String> {
    rx.pharmacy.clone().or_else(|| lines.iter().find_map(|l| l.filing.and_then(|f| f.pharmacy)).map(str::to_string))
}
