//! Who sees which filings, without scanning all of them: an institution's queue, a person's
//! filings, a pharmacy's bound filings (each from its own index log), and the one fast check
//! the prescription and settlement components ask: "does this person hold a valid filing for
//! this drug at this pharmacy on this date?"

use crate::filings::{CATALOGUE, FilingView, drug_facts_in};
use api::query::{Query, invalid};
use api::{ApiError, ApiResult, Ctx, ErrorCode, Principal, Reply, Violation};
use chrono::NaiveDate;
use rules::filing::{FilingState, Scheme, Standing};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Mutex;
use store::filing::{FilingIndex, Filings, Latest, Listed};
use store::{KeyValue, LogCache, StoreResult};

/// The index logs this instance has read, by log name, validated per request by their version.
static INDEXES: LogCache<Listed> = LogCache::new();

/// Filings this instance saw past both waiting steps: no action leads back to a queue, so a
/// queue need not read them again.
static SETTLED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn settled(latest: &Latest) -> bool {
    !matches!(latest.record.filing.state, FilingState::AwaitingPhysician | FilingState::AwaitingOffice)
}

fn code_param(query: &Query, name: &str) -> ApiResult<String> {
    query.text(name).filter(|v| rules::role::is_code(v)).map(str::to_string).ok_or_else(|| invalid(name, "required: a code"))
}

/// The latest version of every filing in an index, oldest first, or with `waiting_only` of those
/// that may still wait in a queue. Reads: the log's version, new log slots, then two per filing
/// read.
async fn listed<K: KeyValue>(kv: &K, index: FilingIndex<'_>, waiting_only: bool) -> StoreResult<Vec<Latest>> {
    let filings = Filings::new(kv);
    let reader = INDEXES.read(&filings.index(index)).await?;
    let mut ids: Vec<String> = reader.records().map(|(_, listed)| listed.id.clone()).collect();
    // a filing is listed again when its pharmacy changes back; show it once
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    if waiting_only {
        let known = SETTLED.lock().unwrap_or_else(|p| p.into_inner());
        ids.retain(|id| !known.contains(id));
    }
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(latest) = filings.latest(&id).await? {
            if settled(&latest) {
                SETTLED.lock().unwrap_or_else(|p| p.into_inner()).insert(latest.record.id.clone());
            }
            found.push(latest);
        }
    }
    Ok(found)
}

#[derive(Serialize)]
struct FilingList<'a> {
    total: usize,
    items: Vec<FilingView<'a>>,
}

fn reply(latest: &[Latest], keep: impl Fn(&Latest) -> bool, today: NaiveDate) -> Reply {
    let items: Vec<FilingView<'_>> = latest.iter().filter(|l| keep(l)).map(|l| FilingView::new(l, today)).collect();
    Reply::ok(&FilingList { total: items.len(), items })
}

/// `GET /api/filings/queue` (physician, hospital office): applications waiting at the caller's
/// institution: for a physician, those waiting for them (E3); for the office, both steps (E4).
pub async fn queue(ctx: &Ctx) -> ApiResult<Reply> {
    let institution = match &ctx.principal {
        Principal::Physician { fixmedins_code, .. } | Principal::HospitalOffice { fixmedins_code } => fixmedins_code,
        _ => return Err(ApiError::new(ErrorCode::RoleForbidden, "queues belong to institutions")),
    };
    let latest = listed(ctx.kv().await?, FilingIndex::Institution(institution), true).await?;
    let waiting = |l: &Latest| match (&ctx.principal, &l.record.filing.state) {
        (Principal::Physician { dr_code, .. }, FilingState::AwaitingPhysician) => *dr_code == l.record.application.dr_code,
        (Principal::HospitalOffice { .. }, FilingState::AwaitingPhysician | FilingState::AwaitingOffice) => true,
        _ => false,
    };
    Ok(reply(&latest, waiting, ctx.today()))
}

/// `GET /api/filings?psn_no=…` (the patient themself, agency, admin): a person's filings.
pub async fn of_person(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let psn_no = match &ctx.principal {
        Principal::Patient { psn_no } => psn_no.clone(),
        _ => code_param(&query, "psn_no")?,
    };
    let latest = listed(ctx.kv().await?, FilingIndex::Person(&psn_no), false).await?;
    Ok(reply(&latest, |l| crate::filings::may_see(&ctx.principal, &l.record), ctx.today()))
}

/// `GET /api/filings/pharmacy` (pharmacist): the filings bound to the caller's pharmacy (I4),
/// for the medication records it keeps (E6).
pub async fn of_pharmacy(ctx: &Ctx) -> ApiResult<Reply> {
    let Principal::Pharmacist { fixmedins_code, .. } = &ctx.principal else {
        return Err(ApiError::new(ErrorCode::RoleForbidden, "pharmacy lists belong to pharmacists"));
    };
    let latest = listed(ctx.kv().await?, FilingIndex::Pharmacy(fixmedins_code), false).await?;
    Ok(reply(&latest, |l| l.record.filing.pharmacy.as_deref() == Some(fixmedins_code.as_str()), ctx.today()))
}

#[derive(Serialize)]
struct Check {
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    filing_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<Violation>,
}

/// `GET /api/filings/check?psn_no=…&code=…&pharmacy=…&date=…` (pharmacist for its own pharmacy,
/// physician, hospital office, agency, admin): the one fast call for prescription and
/// settlement. Reads: the generation, the filing (two), the catalogue version: four.
pub async fn check(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let psn_no = code_param(&query, "psn_no")?;
    let code = code_param(&query, "code")?;
    let pharmacy = match &ctx.principal {
        Principal::Pharmacist { fixmedins_code, .. } => Some(fixmedins_code.clone()),
        _ => query.text("pharmacy").map(str::to_string),
    };
    let date = query.date("date")?.unwrap_or_else(|| ctx.today());
    // issue 19: the catalogue's version and the filing (with the token's revocation) in one read
    let mut read = vec![store::keys::catalogue_version()];
    read.extend(store::filing::current_keys(Scheme::SeparatePayment, &psn_no, &code));
    let kv = ctx.read_ahead(read).await?;
    let in_force = CATALOGUE.in_force(kv, date).await?;
    let latest = Filings::new(kv).current(&psn_no, &code).await?;
    let reason = |rule, field: &str, reason: &str| Violation { rule: Some(rule), field: field.into(), reason: reason.into() };
    let Some(latest) = latest else {
        return Ok(Reply::ok(&Check { valid: false, filing_id: None, reasons: vec![reason("E4", "psn_no", "no filing for this drug")] }));
    };
    let record = &latest.record;
    let mut reasons = Vec::new();
    match record.filing.standing_on(date) {
        Standing::Valid => {}
        Standing::NotApproved | Standing::NotYetValid => reasons.push(reason("E4", "psn_no", "the filing is not approved for this date")),
        Standing::Expired => reasons.push(reason("E5", "date", "the filing's year is over")),
        Standing::ReassessmentOverdue => reasons.push(reason("E5", "date", "the filing's reassessment is overdue")),
    }
    if let Some(pharmacy) = pharmacy.filter(|p| record.filing.pharmacy.as_deref() != Some(p.as_str())) {
        reasons.push(reason("I4", "pharmacy", &format!("the filing's fixed pharmacy is not {pharmacy}")));
    }
    let covered = in_force.map(|in_force| drug_facts_in(&in_force, &record.admdvs, &code)).transpose()?.flatten();
    if !covered.is_some_and(|(facts, _)| facts.payable && (facts.separate_payment || facts.dual_channel)) {
        reasons.push(reason("E7", "code", "the drug is not covered in the filing's region on this date"));
    }
    Ok(Reply::ok(&Check { valid: reasons.is_empty(), filing_id: Some(record.id.clone()), reasons }))
}
