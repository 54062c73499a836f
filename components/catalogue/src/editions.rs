//! National editions (rule C1): `POST /api/catalogue/editions` imports one from the official
//! xlsx, the flat CSV or JSON, all or nothing, and lists it from its effective date;
//! `GET /api/catalogue/editions` lists them; an edition not yet in force may be withdrawn
//! (a correction is a withdrawal and a new import); confidential amounts for its `*`
//! standards are supplied separately (rule C6).

use catalogue_view::index::{DuplicateCode, duplicate_codes, pinyin_initials};
use api::query::{Query, invalid};
use api::{ApiError, ApiResult, Ctx, ErrorCode, Reply, Violation};
use chrono::NaiveDate;
use import::ImportError;
use rules::catalogue::{CatalogueEntry, Problem, RowProblem};
use rules::catalogue::ConfidentialAmount;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use crate::drugs::CACHE;
use store::Catalogue;
use store::catalogue::{
    Admission, CatalogueRecord, ConfidentialStandard, ConfidentialSupply, EditionCounts, EditionSummary, Withdrawal,
};

/// The 2024 workbook is 690 KB, its flat CSV 415 KB and the same rows as JSON about 1 MB; 4 MiB
/// leaves room for larger editions without letting a caller make the component buffer more.
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// An edition as callers see it, with the last day it is in force when a later one exists.
#[derive(Serialize)]
pub struct EditionView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub counts: EditionCounts,
    pub imported_at: &'a str,
}

impl<'a> EditionView<'a> {
    pub fn new(summary: &'a EditionSummary, effective_to: Option<NaiveDate>) -> Self {
        EditionView {
            id: &summary.id,
            name: &summary.name,
            effective_from: summary.effective_from,
            effective_to,
            counts: summary.counts,
            imported_at: &summary.imported_at,
        }
    }
}

/// `POST /api/catalogue/editions?effective_from=YYYY-MM-DD&name=…` (admin).
pub async fn import(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let effective_from =
        query.date("effective_from")?.ok_or_else(|| invalid("effective_from", "required: the edition's first day in force"))?;
    let name = match query.text("name") {
        Some(name) if name.chars().count() > 64 || name.chars().any(char::is_control) => {
            return Err(invalid("name", "at most 64 characters, no control characters"));
        }
        Some(name) => name.to_string(),
        None => effective_from.to_string(),
    };
    let read: fn(&[u8]) -> Result<Vec<CatalogueEntry>, ImportError> = match media_type(ctx.content_type()).as_deref() {
        Some(XLSX) => import::from_xlsx,
        Some("text/csv") => import::from_csv,
        Some("application/json") => import::from_json,
        _ => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("send the edition as {XLSX}, text/csv or application/json"),
            ));
        }
    };
    let id = sha256_hex(ctx.body());

    let kv = ctx.kv().await?;
    // Checked before parsing: a re-import costs the cache's read, a conflict is refused at once.
    let snapshot = CACHE.snapshot(kv).await?;
    let editions = &snapshot.state.editions;
    match editions.admit(&id, effective_from) {
        Admission::New => {}
        Admission::Existing(existing) => {
            return Ok(Reply::ok(&EditionView::new(existing, editions.effective_to(existing))));
        }
        Admission::SameFileOtherDate(existing) => {
            return Err(conflict(format!("this file is already edition {} effective from {}", existing.id, existing.effective_from)));
        }
        Admission::SameDateOtherFile(existing) => {
            return Err(conflict(format!("edition {} ({}) already takes effect on {effective_from}", existing.id, existing.name)));
        }
    }

    let entries = read(ctx.body()).map_err(file_error)?;
    // Every entry must be reachable by its code, so an edition with two entries for one code
    // is refused like any other bad file.
    let duplicates = duplicate_codes(&entries);
    if !duplicates.is_empty() {
        return Err(duplicate_error(&entries, &duplicates));
    }

    let summary = EditionSummary::new(id, name, effective_from, &entries, ctx.timestamp(), ctx.principal.audit_name());
    Catalogue::new(kv).save(&summary, &entries, pinyin_initials).await?;
    // A racing import for the same date may have been logged first; the log order decides
    // for every instance (the first keeps the date), so read it back to report the outcome.
    let snapshot = CACHE.snapshot(kv).await?;
    let editions = &snapshot.state.editions;
    match editions.find(&summary.id) {
        Some(listed) => Ok(Reply::created(&EditionView::new(listed, editions.effective_to(listed)))),
        None => Err(conflict(format!("another edition was imported for {effective_from} at the same time; this one is not listed"))),
    }
}

#[derive(Serialize)]
struct EditionList<'a> {
    editions: Vec<EditionView<'a>>,
}

/// `GET /api/catalogue/editions` (everyone): every listed edition in date order.
pub async fn list(ctx: &Ctx) -> ApiResult<Reply> {
    let snapshot = CACHE.snapshot(ctx.kv().await?).await?;
    let editions = &snapshot.state.editions;
    let views = editions.all().iter().map(|e| EditionView::new(e, editions.effective_to(e))).collect();
    Ok(Reply::ok(&EditionList { editions: views }))
}

/// `POST /api/catalogue/editions/{id}/withdrawal` (admin): withdraws an edition that is not in
/// force yet. One in force (or past) is history and stays (rule C1).
pub async fn withdraw(ctx: &Ctx) -> ApiResult<Reply> {
    let id = ctx.param("id")?;
    let kv = ctx.kv().await?;
    let snapshot = CACHE.snapshot(kv).await?;
    let edition = snapshot.state.editions.find(id).ok_or_else(|| ApiError::not_found("edition"))?;
    if edition.effective_from <= ctx.today() {
        return Err(conflict(format!(
            "edition {id} has been in force since {}; only an edition not yet in force may be withdrawn",
            edition.effective_from
        )));
    }
    let withdrawal = Withdrawal { id: id.to_string(), withdrawn_at: ctx.timestamp(), withdrawn_by: ctx.principal.audit_name() };
    Catalogue::new(kv).log().append(&CatalogueRecord::EditionWithdrawn(withdrawal.clone())).await?;
    Ok(Reply::ok(&withdrawal))
}

/// One confidential amount as an admin supplies it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppliedStandard {
    code: String,
    #[serde(default)]
    specification: Option<String>,
    amount: Decimal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Supply {
    standards: Vec<SuppliedStandard>,
}

#[derive(Serialize)]
struct Supplied {
    edition: String,
    supplied: usize,
}

/// `POST /api/catalogue/editions/{id}/confidential-standards` (admin): the amounts behind an
/// edition's `*` standards, for settlement (rule C6). Each must name a `*` standard of the
/// edition by code and specification. The answer says how many were stored, never the amounts.
pub async fn supply_confidential(ctx: &Ctx) -> ApiResult<Reply> {
    let id = ctx.param("id")?;
    let supply: Supply = ctx.json()?;
    let kv = ctx.kv().await?;
    let snapshot = CACHE.snapshot(kv).await?;
    let summary = snapshot.state.editions.find(id).ok_or_else(|| ApiError::not_found("edition"))?;
    let index = CACHE.index(kv, &snapshot, summary).await?;
    let mut violations = Vec::new();
    for (i, standard) in supply.standards.iter().enumerate() {
        let starred = index.get(&standard.code)?.is_some_and(|(_, entry)| {
            entry.payment_standards.iter().any(|s| {
                s.specification == standard.specification && matches!(s.amount, rules::catalogue::StandardAmount::Confidential { .. })
            })
        });
        if !starred {
            violations.push(Violation {
                rule: Some("C6"),
                field: format!("/standards/{i}"),
                reason: "no `*` standard of this edition has this code and specification".into(),
            });
        }
        if standard.amount <= Decimal::ZERO || standard.amount.normalize().scale() > 2 {
            violations.push(Violation { rule: Some("S8"), field: format!("/standards/{i}/amount"), reason: "a positive yuan amount with at most 2 decimals".into() });
        }
    }
    if supply.standards.is_empty() {
        violations.push(Violation { rule: None, field: "/standards".into(), reason: "supply at least one standard".into() });
    }
    if !violations.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidBody, "nothing was stored").with_violations(violations));
    }
    let record = ConfidentialSupply {
        edition: summary.id.clone(),
        standards: supply
            .standards
            .into_iter()
            .map(|s| ConfidentialStandard { code: s.code, specification: s.specification, amount: ConfidentialAmount::new(s.amount) })
            .collect(),
        supplied_at: ctx.timestamp(),
        supplied_by: ctx.principal.audit_name(),
    };
    let supplied = record.standards.len();
    Catalogue::new(kv).log().append(&CatalogueRecord::ConfidentialStandards(record)).await?;
    Ok(Reply::ok(&Supplied { edition: summary.id.clone(), supplied }))
}

/// The lowercase hex sha256 of some content: the id of an edition file, the digest of a list.
pub fn sha256_hex(content: &[u8]) -> String {
    Sha256::digest(content).iter().map(|b| format!("{b:02x}")).collect()
}


/// The media type without parameters, lower-cased (media types are case-insensitive).
fn media_type(content_type: Option<&str>) -> Option<String> {
    content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn conflict(detail: String) -> ApiError {
    ApiError::new(ErrorCode::EditionConflict, detail).with_rule("C1")
}

fn invalid_file(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidCatalogueFile, detail)
}

/// Where a problem is: `/{sheet}/{row}/{column}` (column as in the flat CSV header).
fn location(sheet: &str, row: u32, column: &str) -> String {
    format!("/{sheet}/{row}/{column}")
}

fn file_error(error: ImportError) -> ApiError {
    match error {
        ImportError::Unreadable { .. } | ImportError::Layout(_) => invalid_file(&format!("{error}; nothing was imported")),
        ImportError::Rows(problems) => {
            let violations = problems.iter().map(row_violation).collect();
            invalid_file(&format!("{} problem(s) in the rows; nothing was imported", problems.len())).with_violations(violations)
        }
    }
}

fn duplicate_error(entries: &[CatalogueEntry], duplicates: &[DuplicateCode]) -> ApiError {
    let violations = duplicates
        .iter()
        .map(|d| {
            let (first, second) = (&entries[d.first], &entries[d.second]);
            Violation {
                rule: None,
                field: location(&second.sheet.to_string(), second.source_row, "name"),
                reason: format!(
                    "same drug (code {}) as {} row {}: kind, name and dosage form must differ",
                    d.code, first.sheet, first.source_row
                ),
            }
        })
        .collect();
    invalid_file("two entries name the same drug; nothing was imported").with_violations(violations)
}

fn row_violation(problem: &RowProblem) -> Violation {
    let rule = matches!(problem.reason, Problem::NotAllowed { .. } | Problem::KindMismatch { .. }).then_some("C3");
    Violation { rule, field: location(&problem.sheet, problem.row, problem.column.key()), reason: problem.reason.to_string() }
}

