//! The flat CSV: one header line, one line per row of any sheet.

use rules::catalogue::{CatalogueEntry, EditionBuilder, Field, Problem, RawRow, RowProblem};

use crate::{ImportError, finish, row_number};

/// Reads the flat CSV (UTF-8, with or without a byte-order mark). Rows are numbered by the
/// line they start on, the header being line 1.
pub fn from_csv(bytes: &[u8]) -> Result<Vec<CatalogueEntry>, ImportError> {
    // Excel writes a BOM when it saves CSV as UTF-8; it is not part of the first header.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| ImportError::Unreadable {
            format: "CSV",
            reason: e.to_string(),
        })?
        .clone();
    check_columns(&headers)?;

    let headers = headers.into_byte_record();
    let mut builder = EditionBuilder::new();
    let mut lines = LineCounter::new(bytes);
    let mut record = csv::ByteRecord::new();
    loop {
        // Bytes, not strings, so a record with bad UTF-8 still reads and is reported below
        // with its line, instead of stopping the reader.
        let start = reader.position().byte();
        let line = lines.line_at(start);
        let problem = |reason: String| RowProblem {
            sheet: String::new(),
            row: row_number(line),
            column: Field::Layout,
            reason: Problem::Layout(reason),
        };
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => match record.deserialize::<RawRow>(Some(&headers)) {
                Ok(row) => builder.push(&row, row_number(line)),
                Err(error) => builder.reject(problem(error.to_string())),
            },
            // reading from memory, the only errors are about the record itself (its length);
            // the reader has moved past it, so go on and report every bad record
            Err(error) => builder.reject(problem(error.to_string())),
        }
    }
    finish(builder)
}

/// Line numbers from byte offsets. The csv crate's own line count is one short on CRLF files
/// (the 2024 CSV is one), so lines are counted here: 1 plus the `\n`s before the offset. Offsets
/// only grow while reading, so each byte is scanned once.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the first byte at or after `byte` that is not a line end: the reader stops
    /// between `\r` and `\n`, and skips blank lines, so a record starts after them.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut target = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while self
            .bytes
            .get(target)
            .is_some_and(|b| matches!(b, b'\r' | b'\n'))
        {
            target += 1;
        }
        if target > self.offset {
            self.line += self.bytes[self.offset..target]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.offset = target;
        }
        self.line
    }
}

fn check_columns(headers: &csv::StringRecord) -> Result<(), ImportError> {
    // the official flat table's columns are the layout's fields, by key; `med_list_codg` may follow
    let known = |h: &str| Field::COLUMNS.iter().chain(&Field::OPTIONAL_COLUMNS).any(|f| f.key() == h);
    let missing: Vec<&str> =
        Field::COLUMNS.iter().map(|f| f.key()).filter(|c| !headers.iter().any(|h| h == *c)).collect();
    let unknown: Vec<&str> = headers.iter().filter(|h| !known(h)).collect();
    if missing.is_empty() && unknown.is_empty() {
        Ok(())
    } else {
        Err(ImportError::Layout(format!(
            "CSV columns: missing {missing:?}, unknown {unknown:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "sheet,class_code,class_name,ab,no,name,dosage_form,payment_standard,remark,validity\n";

    #[test]
    fn numbers_rows_by_line_with_crlf_line_ends() {
        let csv = format!("{HEADER}西药部分,XA01,口腔科制剂,甲,1,复方硼砂,外用液体剂,,,\n西药部分,XA01,口腔科制剂,乙,2,糠甾醇,,,,\n")
            .replace('\n', "\r\n");
        let entries = from_csv(csv.as_bytes()).expect("valid CSV");
        assert_eq!(
            entries.iter().map(|e| e.source_row).collect::<Vec<_>>(),
            vec![2, 3]
        );
    }

    #[test]
    fn numbers_a_row_after_a_multi_line_cell_by_its_first_line() {
        let csv = format!(
            "{HEADER}西药部分,XA01,口腔科制剂,甲,1,复方硼砂,外用液体剂,,\"限\n二线\",\n西药部分,XA01,口腔科制剂,乙,2,糠甾醇,,,,\n"
        );
        let entries = from_csv(csv.as_bytes()).expect("valid CSV");
        assert_eq!(
            entries.iter().map(|e| e.source_row).collect::<Vec<_>>(),
            vec![2, 4]
        );
        assert_eq!(entries[0].restriction.as_deref(), Some("限二线"));
    }

    #[test]
    fn reads_rows_and_numbers_them_by_line() {
        let csv = format!(
            "\u{feff}{HEADER}西药部分,XA01,口腔科制剂,甲,1,复方硼砂,外用液体剂,,,\n\
             协议西药,XA02BC,质子泵抑制剂,乙,1,安奈拉唑钠肠溶片,,*,限十二指肠溃疡。,2024年1月1日至2025年12月31日\n"
        );
        let entries = from_csv(csv.as_bytes()).expect("valid CSV");
        assert_eq!(
            entries.iter().map(|e| e.source_row).collect::<Vec<_>>(),
            vec![2, 3]
        );
    }

    #[test]
    fn a_record_of_the_wrong_length_is_a_row_problem() {
        let csv = format!("{HEADER}西药部分,XA01,口腔科制剂,甲,1\n");
        let Err(ImportError::Rows(problems)) = from_csv(csv.as_bytes()) else {
            panic!("short record");
        };
        assert_eq!((problems[0].row, problems[0].column), (2, Field::Layout));
    }

    #[test]
    fn unexpected_columns_are_a_layout_error() {
        let csv = "sheet,class_code,name\n";
        let Err(ImportError::Layout(message)) = from_csv(csv.as_bytes()) else {
            panic!("columns are missing");
        };
        assert!(message.contains("\"ab\""), "{message}");
        let csv = HEADER.replace("validity", "validity,price");
        assert!(
            matches!(from_csv(csv.as_bytes()), Err(ImportError::Layout(m)) if m.contains("price"))
        );
    }

    #[test]
    fn invalid_utf8_is_reported_not_panicked_on() {
        let mut csv = HEADER.as_bytes().to_vec();
        csv.extend_from_slice(b"\xff\xfe,XA01,a,b,1,c,,,,\n");
        assert!(matches!(from_csv(&csv), Err(ImportError::Rows(_))));
    }
}
