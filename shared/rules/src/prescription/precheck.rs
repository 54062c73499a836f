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
    /// How many units of the drug's payment standard one `drug_dosunt` holds (a 盒 of 10 支:
    /// 10), for a line in another unit than its standard's (S1 compares like with like,
    /// `settlement::units`). Absent in prescriptions stored before it existed, and left out
    /// when absent, so they read and digest as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_size: Option<u32>,
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
        if line.drug_cnt <= Decimal::ZERO || line.drug_cnt > max_quantity() || line.drug_cnt.normalize().scale() > 2 {
            problems.push(FieldProblem::new(at("drug_cnt"), format!("a quantity above 0 and at most {}, to 2 decimal places", max_quantity())));
        }
        if line.drug_pric < Decimal::ZERO || line.drug_pric > max_price() || line.drug_pric.normalize().scale() > 4 {
            problems.push(FieldProblem::new(at("drug_pric"), format!("a unit price from 0 to {} yuan, to 4 decimal places", max_price())));
        }
        if !(1..=LONGEST_SUPPLY_DAYS).contains(&line.medc_days) {
            problems.push(FieldProblem::new(at("medc_days"), format!("1 to {LONGEST_SUPPLY_DAYS} days of supply")));
        }
        if line.pack_size.is_some_and(|n| !crate::settlement::valid_pack_size(n)) {
            problems.push(FieldProblem::new(at("pack_size"), format!("a whole number from 1 to {}", crate::settlement::MAX_PACK_SIZE)));
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
    if pharmacy_policy.same_city_only && crate::registry::city_of(&pharmacy.admdvs) != crate::registry::city_of(institution_admdvs) {
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
    pub plan_quantity: Option<&'a crate::plan::PlanQuantity>,
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
    let bound = bound_pharmacy(rx, &facts.lines);
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
            filing_problems(rx, facts.date, bound.as_deref(), known.filing, line, &mut refuse, &at);
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
/// physician, the prescription going (`pharmacy`, see [`bound_pharmacy`]) to its fixed
/// pharmacy, the supply within its plan. The drug's restriction was checked when the filing
/// was recommended (C9).
fn filing_problems(
    rx: &Prescription,
    date: NaiveDate,
    pharmacy: Option<&str>,
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
    if let (Some(bound), Some(fixed)) = (pharmacy, filing.pharmacy)
        && bound != fixed
    {
        refuse("/pharmacy".into(), "I4", format!("the filing's fixed pharmacy is {fixed}"));
    }
    if let Some(days) = filing.days_per_prescription.filter(|days| line.medc_days > *days) {
        refuse(at("medc_days"), "E5", format!("the filing's treatment plan allows at most {days} days per prescription"));
    }
    // rule M3: one line alone beyond the plan's quantity (what was dispensed before is counted
    // at the dispensing, the day the quantity is drawn)
    if let Some(Err(refused)) = filing.plan_quantity.map(|plan| crate::plan::check(plan, [], date, &line.drug_dosunt, line.drug_cnt)) {
        refuse(at("drug_cnt"), refused.rule(), refused.reason());
    }
}

/// The pharmacy a prescription goes to: the one it names, else the fixed pharmacy of its
/// separate-payment drugs' filings (I4); `None` leaves the choice to the patient.
pub fn bound_pharmacy(rx: &Prescription, lines: &[LineFacts<'_>]) -> Option<String> {
    rx.pharmacy.clone().or_else(|| lines.iter().find_map(|l| l.filing.and_then(|f| f.pharmacy)).map(str::to_string))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::fixtures::date;
    use crate::registry::{Capability, Level, Title};
    use rust_decimal_macros::dec;
    use std::time::{Duration, Instant};

    const INSTITUTION: &str = "H42010000001";
    const PHYSICIAN: &str = "D420100001";
    const PHARMACY: &str = "F42010000001";

    /// A change that spoils one field of a record.
    type Spoil<T> = fn(&mut T);

    /// One well-formed line of `code`: 28 tablets for 28 days.
    pub(in crate::prescription) fn line(code: &str) -> RxLine {
        RxLine {
            med_list_codg: code.into(),
            drug_dosform: "片剂".into(),
            drug_spec: "20mg/片".into(),
            drug_cnt: dec!(28),
            drug_dosunt: "片".into(),
            medc_days: 28,
            medc_way_dscr: "口服，每日一次，每次20mg".into(),
            drug_pric: dec!(12.50),
            restriction_attested: false,
            pack_size: None,
        }
    }

    /// A well-formed electronic dual-channel prescription with one line per code, valid 3 days.
    pub(in crate::prescription) fn prescription(codes: &[&str]) -> Prescription {
        Prescription {
            hosp_rxno: "RX-2025-0001".into(),
            psn_no: "P4201000001".into(),
            fixmedins_code: INSTITUTION.into(),
            dr_code: PHYSICIAN.into(),
            rx_exra_attr_code: ExtraAttribute::DualChannel,
            diagnoses: vec!["C34.901".into()],
            patient_age: Some(45),
            line_of_therapy: Some(1),
            medium: Medium::Electronic,
            vali_days: 3,
            pharmacy: None,
            lines: codes.iter().map(|code| line(code)).collect(),
        }
    }

    /// `prescription` naming the registered pharmacy.
    fn to_pharmacy(codes: &[&str]) -> Prescription {
        Prescription { pharmacy: Some(PHARMACY.into()), ..prescription(codes) }
    }

    /// (field, rule) of each problem, in order.
    fn found(problems: &[FieldProblem]) -> Vec<(&str, Option<&str>)> {
        problems.iter().map(|p| (p.field.as_str(), p.rule)).collect()
    }

    fn fields(problems: &[FieldProblem]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    // Facts ---------------------------------------------------------------------------------

    fn cover(separate_payment: bool) -> DrugCover<'static> {
        DrugCover { payable: true, separate_payment, dual_channel: !separate_payment, restriction: Restriction::None }
    }

    /// A covered dual-channel drug without restriction.
    fn ordinary() -> LineFacts<'static> {
        LineFacts { cover: Some(cover(false)), filing: None }
    }

    fn restricted(restriction: Restriction<'_>) -> LineFacts<'_> {
        LineFacts { cover: Some(DrugCover { restriction, ..cover(false) }), filing: None }
    }

    /// A separate-payment drug with `filing`.
    fn separate(filing: Option<FilingFacts<'static>>) -> LineFacts<'static> {
        LineFacts { cover: Some(cover(true)), filing }
    }

    /// A drug not in the catalogue on the date.
    fn unknown() -> LineFacts<'static> {
        LineFacts { cover: None, filing: None }
    }

    /// A valid filing by the prescription's physician at its institution, no fixed pharmacy.
    fn filing() -> FilingFacts<'static> {
        FilingFacts { standing: Standing::Valid, fixmedins_code: INSTITUTION, dr_code: PHYSICIAN, pharmacy: None, days_per_prescription: None, plan_quantity: None }
    }

    /// A separate-payment drug with a valid filing.
    fn filed() -> LineFacts<'static> {
        separate(Some(filing()))
    }

    /// The registry and the region as the pre-check finds them: everything in order, in Wuhan.
    struct World {
        date: NaiveDate,
        person: Person,
        institution: Institution,
        physician: Physician,
        pharmacy: Pharmacy,
        policy: RegionPolicy,
        pharmacy_policy: RegionPolicy,
    }

    impl World {
        fn new() -> World {
            World {
                date: date(2025, 3, 10),
                person: crate::fixtures::insured(BenefitStatus::Normal),
                institution: Institution {
                    name: "武汉市第一医院".into(),
                    admdvs: "420100".into(),
                    level: Level::Third,
                    capabilities: [Capability::Pathology].into(),
                    key_specialties: Vec::new(),
                    cross_region_settlement: true,
                    address: None,
                },
                physician: Physician {
                    name: "李医生".into(),
                    fixmedins_code: INSTITUTION.into(),
                    title: Title::Chief,
                    specialty: "肿瘤科".into(),
                    responsible: true,
                    active: true,
                },
                pharmacy: Pharmacy {
                    name: "国药大药房".into(),
                    admdvs: "420102".into(),
                    address: "武汉市江岸区解放大道1号".into(),
                    phone: None,
                    dual_channel: true,
                    electronic_traceability: true,
                    can_supply: true,
                    compliant: true,
                    linked_institutions: vec![INSTITUTION.into()],
                    cross_region_settlement: false,
                },
                policy: RegionPolicy::default(),
                pharmacy_policy: RegionPolicy::default(),
            }
        }

        /// The facts for a prescription naming no pharmacy.
        fn facts<'a>(&'a self, lines: Vec<LineFacts<'a>>) -> PrecheckFacts<'a> {
            PrecheckFacts {
                date: self.date,
                person: Some(&self.person),
                institution: Some(&self.institution),
                physician: Some(&self.physician),
                policy: &self.policy,
                pharmacy: None,
                lines,
            }
        }

        /// The facts for a prescription naming the world's pharmacy.
        fn facts_with_pharmacy<'a>(&'a self, lines: Vec<LineFacts<'a>>) -> PrecheckFacts<'a> {
            PrecheckFacts { pharmacy: Some((Some(&self.pharmacy), &self.pharmacy_policy)), ..self.facts(lines) }
        }
    }

    // Shape ---------------------------------------------------------------------------------

    #[test]
    fn a_well_formed_prescription_has_no_shape_problems() {
        assert_eq!(shape_problems(&prescription(&["XL01", "XA02"])), []);
        assert_eq!(shape_problems(&to_pharmacy(&["XL01"])), []);
        // the limits themselves are accepted
        let mut rx = prescription(&["A", "B", "C", "D", "E"]);
        rx.vali_days = LONGEST_VALIDITY_DAYS;
        rx.diagnoses = (0..MAX_DIAGNOSES).map(|i| format!("C{i:02}.1")).collect();
        rx.lines[0].drug_cnt = dec!(9999);
        rx.lines[1].drug_cnt = dec!(0.01);
        rx.lines[2].drug_pric = Decimal::ZERO;
        rx.lines[3].drug_pric = dec!(1000000);
        rx.lines[4].medc_days = LONGEST_SUPPLY_DAYS;
        assert_eq!(shape_problems(&rx), []);
    }

    #[test]
    fn malformed_codes_are_reported_at_their_fields() {
        let rx = Prescription {
            hosp_rxno: String::new(),
            psn_no: "P 420".into(),
            fixmedins_code: "H4201/1".into(),
            dr_code: "D".repeat(65),
            pharmacy: Some("国药大药房".into()),
            ..prescription(&["XL01"])
        };
        assert_eq!(fields(&shape_problems(&rx)), ["/hosp_rxno", "/psn_no", "/fixmedins_code", "/dr_code", "/pharmacy"]);
        let mut rx = prescription(&["XL01", "XA 02"]);
        rx.lines[0].med_list_codg = String::new();
        assert_eq!(fields(&shape_problems(&rx)), ["/lines/0/med_list_codg", "/lines/1/med_list_codg"]);
    }

    #[test]
    fn a_prescription_has_one_to_twenty_icd10_diagnoses() {
        let none = Prescription { diagnoses: Vec::new(), ..prescription(&["XL01"]) };
        assert_eq!(fields(&shape_problems(&none)), ["/diagnoses"]);
        let too_many = Prescription { diagnoses: vec!["C34.901".into(); MAX_DIAGNOSES + 1], ..prescription(&["XL01"]) };
        assert_eq!(fields(&shape_problems(&too_many)), ["/diagnoses"]);
        let not_icd10 = Prescription { diagnoses: vec!["C34.901".into(), "c34.901".into(), "肺癌".into()], ..prescription(&["XL01"]) };
        assert_eq!(fields(&shape_problems(&not_icd10)), ["/diagnoses/1", "/diagnoses/2"]);
    }

    #[test]
    fn validity_is_one_to_thirty_days() {
        // rule P8
        for vali_days in [0, LONGEST_VALIDITY_DAYS + 1] {
            let rx = Prescription { vali_days, ..prescription(&["XL01"]) };
            assert_eq!(found(&shape_problems(&rx)), [("/vali_days", Some("P8"))], "{vali_days}");
        }
    }

    #[test]
    fn a_prescription_has_one_to_five_lines() {
        assert_eq!(fields(&shape_problems(&prescription(&[]))), ["/lines"]);
        assert_eq!(fields(&shape_problems(&prescription(&["A", "B", "C", "D", "E", "F"]))), ["/lines"]);
    }

    #[test]
    fn ten_thousand_lines_are_refused_without_reading_them() {
        let mut rx = prescription(&[]);
        // every line malformed and the same: read one by one they would give 40,000 problems
        let bad = RxLine { med_list_codg: "XL01".into(), drug_cnt: Decimal::ZERO, drug_pric: dec!(-1), medc_days: 0, medc_way_dscr: " ".into(), ..line("XL01") };
        rx.lines = vec![bad; 10_000];
        let started = Instant::now();
        let problems = shape_problems(&rx);
        assert!(started.elapsed() < Duration::from_millis(100), "took {:?}", started.elapsed());
        assert_eq!(fields(&problems), ["/lines"]);
    }

    #[test]
    fn a_lines_pack_size_is_optional_and_a_whole_number_of_standard_units() {
        // issue 14 item 3 (S1): 1 to 10000; a prescription stored without it reads as before,
        // and one without it is written (and digested) exactly as before
        for (pack_size, problems) in [(Some(0), vec!["/lines/0/pack_size"]), (Some(10_001), vec!["/lines/0/pack_size"]), (Some(10), vec![]), (None, vec![])] {
            let mut rx = prescription(&["XL01"]);
            rx.lines[0].pack_size = pack_size;
            assert_eq!(fields(&shape_problems(&rx)), problems, "{pack_size:?}");
        }
        let stored = serde_json::to_value(line("XL01")).expect("JSON");
        assert!(stored.get("pack_size").is_none(), "{stored}");
        assert_eq!(serde_json::from_value::<RxLine>(stored).expect("read as before"), line("XL01"));
        let boxed = RxLine { drug_dosunt: "盒".into(), pack_size: Some(10), ..line("XL01") };
        assert_eq!(serde_json::to_value(&boxed).expect("JSON")["pack_size"], 10);
    }

    #[test]
    fn the_same_drug_is_not_on_two_lines() {
        assert_eq!(fields(&shape_problems(&prescription(&["XL01", "XA02", "XL01"]))), ["/lines/2/med_list_codg"]);
    }

    #[test]
    fn each_malformed_line_field_is_reported_at_its_pointer() {
        let cases: [(&str, Spoil<RxLine>); 10] = [
            ("/lines/0/drug_pric", |l| l.drug_pric = dec!(-0.01)),
            ("/lines/0/drug_pric", |l| l.drug_pric = dec!(1.00001)),
            ("/lines/0/drug_cnt", |l| l.drug_cnt = Decimal::ZERO),
            ("/lines/0/drug_cnt", |l| l.drug_cnt = dec!(-1)),
            ("/lines/0/drug_cnt", |l| l.drug_cnt = dec!(10000)),
            ("/lines/0/drug_cnt", |l| l.drug_cnt = dec!(1.005)),
            ("/lines/0/medc_days", |l| l.medc_days = 0),
            ("/lines/0/medc_days", |l| l.medc_days = LONGEST_SUPPLY_DAYS + 1),
            ("/lines/0/medc_way_dscr", |l| l.medc_way_dscr = "  ".into()),
            ("/lines/0/drug_spec", |l| l.drug_spec = "20mg\n/片".into()),
        ];
        for (field, spoil) in cases {
            let mut rx = prescription(&["XL01", "XA02"]);
            spoil(&mut rx.lines[0]);
            assert_eq!(fields(&shape_problems(&rx)), [field], "{:?}", rx.lines[0]);
        }
        // trailing zeros are the same amount: `1.000` and `12.500000` are well-formed
        let mut rx = prescription(&["XL01"]);
        (rx.lines[0].drug_cnt, rx.lines[0].drug_pric) = (dec!(1.000), dec!(12.500000));
        assert_eq!(fields(&shape_problems(&rx)), [] as [&str; 0]);
        rx.lines[0].drug_dosform = String::new();
        rx.lines[0].drug_dosunt = "片".repeat(TEXT_CHARS + 1);
        assert_eq!(fields(&shape_problems(&rx)), ["/lines/0/drug_dosform", "/lines/0/drug_dosunt"]);
    }

    // Region policy -------------------------------------------------------------------------

    #[test]
    fn the_default_region_policy_is_valid() {
        assert_eq!(RegionPolicy::default().problems(), []);
        let longest = RegionPolicy {
            max_days_supply: LONGEST_SUPPLY_DAYS,
            max_validity_days: LONGEST_VALIDITY_DAYS,
            same_city_only: true,
            paper_extension_until: Some(date(2025, 3, 31)),
        };
        // rule P1: three months from 2025-01-01 is the longest extension
        assert_eq!(longest.problems(), []);
    }

    #[test]
    fn a_region_policy_out_of_range_is_refused() {
        for max_days_supply in [0, LONGEST_SUPPLY_DAYS + 1] {
            let policy = RegionPolicy { max_days_supply, ..RegionPolicy::default() };
            assert_eq!(found(&policy.problems()), [("/max_days_supply", None)]);
        }
        // rule P8
        for max_validity_days in [0, LONGEST_VALIDITY_DAYS + 1] {
            let policy = RegionPolicy { max_validity_days, ..RegionPolicy::default() };
            assert_eq!(found(&policy.problems()), [("/max_validity_days", Some("P8"))]);
        }
    }

    #[test]
    fn a_paper_extension_beyond_three_months_is_refused() {
        // rule P1
        let policy = RegionPolicy { paper_extension_until: Some(date(2025, 4, 1)), ..RegionPolicy::default() };
        assert_eq!(found(&policy.problems()), [("/paper_extension_until", Some("P1"))]);
    }

    // Pre-check: person, institution, physician ---------------------------------------------

    #[test]
    fn a_valid_ordinary_dual_channel_prescription_passes() {
        let world = World::new();
        assert_eq!(precheck_problems(&prescription(&["XA02"]), &world.facts(vec![ordinary()])), []);
        assert_eq!(precheck_problems(&to_pharmacy(&["XA02", "XB01"]), &world.facts_with_pharmacy(vec![ordinary(), ordinary()])), []);
    }

    #[test]
    fn a_valid_separate_payment_prescription_passes() {
        let world = World::new();
        assert_eq!(precheck_problems(&prescription(&["XL01"]), &world.facts(vec![filed()])), []);
    }

    #[test]
    fn an_unknown_or_suspended_person_is_refused() {
        // rule E1
        let mut world = World::new();
        let rx = prescription(&["XA02"]);
        let unknown_person = PrecheckFacts { person: None, ..world.facts(vec![ordinary()]) };
        assert_eq!(found(&precheck_problems(&rx, &unknown_person)), [("/psn_no", Some("E1"))]);
        world.person.benefit_status = BenefitStatus::Suspended;
        assert_eq!(found(&precheck_problems(&rx, &world.facts(vec![ordinary()]))), [("/psn_no", Some("E1"))]);
    }

    #[test]
    fn an_unregistered_institution_is_refused() {
        // rule I1
        let world = World::new();
        let facts = PrecheckFacts { institution: None, ..world.facts(vec![ordinary()]) };
        assert_eq!(found(&precheck_problems(&prescription(&["XA02"]), &facts)), [("/fixmedins_code", Some("I1"))]);
    }

    #[test]
    fn an_unqualified_institution_matters_only_for_separate_payment_drugs() {
        // rule I1
        let mut world = World::new();
        world.institution.level = Level::First;
        assert_eq!(precheck_problems(&prescription(&["XA02"]), &world.facts(vec![ordinary()])), []);
        let problems = precheck_problems(&prescription(&["XL01"]), &world.facts(vec![filed()]));
        assert_eq!(found(&problems), [("/fixmedins_code", Some("I1"))]);
    }

    #[test]
    fn the_physician_is_a_registered_active_physician_of_the_institution() {
        // rule I3
        let rx = prescription(&["XA02"]);
        let world = World::new();
        let unknown = PrecheckFacts { physician: None, ..world.facts(vec![ordinary()]) };
        assert_eq!(found(&precheck_problems(&rx, &unknown)), [("/dr_code", Some("I3"))]);
        let mut elsewhere = World::new();
        elsewhere.physician.fixmedins_code = "H42010000002".into();
        assert_eq!(found(&precheck_problems(&rx, &elsewhere.facts(vec![ordinary()]))), [("/dr_code", Some("I3"))]);
        let mut inactive = World::new();
        inactive.physician.active = false;
        assert_eq!(found(&precheck_problems(&rx, &inactive.facts(vec![ordinary()]))), [("/dr_code", Some("I3"))]);
    }

    #[test]
    fn only_a_responsible_physician_prescribes_separate_payment_drugs() {
        // rule P4
        let mut world = World::new();
        world.physician.responsible = false;
        assert_eq!(precheck_problems(&prescription(&["XA02"]), &world.facts(vec![ordinary()])), []);
        let problems = precheck_problems(&prescription(&["XL01"]), &world.facts(vec![filed()]));
        assert_eq!(found(&problems), [("/dr_code", Some("P4"))]);
    }

    // Pre-check: medium, validity -----------------------------------------------------------

    #[test]
    fn rejects_paper_prescription_after_2025_01_01() {
        // rule P1
        let rx = Prescription { medium: Medium::Paper, ..prescription(&["XA02"]) };
        let mut world = World::new();
        world.date = date(2024, 12, 31);
        assert_eq!(precheck_problems(&rx, &world.facts(vec![ordinary()])), []);
        world.date = date(2025, 1, 1);
        assert_eq!(found(&precheck_problems(&rx, &world.facts(vec![ordinary()]))), [("/medium", Some("P1"))]);
        // an electronic prescription on the same day is fine
        assert_eq!(precheck_problems(&prescription(&["XA02"]), &world.facts(vec![ordinary()])), []);
    }

    #[test]
    fn accepts_paper_prescription_within_an_approved_extension() {
        // rule P1
        let rx = Prescription { medium: Medium::Paper, ..prescription(&["XA02"]) };
        let mut world = World::new();
        world.policy.paper_extension_until = Some(date(2025, 3, 31));
        world.date = date(2025, 3, 31);
        assert_eq!(precheck_problems(&rx, &world.facts(vec![ordinary()])), []);
        world.date = date(2025, 4, 1);
        assert_eq!(found(&precheck_problems(&rx, &world.facts(vec![ordinary()]))), [("/medium", Some("P1"))]);
    }

    #[test]
    fn validity_above_the_region_maximum_is_refused() {
        // rule P8
        let world = World::new();
        let at_most = Prescription { vali_days: world.policy.max_validity_days, ..prescription(&["XA02"]) };
        assert_eq!(precheck_problems(&at_most, &world.facts(vec![ordinary()])), []);
        let longer = Prescription { vali_days: world.policy.max_validity_days + 1, ..prescription(&["XA02"]) };
        assert_eq!(found(&precheck_problems(&longer, &world.facts(vec![ordinary()]))), [("/vali_days", Some("P8"))]);
    }

    // Pre-check: catalogue ------------------------------------------------------------------

    #[test]
    fn a_drug_not_in_the_catalogue_is_refused() {
        // rule C1
        let world = World::new();
        let problems = precheck_problems(&prescription(&["XA02", "ZZ99"]), &world.facts(vec![ordinary(), unknown()]));
        assert_eq!(found(&problems), [("/lines/1/med_list_codg", Some("C1"))]);
    }

    #[test]
    fn an_unpayable_drug_is_refused() {
        // rule C2
        let world = World::new();
        let unpayable = LineFacts { cover: Some(DrugCover { payable: false, ..cover(false) }), filing: None };
        let problems = precheck_problems(&prescription(&["XA02"]), &world.facts(vec![unpayable]));
        assert_eq!(found(&problems), [("/lines/0/med_list_codg", Some("C2"))]);
    }

    #[test]
    fn a_dual_channel_prescription_carries_only_listed_drugs() {
        // rule C2
        let world = World::new();
        let unlisted = || LineFacts { cover: Some(DrugCover { dual_channel: false, ..cover(false) }), filing: None };
        let dual = prescription(&["XA02"]);
        assert_eq!(found(&precheck_problems(&dual, &world.facts(vec![unlisted()]))), [("/lines/0/med_list_codg", Some("C2"))]);
        let pooled = Prescription { rx_exra_attr_code: ExtraAttribute::OutpatientPooled, ..prescription(&["XA02"]) };
        assert_eq!(precheck_problems(&pooled, &world.facts(vec![unlisted()])), []);
        // a separate-payment drug off the dual-channel list is fine on 01
        assert_eq!(precheck_problems(&dual, &world.facts(vec![filed()])), []);
    }

    #[test]
    fn separate_payment_and_ordinary_drugs_are_flagged_at_the_minority_line() {
        // rule P3
        let world = World::new();
        let rx = prescription(&["XL01", "XA02", "XA03"]);
        let problems = precheck_problems(&rx, &world.facts(vec![filed(), ordinary(), ordinary()]));
        assert_eq!(found(&problems), [("/lines/0", Some("P3"))]);
        let rx = prescription(&["XL01", "XL02", "XA03"]);
        let problems = precheck_problems(&rx, &world.facts(vec![filed(), filed(), ordinary()]));
        assert_eq!(found(&problems), [("/lines/2", Some("P3"))]);
    }

    #[test]
    fn mixed_lines_are_flagged_at_their_own_index_around_an_unknown_drug() {
        // rules P3, C1: the unknown drug has no kind, and does not shift the indexes
        let world = World::new();
        let rx = prescription(&["XA01", "ZZ99", "XL01", "XA02"]);
        let problems = precheck_problems(&rx, &world.facts(vec![ordinary(), unknown(), filed(), ordinary()]));
        assert_eq!(found(&problems), [("/lines/2", Some("P3")), ("/lines/1/med_list_codg", Some("C1"))]);
    }

    #[test]
    fn line_kinds_follow_the_separate_payment_list() {
        let world = World::new();
        let kinds = line_kinds(&world.facts(vec![ordinary(), unknown(), filed()]));
        assert_eq!(kinds, [Some(LineKind::Ordinary), None, Some(LineKind::SeparatePayment)]);
    }

    // Pre-check: filings --------------------------------------------------------------------

    #[test]
    fn a_separate_payment_drug_needs_a_filing() {
        // rule P4
        let world = World::new();
        let problems = precheck_problems(&prescription(&["XL01"]), &world.facts(vec![separate(None)]));
        assert_eq!(found(&problems), [("/lines/0/med_list_codg", Some("P4"))]);
    }

    #[test]
    fn a_filing_that_cannot_be_used_today_is_refused() {
        // rule E5
        let world = World::new();
        for standing in [Standing::Expired, Standing::ReassessmentOverdue, Standing::NotApproved, Standing::NotYetValid] {
            let line = separate(Some(FilingFacts { standing, ..filing() }));
            let problems = precheck_problems(&prescription(&["XL01"]), &world.facts(vec![line]));
            assert_eq!(found(&problems), [("/lines/0/med_list_codg", Some("E5"))], "{standing:?}");
        }
    }

    #[test]
    fn only_the_filings_physician_at_its_institution_prescribes() {
        // rule P4
        let world = World::new();
        let rx = prescription(&["XL01"]);
        for other in [FilingFacts { dr_code: "D420100002", ..filing() }, FilingFacts { fixmedins_code: "H42010000002", ..filing() }] {
            let problems = precheck_problems(&rx, &world.facts(vec![separate(Some(other))]));
            assert_eq!(found(&problems), [("/dr_code", Some("P4"))], "{other:?}");
        }
    }

    #[test]
    fn a_named_pharmacy_must_be_the_filings_fixed_pharmacy() {
        // rule I4
        let world = World::new();
        let rx = to_pharmacy(&["XL01"]);
        let fixed_here = separate(Some(FilingFacts { pharmacy: Some(PHARMACY), ..filing() }));
        assert_eq!(precheck_problems(&rx, &world.facts_with_pharmacy(vec![fixed_here])), []);
        let fixed_elsewhere = separate(Some(FilingFacts { pharmacy: Some("F42010000009"), ..filing() }));
        let problems = precheck_problems(&rx, &world.facts_with_pharmacy(vec![fixed_elsewhere]));
        assert_eq!(found(&problems), [("/pharmacy", Some("I4"))]);
    }

    #[test]
    fn two_separate_payment_drugs_fixed_to_different_pharmacies_do_not_share_a_prescription() {
        // rule I4: unnamed, the prescription goes to the first filing's pharmacy, which is not
        // the second drug's fixed pharmacy
        let world = World::new();
        let rx = prescription(&["XL01", "XL02"]);
        let first = separate(Some(FilingFacts { pharmacy: Some(PHARMACY), ..filing() }));
        let second = separate(Some(FilingFacts { pharmacy: Some("F42010000009"), ..filing() }));
        let problems = precheck_problems(&rx, &world.facts_with_pharmacy(vec![first, second]));
        assert_eq!(found(&problems), [("/pharmacy", Some("I4"))]);
        // the same fixed pharmacy for both is fine
        let both = separate(Some(FilingFacts { pharmacy: Some(PHARMACY), ..filing() }));
        assert_eq!(precheck_problems(&rx, &world.facts_with_pharmacy(vec![both, both])), []);
    }

    #[test]
    fn the_supply_stays_within_the_filings_plan() {
        // rule E5
        let world = World::new();
        let rx = prescription(&["XL01"]);
        let plan = |days| separate(Some(FilingFacts { days_per_prescription: Some(days), ..filing() }));
        assert_eq!(precheck_problems(&rx, &world.facts(vec![plan(28)])), []);
        assert_eq!(found(&precheck_problems(&rx, &world.facts(vec![plan(14)]))), [("/lines/0/medc_days", Some("E5"))]);
    }

    #[test]
    fn one_line_stays_within_the_filings_plan_quantity_in_its_unit() {
        // rule M3: the line alone (28 片) against the plan; what was dispensed before is the
        // dispensing's to count
        let world = World::new();
        let rx = prescription(&["XL01"]);
        let quantity = |max_cnt, unit: &str| &*Box::leak(Box::new(crate::plan::PlanQuantity { max_cnt, drug_dosunt: unit.into(), period_days: 28 }));
        let (fits, short, other_unit) = (quantity(dec!(28), "片"), quantity(dec!(27), "片"), quantity(dec!(28), "盒"));
        let plan = |q| separate(Some(FilingFacts { plan_quantity: Some(q), ..filing() }));
        assert_eq!(precheck_problems(&rx, &world.facts(vec![plan(fits)])), []);
        assert_eq!(found(&precheck_problems(&rx, &world.facts(vec![plan(short)]))), [("/lines/0/drug_cnt", Some("M3"))]);
        assert_eq!(found(&precheck_problems(&rx, &world.facts(vec![plan(other_unit)]))), [("/lines/0/drug_cnt", Some("M3"))]);
    }

    #[test]
    fn the_supply_stays_within_the_regions_maximum() {
        let mut world = World::new();
        world.policy.max_days_supply = 28;
        assert_eq!(precheck_problems(&prescription(&["XA02"]), &world.facts(vec![ordinary()])), []);
        world.policy.max_days_supply = 14;
        let problems = precheck_problems(&prescription(&["XA02", "XL01"]), &world.facts(vec![ordinary(), ordinary()]));
        assert_eq!(fields(&problems), ["/lines/0/medc_days", "/lines/1/medc_days"]);
        // separate-payment lines too, beside the filing's own plan
        let plan = separate(Some(FilingFacts { days_per_prescription: Some(7), ..filing() }));
        let problems = precheck_problems(&prescription(&["XL01"]), &world.facts(vec![plan]));
        assert_eq!(fields(&problems), ["/lines/0/medc_days", "/lines/0/medc_days"]);
        assert!(problems.iter().any(|p| p.rule == Some("E5")));
    }

    // Pre-check: restrictions ---------------------------------------------------------------

    #[test]
    fn a_text_restriction_needs_the_physicians_attestation() {
        // rule C9
        let world = World::new();
        let mut rx = prescription(&["XA02"]);
        let problems = precheck_problems(&rx, &world.facts(vec![restricted(Restriction::Text)]));
        assert_eq!(found(&problems), [("/lines/0/restriction_attested", Some("C9"))]);
        rx.lines[0].restriction_attested = true;
        assert_eq!(precheck_problems(&rx, &world.facts(vec![restricted(Restriction::Text)])), []);
    }

    #[test]
    fn a_structured_restriction_is_checked_against_the_prescription() {
        // rule C9
        let world = World::new();
        let rx = prescription(&["XA02"]);
        let met = StructuredRestriction {
            code: "XA02".into(),
            indications: vec!["C34".into()],
            min_age: Some(18),
            max_age: None,
            specialties: vec!["肿瘤科".into()],
            min_line_of_therapy: Some(1),
        };
        assert_eq!(precheck_problems(&rx, &world.facts(vec![restricted(Restriction::Structured(&met))])), []);
        let unmet = StructuredRestriction { indications: vec!["M05".into()], specialties: vec!["风湿免疫科".into()], min_line_of_therapy: Some(2), ..met };
        let problems = precheck_problems(&rx, &world.facts(vec![restricted(Restriction::Structured(&unmet))]));
        assert_eq!(found(&problems), [("/lines/0/med_list_codg", Some("C9")); 3]);
    }

    // Pre-check: pharmacy -------------------------------------------------------------------

    #[test]
    fn a_named_pharmacy_must_be_a_registered_linked_dual_channel_pharmacy() {
        // rule I2
        let rx = to_pharmacy(&["XA02"]);
        let world = World::new();
        let unregistered = PrecheckFacts { pharmacy: Some((None, &world.pharmacy_policy)), ..world.facts(vec![ordinary()]) };
        assert_eq!(found(&precheck_problems(&rx, &unregistered)), [("/pharmacy", Some("I2"))]);
        let spoilers: [Spoil<Pharmacy>; 3] =
            [|p| p.dual_channel = false, |p| p.electronic_traceability = false, |p| p.linked_institutions = vec!["H42010000002".into()]];
        for spoil in spoilers {
            let mut world = World::new();
            spoil(&mut world.pharmacy);
            let problems = precheck_problems(&rx, &world.facts_with_pharmacy(vec![ordinary()]));
            assert_eq!(found(&problems), [("/pharmacy", Some("I2"))], "{:?}", world.pharmacy);
        }
    }

    #[test]
    fn a_same_city_region_refuses_prescriptions_of_other_cities() {
        // rule P2
        let rx = to_pharmacy(&["XA02"]);
        let mut world = World::new();
        world.pharmacy_policy.same_city_only = true;
        // 420102 (江岸区) is in the same city as 420100
        assert_eq!(precheck_problems(&rx, &world.facts_with_pharmacy(vec![ordinary()])), []);
        world.pharmacy.admdvs = "420500".into();
        assert_eq!(found(&precheck_problems(&rx, &world.facts_with_pharmacy(vec![ordinary()]))), [("/pharmacy", Some("P2"))]);
        // the rule is the pharmacy's region's, not the institution's
        world.pharmacy_policy.same_city_only = false;
        world.policy.same_city_only = true;
        assert_eq!(precheck_problems(&rx, &world.facts_with_pharmacy(vec![ordinary()])), []);
    }

    #[test]
    fn pharmacy_refusals_give_every_reason() {
        // rules I2, P2
        let world = World::new();
        let same_city = RegionPolicy { same_city_only: true, ..RegionPolicy::default() };
        assert_eq!(pharmacy_refusals(Some(&world.pharmacy), INSTITUTION, "420100", &same_city), []);
        assert_eq!(pharmacy_refusals(None, INSTITUTION, "420100", &same_city).len(), 1);
        let rules: Vec<&str> = pharmacy_refusals(Some(&world.pharmacy), "H42050000001", "420500", &same_city).into_iter().map(|(rule, _)| rule).collect();
        assert_eq!(rules, ["I2", "P2"]);
        let rules: Vec<&str> = pharmacy_refusals(Some(&world.pharmacy), "H42050000001", "420500", &RegionPolicy::default()).into_iter().map(|(rule, _)| rule).collect();
        assert_eq!(rules, ["I2"]);
    }

    // Pre-check: all at once ----------------------------------------------------------------

    #[test]
    fn every_violation_is_reported_at_once() {
        // conventions: rule checks return every violation they find
        let mut world = World::new();
        world.date = date(2025, 1, 2);
        world.person.benefit_status = BenefitStatus::Suspended;
        world.physician.responsible = false;
        world.pharmacy.dual_channel = false;
        let mut rx = Prescription { medium: Medium::Paper, vali_days: 10, ..to_pharmacy(&["XL01", "ZZ99", "XA02", "XA03"]) };
        rx.lines[2].medc_days = 60;
        let unpayable = LineFacts { cover: Some(DrugCover { payable: false, ..cover(false) }), filing: None };
        let lines = vec![separate(Some(FilingFacts { standing: Standing::Expired, ..filing() })), unknown(), ordinary(), unpayable];
        let problems = precheck_problems(&rx, &world.facts_with_pharmacy(lines));
        let expected = [
            ("/psn_no", Some("E1")),
            ("/dr_code", Some("P4")),
            ("/medium", Some("P1")),
            ("/vali_days", Some("P8")),
            ("/pharmacy", Some("I2")),
            ("/lines/0", Some("P3")),
            ("/lines/0/med_list_codg", Some("E5")),
            ("/lines/1/med_list_codg", Some("C1")),
            ("/lines/3/med_list_codg", Some("C2")),
        ];
        let found = found(&problems);
        for problem in expected {
            assert!(found.contains(&problem), "{problem:?} missing from {found:?}");
        }
        // and the supply above the region's maximum
        assert!(fields(&problems).contains(&"/lines/2/medc_days"), "{found:?}");
        assert_eq!(found.len(), expected.len() + 1, "{found:?}");
    }

    // Bound pharmacy ------------------------------------------------------------------------

    #[test]
    fn the_named_pharmacy_wins_then_the_filings_fixed_pharmacy() {
        // rule I4
        let fixed = separate(Some(FilingFacts { pharmacy: Some("F42010000009"), ..filing() }));
        assert_eq!(bound_pharmacy(&to_pharmacy(&["XL01"]), &[fixed]).as_deref(), Some(PHARMACY));
        assert_eq!(bound_pharmacy(&prescription(&["XA02", "XL01"]), &[ordinary(), fixed]).as_deref(), Some("F42010000009"));
        assert_eq!(bound_pharmacy(&prescription(&["XL01"]), &[filed()]), None);
        assert_eq!(bound_pharmacy(&prescription(&["XA02"]), &[ordinary()]), None);
    }
}
