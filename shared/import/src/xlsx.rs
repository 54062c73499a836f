//! The official workbook: five sheets, each a title row, a header row, then class headings
//! (code in column A, name further right by level) and data rows under them.
//!
//! The transcription lays the columns out on a fixed grid per sheet family (found by reading
//! every row of the 2024 workbook: every data row of a sheet uses the same columns). Rather
//! than guess columns from the content, the reader checks that the header row is the official
//! one and then reads the fixed positions; anything outside them is reported, never dropped.

use calamine::{Data, Range, Reader, Xlsx};
use rules::catalogue::{
    CatalogueEntry, EditionBuilder, Field, Problem, RawRow, RowProblem, Sheet, normalize_cell_text,
};
use std::io::Cursor;

use crate::{ImportError, finish, row_number};

/// Where a sheet family keeps its columns (0-based, column A = 0).
struct Layout {
    /// Class headings put their name in one of these columns, further right for deeper levels.
    class_name_columns: std::ops::RangeInclusive<u32>,
    /// The data columns, with the header each must carry in the header row (`None`: the
    /// official layout leaves it blank, as it does above 甲/乙).
    columns: &'static [(Field, u32, Option<&'static str>)],
    /// Headers of the columns that belong to class headings.
    heading_headers: &'static [(Field, u32, &'static str)],
}

const TITLE_ROW: u32 = 0;
const HEADER_ROW: u32 = 1;
const CLASS_CODE_COLUMN: u32 = 0;

const WESTERN: Layout = Layout {
    class_name_columns: 1..=10,
    columns: &[
        (Field::InsuranceClass, 11, None),
        (Field::Number, 12, Some("编号")),
        (Field::Name, 13, Some("药品名称")),
        (Field::DosageForm, 15, Some("剂型")),
        (Field::Remark, 16, Some("备注")),
    ],
    heading_headers: &[
        (Field::ClassCode, 0, "药品分类代码"),
        (Field::ClassName, 3, "药品分类"),
    ],
};

/// 中成药部分 is the regular grid without a dosage-form column: a 中成药 name includes its form.
const CHINESE_PATENT: Layout = Layout {
    class_name_columns: 1..=10,
    columns: &[
        (Field::InsuranceClass, 11, None),
        (Field::Number, 12, Some("编号")),
        (Field::Name, 13, Some("药品名称")),
        (Field::Remark, 16, Some("备注")),
    ],
    heading_headers: &[
        (Field::ClassCode, 0, "药品分类代码"),
        (Field::ClassName, 3, "药品分类"),
    ],
};

const NEGOTIATED: Layout = Layout {
    class_name_columns: 1..=7,
    columns: &[
        (Field::InsuranceClass, 8, None),
        (Field::Number, 10, Some("编号")),
        (Field::Name, 12, Some("药品名称")),
        (Field::PaymentStandard, 14, Some("医保支付标准")),
        (Field::Remark, 17, Some("备注")),
        (Field::Validity, 18, Some("协议有效期")),
    ],
    heading_headers: &[
        (Field::ClassCode, 0, "药品分类代码"),
        (Field::ClassName, 1, "药品分类"),
    ],
};

/// The bid table is the negotiated grid; its last column is the standard's validity rather
/// than an agreement period.
const COMPETITIVE_BID: Layout = Layout {
    class_name_columns: 1..=7,
    columns: &[
        (Field::InsuranceClass, 8, None),
        (Field::Number, 10, Some("编号")),
        (Field::Name, 12, Some("药品名称")),
        (Field::PaymentStandard, 14, Some("医保支付标准")),
        (Field::Remark, 17, Some("备注")),
        (Field::Validity, 18, Some("支付标准有效期")),
    ],
    heading_headers: &[
        (Field::ClassCode, 0, "药品分类代码"),
        (Field::ClassName, 1, "药品分类"),
    ],
};

fn layout(sheet: Sheet) -> &'static Layout {
    match sheet {
        Sheet::Western => &WESTERN,
        Sheet::ChinesePatent => &CHINESE_PATENT,
        Sheet::NegotiatedWestern | Sheet::NegotiatedChinesePatent => &NEGOTIATED,
        Sheet::CompetitiveBid => &COMPETITIVE_BID,
    }
}

/// Reads the official workbook from memory. All five sheets must be there and no other.
pub fn from_xlsx(bytes: &[u8]) -> Result<Vec<CatalogueEntry>, ImportError> {
    let unreadable = |e: calamine::XlsxError| ImportError::Unreadable {
        format: "xlsx",
        reason: e.to_string(),
    };
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let names = workbook.sheet_names();
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| Sheet::from_official_name(n).is_none())
        .collect();
    let missing: Vec<&str> = Sheet::ALL
        .iter()
        .map(|s| s.official_name())
        .filter(|official| !names.iter().any(|n| n == official))
        .collect();
    if !unknown.is_empty() || !missing.is_empty() {
        return Err(ImportError::Layout(format!(
            "sheets: missing {missing:?}, unknown {unknown:?}"
        )));
    }

    let mut builder = EditionBuilder::new();
    // workbook order, so entries come out in the order the edition prints them
    for name in names {
        let Some(sheet) = Sheet::from_official_name(&name) else {
            continue;
        };
        let range = workbook.worksheet_range(&name).map_err(unreadable)?;
        read_sheet(sheet, &range, &mut builder);
    }
    finish(builder)
}

fn read_sheet(sheet: Sheet, range: &Range<Data>, builder: &mut EditionBuilder) {
    let layout = layout(sheet);
    let name = sheet.official_name();
    let problem = |row: u32, column: Field, reason: String| RowProblem {
        sheet: name.to_owned(),
        row: row + 1,
        column,
        reason: Problem::Layout(reason),
    };
    let Some((last_row, last_column)) = range.end() else {
        builder.reject(problem(
            TITLE_ROW,
            Field::Layout,
            "the sheet is empty".into(),
        ));
        return;
    };

    // The header row must be the official one, or the fixed columns would read the wrong data.
    let header_columns = layout
        .heading_headers
        .iter()
        .map(|&(field, column, header)| (field, column, Some(header)))
        .chain(
            layout
                .columns
                .iter()
                .copied(),
        );
    for (field, column, expected) in header_columns {
        let found = text(range, HEADER_ROW, column).unwrap_or_default();
        let expected = expected.unwrap_or("");
        if found != expected {
            let at = address(HEADER_ROW, column);
            builder.reject(problem(
                HEADER_ROW,
                field,
                format!("expected header {expected:?} in {at}, found {found:?}"),
            ));
        }
    }

    let mut heading: Option<(String, String)> = None;
    for row in HEADER_ROW + 1..=last_row {
        let mut cells = Vec::new();
        for column in 0..=last_column {
            match text(range, row, column) {
                Ok(value) if value.is_empty() => {}
                Ok(value) => cells.push((column, value)),
                Err(reason) => builder.reject(problem(row, field_at(layout, column), reason)),
            }
        }
        if cells.is_empty() {
            continue; // spacer rows carry nothing
        }
        let source_row = row_number(row + 1);
        if let Some((_, code)) = cells
            .iter()
            .find(|(column, _)| *column == CLASS_CODE_COLUMN)
        {
            // A class heading: its code and name apply to the data rows below it.
            let mut class_name = None;
            for (column, value) in &cells {
                if layout.class_name_columns.contains(column) && class_name.is_none() {
                    class_name = Some(value.clone());
                } else if *column != CLASS_CODE_COLUMN {
                    builder.reject(unexpected(name, source_row, *column, value));
                }
            }
            if class_name.is_none() {
                builder.reject(RowProblem {
                    sheet: name.to_owned(),
                    row: source_row,
                    column: Field::ClassName,
                    reason: Problem::Required,
                });
            }
            heading = Some((code.clone(), class_name.unwrap_or_default()));
            continue;
        }

        // A data row: it belongs to the nearest heading above (none: the class is missing,
        // which validation reports).
        let (class_code, class_name) = heading.clone().unwrap_or_default();
        let mut raw = RawRow {
            sheet: name.to_owned(),
            class_code,
            class_name,
            ..RawRow::default()
        };
        for (column, value) in cells {
            match layout.columns.iter().find(|(_, c, _)| *c == column) {
                Some((field, _, _)) => {
                    if let Some(cell) = raw.cell_mut(*field) {
                        *cell = value;
                    }
                }
                None => builder.reject(unexpected(name, source_row, column, &value)),
            }
        }
        builder.push(&raw, source_row);
    }
}

fn unexpected(sheet: &str, row: u32, column: u32, value: &str) -> RowProblem {
    RowProblem {
        sheet: sheet.to_owned(),
        row,
        column: Field::Layout,
        reason: Problem::Layout(format!(
            "unexpected content {value:?} in {}",
            address(row - 1, column)
        )),
    }
}

fn field_at(layout: &Layout, column: u32) -> Field {
    layout
        .columns
        .iter()
        .find(|(_, c, _)| *c == column)
        .map_or(Field::Layout, |(field, _, _)| *field)
}

/// A cell as text, normalised. Numbers are written the way the edition prints them: the
/// transcription stores 编号 as a float, and `12.0` is entry `12`.
fn text(range: &Range<Data>, row: u32, column: u32) -> Result<String, String> {
    let at = || address(row, column);
    match range.get_value((row, column)) {
        None | Some(Data::Empty) => Ok(String::new()),
        Some(Data::String(s)) => Ok(normalize_cell_text(s)),
        Some(Data::Int(i)) => Ok(i.to_string()),
        // 2^53: beyond it a float no longer holds every integer, so print it as it is
        Some(Data::Float(f)) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
            Ok(format!("{f:.0}"))
        }
        Some(Data::Float(f)) => Ok(f.to_string()),
        Some(Data::Error(e)) => Err(format!("cell {} holds the spreadsheet error {e}", at())),
        Some(other) => Err(format!(
            "cell {} holds {other:?}, expected text or a number",
            at()
        )),
    }
}

/// The spreadsheet address of a 0-based cell, e.g. (6, 14) is `O7`.
fn address(row: u32, column: u32) -> String {
    let mut letters = Vec::new();
    let mut n = column + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect::<String>() + &(row + 1).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_cells_like_a_spreadsheet() {
        assert_eq!(address(0, 0), "A1");
        assert_eq!(address(6, 14), "O7");
        assert_eq!(address(1, 25), "Z2");
        assert_eq!(address(1, 26), "AA2");
        assert_eq!(address(9, 27), "AB10");
    }

    #[test]
    fn bytes_that_are_not_a_workbook_are_unreadable() {
        assert!(matches!(
            from_xlsx(b"not a zip"),
            Err(ImportError::Unreadable { format: "xlsx", .. })
        ));
    }
}
