//! `GET /api/catalogue/drugs/{code}` and `GET /api/catalogue/drugs`: catalogue entries as of a
//! date (rule C1), from the in-instance cache, shown to each caller as it may see them (C6).

use catalogue_view::cache::{CatalogueCache, Found as FoundEntry, InForce};
use crate::editions::EditionView;
use catalogue_view::index::Filter;
use api::query::Query;
use api::{ApiError, ApiResult, Ctx, Reply, Role};
use chrono::NaiveDate;
use rules::catalogue::{CatalogueEntry, Category, DrugKind, InsuranceClass, ListKind, PublicCatalogueEntry};
use serde::Serialize;
use std::collections::HashSet;

/// Lives as long as the instance: see [`CatalogueCache`].
pub static CACHE: CatalogueCache = CatalogueCache::new();


/// An entry as this caller may see it: agencies and admins see the internal record (they
/// settle and supervise against confidential standards); everyone else, public and patients
/// included, sees the public view, where a `*` standard has no amount (rule C6).
#[derive(Serialize)]
#[serde(untagged)]
pub enum EntryView<'a> {
    Internal(&'a CatalogueEntry),
    Public(PublicCatalogueEntry<'a>),
}

impl<'a> EntryView<'a> {
    pub fn for_role(role: Role, entry: &'a CatalogueEntry) -> Self {
        if sees_internal(role) { EntryView::Internal(entry) } else { EntryView::Public(entry.public_view()) }
    }
}

/// Agencies and admins settle and supervise against confidential standards; every other role
/// is public or patient-facing (rule C6).
pub fn sees_internal(role: Role) -> bool {
    match role {
        Role::Agency | Role::Admin => true,
        Role::Public | Role::Patient | Role::Physician | Role::HospitalOffice | Role::Pharmacist => false,
    }
}

#[derive(Serialize)]
struct Drug<'a> {
    code: &'a str,
    /// Set while the drug is paid only under the transition of rule C4: the last such day.
    #[serde(skip_serializing_if = "Option::is_none")]
    transition_until: Option<NaiveDate>,
    #[serde(flatten)]
    entry: EntryView<'a>,
}

impl<'a> Drug<'a> {
    fn new(found: FoundEntry<'a>, role: Role) -> Self {
        Drug { code: found.code, transition_until: found.transition_until, entry: EntryView::for_role(role, found.entry) }
    }
}

#[derive(Serialize)]
struct Found<'a> {
    as_of: NaiveDate,
    edition: EditionView<'a>,
    drug: Drug<'a>,
}

#[derive(Serialize)]
struct Page<'a> {
    as_of: NaiveDate,
    /// The region whose lists filtered the results, when `dual_channel` or `separate_payment`
    /// was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    admdvs: Option<&'a str>,
    edition: EditionView<'a>,
    total: usize,
    page: usize,
    page_size: usize,
    items: Vec<Drug<'a>>,
}

/// `GET /api/catalogue/drugs/{code}?as_of=YYYY-MM-DD` (everyone).
pub async fn get(ctx: &Ctx) -> ApiResult<Reply> {
    let code = ctx.param("code")?;
    let query = Query::parse(ctx.query());
    let as_of = query.date("as_of")?.unwrap_or_else(|| ctx.today());
    let edition = in_force(ctx, as_of).await?;
    let found = edition
        .find(code)?
        .ok_or_else(|| ApiError::not_found(&format!("drug with this code in the edition in force on {as_of}")).with_rule("C1"))?;
    Ok(Reply::ok(&Found {
        as_of,
        edition: EditionView::new(edition.summary(), edition.effective_to),
        drug: Drug::new(found, ctx.principal.role()),
    }))
}

/// `GET /api/catalogue/drugs?q=…&kind=…&class=甲|乙&category=…&class_code=…&dual_channel=…&
/// separate_payment=…&admdvs=…&page=…&page_size=…` (everyone). Entries of the edition in force,
/// then, inside a transition window, the previous edition's negotiated drugs still paid (C4).
pub async fn search(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let as_of = query.date("as_of")?.unwrap_or_else(|| ctx.today());
    let filter = Filter {
        q: query.text("q").map(str::to_string),
        kind: query.choice(
            "kind",
            &[("western", DrugKind::Western), ("chinese_patent", DrugKind::ChinesePatent), ("herbal_pieces", DrugKind::HerbalPieces)],
        )?,
        insurance_class: query.choice("class", &[("甲", InsuranceClass::A), ("乙", InsuranceClass::B)])?,
        category: query.choice(
            "category",
            &[("regular", Category::Regular), ("negotiated", Category::Negotiated), ("competitive_bid", Category::CompetitiveBid)],
        )?,
        class_code: query.text("class_code").map(str::to_string),
    };
    let lists = [("dual_channel", ListKind::DualChannel), ("separate_payment", ListKind::SeparatePayment)];
    let mut wanted = Vec::new();
    for (name, kind) in lists {
        if let Some(listed) = query.choice(name, &[("true", true), ("false", false)])? {
            wanted.push((kind, listed));
        }
    }
    let admdvs = region(&query, ctx)?;
    let paging = query.paging()?;
    let edition = in_force(ctx, as_of).await?;
    // the region's lists in force on the date (C2): a drug is on a list its version names
    let on_lists: Vec<(HashSet<&str>, bool)> = wanted
        .iter()
        .map(|&(kind, listed)| {
            let version = edition.snapshot.state.list_in_force(&admdvs, kind, as_of);
            (version.map(|v| v.entries.codes().into_iter().collect()).unwrap_or_default(), listed)
        })
        .collect();
    let matches = edition.matching(&filter).filter(|found| on_lists.iter().all(|(codes, listed)| codes.contains(found.code()) == *listed));
    let (total, shown) = paging.apply(matches);
    let role = ctx.principal.role();
    let items = shown.iter().map(|shown| Ok(Drug::new(shown.found()?, role))).collect::<ApiResult<_>>()?;
    Ok(Reply::ok(&Page {
        as_of,
        admdvs: (!wanted.is_empty()).then_some(admdvs.as_str()),
        edition: EditionView::new(edition.summary(), edition.effective_to),
        total,
        page: paging.page,
        page_size: paging.page_size,
        items,
    }))
}

/// The `admdvs` query parameter (a 6-digit region code), by default the deployment's region.
pub fn region(query: &Query, ctx: &Ctx) -> ApiResult<String> {
    match query.text("admdvs") {
        Some(code) if rules::registry::is_admdvs(code) => Ok(code.to_string()),
        Some(_) => Err(api::query::invalid("admdvs", "expected a 6-digit region code")),
        None => Ok(ctx.config.region_code.clone()),
    }
}


pub async fn in_force(ctx: &Ctx, as_of: NaiveDate) -> ApiResult<InForce> {
    CACHE
        .in_force(ctx.kv().await?, as_of)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("catalogue edition in force on {as_of}")).with_rule("C1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::catalogue::{ConfidentialAmount, StandardAmount};
    use rust_decimal::Decimal;

    fn negotiated_with_secret_standard() -> CatalogueEntry {
        let amount = StandardAmount::Confidential { amount: Some(ConfidentialAmount::new(Decimal::new(987_654, 2))) };
        rules::fixtures::negotiated("安奈拉唑钠肠溶片", amount)
    }

    #[test]
    fn only_agency_and_admin_see_a_confidential_amount() {
        // rule C6: the JSON import cannot carry a confidential amount (the cell is `*`), so the
        // view that handlers render is checked here with one filled in, for every role
        let entry = negotiated_with_secret_standard();
        for role in Role::ALL {
            let json = serde_json::to_string(&Drug { code: "x", transition_until: None, entry: EntryView::for_role(role, &entry) }).expect("json");
            let internal = matches!(role, Role::Agency | Role::Admin);
            assert_eq!(json.contains("9876.54"), internal, "{role:?}: {json}");
            if !internal {
                assert!(json.contains(r#""amount":{"type":"confidential"}"#), "{json}");
                assert!(!json.contains("source_row"), "{json}");
            }
        }
    }
}
