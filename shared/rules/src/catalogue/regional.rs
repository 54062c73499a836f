//! Regional data beside the national entries (rule C2): a region's dual-channel list,
//! separate-payment list, outpatient negotiated-drug list with annual maximums, hospital
//! preparations, and adjusted payment standards (C5). Each list is published in versions with
//! an effective date, like editions (C1); a version replaces the region's previous one from
//! that date.
//!
//! National fields (variety, remarks, 甲/乙) cannot be set through a regional list: entries
//! name a national drug by code and carry only regional data.

use super::entry::{CatalogueEntry, Category, ConfidentialAmount, InsuranceClass, PaymentStandard, StandardAmount};
use crate::role::is_code;
use chrono::{Months, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The kinds of regional list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// 双通道药品: obtainable at designated pharmacies under one payment policy (S3).
    DualChannel,
    /// 单独支付药品: paid outside hospital budgets, with eligibility filing (E…, S2).
    SeparatePayment,
    /// 门诊谈判药品: the outpatient mechanism's drugs with a per-drug annual maximum (S4).
    Outpatient,
    /// 医疗机构制剂: hospital preparations the region pays for; not national entries.
    Preparations,
    /// Regionally adjusted or added payment standards for negotiated and bid drugs (C5).
    AdjustedStandards,
    /// National restrictions encoded as conditions a machine can check (C9); the official
    /// text stays the national entry's.
    Restrictions,
}

impl ListKind {
    pub const ALL: [ListKind; 6] = [
        ListKind::DualChannel,
        ListKind::SeparatePayment,
        ListKind::Outpatient,
        ListKind::Preparations,
        ListKind::AdjustedStandards,
        ListKind::Restrictions,
    ];

    /// The wire name, as in the URL (`/lists/dual_channel`).
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::DualChannel => "dual_channel",
            ListKind::SeparatePayment => "separate_payment",
            ListKind::Outpatient => "outpatient",
            ListKind::Preparations => "preparations",
            ListKind::AdjustedStandards => "adjusted_standards",
            ListKind::Restrictions => "restrictions",
        }
    }

    pub fn from_wire(name: &str) -> Option<ListKind> {
        ListKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Whether the list names national entries (all but hospital preparations do).
    fn names_national_entries(self) -> bool {
        !matches!(self, ListKind::Preparations)
    }
}

/// A national drug on a dual-channel or separate-payment list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedDrug {
    pub code: String,
}

/// A national drug on the outpatient negotiated-drug list, with its annual maximum per patient
/// (yuan; what it limits is the settlement policy's `annual_max_basis`, rule S4) and the
/// city's own restriction of the mechanism's payment, if it sets one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutpatientDrug {
    pub code: String,
    pub annual_max: Decimal,
    /// Narrower than the national restriction, which stays the national entry's (C2): the
    /// outpatient mechanism pays the drug only where it is met (C9; `004_…`'s table: 奥曲肽
    /// 微球 "限肢端肥大症" beside the national "限胃肠胰内分泌肿瘤、肢端肥大症"). Absent from
    /// versions published before it existed, which read as none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_restriction: Option<LocalRestriction>,
}

/// A restriction a region sets on the payment from one of its own lists (rule C9): the official
/// text, and where possible the same checkable conditions as a [`StructuredRestriction`]. With
/// no condition given, only the text is known, and it is met on the prescriber's attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalRestriction {
    /// The official text (`限肢端肥大症`).
    pub text: String,
    /// ICD-10 codes or prefixes of the indications (`E22.0`); one must match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indications: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub specialties: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_line_of_therapy: Option<u8>,
}

impl LocalRestriction {
    /// Whether any checkable condition is given (else only the text is).
    pub fn is_structured(&self) -> bool {
        !self.indications.is_empty() || self.min_age.is_some() || self.max_age.is_some() || !self.specialties.is_empty() || self.min_line_of_therapy.is_some()
    }

    /// Every reason the restriction is not met (rule C9), as the pre-check checks a national
    /// one: with conditions, each condition the facts do not meet; with the text only, unless
    /// the prescriber attested it.
    pub fn unmet(&self, facts: &PatientFacts<'_>, attested: bool) -> Vec<String> {
        if !self.is_structured() {
            return if attested { Vec::new() } else { vec![format!("the restriction \"{}\" is not attested", self.text)] };
        }
        StructuredRestriction {
            code: String::new(),
            indications: self.indications.clone(),
            min_age: self.min_age,
            max_age: self.max_age,
            specialties: self.specialties.clone(),
            min_line_of_therapy: self.min_line_of_therapy,
        }
        .unmet(facts)
    }
}

/// A hospital preparation (医疗机构制剂) the region pays for: a regional entry of its own, not
/// a national one, so it carries its own name and class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preparation {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub dosage_form: Option<String>,
    #[serde(default)]
    pub specification: Option<String>,
    /// The institution that makes it (only its patients are paid for it).
    pub fixmedins_code: String,
    pub insurance_class: InsuranceClass,
    /// The regional payment standard in yuan, per specification.
    #[serde(default)]
    pub payment_standard: Option<Decimal>,
    /// 批准文号.
    #[serde(default)]
    pub approval_no: Option<String>,
    /// The institutions of its hospital group where the drug authority approved its use
    /// (医院集团内调剂使用, seed `003_…`): paid there too. Empty: only at its own institution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_institutions: Vec<String>,
}

impl Preparation {
    /// Issue 14 item 4: a hospital preparation is paid only at the institution that makes it,
    /// and at the institutions of its group approved to use it. `Err` says where it is paid.
    pub fn paid_at(&self, fixmedins_code: &str) -> Result<(), String> {
        if self.fixmedins_code == fixmedins_code || self.group_institutions.iter().any(|g| g == fixmedins_code) {
            return Ok(());
        }
        let mut at = vec![self.fixmedins_code.as_str()];
        at.extend(self.group_institutions.iter().map(String::as_str));
        Err(format!("a hospital preparation is paid only where it may be used: {}", at.join(", ")))
    }
}

/// Why a region sets its own standard (rule C5: the only exceptions to national standards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentReason {
    /// A same-name generic entered the market.
    SameNameGeneric,
    /// The drug entered volume-based procurement.
    VolumeProcurement,
    /// A specification the edition does not list, added with its own standard.
    NewSpecification,
}

/// A regional payment standard for one specification of a negotiated or bid drug (rule C5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustedStandard {
    pub code: String,
    pub specification: String,
    pub amount: Decimal,
    pub reason: AdjustmentReason,
}

/// A national restriction (备注/限…) encoded as checkable conditions (rule C9). Every condition
/// given must hold; conditions left out are not checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructuredRestriction {
    pub code: String,
    /// ICD-10 codes or prefixes of the indications (`C34` covers `C34.901`); one must match.
    #[serde(default)]
    pub indications: Vec<String>,
    #[serde(default)]
    pub min_age: Option<u32>,
    #[serde(default)]
    pub max_age: Option<u32>,
    /// Specialties of which the prescriber must have one (e.g. 风湿免疫科).
    #[serde(default)]
    pub specialties: Vec<String>,
    /// The earliest line of therapy paid for (2: second line or later).
    #[serde(default)]
    pub min_line_of_therapy: Option<u8>,
}

/// What a restriction is checked against.
#[derive(Debug, Clone, Copy)]
pub struct PatientFacts<'a> {
    pub diagnoses: &'a [String],
    pub age: Option<u32>,
    pub prescriber_specialty: Option<&'a str>,
    pub line_of_therapy: Option<u8>,
}

impl StructuredRestriction {
    /// Every condition the facts do not meet (a fact not stated does not meet its condition).
    pub fn unmet(&self, facts: &PatientFacts<'_>) -> Vec<String> {
        let mut unmet = Vec::new();
        if !self.indications.is_empty()
            && !facts.diagnoses.iter().any(|d| self.indications.iter().any(|prefix| d.starts_with(prefix.as_str())))
        {
            unmet.push(format!("no diagnosis among the indications {}", self.indications.join(", ")));
        }
        match (self.min_age, self.max_age, facts.age) {
            (None, None, _) => {}
            (_, _, None) => unmet.push("the patient's age is not stated".into()),
            (min, max, Some(age)) => {
                if min.is_some_and(|min| age < min) || max.is_some_and(|max| age > max) {
                    unmet.push(format!("age {age} is outside {}–{}", min.unwrap_or(0), max.map_or("".into(), |m| m.to_string())));
                }
            }
        }
        if !self.specialties.is_empty() && !facts.prescriber_specialty.is_some_and(|s| self.specialties.iter().any(|w| w == s)) {
            unmet.push(format!("the prescriber is not of {}", self.specialties.join(", ")));
        }
        match (self.min_line_of_therapy, facts.line_of_therapy) {
            (Some(min), Some(line)) if line < min => unmet.push(format!("line of therapy {line}; paid from line {min}")),
            (Some(_), None) => unmet.push("the line of therapy is not stated".into()),
            _ => {}
        }
        unmet
    }
}

/// The entries of one version of a regional list, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "list", content = "entries", rename_all = "snake_case")]
pub enum ListEntries {
    DualChannel(Vec<ListedDrug>),
    SeparatePayment(Vec<ListedDrug>),
    Outpatient(Vec<OutpatientDrug>),
    Preparations(Vec<Preparation>),
    AdjustedStandards(Vec<AdjustedStandard>),
    Restrictions(Vec<StructuredRestriction>),
}

impl ListEntries {
    pub fn kind(&self) -> ListKind {
        match self {
            ListEntries::DualChannel(_) => ListKind::DualChannel,
            ListEntries::SeparatePayment(_) => ListKind::SeparatePayment,
            ListEntries::Outpatient(_) => ListKind::Outpatient,
            ListEntries::Preparations(_) => ListKind::Preparations,
            ListEntries::AdjustedStandards(_) => ListKind::AdjustedStandards,
            ListEntries::Restrictions(_) => ListKind::Restrictions,
        }
    }

    /// The code each entry names, in list order.
    pub fn codes(&self) -> Vec<&str> {
        match self {
            ListEntries::DualChannel(v) | ListEntries::SeparatePayment(v) => v.iter().map(|e| e.code.as_str()).collect(),
            ListEntries::Outpatient(v) => v.iter().map(|e| e.code.as_str()).collect(),
            ListEntries::Preparations(v) => v.iter().map(|e| e.code.as_str()).collect(),
            ListEntries::AdjustedStandards(v) => v.iter().map(|e| e.code.as_str()).collect(),
            ListEntries::Restrictions(v) => v.iter().map(|e| e.code.as_str()).collect(),
        }
    }

    /// Whether the list names `code`, without collecting its codes (coverage asks it of several
    /// lists on every lookup).
    pub fn contains(&self, code: &str) -> bool {
        match self {
            ListEntries::DualChannel(v) | ListEntries::SeparatePayment(v) => v.iter().any(|e| e.code == code),
            ListEntries::Outpatient(v) => v.iter().any(|e| e.code == code),
            ListEntries::Preparations(v) => v.iter().any(|e| e.code == code),
            ListEntries::AdjustedStandards(v) => v.iter().any(|e| e.code == code),
            ListEntries::Restrictions(v) => v.iter().any(|e| e.code == code),
        }
    }

    pub fn len(&self) -> usize {
        self.codes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One published version of a region's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionalListVersion {
    /// The region (6-digit 医保区划 code).
    pub admdvs: String,
    pub effective_from: NaiveDate,
    #[serde(flatten)]
    pub entries: ListEntries,
    /// A digest of the entries: publishing the same list again is recognised.
    pub digest: String,
    pub published_at: String,
    pub published_by: String,
}

/// Fields of a national entry. A regional list entry that carries one is trying to change a
/// national entry, which regions may not do (rule C2).
pub const NATIONAL_FIELDS: [&str; 12] = [
    "name",
    "class_code",
    "class_name",
    "insurance_class",
    "ab",
    "number",
    "no",
    "dosage_form",
    "restriction",
    "remark",
    "category",
    "kind",
];

/// Whether a field of a regional entry of `kind` would change a national entry (rule C2).
pub fn is_national_field(kind: ListKind, field: &str) -> bool {
    kind.names_national_entries() && NATIONAL_FIELDS.contains(&field)
}

/// One problem with a regional list version, at a JSON pointer into the request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListProblem {
    pub pointer: String,
    pub rule: Option<&'static str>,
    pub reason: String,
}

fn problem(pointer: String, rule: Option<&'static str>, reason: impl Into<String>) -> ListProblem {
    ListProblem { pointer, rule, reason: reason.into() }
}

/// A yuan amount a region may set: positive, at most 2 decimal places (rule S8).
fn is_valid_amount(amount: Decimal) -> bool {
    amount > Decimal::ZERO && amount.normalize().scale() <= 2
}

/// What validating a list needs to know about the national catalogue, as of the version's
/// effective date.
pub struct NationalContext<'a> {
    /// The national entry paid under a code on the effective date: the edition in force's, or,
    /// inside rule C4's transition, a negotiated entry of the previous edition that the edition
    /// in force dropped (see [`in_transition`]); a regional list may name either.
    pub current: &'a dyn Fn(&str) -> Option<&'a CatalogueEntry>,
    /// The entry with a code in the edition before that one, if any.
    pub previous: &'a dyn Fn(&str) -> Option<&'a CatalogueEntry>,
}

impl NationalContext<'_> {
    /// A drug that was negotiated in the previous edition and is a regular entry now.
    fn moved_to_regular(&self, code: &str) -> bool {
        (self.current)(code).is_some_and(|e| e.category == Category::Regular)
            && (self.previous)(code).is_some_and(|e| e.category == Category::Negotiated)
    }
}

/// Every problem with a new version of a regional list, given the national catalogue as of its
/// effective date and the region's version it replaces (if any). Empty when it may be stored.
pub fn validate_list(entries: &ListEntries, national: &NationalContext<'_>, replaced: Option<&ListEntries>) -> Vec<ListProblem> {
    let kind = entries.kind();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (index, code) in entries.codes().into_iter().enumerate() {
        let at = format!("/entries/{index}/code");
        if !is_code(code) {
            problems.push(problem(at, None, "a code is 1 to 64 letters, digits, '-' or '_'"));
            continue;
        }
        // adjusted standards are per specification, checked below; other lists name a code once
        if kind != ListKind::AdjustedStandards && !seen.insert(code) {
            problems.push(problem(at.clone(), None, format!("{code} is listed twice")));
        }
        match ((national.current)(code), kind.names_national_entries()) {
            (None, true) => problems.push(problem(
                at,
                Some("C2"),
                format!("{code} is not in the national edition in force on the effective date, nor paid under its transition (C4); regional lists name national entries"),
            )),
            (Some(entry), false) => problems.push(problem(
                at,
                Some("C2"),
                format!("{code} is the national entry {}; a hospital preparation needs a code of its own", entry.name),
            )),
            _ => {}
        }
    }
    match entries {
        ListEntries::Outpatient(drugs) => {
            for (index, drug) in drugs.iter().enumerate() {
                if !is_valid_amount(drug.annual_max) {
                    problems.push(problem(format!("/entries/{index}/annual_max"), Some("S8"), "a positive yuan amount with at most 2 decimals"));
                }
                if let Some(restriction) = &drug.local_restriction {
                    let at = format!("/entries/{index}/local_restriction");
                    // rule C9: kept as the official text, and as conditions where possible
                    let chars = restriction.text.trim().chars().count();
                    if chars == 0 || chars > 2000 {
                        problems.push(problem(format!("{at}/text"), Some("C9"), "the restriction's official text, 1 to 2000 characters"));
                    }
                    condition_problems(&at, &restriction.indications, restriction.min_age, restriction.max_age, &mut problems);
                }
            }
        }
        ListEntries::Preparations(preparations) => {
            for (index, preparation) in preparations.iter().enumerate() {
                if preparation.name.trim().is_empty() {
                    problems.push(problem(format!("/entries/{index}/name"), None, "a preparation needs its name"));
                }
                if !is_code(&preparation.fixmedins_code) {
                    problems.push(problem(format!("/entries/{index}/fixmedins_code"), None, "the making institution's code"));
                }
                if preparation.payment_standard.is_some_and(|amount| !is_valid_amount(amount)) {
                    problems.push(problem(format!("/entries/{index}/payment_standard"), Some("S8"), "a positive yuan amount with at most 2 decimals"));
                }
                if preparation.group_institutions.len() > 50 || preparation.group_institutions.iter().any(|code| !is_code(code) || *code == preparation.fixmedins_code) {
                    problems.push(problem(format!("/entries/{index}/group_institutions"), None, "at most 50 codes of the group's other institutions"));
                }
            }
        }
        ListEntries::AdjustedStandards(adjustments) => problems.extend(adjustment_problems(adjustments, national)),
        ListEntries::Restrictions(restrictions) => {
            for (index, restriction) in restrictions.iter().enumerate() {
                // rule C9: only a drug with a restriction text has anything to encode
                if (national.current)(&restriction.code).is_some_and(|entry| entry.restriction.is_none()) {
                    problems.push(problem(format!("/entries/{index}/code"), Some("C9"), "the national entry has no restriction to encode"));
                }
                condition_problems(&format!("/entries/{index}"), &restriction.indications, restriction.min_age, restriction.max_age, &mut problems);
            }
        }
        ListEntries::DualChannel(_) | ListEntries::SeparatePayment(_) => {
            if let Some(replaced) = replaced {
                let kept: HashSet<&str> = entries.codes().into_iter().collect();
                for code in replaced.codes() {
                    // rule C8: moving to the regular catalogue is no reason to leave the list
                    if !kept.contains(code) && national.moved_to_regular(code) {
                        let name = (national.current)(code).map(|e| e.name.as_str()).unwrap_or(code);
                        problems.push(problem(
                            "/entries".into(),
                            Some("C8"),
                            format!("drops {code} ({name}) only because it moved from negotiated to the regular catalogue"),
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// Rule C9: indications are ICD-10 codes or prefixes, and an age range is a range.
fn condition_problems(at: &str, indications: &[String], min_age: Option<u32>, max_age: Option<u32>, problems: &mut Vec<ListProblem>) {
    for (i, indication) in indications.iter().enumerate() {
        let bytes = indication.as_bytes();
        if !(bytes.len() >= 3 && bytes[0].is_ascii_uppercase() && bytes[1..3].iter().all(u8::is_ascii_digit)) {
            problems.push(problem(format!("{at}/indications/{i}"), Some("C9"), "an ICD-10 code or prefix such as C34"));
        }
    }
    if min_age.zip(max_age).is_some_and(|(min, max)| min > max) {
        problems.push(problem(format!("{at}/max_age"), Some("C9"), "max_age is below min_age"));
    }
}

/// Rule C5: a region adjusts only negotiated and bid drugs' standards; an adjustment replaces a
/// listed specification's standard, a new specification adds one the edition does not list.
fn adjustment_problems(adjustments: &[AdjustedStandard], national: &NationalContext<'_>) -> Vec<ListProblem> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (index, adjustment) in adjustments.iter().enumerate() {
        if !is_valid_amount(adjustment.amount) {
            problems.push(problem(format!("/entries/{index}/amount"), Some("S8"), "a positive yuan amount with at most 2 decimals"));
        }
        if adjustment.specification.trim().is_empty() {
            problems.push(problem(format!("/entries/{index}/specification"), Some("C5"), "name the specification the standard is for"));
            continue;
        }
        if !seen.insert((adjustment.code.as_str(), adjustment.specification.as_str())) {
            problems.push(problem(format!("/entries/{index}"), None, "this code and specification are listed twice"));
        }
        let Some(entry) = (national.current)(&adjustment.code) else { continue };
        if !entry.category.has_payment_standard() {
            problems.push(problem(
                format!("/entries/{index}/code"),
                Some("C5"),
                format!("{} is a regular entry; only negotiated and bid drugs have payment standards", entry.name),
            ));
            continue;
        }
        let listed = entry.payment_standards.iter().any(|s| s.specification.as_deref() == Some(adjustment.specification.as_str()));
        match (adjustment.reason, listed) {
            (AdjustmentReason::NewSpecification, true) => problems.push(problem(
                format!("/entries/{index}/specification"),
                Some("C5"),
                "the edition lists this specification; adjust it with reason same_name_generic or volume_procurement",
            )),
            (AdjustmentReason::SameNameGeneric | AdjustmentReason::VolumeProcurement, false) => problems.push(problem(
                format!("/entries/{index}/specification"),
                Some("C5"),
                "the edition does not list this specification; add it with reason new_specification",
            )),
            _ => {}
        }
    }
    problems
}

/// Where a payment standard comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum StandardSource {
    National,
    Regional { reason: AdjustmentReason },
    /// The region's standard for one of its hospital preparations.
    HospitalPreparation,
}

/// A payment standard in force for a region: the national one unless the region adjusted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveStandard {
    pub standard: PaymentStandard,
    pub source: StandardSource,
}

/// The payment standards a region pays against (rule C5): each national standard, replaced by
/// the region's adjustment for the same specification, then the region's added
/// specifications. `adjustments` are the region's entries for this drug. A regional standard
/// for a drug whose national standard is confidential stays confidential (rule C6).
pub fn effective_standards(entry: &CatalogueEntry, adjustments: &[&AdjustedStandard]) -> Vec<EffectiveStandard> {
    let confidential = entry.payment_standards.iter().any(|s| matches!(s.amount, StandardAmount::Confidential { .. }));
    let regional = |amount: Decimal| {
        if confidential {
            StandardAmount::Confidential { amount: Some(ConfidentialAmount::new(amount)) }
        } else {
            StandardAmount::Published { amount }
        }
    };
    let mut standards: Vec<EffectiveStandard> = entry
        .payment_standards
        .iter()
        .map(|national| {
            let adjustment = adjustments.iter().find(|a| {
                a.reason != AdjustmentReason::NewSpecification && national.specification.as_deref() == Some(a.specification.as_str())
            });
            match adjustment {
                Some(adjustment) => EffectiveStandard {
                    standard: PaymentStandard { amount: regional(adjustment.amount), ..national.clone() },
                    source: StandardSource::Regional { reason: adjustment.reason },
                },
                None => EffectiveStandard { standard: national.clone(), source: StandardSource::National },
            }
        })
        .collect();
    for addition in adjustments.iter().filter(|a| a.reason == AdjustmentReason::NewSpecification) {
        if standards.iter().all(|s| s.standard.specification.as_deref() != Some(addition.specification.as_str())) {
            standards.push(EffectiveStandard {
                standard: PaymentStandard {
                    specification: Some(addition.specification.clone()),
                    per: None,
                    terms: None,
                    amount: regional(addition.amount),
                },
                source: StandardSource::Regional { reason: addition.reason },
            });
        }
    }
    standards
}

/// The last day a negotiated drug that a new edition no longer lists is still paid at its old
/// standard (rule C4: six months; the 2024 edition from 2025-01-01 gives 2025-06-30).
pub fn transition_end(next_edition_from: NaiveDate) -> NaiveDate {
    next_edition_from
        .checked_add_months(Months::new(6))
        .and_then(|d| d.pred_opt())
        .unwrap_or(NaiveDate::MAX)
}

/// Whether an entry of the previous edition, of `category`, is still payable on `date` although
/// the edition in force from `next_edition_from` dropped it (rule C4: negotiated drugs only).
pub fn in_transition(category: Category, next_edition_from: NaiveDate, date: NaiveDate) -> bool {
    category == Category::Negotiated && next_edition_from <= date && date <= transition_end(next_edition_from)
}

/// Why an entry of the edition in force is not payable on `date`, if it is not: a negotiated or
/// bid drug is paid within its agreement period (rule C3), or under the transition of rule C4
/// (`in_transition`), which outlasts the period.
pub fn unpaid_reason(entry: &CatalogueEntry, date: NaiveDate, in_transition: bool) -> Option<String> {
    match entry.validity {
        Some(validity) if !in_transition && !validity.contains(date) => {
            Some(format!("the agreement period {} to {} does not cover {date}", validity.start, validity.end))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{date, negotiated, published, regular};
    use rust_decimal_macros::dec;
    use std::collections::HashMap;

    struct Editions {
        current: HashMap<String, CatalogueEntry>,
        previous: HashMap<String, CatalogueEntry>,
    }

    impl Editions {
        fn check(&self, entries: &ListEntries, replaced: Option<&ListEntries>) -> Vec<ListProblem> {
            let current = |code: &str| self.current.get(code);
            let previous = |code: &str| self.previous.get(code);
            validate_list(entries, &NationalContext { current: &current, previous: &previous }, replaced)
        }
    }

    /// 2023: A and B negotiated; 2024: A still negotiated, B moved to the regular catalogue,
    /// C dropped (failed renewal), R regular throughout.
    fn editions() -> Editions {
        let neg = |name: &str| negotiated(name, published(dec!(63.00)));
        Editions {
            previous: HashMap::from([
                ("A".into(), neg("甲药")),
                ("B".into(), neg("乙药")),
                ("C".into(), neg("丙药")),
                ("R".into(), regular("常规药")),
            ]),
            current: HashMap::from([("A".into(), neg("甲药")), ("B".into(), regular("乙药")), ("R".into(), regular("常规药"))]),
        }
    }

    fn listed(codes: &[&str]) -> Vec<ListedDrug> {
        codes.iter().map(|c| ListedDrug { code: (*c).into() }).collect()
    }

    fn rules_of(problems: &[ListProblem]) -> Vec<Option<&'static str>> {
        problems.iter().map(|p| p.rule).collect()
    }

    #[test]
    fn list_kinds_round_trip_their_wire_names() {
        for kind in ListKind::ALL {
            assert_eq!(ListKind::from_wire(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(ListKind::from_wire("dual-channel"), None);
    }

    #[test]
    fn lists_name_national_entries_once_each() {
        // rule C2: regional data sits beside national entries, so it names them by code
        let problems = editions().check(&ListEntries::DualChannel(listed(&["A", "ZZZ", "A", "bad code"])), None);
        assert_eq!(problems.iter().map(|p| p.pointer.as_str()).collect::<Vec<_>>(), ["/entries/1/code", "/entries/2/code", "/entries/3/code"]);
        assert_eq!(rules_of(&problems), [Some("C2"), None, None]);
        assert!(editions().check(&ListEntries::SeparatePayment(listed(&["A", "B", "R"])), None).is_empty());
    }

    #[test]
    fn national_fields_are_refused_for_lists_of_national_entries_only() {
        // rule C2
        assert!(is_national_field(ListKind::DualChannel, "name"));
        assert!(is_national_field(ListKind::AdjustedStandards, "insurance_class"));
        assert!(!is_national_field(ListKind::DualChannel, "code"));
        assert!(!is_national_field(ListKind::Preparations, "name"));
    }

    #[test]
    fn a_list_names_its_codes() {
        let list = ListEntries::DualChannel(listed(&["A", "B", "C"]));
        assert!(list.contains("B") && !list.contains("D") && !list.contains(""));
        assert_eq!((list.len(), list.codes()), (3, vec!["A", "B", "C"]));
        assert!(ListEntries::SeparatePayment(Vec::new()).is_empty());
    }

    #[test]
    fn dropping_a_drug_only_because_it_became_regular_is_refused() {
        let e = editions();
        let before = ListEntries::DualChannel(listed(&["A", "B", "C"]));
        // rule C8: B moved from negotiated to regular; dropping it is refused
        let problems = e.check(&ListEntries::DualChannel(listed(&["A"])), Some(&before));
        assert_eq!(rules_of(&problems), [Some("C8")]);
        assert!(problems[0].reason.contains("乙药"), "{problems:?}");
        // C left the catalogue (failed renewal) and may go; keeping B is fine
        assert!(e.check(&ListEntries::DualChannel(listed(&["A", "B"])), Some(&before)).is_empty());
        // the same applies to separate-payment lists, and only to those two
        assert_eq!(rules_of(&e.check(&ListEntries::SeparatePayment(listed(&["A"])), Some(&before))), [Some("C8")]);
        let outpatient = ListEntries::Outpatient(vec![OutpatientDrug { code: "A".into(), annual_max: dec!(5000), local_restriction: None }]);
        assert!(e.check(&outpatient, Some(&before)).is_empty());
    }

    #[test]
    fn outpatient_maximums_are_positive_yuan() {
        let drugs = |max| ListEntries::Outpatient(vec![OutpatientDrug { code: "A".into(), annual_max: max, local_restriction: None }]);
        let e = editions();
        assert!(e.check(&drugs(dec!(31200.00)), None).is_empty());
        for bad in [dec!(0), dec!(-1), dec!(10.001)] {
            assert_eq!(e.check(&drugs(bad), None)[0].pointer, "/entries/0/annual_max", "{bad}");
        }
    }

    fn acromegaly() -> LocalRestriction {
        LocalRestriction { text: "限肢端肥大症".into(), indications: vec!["E22.0".into()], min_age: None, max_age: None, specialties: vec![], min_line_of_therapy: None }
    }

    #[test]
    fn an_outpatient_entrys_own_restriction_is_text_and_conditions_checked_like_c9() {
        // rule C9 for the city's narrower remark (004_…: 奥曲肽 限肢端肥大症)
        let acromegaly = acromegaly();
        fn facts(diagnoses: &[String]) -> PatientFacts<'_> {
            PatientFacts { diagnoses, age: Some(50), prescriber_specialty: None, line_of_therapy: None }
        }
        let tumour = ["C7A.0".to_string()];
        let giant = ["E22.001".to_string()];
        assert_eq!(acromegaly.unmet(&facts(&giant), false), Vec::<String>::new());
        assert_eq!(acromegaly.unmet(&facts(&tumour), true), ["no diagnosis among the indications E22.0"], "conditions are checked, not attested");
        // the text alone: met on the prescriber's attestation
        let text = LocalRestriction { indications: vec![], ..acromegaly.clone() };
        assert!(!text.is_structured());
        assert_eq!(text.unmet(&facts(&tumour), true), Vec::<String>::new());
        assert_eq!(text.unmet(&facts(&giant), false), ["the restriction \"限肢端肥大症\" is not attested"]);
        // listed: the text is kept, the conditions are checked as a national encoding's are
        let e = editions();
        let listed = |restriction| ListEntries::Outpatient(vec![OutpatientDrug { code: "A".into(), annual_max: dec!(66000), local_restriction: Some(restriction) }]);
        assert!(e.check(&listed(acromegaly.clone()), None).is_empty());
        let bad = LocalRestriction { text: " ".into(), indications: vec!["肢端肥大".into()], min_age: Some(30), max_age: Some(20), ..acromegaly };
        let problems = e.check(&listed(bad), None);
        let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers, ["/entries/0/local_restriction/text", "/entries/0/local_restriction/indications/0", "/entries/0/local_restriction/max_age"]);
        assert_eq!(rules_of(&problems), [Some("C9"); 3]);
        // a version published before the field existed reads, and is written back the same
        let old = serde_json::json!({"list": "outpatient", "entries": [{"code": "A", "annual_max": "66000.00"}]});
        let read: ListEntries = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(serde_json::to_value(&read).unwrap(), old);
    }

    #[test]
    fn preparations_have_codes_of_their_own() {
        let preparation = |code: &str| Preparation {
            code: code.into(),
            name: "复方黄柏液".into(),
            dosage_form: None,
            specification: None,
            fixmedins_code: "H42010000001".into(),
            insurance_class: InsuranceClass::B,
            payment_standard: Some(dec!(12.50)),
            approval_no: None,
            group_institutions: Vec::new(),
        };
        let e = editions();
        assert!(e.check(&ListEntries::Preparations(vec![preparation("P-420100-1")]), None).is_empty());
        assert_eq!(rules_of(&e.check(&ListEntries::Preparations(vec![preparation("A")]), None)), [Some("C2")]);
        // issue 14 item 4: paid at its institution, and in its group where approved (seed 003)
        let grouped = Preparation { group_institutions: vec!["H42010000002".into()], ..preparation("P-420100-1") };
        assert_eq!((grouped.paid_at("H42010000001"), grouped.paid_at("H42010000002")), (Ok(()), Ok(())));
        assert!(grouped.paid_at("H42010000003").is_err() && preparation("P-420100-1").paid_at("H42010000002").is_err());
        let own_in_group = Preparation { group_institutions: vec!["H42010000001".into()], ..preparation("P-420100-1") };
        assert_eq!(e.check(&ListEntries::Preparations(vec![own_in_group]), None).len(), 1);
    }

    #[test]
    fn adjustments_follow_c5() {
        let adjust = |code: &str, spec: &str, reason| AdjustedStandard { code: code.into(), specification: spec.into(), amount: dec!(50.00), reason };
        let e = editions();
        let ok = ListEntries::AdjustedStandards(vec![
            adjust("A", "20mg/片", AdjustmentReason::VolumeProcurement),
            adjust("A", "40mg/片", AdjustmentReason::NewSpecification),
        ]);
        assert!(e.check(&ok, None).is_empty());
        let bad = ListEntries::AdjustedStandards(vec![
            adjust("R", "1g", AdjustmentReason::SameNameGeneric),
            adjust("A", "20mg/片", AdjustmentReason::NewSpecification),
            adjust("A", "80mg/片", AdjustmentReason::SameNameGeneric),
            adjust("A", "80mg/片", AdjustmentReason::SameNameGeneric),
        ]);
        let problems = e.check(&bad, None);
        assert_eq!(rules_of(&problems), [Some("C5"), Some("C5"), Some("C5"), None, Some("C5")], "{problems:?}");
    }

    #[test]
    fn effective_standards_apply_adjustments_and_keep_confidential_ones_confidential() {
        let entry = negotiated("甲药", published(dec!(63.00)));
        let cut = AdjustedStandard { code: "A".into(), specification: "20mg/片".into(), amount: dec!(50.00), reason: AdjustmentReason::VolumeProcurement };
        let added = AdjustedStandard { code: "A".into(), specification: "40mg/片".into(), amount: dec!(90.00), reason: AdjustmentReason::NewSpecification };
        assert_eq!(effective_standards(&entry, &[]).iter().map(|s| s.source).collect::<Vec<_>>(), [StandardSource::National]);
        let standards = effective_standards(&entry, &[&cut, &added]);
        assert_eq!(standards.len(), 2);
        assert_eq!(standards[0].standard.amount, published(dec!(50.00)));
        assert_eq!(standards[0].standard.specification.as_deref(), Some("20mg/片"));
        assert_eq!(standards[1].standard.amount, published(dec!(90.00)));
        assert_eq!(standards[1].source, StandardSource::Regional { reason: AdjustmentReason::NewSpecification });

        // rule C6: a region's standard for a `*` drug is as confidential as the national one
        let secret = negotiated("乙药", StandardAmount::Confidential { amount: None });
        for standard in effective_standards(&secret, &[&cut, &added]) {
            assert!(matches!(standard.standard.amount, StandardAmount::Confidential { amount: Some(_) }), "{standard:?}");
        }
    }

    #[test]
    fn negotiated_drugs_are_paid_within_their_agreement_period_or_transition() {
        let entry = negotiated("甲药", published(dec!(63.00)));
        assert_eq!(unpaid_reason(&entry, date(2025, 12, 31), false), None);
        assert!(unpaid_reason(&entry, date(2026, 1, 1), false).is_some_and(|r| r.contains("2025-12-31")));
        assert_eq!(unpaid_reason(&entry, date(2026, 1, 1), true), None);
        assert_eq!(unpaid_reason(&regular("常规药"), date(2030, 1, 1), false), None);
    }

    #[test]
    fn structured_restrictions_name_every_unmet_condition() {
        // rule C9
        let restriction = StructuredRestriction {
            code: "A".into(),
            indications: vec!["M05".into(), "M45".into()],
            min_age: Some(18),
            max_age: None,
            specialties: vec!["风湿免疫科".into()],
            min_line_of_therapy: Some(2),
        };
        let diagnoses = vec!["M05.901".to_string()];
        let met = PatientFacts { diagnoses: &diagnoses, age: Some(40), prescriber_specialty: Some("风湿免疫科"), line_of_therapy: Some(2) };
        assert!(restriction.unmet(&met).is_empty());
        let other = vec!["C34.9".to_string()];
        let unmet = PatientFacts { diagnoses: &other, age: Some(12), prescriber_specialty: Some("肿瘤科"), line_of_therapy: Some(1) };
        assert_eq!(restriction.unmet(&unmet).len(), 4);
        let unstated = PatientFacts { diagnoses: &diagnoses, age: None, prescriber_specialty: Some("风湿免疫科"), line_of_therapy: None };
        assert_eq!(restriction.unmet(&unstated).len(), 2);
        // a list of restrictions encodes only entries that have one, with ICD-10 prefixes
        let e = editions();
        let bad = StructuredRestriction { code: "R".into(), indications: vec!["肺癌".into()], min_age: Some(20), max_age: Some(10), specialties: vec![], min_line_of_therapy: None };
        let problems = e.check(&ListEntries::Restrictions(vec![bad]), None);
        assert_eq!(problems.iter().map(|p| p.pointer.as_str()).collect::<Vec<_>>(), ["/entries/0/code", "/entries/0/indications/0", "/entries/0/max_age"]);
    }

    #[test]
    fn transition_lasts_six_months_for_negotiated_drugs_only() {
        // rule C4: 2024 edition from 2025-01-01, old standards paid until 2025-06-30
        assert_eq!(transition_end(date(2025, 1, 1)), date(2025, 6, 30));
        assert_eq!(transition_end(date(2024, 8, 31)), date(2025, 2, 27));
        let old = negotiated("丙药", published(dec!(63.00)));
        assert!(in_transition(old.category, date(2025, 1, 1), date(2025, 1, 1)));
        assert!(in_transition(old.category, date(2025, 1, 1), date(2025, 6, 30)));
        assert!(!in_transition(old.category, date(2025, 1, 1), date(2025, 7, 1)));
        assert!(!in_transition(old.category, date(2025, 1, 1), date(2024, 12, 31)));
        assert!(!in_transition(regular("常规药").category, date(2025, 1, 1), date(2025, 3, 1)));
    }
}
