//! `POST /api/catalogue/editions`: imports a national edition from the official xlsx, the flat
//! CSV or JSON, all or nothing, and lists it from its effective date (rule C1).

use crate::index::{DuplicateCode, duplicate_codes};
use crate::query::{Query, invalid};
use api::{ApiError, ApiResult, Ctx, ErrorCode, Principal, Reply, Violation};
use chrono::NaiveDate;
use import::ImportError;
use rules::catalogue::{CatalogueEntry, Problem, RowProblem};
use serde::Serialize;
use sha2::{Digest, Sha256};
use store::Catalogue;
use store::catalogue::{Admission, EditionCounts, EditionSummary};

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
    let id: String = Sha256::digest(ctx.body()).iter().map(|b| format!("{b:02x}")).collect();

    let kv = ctx.kv().await?;
    let catalogue = Catalogue::new(kv);
    // Checked before parsing: a re-import costs one read, and a conflict is refused at once.
    let editions = catalogue.editions().await?;
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

    let imported_at = ctx.now.with_timezone(&rules::time::china_standard_time()).to_rfc3339();
    let summary = EditionSummary::new(id, name, effective_from, &entries, imported_at, operator(&ctx.principal));
    let editions = catalogue.save(&summary, &entries).await?;
    Ok(Reply::created(&EditionView::new(&summary, editions.effective_to(&summary))))
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

fn operator(principal: &Principal) -> String {
    match principal {
        Principal::Admin { operator } => operator.clone(),
        other => other.role().as_str().to_string(),
    }
}
