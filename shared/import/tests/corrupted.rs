//! Bad files are refused whole, with every bad cell named by sheet, row, column and reason.

use chrono::NaiveDate;
use import::{ImportError, from_csv, from_xlsx};
use rules::catalogue::{CellError, Field, PaymentCellError, Problem, RowProblem};
use rust_xlsxwriter::Workbook;
use std::path::PathBuf;

/// One data row of a test sheet: (column, text) pairs, 0-based columns as in the official grid.
type Cells = Vec<(u16, &'static str)>;

/// A five-sheet workbook in the official layout with one heading and one data row per sheet;
/// `data_row` gives each sheet's data row (worksheet row 4).
fn workbook(data_row: impl Fn(&str) -> Cells) -> Vec<u8> {
    workbook_with_headers(data_row, |_, header| header)
}

/// [`workbook`] with each sheet's header row passed through `header_of` first.
fn workbook_with_headers(
    data_row: impl Fn(&str) -> Cells,
    header_of: impl Fn(&str, Cells) -> Cells,
) -> Vec<u8> {
    let regular_header: Cells = vec![
        (0, "药品分类代码"),
        (3, "药品分类"),
        (12, "编号"),
        (13, "药品名称"),
        (15, "剂型"),
        (16, "备注"),
    ];
    let priced_header = |validity: &'static str| -> Cells {
        vec![
            (0, "药品分\n类代码"),
            (1, "药品分类"),
            (10, "编号"),
            (12, "药品名称"),
            (14, "医保支付标准"),
            (17, "备注"),
            (18, validity),
        ]
    };
    let sheets: Vec<(&str, Cells, Cells)> = vec![
        (
            "西药部分",
            regular_header.clone(),
            vec![(0, "XA01"), (5, "口腔科制剂")],
        ),
        (
            "中成药部分",
            regular_header
                .into_iter()
                .filter(|(c, _)| *c != 15)
                .collect(),
            vec![(0, "ZA01A"), (7, "辛温解表剂")],
        ),
        (
            "协议西药",
            priced_header("协议有效期"),
            vec![(0, "XA02BC"), (6, "质子泵抑制剂")],
        ),
        (
            "协议中成药",
            priced_header("协议有效期"),
            vec![(0, "ZA01B"), (4, "辛凉解表剂")],
        ),
        (
            "竞价药品部分",
            priced_header("支付标准有效期"),
            vec![(0, "XA10BD"), (6, "口服复方降糖药")],
        ),
    ];
    let mut book = Workbook::new();
    for (name, header, heading) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(name).expect("valid sheet name");
        sheet.write_string(0, 0, name).expect("title");
        for (row, cells) in [
            (1, header_of(name, header)),
            (2, heading),
            (3, data_row(name)),
        ] {
            for (column, text) in cells {
                // numbers are stored as numbers, as in the official workbook
                let written = match text.parse::<f64>() {
                    Ok(number) => sheet.write_number(row, column, number).map(|_| ()),
                    Err(_) => sheet.write_string(row, column, text).map(|_| ()),
                };
                written.expect("cell written");
            }
        }
    }
    book.save_to_buffer().expect("workbook saved")
}

fn good_row(sheet: &str) -> Cells {
    match sheet {
        "西药部分" => vec![(11, "甲"), (12, "1"), (13, "复方硼砂"), (15, "外用液体剂")],
        "中成药部分" => vec![(11, "甲"), (12, "1"), (13, "九味羌活丸(颗粒)")],
        "协议西药" => vec![
            (8, "乙"),
            (10, "1"),
            (12, "注射用艾普拉唑钠"),
            (14, "63.00元(10mg/支)"),
            (17, "限：  1.预防重症患者应激性溃疡出\n血。"),
            (18, "2024年1月1日至\n2025年12月31日"),
        ],
        "协议中成药" => vec![
            (8, "乙"),
            (10, "1"),
            (12, "牛黄清感胶囊"),
            (14, "*"),
            (18, "2025年1月1日至2026年12月31日"),
        ],
        _ => vec![
            (8, "乙"),
            (10, "1"),
            (12, "西格列汀二甲双胍缓释片"),
            (14, "3.49元(50mg/片)；5.93元(100mg/片)"),
            (18, "2024年1月1日至2025年12月31日"),
        ],
    }
}

fn with(mut cells: Cells, column: u16, text: &'static str) -> Cells {
    cells.retain(|(c, _)| *c != column);
    cells.push((column, text));
    cells
}

fn problem(sheet: &str, row: u32, column: Field, reason: Problem) -> RowProblem {
    RowProblem {
        sheet: sheet.into(),
        row,
        column,
        reason,
    }
}

#[test]
fn a_small_workbook_in_the_official_layout_imports() {
    let entries = from_xlsx(&workbook(good_row)).expect("valid workbook");
    assert_eq!(entries.len(), 5);
    assert!(entries.iter().all(|e| e.source_row == 4));
    assert_eq!(
        entries[2].restriction.as_deref(),
        Some("限：  1.预防重症患者应激性溃疡出血。")
    );
}

#[test]
fn every_bad_cell_is_reported_and_nothing_is_imported() {
    let bytes = workbook(|sheet| match sheet {
        "西药部分" => with(good_row(sheet), 11, "丙"),
        // content where the layout has no column
        "中成药部分" => with(good_row(sheet), 4, "多余"),
        "协议西药" => with(
            with(good_row(sheet), 14, "63.00(10mg/支)"),
            18,
            "2025年1月1日至2024年1月1日",
        ),
        "协议中成药" => with(good_row(sheet), 14, ""),
        _ => with(good_row(sheet), 10, "★(2)"),
    });
    let Err(ImportError::Rows(problems)) = from_xlsx(&bytes) else {
        panic!("a corrupted workbook must be refused");
    };
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
    assert_eq!(
        problems,
        vec![
            problem(
                "西药部分",
                4,
                Field::InsuranceClass,
                Problem::Cell(CellError::InsuranceClass {
                    found: "丙".into()
                })
            ),
            problem(
                "中成药部分",
                4,
                Field::Layout,
                Problem::Layout(r#"unexpected content "多余" in E4"#.into())
            ),
            problem(
                "协议西药",
                4,
                Field::PaymentStandard,
                Problem::PaymentStandard(PaymentCellError::MissingYuan {
                    part: 1,
                    text: "63.00(10mg/支)".into()
                }),
            ),
            problem(
                "协议西药",
                4,
                Field::Validity,
                Problem::Cell(CellError::ValidityReversed {
                    start: date(2025, 1, 1),
                    end: date(2024, 1, 1)
                }),
            ),
            problem("协议中成药", 4, Field::PaymentStandard, Problem::Required),
            problem(
                "竞价药品部分",
                4,
                Field::Number,
                Problem::SameAsUnlisted { found: 2, last: 0 }
            ),
        ]
    );
}

#[test]
fn a_changed_header_is_reported_with_the_rows() {
    let bytes = workbook_with_headers(good_row, |sheet, header| match sheet {
        "协议西药" => with(header, 14, "支付标准"),
        _ => header,
    });
    let Err(ImportError::Rows(problems)) = from_xlsx(&bytes) else {
        panic!("a changed header must be refused");
    };
    assert_eq!(
        problems,
        vec![problem(
            "协议西药",
            2,
            Field::PaymentStandard,
            Problem::Layout(r#"expected header "医保支付标准" in O2, found "支付标准""#.into()),
        )]
    );
}

#[test]
fn a_workbook_without_all_five_sheets_is_refused() {
    let mut book = Workbook::new();
    book.add_worksheet()
        .set_name("西药部分")
        .expect("valid name");
    let bytes = book.save_to_buffer().expect("saved");
    let Err(ImportError::Layout(message)) = from_xlsx(&bytes) else {
        panic!("sheets are missing");
    };
    assert!(message.contains("协议西药"), "{message}");
}

/// The real flat CSV with two cells broken in memory: exactly those two come back.
#[test]
fn a_corrupted_csv_reports_its_bad_lines_only() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nrdl-2024-flat.csv");
    let csv = std::fs::read_to_string(&path).expect("fixture readable");
    let broken = csv
        .replacen(",63.00元(10mg/支),", ",63.00元(10mg/支,", 1)
        .replacen(
            "西药部分,XA01,口腔科制剂,乙,3,克霉唑",
            "西药部分,XA01,口腔科制剂,丁,3,克霉唑",
            1,
        );
    assert_ne!(
        broken, csv,
        "the fixture changed; pick other cells to break"
    );
    let line_of = |needle: &str| {
        broken
            .lines()
            .position(|l| l.contains(needle))
            .expect("line present") as u32
            + 1
    };
    let Err(ImportError::Rows(problems)) = from_csv(broken.as_bytes()) else {
        panic!("a corrupted CSV must be refused");
    };
    assert_eq!(
        problems,
        vec![
            problem(
                "西药部分",
                line_of("丁,3,克霉唑"),
                Field::InsuranceClass,
                Problem::Cell(CellError::InsuranceClass {
                    found: "丁".into()
                }),
            ),
            problem(
                "协议西药",
                line_of("63.00元(10mg/支,"),
                Field::PaymentStandard,
                Problem::PaymentStandard(PaymentCellError::UnbalancedBrackets {
                    cell: "63.00元(10mg/支".into()
                }),
            ),
        ]
    );
}
