//! Applying for a filing or an outpatient-mechanism registration and acting on it (rules
//! E1–E7, I1–I4, C9, S4). Handlers parse, check who may see the filing, load, call
//! `rules::filing`, store through `store::filing`, respond.

use api::{ApiError, ApiResult, Ctx, ErrorCode, Principal, Reply, Role, Violation};
use catalogue_view::{CatalogueCache, InForce};
use chrono::NaiveDate;
use rules::filing::{Action, Actor, Application, DrugFacts, Facts, Filing, FilingState, Refusal, Scheme, Standing, application_problems, ineligibilities};
use rules::catalogue::PatientFacts;
use rules::registry::{Institution, Person, Pharmacy, Physician};
use serde::{Deserialize, Serialize};
use store::filing::{AuditEntry, FilingIndex, FilingVersion, Filings, Latest, Raced};
use store::{KeyValue, Registry};

/// Lives as long as the instance (see `catalogue_view::cache`).
pub static CATALOGUE: CatalogueCache = CatalogueCache::new();

/// A filing as every permitted reader sees it: the latest version, and whether it can be used
/// today. Person data beyond `psn_no` stays in the registry.
#[derive(Serialize)]
pub struct FilingView<'a> {
    /// The filing as of its latest version (its `version` is the stored version's number: each
    /// change writes one).
    #[serde(flatten)]
    record: &'a FilingVersion,
    /// Whether it can be used today (E5), before the drug's coverage (E7, see `check`).
    standing: Standing,
}

impl<'a> FilingView<'a> {
    pub fn new(latest: &'a Latest, today: NaiveDate) -> Self {
        FilingView { record: &latest.record, standing: latest.record.filing.standing_on(today) }
    }
}

/// The drug's coverage in `admdvs` on `date`, as the catalogue says (C2, E7).
pub async fn drug_facts<K: KeyValue>(kv: &K, admdvs: &str, code: &str, date: NaiveDate) -> ApiResult<Option<(DrugFacts, String)>> {
    let Some(in_force) = CATALOGUE.in_force(kv, date).await? else { return Ok(None) };
    drug_facts_in(&in_force, admdvs, code)
}

/// [`drug_facts`] in a catalogue already read.
pub fn drug_facts_in(in_force: &InForce, admdvs: &str, code: &str) -> ApiResult<Option<(DrugFacts, String)>> {
    Ok(in_force.coverage(admdvs, code)?.map(|coverage| {
        let name = coverage.name().to_string();
        let facts = DrugFacts {
            separate_payment: coverage.lists.separate_payment,
            dual_channel: coverage.lists.dual_channel,
            outpatient: coverage.lists.outpatient_annual_max.is_some(),
            payable: coverage.payable(),
        };
        (facts, name)
    }))
}

fn not_eligible(detail: &str, violations: Vec<Violation>) -> ApiError {
    ApiError::new(ErrorCode::NotEligible, detail.to_string()).with_violations(violations)
}

/// `POST /api/filings` (patient, online; hospital office, at the institution; rule E2): a
/// filing, or with `scheme: outpatient_mechanism` a registration (S4).
pub async fn apply(ctx: &Ctx) -> ApiResult<Reply> {
    let application: Application = ctx.json()?;
    // object level: a patient applies for themself, an office for its own institution
    match &ctx.principal {
        Principal::Patient { psn_no } if *psn_no != application.psn_no => {
            return Err(ApiError::new(ErrorCode::RoleForbidden, "a patient applies only for themself"));
        }
        Principal::HospitalOffice { fixmedins_code } if *fixmedins_code != application.fixmedins_code => {
            return Err(ApiError::new(ErrorCode::RoleForbidden, "an office files only at its own institution"));
        }
        _ => {}
    }
    let problems = application_problems(&application);
    if !problems.is_empty() {
        let violations = problems.into_iter().map(|(field, reason)| Violation { rule: None, field, reason }).collect();
        return Err(ApiError::new(ErrorCode::InvalidBody, "the application is incomplete").with_violations(violations));
    }
    let today = ctx.today();
    let kv = ctx.kv().await?;
    let registry = Registry::new(kv);
    let person = registry.get::<Person>(&application.psn_no).await?;
    let institution = registry.get::<Institution>(&application.fixmedins_code).await?;
    let physician = registry.get::<Physician>(&application.dr_code).await?;
    let mut named_physicians = Vec::with_capacity(application.named_physicians.len());
    for dr_code in &application.named_physicians {
        named_physicians.push(registry.get::<Physician>(dr_code).await?);
    }
    let admdvs = institution.as_ref().map(|i| i.entry.admdvs.clone()).unwrap_or_else(|| ctx.config.region_code.clone());
    let drug = drug_facts(kv, &admdvs, &application.code, today).await?;
    let facts = Facts {
        person: person.as_ref().map(|r| &r.entry),
        institution: institution.as_ref().map(|r| &r.entry),
        physician: physician.as_ref().map(|r| &r.entry),
        named_physicians: named_physicians.iter().map(|p| p.as_ref().map(|r| &r.entry)).collect(),
        drug: drug.as_ref().map(|(facts, _)| *facts),
    };
    let refused: Vec<Violation> = ineligibilities(&application, &facts)
        .into_iter()
        .map(|i| Violation { rule: Some(i.rule), field: i.field, reason: i.reason })
        .collect();
    if !refused.is_empty() {
        return Err(not_eligible("the application does not meet the filing conditions; nothing was stored", refused));
    }
    let drug_name = drug.map(|(_, name)| name).unwrap_or_default();

    let filings = Filings::of(kv, application.scheme);
    let (seen, current) = filings.current_generation(&application.psn_no, &application.code).await?;
    let generation = match current {
        // another application's generation is claimed and not yet written (or its writer died):
        // this one competes for it on its first version, below
        _ if seen.head > seen.written => seen.head,
        Some(latest) if latest.record.application == application && !is_over(&latest.record.filing, today) => {
            // the same application again (a retry): completes its lists, answers it
            list_application(&filings, &latest.record).await?;
            return Ok(Reply::ok(&FilingView::new(&latest, today)));
        }
        Some(latest) if !is_over(&latest.record.filing, today) && !changes_institution(&latest.record, &application) => {
            return Err(filing_exists(&latest));
        }
        _ => match filings.claim_generation(&application.psn_no, &application.code, seen, ctx.now.timestamp()).await? {
            Ok(generation) => generation,
            Err(Raced) => {
                let id = filings.id(&application.psn_no, &application.code, seen.written + 1);
                return concurrent_application(&filings, &id, &application, today).await;
            }
        },
    };
    let id = filings.id(&application.psn_no, &application.code, generation);
    let first = filings.versions(&id).seen_empty().await?;
    let Ok(claim) = filings.claim_version(&id, first, ctx.now.timestamp()).await? else {
        return concurrent_application(&filings, &id, &application, today).await;
    };
    let record = FilingVersion {
        id: id.clone(),
        generation,
        admdvs,
        drug_name,
        applied_on: today,
        filing: Filing::apply(application.scheme),
        application,
        attestation: None,
        audit: audit(ctx, "apply", actor_of(&ctx.principal)?, None),
    };
    filings.write(claim, &record).await?;
    // the lists come after the filing, so a crash leaves a filing missing from a list, never
    // a list naming a filing that does not exist
    list_application(&filings, &record).await?;
    let latest = Latest::just_written(claim.slot, record);
    Ok(Reply::created(&FilingView::new(&latest, today)))
}

/// The institution's and the person's lists name an application's filing (each once).
async fn list_application<K: KeyValue>(filings: &Filings<'_, K>, record: &FilingVersion) -> ApiResult<()> {
    filings.ensure_listed(&[FilingIndex::Institution(&record.application.fixmedins_code), FilingIndex::Person(&record.application.psn_no)], &record.id, 1).await?;
    Ok(())
}

fn filing_exists(latest: &Latest) -> ApiError {
    let detail = format!("filing {} for this drug is {}; revoke or wait for it to end first", latest.record.id, state_name(&latest.record.filing));
    ApiError::new(ErrorCode::FilingExists, detail).with_rule("I4")
}

/// After another application for the same person and drug claimed filing `id` first: its
/// filing once written, when it is this very application (a client's retry racing its first
/// attempt gets the one filing, not an error); else the filing that exists.
async fn concurrent_application<K: KeyValue>(filings: &Filings<'_, K>, id: &str, application: &Application, today: NaiveDate) -> ApiResult<Reply> {
    match api::wait::for_result(|| filings.latest(id)).await? {
        Some(latest) if latest.record.application == *application => Ok(Reply::ok(&FilingView::new(&latest, today))),
        Some(latest) => Err(filing_exists(&latest)),
        None => Err(concurrent("another application for this person and drug is being written; send it again")),
    }
}

/// S4: an application for a registration at another institution while the person's
/// registration for the drug is approved is a change of institution: it may be applied for,
/// and supersedes the approved one once approved itself.
fn changes_institution(current: &FilingVersion, application: &Application) -> bool {
    application.scheme == Scheme::OutpatientMechanism
        && matches!(current.filing.state, FilingState::Approved { .. })
        && current.application.fixmedins_code != application.fixmedins_code
}

/// A filing no longer blocks a new application for its drug once it ended: refused, withdrawn,
/// revoked, superseded, or expired.
fn is_over(filing: &Filing, today: NaiveDate) -> bool {
    filing.state.is_final() || filing.standing_on(today) == Standing::Expired
}

fn state_name(filing: &Filing) -> String {
    serde_json::to_value(&filing.state).ok().and_then(|v| v["state"].as_str().map(str::to_string)).unwrap_or_default()
}

fn concurrent(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::ConcurrentUpdate, format!("{detail}; read the filing again and retry"))
}

fn audit(ctx: &Ctx, action: &str, actor: Actor, reason: Option<String>) -> AuditEntry {
    AuditEntry { action: action.to_string(), actor, by: ctx.principal.audit_name(), at: ctx.timestamp(), reason }
}

/// The workflow role of a caller; the route tables admit only callers that have one.
fn actor_of(principal: &Principal) -> ApiResult<Actor> {
    match principal {
        Principal::Patient { .. } => Ok(Actor::Patient),
        Principal::Physician { .. } => Ok(Actor::Physician),
        Principal::HospitalOffice { .. } => Ok(Actor::HospitalOffice),
        Principal::Agency { .. } => Ok(Actor::Agency),
        Principal::Admin { .. } | Principal::Public | Principal::Pharmacist { .. } => {
            Err(ApiError::new(ErrorCode::RoleForbidden, "this role takes no part in the filing workflow"))
        }
    }
}

/// Whether `principal` may see the filing: its person, its responsible physician (a
/// registration's named physicians), its
/// institution's office, its fixed pharmacy's pharmacists, agencies of its region, admins. Others
/// get 404, as for a filing that does not exist, so ids cannot be probed.
pub fn may_see(principal: &Principal, record: &FilingVersion) -> bool {
    let application = &record.application;
    match principal {
        Principal::Patient { psn_no } => *psn_no == application.psn_no,
        Principal::Physician { dr_code, .. } => application.physicians().any(|named| named == dr_code),
        Principal::HospitalOffice { fixmedins_code } => *fixmedins_code == application.fixmedins_code,
        Principal::Pharmacist { fixmedins_code, .. } => record.filing.pharmacy.as_deref() == Some(fixmedins_code.as_str()),
        Principal::Agency { .. } | Principal::Admin { .. } => rules::registry::may_administer(principal, &record.admdvs),
        Principal::Public => false,
    }
}

/// The latest version of the filing in the path, if the caller may see it.
pub async fn visible<K: KeyValue>(ctx: &Ctx, kv: &K) -> ApiResult<Latest> {
    let id = ctx.param("id")?;
    let latest = if rules::role::is_code(id) { Filings::new(kv).latest(id).await? } else { None };
    latest.filter(|l| may_see(&ctx.principal, &l.record)).ok_or_else(|| ApiError::not_found("filing"))
}

/// `GET /api/filings/{id}`.
pub async fn get(ctx: &Ctx) -> ApiResult<Reply> {
    let latest = visible(ctx, ctx.kv().await?).await?;
    Ok(Reply::ok(&FilingView::new(&latest, ctx.today())))
}

#[derive(Serialize)]
struct History<'a> {
    id: &'a str,
    versions: Vec<HistoryEntry<'a>>,
}

#[derive(Serialize)]
struct HistoryEntry<'a> {
    #[serde(flatten)]
    audit: &'a AuditEntry,
    #[serde(flatten)]
    filing: &'a Filing,
}

/// `GET /api/filings/{id}/history`: every version with who did what, when and why (rule E5,
/// the audit trail of issue 4). Versions are written once and never rewritten.
pub async fn history(ctx: &Ctx) -> ApiResult<Reply> {
    let kv = ctx.kv().await?;
    let latest = visible(ctx, kv).await?;
    let versions = Filings::new(kv).history(&latest.record.id).await?;
    Ok(Reply::ok(&History {
        id: &latest.record.id,
        versions: versions.iter().map(|v| HistoryEntry { audit: &v.audit, filing: &v.filing }).collect(),
    }))
}

/// An action as the API takes it: the workflow action; for a recommendation the physician's
/// attestation that the restriction is met (C9); for an update the new diagnoses, plan and plan
/// quantity (E5, M3).
#[derive(Deserialize)]
pub struct ActionRequest {
    #[serde(flatten)]
    action: Action,
    #[serde(default)]
    attestation: Option<String>,
    #[serde(default)]
    diagnoses: Option<Vec<String>>,
    #[serde(default)]
    treatment_plan: Option<String>,
    /// The plan's new quantity bound (M3); `null` is not accepted: a bound is changed, not
    /// dropped by an update.
    #[serde(default)]
    plan_quantity: Option<rules::plan::PlanQuantity>,
    /// For a renewal recommendation: the fresh records it rests on (E5).
    #[serde(default)]
    records: Option<Vec<String>>,
}

/// `POST /api/filings/{id}/actions` (patient, physician, hospital office, agency).
pub async fn act(ctx: &Ctx) -> ApiResult<Reply> {
    let request: ActionRequest = ctx.json()?;
    let kv = ctx.kv().await?;
    let latest = visible(ctx, kv).await?;
    let today = ctx.today();
    let mut record = latest.record.clone();
    if let Some(pharmacy) = named_pharmacy(&request.action)
        && record.filing.pharmacy.as_deref() == pharmacy
        && record.audit.action == request.action.name()
        && record.audit.by == ctx.principal.audit_name()
    {
        // the same approval or change again (a retry after a lost answer): completes the
        // pharmacy's list and a change of institution, answers the filing
        after_written(kv, ctx, &request.action, &record, latest.version()).await?;
        return Ok(Reply::ok(&FilingView::new(&latest, today)));
    }

    if let Some(Some(pharmacy)) = named_pharmacy(&request.action) {
        check_pharmacy(kv, pharmacy, &record.application.fixmedins_code).await?;
    }
    if let Action::RecommendRenewal = request.action {
        // rule E5: a renewal is a new recommendation on fresh records
        let fresh = request.records.clone().unwrap_or_default();
        let before = &record.application.records;
        let mut renewed = record.application.clone();
        renewed.records = fresh.clone();
        let mut violations: Vec<Violation> =
            application_problems(&renewed).into_iter().filter(|(field, _)| field.starts_with("/records")).map(|(field, reason)| Violation { rule: Some("E5"), field, reason }).collect();
        if violations.is_empty() && fresh.iter().all(|r| before.contains(r)) {
            violations.push(Violation { rule: Some("E5"), field: "/records".into(), reason: "a renewal rests on fresh records: name at least one not already on the filing".into() });
        }
        if !violations.is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidBody, "a renewal needs fresh records").with_violations(violations));
        }
        record.application = renewed;
    }
    if let Action::Recommend | Action::RecommendRenewal = request.action {
        check_restriction(ctx, kv, &mut record, request.attestation.as_deref()).await?;
    }
    if let Action::Update = request.action {
        // rule E5: the physician may update the filing's diagnosis and plan at any time
        if request.diagnoses.is_none() && request.treatment_plan.is_none() && request.plan_quantity.is_none() {
            let violation = Violation { rule: Some("E5"), field: "/treatment_plan".into(), reason: "give the new diagnoses or plan".into() };
            return Err(ApiError::new(ErrorCode::InvalidBody, "an update changes something").with_violations(vec![violation]));
        }
        let application = &mut record.application;
        application.diagnoses = request.diagnoses.clone().unwrap_or_else(|| application.diagnoses.clone());
        application.treatment_plan = request.treatment_plan.clone().unwrap_or_else(|| application.treatment_plan.clone());
        application.plan_quantity = request.plan_quantity.clone().or_else(|| application.plan_quantity.clone());
        let problems = application_problems(application);
        if !problems.is_empty() {
            let violations = problems.into_iter().map(|(field, reason)| Violation { rule: Some("E5"), field, reason }).collect();
            return Err(ApiError::new(ErrorCode::InvalidBody, "the update is incomplete").with_violations(violations));
        }
    }
    if let Action::Approve { .. } | Action::RecommendRenewal | Action::Renew = request.action {
        // rule E7: only a drug the region still covers is approved or renewed
        let covered = drug_facts(kv, &record.admdvs, &record.application.code, today).await?;
        if !covered.is_some_and(|(facts, _)| facts.admits(record.application.scheme)) {
            let violation = Violation { rule: Some("E7"), field: "/action".into(), reason: "the drug is no longer covered in the region".into() };
            return Err(not_eligible("the drug's coverage ended", vec![violation]));
        }
    }
    let actor = actor_of(&ctx.principal)?;
    record.filing = record.filing.act(actor, &request.action, today).map_err(refusal)?;
    let reason = match &request.action {
        Action::Refuse { reason } | Action::Reject { reason } | Action::Revoke { reason } => Some(reason.trim().to_string()),
        _ => None,
    };
    record.audit = audit(ctx, request.action.name(), actor, reason);
    let filings = Filings::new(kv);
    let claim = filings.claim_version(&record.id, latest.seen, ctx.now.timestamp()).await?.map_err(|_| concurrent("the filing changed at the same time"))?;
    filings.write(claim, &record).await?;
    after_written(kv, ctx, &request.action, &record, claim.slot).await?;
    let latest = Latest::just_written(claim.slot, record);
    Ok(Reply::ok(&FilingView::new(&latest, today)))
}

/// The pharmacy an approval or a change of pharmacy names (`Some(None)`: an approval naming
/// none, as a registration's may); `None` for other actions.
fn named_pharmacy(action: &Action) -> Option<Option<&str>> {
    match action {
        Action::Approve { pharmacy } => Some(pharmacy.as_deref()),
        Action::ChangePharmacy { pharmacy } => Some(Some(pharmacy.as_str())),
        _ => None,
    }
}

/// What follows version `version` of an approval or a change of pharmacy, each once (a retry
/// completes it): the pharmacy's list names the filing (I4); the registration it replaces at
/// another institution is superseded (S4).
async fn after_written<K: KeyValue>(kv: &K, ctx: &Ctx, action: &Action, record: &FilingVersion, version: i64) -> ApiResult<()> {
    if let Some(Some(pharmacy)) = named_pharmacy(action) {
        Filings::new(kv).ensure_listed(&[FilingIndex::Pharmacy(pharmacy)], &record.id, version).await?;
    }
    if matches!(action, Action::Approve { .. }) && record.application.scheme == Scheme::OutpatientMechanism {
        supersede_earlier(kv, ctx, record).await?;
    }
    Ok(())
}

/// S4, a change of institution: once registration `record` is approved, the person's
/// registration for the drug it was applied beside (the one that stood, at another
/// institution) ends, superseded by it. Its new version is written after the approval, so a
/// crash between leaves the new one standing (`Filings::standing` prefers it) and the retry
/// of the approval completes this.
async fn supersede_earlier<K: KeyValue>(kv: &K, ctx: &Ctx, record: &FilingVersion) -> ApiResult<()> {
    let registrations = Filings::of(kv, Scheme::OutpatientMechanism);
    let application = &record.application;
    for generation in (1..record.generation).rev() {
        let Some(earlier) = registrations.latest(&registrations.id(&application.psn_no, &application.code, generation)).await? else { continue };
        let Some(next) = earlier.record.filing.superseded_by(&record.id) else {
            // the one before was never approved, or already ended: nothing further back stands
            if matches!(earlier.record.filing.state, FilingState::Refused { .. } | FilingState::Withdrawn) {
                continue;
            }
            return Ok(());
        };
        let reason = format!("superseded by registration {} at institution {}", record.id, application.fixmedins_code);
        let superseded = FilingVersion { filing: next, audit: audit(ctx, "supersede", Actor::HospitalOffice, Some(reason)), ..earlier.record.clone() };
        match registrations.claim_version(&superseded.id, earlier.seen, ctx.now.timestamp()).await? {
            Ok(claim) => registrations.write(claim, &superseded).await?,
            Err(Raced) => return Err(concurrent("the registration this one supersedes changed at the same time")),
        }
        return Ok(());
    }
    Ok(())
}

/// Rule C9 at the physician's recommendation: where the region encoded the drug's restriction,
/// the application's facts (diagnoses, age, line of therapy) and the physician's specialty
/// must meet every condition; where only the official text exists, the physician attests.
async fn check_restriction<K: KeyValue>(ctx: &Ctx, kv: &K, record: &mut FilingVersion, attestation: Option<&str>) -> ApiResult<()> {
    let attestation = attestation.map(str::trim).filter(|a| !a.is_empty());
    let in_force = CATALOGUE.in_force(kv, ctx.today()).await?;
    let structured = match &in_force {
        Some(in_force) => in_force.coverage(&record.admdvs, &record.application.code)?.and_then(|c| c.structured_restriction.cloned()),
        None => None,
    };
    let Some(restriction) = structured else {
        let Some(attestation) = attestation else {
            let violation = Violation { rule: Some("C9"), field: "/attestation".into(), reason: "attest that the drug's restriction is met".into() };
            return Err(not_eligible("a recommendation needs the physician's attestation", vec![violation]));
        };
        record.attestation = Some(attestation.to_string());
        return Ok(());
    };
    let physician = Registry::new(kv).get::<Physician>(&record.application.dr_code).await?;
    let application = &record.application;
    let facts = PatientFacts {
        diagnoses: &application.diagnoses,
        age: application.patient_age,
        prescriber_specialty: physician.as_ref().map(|p| p.entry.specialty.as_str()),
        line_of_therapy: application.line_of_therapy,
    };
    let unmet = restriction.unmet(&facts);
    if !unmet.is_empty() {
        let violations = unmet.into_iter().map(|reason| Violation { rule: Some("C9"), field: "/application".into(), reason }).collect();
        return Err(not_eligible("the drug's restriction is not met", violations));
    }
    record.attestation = Some(attestation.map_or_else(|| "structured restriction met".to_string(), str::to_string));
    Ok(())
}

/// Rule I4: the fixed pharmacy is a registered dual-channel pharmacy linked to the institution.
async fn check_pharmacy<K: KeyValue>(kv: &K, pharmacy: &str, institution: &str) -> ApiResult<()> {
    let found = if rules::role::is_code(pharmacy) { Registry::new(kv).get::<Pharmacy>(pharmacy).await? } else { None };
    let reason = match found {
        None => Some("no designated pharmacy is registered under this code"),
        Some(record) if !record.entry.dual_channel => Some("the pharmacy is not designated for the dual channel"),
        Some(record) if !record.entry.linked_institutions.iter().any(|linked| linked == institution) => {
            Some("the pharmacy is not linked to the filing's institution")
        }
        Some(_) => None,
    };
    match reason {
        None => Ok(()),
        Some(reason) => {
            let violation = Violation { rule: Some("I4"), field: "/pharmacy".into(), reason: reason.into() };
            Err(not_eligible("the pharmacy cannot be the filing's fixed pharmacy", vec![violation]))
        }
    }
}

fn refusal(refusal: Refusal) -> ApiError {
    let code = match refusal {
        Refusal::NotAllowed { .. } => ErrorCode::RoleForbidden,
        Refusal::IllegalTransition { .. } | Refusal::TooEarlyToRenew { .. } | Refusal::TooLateToRenew { .. } | Refusal::RenewalNotRecommended => ErrorCode::FilingStateConflict,
        Refusal::ReasonRequired { .. } | Refusal::PharmacyRequired => ErrorCode::InvalidBody,
    };
    let rule = refusal.rule();
    let error = ApiError::new(code, refusal.to_string()).with_rule(rule);
    match refusal {
        Refusal::ReasonRequired { .. } => {
            error.with_violations(vec![Violation { rule: Some(rule), field: "/reason".into(), reason: "a reason is required".into() }])
        }
        _ => error,
    }
}

/// Roles that act on filings; the action decides which of them may take it.
pub const ACTORS: &[Role] = &[Role::Patient, Role::Physician, Role::HospitalOffice, Role::Agency];
