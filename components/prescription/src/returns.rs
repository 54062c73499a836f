//! Returns (退药, issue 16): packs handed back to the pharmacy that dispensed them. A return is
//! recorded on the prescription (its next version, with the return's lines), then each pack's
//! owner is marked as handed back (the pack may be dispensed again, and its slot keeps where it
//! went), then the medication record gets an entry per line with the quantity taken back (E6).
//! A prescription whose settlement stands is refused: the pharmacy reverses the settlement,
//! records the return, and settles again what was kept (S8), so the year's totals and the
//! reports follow exactly. A retry with the same `return_no` completes an interrupted return.

use crate::dispense::{advance, pharmacist, raced, trace};
use crate::reads::{RxView, visible};
use api::{ApiError, ApiResult, Ctx, ErrorCode, Reply, Violation};
use rules::prescription::Stage;
use rules::prescription::returns::{Return, returned_lines};
use store::KeyValue;
use store::prescription::{MedicationEntry, Prescriptions, ReturnRecord, RxVersion};
use store::settlement::Settlements;

/// `POST /api/prescriptions/{hi_rxno}/returns` (a pharmacist of the pharmacy that dispensed
/// it): records the packs handed back.
pub async fn return_packs(ctx: &Ctx) -> ApiResult<Reply> {
    let body: Return = ctx.json()?;
    let (phar_code, pharmacy_code) = pharmacist(ctx)?;
    let kv = ctx.kv().await?;
    let latest = visible(ctx, kv).await?;
    let now = rules::time::business_time(ctx.now);
    let record = latest.record;
    let dispensed_here = matches!(record.stage, Stage::Dispensed { .. }) && record.dispensing.as_ref().is_some_and(|d| d.fixmedins_code == pharmacy_code);
    let Some(dispensing) = record.dispensing.clone().filter(|_| dispensed_here) else {
        return Err(ApiError::new(ErrorCode::RxStateConflict, "only the pharmacy that dispensed the prescription takes packs back").with_rule("P7"));
    };
    if let Some(done) = dispensing.returns.iter().find(|r| r.return_no == body.return_no) {
        let mut same = done.lines.iter().flat_map(|l| l.drug_trac_codg.iter()).collect::<Vec<_>>();
        let mut asked = body.drug_trac_codg.iter().collect::<Vec<_>>();
        same.sort();
        asked.sort();
        if same != asked {
            return Err(ApiError::new(ErrorCode::RxStateConflict, format!("return number {} was used for other packs", body.return_no)));
        }
        // the same return again: complete what an interruption left, answer it
        finish(kv, &record, done).await?;
        return Ok(Reply::ok(&RxView::new(&record, now)));
    }
    if let Some(holder) = Settlements::new(kv).live_holder(store::settlement::Held::Prescription(&record.hi_rxno)).await? {
        let detail = format!("the prescription is settled by settlement {holder}: reverse it first, then settle what is kept");
        return Err(ApiError::new(ErrorCode::AlreadySettled, detail).with_rule("S8"));
    }
    let lines = returned_lines(&dispensing.dispensing, &dispensing.returned(), &body).map_err(|problems| {
        let violations = problems.into_iter().map(Violation::from).collect();
        ApiError::new(ErrorCode::InvalidBody, "the return does not match what was dispensed").with_violations(violations)
    })?;
    let done = ReturnRecord { return_no: body.return_no.clone(), phar_code: phar_code.to_string(), reason: body.reason.trim().to_string(), at: ctx.timestamp(), lines };
    let mut after = dispensing;
    after.returns.push(done.clone());
    let detail = format!("return {}: {} pack(s)", done.return_no, body.drug_trac_codg.len());
    let next = RxVersion { dispensing: Some(after), trace: trace(ctx, "return", Some(detail)), ..record };
    advance(ctx, kv, latest.seen, &next).await?.ok_or_else(raced)?;
    finish(kv, &next, &done).await?;
    Ok(Reply::ok(&RxView::new(&next, now)))
}

/// After the return is recorded: each pack handed back, each line's entry in the medication
/// record; each at most once, so a retry completes them.
async fn finish<K: KeyValue>(kv: &K, record: &RxVersion, done: &ReturnRecord) -> ApiResult<()> {
    let Some(dispensing) = &record.dispensing else { return Ok(()) };
    let store = Prescriptions::new(kv);
    for line in &done.lines {
        for code in &line.drug_trac_codg {
            store.mark_returned(code, &record.hi_rxno, &done.return_no).await?;
        }
        let position = record.prescription.lines.iter().position(|l| l.med_list_codg == line.med_list_codg);
        let entry = MedicationEntry {
            med_list_codg: line.med_list_codg.clone(),
            drug_name: position.and_then(|i| record.drug_names.get(i)).cloned().unwrap_or_default(),
            hi_rxno: record.hi_rxno.clone(),
            dispensing_no: done.return_no.clone(),
            drug_cnt: -line.drug_cnt,
            // the return's day (a retry may come later)
            dispensed_on: chrono::DateTime::parse_from_rfc3339(&done.at).map_or(record.uploaded_at.date(), |at| rules::time::business_date(at.to_utc())),
        };
        store.record_return(&dispensing.fixmedins_code, &record.prescription.psn_no, &done.return_no, &entry).await?;
    }
    Ok(())
}
