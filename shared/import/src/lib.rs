//! Catalogue import: the official layouts of an NRDL edition, read from memory (the component
//! gets the file as a request body), into [`CatalogueEntry`]s — all of them, or every problem.
//!
//! Three formats, one validation: each reader only turns its format into
//! [`rules::catalogue::RawRow`]s and hands them to [`EditionBuilder`], so xlsx, CSV and JSON
//! accept and refuse exactly the same rows.
//!
//! - [`from_xlsx`]: the five-sheet workbook (西药部分, 中成药部分, 协议西药, 协议中成药,
//!   竞价药品部分), rows numbered as in the worksheet;
//! - [`from_csv`]: the flat table (`sheet,class_code,class_name,ab,no,name,dosage_form,
//!   payment_standard,remark,validity`, optionally `med_list_codg`), rows numbered by line;
//! - [`from_json`]: an array of objects with the same keys, rows numbered from 1.

mod flat;
mod xlsx;

use rules::catalogue::{CatalogueEntry, EditionBuilder, RawRow, RowProblem};

pub use flat::from_csv;
pub use xlsx::from_xlsx;

/// Why an edition was not imported. Nothing is imported when any of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The bytes are not a file of the format at all.
    #[error("not a readable {format} file: {reason}")]
    Unreadable {
        format: &'static str,
        reason: String,
    },
    /// The file reads, but its structure is not the official layout (sheets, columns).
    #[error("not the official layout: {0}")]
    Layout(String),
    /// The layout is right but rows are bad: every problem found, in file order.
    #[error("{} problem(s) in the rows; nothing was imported", .0.len())]
    Rows(Vec<RowProblem>),
}

/// Reads a JSON array of flat rows (the CSV's columns as keys).
pub fn from_json(bytes: &[u8]) -> Result<Vec<CatalogueEntry>, ImportError> {
    let rows: Vec<RawRow> = serde_json::from_slice(bytes).map_err(|e| ImportError::Unreadable {
        format: "JSON",
        reason: e.to_string(),
    })?;
    let mut builder = EditionBuilder::new();
    for (index, row) in rows.iter().enumerate() {
        builder.push(row, row_number(index + 1));
    }
    finish(builder)
}

/// Finishes an edition; an edition without a single row is refused like a bad one, so an
/// empty upload can never replace a catalogue.
fn finish(builder: EditionBuilder) -> Result<Vec<CatalogueEntry>, ImportError> {
    match builder.finish() {
        Ok(entries) if entries.is_empty() => {
            Err(ImportError::Layout("the file has no catalogue rows".into()))
        }
        Ok(entries) => Ok(entries),
        Err(problems) => Err(ImportError::Rows(problems)),
    }
}

/// Row numbers are `u32` in [`RowProblem`]; a file with more rows than that is far beyond any
/// edition (3,826 rows in 2024), so saturating keeps the message meaningful without a panic.
fn row_number(n: impl TryInto<u32>) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::catalogue::{Field, Problem};

    #[test]
    fn json_rows_are_validated_like_any_other() {
        let json = r#"[
            {"sheet":"西药部分","class_code":"XA01","class_name":"口腔科制剂","ab":"甲","no":"1","name":"复方硼砂","dosage_form":"外用液体剂"},
            {"sheet":"西药部分","class_code":"XA01","class_name":"口腔科制剂","ab":"丙","no":"2","name":"糠甾醇"}
        ]"#;
        let Err(ImportError::Rows(problems)) = from_json(json.as_bytes()) else {
            panic!("the second row is bad");
        };
        assert_eq!(problems.len(), 1);
        assert_eq!(
            (problems[0].row, problems[0].column),
            (2, Field::InsuranceClass)
        );
        assert!(matches!(problems[0].reason, Problem::Cell(_)));
    }

    #[test]
    fn json_that_is_not_an_array_of_rows_is_unreadable() {
        assert!(matches!(
            from_json(b"{}"),
            Err(ImportError::Unreadable { format: "JSON", .. })
        ));
        assert!(matches!(
            from_json(br#"[{"nmae":"x"}]"#),
            Err(ImportError::Unreadable { .. })
        ));
    }

    #[test]
    fn an_empty_edition_is_refused() {
        assert!(matches!(from_json(b"[]"), Err(ImportError::Layout(_))));
    }
}
