//! Settlement queries: a person's settlements, a pharmacy's settlements of a day with their
//! totals (reconciliation), and the settlements a party left unfinished. The region's month
//! reports are the `monitoring` component's.

use crate::settle::SettlementView;
use api::query::Query;
use api::{ApiError, ApiResult, Ctx, ErrorCode, Principal, Reply};
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use store::settlement::{SettlementRecord, SettlementStage, Settlements};
use store::{KeyValue, LogCache};

static INDEXES: LogCache<String> = LogCache::new();

/// `YYYYMM` of a day.
pub fn month(date: NaiveDate) -> String {
    format!("{:04}{:02}", date.year(), date.month())
}

/// The index code of a pharmacy's or institution's day.
pub fn party_day(fixmedins_code: &str, date: NaiveDate) -> String {
    format!("{fixmedins_code}:day:{}", date.format("%Y%m%d"))
}

/// The ids of an index, newest first, each once (a crash can leave a repeat).
async fn listed_ids<K: KeyValue>(kv: &K, kind: &str, code: &str) -> ApiResult<Vec<String>> {
    let reader = INDEXES.read(&Settlements::new(kv).index(kind, code)).await?;
    Ok(reader.newest_first_once(String::as_str).cloned().collect())
}

/// The latest version of each settlement of `ids`: two reads each.
async fn records<K: KeyValue>(kv: &K, ids: &[String]) -> ApiResult<Vec<SettlementRecord>> {
    let store = Settlements::new(kv);
    let mut records = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(latest) = store.latest(id).await? {
            records.push(latest.record);
        }
    }
    Ok(records)
}

#[derive(Serialize)]
struct Page<'a> {
    total: usize,
    page: usize,
    page_size: usize,
    items: Vec<SettlementView<'a>>,
}

/// `GET /api/settlements?page=…` — the patient's own; an agency's (its regions) or admin's for
/// `psn_no=…`. Newest first. Reads the index's version, then two per settlement on the page.
pub async fn of_person(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let paging = query.paging()?;
    let psn_no = match &ctx.principal {
        Principal::Patient { psn_no } => psn_no.as_str(),
        Principal::Agency { .. } | Principal::Admin { .. } => {
            query.text("psn_no").filter(|v| rules::role::is_code(v)).ok_or_else(|| api::query::invalid("psn_no", "required: a code"))?
        }
        _ => return Err(ApiError::new(ErrorCode::RoleForbidden, "a person's settlements are theirs and their agency's")),
    };
    let kv = ctx.kv().await?;
    let (total, page) = paging.apply(listed_ids(kv, "person", psn_no).await?.into_iter());
    let records = records(kv, &page).await?;
    // an agency sees only the settlements of its regions' insured
    let items = records
        .iter()
        .filter(|r| match &ctx.principal {
            Principal::Agency { admdvs } => rules::registry::administers(admdvs, &r.insured_admdvs),
            _ => true,
        })
        .map(SettlementView::new)
        .collect();
    Ok(Reply::ok(&Page { total, page: paging.page, page_size: paging.page_size, items }))
}

/// What a day's settled (not reversed) settlements add up to.
#[derive(Default, Serialize)]
struct DayTotals {
    settlements: usize,
    reversed: usize,
    medfee_sumamt: Decimal,
    fund_pay_sumamt: Decimal,
    hifp_pay: Decimal,
    hifmi_pay: Decimal,
    maf_pay: Decimal,
    acct_pay: Decimal,
    psn_cash_pay: Decimal,
}

#[derive(Serialize)]
struct Day<'a> {
    fixmedins_code: &'a str,
    date: NaiveDate,
    totals: DayTotals,
    items: Vec<SettlementView<'a>>,
}

/// `GET /api/settlements/day?date=…` (a pharmacist for their pharmacy, an insurance office for
/// their institution): the day's settlements (default today), newest first, with the totals of
/// those not reversed, for reconciliation with the agency.
pub async fn party_day_list(ctx: &Ctx) -> ApiResult<Reply> {
    let (Principal::Pharmacist { fixmedins_code, .. } | Principal::HospitalOffice { fixmedins_code }) = &ctx.principal else {
        return Err(ApiError::new(ErrorCode::RoleForbidden, "a party's settlements are its own"));
    };
    let date = Query::parse(ctx.query()).date("date")?.unwrap_or_else(|| ctx.today());
    // every settlement of the day, for its totals: a day's volume, not the store's
    let kv = ctx.kv().await?;
    let records = records(kv, &listed_ids(kv, "party", &party_day(fixmedins_code, date)).await?).await?;
    let mut totals = DayTotals::default();
    for record in &records {
        let b = &record.breakdown;
        match record.stage {
            SettlementStage::Settled { .. } => {
                totals.settlements += 1;
                totals.medfee_sumamt += b.medfee_sumamt;
                totals.fund_pay_sumamt += b.fund_pay_sumamt;
                totals.hifp_pay += b.hifp_pay;
                totals.hifmi_pay += b.hifmi_pay;
                totals.maf_pay += b.maf_pay;
                totals.acct_pay += b.acct_pay;
                totals.psn_cash_pay += b.psn_cash_pay;
            }
            SettlementStage::Reversed { .. } => totals.reversed += 1,
            SettlementStage::Settling { .. } | SettlementStage::Voided { .. } => {}
        }
    }
    Ok(Reply::ok(&Day { fixmedins_code, date, totals, items: records.iter().map(SettlementView::new).collect() }))
}

#[derive(Serialize)]
struct Unfinished<'a> {
    fixmedins_code: &'a str,
    date: NaiveDate,
    items: Vec<SettlementView<'a>>,
}

/// `GET /api/settlements/unfinished?fixmedins_code=…&date=…` (an agency of the party's region,
/// an admin): the settlements a pharmacy or institution began that day (default today) and
/// left `settling`: its system never sent them again. The agency asks the party to send each
/// again (it completes) or voids it (`POST …/{setl_id}/void`). Reads: the day's log, then two
/// per settlement begun.
pub async fn unfinished(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let fixmedins_code = query.text("fixmedins_code").filter(|c| rules::role::is_code(c)).ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "fixmedins_code: the pharmacy's or institution's code"))?;
    let date = query.date("date")?.unwrap_or_else(|| ctx.today());
    let kv = ctx.kv().await?;
    let region = store::Registry::new(kv).party(fixmedins_code).await?.map(|p| p.admdvs);
    if !region.is_some_and(|admdvs| rules::registry::may_administer(&ctx.principal, &admdvs)) {
        return Err(ApiError::not_found("pharmacy or institution of your region"));
    }
    let records = records(kv, &listed_ids(kv, "opened", &party_day(fixmedins_code, date)).await?).await?;
    let items = records.iter().filter(|r| matches!(r.stage, SettlementStage::Settling { .. })).map(SettlementView::new).collect();
    Ok(Reply::ok(&Unfinished { fixmedins_code, date, items }))
}
