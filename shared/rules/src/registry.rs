//! The registry (rules I1–I4): designated institutions (定点医疗机构), designated retail
//! pharmacies (定点零售药店), responsible physicians (责任医师), pharmacists and insured persons,
//! as plain records with the checks that decide whether one may be registered, and by whom.
//!
//! A record is checked whole: a check returns *every* problem it finds, each a
//! [`FieldProblem`] that points at the body field (JSON Pointer) and cites its rule, so an
//! agency fixes a refused record in one go. Checks that depend on other records (a pharmacy's
//! linked institutions, a physician's institution) take what the caller looked up as
//! arguments: nothing here reads a store.
//!
//! A person's "three fixed" (rule I4: institution, responsible physician, pharmacy) are not part
//! of the person's record: they belong to the person's eligibility filings, one per drug.

use crate::identity::{self, Certno, CertnoError, CertnoKey};
use crate::role::{Principal, is_code};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::{BTreeSet, HashSet};
use std::fmt;

/// A pharmacy links at most this many institutions: the handler looks each one up, so the
/// list bounds the reads of one request.
pub const MAX_LINKED_INSTITUTIONS: usize = 20;
const MAX_KEY_SPECIALTIES: usize = 50;
const NAME_CHARS: usize = 100;
const ADDRESS_CHARS: usize = 200;
const SPECIALTY_CHARS: usize = 50;
const PHONE_CHARS: usize = 32;

/// One thing wrong with a record: where (a JSON Pointer into the body), why, and the rule it
/// breaks, if a numbered rule is what it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub rule: Option<&'static str>,
    pub reason: String,
}

impl FieldProblem {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldProblem { field: field.into(), rule: None, reason: reason.into() }
    }

    pub(crate) fn rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }
}

/// A region code (`admdvs`, GB/T 2260): six digits, e.g. `420100` (Wuhan), `420000` (Hubei).
pub fn is_admdvs(value: &str) -> bool {
    value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit())
}

/// The city of a region code (GB/T 2260: `PPCCDD`): `PPCC00` (`420102`, 江汉区, is in Wuhan,
/// `420100`). A province's own code is its own city.
pub fn city_of(admdvs: &str) -> String {
    match admdvs.get(..4) {
        Some(city) if is_admdvs(admdvs) && !admdvs.ends_with("0000") => format!("{city}00"),
        _ => admdvs.to_string(),
    }
}

/// The province of a region code: `PP0000`.
pub fn province_of(admdvs: &str) -> String {
    match admdvs.get(..2) {
        Some(province) if is_admdvs(admdvs) => format!("{province}0000"),
        _ => admdvs.to_string(),
    }
}

/// Where a region's lists and policies are looked up (issue 14: regions are a hierarchy): the
/// region itself, then its city, then its province, each once (`420102` → `420102`, `420100`,
/// `420000`; `420100` → `420100`, `420000`). The first level that published one is in force.
pub fn region_chain(admdvs: &str) -> Vec<String> {
    let mut chain = vec![admdvs.to_string()];
    for level in [city_of(admdvs), province_of(admdvs)] {
        if !chain.contains(&level) {
            chain.push(level);
        }
    }
    chain
}

/// Whether an agency of region `agency` administers records of region `admdvs`: its own
/// region and the regions under it (a provincial agency, `PP0000`, its province; a city's,
/// `PPCC00`, its districts), never a sibling or its parent.
pub fn administers(agency: &str, admdvs: &str) -> bool {
    is_admdvs(agency) && is_admdvs(admdvs) && is_within(admdvs, agency)
}

/// Whether region `admdvs` is `area` or lies under it (a district in its city or province, a
/// city in its province).
pub fn is_within(admdvs: &str, area: &str) -> bool {
    region_chain(admdvs).iter().any(|level| level == area)
}

/// Whether `principal` may write (or, for personal records, read) registry records of region
/// `admdvs`: an admin anywhere, an agency where it [`administers`], nobody else.
pub fn may_administer(principal: &Principal, admdvs: &str) -> bool {
    match principal {
        Principal::Admin { .. } => true,
        Principal::Agency { admdvs: agency } => administers(agency, admdvs),
        Principal::Public
        | Principal::Patient { .. }
        | Principal::Physician { .. }
        | Principal::HospitalOffice { .. }
        | Principal::Pharmacist { .. } => false,
    }
}

/// A record that belongs to a region: institutions and pharmacies by their own `admdvs`.
pub trait Regional {
    fn admdvs(&self) -> &str;
}

/// A record that belongs to a registered home (a physician to an institution, a pharmacist to
/// a pharmacy) and takes that home's region.
pub trait Affiliated {
    /// The home's `fixmedins_code`.
    fn home(&self) -> &str;
    /// Every problem of the record, given whether its home is registered (asked only when
    /// [`Affiliated::home`] is a well-formed code).
    fn check(&self, home_registered: bool) -> Vec<FieldProblem>;
}

// ---------------------------------------------------------------------------------------------
// Designated institutions (rule I1)

/// The level of an institution: 一级, 二级, 三级 (1, 2, 3 at the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Level {
    First,
    Second,
    Third,
}

impl TryFrom<u8> for Level {
    type Error = &'static str;
    fn try_from(level: u8) -> Result<Self, Self::Error> {
        match level {
            1 => Ok(Level::First),
            2 => Ok(Level::Second),
            3 => Ok(Level::Third),
            _ => Err("level is 1, 2 or 3 (一级, 二级, 三级)"),
        }
    }
}

impl From<Level> for u8 {
    fn from(level: Level) -> u8 {
        match level {
            Level::First => 1,
            Level::Second => 2,
            Level::Third => 3,
        }
    }
}

/// A diagnostic capability an institution declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// 病理
    Pathology,
    /// 基因检测
    GeneticTesting,
    /// 医学影像
    Imaging,
    /// 医学检验
    Laboratory,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Pathology => "pathology",
            Capability::GeneticTesting => "genetic testing",
            Capability::Imaging => "imaging",
            Capability::Laboratory => "laboratory",
        })
    }
}

/// A designated medical institution (定点医疗机构), as an agency registers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Institution {
    pub name: String,
    /// The region (city) the institution is designated in.
    pub admdvs: String,
    pub level: Level,
    /// A set: listing one twice means the same, and it is kept in a fixed order.
    #[serde(default)]
    pub capabilities: BTreeSet<Capability>,
    /// Its specialties that the provincial or city health commission made key specialties
    /// (临床重点专科).
    #[serde(default)]
    pub key_specialties: Vec<String>,
    /// Open for in-province cross-region direct settlement (rule S6).
    pub cross_region_settlement: bool,
    #[serde(default)]
    pub address: Option<String>,
}

impl Regional for Institution {
    fn admdvs(&self) -> &str {
        &self.admdvs
    }
}

/// Why an institution does or does not provide separate-payment services (rule I1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// 三级 with a diagnostic capability that qualifies (pathology or genetic testing).
    Diagnostics(Capability),
    /// 三级 with neither pathology nor genetic testing.
    NoDiagnostics,
    /// 二级 with this key specialty.
    KeySpecialty(String),
    /// 二级 without a key specialty.
    NoKeySpecialty,
    /// 一级: never.
    FirstLevel,
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Basis::Diagnostics(capability) => write!(f, "tier-3 (三级) institution with {capability} capability"),
            Basis::NoDiagnostics => f.write_str("tier-3 (三级) institution without pathology or genetic testing capability"),
            Basis::KeySpecialty(specialty) => write!(f, "tier-2 (二级) institution with key specialty {specialty}"),
            Basis::NoKeySpecialty => f.write_str("tier-2 (二级) institution without a provincial or city key specialty"),
            Basis::FirstLevel => f.write_str("tier-1 (一级) institutions do not provide separate-payment services"),
        }
    }
}

/// Reasons are shown to people, as sentences.
impl Serialize for Basis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Whether an institution may provide separate-payment (单独支付) services, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeparatePayment {
    pub eligible: bool,
    pub basis: Vec<Basis>,
}

/// The capabilities that qualify a tier-3 institution (rule I1).
const QUALIFYING_DIAGNOSTICS: [Capability; 2] = [Capability::Pathology, Capability::GeneticTesting];

impl Institution {
    /// Rule I1. The source (`001_…`, Wuhan Q&A) reads: "具备相应的病理或基因检测能力的三级定点
    /// 医疗机构，以及…相应专科经省市卫健部门确定为临床重点专科的二级定点医疗机构": tier 3 with
    /// pathology *or* genetic testing capability, or tier 2 with a provincial/city key
    /// specialty. The two paths are separate: a tier-3 institution qualifies by its diagnostics
    /// only. Whether the specialty fits a given drug is for the prescription, not the registry.
    pub fn separate_payment(&self) -> SeparatePayment {
        let basis: Vec<Basis> = match self.level {
            Level::Third => {
                let found: Vec<Basis> = QUALIFYING_DIAGNOSTICS
                    .iter()
                    .filter(|c| self.capabilities.contains(c))
                    .map(|c| Basis::Diagnostics(*c))
                    .collect();
                if found.is_empty() { vec![Basis::NoDiagnostics] } else { found }
            }
            Level::Second if self.key_specialties.is_empty() => vec![Basis::NoKeySpecialty],
            Level::Second => self.key_specialties.iter().map(|s| Basis::KeySpecialty(s.clone())).collect(),
            Level::First => vec![Basis::FirstLevel],
        };
        let eligible = basis.iter().any(|b| matches!(b, Basis::Diagnostics(_) | Basis::KeySpecialty(_)));
        SeparatePayment { eligible, basis }
    }

    /// Every problem of the record's fields.
    pub fn check(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        check_text(&mut problems, "/name", &self.name, NAME_CHARS);
        check_admdvs(&mut problems, "/admdvs", &self.admdvs);
        if let Some(address) = &self.address {
            check_text(&mut problems, "/address", address, ADDRESS_CHARS);
        }
        if self.key_specialties.len() > MAX_KEY_SPECIALTIES {
            problems.push(FieldProblem::new("/key_specialties", format!("at most {MAX_KEY_SPECIALTIES} key specialties")));
        }
        let mut seen = HashSet::new();
        for (i, specialty) in self.key_specialties.iter().enumerate() {
            let field = format!("/key_specialties/{i}");
            check_text(&mut problems, &field, specialty, SPECIALTY_CHARS);
            if !seen.insert(specialty.as_str()) {
                problems.push(FieldProblem::new(field, "listed twice"));
            }
        }
        problems
    }
}

// ---------------------------------------------------------------------------------------------
// Designated retail pharmacies (rule I2)

/// A designated retail pharmacy (定点零售药店), as an agency registers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pharmacy {
    pub name: String,
    /// The region (city) the pharmacy is designated in; its public listing is this city's.
    pub admdvs: String,
    pub address: String,
    #[serde(default)]
    pub phone: Option<String>,
    /// Designated for the dual channel (双通道).
    pub dual_channel: bool,
    pub electronic_traceability: bool,
    pub can_supply: bool,
    pub compliant: bool,
    /// The designated institutions whose prescriptions it fills (`fixmedins_code`s).
    #[serde(default)]
    pub linked_institutions: Vec<String>,
    /// Open for in-province cross-region direct settlement (rule S6, seed `001_…`): a person
    /// insured in another city of the province settles here directly only if it is. Pharmacies
    /// registered before the flag existed read as not open until their agency says so.
    #[serde(default)]
    pub cross_region_settlement: bool,
}

impl Regional for Pharmacy {
    fn admdvs(&self) -> &str {
        &self.admdvs
    }
}

/// What the pharmacy check makes of one linked institution code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Malformed,
    Duplicate,
    /// Well-formed and first listed: whether it is registered must be looked up.
    Verify,
}

/// A pharmacy as a patient looking for one sees it: where it is and what it does, without the
/// agency's compliance assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicPharmacy {
    pub fixmedins_code: String,
    pub name: String,
    pub admdvs: String,
    pub address: String,
    pub phone: Option<String>,
    pub dual_channel: bool,
    pub linked_institutions: Vec<String>,
    /// Open for in-province cross-region direct settlement (S6): where a patient insured in
    /// another city of the province settles directly.
    pub cross_region_settlement: bool,
}

impl Pharmacy {
    /// Each linked code with what the check makes of it; empty when the list is too long, in
    /// which case nothing in it is looked up.
    fn links(&self) -> Vec<(usize, &str, Link)> {
        if self.linked_institutions.len() > MAX_LINKED_INSTITUTIONS {
            return Vec::new();
        }
        let mut seen = HashSet::new();
        self.linked_institutions
            .iter()
            .enumerate()
            .map(|(i, code)| {
                let link = if !is_code(code) {
                    Link::Malformed
                } else if !seen.insert(code.as_str()) {
                    Link::Duplicate
                } else {
                    Link::Verify
                };
                (i, code.as_str(), link)
            })
            .collect()
    }

    /// The linked institutions [`Pharmacy::check`] asks about: at most
    /// [`MAX_LINKED_INSTITUTIONS`], each once.
    pub fn links_to_verify(&self) -> Vec<&str> {
        self.links().into_iter().filter(|(_, _, link)| *link == Link::Verify).map(|(_, code, _)| code).collect()
    }

    /// Every problem of the record, given which linked institutions are registered. Rule I2:
    /// a dual-channel pharmacy has electronic traceability, can supply, is compliant and is
    /// linked to at least one institution; every linked institution is registered.
    pub fn check(&self, registered: impl Fn(&str) -> bool) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        check_text(&mut problems, "/name", &self.name, NAME_CHARS);
        check_admdvs(&mut problems, "/admdvs", &self.admdvs);
        check_text(&mut problems, "/address", &self.address, ADDRESS_CHARS);
        if let Some(phone) = &self.phone {
            let plausible = (1..=PHONE_CHARS).contains(&phone.len())
                && phone.bytes().any(|b| b.is_ascii_digit())
                && phone.bytes().all(|b| b.is_ascii_digit() || b" -+()".contains(&b));
            if !plausible {
                problems.push(FieldProblem::new("/phone", format!("1 to {PHONE_CHARS} digits, spaces and - + ( )")));
            }
        }
        if self.linked_institutions.len() > MAX_LINKED_INSTITUTIONS {
            problems.push(FieldProblem::new(
                "/linked_institutions",
                format!("at most {MAX_LINKED_INSTITUTIONS} linked institutions"),
            ));
        }
        for (i, code, link) in self.links() {
            let field = format!("/linked_institutions/{i}");
            match link {
                Link::Malformed => {
                    problems.push(FieldProblem::new(field, "a fixmedins_code is 1 to 64 letters, digits, '-' or '_'"))
                }
                Link::Duplicate => problems.push(FieldProblem::new(field, "listed twice")),
                Link::Verify if !registered(code) => {
                    problems.push(FieldProblem::new(field, format!("no designated institution {code} is registered")).rule("I2"))
                }
                Link::Verify => {}
            }
        }
        if self.dual_channel {
            let required = [
                ("/electronic_traceability", self.electronic_traceability, "have electronic drug traceability"),
                ("/can_supply", self.can_supply, "be able to supply the drugs"),
                ("/compliant", self.compliant, "be compliant (no outstanding violations)"),
            ];
            for (field, held, what) in required {
                if !held {
                    problems.push(FieldProblem::new(field, format!("a dual-channel pharmacy must {what}")).rule("I2"));
                }
            }
            if self.linked_institutions.is_empty() {
                problems.push(
                    FieldProblem::new(
                        "/linked_institutions",
                        "a dual-channel pharmacy must be linked to a designated institution",
                    )
                    .rule("I2"),
                );
            }
        }
        problems
    }

    /// What the public list of pharmacies shows of it (rule I2: the list is published).
    pub fn public_view(&self, fixmedins_code: &str) -> PublicPharmacy {
        PublicPharmacy {
            fixmedins_code: fixmedins_code.to_string(),
            name: self.name.clone(),
            admdvs: self.admdvs.clone(),
            address: self.address.clone(),
            phone: self.phone.clone(),
            dual_channel: self.dual_channel,
            linked_institutions: self.linked_institutions.clone(),
            cross_region_settlement: self.cross_region_settlement,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Responsible physicians (rule I3) and pharmacists

/// A physician's title: 住院医师, 主治医师, 副主任医师, 主任医师.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Title {
    Resident,
    Attending,
    AssociateChief,
    Chief,
}

impl Title {
    /// 高级专业技术职称: 副主任医师 and 主任医师 (S4: the outpatient mechanism's diagnosis).
    pub fn is_senior(self) -> bool {
        matches!(self, Title::AssociateChief | Title::Chief)
    }
}

/// A physician of a designated institution (rule I3: registered per institution). Regions
/// that require a senior title of responsible physicians will check `title` as region data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Physician {
    pub name: String,
    /// The institution the physician is registered at.
    pub fixmedins_code: String,
    pub title: Title,
    pub specialty: String,
    /// Registered as a responsible physician (责任医师) for separate-payment drugs.
    pub responsible: bool,
    pub active: bool,
}

impl Affiliated for Physician {
    fn home(&self) -> &str {
        &self.fixmedins_code
    }

    fn check(&self, home_registered: bool) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        check_text(&mut problems, "/name", &self.name, NAME_CHARS);
        check_text(&mut problems, "/specialty", &self.specialty, SPECIALTY_CHARS);
        check_home(&mut problems, &self.fixmedins_code, home_registered, "designated institution", "I3");
        problems
    }
}

/// A pharmacist of a designated pharmacy, who reviews and dispenses (rule P6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pharmacist {
    pub name: String,
    /// The pharmacy the pharmacist is registered at.
    pub fixmedins_code: String,
    pub active: bool,
}

impl Affiliated for Pharmacist {
    fn home(&self) -> &str {
        &self.fixmedins_code
    }

    fn check(&self, home_registered: bool) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        check_text(&mut problems, "/name", &self.name, NAME_CHARS);
        check_home(&mut problems, &self.fixmedins_code, home_registered, "designated pharmacy", "I2");
        problems
    }
}

// ---------------------------------------------------------------------------------------------
// Insured persons (rule E1)

/// The insurance scheme (`insutype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Insutype {
    /// 职工基本医疗保险
    #[serde(rename = "310")]
    EmployeeBasic,
    /// 城乡居民基本医疗保险
    #[serde(rename = "390")]
    ResidentBasic,
}

/// Whether the person currently enjoys benefits (rule E1: filing needs `normal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenefitStatus {
    Normal,
    Suspended,
}

fn resident_id_card() -> String {
    identity::RESIDENT_ID_CARD.to_string()
}

/// An insured person as an agency registers them: with the ID number, which is checked,
/// masked and digested by [`PersonForm::register`], and then forgotten.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonForm {
    pub name: String,
    pub certno: Certno,
    #[serde(default = "resident_id_card")]
    pub psn_cert_type: String,
    pub insutype: Insutype,
    /// Where the person is insured.
    pub insured_admdvs: String,
    pub benefit_status: BenefitStatus,
    /// The medical-assistance category the civil-affairs data gives the person (e.g.
    /// `low_income`), which the region's settlement policy pays assistance for (S7).
    #[serde(default)]
    pub assistance_category: Option<String>,
}

/// An insured person as the registry keeps them: no raw ID number, only its masked form and a
/// keyed digest (see [`CertnoKey`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub certno_masked: String,
    /// HMAC-SHA256 of the ID type and number, lowercase hex: matches a presented number
    /// without revealing it.
    pub certno_digest: String,
    pub psn_cert_type: String,
    pub insutype: Insutype,
    pub insured_admdvs: String,
    pub benefit_status: BenefitStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistance_category: Option<String>,
}

impl Regional for Person {
    fn admdvs(&self) -> &str {
        &self.insured_admdvs
    }
}

impl PersonForm {
    /// Every problem of the form's fields; the ID number is checked against its type.
    pub fn check(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        check_text(&mut problems, "/name", &self.name, NAME_CHARS);
        match identity::check_certno(&self.psn_cert_type, self.certno.as_str()) {
            Ok(()) => {}
            Err(error @ CertnoError::CertType) => problems.push(FieldProblem::new("/psn_cert_type", error.to_string())),
            Err(error) => problems.push(FieldProblem::new("/certno", error.to_string())),
        }
        check_admdvs(&mut problems, "/insured_admdvs", &self.insured_admdvs);
        if self.assistance_category.as_deref().is_some_and(|c| !crate::role::is_code(c)) {
            problems.push(FieldProblem::new("/assistance_category", "a category code: 1 to 64 letters, digits, '-' or '_'"));
        }
        problems
    }

    /// The record to keep: the ID number masked and digested under `key`, never itself.
    pub fn register(self, key: &CertnoKey) -> Person {
        let certno = self.certno.canonical(&self.psn_cert_type);
        Person {
            name: self.name,
            certno_masked: identity::mask_certno(&certno),
            certno_digest: key.digest(&self.psn_cert_type, &self.certno),
            psn_cert_type: self.psn_cert_type,
            insutype: self.insutype,
            insured_admdvs: self.insured_admdvs,
            benefit_status: self.benefit_status,
            assistance_category: self.assistance_category,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Field checks shared by the records

/// Free text people read: not blank, at most `max` characters, no control characters.
pub(crate) fn check_text(problems: &mut Vec<FieldProblem>, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        problems.push(FieldProblem::new(field, format!("1 to {max} characters, not blank, no control characters")));
    }
}

fn check_admdvs(problems: &mut Vec<FieldProblem>, field: &str, value: &str) {
    if !is_admdvs(value) {
        problems.push(FieldProblem::new(field, "a region code (GB/T 2260) is six digits, e.g. 420100"));
    }
}

/// The home (`/fixmedins_code`) of a physician or pharmacist must be a registered `what`.
fn check_home(problems: &mut Vec<FieldProblem>, code: &str, registered: bool, what: &str, rule: &'static str) {
    if !is_code(code) {
        problems.push(FieldProblem::new("/fixmedins_code", "a fixmedins_code is 1 to 64 letters, digits, '-' or '_'"));
    } else if !registered {
        problems.push(FieldProblem::new("/fixmedins_code", format!("no {what} {code} is registered")).rule(rule));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn institution(level: Level, capabilities: &[Capability], key_specialties: &[&str]) -> Institution {
        Institution {
            name: "武汉市第一医院".into(),
            admdvs: "420100".into(),
            level,
            capabilities: capabilities.iter().copied().collect(),
            key_specialties: key_specialties.iter().map(|s| s.to_string()).collect(),
            cross_region_settlement: true,
            address: Some("武汉市硚口区中山大道215号".into()),
        }
    }

    fn dual_channel_pharmacy() -> Pharmacy {
        Pharmacy {
            name: "国药大药房".into(),
            admdvs: "420100".into(),
            address: "武汉市江汉区解放大道1号".into(),
            phone: Some("027-8888 0000".into()),
            dual_channel: true,
            electronic_traceability: true,
            can_supply: true,
            compliant: true,
            linked_institutions: vec!["H42010000001".into()],
            cross_region_settlement: true,
        }
    }

    fn fields(problems: &[FieldProblem]) -> Vec<(&str, Option<&str>)> {
        problems.iter().map(|p| (p.field.as_str(), p.rule)).collect()
    }

    // rule I1 -------------------------------------------------------------------------------

    #[test]
    fn tier_3_with_pathology_or_genetic_testing_is_eligible_for_separate_payment() {
        use Capability::*;
        let both = institution(Level::Third, &[GeneticTesting, Pathology, Imaging], &[]).separate_payment();
        assert_eq!(
            both,
            SeparatePayment { eligible: true, basis: vec![Basis::Diagnostics(Pathology), Basis::Diagnostics(GeneticTesting)] }
        );
        let pathology = institution(Level::Third, &[Pathology], &[]).separate_payment();
        assert_eq!(pathology, SeparatePayment { eligible: true, basis: vec![Basis::Diagnostics(Pathology)] });
        let genetic = institution(Level::Third, &[GeneticTesting], &[]).separate_payment();
        assert_eq!(genetic, SeparatePayment { eligible: true, basis: vec![Basis::Diagnostics(GeneticTesting)] });
    }

    #[test]
    fn tier_3_without_the_diagnostics_is_not_eligible_even_with_a_key_specialty() {
        let tier3 = institution(Level::Third, &[Capability::Imaging, Capability::Laboratory], &["肿瘤科"]).separate_payment();
        assert_eq!(tier3, SeparatePayment { eligible: false, basis: vec![Basis::NoDiagnostics] });
    }

    #[test]
    fn tier_2_is_eligible_through_each_key_specialty_and_not_without_one() {
        let tier2 = institution(Level::Second, &[], &["肿瘤科", "血液科"]).separate_payment();
        let expected = vec![Basis::KeySpecialty("肿瘤科".into()), Basis::KeySpecialty("血液科".into())];
        assert_eq!(tier2, SeparatePayment { eligible: true, basis: expected });
        // diagnostics are the tier-3 path; a tier-2 institution qualifies by its specialties
        let none = institution(Level::Second, &[Capability::Pathology, Capability::GeneticTesting], &[]).separate_payment();
        assert_eq!(none, SeparatePayment { eligible: false, basis: vec![Basis::NoKeySpecialty] });
    }

    #[test]
    fn tier_1_is_never_eligible() {
        let tier1 =
            institution(Level::First, &[Capability::Pathology, Capability::GeneticTesting], &["肿瘤科"]).separate_payment();
        assert_eq!(tier1, SeparatePayment { eligible: false, basis: vec![Basis::FirstLevel] });
    }

    #[test]
    fn reasons_read_as_sentences() {
        let json = serde_json::to_value(institution(Level::Second, &[], &["肿瘤科"]).separate_payment().basis).unwrap();
        assert_eq!(json, serde_json::json!(["tier-2 (二级) institution with key specialty 肿瘤科"]));
    }

    #[test]
    fn levels_are_1_2_3_on_the_wire() {
        let parsed: Institution = serde_json::from_value(serde_json::json!({
            "name": "x", "admdvs": "420100", "level": 2, "capabilities": ["pathology", "pathology"], "cross_region_settlement": false
        }))
        .unwrap();
        assert_eq!((parsed.level, parsed.capabilities.len(), parsed.address), (Level::Second, 1, None));
        assert_eq!(serde_json::to_value(Level::Third).unwrap(), 3);
        let error = serde_json::from_value::<Institution>(serde_json::json!({
            "name": "x", "admdvs": "420100", "level": 4, "cross_region_settlement": false
        }))
        .unwrap_err();
        assert!(error.to_string().contains("1, 2 or 3"), "{error}");
    }

    #[test]
    fn institution_fields_are_all_checked_at_once() {
        let mut bad = institution(Level::Third, &[], &["肿瘤科", " ", "肿瘤科"]);
        bad.name = " ".into();
        bad.admdvs = "4201".into();
        bad.address = Some("a\u{7}".into());
        assert_eq!(
            fields(&bad.check()),
            [("/name", None), ("/admdvs", None), ("/address", None), ("/key_specialties/1", None), ("/key_specialties/2", None)]
        );
        assert!(institution(Level::Third, &[], &[]).check().is_empty());
        let mut many = institution(Level::Second, &[], &[]);
        many.key_specialties = (0..=MAX_KEY_SPECIALTIES).map(|i| format!("科{i}")).collect();
        assert_eq!(fields(&many.check()), [("/key_specialties", None)]);
    }

    // rule I2 -------------------------------------------------------------------------------

    #[test]
    fn a_complete_dual_channel_pharmacy_passes() {
        assert_eq!(dual_channel_pharmacy().check(|_| true), []);
    }

    #[test]
    fn a_dual_channel_pharmacy_missing_everything_gets_every_i2_violation_at_once() {
        let pharmacy = Pharmacy {
            electronic_traceability: false,
            can_supply: false,
            compliant: false,
            linked_institutions: Vec::new(),
            ..dual_channel_pharmacy()
        };
        assert_eq!(
            fields(&pharmacy.check(|_| true)),
            [
                ("/electronic_traceability", Some("I2")),
                ("/can_supply", Some("I2")),
                ("/compliant", Some("I2")),
                ("/linked_institutions", Some("I2"))
            ]
        );
    }

    #[test]
    fn every_linked_institution_must_be_registered_well_formed_and_listed_once() {
        let pharmacy = Pharmacy {
            dual_channel: false,
            linked_institutions: vec!["H1".into(), "H2".into(), "a:b".into(), "H1".into(), "H3".into()],
            ..dual_channel_pharmacy()
        };
        assert_eq!(pharmacy.links_to_verify(), ["H1", "H2", "H3"]);
        let problems = pharmacy.check(|code| code == "H2");
        assert_eq!(
            fields(&problems),
            [
                ("/linked_institutions/0", Some("I2")),
                ("/linked_institutions/2", None),
                ("/linked_institutions/3", None),
                ("/linked_institutions/4", Some("I2"))
            ]
        );
        assert!(problems[0].reason.contains("H1"), "{:?}", problems[0]);
    }

    #[test]
    fn a_pharmacy_not_designated_for_the_dual_channel_needs_no_i2_flags() {
        let plain = Pharmacy {
            dual_channel: false,
            electronic_traceability: false,
            can_supply: false,
            compliant: false,
            linked_institutions: Vec::new(),
            ..dual_channel_pharmacy()
        };
        assert_eq!(plain.check(|_| false), []);
    }

    #[test]
    fn too_many_links_are_refused_without_looking_any_up() {
        let pharmacy = Pharmacy {
            linked_institutions: (0..=MAX_LINKED_INSTITUTIONS).map(|i| format!("H{i}")).collect(),
            ..dual_channel_pharmacy()
        };
        assert!(pharmacy.links_to_verify().is_empty());
        let asked = std::cell::Cell::new(0);
        let problems = pharmacy.check(|_| {
            asked.set(asked.get() + 1);
            true
        });
        assert_eq!(fields(&problems), [("/linked_institutions", None)]);
        assert_eq!(asked.get(), 0);
    }

    #[test]
    fn pharmacy_text_fields_and_phone_are_checked_with_the_i2_flags() {
        let pharmacy = Pharmacy {
            name: String::new(),
            admdvs: "42010X".into(),
            address: "x".repeat(ADDRESS_CHARS + 1),
            phone: Some("call me".into()),
            compliant: false,
            ..dual_channel_pharmacy()
        };
        assert_eq!(
            fields(&pharmacy.check(|_| true)),
            [("/name", None), ("/admdvs", None), ("/address", None), ("/phone", None), ("/compliant", Some("I2"))]
        );
    }

    #[test]
    fn the_public_view_leaves_out_the_compliance_assessment() {
        let json = serde_json::to_value(dual_channel_pharmacy().public_view("P42010000001")).unwrap();
        assert_eq!(json["fixmedins_code"], "P42010000001");
        assert_eq!(json["dual_channel"], true);
        for internal in ["compliant", "can_supply", "electronic_traceability"] {
            assert!(json.get(internal).is_none(), "{internal} in {json}");
        }
    }

    // rule I3, pharmacists ------------------------------------------------------------------

    #[test]
    fn a_physician_is_registered_at_a_registered_institution() {
        let physician = Physician {
            name: "张医生".into(),
            fixmedins_code: "H42010000001".into(),
            title: Title::Chief,
            specialty: "肿瘤科".into(),
            responsible: true,
            active: true,
        };
        assert_eq!(physician.check(true), []);
        assert_eq!(fields(&physician.check(false)), [("/fixmedins_code", Some("I3"))]);
        let malformed = Physician { name: "".into(), fixmedins_code: "H 1".into(), specialty: "".into(), ..physician };
        assert_eq!(fields(&malformed.check(false)), [("/name", None), ("/specialty", None), ("/fixmedins_code", None)]);
    }

    #[test]
    fn a_pharmacist_is_registered_at_a_registered_pharmacy() {
        let pharmacist = Pharmacist { name: "李药师".into(), fixmedins_code: "P42010000001".into(), active: true };
        assert_eq!(pharmacist.check(true), []);
        assert_eq!(fields(&pharmacist.check(false)), [("/fixmedins_code", Some("I2"))]);
        assert_eq!(pharmacist.home(), "P42010000001");
    }

    // persons -------------------------------------------------------------------------------

    fn form(certno: &str, cert_type: Option<&str>) -> PersonForm {
        let mut json = serde_json::json!({
            "name": "王五", "certno": certno, "insutype": "310", "insured_admdvs": "420100", "benefit_status": "normal"
        });
        if let Some(cert_type) = cert_type {
            json["psn_cert_type"] = cert_type.into();
        }
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_person_is_kept_with_the_id_number_masked_and_digested_only() {
        let key = CertnoKey::derive(b"a-secret-of-at-least-thirty-two-bytes");
        let sent = form("11010519491231002x", None);
        assert_eq!(sent.psn_cert_type, "01", "the resident identity card is the default");
        assert_eq!(sent.check(), []);
        let expected_digest = key.digest("01", &sent.certno);
        let person = sent.register(&key);
        assert_eq!(person.certno_masked, "110***********002X");
        assert_eq!(person.certno_digest, expected_digest);
        let json = serde_json::to_string(&person).unwrap();
        assert!(!json.contains("11010519491231002"), "{json}");
        // the same form registers the same record: a repeated PUT changes nothing
        assert_eq!(person, form("11010519491231002X", None).register(&key));
    }

    #[test]
    fn person_problems_are_reported_together_and_point_at_their_field() {
        let mut bad = form("11010519491231002Y", None);
        bad.name = "\n".into();
        bad.insured_admdvs = "hubei".into();
        assert_eq!(fields(&bad.check()), [("/name", None), ("/certno", None), ("/insured_admdvs", None)]);
        assert_eq!(fields(&form("11010519491231002X", Some("1")).check()), [("/psn_cert_type", None)]);
        assert_eq!(form("E12345678", Some("03")).check(), []);
        assert_eq!(form("110105194912310021", None).check()[0].reason, CertnoError::CheckDigit.to_string());
    }

    #[test]
    fn a_person_form_never_debugs_its_id_number() {
        let debugged = format!("{:?}", form("11010519491231002X", None));
        assert!(!debugged.contains("11010519491231002X"), "{debugged}");
    }

    // regions -------------------------------------------------------------------------------

    #[test]
    fn regions_are_a_hierarchy_of_district_city_and_province() {
        // issue 14: GB/T 2260, PP0000 ⊃ PPCC00 ⊃ PPCCDD
        assert_eq!(region_chain("420102"), ["420102", "420100", "420000"]);
        assert_eq!(region_chain("420100"), ["420100", "420000"]);
        assert_eq!(region_chain("420000"), ["420000"]);
        assert_eq!((city_of("420102"), city_of("420100"), city_of("420000")), ("420100".into(), "420100".into(), "420000".into()));
        assert_eq!(province_of("420102"), "420000");
    }

    #[test]
    fn an_agency_administers_its_own_region_and_the_regions_under_it_only() {
        assert!(administers("420100", "420100"));
        assert!(!administers("420100", "420500"), "a city agency: not another city");
        assert!(administers("420100", "420102"), "a city agency: its districts");
        assert!(!administers("420102", "420100"), "a district agency: not its city");
        assert!(!administers("420102", "420103"), "a district agency: not a sibling district");
        assert!(!administers("420100", "420000"), "a city agency: not its province");
        assert!(administers("420000", "420100"));
        assert!(administers("420000", "420000"));
        assert!(!administers("420000", "430100"), "a province: not another province");
        assert!(!administers("000000", "420100"), "no national agency by accident of the pattern");
        assert!(!administers("42000", "420100"));
        assert!(!administers("420000", "42010"));
        assert!(!administers("abcdef", "abcdef"));
    }

    #[test]
    fn admins_administer_everywhere_and_other_roles_nowhere() {
        assert!(may_administer(&Principal::Admin { operator: "ops-1".into() }, "650100"));
        assert!(may_administer(&Principal::Agency { admdvs: "420000".into() }, "420500"));
        assert!(!may_administer(&Principal::Agency { admdvs: "420100".into() }, "430100"));
        assert!(!may_administer(&Principal::Patient { psn_no: "420100".into() }, "420100"));
        assert!(!may_administer(&Principal::HospitalOffice { fixmedins_code: "H1".into() }, "420100"));
        assert!(!may_administer(&Principal::Public, "420100"));
    }

    #[test]
    fn region_codes_are_six_digits() {
        assert!(is_admdvs("420100"));
        for bad in ["", "42010", "4201000", "42010a", "４20100"] {
            assert!(!is_admdvs(bad), "{bad}");
        }
    }
}
