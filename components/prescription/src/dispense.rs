//! The pharmacy side (P6, P7, P8, E6, I2, I4): the pharmacist's review, dispensing with a
//! traceability code per pack, and the pharmacy's medication records.
//!
//! Dispensing writes in an order that keeps every crash recoverable:
//! 1. claim the prescription (the next version, `Dispensing` under the pharmacy's dispensing
//!    number): of two pharmacists racing, one claim follows the version both read, the other
//!    is refused; from here only the same pharmacy with the same number can go on;
//! 2. claim each pack's traceability code (a code another dispensing owns gives the
//!    prescription back, `Approved` again, and answers 409);
//! 3. complete (the next version, `Dispensed`);
//! 4. append the medication record (E6) and the pharmacy's list, then the smart-monitoring
//!    checks (M3, `watch.rs`), which raise alerts and refuse nothing.
//!
//! A retry with the same number resumes at the step after the last one that landed.

use crate::reads::{RxView, concurrent, refusal, visible};
use crate::upload::current_filing;
use api::{ApiError, ApiResult, Ctx, ErrorCode, Principal, Reply, Violation};
use chrono::NaiveDateTime;
use rules::filing::Standing;
use rules::prescription::dispensing::traceability_codes;
use rules::prescription::precheck::pharmacy_refusals;
use rules::prescription::{Dispensing, LineKind, Stage, Step, dispensing_problems};
use rules::registry::{Pharmacist, Pharmacy};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use store::filing::FilingVersion;
use store::prescription::{DispensingRecord, Listed, MedicationEntry, PackOwner, Prescriptions, Review, RxIndex, RxLatest, RxVersion, TraceEntry};
use store::versions::Seen;
use store::{KeyValue, LogCache, Registry};

/// The medication records this instance has read, validated per request by one read each.
static MEDICATION: LogCache<MedicationEntry> = LogCache::new();
/// The days' dispensings begun this instance has read, likewise.
static DISPENSINGS_BEGUN: LogCache<Listed> = LogCache::new();

/// The calling pharmacist: their code and their pharmacy's.
pub(crate) fn pharmacist(ctx: &Ctx) -> ApiResult<(&str, &str)> {
    match &ctx.principal {
        Principal::Pharmacist { phar_code, fixmedins_code } => Ok((phar_code, fixmedins_code)),
        _ => Err(ApiError::new(ErrorCode::RoleForbidden, "reviews and dispensings are a pharmacist's")),
    }
}

/// P6, I2, I4, P2: the pharmacist is registered and active at their pharmacy, and the pharmacy
/// may fill this prescription (it is the one the prescription is bound to, or, unbound, a
/// registered dual-channel pharmacy linked to the institution and allowed by its region).
async fn may_fill<K: KeyValue>(kv: &K, record: &RxVersion, phar_code: &str, pharmacy_code: &str, today: chrono::NaiveDate) -> ApiResult<()> {
    let registry = Registry::new(kv);
    let registered = registry.get::<Pharmacist>(phar_code).await?;
    if !registered.is_some_and(|p| p.entry.active && p.entry.fixmedins_code == pharmacy_code) {
        return Err(ApiError::new(ErrorCode::RoleForbidden, "the pharmacist is not registered as active at this pharmacy").with_rule("P6"));
    }
    if let Some(bound) = record.pharmacy.as_deref().filter(|bound| *bound != pharmacy_code) {
        return Err(ApiError::new(ErrorCode::RoleForbidden, format!("the prescription goes to pharmacy {bound}")).with_rule("I4"));
    }
    let pharmacy = registry.get::<Pharmacy>(pharmacy_code).await?;
    let admdvs = pharmacy.as_ref().map_or(record.admdvs.as_str(), |p| p.entry.admdvs.as_str());
    let policy = crate::policy::in_force(kv, admdvs, today).await?;
    let refusals = pharmacy_refusals(pharmacy.as_ref().map(|p| &p.entry), &record.prescription.fixmedins_code, &record.admdvs, &policy);
    if refusals.is_empty() {
        return Ok(());
    }
    let violations = refusals.into_iter().map(|(rule, reason)| Violation { rule: Some(rule), field: "pharmacy".into(), reason }).collect();
    Err(ApiError::new(ErrorCode::NotEligible, "this pharmacy may not fill the prescription").with_violations(violations))
}

pub(crate) fn trace(ctx: &Ctx, step: &str, detail: Option<String>) -> TraceEntry {
    TraceEntry { step: step.into(), by: ctx.principal.audit_name(), at: ctx.timestamp(), detail }
}

/// Writes `next` as the version after the one `seen` read; `None` when another step claimed
/// that version first.
pub(crate) async fn advance<K: KeyValue>(ctx: &Ctx, kv: &K, seen: Seen, next: &RxVersion) -> ApiResult<Option<i64>> {
    let store = Prescriptions::new(kv);
    let Ok(claim) = store.claim(&next.hi_rxno, seen, ctx.now.timestamp()).await? else { return Ok(None) };
    store.write(claim, next).await?;
    Ok(Some(claim.slot))
}

pub(crate) fn raced() -> ApiError {
    concurrent("another step on this prescription was taken at the same time")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    approved: bool,
    #[serde(default)]
    opinion: Option<String>,
}

/// `POST /api/prescriptions/{hi_rxno}/review` (a pharmacist of a pharmacy that may fill it,
/// P6): approve, or reject with an opinion.
pub async fn review(ctx: &Ctx) -> ApiResult<Reply> {
    let body: ReviewBody = ctx.json()?;
    let (phar_code, pharmacy_code) = pharmacist(ctx)?;
    let kv = ctx.kv().await?;
    let latest = visible(ctx, kv).await?;
    let now = rules::time::business_time(ctx.now);
    may_fill(kv, &latest.record, phar_code, pharmacy_code, now.date()).await?;
    let opinion = body.opinion.map(|o| o.trim().to_string()).filter(|o| !o.is_empty());
    if opinion.as_ref().is_some_and(|o| o.chars().count() > 500) {
        return Err(ApiError::new(ErrorCode::InvalidBody, "the opinion is at most 500 characters")
            .with_violations(vec![Violation { rule: None, field: "/opinion".into(), reason: "at most 500 characters".into() }]));
    }
    let step = match body.approved {
        true => Step::Approve { phar_code: phar_code.to_string() },
        false => Step::Reject { phar_code: phar_code.to_string(), opinion: opinion.clone().unwrap_or_default() },
    };
    let record = latest.record;
    let stage = record.stage.take(&step, record.vali_end_time, now).map_err(refusal)?;
    let review = Review { fixmedins_code: pharmacy_code.to_string(), phar_code: phar_code.to_string(), approved: body.approved, opinion: opinion.clone(), at: ctx.timestamp() };
    let next = RxVersion { stage, review: Some(review), trace: trace(ctx, if body.approved { "approve" } else { "reject" }, opinion), ..record };
    advance(ctx, kv, latest.seen, &next).await?.ok_or_else(raced)?;
    if next.pharmacy.is_none() {
        // an unbound prescription joins the list of the pharmacy that took it up
        Prescriptions::new(kv).ensure_listed(&[RxIndex::Pharmacy(pharmacy_code)], &next.hi_rxno).await?;
    }
    Ok(Reply::ok(&RxView::new(&next, now)))
}

/// `POST /api/prescriptions/{hi_rxno}/dispense` (a pharmacist of the pharmacy that approved
/// it): records what was handed out, at most once per prescription (P8), each pack's
/// traceability code never used for another dispensing (P7). A retry with the same
/// `dispensing_no` completes an interrupted dispensing; anyone else gets 409.
pub async fn dispense(ctx: &Ctx) -> ApiResult<Reply> {
    let body: Dispensing = ctx.json()?;
    let (phar_code, pharmacy_code) = pharmacist(ctx)?;
    let kv = ctx.kv().await?;
    let now = rules::time::business_time(ctx.now);
    let own = |record: &RxVersion| record.dispensing.as_ref().is_some_and(|d| d.fixmedins_code == pharmacy_code && d.dispensing.dispensing_no == body.dispensing_no);
    let other_body = || ApiError::new(ErrorCode::RxStateConflict, "this dispensing number is recorded with other lines or packs; retry with the same body");
    // a round that loses a step to another request waits for that step to be written and reads
    // again: if the other request was this same dispensing (a retry racing its first attempt),
    // the next round resumes or answers it
    for _ in 0..ROUNDS {
        let latest = visible(ctx, kv).await?;
        let same_body = latest.record.dispensing.as_ref().is_some_and(|d| d.dispensing == body);
        let outcome = match &latest.record.stage {
            Stage::Dispensed { .. } | Stage::Dispensing { .. } if own(&latest.record) && !same_body => return Err(other_body()),
            Stage::Dispensed { .. } if own(&latest.record) => {
                record_medication(kv, &latest.record, now).await?;
                crate::watch::after_dispensing(ctx, kv, &latest.record).await?;
                return Ok(Reply::ok(&RxView::new(&latest.record, now)));
            }
            Stage::Dispensing { .. } if own(&latest.record) => complete(ctx, kv, latest, None, now).await?,
            _ => start(ctx, kv, latest, body.clone(), phar_code, pharmacy_code, now).await?,
        };
        match outcome {
            Round::Answered(reply) => return Ok(reply),
            Round::Lost { hi_rxno, slot } => {
                let store = Prescriptions::new(kv);
                let written = api::wait::for_result(|| async { Ok(store.latest(&hi_rxno).await?.filter(|l| l.version() >= slot)) }).await?;
                if written.is_none() {
                    return Err(raced());
                }
            }
        }
    }
    Err(raced())
}

/// Rounds of a dispensing racing the same dispensing sent again: each lost round means the
/// other request wrote a step, so a few always suffice.
const ROUNDS: usize = 4;

/// How one round of a dispensing ended.
enum Round {
    Answered(Reply),
    /// Another request claimed version `slot` of the prescription first.
    Lost { hi_rxno: String, slot: i64 },
}

/// Checks a new dispensing and claims the prescription for it (step 1), then goes on.
async fn start<K: KeyValue>(ctx: &Ctx, kv: &K, latest: RxLatest, body: Dispensing, phar_code: &str, pharmacy_code: &str, now: NaiveDateTime) -> ApiResult<Round> {
    let (seen, record) = (latest.seen, latest.record);
    let lost = seen.written + 1;
    let step = Step::StartDispensing { phar_code: phar_code.to_string(), dispensing_no: body.dispensing_no.clone() };
    let stage = record.stage.take(&step, record.vali_end_time, now).map_err(refusal)?;
    if record.review.as_ref().is_some_and(|r| r.fixmedins_code != pharmacy_code) {
        return Err(ApiError::new(ErrorCode::RxStateConflict, "the prescription was reviewed at another pharmacy, which dispenses it").with_rule("P6"));
    }
    may_fill(kv, &record, phar_code, pharmacy_code, now.date()).await?;
    let problems = dispensing_problems(&record.prescription, &body);
    if !problems.is_empty() {
        let violations = problems.into_iter().map(Violation::from).collect();
        return Err(ApiError::new(ErrorCode::InvalidBody, "the dispensing does not match the prescription").with_violations(violations));
    }
    let filings = check_filings(kv, &record, pharmacy_code, now).await?;
    // refuse a pack another dispensing owns before claiming anything (the claims in step 2
    // still decide a race)
    let store = Prescriptions::new(kv);
    let this = PackOwner { hi_rxno: record.hi_rxno.clone(), fixmedins_code: pharmacy_code.to_string(), dispensing_no: body.dispensing_no.clone(), returned: None };
    for code in traceability_codes(&body) {
        let Some(last) = store.pack_last_owner(code).await?.filter(|last| *last != this) else { continue };
        // rule M3: a code met again is the agency's to look at, a refusal or not
        crate::watch::pack_met_again(ctx, kv, &record, pharmacy_code, code, &last).await?;
        if last.returned.is_none() {
            return Err(pack_taken(code, Some(&last)));
        }
    }
    // listed before the claim, so that an agency finds a dispensing left unfinished
    store.index(RxIndex::Dispensing(&dispensing_day(pharmacy_code, now.date()))).append(&Listed { hi_rxno: record.hi_rxno.clone() }).await?;
    let dispensing = DispensingRecord { fixmedins_code: pharmacy_code.to_string(), phar_code: phar_code.to_string(), dispensing: body, at: ctx.timestamp(), returns: Vec::new() };
    let next = RxVersion { stage, dispensing: Some(dispensing), trace: trace(ctx, "claim", None), ..record };
    match advance(ctx, kv, seen, &next).await? {
        Some(version) => complete(ctx, kv, RxLatest::just_written(version, next), Some(filings), now).await,
        None => Ok(Round::Lost { hi_rxno: next.hi_rxno, slot: lost }),
    }
}

/// The code of a pharmacy's day in the index of dispensings begun (`RxIndex::Dispensing`).
fn dispensing_day(pharmacy: &str, day: chrono::NaiveDate) -> String {
    format!("{pharmacy}:day:{}", day.format("%Y%m%d"))
}

#[derive(Serialize)]
struct Unfinished<'a> {
    fixmedins_code: &'a str,
    date: chrono::NaiveDate,
    items: Vec<RxView<'a>>,
}

/// `GET /api/prescriptions/unfinished?fixmedins_code=…&date=…` (an agency of the pharmacy's
/// region, an admin): the prescriptions whose dispensing the pharmacy began that day (default
/// today) and left `dispensing`. The agency asks the pharmacy to send it again (it completes)
/// or releases the prescription (`POST …/{hi_rxno}/release`). Reads: the day's log, then two
/// per dispensing begun.
pub async fn unfinished(ctx: &Ctx) -> ApiResult<Reply> {
    let query = api::query::Query::parse(ctx.query());
    let fixmedins_code = query.text("fixmedins_code").filter(|c| rules::role::is_code(c)).ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "fixmedins_code: the pharmacy's code"))?;
    let date = query.date("date")?.unwrap_or_else(|| ctx.today());
    let kv = ctx.kv().await?;
    let pharmacy = Registry::new(kv).get::<Pharmacy>(fixmedins_code).await?;
    if !pharmacy.is_some_and(|p| rules::registry::may_administer(&ctx.principal, &p.entry.admdvs)) {
        return Err(ApiError::not_found("pharmacy of your region"));
    }
    let store = Prescriptions::new(kv);
    let log = DISPENSINGS_BEGUN.read(&store.index(RxIndex::Dispensing(&dispensing_day(fixmedins_code, date)))).await?;
    let mut records = Vec::new();
    for hi_rxno in log.newest_first_once(|listed: &Listed| listed.hi_rxno.as_str()).map(|listed| listed.hi_rxno.clone()).collect::<Vec<_>>() {
        if let Some(latest) = store.latest(&hi_rxno).await?.filter(|l| matches!(l.record.stage, Stage::Dispensing { .. })) {
            records.push(latest.record);
        }
    }
    let now = rules::time::business_time(ctx.now);
    Ok(Reply::ok(&Unfinished { fixmedins_code, date, items: records.iter().map(|r| RxView::new(r, now)).collect() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Release {
    reason: String,
}

/// `POST /api/prescriptions/{hi_rxno}/release` (an agency of the prescription's region, an
/// admin), with a reason: a dispensing its pharmacy left unfinished is given back: the
/// prescription is approved again and the packs the dispensing claimed are free for another.
/// Only a lease after the dispensing began (no request of the pharmacy is still completing it);
/// a retry completes the packs' release and answers the prescription.
pub async fn release(ctx: &Ctx) -> ApiResult<Reply> {
    let body: Release = ctx.json()?;
    let reason = body.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::new(ErrorCode::InvalidBody, "a release needs a reason").with_violations(vec![Violation { rule: None, field: "/reason".into(), reason: "1 to 500 characters".into() }]));
    }
    let kv = ctx.kv().await?;
    let latest = visible(ctx, kv).await?;
    let now = rules::time::business_time(ctx.now);
    let store = Prescriptions::new(kv);
    let released = match &latest.record.stage {
        Stage::Dispensing { dispensing_no, .. } => {
            if !store::versions::lease_ran_out(&latest.record.trace.at, ctx.now) {
                return Err(ApiError::new(ErrorCode::ConcurrentUpdate, "the dispensing began less than a minute ago and may still complete; look again later"));
            }
            let record = latest.record.clone();
            let stage = record.stage.take(&Step::AbandonDispensing { dispensing_no: dispensing_no.clone() }, record.vali_end_time, now).map_err(refusal)?;
            let packs = record.dispensing.clone();
            let back = RxVersion { stage, dispensing: None, trace: trace(ctx, "release", Some(reason)), ..record };
            advance(ctx, kv, latest.seen, &back).await?.ok_or_else(raced)?;
            (back, packs)
        }
        // released before (a retry): the packs of the dispensing it gave back
        Stage::Approved { .. } if latest.record.trace.step == "release" => {
            let previous = store.versions(&latest.record.hi_rxno).get::<RxVersion>(latest.version() - 1).await?;
            (latest.record.clone(), previous.and_then(|p| p.dispensing))
        }
        _ => return Err(ApiError::new(ErrorCode::RxStateConflict, "only a dispensing left unfinished is released")),
    };
    let (record, packs) = released;
    if let Some(dispensing) = packs {
        for code in traceability_codes(&dispensing.dispensing) {
            store.mark_returned(code, &record.hi_rxno, "released").await?;
        }
    }
    Ok(Reply::ok(&RxView::new(&record, now)))
}

/// The person's current filings of the prescription's separate-payment drugs.
async fn separate_filings<K: KeyValue>(kv: &K, record: &RxVersion) -> ApiResult<Vec<FilingVersion>> {
    let mut filings = Vec::new();
    for (line, kind) in record.prescription.lines.iter().zip(&record.kinds) {
        if *kind == LineKind::SeparatePayment {
            filings.extend(current_filing(kv, &record.prescription.psn_no, &line.med_list_codg).await?);
        }
    }
    Ok(filings)
}

/// E5, I4 at the counter: each separate-payment drug's filing is still valid today and fixes
/// this pharmacy. Answers the filings.
async fn check_filings<K: KeyValue>(kv: &K, record: &RxVersion, pharmacy_code: &str, now: NaiveDateTime) -> ApiResult<Vec<FilingVersion>> {
    let mut violations = Vec::new();
    let mut filings = Vec::new();
    for (n, (line, kind)) in record.prescription.lines.iter().zip(&record.kinds).enumerate() {
        if *kind != LineKind::SeparatePayment {
            continue;
        }
        let field = format!("/lines/{n}");
        match current_filing(kv, &record.prescription.psn_no, &line.med_list_codg).await? {
            None => violations.push(Violation { rule: Some("E5"), field, reason: "the patient no longer holds a filing for this drug".into() }),
            Some(filing) if filing.filing.standing_on(now.date()) != Standing::Valid => {
                violations.push(Violation { rule: Some("E5"), field, reason: "the filing cannot be used today".into() })
            }
            Some(filing) if filing.filing.pharmacy.as_deref() != Some(pharmacy_code) => {
                violations.push(Violation { rule: Some("I4"), field, reason: "the filing fixes another pharmacy".into() })
            }
            Some(filing) => filings.push(filing),
        }
    }
    if violations.is_empty() {
        return Ok(filings);
    }
    Err(ApiError::new(ErrorCode::NotEligible, "a separate-payment drug cannot be dispensed here today").with_violations(violations))
}

fn pack_taken(code: &str, owner: Option<&PackOwner>) -> ApiError {
    let detail = match owner {
        Some(owner) => format!("traceability code {code} was dispensed under prescription {} (dispensing {})", owner.hi_rxno, owner.dispensing_no),
        None => format!("traceability code {code} is held by an interrupted claim and cannot be used"),
    };
    ApiError::new(ErrorCode::PackAlreadyUsed, detail).with_rule("P7")
}

/// Steps 2–4 for a prescription this dispensing holds (`filings`: the person's filings of its
/// separate-payment drugs, when the request has read them).
async fn complete<K: KeyValue>(ctx: &Ctx, kv: &K, latest: RxLatest, filings: Option<Vec<FilingVersion>>, now: NaiveDateTime) -> ApiResult<Round> {
    let (seen, record) = (latest.seen, latest.record);
    let Some(dispensing) = record.dispensing.clone() else {
        return Err(ApiError::new(ErrorCode::RxStateConflict, "the prescription holds no dispensing"));
    };
    let number = dispensing.dispensing.dispensing_no.clone();
    // rule M3: the quantity drawn from each filing's treatment plan, before any pack is claimed
    let filings = match filings {
        Some(filings) => filings,
        None => separate_filings(kv, &record).await?,
    };
    let beyond = crate::plan::draw(ctx, kv, &record, &filings, now.date()).await?;
    if !beyond.is_empty() {
        for line in &beyond {
            crate::watch::quantity_beyond_plan(ctx, kv, &record, &dispensing.fixmedins_code, line).await?;
        }
        give_back(ctx, kv, seen, record, &number, "beyond the filing's treatment plan".into(), now).await?;
        let violations = beyond.into_iter().map(|line| line.violation).collect();
        return Err(ApiError::new(ErrorCode::NotEligible, "the dispensing exceeds what the filing's treatment plan allows").with_violations(violations));
    }
    let owner = PackOwner { hi_rxno: record.hi_rxno.clone(), fixmedins_code: dispensing.fixmedins_code.clone(), dispensing_no: number.clone(), returned: None };
    let store = Prescriptions::new(kv);
    let mut taken = None;
    for _ in 0..ROUNDS {
        match store.claim_packs(traceability_codes(&dispensing.dispensing), &owner, ctx.now.timestamp()).await? {
            Ok(()) => {
                taken = None;
                break;
            }
            Err(pack) if pack.owner.is_some() => {
                taken = Some(pack);
                break;
            }
            // claimed by a request that has not named itself yet: this same dispensing sent
            // again (then the next claim finds it its own), another, or one that died (refused
            // without giving the prescription back; taken over after the lease)
            Err(pack) => {
                if api::wait::for_result(|| store.pack_owner(&pack.drug_trac_codg)).await?.is_none() {
                    return Err(pack_taken(&pack.drug_trac_codg, None));
                }
                taken = Some(pack);
            }
        }
    }
    if let Some(taken) = taken {
        if let Some(owner) = &taken.owner {
            crate::watch::pack_met_again(ctx, kv, &record, &dispensing.fixmedins_code, &taken.drug_trac_codg, owner).await?;
        }
        give_back(ctx, kv, seen, record, &number, format!("pack {} is taken", taken.drug_trac_codg), now).await?;
        return Err(pack_taken(&taken.drug_trac_codg, taken.owner.as_ref()));
    }
    let stage = record.stage.take(&Step::CompleteDispensing { dispensing_no: number.clone() }, record.vali_end_time, now).map_err(refusal)?;
    let next = RxVersion { stage, trace: trace(ctx, "dispense", Some(format!("dispensing {number}"))), ..record };
    if advance(ctx, kv, seen, &next).await?.is_none() {
        // the same dispensing sent again completed it meanwhile (or is completing it)
        return Ok(Round::Lost { hi_rxno: next.hi_rxno, slot: seen.written + 1 });
    }
    record_medication(kv, &next, now).await?;
    crate::watch::after_dispensing(ctx, kv, &next).await?;
    Ok(Round::Answered(Reply::ok(&RxView::new(&next, now))))
}

/// Gives the prescription this dispensing claimed back (approved again, `detail` in its trace):
/// the dispensing is refused and another may start.
async fn give_back<K: KeyValue>(ctx: &Ctx, kv: &K, seen: Seen, record: RxVersion, number: &str, detail: String, now: NaiveDateTime) -> ApiResult<()> {
    let stage = record.stage.take(&Step::AbandonDispensing { dispensing_no: number.to_string() }, record.vali_end_time, now).map_err(refusal)?;
    let back = RxVersion { stage, dispensing: None, trace: trace(ctx, "abandon", Some(detail)), ..record };
    advance(ctx, kv, seen, &back).await?.ok_or_else(raced)?;
    Ok(())
}

/// Step 4: the pharmacy's medication record for the person gets one entry per line (E6: the
/// first for a drug opens the record), and the pharmacy's list names the prescription (an
/// unbound one was listed at its review; this completes a review interrupted before it). Each
/// is appended only if its marker is absent, so a retry adds nothing twice.
async fn record_medication<K: KeyValue>(kv: &K, record: &RxVersion, now: NaiveDateTime) -> ApiResult<()> {
    let Some(dispensing) = &record.dispensing else { return Ok(()) };
    let store = Prescriptions::new(kv);
    for line in &dispensing.dispensing.lines {
        let position = record.prescription.lines.iter().position(|l| l.med_list_codg == line.med_list_codg);
        let drug_name = position.and_then(|i| record.drug_names.get(i)).cloned().unwrap_or_default();
        let entry = MedicationEntry {
            med_list_codg: line.med_list_codg.clone(),
            drug_name,
            hi_rxno: record.hi_rxno.clone(),
            dispensing_no: dispensing.dispensing.dispensing_no.clone(),
            drug_cnt: line.drug_cnt,
            dispensed_on: now.date(),
        };
        store.record_medication(&dispensing.fixmedins_code, &record.prescription.psn_no, &entry).await?;
    }
    if record.pharmacy.is_none() {
        store.ensure_listed(&[RxIndex::Pharmacy(&dispensing.fixmedins_code)], &record.hi_rxno).await?;
    }
    Ok(())
}

#[derive(Serialize)]
struct MedicationRecord<'a> {
    psn_no: &'a str,
    fixmedins_code: &'a str,
    drugs: Vec<DrugRecord<'a>>,
}

#[derive(Serialize)]
struct DrugRecord<'a> {
    med_list_codg: &'a str,
    drug_name: &'a str,
    /// The first dispensing of the drug here opened the record (E6).
    opened_on: chrono::NaiveDate,
    dispensings: Vec<&'a MedicationEntry>,
}

/// `GET /api/prescriptions/medication-records/{psn_no}` (a pharmacist, for their pharmacy):
/// the person's medication record there, per drug, oldest dispensing first (E6).
pub async fn medication_record(ctx: &Ctx) -> ApiResult<Reply> {
    let (_, pharmacy_code) = pharmacist(ctx)?;
    let psn_no = ctx.param("psn_no")?;
    if !rules::role::is_code(psn_no) {
        return Err(ApiError::not_found("medication record"));
    }
    let kv = ctx.kv().await?;
    let reader = MEDICATION.read(&Prescriptions::new(kv).medication_record(pharmacy_code, psn_no)).await?;
    let mut drugs: BTreeMap<&str, DrugRecord<'_>> = BTreeMap::new();
    let mut seen = HashSet::new();
    // a crash between an entry and its marker can have appended it twice (Log::append_once);
    // a return's entry is its own (its number in `dispensing_no`)
    for (_, entry) in reader.records().filter(|(_, e)| seen.insert((&e.hi_rxno, &e.med_list_codg, &e.dispensing_no))) {
        drugs
            .entry(&entry.med_list_codg)
            .or_insert_with(|| DrugRecord { med_list_codg: &entry.med_list_codg, drug_name: &entry.drug_name, opened_on: entry.dispensed_on, dispensings: Vec::new() })
            .dispensings
            .push(entry);
    }
    if drugs.is_empty() {
        return Err(ApiError::not_found("medication record"));
    }
    Ok(Reply::ok(&MedicationRecord { psn_no, fixmedins_code: pharmacy_code, drugs: drugs.into_values().collect() }))
}
