//! Landing (落地) of negotiated drugs (rules M1, M4): the stocking declarations of institutions
//! and pharmacies, the landing figures an agency reads per drug, the patient's "where can I get
//! this drug", and each institution's formulary adjustment after a new edition.

use api::query::Query;
use api::{ApiError, ApiResult, Ctx, ErrorCode, Principal, Reply, Violation};
use catalogue_view::CatalogueCache;
use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use store::alerts::{ThresholdsVersion, thresholds_in_force};
use store::ledger::{Dimension, Figures, add_figures, month_totals};
use store::registry::{CityCache, CityInstitutions, CityPharmacies};
use store::stocking::{Declaration, DrugStocking, FormularyAdjustment, PartyKind, Stocking};
use store::{KeyValue, LogCache, Registry};

static CATALOGUE: CatalogueCache = CatalogueCache::new();
static PHARMACIES: CityCache<CityPharmacies> = CityCache::new();
static INSTITUTIONS: CityCache<CityInstitutions> = CityCache::new();
static THRESHOLDS: LogCache<ThresholdsVersion> = LogCache::new();

/// Declarations of one drug and city racing each other: each lost round means another was
/// written, so a declaration waits at most for as many as race it (a city's parties declaring
/// a drug in the same instant: a few, rarely more than this).
const ATTEMPTS: usize = 16;


/// Whether the caller speaks for party `code` of region `admdvs`: its own pharmacist or
/// insurance office, an agency of the region, an admin.
fn speaks_for(principal: &Principal, code: &str, admdvs: &str) -> bool {
    match principal {
        Principal::Pharmacist { fixmedins_code, .. } | Principal::HospitalOffice { fixmedins_code } => fixmedins_code == code,
        other => rules::registry::may_administer(other, admdvs),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declare {
    stocked: bool,
    /// From when (default today).
    #[serde(default)]
    on: Option<NaiveDate>,
}

#[derive(Serialize)]
struct PartyDrug<'a> {
    fixmedins_code: &'a str,
    med_list_codg: &'a str,
    kind: PartyKind,
    stocked_today: bool,
    declarations: &'a [Declaration],
}

/// `PUT /api/monitoring/stocking/{fixmedins_code}/{med_list_codg}` (the party's pharmacist or
/// insurance office, an agency of its region, an admin), `{"stocked": true|false, "on": date}`:
/// declares that the institution or pharmacy stocks the negotiated drug from that day, or no
/// longer (M1, M4); a declaration for the same day again corrects it.
pub async fn declare(ctx: &Ctx) -> ApiResult<Reply> {
    let code = ctx.param("fixmedins_code")?;
    let drug = ctx.param("med_list_codg")?;
    let body: Declare = ctx.json()?;
    let kv = ctx.kv().await?;
    let not_found = || ApiError::not_found("institution or pharmacy");
    if !rules::role::is_code(code) || !rules::role::is_code(drug) {
        return Err(not_found());
    }
    let (kind, region) = Registry::new(kv).party(code).await?.map(|p| (p.kind, p.admdvs)).ok_or_else(not_found)?;
    if !speaks_for(&ctx.principal, code, &region) {
        return Err(not_found());
    }
    // one record per city and drug: a district's parties declare into their city's (issue 14)
    let city = rules::registry::city_of(&region);
    let today = ctx.today();
    let on = body.on.unwrap_or(today);
    let mut violations = Vec::new();
    if on > today {
        violations.push(Violation { rule: Some("M1"), field: "/on".into(), reason: "a declaration says what is, not what will be: today or earlier".into() });
    }
    let in_catalogue = match CATALOGUE.in_force(kv, today).await? {
        Some(in_force) => in_force.find(drug)?.is_some(),
        None => false,
    };
    if !in_catalogue {
        violations.push(Violation { rule: Some("C1"), field: "/med_list_codg".into(), reason: format!("{drug} is not in the catalogue in force on {today}") });
    }
    if !violations.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidBody, "the declaration cannot be recorded").with_violations(violations));
    }
    let declaration = Declaration { on, stocked: body.stocked, declared_by: ctx.principal.audit_name(), declared_at: ctx.timestamp() };
    let store = Stocking::new(kv);
    for _ in 0..ATTEMPTS {
        let (seen, current) = store.current(&city, drug).await?;
        let next = current.declared(code, kind, declaration.clone());
        if store.advance(&city, drug, seen, &next, ctx.now.timestamp()).await?.is_ok() {
            let stock = &next.parties[code];
            return Ok(Reply::ok(&PartyDrug { fixmedins_code: code, med_list_codg: drug, kind, stocked_today: stock.stocked_on(today), declarations: &stock.declarations }));
        }
        // another party's declaration took the version: wait for it to be written, then add to it
        api::wait::for_result(|| store.moved_past(&city, drug, seen)).await?;
    }
    Err(ApiError::new(ErrorCode::ConcurrentUpdate, "the drug's stocking changed at the same time; send the declaration again"))
}

#[derive(Serialize)]
struct Stockist<'a> {
    fixmedins_code: &'a str,
    name: &'a str,
    address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
    since: Option<NaiveDate>,
}

#[derive(Serialize)]
struct WhereToGet<'a> {
    admdvs: &'a str,
    med_list_codg: &'a str,
    date: NaiveDate,
    pharmacies: Vec<Stockist<'a>>,
}

/// `GET /api/monitoring/where?admdvs=…&med_list_codg=…` (public, for the mini-program): the
/// city's dual-channel pharmacies that stock the drug today, with their addresses. No personal
/// data. Reads: the drug's stocking (two) and the city's pharmacy list (one, warm).
pub async fn where_to_get(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let admdvs = query.region()?;
    let drug = query.text("med_list_codg").filter(|c| rules::role::is_code(c)).ok_or_else(|| api::query::invalid("med_list_codg", "required: the drug's code"))?;
    let kv = ctx.kv().await?;
    let today = ctx.today();
    let (_, stocking) = Stocking::new(kv).current(&rules::registry::city_of(admdvs), drug).await?;
    let city: Arc<CityPharmacies> = PHARMACIES.city(kv, admdvs).await?;
    let pharmacies = city
        .pharmacies()
        .filter(|p| p.dual_channel && rules::registry::is_within(&p.admdvs, admdvs))
        .filter_map(|p| {
            let stock = stocking.parties.get(&p.fixmedins_code).filter(|s| s.kind == PartyKind::Pharmacy && s.stocked_on(today))?;
            Some(Stockist { fixmedins_code: &p.fixmedins_code, name: &p.name, address: &p.address, phone: p.phone.as_deref(), since: stock.first_stocked() })
        })
        .collect();
    Ok(Reply::ok(&WhereToGet { admdvs, med_list_codg: drug, date: today, pharmacies }))
}

/// The landing rate in percent, 2 places: stocking institutions of the eligible ones.
fn rate(stocking: usize, eligible: usize) -> Decimal {
    if eligible == 0 {
        return Decimal::new(0, 2);
    }
    let mut percent = (Decimal::from(stocking * 100) / Decimal::from(eligible)).round_dp(2);
    percent.rescale(2);
    percent
}

#[derive(Serialize)]
struct MonthPoint {
    /// `YYYY-MM`: as of its last day (today for the current month).
    month: String,
    institutions_stocking: usize,
    pharmacies_stocking: usize,
    landing_rate: Decimal,
}

#[derive(Serialize)]
struct Flags {
    /// No dual-channel pharmacy of the region stocks it (M1: unsupplied).
    unsupplied: bool,
    /// Not settled in the region for `unused_months` months (M1: long unused).
    unused: bool,
    unused_months: u32,
}

#[derive(Serialize)]
struct Landing<'a> {
    admdvs: &'a str,
    med_list_codg: &'a str,
    drug_name: String,
    date: NaiveDate,
    /// Designated institutions of the region (the landing rate's base).
    institutions_eligible: usize,
    institutions_stocking: Vec<String>,
    pharmacies_stocking: Vec<String>,
    landing_rate: Decimal,
    /// The date's month, from the region's ledgers: who settled it and what was paid.
    month: String,
    institutions_prescribing: Vec<String>,
    parties_settling: Vec<String>,
    lines: i64,
    /// Persons who had it settled in the month.
    patients: i64,
    qty: Decimal,
    medfee: Decimal,
    hifp_pay: Decimal,
    trend: Vec<MonthPoint>,
    flags: Flags,
}

/// `YYYYMM` of a date.
fn month_key(date: NaiveDate) -> String {
    format!("{:04}{:02}", date.year(), date.month())
}

/// The drug's totals by row in a month of the region's ledgers.
async fn month_rows<K: KeyValue>(kv: &K, admdvs: &str, date: NaiveDate, drug: &str) -> ApiResult<store::ledger::Rows> {
    Ok(month_totals(kv, admdvs, &month_key(date), Dimension::Drug, drug).await?)
}

/// `GET /api/monitoring/landing?admdvs=…&med_list_codg=…[&date=…]` (an agency for a region it
/// administers, an admin): the drug's landing in the region as of the date (today by default):
/// institutions and pharmacies stocking it, the landing rate (stocking institutions of the
/// region's designated institutions) and its trend over the last 6 months, who prescribed and
/// settled it in the date's month and what was paid, and the M1 flags (unsupplied; unused for
/// the region's `unused_months`). Reads: the stocking (2), the city's institutions (1, warm),
/// and 8 per month of ledgers read (the date's month and, for the flag, the months before it).
pub async fn landing(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let admdvs = query.administered_region(&ctx.principal)?;
    let drug = query.text("med_list_codg").filter(|c| rules::role::is_code(c)).ok_or_else(|| api::query::invalid("med_list_codg", "required: the drug's code"))?;
    let date = query.date("date")?.unwrap_or_else(|| ctx.today());
    let kv = ctx.kv().await?;
    let (_, stocking): (_, DrugStocking) = Stocking::new(kv).current(&rules::registry::city_of(admdvs), drug).await?;
    let eligible = INSTITUTIONS.city(kv, admdvs).await?.institutions().count();
    let institutions_stocking: Vec<String> = stocking.stocking_on(PartyKind::Institution, date).map(String::from).collect();
    let pharmacies_stocking: Vec<String> = stocking.stocking_on(PartyKind::Pharmacy, date).map(String::from).collect();
    let trend = (0..6u32)
        .rev()
        .filter_map(|back| {
            let first = NaiveDate::from_ymd_opt(date.year(), date.month(), 1)?.checked_sub_months(Months::new(back))?;
            let end = first.checked_add_months(Months::new(1))?.pred_opt()?.min(date);
            let institutions = stocking.stocking_on(PartyKind::Institution, end).count();
            let pharmacies = stocking.stocking_on(PartyKind::Pharmacy, end).count();
            Some(MonthPoint { month: first.format("%Y-%m").to_string(), institutions_stocking: institutions, pharmacies_stocking: pharmacies, landing_rate: rate(institutions, eligible) })
        })
        .collect();
    let rows = month_rows(kv, admdvs, date, drug).await?;
    let (mut total, mut institutions_prescribing, mut parties_settling) = (Figures::new(), Vec::new(), Vec::new());
    for (row, figures) in &rows {
        if figures.values().all(|v| v.is_zero()) {
            continue;
        }
        match store::ledger::prescriber(row) {
            Some(institution) => institutions_prescribing.push(institution.to_string()),
            None => {
                parties_settling.push(row.clone());
                add_figures(&mut total, figures);
            }
        }
    }
    let field = |name: &str| total.get(name).copied().unwrap_or_default();
    let thresholds = thresholds_in_force(&THRESHOLDS, kv, admdvs, date).await?;
    let mut used = !field("lines").is_zero();
    let mut back = 1;
    while !used && back < thresholds.unused_months {
        let Some(earlier) = date.checked_sub_months(Months::new(back)) else { break };
        used = month_rows(kv, admdvs, earlier, drug).await?.iter().any(|(row, f)| store::ledger::prescriber(row).is_none() && f.get("lines").is_some_and(|l| !l.is_zero()));
        back += 1;
    }
    let drug_name = match CATALOGUE.in_force(kv, date).await? {
        Some(in_force) => in_force.coverage(admdvs, drug)?.map(|c| c.name().to_string()).unwrap_or_default(),
        None => String::new(),
    };
    let landing = Landing {
        admdvs,
        med_list_codg: drug,
        drug_name,
        date,
        institutions_eligible: eligible,
        landing_rate: rate(institutions_stocking.len(), eligible),
        flags: Flags { unsupplied: pharmacies_stocking.is_empty(), unused: !used, unused_months: thresholds.unused_months },
        institutions_stocking,
        pharmacies_stocking,
        month: date.format("%Y-%m").to_string(),
        institutions_prescribing,
        parties_settling,
        lines: rust_decimal::prelude::ToPrimitive::to_i64(&field("lines")).unwrap_or_default(),
        patients: rust_decimal::prelude::ToPrimitive::to_i64(&field("patients")).unwrap_or_default(),
        qty: field("qty"),
        medfee: field("medfee"),
        hifp_pay: field("hifp_pay"),
        trend,
    };
    Ok(Reply::ok(&landing))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Adjusted {
    edition_effective_from: NaiveDate,
    adjusted_on: NaiveDate,
    #[serde(default)]
    note: Option<String>,
}

/// M4: an institution's pharmacy committee adjusts its formulary within 2 months of a new
/// edition's start.
fn deadline(edition_effective_from: NaiveDate) -> NaiveDate {
    edition_effective_from.checked_add_months(Months::new(2)).unwrap_or(NaiveDate::MAX)
}

/// `PUT /api/monitoring/formulary/{fixmedins_code}` (the institution's insurance office, an
/// agency of its region, an admin), `{"edition_effective_from", "adjusted_on", "note"}`: records
/// the day its pharmacy committee adjusted the formulary for the edition (M4).
pub async fn record_formulary(ctx: &Ctx) -> ApiResult<Reply> {
    let code = ctx.param("fixmedins_code")?;
    let body: Adjusted = ctx.json()?;
    let kv = ctx.kv().await?;
    let not_found = || ApiError::not_found("institution");
    if !rules::role::is_code(code) {
        return Err(not_found());
    }
    let Some((PartyKind::Institution, city)) = Registry::new(kv).party(code).await?.map(|p| (p.kind, p.admdvs)) else { return Err(not_found()) };
    if !speaks_for(&ctx.principal, code, &city) {
        return Err(not_found());
    }
    let mut violations = Vec::new();
    let editions = CATALOGUE.snapshot(kv).await?;
    if !editions.state.editions.all().iter().any(|e| e.effective_from == body.edition_effective_from) {
        violations.push(Violation { rule: Some("M4"), field: "/edition_effective_from".into(), reason: "no catalogue edition takes effect on this day".into() });
    }
    if body.adjusted_on > ctx.today() || body.adjusted_on < body.edition_effective_from - chrono::Days::new(366) {
        violations.push(Violation { rule: Some("M4"), field: "/adjusted_on".into(), reason: "a day in the year before the edition, up to today".into() });
    }
    if body.note.as_deref().is_some_and(|n| n.chars().count() > 1000) {
        violations.push(Violation { rule: None, field: "/note".into(), reason: "at most 1000 characters".into() });
    }
    if !violations.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidBody, "the adjustment cannot be recorded").with_violations(violations));
    }
    let adjustment = FormularyAdjustment { edition_effective_from: body.edition_effective_from, adjusted_on: body.adjusted_on, note: body.note, recorded_by: ctx.principal.audit_name(), recorded_at: ctx.timestamp() };
    Stocking::new(kv).record_formulary(code, &adjustment).await?;
    Ok(Reply::ok(&adjustment))
}

/// Where an institution stands with an edition's formulary adjustment (M4).
#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Standing {
    /// Adjusted within the 2 months.
    OnTime,
    /// Adjusted after them.
    Late,
    /// Not adjusted, the 2 months not over.
    Pending,
    /// Not adjusted, the 2 months over.
    Overdue,
}

#[derive(Serialize)]
struct InstitutionStanding {
    fixmedins_code: String,
    standing: Standing,
    #[serde(skip_serializing_if = "Option::is_none")]
    adjusted_on: Option<NaiveDate>,
}

#[derive(Serialize)]
struct FormularyReport<'a> {
    admdvs: &'a str,
    edition_effective_from: NaiveDate,
    deadline: NaiveDate,
    institutions: Vec<InstitutionStanding>,
}

/// `GET /api/monitoring/formulary?admdvs=…&edition=YYYY-MM-DD` (an agency for a region it
/// administers, an admin): each designated institution of the region and where it stands with
/// the edition's formulary adjustment: on time, late, pending or overdue (M4). Reads: the
/// city's institutions (one, warm), then one per institution.
pub async fn formulary(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let admdvs = query.administered_region(&ctx.principal)?;
    let edition = query.date("edition")?.ok_or_else(|| api::query::invalid("edition", "required: the day the edition takes effect"))?;
    let kv = ctx.kv().await?;
    let due = deadline(edition);
    let today = ctx.today();
    let store = Stocking::new(kv);
    let mut institutions = Vec::new();
    for code in INSTITUTIONS.city(kv, admdvs).await?.institutions() {
        let adjusted_on = store.formulary(code, edition).await?.map(|a| a.adjusted_on);
        let standing = match adjusted_on {
            Some(on) if on <= due => Standing::OnTime,
            Some(_) => Standing::Late,
            None if today <= due => Standing::Pending,
            None => Standing::Overdue,
        };
        institutions.push(InstitutionStanding { fixmedins_code: code.to_string(), standing, adjusted_on });
    }
    Ok(Reply::ok(&FormularyReport { admdvs, edition_effective_from: edition, deadline: due, institutions }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_landing_rate_is_a_percentage_with_two_places() {
        assert_eq!(rate(1, 3), Decimal::new(3333, 2));
        assert_eq!(rate(0, 0), Decimal::ZERO);
        assert_eq!(rate(2, 2), Decimal::from(100));
    }

    #[test]
    fn the_formulary_deadline_is_two_months_after_the_edition() {
        assert_eq!(deadline(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()), NaiveDate::from_ymd_opt(2025, 3, 1).unwrap());
    }
}
