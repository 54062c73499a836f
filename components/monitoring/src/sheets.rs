//! A report as a table, written as CSV or as an xlsx workbook: the national field names as the
//! header (what a provincial platform imports), and in the workbook a first row of Chinese
//! labels for the officer who opens it.

use api::{ApiError, ApiResult, ErrorCode, Reply};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// One cell: text, or an amount (written as a number in a workbook, exactly as stored in CSV).
pub enum Cell {
    Text(String),
    Amount(Decimal),
}

/// A report's rows under its columns: `(national field name, Chinese label)`.
pub struct Table {
    pub columns: Vec<(&'static str, &'static str)>,
    pub rows: Vec<Vec<Cell>>,
}

fn unwritable(reason: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::ReportUnwritable, format!("the report could not be written: {reason}"))
}

impl Table {
    /// RFC 4180 CSV, UTF-8 with a byte-order mark so that spreadsheet programs read the Chinese
    /// names right.
    pub fn csv(&self, file_name: &str) -> ApiResult<Reply> {
        let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
        writer.write_record(self.columns.iter().map(|(name, _)| *name)).map_err(unwritable)?;
        for row in &self.rows {
            writer.write_record(row.iter().map(|cell| match cell {
                Cell::Text(text) => text.clone(),
                Cell::Amount(amount) => amount.to_string(),
            })).map_err(unwritable)?;
        }
        let body = writer.into_inner().map_err(unwritable)?;
        Ok(Reply::bytes("text/csv; charset=utf-8", body).download(format!("{file_name}.csv")))
    }

    /// An xlsx workbook of one sheet: the Chinese labels, the national field names, the rows.
    pub fn xlsx(&self, file_name: &str, sheet: &str) -> ApiResult<Reply> {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let worksheet = workbook.add_worksheet();
        worksheet.set_name(sheet).map_err(unwritable)?;
        for (column, (name, label)) in self.columns.iter().enumerate() {
            let column = column as u16;
            worksheet.write_string(0, column, *label).map_err(unwritable)?;
            worksheet.write_string(1, column, *name).map_err(unwritable)?;
        }
        for (n, row) in self.rows.iter().enumerate() {
            let at = n as u32 + 2;
            for (column, cell) in row.iter().enumerate() {
                let column = column as u16;
                match cell {
                    Cell::Text(text) => worksheet.write_string(at, column, text),
                    // amounts are yuan with 2 places: exact in a double
                    Cell::Amount(amount) => worksheet.write_number(at, column, amount.to_f64().unwrap_or_default()),
                }
                .map_err(unwritable)?;
            }
        }
        let body = workbook.save_to_buffer().map_err(unwritable)?;
        Ok(Reply::bytes("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body).download(format!("{file_name}.xlsx")))
    }
}
