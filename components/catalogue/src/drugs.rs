//! `GET /api/catalogue/drugs/{code}` and `GET /api/catalogue/drugs`: catalogue entries as of a
//! date (rule C1), from the in-instance cache, shown to each caller as it may see them (C6).

use crate::cache::{CatalogueCache, InForce};
use crate::editions::EditionView;
use crate::index::Filter;
use crate::query::Query;
use api::{ApiError, ApiResult, Ctx, Reply, Role};
use chrono::NaiveDate;
use rules::catalogue::{CatalogueEntry, Category, DrugKind, InsuranceClass, PublicCatalogueEntry};
use serde::Serialize;

/// Lives as long as the instance: see [`CatalogueCache`].
static CACHE: CatalogueCache = CatalogueCache::new();

const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;

/// An entry as this caller may see it: agencies and admins see the internal record (they
/// settle and supervise against confidential standards); everyone else, public and patients
/// included, sees the public view, where a `*` standard has no amount (rule C6).
#[derive(Serialize)]
#[serde(untagged)]
enum EntryView<'a> {
    Internal(&'a CatalogueEntry),
    Public(PublicCatalogueEntry),
}

impl<'a> EntryView<'a> {
    fn for_role(role: Role, entry: &'a CatalogueEntry) -> Self {
        match role {
            Role::Agency | Role::Admin => EntryView::Internal(entry),
            Role::Public | Role::Patient | Role::Physician | Role::HospitalOffice | Role::Pharmacist => {
                EntryView::Public(entry.public_view())
            }
        }
    }
}

#[derive(Serialize)]
struct Drug<'a> {
    code: &'a str,
    #[serde(flatten)]
    entry: EntryView<'a>,
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
    let (code, entry) = edition
        .index
        .get(code)
        .ok_or_else(|| ApiError::not_found(&format!("drug with this code in the edition in force on {as_of}")))?;
    Ok(Reply::ok(&Found {
        as_of,
        edition: EditionView::new(&edition.summary, edition.effective_to),
        drug: Drug { code, entry: EntryView::for_role(ctx.principal.role(), entry) },
    }))
}

/// `GET /api/catalogue/drugs?q=…&kind=…&class=甲|乙&category=…&class_code=…&page=…&page_size=…`
/// (everyone).
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
    let page = query.number("page", 1..=100_000)?.unwrap_or(1);
    let page_size = query.number("page_size", 1..=MAX_PAGE_SIZE)?.unwrap_or(DEFAULT_PAGE_SIZE);
    let edition = in_force(ctx, as_of).await?;
    let (total, found) = edition.index.search(&filter, page, page_size);
    let role = ctx.principal.role();
    Ok(Reply::ok(&Page {
        as_of,
        edition: EditionView::new(&edition.summary, edition.effective_to),
        total,
        page,
        page_size,
        items: found.into_iter().map(|(code, entry)| Drug { code, entry: EntryView::for_role(role, entry) }).collect(),
    }))
}

async fn in_force(ctx: &Ctx, as_of: NaiveDate) -> ApiResult<InForce> {
    CACHE
        .in_force(ctx.kv().await?, as_of)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("catalogue edition in force on {as_of}")).with_rule("C1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::catalogue::{
        ClassCode, ConfidentialAmount, EntryNumber, PaymentStandard, Sheet, StandardAmount, ValidityPeriod,
    };
    use rust_decimal::Decimal;

    fn negotiated_with_secret_standard() -> CatalogueEntry {
        CatalogueEntry {
            sheet: Sheet::NegotiatedWestern,
            source_row: 9,
            class_code: ClassCode::parse("XA02BC").expect("valid code"),
            class_name: "质子泵抑制剂".into(),
            insurance_class: InsuranceClass::B,
            number: EntryNumber::Listed(3),
            med_list_codg: None,
            name: "安奈拉唑钠肠溶片".into(),
            dosage_form: None,
            payment_standards: vec![PaymentStandard {
                specification: Some("20mg/片".into()),
                per: None,
                terms: None,
                amount: StandardAmount::Confidential { amount: Some(ConfidentialAmount::new(Decimal::new(987_654, 2))) },
            }],
            restriction: None,
            validity: Some(ValidityPeriod {
                start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
                end: NaiveDate::from_ymd_opt(2025, 12, 31).expect("date"),
            }),
            category: Category::Negotiated,
            kind: DrugKind::Western,
        }
    }

    #[test]
    fn only_agency_and_admin_see_a_confidential_amount() {
        // rule C6: the JSON import cannot carry a confidential amount (the cell is `*`), so the
        // view that handlers render is checked here with one filled in, for every role
        let entry = negotiated_with_secret_standard();
        for role in Role::ALL {
            let json = serde_json::to_string(&Drug { code: "x", entry: EntryView::for_role(role, &entry) }).expect("json");
            let internal = matches!(role, Role::Agency | Role::Admin);
            assert_eq!(json.contains("9876.54"), internal, "{role:?}: {json}");
            if !internal {
                assert!(json.contains(r#""amount":{"type":"confidential"}"#), "{json}");
                assert!(!json.contains("source_row"), "{json}");
            }
        }
    }
}
