//! Regional lists beside the national entries (rules C2, C5, C8) and the question patients,
//! pharmacies and settlement all ask: is this drug payable in this region on this date, under
//! which lists, at which standard, with which restriction?

use catalogue_view::{Basis, InForce};
use crate::drugs::{CACHE, EntryView, in_force, sees_internal};
use crate::editions::{EditionView, sha256_hex};
use api::query::Query;
use api::{ApiError, ApiResult, Ctx, ErrorCode, Reply, Role, Violation, from_json_value};
use chrono::NaiveDate;
use rules::catalogue::{
    AdjustedStandard, EffectiveStandard, ListEntries, ListKind, LocalRestriction, NationalContext, PaymentStandard, Preparation,
    PublicPaymentStandard, RegionalListVersion, StandardAmount, StandardSource, StructuredRestriction, is_national_field, validate_list,
};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use store::Catalogue;
use store::catalogue::{CatalogueRecord, ListVersions};

/// A list of a whole region's drugs stays well under this; the bound keeps one record small.
const MAX_ENTRIES: usize = 5000;

/// 5,000 preparations with every optional field filled stay under 2 MiB of JSON.
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The region in the path: a 6-digit code the caller may act for. Agencies publish only for
/// the regions they govern; everyone may read.
fn list_param(ctx: &Ctx) -> ApiResult<ListKind> {
    let list = ctx.param("list")?;
    ListKind::from_wire(list).ok_or_else(|| {
        let kinds: Vec<&str> = ListKind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::not_found(&format!("list kind (one of {})", kinds.join(", ")))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Publish {
    effective_from: NaiveDate,
    entries: Vec<Value>,
}

/// A list version as callers see it.
#[derive(Serialize)]
struct VersionView<'a> {
    /// The region asked about.
    admdvs: &'a str,
    /// The level the version was published at: the region's own, its city's or its province's
    /// (issue 14).
    source_admdvs: &'a str,
    list: ListKind,
    effective_from: NaiveDate,
    /// The day before the region's next version of this list starts, if one is published.
    effective_to: Option<NaiveDate>,
    count: usize,
    digest: &'a str,
    published_at: &'a str,
    published_by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    entries: Option<Value>,
}

impl<'a> VersionView<'a> {
    fn new(asked: &'a str, version: &'a RegionalListVersion, versions: Option<&ListVersions>, entries: Option<Value>) -> Self {
        let effective_to = versions
            .and_then(|v| v.all().iter().find(|next| next.effective_from > version.effective_from))
            .and_then(|next| next.effective_from.pred_opt());
        VersionView {
            admdvs: asked,
            source_admdvs: &version.admdvs,
            list: version.entries.kind(),
            effective_from: version.effective_from,
            effective_to,
            count: version.entries.len(),
            digest: &version.digest,
            published_at: &version.published_at,
            published_by: &version.published_by,
            entries,
        }
    }
}

/// The digest that recognises the same entries published again.
pub fn list_digest(entries: &ListEntries) -> String {
    sha256_hex(&serde_json::to_vec(entries).unwrap_or_default())
}

fn invalid_list(detail: &str, violations: Vec<Violation>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRegionalList, format!("{detail}; nothing was stored")).with_violations(violations)
}

/// `POST /api/catalogue/regions/{admdvs}/lists/{list}` (agency for its region, admin): publishes
/// a version of a regional list from `effective_from`. The same entries again are harmless
/// (200); another version for a date already in force is refused, since what was in force is
/// history; a version for a later date replaces the one published for that date.
pub async fn publish(ctx: &Ctx) -> ApiResult<Reply> {
    let admdvs = ctx.region_param("admdvs")?;
    let kind = list_param(ctx)?;
    if !rules::registry::may_administer(&ctx.principal, admdvs) {
        return Err(ApiError::new(ErrorCode::OutOfRegion, format!("the caller does not administer region {admdvs}")));
    }
    let body: Publish = ctx.json()?;
    if body.entries.len() > MAX_ENTRIES {
        let violation = Violation { rule: None, field: "/entries".into(), reason: format!("at most {MAX_ENTRIES} entries") };
        return Err(invalid_list("too many entries", vec![violation]));
    }
    // rule C2: an entry that carries a national field tries to change a national entry
    let national_fields: Vec<Violation> = body
        .entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| entry.as_object().map(|fields| (i, fields)))
        .flat_map(|(i, fields)| {
            fields.keys().filter(|field| is_national_field(kind, field)).map(move |field| Violation {
                rule: Some("C2"),
                field: format!("/entries/{i}/{field}"),
                reason: "a national field: regions add data beside national entries and may not change them".into(),
            })
        })
        .collect();
    if !national_fields.is_empty() {
        return Err(invalid_list("the entries change national fields", national_fields));
    }
    let entries: ListEntries = from_json_value(serde_json::json!({ "list": kind, "entries": body.entries }), "")?;
    let digest = list_digest(&entries);

    let kv = ctx.kv().await?;
    let snapshot = CACHE.snapshot(kv).await?;
    let versions = snapshot.state.list_versions(admdvs, kind);
    let edition = in_force(ctx, body.effective_from).await?;
    let previous_edition = match snapshot.state.editions.previous(edition.summary()) {
        Some(summary) => Some(CACHE.index(kv, &snapshot, summary).await?),
        None => None,
    };
    let replaced = versions.and_then(|v| v.in_force(body.effective_from.pred_opt().unwrap_or(NaiveDate::MIN)));
    // the national entries the new and the replaced list name, parsed before the rules look
    let (mut named_current, mut named_previous) = (HashMap::new(), HashMap::new());
    for code in entries.codes().into_iter().chain(replaced.map(|r| r.entries.codes()).unwrap_or_default()) {
        // the edition in force's entry, or during rule C4's transition the negotiated drug it
        // dropped: a list published for the new edition keeps such a drug on its lists and terms
        // until the transition ends (issue 14 item 2.1)
        if let Some(found) = edition.find(code)? {
            named_current.insert(code, found.entry);
        }
        if let Some((_, entry)) = previous_edition.as_ref().map(|index| index.get(code)).transpose()?.flatten() {
            named_previous.insert(code, entry);
        }
    }
    let current = |code: &str| named_current.get(code).copied();
    let previous = |code: &str| named_previous.get(code).copied();
    let problems = validate_list(&entries, &NationalContext { current: &current, previous: &previous }, replaced.map(|v| &v.entries));
    if !problems.is_empty() {
        let violations =
            problems.into_iter().map(|p| Violation { rule: p.rule, field: p.pointer, reason: p.reason }).collect();
        return Err(invalid_list("the list breaks catalogue rules", violations));
    }
    if let Some(existing) = versions.and_then(|v| v.on(body.effective_from)) {
        if existing.digest == digest {
            return Ok(Reply::ok(&VersionView::new(admdvs, existing, versions, None)));
        }
        if body.effective_from <= ctx.today() {
            return Err(ApiError::new(
                ErrorCode::ListVersionConflict,
                format!("another version of this list has been in force since {}; publish a new version from a later date", body.effective_from),
            ));
        }
    }
    let version = RegionalListVersion {
        admdvs: admdvs.to_string(),
        effective_from: body.effective_from,
        entries,
        digest,
        published_at: ctx.timestamp(),
        published_by: ctx.principal.audit_name(),
    };
    Catalogue::new(kv).log().append(&CatalogueRecord::RegionalList(version.clone())).await?;
    // the version's end is the start of a later one, which the versions read above already hold
    Ok(Reply::created(&VersionView::new(admdvs, &version, versions, None)))
}

/// `GET /api/catalogue/regions/{admdvs}/lists/{list}?as_of=…` (everyone): the version in force
/// for the region: its own, else its city's, else its province's (`source_admdvs` says which).
/// Regional standards of drugs whose national standard is confidential show no amount to
/// public and patient-facing callers (rule C6).
pub async fn get_list(ctx: &Ctx) -> ApiResult<Reply> {
    let admdvs = ctx.region_param("admdvs")?;
    let kind = list_param(ctx)?;
    let as_of = Query::parse(ctx.query()).date("as_of")?.unwrap_or_else(|| ctx.today());
    let snapshot = CACHE.snapshot(ctx.kv().await?).await?;
    let version = snapshot
        .state
        .list_in_force(admdvs, kind, as_of)
        .ok_or_else(|| ApiError::not_found(&format!("{} list of region {admdvs} (or its city or province) in force on {as_of}", kind.as_str())))?;
    let versions = snapshot.state.list_versions(&version.admdvs, kind);
    let entries = match &version.entries {
        ListEntries::AdjustedStandards(adjustments) if !sees_internal(ctx.principal.role()) => {
            let edition = in_force(ctx, as_of).await?;
            Value::Array(adjustments.iter().map(|a| public_adjustment(a, &edition)).collect::<ApiResult<_>>()?)
        }
        other => serde_json::to_value(other).map(|tagged| tagged["entries"].clone()).unwrap_or_default(),
    };
    Ok(Reply::ok(&VersionView::new(admdvs, version, versions, Some(entries))))
}

/// A regional standard as the public may see it: no amount when the drug's national standard
/// is confidential (rule C6).
fn public_adjustment(adjustment: &AdjustedStandard, edition: &InForce) -> ApiResult<Value> {
    let confidential = edition.find(&adjustment.code)?.is_none_or(|found| {
        found.entry.payment_standards.iter().any(|s| matches!(s.amount, StandardAmount::Confidential { .. }))
    });
    let amount = if confidential {
        serde_json::json!({ "type": "confidential" })
    } else {
        serde_json::json!({ "type": "published", "amount": adjustment.amount })
    };
    Ok(serde_json::json!({
        "code": adjustment.code,
        "specification": adjustment.specification,
        "reason": adjustment.reason,
        "amount": amount,
    }))
}

#[derive(Serialize)]
struct Outpatient<'a> {
    annual_max: Decimal,
    /// The outpatient list's own restriction of the mechanism's payment, if any (C9).
    #[serde(skip_serializing_if = "Option::is_none")]
    local_restriction: Option<&'a LocalRestriction>,
}

#[derive(Serialize)]
struct ListsView<'a> {
    dual_channel: bool,
    separate_payment: bool,
    /// The outpatient negotiated-drug mechanism's annual maximum, when the drug is on it.
    outpatient: Option<Outpatient<'a>>,
    /// For each list in force for the region, the level it was published at: the region's
    /// own, its city's or its province's (issue 14).
    source_admdvs: BTreeMap<&'static str, &'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Shown {
    Internal(PaymentStandard),
    Public(PublicPaymentStandard),
}

#[derive(Serialize)]
struct StandardView {
    #[serde(flatten)]
    standard: Shown,
    #[serde(flatten)]
    source: StandardSource,
}

#[derive(Serialize)]
#[serde(untagged)]
enum DrugShown<'a> {
    National(EntryView<'a>),
    Preparation(&'a Preparation),
}

#[derive(Serialize)]
struct CoverageView<'a> {
    as_of: NaiveDate,
    admdvs: &'a str,
    code: &'a str,
    payable: bool,
    /// Why not, when `payable` is false.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    reasons: &'a [String],
    /// `national_edition`, `transition` (rule C4) or `hospital_preparation`.
    basis: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    transition_until: Option<NaiveDate>,
    edition: EditionView<'a>,
    lists: ListsView<'a>,
    /// The standards paid against in this region: national, or the region's (rule C5).
    payment_standards: Vec<StandardView>,
    /// The official restriction text (rule C9).
    restriction: Option<&'a str>,
    /// The region's encoding of it as checkable conditions, when it has one (C9).
    #[serde(skip_serializing_if = "Option::is_none")]
    structured_restriction: Option<&'a StructuredRestriction>,
    drug: DrugShown<'a>,
}

/// `GET /api/catalogue/regions/{admdvs}/drugs/{code}?as_of=…` (everyone).
pub async fn coverage(ctx: &Ctx) -> ApiResult<Reply> {
    let admdvs = ctx.region_param("admdvs")?;
    let code = ctx.param("code")?;
    let as_of = Query::parse(ctx.query()).date("as_of")?.unwrap_or_else(|| ctx.today());
    let edition = in_force(ctx, as_of).await?;
    let coverage = edition.coverage(admdvs, code)?.ok_or_else(|| {
        ApiError::not_found(&format!("drug {code} in the national edition or region {admdvs}'s preparations on {as_of}")).with_rule("C1")
    })?;
    let role = ctx.principal.role();
    let (basis, transition_until, drug) = match coverage.basis {
        Basis::NationalEdition(entry) => ("national_edition", None, DrugShown::National(EntryView::for_role(role, entry))),
        Basis::Transition(entry, until) => ("transition", Some(until), DrugShown::National(EntryView::for_role(role, entry))),
        Basis::HospitalPreparation(preparation) => ("hospital_preparation", None, DrugShown::Preparation(preparation)),
    };
    let mut payment_standards: Vec<StandardView> = coverage.standards.iter().cloned().map(|s| standard_view(s, role)).collect();
    if let Basis::HospitalPreparation(preparation) = coverage.basis
        && let Some(amount) = preparation.payment_standard
    {
        let standard = PaymentStandard { specification: preparation.specification.clone(), per: None, terms: None, amount: StandardAmount::Published { amount } };
        payment_standards.push(StandardView { standard: Shown::Public(PublicPaymentStandard::from(&standard)), source: StandardSource::HospitalPreparation });
    }
    let lists = coverage.lists;
    Ok(Reply::ok(&CoverageView {
        as_of,
        admdvs,
        code: coverage.code,
        payable: coverage.payable(),
        reasons: &coverage.unpaid_reasons,
        basis,
        transition_until,
        edition: EditionView::new(edition.summary(), edition.effective_to),
        lists: ListsView {
            dual_channel: lists.dual_channel,
            separate_payment: lists.separate_payment,
            outpatient: lists.outpatient_annual_max.map(|annual_max| Outpatient { annual_max, local_restriction: coverage.outpatient_restriction }),
            source_admdvs: [ListKind::DualChannel, ListKind::SeparatePayment, ListKind::Outpatient]
                .into_iter()
                .filter_map(|kind| edition.snapshot.state.list_in_force(admdvs, kind, as_of).map(|v| (kind.as_str(), v.admdvs.as_str())))
                .collect(),
        },
        payment_standards,
        restriction: coverage.restriction(),
        structured_restriction: coverage.structured_restriction,
        drug,
    }))
}

fn standard_view(effective: EffectiveStandard, role: Role) -> StandardView {
    let standard = if sees_internal(role) {
        Shown::Internal(effective.standard)
    } else {
        Shown::Public(PublicPaymentStandard::from(&effective.standard))
    };
    StandardView { standard, source: effective.source }
}
