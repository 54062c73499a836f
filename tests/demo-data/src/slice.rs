//! The part of the 2024 edition the demo serves, cut out of the flat CSV byte for byte.
//!
//! Which rows: every negotiated and competitive-bid row (what the dual channel is about; those
//! sheets are small), every row of a drug the outpatient table names, and whole classes for
//! searching by class ([`SEARCH_CLASSES`]).
//!
//! How: an edition's numbering must run 1, 2, 3… within each sheet without a gap (that is how
//! [`rules::catalogue::EditionBuilder`] catches a row lost in transcription), and renumbering
//! would change the entries. So a sheet is never thinned, only cut: it is kept from its first
//! row through the end of the last class holding a row the demo needs, and left out when it
//! holds none. The negotiated and bid sheets are kept whole.

use anyhow::{Context as _, ensure};
use rules::catalogue::{CatalogueEntry, Category, Sheet};
use std::collections::BTreeMap;

use crate::names::{Product, normalise};
use crate::table::TableDrug;

/// Classes (their 2-letter, 2-digit group) kept whole, so a search by class finds a full one:
/// 治疗胃酸相关疾病的药物, 全身用抗细菌药, 调节血脂药, 解表剂.
pub const SEARCH_CLASSES: [&str; 4] = ["XA02", "XJ01", "XC10", "ZA01"];

/// The flat CSV split into its header and one byte range per record, each with its line end,
/// so any selection of records concatenates into a valid CSV of the same layout.
pub struct Records<'a> {
    pub header: &'a [u8],
    pub records: Vec<&'a [u8]>,
}

impl<'a> Records<'a> {
    pub fn split(bytes: &'a [u8]) -> anyhow::Result<Records<'a>> {
        let mut reader = csv::Reader::from_reader(bytes);
        reader.byte_headers().context("reading the CSV header")?;
        let mut starts = Vec::new();
        let mut record = csv::ByteRecord::new();
        loop {
            // the reader may stop between a record's `\r` and `\n`; a record starts after both
            let mut start = usize::try_from(reader.position().byte())?;
            while bytes.get(start).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
                start += 1;
            }
            if !reader.read_byte_record(&mut record).context("reading a CSV record")? {
                break;
            }
            starts.push(start);
        }
        let first = starts.first().copied().unwrap_or(bytes.len());
        let ends = starts.iter().skip(1).copied().chain([bytes.len()]);
        let records = starts.iter().zip(ends).map(|(&start, end)| &bytes[start..end]).collect();
        Ok(Records { header: &bytes[..first], records })
    }
}

/// Whether the outpatient table names the entry's drug, in any dosage form.
fn named_by_table(entry: &CatalogueEntry, table: &[TableDrug]) -> bool {
    let product = Product::of(&entry.name, entry.dosage_form.as_deref());
    table.iter().any(|drug| product.is(&normalise(&drug.name)))
}

/// The indices of the edition's entries (in source order) that make the slice.
pub fn select(edition: &[CatalogueEntry], table: &[TableDrug]) -> Vec<usize> {
    let class = |entry: &CatalogueEntry| {
        let code = entry.class_code.as_str();
        code.get(..4).unwrap_or(code).to_owned()
    };
    let needed = |entry: &CatalogueEntry| SEARCH_CLASSES.contains(&class(entry).as_str()) || named_by_table(entry, table);
    // per regular sheet, the class of its last needed row, then the last row of that class
    let mut last_class: BTreeMap<Sheet, String> = BTreeMap::new();
    for entry in edition.iter().filter(|e| e.category == Category::Regular && needed(e)) {
        last_class.insert(entry.sheet, class(entry));
    }
    let mut cut: BTreeMap<Sheet, usize> = BTreeMap::new();
    for (index, entry) in edition.iter().enumerate() {
        if last_class.get(&entry.sheet) == Some(&class(entry)) {
            cut.insert(entry.sheet, index);
        }
    }
    (0..edition.len())
        .filter(|&index| {
            let entry = &edition[index];
            entry.category != Category::Regular || cut.get(&entry.sheet).is_some_and(|&end| index <= end)
        })
        .collect()
}

/// Writes the selected records under the header, then imports the result and checks that it
/// holds exactly the selected entries, unchanged but for their line numbers.
pub fn write(
    records: &Records<'_>,
    edition: &[CatalogueEntry],
    selected: &[usize],
) -> anyhow::Result<(Vec<u8>, Vec<CatalogueEntry>)> {
    ensure!(records.records.len() == edition.len(), "{} CSV records but {} entries", records.records.len(), edition.len());
    let mut csv = records.header.to_vec();
    for &index in selected {
        csv.extend_from_slice(records.records[index]);
    }
    let entries = import::from_csv(&csv).context("the slice does not import")?;
    ensure!(entries.len() == selected.len(), "the slice imports as {} entries, {} were selected", entries.len(), selected.len());
    for (entry, &index) in entries.iter().zip(selected) {
        let original = &edition[index];
        ensure!(
            CatalogueEntry { source_row: original.source_row, ..entry.clone() } == *original,
            "the slice's {} (line {}) differs from the edition's (line {})",
            entry.name,
            entry.source_row,
            original.source_row
        );
    }
    Ok((csv, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "sheet,class_code,class_name,ab,no,name,dosage_form,payment_standard,remark,validity\r\n\
                       西药部分,XA01,口腔科制剂,甲,1,复方硼砂,外用液体剂,,\"限\r\n二线\",\r\n\
                       西药部分,XA02,抗酸药,乙,2,铝碳酸镁,口服常释剂型,,,\r\n\
                       西药部分,XA03,止吐药,乙,3,昂丹司琼,口服常释剂型,,,\r\n\
                       协议西药,XA16,其他,乙,1,麦格司他胶囊,,*,,2024年1月1日至2025年12月31日\r\n";

    #[test]
    fn regular_sheets_are_cut_after_the_last_needed_class_and_the_rest_kept_whole() {
        let edition = import::from_csv(CSV.as_bytes()).expect("valid");
        let records = Records::split(CSV.as_bytes()).expect("splits");
        assert_eq!(records.records.len(), 4);
        assert!(records.records[0].starts_with("西药部分".as_bytes()) && records.records[0].ends_with(b"\r\n"));
        let selected = select(&edition, &[]);
        assert_eq!(selected, vec![0, 1, 3], "XA02 is needed, so XA01 before it stays; XA03 goes");
        let (csv, entries) = write(&records, &edition, &selected).expect("imports");
        assert_eq!(entries.len(), 3);
        assert!(
            String::from_utf8(csv).expect("UTF-8").ends_with(
                "铝碳酸镁,口服常释剂型,,,\r\n协议西药,XA16,其他,乙,1,麦格司他胶囊,,*,,2024年1月1日至2025年12月31日\r\n"
            )
        );
    }
}
