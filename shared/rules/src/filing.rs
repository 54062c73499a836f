//! Eligibility filing (用药资格备案, rules E2–E7, I4) and the outpatient mechanism's
//! registration (诊断登记, rule S4): one explicit state machine for both. A filing is
//! applied for (E2), recommended or refused by the responsible physician (E3), approved or
//! rejected by the institution's insurance office (E4), then lives for a year with
//! reassessments at most six months apart (E5) until it expires, is revoked, or its drug stops
//! being covered (E7). A registration ([`Scheme::OutpatientMechanism`]) walks the same steps:
//! the senior physician's diagnosis and plan is the recommendation, the institution's online
//! registration the approval (no fixed pharmacy: 三定 fixes institution, physicians and drug),
//! the same year of validity and six-monthly reassessment; a registration at another
//! institution, once approved, supersedes the one before (a change of institution).
//!
//! [`Filing::apply`] is the only way in and [`Filing::act`] the only way on: every action is
//! checked against the state it is taken in and who takes it, and an illegal one changes
//! nothing. Whether a filing is usable on a date is derived ([`Filing::standing_on`]), never
//! stored, so expiry and overdue reassessment need no background job.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// How long an approval is valid (rule E5: one year).
const VALIDITY: Months = Months::new(12);
/// The longest gap between reassessments (rule E5: at least every six months).
const REASSESSMENT_INTERVAL: Months = Months::new(6);

/// The last day of a period of `months` starting on `from`.
fn period_end(from: NaiveDate, months: Months) -> NaiveDate {
    from.checked_add_months(months).and_then(|d| d.pred_opt()).unwrap_or(NaiveDate::MAX)
}

/// Where a filing is in its workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FilingState {
    /// Applied for; the responsible physician has not reviewed it yet (E2 → E3).
    AwaitingPhysician,
    /// Recommended by the physician; the insurance office has not confirmed it yet (E3 → E4).
    AwaitingOffice,
    /// Approved (E4): usable from `valid_from` to `valid_until` while reassessed by
    /// `reassess_by` (E5) and the drug is covered (E7).
    Approved { valid_from: NaiveDate, valid_until: NaiveDate, reassess_by: NaiveDate },
    /// Refused by the physician (E3) or rejected by the office (E4), with the reason.
    Refused { by: Actor, reason: String },
    /// Withdrawn by the patient before a decision.
    Withdrawn,
    /// Revoked after approval, with the reason.
    Revoked { reason: String },
    /// An outpatient-mechanism registration replaced by registration `by` at another
    /// institution (S4: the patient changed their institution).
    Superseded { by: String },
}

impl FilingState {
    /// No action leads out of a final state.
    pub fn is_final(&self) -> bool {
        matches!(self, FilingState::Refused { .. } | FilingState::Withdrawn | FilingState::Revoked { .. } | FilingState::Superseded { .. })
    }
}

/// What a filing admits its person to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// A separate-payment or dual-channel drug's eligibility filing (E2–E7).
    #[default]
    SeparatePayment,
    /// The outpatient negotiated-drug mechanism's registration (诊断登记, S4).
    OutpatientMechanism,
}

impl Scheme {
    pub fn is_separate_payment(&self) -> bool {
        *self == Scheme::SeparatePayment
    }
}

/// Who acts on a filing; the component maps an authenticated principal to one of these after
/// its object-level checks (the physician is the filing's own, the office is its
/// institution's, the patient is the filing's person).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Patient,
    Physician,
    HospitalOffice,
    Agency,
}

/// What someone does to a filing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// E3: the physician recommends approval.
    Recommend,
    /// E3: the physician refuses; a reason is required.
    Refuse { reason: String },
    /// E4: the office approves, binding the fixed pharmacy (I4); a registration (S4) is
    /// approved without one, or with the dual-channel pharmacy the patient usually buys at.
    Approve {
        #[serde(default)]
        pharmacy: Option<String>,
    },
    /// E4: the office rejects; a reason is required.
    Reject { reason: String },
    /// E5: the physician reassesses; the next reassessment is due six months on (never after
    /// the end of the validity year).
    Reassess,
    /// E5: the physician updates diagnosis or plan (the component stores the new version).
    Update,
    /// I4: the fixed pharmacy changes (patient or office).
    ChangePharmacy { pharmacy: String },
    /// E5: the physician recommends renewing an approved filing (a new recommendation, on
    /// fresh records the component stores), from 30 days before it expires to 30 days after.
    RecommendRenewal,
    /// E4: the office confirms the physician's renewal: a new validity year (following the old
    /// one without a gap when renewed before it ended, else from the day of renewal).
    Renew,
    /// The patient withdraws an application before a decision.
    Withdraw,
    /// Approval or application ends early, with a reason (office or agency).
    Revoke { reason: String },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Recommend => "recommend",
            Action::Refuse { .. } => "refuse",
            Action::Approve { .. } => "approve",
            Action::Reject { .. } => "reject",
            Action::Reassess => "reassess",
            Action::Update => "update",
            Action::ChangePharmacy { .. } => "change_pharmacy",
            Action::RecommendRenewal => "recommend_renewal",
            Action::Renew => "renew",
            Action::Withdraw => "withdraw",
            Action::Revoke { .. } => "revoke",
        }
    }

    /// Who may take the action (the component's object-level checks come on top).
    pub fn allowed_actors(&self) -> &'static [Actor] {
        match self {
            Action::Recommend | Action::Refuse { .. } | Action::Reassess | Action::Update | Action::RecommendRenewal => &[Actor::Physician],
            Action::Approve { .. } | Action::Reject { .. } | Action::Renew => &[Actor::HospitalOffice],
            Action::ChangePharmacy { .. } => &[Actor::Patient, Actor::HospitalOffice],
            Action::Withdraw => &[Actor::Patient],
            Action::Revoke { .. } => &[Actor::HospitalOffice, Actor::Agency],
        }
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{actor:?} may not {action}")]
    NotAllowed { actor: Actor, action: &'static str },
    #[error("a filing that is {state} cannot {action}")]
    IllegalTransition { state: &'static str, action: &'static str },
    #[error("a reason is required (rule {rule})")]
    ReasonRequired { rule: &'static str },
    #[error("a filing may be renewed from 30 days before it expires ({valid_until}), not on {date}")]
    TooEarlyToRenew { valid_until: NaiveDate, date: NaiveDate },
    #[error("a filing may be renewed until 30 days after it expired ({valid_until}); on {date} apply anew")]
    TooLateToRenew { valid_until: NaiveDate, date: NaiveDate },
    #[error("a renewal is the responsible physician's recommendation first, on fresh records (rule E5)")]
    RenewalNotRecommended,
    #[error("the fixed pharmacy must be named (rule I4)")]
    PharmacyRequired,
}

impl Refusal {
    /// The rule the refusal enforces.
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::NotAllowed { .. } | Refusal::IllegalTransition { .. } => "E4",
            Refusal::ReasonRequired { rule } => rule,
            Refusal::TooEarlyToRenew { .. } | Refusal::TooLateToRenew { .. } | Refusal::RenewalNotRecommended => "E5",
            Refusal::PharmacyRequired => "I4",
        }
    }
}

/// The workflow part of a filing: its state, the fixed pharmacy once approved (I4), and how
/// many times it changed (each change is one audit entry and one stored version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filing {
    #[serde(flatten)]
    pub state: FilingState,
    /// A filing stored before registrations existed reads as a separate-payment filing.
    #[serde(default, skip_serializing_if = "Scheme::is_separate_payment")]
    pub scheme: Scheme,
    pub pharmacy: Option<String>,
    pub version: u32,
    /// The day the physician recommended renewing the approved filing (E5), until the office
    /// renews it. Filings stored before renewals needed it read as none pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_recommended_on: Option<NaiveDate>,
}

/// How an application reached the system (rule E2: at the institution's office, or online with
/// the same materials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Institution,
    Online,
}

/// What a filing records (rule E5): who, which drug, where, on what diagnosis and basis, and
/// the treatment plan. The fixed institution and responsible physician are bound here (I4);
/// the fixed pharmacy at approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// A separate-payment filing unless it says otherwise.
    #[serde(default, skip_serializing_if = "Scheme::is_separate_payment")]
    pub scheme: Scheme,
    pub psn_no: String,
    /// The drug's catalogue code.
    pub code: String,
    pub fixmedins_code: String,
    pub dr_code: String,
    /// ICD-10 codes of the diagnoses the drug is for.
    pub diagnoses: Vec<String>,
    /// References to the medical or test records supporting the application (E2): document
    /// numbers in the institution's systems, never the records themselves.
    pub records: Vec<String>,
    pub treatment_plan: String,
    /// The patient's age in years and the line of therapy, where the drug's restriction
    /// depends on them (C9).
    #[serde(default)]
    pub patient_age: Option<u32>,
    #[serde(default)]
    pub line_of_therapy: Option<u8>,
    /// The longest supply, in days, one prescription may give under the treatment plan (E5);
    /// the e-prescription center holds prescriptions of the drug to it (and to the region's
    /// maximum).
    #[serde(default)]
    pub days_per_prescription: Option<u32>,
    /// The most of the drug the plan allows in a period (E5, M3): dispensings under the filing
    /// are held to it, cumulatively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_quantity: Option<crate::plan::PlanQuantity>,
    /// A registration's physicians besides `dr_code` who may prescribe under it (S4, 三定:
    /// 定医师), each a senior physician of the same institution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub named_physicians: Vec<String>,
}

impl Application {
    /// The physicians the filing names: its own, then the registration's others (S4).
    pub fn physicians(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.dr_code.as_str()).chain(self.named_physicians.iter().map(String::as_str))
    }
}

/// The most physicians a registration names besides its own.
const MAX_NAMED_PHYSICIANS: usize = 10;

/// Whether a code has the shape of an ICD-10 code: a letter, two digits, then optionally a dot
/// and up to four letters or digits (`C34.901`, `E75.2`, `M05`).
pub fn is_icd10(code: &str) -> bool {
    let bytes = code.as_bytes();
    let head = bytes.len() >= 3 && bytes[0].is_ascii_uppercase() && bytes[1].is_ascii_digit() && bytes[2].is_ascii_digit();
    let tail = match &bytes[3.min(bytes.len())..] {
        [] => true,
        [b'.', rest @ ..] => (1..=4).contains(&rest.len()) && rest.iter().all(u8::is_ascii_alphanumeric),
        _ => false,
    };
    head && tail
}

/// Every problem with an application's own fields, as (JSON pointer, reason), all at once.
pub fn application_problems(application: &Application) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (field, value) in [
        ("psn_no", &application.psn_no),
        ("code", &application.code),
        ("fixmedins_code", &application.fixmedins_code),
        ("dr_code", &application.dr_code),
    ] {
        if !crate::role::is_code(value) {
            problems.push((format!("/{field}"), "1 to 64 letters, digits, '-' or '_'".to_string()));
        }
    }
    if application.diagnoses.is_empty() || application.diagnoses.len() > 20 {
        problems.push(("/diagnoses".into(), "1 to 20 ICD-10 codes (rule E5: a filing records the diagnosis)".into()));
    }
    for (i, diagnosis) in application.diagnoses.iter().enumerate() {
        if !is_icd10(diagnosis) {
            problems.push((format!("/diagnoses/{i}"), "an ICD-10 code such as C34.901".into()));
        }
    }
    if application.records.is_empty() || application.records.len() > 50 {
        problems.push(("/records".into(), "1 to 50 references to supporting records (rule E2)".into()));
    }
    for (i, record) in application.records.iter().enumerate() {
        if record.trim().is_empty() || record.chars().count() > 128 {
            problems.push((format!("/records/{i}"), "a reference of 1 to 128 characters".into()));
        }
    }
    let plan = application.treatment_plan.trim().chars().count();
    if plan == 0 || plan > 2000 {
        problems.push(("/treatment_plan".into(), "the treatment plan, 1 to 2000 characters (rule E5)".into()));
    }
    if application.days_per_prescription.is_some_and(|days| !(1..=crate::prescription::LONGEST_SUPPLY_DAYS).contains(&days)) {
        let longest = crate::prescription::LONGEST_SUPPLY_DAYS;
        problems.push(("/days_per_prescription".into(), format!("1 to {longest} days (a long prescription covers at most 12 weeks)")));
    }
    if let Some(plan) = &application.plan_quantity {
        problems.extend(plan.problems("/plan_quantity"));
    }
    match application.scheme {
        Scheme::SeparatePayment if !application.named_physicians.is_empty() => {
            problems.push(("/named_physicians".into(), "only an outpatient-mechanism registration names further physicians (rule S4); a filing's is dr_code (I4)".into()));
        }
        _ if application.named_physicians.len() > MAX_NAMED_PHYSICIANS => {
            problems.push(("/named_physicians".into(), format!("at most {MAX_NAMED_PHYSICIANS} physicians besides dr_code")));
        }
        _ => {}
    }
    for (i, code) in application.named_physicians.iter().enumerate() {
        if !crate::role::is_code(code) {
            problems.push((format!("/named_physicians/{i}"), "1 to 64 letters, digits, '-' or '_'".into()));
        } else if application.physicians().filter(|p| p == code).count() > 1 {
            problems.push((format!("/named_physicians/{i}"), "each physician once, dr_code not again".into()));
        }
    }
    problems
}

/// What the registry and the catalogue say about an application's parties and drug, as of the
/// application date; `None` where nothing is registered under the code.
pub struct Facts<'a> {
    pub person: Option<&'a crate::registry::Person>,
    pub institution: Option<&'a crate::registry::Institution>,
    pub physician: Option<&'a crate::registry::Physician>,
    /// A registration's named physicians (S4), in the application's order.
    pub named_physicians: Vec<Option<&'a crate::registry::Physician>>,
    pub drug: Option<DrugFacts>,
}

/// The drug's coverage in the institution's region (rules C2, E7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrugFacts {
    pub separate_payment: bool,
    pub dual_channel: bool,
    /// On the region's outpatient negotiated-drug list (S4).
    pub outpatient: bool,
    pub payable: bool,
}

impl DrugFacts {
    /// Whether a filing of `scheme` may admit the person to the drug (C2, E7, S4).
    pub fn admits(&self, scheme: Scheme) -> bool {
        self.payable
            && match scheme {
                Scheme::SeparatePayment => self.separate_payment || self.dual_channel,
                Scheme::OutpatientMechanism => self.outpatient,
            }
    }
}

/// One reason an application cannot be accepted, at a JSON pointer into it, with its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ineligibility {
    pub field: String,
    pub rule: &'static str,
    pub reason: String,
}

/// Every reason the application cannot be accepted, all at once: for a filing rules E1, I1,
/// I3, C2/E7; for a registration E1 and S4 (a tier-3 institution, physicians of senior title
/// registered there, a drug on the region's outpatient list).
pub fn ineligibilities(application: &Application, facts: &Facts<'_>) -> Vec<Ineligibility> {
    use crate::registry::BenefitStatus;
    let mechanism = application.scheme == Scheme::OutpatientMechanism;
    let mut found = Vec::new();
    let mut refuse = |field: String, rule, reason: String| found.push(Ineligibility { field, rule, reason });
    match facts.person {
        None => refuse("/psn_no".into(), "E1", "no insured person is registered under this psn_no".into()),
        Some(person) if person.benefit_status != BenefitStatus::Normal => {
            refuse("/psn_no".into(), "E1", "the person's insurance benefits are suspended".into())
        }
        Some(_) => {}
    }
    match facts.institution {
        None => refuse("/fixmedins_code".into(), if mechanism { "S4" } else { "I1" }, "no designated institution is registered under this code".into()),
        Some(institution) if mechanism && institution.level != crate::registry::Level::Third => refuse(
            "/fixmedins_code".into(),
            "S4",
            "the outpatient mechanism registers patients at a tier-3 (三级) designated institution only".into(),
        ),
        Some(institution) if !mechanism && !institution.separate_payment().eligible => refuse(
            "/fixmedins_code".into(),
            "I1",
            "the institution is not qualified for separate-payment drugs (tier 3 with pathology or genetic testing, or tier 2 with a key specialty)".into(),
        ),
        Some(_) => {}
    }
    let physicians = std::iter::once(("/dr_code".to_string(), facts.physician))
        .chain(facts.named_physicians.iter().enumerate().map(|(i, p)| (format!("/named_physicians/{i}"), *p)));
    for (field, physician) in physicians {
        let rule = if mechanism { "S4" } else { "I3" };
        match physician {
            None => refuse(field, rule, "no physician is registered under this code".into()),
            Some(physician) if physician.fixmedins_code != application.fixmedins_code => {
                refuse(field, rule, "the physician is registered at another institution".into())
            }
            Some(physician) if !physician.active => refuse(field, rule, "the physician is not active".into()),
            Some(physician) if mechanism && !physician.title.is_senior() => refuse(
                field,
                "S4",
                "the outpatient mechanism needs a physician with a senior professional title (副主任医师 or 主任医师)".into(),
            ),
            Some(physician) if !mechanism && !physician.responsible => {
                refuse(field, "I3", "the physician is not an active responsible physician".into())
            }
            Some(_) => {}
        }
    }
    match facts.drug {
        None => refuse("/code".into(), "C1", "no drug with this code is in the catalogue on the application date".into()),
        Some(drug) if mechanism && !drug.outpatient => {
            refuse("/code".into(), "S4", "the drug is not on the outpatient negotiated-drug list of the institution's region".into())
        }
        Some(drug) if !mechanism && !drug.separate_payment && !drug.dual_channel => refuse(
            "/code".into(),
            "C2",
            "the drug is on neither the separate-payment nor the dual-channel list of the institution's region".into(),
        ),
        Some(drug) if !drug.payable => refuse("/code".into(), "E7", "the drug is not payable on the application date".into()),
        Some(_) => {}
    }
    found
}

/// Whether an approved filing can be used on a date, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Not approved yet, refused, withdrawn or revoked.
    NotApproved,
    /// Approved for a later day.
    NotYetValid,
    /// Usable.
    Valid,
    /// The validity year is over (E5).
    Expired,
    /// The last reassessment is more than six months ago (E5).
    ReassessmentOverdue,
}

impl Filing {
    /// E2 (S4 for a registration): a new application, waiting for the physician.
    pub fn apply(scheme: Scheme) -> Filing {
        Filing { state: FilingState::AwaitingPhysician, scheme, pharmacy: None, version: 1, renewal_recommended_on: None }
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            FilingState::AwaitingPhysician => "awaiting_physician",
            FilingState::AwaitingOffice => "awaiting_office",
            FilingState::Approved { .. } => "approved",
            FilingState::Refused { .. } => "refused",
            FilingState::Withdrawn => "withdrawn",
            FilingState::Revoked { .. } => "revoked",
            FilingState::Superseded { .. } => "superseded",
        }
    }

    /// The filing after `actor` takes `action` on `date`, or why not (the filing is unchanged).
    pub fn act(&self, actor: Actor, action: &Action, date: NaiveDate) -> Result<Filing, Refusal> {
        if !action.allowed_actors().contains(&actor) {
            return Err(Refusal::NotAllowed { actor, action: action.name() });
        }
        let illegal = || Refusal::IllegalTransition { state: self.state_name(), action: action.name() };
        let reason = |reason: &str, rule: &'static str| {
            let reason = reason.trim();
            if reason.is_empty() { Err(Refusal::ReasonRequired { rule }) } else { Ok(reason.to_string()) }
        };
        let mut next = self.clone();
        next.state = match (&self.state, action) {
            (FilingState::AwaitingPhysician, Action::Recommend) => FilingState::AwaitingOffice,
            (FilingState::AwaitingPhysician, Action::Refuse { reason: r }) => {
                FilingState::Refused { by: Actor::Physician, reason: reason(r, "E3")? }
            }
            (FilingState::AwaitingOffice, Action::Approve { pharmacy }) => {
                match pharmacy {
                    Some(pharmacy) if !pharmacy.trim().is_empty() => next.pharmacy = Some(pharmacy.clone()),
                    // rule I4 fixes a filing's pharmacy; a registration's 三定 does not (S4)
                    None if self.scheme == Scheme::OutpatientMechanism => {}
                    _ => return Err(Refusal::PharmacyRequired),
                }
                approved_from(date)
            }
            (FilingState::AwaitingOffice, Action::Reject { reason: r }) => {
                FilingState::Refused { by: Actor::HospitalOffice, reason: reason(r, "E4")? }
            }
            (FilingState::AwaitingPhysician | FilingState::AwaitingOffice, Action::Withdraw) => FilingState::Withdrawn,
            (FilingState::Approved { valid_from, valid_until, .. }, Action::Reassess) if date <= *valid_until => {
                FilingState::Approved {
                    valid_from: *valid_from,
                    valid_until: *valid_until,
                    reassess_by: period_end(date.max(*valid_from), REASSESSMENT_INTERVAL).min(*valid_until),
                }
            }
            (FilingState::Approved { valid_until, .. }, Action::Update) if date <= *valid_until => self.state.clone(),
            (FilingState::Approved { valid_until, .. }, Action::ChangePharmacy { pharmacy }) if date <= *valid_until => {
                if pharmacy.trim().is_empty() {
                    return Err(Refusal::PharmacyRequired);
                }
                next.pharmacy = Some(pharmacy.clone());
                self.state.clone()
            }
            (FilingState::Approved { valid_until, .. }, Action::RecommendRenewal) => {
                renewal_window(*valid_until, date)?;
                next.renewal_recommended_on = Some(date);
                self.state.clone()
            }
            (FilingState::Approved { valid_from, valid_until, .. }, Action::Renew) => {
                renewal_window(*valid_until, date)?;
                if self.renewal_recommended_on.is_none() {
                    return Err(Refusal::RenewalNotRecommended);
                }
                next.renewal_recommended_on = None;
                if date <= *valid_until {
                    // renewed before it ends: the rest of this year stays usable and the new year
                    // follows without a gap; the renewal's fresh assessment counts as a reassessment
                    let new_until = period_end(valid_until.succ_opt().unwrap_or(*valid_until), VALIDITY);
                    FilingState::Approved { valid_from: *valid_from, valid_until: new_until, reassess_by: period_end(date, REASSESSMENT_INTERVAL).min(new_until) }
                } else {
                    approved_from(date)
                }
            }
            (FilingState::AwaitingPhysician | FilingState::AwaitingOffice | FilingState::Approved { .. }, Action::Revoke { reason: r }) => {
                FilingState::Revoked { reason: reason(r, "E4")? }
            }
            _ => return Err(illegal()),
        };
        next.version = self.version.saturating_add(1);
        Ok(next)
    }

    /// S4: an approved registration ends because registration `by` at another institution was
    /// approved (a change of institution). Not an action anyone sends: the approval of the new
    /// registration takes this step; `None` where there is nothing to supersede.
    pub fn superseded_by(&self, by: &str) -> Option<Filing> {
        let approved = matches!(self.state, FilingState::Approved { .. }) && self.scheme == Scheme::OutpatientMechanism;
        approved.then(|| Filing { state: FilingState::Superseded { by: by.to_string() }, version: self.version.saturating_add(1), ..self.clone() })
    }

    /// Whether the filing can be used on `date` (rules E5; coverage of the drug, E7, is asked of
    /// the catalogue separately).
    pub fn standing_on(&self, date: NaiveDate) -> Standing {
        match &self.state {
            FilingState::Approved { valid_from, valid_until, reassess_by } => {
                if date < *valid_from {
                    Standing::NotYetValid
                } else if date > *valid_until {
                    Standing::Expired
                } else if date > *reassess_by {
                    Standing::ReassessmentOverdue
                } else {
                    Standing::Valid
                }
            }
            _ => Standing::NotApproved,
        }
    }
}

/// Rule E5: a filing valid until `valid_until` is renewed from 30 days before it ends to 30
/// days after (later, the patient applies anew: the physician sees the case afresh).
fn renewal_window(valid_until: NaiveDate, date: NaiveDate) -> Result<(), Refusal> {
    let opens = valid_until.checked_sub_days(chrono::Days::new(29)).unwrap_or(NaiveDate::MIN);
    let closes = valid_until.checked_add_days(chrono::Days::new(30)).unwrap_or(NaiveDate::MAX);
    if date < opens {
        return Err(Refusal::TooEarlyToRenew { valid_until, date });
    }
    if date > closes {
        return Err(Refusal::TooLateToRenew { valid_until, date });
    }
    Ok(())
}

/// A validity year from `date`, with the first reassessment due six months on (E5).
fn approved_from(date: NaiveDate) -> FilingState {
    let valid_until = period_end(date, VALIDITY);
    FilingState::Approved { valid_from: date, valid_until, reassess_by: period_end(date, REASSESSMENT_INTERVAL).min(valid_until) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::date;
    use proptest::prelude::*;

    fn approved(on: NaiveDate) -> Filing {
        let recommended = Filing::apply(Scheme::SeparatePayment).act(Actor::Physician, &Action::Recommend, on).unwrap();
        recommended.act(Actor::HospitalOffice, &Action::Approve { pharmacy: Some("P42010000001".into()) }, on).unwrap()
    }

    #[test]
    fn the_happy_path_ends_in_a_year_of_validity_with_reassessment_every_six_months() {
        let filing = approved(date(2025, 3, 1));
        assert_eq!(filing.version, 3);
        assert_eq!(filing.pharmacy.as_deref(), Some("P42010000001"));
        assert_eq!(
            filing.state,
            FilingState::Approved { valid_from: date(2025, 3, 1), valid_until: date(2026, 2, 28), reassess_by: date(2025, 8, 31) }
        );
        assert_eq!(filing.standing_on(date(2025, 2, 28)), Standing::NotYetValid);
        assert_eq!(filing.standing_on(date(2025, 8, 31)), Standing::Valid);
        // rule E5: six months without reassessment
        assert_eq!(filing.standing_on(date(2025, 9, 1)), Standing::ReassessmentOverdue);
        // a reassessment moves the reassessment clock, not the year
        let reassessed = filing.act(Actor::Physician, &Action::Reassess, date(2025, 8, 20)).unwrap();
        assert_eq!(reassessed.standing_on(date(2025, 9, 1)), Standing::Valid);
        assert_eq!(reassessed.standing_on(date(2026, 2, 19)), Standing::Valid);
        assert_eq!(reassessed.standing_on(date(2026, 2, 20)), Standing::ReassessmentOverdue);
        // reassessed again: due dates never pass the end of the year
        let again = reassessed.act(Actor::Physician, &Action::Reassess, date(2026, 2, 1)).unwrap();
        assert_eq!(again.standing_on(date(2026, 2, 28)), Standing::Valid);
        assert_eq!(again.standing_on(date(2026, 3, 1)), Standing::Expired);
    }

    #[test]
    fn refusals_need_a_reason() {
        let applied = Filing::apply(Scheme::SeparatePayment);
        // rule E3
        let blank = applied.act(Actor::Physician, &Action::Refuse { reason: "  ".into() }, date(2025, 3, 1));
        assert_eq!(blank, Err(Refusal::ReasonRequired { rule: "E3" }));
        let refused = applied.act(Actor::Physician, &Action::Refuse { reason: "病理不支持".into() }, date(2025, 3, 1)).unwrap();
        assert_eq!(refused.state, FilingState::Refused { by: Actor::Physician, reason: "病理不支持".into() });
        assert!(refused.state.is_final());
        // rule E4
        let recommended = applied.act(Actor::Physician, &Action::Recommend, date(2025, 3, 1)).unwrap();
        assert_eq!(recommended.act(Actor::HospitalOffice, &Action::Reject { reason: String::new() }, date(2025, 3, 2)), Err(Refusal::ReasonRequired { rule: "E4" }));
    }

    #[test]
    fn each_step_belongs_to_its_actor() {
        let applied = Filing::apply(Scheme::SeparatePayment);
        for actor in [Actor::Patient, Actor::HospitalOffice, Actor::Agency] {
            assert!(matches!(applied.act(actor, &Action::Recommend, date(2025, 3, 1)), Err(Refusal::NotAllowed { .. })));
        }
        let recommended = applied.act(Actor::Physician, &Action::Recommend, date(2025, 3, 1)).unwrap();
        let approve = Action::Approve { pharmacy: Some("P1".into()) };
        assert!(matches!(recommended.act(Actor::Physician, &approve, date(2025, 3, 1)), Err(Refusal::NotAllowed { .. })));
        // the office cannot approve before the physician recommends
        assert!(matches!(applied.act(Actor::HospitalOffice, &approve, date(2025, 3, 1)), Err(Refusal::IllegalTransition { .. })));
        assert_eq!(recommended.act(Actor::HospitalOffice, &Action::Approve { pharmacy: Some(" ".into()) }, date(2025, 3, 1)), Err(Refusal::PharmacyRequired));
    }

    #[test]
    fn renewal_is_the_physicians_then_the_offices_within_thirty_days_of_expiry() {
        let filing = approved(date(2025, 3, 1)); // valid until 2026-02-28
        let recommend = |filing: &Filing, on| filing.act(Actor::Physician, &Action::RecommendRenewal, on);
        // rule E5: an office alone cannot renew
        assert_eq!(filing.act(Actor::HospitalOffice, &Action::Renew, date(2026, 2, 1)), Err(Refusal::RenewalNotRecommended));
        assert!(matches!(filing.act(Actor::HospitalOffice, &Action::RecommendRenewal, date(2026, 2, 1)), Err(Refusal::NotAllowed { .. })));
        assert!(matches!(recommend(&filing, date(2026, 1, 29)), Err(Refusal::TooEarlyToRenew { .. })));
        let recommended = recommend(&filing, date(2026, 1, 30)).unwrap();
        assert_eq!((recommended.state.clone(), recommended.renewal_recommended_on), (filing.state.clone(), Some(date(2026, 1, 30))));
        let early = recommended.act(Actor::HospitalOffice, &Action::Renew, date(2026, 1, 30)).unwrap();
        // renewed before expiry: still usable to the end of the old year, and the new year
        // follows it without a gap; reassessed as of the renewal
        let extended = FilingState::Approved { valid_from: date(2025, 3, 1), valid_until: date(2027, 2, 28), reassess_by: date(2026, 7, 29) };
        assert_eq!((early.state.clone(), early.renewal_recommended_on), (extended, None));
        assert_eq!((early.standing_on(date(2026, 2, 10)), early.standing_on(date(2026, 3, 1))), (Standing::Valid, Standing::Valid));
        // after expiry, within 30 days: the new year starts the day of renewal
        let late = recommend(&filing, date(2026, 3, 20)).unwrap().act(Actor::HospitalOffice, &Action::Renew, date(2026, 3, 30)).unwrap();
        assert_eq!(late.state, approved_from(date(2026, 3, 30)));
        assert_eq!(late.standing_on(date(2026, 3, 30)), Standing::Valid);
        // long after expiry the patient applies anew
        assert!(matches!(recommend(&filing, date(2026, 3, 31)), Err(Refusal::TooLateToRenew { .. })));
        assert!(matches!(recommended.act(Actor::HospitalOffice, &Action::Renew, date(2026, 5, 10)), Err(Refusal::TooLateToRenew { .. })));
    }

    #[test]
    fn an_expired_filing_only_renews_and_final_states_accept_nothing() {
        let filing = approved(date(2025, 3, 1));
        let after = date(2026, 3, 1);
        for action in [Action::Reassess, Action::Update, Action::ChangePharmacy { pharmacy: "P2".into() }] {
            let actor = action.allowed_actors()[0];
            assert!(matches!(filing.act(actor, &action, after), Err(Refusal::IllegalTransition { .. })), "{action:?}");
        }
        let revoked = filing.act(Actor::Agency, &Action::Revoke { reason: "欺诈骗保".into() }, date(2025, 4, 1)).unwrap();
        assert_eq!(revoked.standing_on(date(2025, 4, 1)), Standing::NotApproved);
        for action in all_actions() {
            for actor in [Actor::Patient, Actor::Physician, Actor::HospitalOffice, Actor::Agency] {
                assert!(revoked.act(actor, &action, date(2025, 4, 2)).is_err());
            }
        }
    }

    fn all_actions() -> Vec<Action> {
        vec![
            Action::Recommend,
            Action::Refuse { reason: "r".into() },
            Action::Approve { pharmacy: Some("P1".into()) },
            Action::Reject { reason: "r".into() },
            Action::Reassess,
            Action::Update,
            Action::ChangePharmacy { pharmacy: "P2".into() },
            Action::RecommendRenewal,
            Action::Renew,
            Action::Withdraw,
            Action::Revoke { reason: "r".into() },
        ]
    }

    use crate::fixtures::application;

    #[test]
    fn icd10_codes_have_their_shape() {
        for good in ["C34.901", "E75.2", "M05", "K50.9"] {
            assert!(is_icd10(good), "{good}");
        }
        for bad in ["", "C3", "c34.9", "C34.", "C34.90123", "34.9", "C34-9", "C34.9 "] {
            assert!(!is_icd10(bad), "{bad}");
        }
    }

    #[test]
    fn an_application_reports_every_problem_at_once() {
        assert!(application_problems(&application()).is_empty());
        let bad = Application {
            psn_no: "".into(),
            diagnoses: vec!["肺癌".into(), "C34.9".into()],
            records: vec![],
            treatment_plan: " ".into(),
            ..application()
        };
        let fields: Vec<String> = application_problems(&bad).into_iter().map(|(field, _)| field).collect();
        assert_eq!(fields, ["/psn_no", "/diagnoses/0", "/records", "/treatment_plan"]);
    }

    #[test]
    fn ineligibility_names_every_failed_condition() {
        use crate::registry::{BenefitStatus, Institution, Level, Physician, Title};
        let person = crate::fixtures::insured;
        let hospital = |level| Institution {
            name: "医院".into(),
            admdvs: "420100".into(),
            level,
            capabilities: [crate::registry::Capability::Pathology].into(),
            key_specialties: vec![],
            cross_region_settlement: true,
            address: None,
        };
        let doctor = |at: &str, responsible| Physician {
            name: "张".into(),
            fixmedins_code: at.into(),
            title: Title::Chief,
            specialty: "肿瘤科".into(),
            responsible,
            active: true,
        };
        let listed = DrugFacts { separate_payment: true, dual_channel: false, outpatient: false, payable: true };
        let (normal, tier3, ours) = (person(BenefitStatus::Normal), hospital(Level::Third), doctor("H42010000001", true));
        let ok = Facts { person: Some(&normal), institution: Some(&tier3), physician: Some(&ours), named_physicians: vec![], drug: Some(listed) };
        assert!(ineligibilities(&application(), &ok).is_empty());

        let (suspended, tier1, elsewhere) = (person(BenefitStatus::Suspended), hospital(Level::First), doctor("H9", true));
        let unlisted = DrugFacts { separate_payment: false, dual_channel: false, outpatient: true, payable: true };
        let bad = Facts { person: Some(&suspended), institution: Some(&tier1), physician: Some(&elsewhere), named_physicians: vec![], drug: Some(unlisted) };
        let rules: Vec<&str> = ineligibilities(&application(), &bad).iter().map(|i| i.rule).collect();
        assert_eq!(rules, ["E1", "I1", "I3", "C2"]);
        let not_responsible = doctor("H42010000001", false);
        let nothing = Facts { person: None, institution: None, physician: Some(&not_responsible), named_physicians: vec![], drug: None };
        assert_eq!(ineligibilities(&application(), &nothing).len(), 4);
    }

    #[test]
    fn a_registration_needs_a_tier_3_institution_senior_physicians_and_a_drug_on_the_outpatient_list() {
        use crate::registry::{BenefitStatus, Institution, Level, Physician, Title};
        let hospital = |level| Institution {
            name: "医院".into(),
            admdvs: "420100".into(),
            level,
            // no pathology: the separate-payment qualification (I1) is not the mechanism's
            capabilities: Default::default(),
            key_specialties: vec![],
            cross_region_settlement: true,
            address: None,
        };
        let doctor = |title| Physician { name: "张".into(), fixmedins_code: "H42010000001".into(), title, specialty: "心内科".into(), responsible: false, active: true };
        let registration = Application { scheme: Scheme::OutpatientMechanism, named_physicians: vec!["D2".into()], ..application() };
        let on_list = DrugFacts { separate_payment: false, dual_channel: true, outpatient: true, payable: true };
        let person = crate::fixtures::insured(BenefitStatus::Normal);
        let (tier3, chief, associate) = (hospital(Level::Third), doctor(Title::Chief), doctor(Title::AssociateChief));
        let facts = |institution, physician, named, drug| Facts { person: Some(&person), institution: Some(institution), physician: Some(physician), named_physicians: vec![Some(named)], drug: Some(drug) };
        // rule S4: not a responsible physician (I3), not a qualified institution (I1): neither is asked
        assert!(ineligibilities(&registration, &facts(&tier3, &chief, &associate, on_list)).is_empty());

        let (tier2, attending) = (hospital(Level::Second), doctor(Title::Attending));
        let off_list = DrugFacts { outpatient: false, ..on_list };
        let refused = ineligibilities(&registration, &facts(&tier2, &chief, &attending, off_list));
        let found: Vec<(&str, &str)> = refused.iter().map(|i| (i.field.as_str(), i.rule)).collect();
        assert_eq!(found, [("/fixmedins_code", "S4"), ("/named_physicians/0", "S4"), ("/code", "S4")]);
        assert!(refused[1].reason.contains("senior"), "{refused:?}");
        // a filing names no further physicians, and a registration names each once
        let filing = Application { named_physicians: vec!["D2".into()], ..application() };
        assert_eq!(application_problems(&filing)[0].0, "/named_physicians");
        let twice = Application { named_physicians: vec![registration.dr_code.clone()], ..registration.clone() };
        assert_eq!(application_problems(&twice)[0].0, "/named_physicians/0");
        assert_eq!(registration.physicians().collect::<Vec<_>>(), [registration.dr_code.as_str(), "D2"]);
    }

    #[test]
    fn a_registration_is_approved_without_a_pharmacy_and_superseded_only_when_approved() {
        let on = date(2025, 3, 1);
        let registration = Filing::apply(Scheme::OutpatientMechanism).act(Actor::Physician, &Action::Recommend, on).unwrap();
        let approved = registration.act(Actor::HospitalOffice, &Action::Approve { pharmacy: None }, on).unwrap();
        assert_eq!((approved.pharmacy.as_ref(), approved.standing_on(on)), (None, Standing::Valid));
        // the same year and six-monthly reassessment as a filing (S4 as E5)
        assert_eq!(approved.standing_on(date(2025, 9, 1)), Standing::ReassessmentOverdue);
        let superseded = approved.superseded_by("RG2").unwrap();
        assert_eq!((superseded.state.clone(), superseded.version), (FilingState::Superseded { by: "RG2".into() }, approved.version + 1));
        assert!(superseded.state.is_final() && superseded.superseded_by("RG3").is_none());
        assert!(registration.superseded_by("RG2").is_none(), "only an approved registration is superseded");
        // a filing still needs its fixed pharmacy (I4), and is never superseded
        let filing = Filing::apply(Scheme::SeparatePayment).act(Actor::Physician, &Action::Recommend, on).unwrap();
        assert_eq!(filing.act(Actor::HospitalOffice, &Action::Approve { pharmacy: None }, on), Err(Refusal::PharmacyRequired));
        assert!(approved_filing(&filing, on).superseded_by("FL2").is_none());
    }

    fn approved_filing(recommended: &Filing, on: NaiveDate) -> Filing {
        recommended.act(Actor::HospitalOffice, &Action::Approve { pharmacy: Some("P1".into()) }, on).unwrap()
    }

    fn any_step() -> impl Strategy<Value = (usize, usize, u32)> {
        (0..10usize, 0..4usize, 0..90u32)
    }

    proptest! {
        /// No sequence of actions, by anyone, on any dates, reaches an invalid state.
        #[test]
        fn no_sequence_of_actions_reaches_an_invalid_state(steps in proptest::collection::vec(any_step(), 0..40)) {
            let actors = [Actor::Patient, Actor::Physician, Actor::HospitalOffice, Actor::Agency];
            let actions = all_actions();
            let mut filing = Filing::apply(Scheme::SeparatePayment);
            let mut today = date(2025, 1, 1);
            for (action, actor, days) in steps {
                today = today.checked_add_days(chrono::Days::new(u64::from(days))).unwrap();
                let before = filing.clone();
                if let Ok(next) = filing.act(actors[actor], &actions[action], today) {
                    prop_assert!(!before.state.is_final(), "a final state moved: {before:?}");
                    prop_assert_eq!(next.version, before.version + 1);
                    prop_assert!(actions[action].allowed_actors().contains(&actors[actor]));
                    filing = next;
                }
                if let FilingState::Approved { valid_from, valid_until, reassess_by } = filing.state {
                    prop_assert_eq!(valid_until, period_end(valid_from, VALIDITY));
                    prop_assert!(valid_from <= reassess_by && reassess_by <= valid_until);
                    prop_assert!(filing.pharmacy.is_some(), "approved without a fixed pharmacy (I4)");
                }
                if let FilingState::Refused { reason, .. } | FilingState::Revoked { reason } = &filing.state {
                    prop_assert!(!reason.trim().is_empty());
                }
            }
        }
    }
}
