//! Smart monitoring of dispensing (rule M3): as a dispensing completes, whether the person is
//! hopping between pharmacies for the drug and whether it comes long after the prescription;
//! when a traceability code is met again, the pack reused; when a pre-check is refused for its
//! prescriber (P4), the attempt; when a dispensing is refused for exceeding its filing's plan,
//! that (M3, `plan.rs`). Each finding is raised once as an
//! alert for the agency of the prescription's region (`store::alerts`); none refuses anything
//! (P7 refuses a used code on its own).

use api::{ApiResult, Ctx};
use chrono::NaiveDate;
use rules::monitoring;
use store::KeyValue;
use store::LogCache;
use store::alerts::{Alerts, RecordRef, ThresholdsVersion, thresholds_in_force};
use store::prescription::{PackOwner, RxVersion};

/// The regions' thresholds this instance has read, validated per request by one read each.
static THRESHOLDS: LogCache<ThresholdsVersion> = LogCache::new();

/// Who raises what this component finds.
const CHECKER: &str = "check:prescription";

/// The day a dispensing began (its record's instant), else `today`.
fn dispensed_on(at: &str, today: NaiveDate) -> NaiveDate {
    chrono::DateTime::parse_from_rfc3339(at).map_or(today, |t| t.date_naive())
}

/// After a dispensing completed (and again on each retry of it, which raises nothing twice):
/// notes where the person had each drug (`store::alerts::PersonPharmacies`), then checks
/// pharmacy hopping over the window and the delay since the prescription was issued. Per line:
/// two reads, and three writes for a new note; one read (warm) for the thresholds.
pub async fn after_dispensing<K: KeyValue>(ctx: &Ctx, kv: &K, record: &RxVersion) -> ApiResult<()> {
    let Some(dispensing) = &record.dispensing else { return Ok(()) };
    let today = ctx.today();
    let day = dispensed_on(&dispensing.at, today);
    let thresholds = thresholds_in_force(&THRESHOLDS, kv, &record.admdvs, today).await?;
    let alerts = Alerts::new(kv);
    let psn_no = &record.prescription.psn_no;
    for line in &dispensing.dispensing.lines {
        let code = &line.med_list_codg;
        let pharmacies = alerts.note_person_dispensing(psn_no, code, &dispensing.fixmedins_code, day, &record.hi_rxno, ctx.now.timestamp()).await?;
        if let Some(finding) = monitoring::pharmacy_hopping(&thresholds, psn_no, code, &pharmacies.dispensings(), day) {
            let window_start = day - chrono::Days::new(u64::from(thresholds.hopping_window_days));
            let mut records = vec![RecordRef::new("person", psn_no)];
            records.extend(pharmacies.last.values().filter(|(seen, _)| *seen >= window_start).map(|(_, hi_rxno)| RecordRef::new("prescription", hi_rxno)));
            alerts.raise(&record.admdvs, &finding, records, CHECKER, &ctx.timestamp(), ctx.now.timestamp()).await?;
        }
    }
    if let Some(finding) = monitoring::late_dispensing(&thresholds, &record.hi_rxno, record.uploaded_at.date(), day) {
        let records = vec![RecordRef::new("prescription", &record.hi_rxno), RecordRef::new("pharmacy", &dispensing.fixmedins_code)];
        alerts.raise(&record.admdvs, &finding, records, CHECKER, &ctx.timestamp(), ctx.now.timestamp()).await?;
    }
    Ok(())
}

/// A pre-check refused because of who prescribes (P4 at `/dr_code`): the attempt is raised
/// for the agency of the institution's region.
pub async fn prescriber_refused<K: KeyValue>(ctx: &Ctx, kv: &K, rx: &rules::prescription::Prescription, admdvs: &str, refused_on_prescriber: bool) -> ApiResult<()> {
    let Some(finding) = monitoring::prescriber_not_fixed(refused_on_prescriber, &rx.psn_no, &rx.dr_code, &rx.fixmedins_code, ctx.today()) else { return Ok(()) };
    let records = vec![RecordRef::new("person", &rx.psn_no), RecordRef::new("physician", &rx.dr_code), RecordRef::new("institution", &rx.fixmedins_code)];
    Alerts::new(kv).raise(admdvs, &finding, records, CHECKER, &ctx.timestamp(), ctx.now.timestamp()).await?;
    Ok(())
}

/// A pack's traceability code met again by a dispensing of `record` at `pharmacy`: owned by
/// `first` (the dispensing is refused under P7), or handed back by a return and dispensed
/// again. A pack an agency released from an unfinished dispensing is not a reuse.
pub async fn pack_met_again<K: KeyValue>(ctx: &Ctx, kv: &K, record: &RxVersion, pharmacy: &str, code: &str, first: &PackOwner) -> ApiResult<()> {
    let returned = match first.returned.as_deref() {
        None => false,
        Some("released") => return Ok(()),
        Some(_) => true,
    };
    if first.hi_rxno == record.hi_rxno {
        return Ok(());
    }
    let finding = monitoring::pack_reused(code, &first.hi_rxno, &first.fixmedins_code, &record.hi_rxno, pharmacy, returned);
    let records = vec![RecordRef::new("pack", code), RecordRef::new("prescription", &first.hi_rxno), RecordRef::new("prescription", &record.hi_rxno), RecordRef::new("pharmacy", pharmacy)];
    Alerts::new(kv).raise(&record.admdvs, &finding, records, CHECKER, &ctx.timestamp(), ctx.now.timestamp()).await?;
    Ok(())
}

/// A dispensing refused for exceeding its filing's treatment plan (M3, E5): raised for the
/// agency of the prescription's region, once per prescription.
pub async fn quantity_beyond_plan<K: KeyValue>(ctx: &Ctx, kv: &K, record: &RxVersion, pharmacy: &str, line: &crate::plan::Beyond) -> ApiResult<()> {
    let finding = monitoring::quantity_beyond_plan(&line.filing_id, &record.hi_rxno, &record.prescription.psn_no, &line.med_list_codg, &line.violation.reason);
    let records = vec![
        RecordRef::new("person", &record.prescription.psn_no),
        RecordRef::new("filing", &line.filing_id),
        RecordRef::new("prescription", &record.hi_rxno),
        RecordRef::new("pharmacy", pharmacy),
    ];
    Alerts::new(kv).raise(&record.admdvs, &finding, records, CHECKER, &ctx.timestamp(), ctx.now.timestamp()).await?;
    Ok(())
}
