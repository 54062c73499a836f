//! The prescribing side: pre-check (P1–P4, E1, E5, I1–I4, C1, C2, C9), upload (idempotent on
//! the institution's prescription number), and revocation by the prescriber before dispensing.

use crate::reads::{RxView, concurrent, refusal, visible};
use api::{ApiError, ApiResult, Ctx, ErrorCode, Principal, Reply, Violation};
use catalogue_view::CatalogueCache;
use chrono::NaiveDate;
use rules::prescription::precheck::{DrugCover, FilingFacts, LineFacts, PrecheckFacts, Restriction, bound_pharmacy, line_kinds};
use rules::prescription::{LineKind, Prescription, Stage, Step, precheck_problems, shape_problems, validity_end};
use rules::registry::{Institution, Person, Pharmacy, Physician};
use serde::{Deserialize, Serialize};
use store::filing::{FilingVersion, Filings};
use store::prescription::{PreChecked, Prescriptions, RxIndex, RxVersion, TraceEntry, hi_rxno, rx_trace_code};
use store::{KeyValue, Registry};

/// Lives as long as the instance (see `catalogue_view::cache`).
pub static CATALOGUE: CatalogueCache = CatalogueCache::new();

/// A physician prescribes only as themself, at their own institution.
fn as_prescriber(ctx: &Ctx, rx: &Prescription) -> ApiResult<()> {
    match &ctx.principal {
        Principal::Physician { dr_code, fixmedins_code } if *dr_code == rx.dr_code && *fixmedins_code == rx.fixmedins_code => Ok(()),
        _ => Err(ApiError::new(ErrorCode::RoleForbidden, "a physician prescribes only as themself at their own institution")),
    }
}

/// The person's current filing for a drug, if any (three reads).
pub async fn current_filing<K: KeyValue>(kv: &K, psn_no: &str, code: &str) -> ApiResult<Option<FilingVersion>> {
    Ok(Filings::new(kv).current(psn_no, code).await?.map(|latest| latest.record))
}

/// What a pre-check reads before the filings' versions, for one read-ahead (issue 19): the
/// person, institution and physician, the policy's levels, the catalogue's version, each
/// line's filing heads (`store::filing::current_keys`) and the pharmacy the prescription
/// names. The institution's region is assumed the deployment's; where a guess is wrong, the
/// reads from there on go one by one, as they would have.
fn pre_check_keys(ctx: &Ctx, rx: &Prescription) -> Vec<String> {
    use store::keys;
    let mut read = vec![keys::registry_person(&rx.psn_no), keys::registry_institution(&rx.fixmedins_code), keys::registry_physician(&rx.dr_code)];
    read.extend(rules::registry::region_chain(&ctx.config.region_code).iter().map(|level| keys::log_version(&keys::rx_region_policy(level))));
    read.push(keys::catalogue_version());
    for line in &rx.lines {
        read.extend(store::filing::current_keys(rules::filing::Scheme::SeparatePayment, &rx.psn_no, &line.med_list_codg));
    }
    read.extend(rx.pharmacy.as_deref().map(keys::registry_pharmacy));
    read
}

/// A filing as the prescription rules see it on `date`.
pub fn filing_facts(filing: &FilingVersion, date: NaiveDate) -> FilingFacts<'_> {
    FilingFacts {
        standing: filing.filing.standing_on(date),
        fixmedins_code: &filing.application.fixmedins_code,
        dr_code: &filing.application.dr_code,
        pharmacy: filing.filing.pharmacy.as_deref(),
        days_per_prescription: filing.application.days_per_prescription,
        plan_quantity: filing.application.plan_quantity.as_ref(),
    }
}

#[derive(Serialize)]
struct PreCheckReply<'a> {
    rx_trace_code: &'a str,
    checked_on: NaiveDate,
    lines: Vec<CheckedLine<'a>>,
    pharmacy: Option<&'a str>,
}

#[derive(Serialize)]
struct CheckedLine<'a> {
    med_list_codg: &'a str,
    drug_name: &'a str,
    kind: LineKind,
}

/// `POST /api/prescriptions/pre-check` (the prescribing physician): every violation at once
/// (422 `PRESCRIPTION_REFUSED`), or a trace code to upload with. Reads: the region policy (one,
/// two with a pharmacy of another region), the catalogue (one, warm), person, institution and
/// physician, the named pharmacy, and three per separate-payment line; one write.
pub async fn pre_check(ctx: &Ctx) -> ApiResult<Reply> {
    let rx: Prescription = ctx.json()?;
    as_prescriber(ctx, &rx)?;
    let shape = shape_problems(&rx);
    if !shape.is_empty() {
        let violations = shape.into_iter().map(Violation::from).collect();
        return Err(ApiError::new(ErrorCode::InvalidBody, "the prescription is malformed; nothing was checked").with_violations(violations));
    }
    let today = ctx.today();
    let kv = ctx.read_ahead(pre_check_keys(ctx, &rx)).await?;
    let registry = Registry::new(kv);
    let person = registry.get::<Person>(&rx.psn_no).await?;
    let institution = registry.get::<Institution>(&rx.fixmedins_code).await?;
    let physician = registry.get::<Physician>(&rx.dr_code).await?;
    let admdvs = institution.as_ref().map_or_else(|| ctx.config.region_code.clone(), |i| i.entry.admdvs.clone());
    let policy = crate::policy::in_force(kv, &admdvs, today).await?;

    let in_force = CATALOGUE.in_force(kv, today).await?;
    let mut coverages = Vec::with_capacity(rx.lines.len());
    for line in &rx.lines {
        coverages.push(match &in_force {
            Some(in_force) => in_force.coverage(&admdvs, &line.med_list_codg)?,
            None => None,
        });
    }
    let mut filings = Vec::with_capacity(rx.lines.len());
    for (line, coverage) in rx.lines.iter().zip(&coverages) {
        let separate = coverage.as_ref().is_some_and(|c| c.lists.separate_payment);
        filings.push(if separate { current_filing(kv, &rx.psn_no, &line.med_list_codg).await? } else { None });
    }
    let lines: Vec<LineFacts<'_>> = coverages
        .iter()
        .zip(&filings)
        .map(|(coverage, filing)| LineFacts {
            cover: coverage.as_ref().map(|c| DrugCover {
                payable: c.payable(),
                separate_payment: c.lists.separate_payment,
                dual_channel: c.lists.dual_channel,
                restriction: match (c.structured_restriction, c.restriction()) {
                    (Some(structured), _) => Restriction::Structured(structured),
                    (None, Some(text)) if !text.trim().is_empty() => Restriction::Text,
                    _ => Restriction::None,
                },
            }),
            filing: filing.as_ref().map(|f| filing_facts(f, today)),
        })
        .collect();
    let pharmacy_code = bound_pharmacy(&rx, &lines);
    let pharmacy = match &pharmacy_code {
        Some(code) => registry.get::<Pharmacy>(code).await?,
        None => None,
    };
    let pharmacy_policy = match &pharmacy {
        Some(p) if p.entry.admdvs != admdvs => crate::policy::in_force(kv, &p.entry.admdvs, today).await?,
        _ => policy.clone(),
    };
    let facts = PrecheckFacts {
        date: today,
        person: person.as_ref().map(|r| &r.entry),
        institution: institution.as_ref().map(|r| &r.entry),
        physician: physician.as_ref().map(|r| &r.entry),
        policy: &policy,
        pharmacy: pharmacy_code.as_ref().map(|_| (pharmacy.as_ref().map(|r| &r.entry), &pharmacy_policy)),
        lines,
    };
    let mut problems = precheck_problems(&rx, &facts);
    // rule S1 across units (issue 14 item 3): a line its standard cannot be compared with would
    // be refused at settlement; the prescriber states its pack_size now
    for (n, (line, coverage)) in rx.lines.iter().zip(&coverages).enumerate() {
        let standard_unit = coverage.as_ref().filter(|c| c.payable()).and_then(|c| c.standard_unit(&line.drug_spec));
        if let Some(reason) = rules::settlement::unit_mismatch(&line.med_list_codg, standard_unit, Some(&line.drug_dosunt), line.pack_size) {
            problems.push(rules::registry::FieldProblem { field: format!("/lines/{n}/pack_size"), rule: Some("S1"), reason });
        }
    }
    // rule M3: a prescriber outside the patient's fixed physicians is the agency's to look at
    let on_prescriber = problems.iter().any(|p| p.rule == Some("P4") && p.field == "/dr_code");
    crate::watch::prescriber_refused(ctx, kv, &rx, &admdvs, on_prescriber).await?;
    if !problems.is_empty() {
        let violations: Vec<Violation> = problems.into_iter().map(Violation::from).collect();
        let detail = format!("{} problem(s); nothing was stored", violations.len());
        return Err(ApiError::new(ErrorCode::PrescriptionRefused, detail).with_violations(violations));
    }
    let kinds: Vec<LineKind> = line_kinds(&facts).into_iter().flatten().collect();
    let drug_names: Vec<String> = coverages.iter().flatten().map(|c| c.name().to_string()).collect();
    let canonical = serde_json::to_string(&rx).unwrap_or_default();
    let prechecked = PreChecked { rx_trace_code: rx_trace_code(&canonical, today), checked_on: today, prescription: rx, admdvs, kinds, drug_names, pharmacy: pharmacy_code };
    Prescriptions::new(kv).save_prechecked(&prechecked).await?;
    let lines = prechecked
        .prescription
        .lines
        .iter()
        .zip(&prechecked.kinds)
        .zip(&prechecked.drug_names)
        .map(|((line, kind), name)| CheckedLine { med_list_codg: &line.med_list_codg, drug_name: name, kind: *kind })
        .collect();
    Ok(Reply::ok(&PreCheckReply { rx_trace_code: &prechecked.rx_trace_code, checked_on: today, lines, pharmacy: prechecked.pharmacy.as_deref() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    rx_trace_code: String,
}

/// `POST /api/prescriptions` (the prescribing physician) with the pre-check's trace code:
/// stores the prescription as valid (status 1) and gives its `hi_rxno`. Uploading the same
/// prescription again answers 200 with what is stored; another prescription under the same
/// institution number is 409 `RX_NUMBER_REUSED`. A pre-check from an earlier day is 409
/// `PRECHECK_EXPIRED`.
pub async fn upload(ctx: &Ctx) -> ApiResult<Reply> {
    let body: Upload = ctx.json()?;
    let kv = ctx.kv().await?;
    let store = Prescriptions::new(kv);
    let prechecked = if rules::role::is_code(&body.rx_trace_code) { store.prechecked(&body.rx_trace_code).await? } else { None };
    let Some(prechecked) = prechecked.filter(|p| as_prescriber(ctx, &p.prescription).is_ok()) else {
        return Err(ApiError::not_found("pre-checked prescription"));
    };
    let now = rules::time::business_time(ctx.now);
    let id = hi_rxno(&prechecked.prescription.fixmedins_code, &prechecked.prescription.hosp_rxno);
    // a retry whose answer was lost is answered even after midnight; what was seen otherwise
    // is what the first version is claimed against
    let (first, stored) = store.versions(&id).newest::<RxVersion>().await?;
    if let Some(stored) = stored {
        return already_uploaded(ctx, kv, &prechecked, stored).await;
    }
    if prechecked.checked_on != now.date() {
        return Err(ApiError::new(ErrorCode::PrecheckExpired, format!("the pre-check was on {}; pre-check the prescription again", prechecked.checked_on)));
    }
    let Ok(claim) = store.claim(&id, first, ctx.now.timestamp()).await? else {
        // a racing upload of the same number: answer from what it stores
        return match api::wait::for_result(|| store.latest(&id)).await? {
            Some(stored) => already_uploaded(ctx, kv, &prechecked, stored.record).await,
            None => Err(concurrent("the prescription number is being uploaded at the same time")),
        };
    };
    let record = RxVersion {
        hi_rxno: id.clone(),
        rx_trace_code: prechecked.rx_trace_code,
        vali_end_time: validity_end(now, prechecked.prescription.vali_days),
        prescription: prechecked.prescription,
        admdvs: prechecked.admdvs,
        kinds: prechecked.kinds,
        drug_names: prechecked.drug_names,
        pharmacy: prechecked.pharmacy,
        uploaded_at: now,
        stage: Stage::Uploaded,
        review: None,
        dispensing: None,
        trace: TraceEntry { step: "upload".into(), by: ctx.principal.audit_name(), at: ctx.timestamp(), detail: None },
    };
    store.write(claim, &record).await?;
    // the lists come after the prescription, so a crash leaves it missing from a list (put
    // back by the upload's retry), never a list naming a prescription that does not exist
    list_everywhere(kv, &record).await?;
    Ok(Reply::created(&RxView::new(&record, now)))
}

/// The lists an uploaded prescription belongs in.
fn indexes(record: &RxVersion) -> Vec<RxIndex<'_>> {
    let rx = &record.prescription;
    let mut indexes = vec![RxIndex::Person(&rx.psn_no), RxIndex::Institution(&rx.fixmedins_code), RxIndex::Physician(&rx.dr_code)];
    indexes.extend(record.pharmacy.as_deref().map(RxIndex::Pharmacy));
    indexes
}

async fn list_everywhere<K: KeyValue>(kv: &K, record: &RxVersion) -> ApiResult<()> {
    Ok(Prescriptions::new(kv).ensure_listed(&indexes(record), &record.hi_rxno).await?)
}

/// An upload of a number already stored: the same prescription again is a retry (completed,
/// then answered with what is stored); another one is refused.
async fn already_uploaded<K: KeyValue>(ctx: &Ctx, kv: &K, prechecked: &PreChecked, stored: RxVersion) -> ApiResult<Reply> {
    if stored.prescription != prechecked.prescription {
        return Err(ApiError::new(
            ErrorCode::RxNumberReused,
            format!("prescription number {} of this institution is already uploaded as {} with other content", stored.prescription.hosp_rxno, stored.hi_rxno),
        ));
    }
    list_everywhere(kv, &stored).await?;
    Ok(Reply::ok(&RxView::new(&stored, rules::time::business_time(ctx.now))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Revoke {
    reason: String,
}

/// `POST /api/prescriptions/{hi_rxno}/revoke` (the prescribing physician), with a reason; only
/// before dispensing (409 `RX_STATE_CONFLICT` after).
pub async fn revoke(ctx: &Ctx) -> ApiResult<Reply> {
    let body: Revoke = ctx.json()?;
    let kv = ctx.kv().await?;
    let latest = visible(ctx, kv).await?;
    let record = latest.record;
    if as_prescriber(ctx, &record.prescription).is_err() {
        return Err(ApiError::new(ErrorCode::RoleForbidden, "only the prescribing physician revokes a prescription"));
    }
    let now = rules::time::business_time(ctx.now);
    let stage = record.stage.take(&Step::Revoke { reason: body.reason }, record.vali_end_time, now).map_err(refusal)?;
    let store = Prescriptions::new(kv);
    let claim = store.claim(&record.hi_rxno, latest.seen, ctx.now.timestamp()).await?.map_err(|_| concurrent("the prescription changed at the same time"))?;
    let reason = match &stage {
        Stage::Revoked { reason } => Some(reason.clone()),
        _ => None,
    };
    let next = RxVersion { stage, trace: TraceEntry { step: "revoke".into(), by: ctx.principal.audit_name(), at: ctx.timestamp(), detail: reason }, ..record };
    store.write(claim, &next).await?;
    Ok(Reply::ok(&RxView::new(&next, now)))
}
