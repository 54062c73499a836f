//! Each region's settlement policy (region data: deductibles, ratios and caps by scheme and
//! level, S2, S4, S7), versioned by effective date in a per-region log.

use api::query::Query;
use api::{ApiError, ApiResult, Ctx, ErrorCode, Reply, Violation};
use chrono::NaiveDate;
use rules::settlement::SettlementPolicy;
use serde::Serialize;
use store::dated::{Publication, in_force_for};
use store::settlement::{SettlementPolicyVersion, Settlements};
use store::{KeyValue, LogCache};

/// The policy logs this instance has read, validated per request by one read each.
static POLICIES: LogCache<SettlementPolicyVersion> = LogCache::new();

/// The policy of `admdvs` in force on `date`: its own, else its city's, else its province's,
/// with the level it came from. One read per level looked at when this instance's copies are
/// current.
pub async fn in_force<K: KeyValue>(kv: &K, admdvs: &str, date: NaiveDate) -> ApiResult<Option<(String, SettlementPolicyVersion)>> {
    let settlements = Settlements::new(kv);
    Ok(in_force_for(&POLICIES, admdvs, date, |level| settlements.region_policy(level)).await?)
}

#[derive(Serialize)]
struct PolicyView<'a> {
    admdvs: &'a str,
    /// The level that published it: the region's own, its city's or its province's (issue 14).
    source_admdvs: &'a str,
    date: NaiveDate,
    #[serde(flatten)]
    version: &'a SettlementPolicyVersion,
}

/// `PUT /api/settlements/regions/{admdvs}/policy` (agency for a region it administers, admin):
/// publishes the policy from `effective_from` on, after checking every ratio, amount and
/// segment; a correction for the same date is published the same way and wins.
pub async fn publish(ctx: &Ctx) -> ApiResult<Reply> {
    let admdvs = ctx.region_param("admdvs")?;
    if !rules::registry::may_administer(&ctx.principal, admdvs) {
        return Err(ApiError::new(ErrorCode::OutOfRegion, format!("the caller does not administer region {admdvs}")));
    }
    let body: Publication<SettlementPolicy> = ctx.json()?;
    let problems = body.policy.problems();
    if !problems.is_empty() {
        let violations = problems.into_iter().map(Violation::from).collect();
        return Err(ApiError::new(ErrorCode::InvalidBody, "the policy is out of range").with_violations(violations));
    }
    let version = body.dated(ctx.principal.audit_name(), ctx.timestamp());
    Settlements::new(ctx.kv().await?).region_policy(admdvs).append(&version).await?;
    Ok(Reply::created(&version))
}

/// `GET /api/settlements/regions/{admdvs}/policy?date=…` (public: published terms): the policy
/// in force on the date (today by default).
pub async fn get(ctx: &Ctx) -> ApiResult<Reply> {
    let admdvs = ctx.region_param("admdvs")?;
    let date = Query::parse(ctx.query()).date("date")?.unwrap_or_else(|| ctx.today());
    let found = in_force(ctx.kv().await?, admdvs, date).await?;
    let (source, version) = found.ok_or_else(|| ApiError::not_found(&format!("settlement policy of region {admdvs} in force on {date}")))?;
    Ok(Reply::ok(&PolicyView { admdvs, source_admdvs: &source, date, version: &version }))
}
