//! Each region's prescription policy (region data: longest supply and validity, P2's city rule,
//! P1's paper extension), versioned by effective date in a per-region log.

use api::query::Query;
use api::{ApiError, ApiResult, Ctx, ErrorCode, Reply, Violation};
use chrono::NaiveDate;
use rules::prescription::RegionPolicy;
use serde::Serialize;
use store::dated::{Publication, in_force_for};
use store::prescription::{PolicyVersion, Prescriptions};
use store::{KeyValue, LogCache};

/// The policy logs this instance has read, validated per request by one read each.
static POLICIES: LogCache<PolicyVersion> = LogCache::new();

/// The version of `admdvs`'s policy in force on `date`, if it, its city or its province
/// published one, with the level it came from. One read per level looked at when this
/// instance's copies are current.
async fn published<K: KeyValue>(kv: &K, admdvs: &str, date: NaiveDate) -> ApiResult<Option<(String, PolicyVersion)>> {
    let prescriptions = Prescriptions::new(kv);
    Ok(in_force_for(&POLICIES, admdvs, date, |level| prescriptions.region_policy(level)).await?)
}

/// The policy of `admdvs` in force on `date`: the published one, else the default.
pub async fn in_force<K: KeyValue>(kv: &K, admdvs: &str, date: NaiveDate) -> ApiResult<RegionPolicy> {
    Ok(published(kv, admdvs, date).await?.map(|(_, v)| v.policy).unwrap_or_default())
}

#[derive(Serialize)]
struct PolicyView<'a> {
    admdvs: &'a str,
    date: NaiveDate,
    /// Whether the region, its city or its province published it (else the defaults apply).
    published: bool,
    /// The level that published it (issue 14).
    #[serde(skip_serializing_if = "Option::is_none")]
    source_admdvs: Option<String>,
    #[serde(flatten)]
    policy: &'a RegionPolicy,
}

/// `PUT /api/prescriptions/regions/{admdvs}/policy` (agency for a region it administers,
/// admin): publishes the policy from `effective_from` on. A correction for the same date is
/// published the same way and wins over the earlier one.
pub async fn publish(ctx: &Ctx) -> ApiResult<Reply> {
    let admdvs = ctx.region_param("admdvs")?;
    if !rules::registry::may_administer(&ctx.principal, admdvs) {
        return Err(ApiError::new(ErrorCode::OutOfRegion, format!("the caller does not administer region {admdvs}")));
    }
    let body: Publication<RegionPolicy> = ctx.json()?;
    let problems = body.policy.problems();
    if !problems.is_empty() {
        let violations = problems.into_iter().map(Violation::from).collect();
        return Err(ApiError::new(ErrorCode::InvalidBody, "the policy is out of range").with_violations(violations));
    }
    let kv = ctx.kv().await?;
    let version = body.dated(ctx.principal.audit_name(), ctx.timestamp());
    Prescriptions::new(kv).region_policy(admdvs).append(&version).await?;
    Ok(Reply::created(&version))
}

/// `GET /api/prescriptions/regions/{admdvs}/policy?date=…` (public): the policy in force.
pub async fn get(ctx: &Ctx) -> ApiResult<Reply> {
    let admdvs = ctx.region_param("admdvs")?;
    let date = Query::parse(ctx.query()).date("date")?.unwrap_or_else(|| ctx.today());
    let found = published(ctx.kv().await?, admdvs, date).await?;
    let policy = found.as_ref().map(|(_, v)| v.policy.clone()).unwrap_or_default();
    let published = found.is_some();
    Ok(Reply::ok(&PolicyView { admdvs, date, published, source_admdvs: found.map(|(level, _)| level), policy: &policy }))
}
