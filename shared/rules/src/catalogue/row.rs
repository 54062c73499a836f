//! Row validation: one edition row in, one entry or every problem with it out, and the
//! [`EditionBuilder`] that does this for a whole edition, all or nothing.

use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

use super::cells::{
    CellError, EntryNumber, parse_class_code, parse_entry_number, parse_insurance_class,
    parse_med_list_codg, parse_validity,
};
use super::entry::{CatalogueEntry, Category, Sheet};
use super::payment::{PaymentCellError, parse_payment_standards};
use super::text::normalize_cell_text;

/// One data row of the official layout as cell texts: the columns of the flat CSV, and the
/// objects of the JSON import. The xlsx reader fills it from the sheet's cells, taking
/// `sheet`, `class_code` and `class_name` from the sheet and the nearest class heading above.
///
/// Missing JSON keys read as empty cells, so a missing value is reported as a row problem
/// rather than failing the whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRow {
    pub sheet: String,
    pub class_code: String,
    pub class_name: String,
    /// 甲 / 乙
    pub ab: String,
    /// 编号
    pub no: String,
    pub name: String,
    pub dosage_form: String,
    pub payment_standard: String,
    /// 备注
    pub remark: String,
    pub validity: String,
    /// Absent from the 2024 CSV; an optional extra column.
    pub med_list_codg: String,
}

impl RawRow {
    /// The cell of a row that holds `field`; `None` for [`Field::Layout`], which is no cell.
    pub fn cell_mut(&mut self, field: Field) -> Option<&mut String> {
        match field {
            Field::Sheet => Some(&mut self.sheet),
            Field::ClassCode => Some(&mut self.class_code),
            Field::ClassName => Some(&mut self.class_name),
            Field::InsuranceClass => Some(&mut self.ab),
            Field::Number => Some(&mut self.no),
            Field::Name => Some(&mut self.name),
            Field::DosageForm => Some(&mut self.dosage_form),
            Field::PaymentStandard => Some(&mut self.payment_standard),
            Field::Remark => Some(&mut self.remark),
            Field::Validity => Some(&mut self.validity),
            Field::MedListCodg => Some(&mut self.med_list_codg),
            Field::Layout => None,
        }
    }
}

/// A column of the official layout, named as in the flat CSV ([`Field::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Sheet,
    ClassCode,
    ClassName,
    InsuranceClass,
    Number,
    Name,
    DosageForm,
    PaymentStandard,
    Remark,
    Validity,
    MedListCodg,
    /// Not a field: a cell of the sheet's layout outside every field (content where the layout
    /// has none, a header that is not the official one). The reason names the cell.
    Layout,
}

impl Field {
    /// The field's name in the flat CSV and the JSON import.
    /// The columns every row of the official layout has, in the flat table's order.
    pub const COLUMNS: [Field; 10] = [
        Field::Sheet,
        Field::ClassCode,
        Field::ClassName,
        Field::InsuranceClass,
        Field::Number,
        Field::Name,
        Field::DosageForm,
        Field::PaymentStandard,
        Field::Remark,
        Field::Validity,
    ];

    /// Columns a source may add to those.
    pub const OPTIONAL_COLUMNS: [Field; 1] = [Field::MedListCodg];

    pub fn key(self) -> &'static str {
        match self {
            Field::Sheet => "sheet",
            Field::ClassCode => "class_code",
            Field::ClassName => "class_name",
            Field::InsuranceClass => "ab",
            Field::Number => "no",
            Field::Name => "name",
            Field::DosageForm => "dosage_form",
            Field::PaymentStandard => "payment_standard",
            Field::Remark => "remark",
            Field::Validity => "validity",
            Field::MedListCodg => "med_list_codg",
            Field::Layout => "layout",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

/// Why a row is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("required, but the cell is empty")]
    Required,
    #[error("must be empty for a {category:?} entry (rule C3)")]
    NotAllowed { category: Category },
    #[error(
        "{found:?} is not one of the sheets 西药部分, 中成药部分, 协议西药, 协议中成药, 竞价药品部分"
    )]
    UnknownSheet { found: String },
    #[error("class code {code} names a different kind of drug than sheet {sheet} holds (rule C3)")]
    KindMismatch { sheet: Sheet, code: String },
    #[error("entry number {found} is out of sequence: expected {expected}")]
    OutOfSequence { expected: u32, found: u32 },
    #[error("★({found}) refers to a number not yet listed in this sheet (last listed: {last})")]
    SameAsUnlisted { found: u32, last: u32 },
    #[error(transparent)]
    Cell(#[from] CellError),
    #[error(transparent)]
    PaymentStandard(#[from] PaymentCellError),
    #[error("{0}")]
    Layout(String),
}

impl Serialize for Problem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One problem with one cell: import reports every one of them at once (conventions: return
/// every violation, so a caller can fix everything in one go).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{sheet} row {row}, column {column}: {reason}")]
pub struct RowProblem {
    /// The sheet's name as the source gave it (an unknown name is itself a problem).
    pub sheet: String,
    /// As in [`CatalogueEntry::source_row`].
    pub row: u32,
    pub column: Field,
    pub reason: Problem,
}

/// Validates one row into an entry, or returns every problem with it.
pub fn validate_row(raw: &RawRow, source_row: u32) -> Result<CatalogueEntry, Vec<RowProblem>> {
    let sheet_name = normalize_cell_text(&raw.sheet);
    let mut problems = Vec::new();
    let mut report = |column: Field, reason: Problem| {
        problems.push(RowProblem {
            sheet: sheet_name.clone(),
            row: source_row,
            column,
            reason,
        });
    };

    let sheet = Sheet::from_official_name(&sheet_name);
    if sheet.is_none() {
        report(
            Field::Sheet,
            Problem::UnknownSheet {
                found: sheet_name.clone(),
            },
        );
    }
    let cell = |text: &str| Some(normalize_cell_text(text)).filter(|t| !t.is_empty());
    let required = |text: &str, report: &mut dyn FnMut(Field, Problem), field: Field| {
        let value = cell(text);
        if value.is_none() {
            report(field, Problem::Required);
        }
        value
    };
    // Each parse runs only when the cell has a value; an empty required cell was reported.
    fn parsed<T, E: Into<Problem>>(
        value: Option<String>,
        field: Field,
        parse: impl Fn(&str) -> Result<T, E>,
        report: &mut dyn FnMut(Field, Problem),
    ) -> Option<T> {
        parse(&value?).map_err(|e| report(field, e.into())).ok()
    }

    let class_code = parsed(
        required(&raw.class_code, &mut report, Field::ClassCode),
        Field::ClassCode,
        parse_class_code,
        &mut report,
    );
    let class_name = required(&raw.class_name, &mut report, Field::ClassName);
    let insurance_class = parsed(
        required(&raw.ab, &mut report, Field::InsuranceClass),
        Field::InsuranceClass,
        parse_insurance_class,
        &mut report,
    );
    let number = parsed(
        required(&raw.no, &mut report, Field::Number),
        Field::Number,
        parse_entry_number,
        &mut report,
    );
    let name = required(&raw.name, &mut report, Field::Name);
    // optional: `Some(None)` when absent, `None` when present but bad
    let med_list_codg = match cell(&raw.med_list_codg) {
        None => Some(None),
        code => parsed(code, Field::MedListCodg, parse_med_list_codg, &mut report).map(Some),
    };

    // Payment standards and validity belong to negotiated and bid entries only (rule C3).
    let category = sheet.map(Sheet::category);
    let standard_cell = cell(&raw.payment_standard);
    let validity_cell = cell(&raw.validity);
    let (payment_standards, validity) = match category {
        Some(category) if category.has_payment_standard() => {
            if standard_cell.is_none() {
                report(Field::PaymentStandard, Problem::Required);
            }
            if validity_cell.is_none() {
                report(Field::Validity, Problem::Required);
            }
            (
                parsed(
                    standard_cell,
                    Field::PaymentStandard,
                    parse_payment_standards,
                    &mut report,
                ),
                parsed(validity_cell, Field::Validity, parse_validity, &mut report),
            )
        }
        Some(category) => {
            if standard_cell.is_some() {
                report(Field::PaymentStandard, Problem::NotAllowed { category });
            }
            if validity_cell.is_some() {
                report(Field::Validity, Problem::NotAllowed { category });
            }
            (Some(Vec::new()), None)
        }
        // the sheet is unknown, so which cells belong is too; the sheet was reported
        None => (None, None),
    };

    // The class code's letter and the sheet must name the same kind (rule C3).
    if let (Some(sheet), Some(code)) = (sheet, &class_code)
        && sheet.kind().is_some_and(|kind| kind != code.kind())
    {
        report(
            Field::ClassCode,
            Problem::KindMismatch {
                sheet,
                code: code.to_string(),
            },
        );
    }

    match (
        sheet,
        class_code,
        class_name,
        insurance_class,
        number,
        name,
        med_list_codg,
        payment_standards,
    ) {
        (
            Some(sheet),
            Some(class_code),
            Some(class_name),
            Some(insurance_class),
            Some(number),
            Some(name),
            Some(med_list_codg),
            Some(payment_standards),
        ) if problems.is_empty() => Ok(CatalogueEntry {
            sheet,
            source_row,
            kind: class_code.kind(),
            class_code,
            class_name,
            insurance_class,
            number,
            med_list_codg,
            name,
            dosage_form: cell(&raw.dosage_form),
            payment_standards,
            restriction: cell(&raw.remark),
            validity,
            category: sheet.category(),
        }),
        _ => Err(problems),
    }
}

/// Builds an edition from its rows, in source order, all or nothing.
///
/// Besides each row's own problems it checks the numbering across rows, which is how a row
/// lost in transcription shows: within a sheet plain numbers run 1, 2, 3…, and `★(n)` refers
/// to an `n` already listed. The numbering is checked on every row whose sheet and number
/// parse, even if other cells of the row are bad, so one bad cell does not cascade into
/// "out of sequence" reports on the rows after it.
#[derive(Debug, Default)]
pub struct EditionBuilder {
    entries: Vec<CatalogueEntry>,
    problems: Vec<RowProblem>,
    last_listed: BTreeMap<Sheet, u32>,
}

impl EditionBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates and adds one row.
    pub fn push(&mut self, raw: &RawRow, source_row: u32) {
        self.check_numbering(raw, source_row);
        match validate_row(raw, source_row) {
            Ok(entry) => self.entries.push(entry),
            Err(problems) => self.problems.extend(problems),
        }
    }

    /// Records a problem the reader found outside any row's fields (e.g. a bad layout).
    pub fn reject(&mut self, problem: RowProblem) {
        self.problems.push(problem);
    }

    /// Every entry in source order, or every problem if there is any.
    pub fn finish(self) -> Result<Vec<CatalogueEntry>, Vec<RowProblem>> {
        if self.problems.is_empty() {
            Ok(self.entries)
        } else {
            Err(self.problems)
        }
    }

    fn check_numbering(&mut self, raw: &RawRow, source_row: u32) {
        let sheet_name = normalize_cell_text(&raw.sheet);
        let (Some(sheet), Ok(number)) = (
            Sheet::from_official_name(&sheet_name),
            parse_entry_number(&normalize_cell_text(&raw.no)),
        ) else {
            return; // validate_row reports both
        };
        let last = self.last_listed.entry(sheet).or_insert(0);
        let reason = match number {
            EntryNumber::Listed(found) => {
                let expected = *last + 1;
                // continue from what the row says, so a single gap is reported once
                *last = found;
                (found != expected).then_some(Problem::OutOfSequence { expected, found })
            }
            EntryNumber::SameAs(found) => {
                (found > *last).then_some(Problem::SameAsUnlisted { found, last: *last })
            }
        };
        if let Some(reason) = reason {
            self.problems.push(RowProblem {
                sheet: sheet_name,
                row: source_row,
                column: Field::Number,
                reason,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{DrugKind, InsuranceClass, StandardAmount};
    use chrono::NaiveDate;
    use rust_decimal_macros::dec;

    fn negotiated() -> RawRow {
        RawRow {
            sheet: "协议西药".into(),
            class_code: "XA02BC".into(),
            class_name: "质子泵抑制剂".into(),
            ab: "乙".into(),
            no: "1".into(),
            name: "注射用艾普拉唑钠".into(),
            payment_standard: "63.00元(10mg/支)".into(),
            remark: "限：  1.预防重症患者应激性溃疡出\n血；  2.消化性溃疡出血。".into(),
            validity: "2024年1月1日至\n2025年12月31日".into(),
            ..RawRow::default()
        }
    }

    fn regular() -> RawRow {
        RawRow {
            sheet: "西药部分".into(),
            class_code: "XA01".into(),
            class_name: "口腔科制剂".into(),
            ab: "甲".into(),
            no: "1".into(),
            name: "复方硼砂".into(),
            dosage_form: "外用液体剂".into(),
            ..RawRow::default()
        }
    }

    fn problems(raw: &RawRow) -> Vec<(Field, Problem)> {
        validate_row(raw, 7)
            .expect_err("row should be refused")
            .into_iter()
            .map(|p| {
                assert_eq!(p.row, 7);
                (p.column, p.reason)
            })
            .collect()
    }

    #[test]
    fn accepts_a_negotiated_row() {
        let entry = validate_row(&negotiated(), 7).expect("valid row");
        assert_eq!(entry.sheet, Sheet::NegotiatedWestern);
        assert_eq!(entry.category, Category::Negotiated);
        assert_eq!(entry.kind, DrugKind::Western);
        assert_eq!(entry.insurance_class, InsuranceClass::B);
        assert_eq!(entry.number, EntryNumber::Listed(1));
        assert_eq!(entry.source_row, 7);
        assert_eq!(entry.dosage_form, None);
        assert_eq!(
            entry.restriction.as_deref(),
            Some("限：  1.预防重症患者应激性溃疡出血；  2.消化性溃疡出血。")
        );
        assert_eq!(
            entry.payment_standards[0].amount,
            StandardAmount::Published {
                amount: dec!(63.00)
            }
        );
        let validity = entry.validity.expect("negotiated entries have a validity");
        assert_eq!(
            validity.end,
            NaiveDate::from_ymd_opt(2025, 12, 31).expect("date")
        );
    }

    #[test]
    fn accepts_a_regular_row_without_standard_or_validity() {
        let entry = validate_row(&regular(), 5).expect("valid row");
        assert_eq!(entry.category, Category::Regular);
        assert!(entry.payment_standards.is_empty());
        assert_eq!(entry.validity, None);
        assert_eq!(entry.dosage_form.as_deref(), Some("外用液体剂"));
    }

    #[test]
    fn reads_an_optional_insurance_drug_code() {
        let raw = RawRow {
            med_list_codg: "XA01AAP052A001010100676".into(),
            ..regular()
        };
        let entry = validate_row(&raw, 5).expect("valid row");
        assert_eq!(
            entry.med_list_codg.as_deref(),
            Some("XA01AAP052A001010100676")
        );
        let raw = RawRow {
            med_list_codg: "XA01-1".into(),
            ..regular()
        };
        assert_eq!(
            problems(&raw),
            vec![(
                Field::MedListCodg,
                Problem::Cell(CellError::MedListCode {
                    found: "XA01-1".into()
                })
            )]
        );
    }

    #[test]
    fn negotiated_rows_need_a_standard_and_a_validity() {
        // rule C3
        let raw = RawRow {
            payment_standard: String::new(),
            validity: " ".into(),
            ..negotiated()
        };
        assert_eq!(
            problems(&raw),
            vec![
                (Field::PaymentStandard, Problem::Required),
                (Field::Validity, Problem::Required)
            ]
        );
    }

    #[test]
    fn regular_rows_must_not_carry_a_standard_or_validity() {
        // rule C3
        let raw = RawRow {
            payment_standard: "*".into(),
            validity: "2024年1月1日至2025年12月31日".into(),
            ..regular()
        };
        let not_allowed = Problem::NotAllowed {
            category: Category::Regular,
        };
        assert_eq!(
            problems(&raw),
            vec![
                (Field::PaymentStandard, not_allowed.clone()),
                (Field::Validity, not_allowed)
            ]
        );
    }

    #[test]
    fn collects_every_problem_of_a_row() {
        let raw = RawRow {
            class_code: "X1".into(),
            class_name: String::new(),
            ab: "丙".into(),
            no: "★8".into(),
            name: String::new(),
            payment_standard: "63.00(10mg/支)".into(),
            validity: "2024年1月1日".into(),
            ..negotiated()
        };
        let columns: Vec<Field> = problems(&raw)
            .into_iter()
            .map(|(column, _)| column)
            .collect();
        assert_eq!(
            columns,
            vec![
                Field::ClassCode,
                Field::ClassName,
                Field::InsuranceClass,
                Field::Number,
                Field::Name,
                Field::PaymentStandard,
                Field::Validity,
            ]
        );
    }

    #[test]
    fn an_unknown_sheet_is_reported_with_the_rest() {
        let raw = RawRow {
            sheet: "中药饮片".into(),
            ab: String::new(),
            ..regular()
        };
        assert_eq!(
            problems(&raw),
            vec![
                (
                    Field::Sheet,
                    Problem::UnknownSheet {
                        found: "中药饮片".into()
                    }
                ),
                (Field::InsuranceClass, Problem::Required),
            ]
        );
    }

    #[test]
    fn class_code_kind_must_match_the_sheet() {
        // rule C3: a 中成药 code in the 西药 table is a transcription error
        let raw = RawRow {
            class_code: "ZA01A".into(),
            ..regular()
        };
        assert_eq!(
            problems(&raw),
            vec![(
                Field::ClassCode,
                Problem::KindMismatch {
                    sheet: Sheet::Western,
                    code: "ZA01A".into()
                }
            )]
        );
    }

    #[test]
    fn bid_rows_take_their_kind_from_the_class_code() {
        let raw = RawRow {
            sheet: "竞价药品部分".into(),
            class_code: "ZA01A".into(),
            ..negotiated()
        };
        let entry = validate_row(&raw, 3).expect("valid row");
        assert_eq!(entry.kind, DrugKind::ChinesePatent);
        assert_eq!(entry.category, Category::CompetitiveBid);
    }

    #[test]
    fn problems_render_with_their_position() {
        let raw = RawRow {
            ab: "丙".into(),
            ..regular()
        };
        let problem = &validate_row(&raw, 12).expect_err("bad class")[0];
        assert_eq!(
            problem.to_string(),
            r#"西药部分 row 12, column ab: expected 甲 or 乙, found "丙""#
        );
        let json = serde_json::to_value(problem).expect("serialises");
        assert_eq!(json["column"], "ab");
        assert_eq!(json["reason"], r#"expected 甲 or 乙, found "丙""#);
    }

    fn numbered(sheet: &str, no: &str) -> RawRow {
        RawRow {
            sheet: sheet.into(),
            no: no.into(),
            ..regular()
        }
    }

    #[test]
    fn builder_accepts_consecutive_numbers_and_stars_per_sheet() {
        let mut builder = EditionBuilder::new();
        for (row, no) in ["1", "2", "★(1)", "3", "★（3）"].into_iter().enumerate() {
            builder.push(&numbered("西药部分", no), row as u32 + 3);
        }
        // another sheet starts again at 1
        builder.push(
            &RawRow {
                class_code: "ZA01A".into(),
                ..numbered("中成药部分", "1")
            },
            3,
        );
        let entries = builder.finish().expect("valid edition");
        assert_eq!(entries.len(), 6);
        assert_eq!(entries[2].number, EntryNumber::SameAs(1));
    }

    #[test]
    fn builder_reports_a_gap_once_and_a_star_ahead_of_its_number() {
        let mut builder = EditionBuilder::new();
        for (row, no) in ["1", "3", "4", "★(5)"].into_iter().enumerate() {
            builder.push(&numbered("西药部分", no), row as u32 + 3);
        }
        let problems = builder.finish().expect_err("bad numbering");
        assert_eq!(
            problems,
            vec![
                RowProblem {
                    sheet: "西药部分".into(),
                    row: 4,
                    column: Field::Number,
                    reason: Problem::OutOfSequence {
                        expected: 2,
                        found: 3
                    },
                },
                RowProblem {
                    sheet: "西药部分".into(),
                    row: 6,
                    column: Field::Number,
                    reason: Problem::SameAsUnlisted { found: 5, last: 4 },
                },
            ]
        );
    }

    #[test]
    fn builder_returns_no_entries_when_any_row_is_bad() {
        let mut builder = EditionBuilder::new();
        builder.push(&numbered("西药部分", "1"), 3);
        builder.push(
            &RawRow {
                ab: String::new(),
                ..numbered("西药部分", "2")
            },
            4,
        );
        builder.push(&numbered("西药部分", "3"), 5);
        let problems = builder.finish().expect_err("one bad row");
        assert_eq!(
            problems.len(),
            1,
            "a bad cell must not cascade into numbering problems"
        );
        assert_eq!(
            (problems[0].row, problems[0].column),
            (4, Field::InsuranceClass)
        );
    }

    #[test]
    fn builder_keeps_rejections_from_the_reader() {
        let mut builder = EditionBuilder::new();
        builder.push(&regular(), 3);
        builder.reject(RowProblem {
            sheet: "西药部分".into(),
            row: 9,
            column: Field::Layout,
            reason: Problem::Layout("unexpected content in E9".into()),
        });
        assert_eq!(builder.finish().expect_err("rejected").len(), 1);
    }

    #[test]
    fn raw_rows_read_missing_json_keys_as_empty_cells() {
        let raw: RawRow = serde_json::from_str(r#"{"sheet":"西药部分","no":"1"}"#).expect("parses");
        assert_eq!(raw.name, "");
        assert!(serde_json::from_str::<RawRow>(r#"{"sheet":"西药部分","nmae":"x"}"#).is_err());
    }
}
