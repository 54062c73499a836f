//! The 2024 edition fixture (`shared/data`, beside the repository) imported whole.

use import::{from_csv, from_json, from_xlsx};
use rules::catalogue::{
    CatalogueEntry, Category, DrugKind, PublicAmount, RawRow, Sheet, StandardAmount,
};
use std::path::PathBuf;
use std::time::Instant;

fn data(name: &str) -> Vec<u8> {
    // the data lives in the shared folder beside the repository: <repo>/../shared/data
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", path.display()))
}

fn xlsx_entries() -> Vec<CatalogueEntry> {
    from_xlsx(&data("nrdl-2024.xlsx")).expect("the 2024 workbook imports")
}

fn is_confidential(entry: &CatalogueEntry) -> bool {
    entry
        .payment_standards
        .iter()
        .any(|s| matches!(s.amount, StandardAmount::Confidential { .. }))
}

#[test]
fn the_2024_workbook_imports_with_the_expected_counts() {
    let entries = xlsx_entries();
    assert_eq!(entries.len(), 3_826);
    let count = |sheet: Sheet| entries.iter().filter(|e| e.sheet == sheet).count();
    assert_eq!(count(Sheet::Western), 1_957);
    assert_eq!(count(Sheet::ChinesePatent), 1_444);
    assert_eq!(count(Sheet::NegotiatedWestern), 346);
    assert_eq!(count(Sheet::NegotiatedChinesePatent), 58);
    assert_eq!(count(Sheet::CompetitiveBid), 21);

    let negotiated: Vec<&CatalogueEntry> = entries
        .iter()
        .filter(|e| e.category == Category::Negotiated)
        .collect();
    assert_eq!(negotiated.len(), 404);
    // rule C6: `*` appears only among negotiated entries, and always alone in its cell
    assert_eq!(
        negotiated.iter().filter(|e| is_confidential(e)).count(),
        252
    );
    assert_eq!(entries.iter().filter(|e| is_confidential(e)).count(), 252);
    assert!(
        entries
            .iter()
            .filter(|e| is_confidential(e))
            .all(|e| e.payment_standards.len() == 1)
    );

    // rule C3: negotiated and bid entries carry standards and a validity, regular ones neither
    for entry in &entries {
        let priced = entry.category.has_payment_standard();
        assert_eq!(
            !entry.payment_standards.is_empty(),
            priced,
            "row {}",
            entry.source_row
        );
        assert_eq!(entry.validity.is_some(), priced, "row {}", entry.source_row);
    }
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.kind == DrugKind::Western)
            .count(),
        1_957 + 346 + 21
    );
    let standards: usize = entries.iter().map(|e| e.payment_standards.len()).sum();
    // counted independently of this parser: 425 priced cells, of which 375 hold one
    // standard, 37 two, 8 three and 5 four (separators inside brackets do not count)
    assert_eq!(standards, 375 + 37 * 2 + 8 * 3 + 5 * 4);
}

#[test]
fn the_workbook_keeps_the_official_text_of_a_known_row() {
    let entries = xlsx_entries();
    let first = entries
        .iter()
        .find(|e| e.sheet == Sheet::NegotiatedWestern)
        .expect("negotiated rows");
    assert_eq!(first.source_row, 7);
    assert_eq!(first.class_code.as_str(), "XA02BC");
    assert_eq!(first.class_name, "质子泵抑制剂");
    assert_eq!(first.name, "注射用艾普拉唑钠");
    assert_eq!(
        first.restriction.as_deref(),
        Some("限：  1.预防重症患者应激性溃疡出血；  2.消化性溃疡出血。")
    );
    let public = first.public_view();
    assert_eq!(
        public.payment_standards[0].specification.as_deref(),
        Some("10mg/支")
    );
    assert_eq!(
        public.payment_standards[0].amount,
        PublicAmount::Published {
            amount: rust_decimal::Decimal::new(6300, 2)
        }
    );
}

/// Entries as the source's position aside: the same row read from xlsx and CSV sits on
/// different line numbers.
fn without_position(mut entries: Vec<CatalogueEntry>) -> Vec<CatalogueEntry> {
    for entry in &mut entries {
        entry.source_row = 0;
    }
    entries
}

#[test]
fn csv_import_agrees_with_xlsx_entry_for_entry() {
    let from_workbook = without_position(xlsx_entries());
    let from_flat =
        without_position(from_csv(&data("nrdl-2024-flat.csv")).expect("the 2024 CSV imports"));
    assert_eq!(from_workbook.len(), from_flat.len());
    for (index, (x, c)) in from_workbook.iter().zip(&from_flat).enumerate() {
        assert_eq!(x, c, "entry {index} differs");
    }
}

#[test]
fn json_import_agrees_with_csv() {
    let csv = data("nrdl-2024-flat.csv");
    let rows: Vec<RawRow> = csv::Reader::from_reader(csv.as_slice())
        .deserialize()
        .collect::<Result<_, _>>()
        .expect("the CSV reads as raw rows");
    let json = serde_json::to_vec(&rows).expect("rows serialise");
    let from_json = without_position(from_json(&json).expect("the JSON imports"));
    assert_eq!(
        from_json,
        without_position(from_csv(&csv).expect("the CSV imports"))
    );
}

#[test]
fn importing_is_deterministic() {
    let bytes = data("nrdl-2024.xlsx");
    let first = from_xlsx(&bytes).expect("imports");
    let second = from_xlsx(&bytes).expect("imports");
    assert_eq!(first, second);
    let json = |entries: &[CatalogueEntry]| serde_json::to_string(entries).expect("serialises");
    assert_eq!(json(&first), json(&second));
}

/// `cargo test --release -p import --test edition_2024 -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check: run on demand in release"]
fn measure_parse_time() {
    let xlsx = data("nrdl-2024.xlsx");
    let csv = data("nrdl-2024-flat.csv");
    for _ in 0..2 {
        let started = Instant::now();
        let n = from_xlsx(&xlsx).expect("imports").len();
        println!("xlsx: {n} entries in {:?}", started.elapsed());
        let started = Instant::now();
        let n = from_csv(&csv).expect("imports").len();
        println!("csv:  {n} entries in {:?}", started.elapsed());
    }
}

#[test]
fn every_2024_entry_reads_back_from_its_stored_form() {
    // the chunks hold entries as MessagePack arrays: every real cell shape (decimals, dates,
    // tagged standards, absent fields) must come back exactly, and every code be found
    let entries = xlsx_entries();
    let stored = store::catalogue::StoredEdition::new("nrdl-2024", &entries, |_| String::new()).expect("stores");
    for (position, entry) in entries.iter().enumerate() {
        assert_eq!(&stored.entry(position).expect("reads back"), entry, "entry {position}");
        assert_eq!(stored.directory.position(&entry.code()), Some(position), "code of entry {position}");
    }
}
