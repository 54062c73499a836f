//! Parsers for the small cells of an edition row: 甲/乙, entry number, class code, validity.
//! Each takes the cell text after [`super::normalize_cell_text`] and says exactly what is wrong.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

use super::entry::{DrugKind, InsuranceClass, ValidityPeriod};

/// What is wrong with one cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    #[error("expected 甲 or 乙, found {found:?}")]
    InsuranceClass { found: String },
    #[error("expected an entry number such as 12 or ★(12), found {found:?}")]
    EntryNumber { found: String },
    #[error("expected a class code such as XA02BC or ZA01A, found {found:?}")]
    ClassCode { found: String },
    #[error("expected a period such as 2024年1月1日至2025年12月31日, found {found:?}")]
    ValidityShape { found: String },
    #[error("{found:?} is not a date of the form 2024年1月1日: {reason}")]
    Date { found: String, reason: String },
    #[error("period ends ({end}) before it starts ({start})")]
    ValidityReversed { start: NaiveDate, end: NaiveDate },
    #[error("expected an insurance drug code (letters and digits), found {found:?}")]
    MedListCode { found: String },
}

/// 甲 or 乙 (the cell has no header in the official layout; it sits left of 编号).
pub fn parse_insurance_class(cell: &str) -> Result<InsuranceClass, CellError> {
    match cell {
        "甲" => Ok(InsuranceClass::A),
        "乙" => Ok(InsuranceClass::B),
        _ => Err(CellError::InsuranceClass {
            found: cell.to_owned(),
        }),
    }
}

/// The 编号 of an entry within its sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryNumber {
    /// A plain number: the next drug of the sheet.
    Listed(u32),
    /// `★(n)`: the drug already listed as `n`, in another dosage form or preparation. It adds
    /// a row, not a drug, so numbering does not advance.
    SameAs(u32),
}

impl EntryNumber {
    /// The number printed in the cell, with or without the star.
    pub fn value(self) -> u32 {
        match self {
            EntryNumber::Listed(n) | EntryNumber::SameAs(n) => n,
        }
    }
}

/// `12`, `★(8)` or `★（8）`: the transcription uses both half- and full-width brackets after
/// the star (3 rows of the 2024 edition use full-width).
pub fn parse_entry_number(cell: &str) -> Result<EntryNumber, CellError> {
    let error = || CellError::EntryNumber {
        found: cell.to_owned(),
    };
    let positive = |digits: &str| match digits.parse::<u32>() {
        // `parse` alone would accept a leading `+`
        Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(error()),
    };
    match cell.strip_prefix('★') {
        None => positive(cell).map(EntryNumber::Listed),
        Some(rest) => {
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .or_else(|| rest.strip_prefix('（').and_then(|r| r.strip_suffix('）')))
                .ok_or_else(error)?;
            positive(inner).map(EntryNumber::SameAs)
        }
    }
}

/// A 药品分类代码: `X` (西药) or `Z` (中成药), a letter for the main group, then optionally two
/// digits and one or two letters for the sub-groups (`XA`, `XA02`, `XA02B`, `XA02BC`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClassCode(String);

impl ClassCode {
    pub fn parse(cell: &str) -> Result<ClassCode, CellError> {
        let bytes = cell.as_bytes();
        let upper = |b: &u8| b.is_ascii_uppercase();
        let well_formed = matches!(bytes.first(), Some(b'X' | b'Z'))
            && bytes.get(1).is_some_and(upper)
            && match bytes.len() {
                2 => true,
                4..=6 => bytes[2..4].iter().all(u8::is_ascii_digit) && bytes[4..].iter().all(upper),
                _ => false,
            };
        if well_formed {
            Ok(ClassCode(cell.to_owned()))
        } else {
            Err(CellError::ClassCode {
                found: cell.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The kind the code's first letter names.
    pub fn kind(&self) -> DrugKind {
        // `parse` admits only X and Z
        if self.0.starts_with('X') {
            DrugKind::Western
        } else {
            DrugKind::ChinesePatent
        }
    }
}

impl TryFrom<String> for ClassCode {
    type Error = CellError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        ClassCode::parse(&code)
    }
}

impl From<ClassCode> for String {
    fn from(code: ClassCode) -> String {
        code.0
    }
}

impl fmt::Display for ClassCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Same as [`ClassCode::parse`], named like the other cell parsers.
pub fn parse_class_code(cell: &str) -> Result<ClassCode, CellError> {
    ClassCode::parse(cell)
}

/// A 医保药品代码 (`med_list_codg`), e.g. `XA02BCA211A001010104026`. The 2024 transcription has
/// none; other sources may. Only its alphabet is checked: the code's inner structure differs
/// between 西药, 中成药 and 饮片 and is the national platform's to define.
pub fn parse_med_list_codg(cell: &str) -> Result<String, CellError> {
    if !cell.is_empty() && cell.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(cell.to_owned())
    } else {
        Err(CellError::MedListCode {
            found: cell.to_owned(),
        })
    }
}

/// `2024年1月1日至2025年12月31日`, the only shape in the 2024 edition (three distinct
/// periods: 2024-01-01–2025-12-31, 2025-01-01–2026-12-31, 2025-01-01–2025-12-31). Month and
/// day may or may not be zero-padded.
pub fn parse_validity(cell: &str) -> Result<ValidityPeriod, CellError> {
    let (start, end) = cell
        .split_once('至')
        .ok_or_else(|| CellError::ValidityShape {
            found: cell.to_owned(),
        })?;
    let start = parse_chinese_date(start)?;
    let end = parse_chinese_date(end)?;
    if end < start {
        return Err(CellError::ValidityReversed { start, end });
    }
    Ok(ValidityPeriod { start, end })
}

fn parse_chinese_date(text: &str) -> Result<NaiveDate, CellError> {
    NaiveDate::parse_from_str(text.trim(), "%Y年%m月%d日").map_err(|e| CellError::Date {
        found: text.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    #[test]
    fn reads_jia_and_yi() {
        assert_eq!(parse_insurance_class("甲"), Ok(InsuranceClass::A));
        assert_eq!(parse_insurance_class("乙"), Ok(InsuranceClass::B));
    }

    #[test]
    fn rejects_anything_but_jia_or_yi() {
        for bad in ["", "丙", "甲类", "A", "甲乙"] {
            assert_eq!(
                parse_insurance_class(bad),
                Err(CellError::InsuranceClass { found: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn reads_plain_and_starred_numbers() {
        assert_eq!(parse_entry_number("1"), Ok(EntryNumber::Listed(1)));
        assert_eq!(parse_entry_number("1398"), Ok(EntryNumber::Listed(1398)));
        assert_eq!(parse_entry_number("★(8)"), Ok(EntryNumber::SameAs(8)));
        assert_eq!(parse_entry_number("★（312）"), Ok(EntryNumber::SameAs(312)));
        assert_eq!(EntryNumber::SameAs(8).value(), 8);
    }

    #[test]
    fn rejects_malformed_numbers() {
        for bad in [
            "",
            "0",
            "-1",
            "+3",
            "1.5",
            "★8",
            "★(8",
            "★(8）",
            "★()",
            "★(0)",
            "a",
            "★(+8)",
            "99999999999",
        ] {
            assert_eq!(
                parse_entry_number(bad),
                Err(CellError::EntryNumber { found: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn reads_class_codes_of_every_level() {
        for good in ["XA", "ZI", "XA02", "XA02B", "XA02BC", "XN06AX", "ZA99"] {
            assert_eq!(
                ClassCode::parse(good).map(|c| c.to_string()),
                Ok(good.to_owned())
            );
        }
        assert_eq!(
            parse_class_code("XA02BC").map(|c| c.kind()),
            Ok(DrugKind::Western)
        );
        assert_eq!(
            parse_class_code("ZA01A").map(|c| c.kind()),
            Ok(DrugKind::ChinesePatent)
        );
    }

    #[test]
    fn rejects_malformed_class_codes() {
        for bad in [
            "",
            "X",
            "YA01",
            "xa01",
            "XA0",
            "XA0B",
            "XA02BCD",
            "XA02B1",
            "XAA2",
            "消化道",
        ] {
            assert_eq!(
                ClassCode::parse(bad),
                Err(CellError::ClassCode { found: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn class_code_deserialisation_validates() {
        assert!(serde_json::from_str::<ClassCode>(r#""XA02""#).is_ok());
        assert!(serde_json::from_str::<ClassCode>(r#""QQ""#).is_err());
    }

    #[test]
    fn checks_the_alphabet_of_insurance_drug_codes() {
        assert_eq!(
            parse_med_list_codg("XA02BCA211A001010104026"),
            Ok("XA02BCA211A001010104026".into())
        );
        for bad in ["", "XA02 BC", "XA-02", "编码"] {
            assert_eq!(
                parse_med_list_codg(bad),
                Err(CellError::MedListCode { found: bad.into() })
            );
        }
    }

    #[test]
    fn reads_every_validity_in_the_2024_edition() {
        assert_eq!(
            parse_validity("2024年1月1日至2025年12月31日"),
            Ok(ValidityPeriod {
                start: date(2024, 1, 1),
                end: date(2025, 12, 31)
            })
        );
        assert_eq!(
            parse_validity("2025年1月1日至2026年12月31日"),
            Ok(ValidityPeriod {
                start: date(2025, 1, 1),
                end: date(2026, 12, 31)
            })
        );
        assert_eq!(
            parse_validity("2025年01月01日至2025年12月31日"),
            Ok(ValidityPeriod {
                start: date(2025, 1, 1),
                end: date(2025, 12, 31)
            })
        );
    }

    #[test]
    fn rejects_malformed_validity() {
        assert!(matches!(
            parse_validity("2024年1月1日"),
            Err(CellError::ValidityShape { .. })
        ));
        assert!(matches!(
            parse_validity("2024-01-01至2025-12-31"),
            Err(CellError::Date { .. })
        ));
        assert!(matches!(
            parse_validity("2025年2月30日至2025年12月31日"),
            Err(CellError::Date { .. })
        ));
        assert!(matches!(
            parse_validity("2024年1月1日至"),
            Err(CellError::Date { .. })
        ));
        assert_eq!(
            parse_validity("2025年1月1日至2024年12月31日"),
            Err(CellError::ValidityReversed {
                start: date(2025, 1, 1),
                end: date(2024, 12, 31)
            })
        );
    }

    proptest! {
        #[test]
        fn validity_round_trips_through_its_official_text(
            start in 0i64..20_000, length in 0i64..2_000, pad in any::<bool>()
        ) {
            let base = date(2000, 1, 1);
            let start = base + chrono::Duration::days(start);
            let end = start + chrono::Duration::days(length);
            let text = |d: NaiveDate| if pad {
                d.format("%Y年%m月%d日").to_string()
            } else {
                d.format("%Y年%-m月%-d日").to_string()
            };
            let cell = format!("{}至{}", text(start), text(end));
            prop_assert_eq!(parse_validity(&cell), Ok(ValidityPeriod { start, end }));
        }

        #[test]
        fn numbers_round_trip(n in 1u32..100_000, starred in any::<bool>(), wide in any::<bool>()) {
            let (cell, expected) = match (starred, wide) {
                (false, _) => (n.to_string(), EntryNumber::Listed(n)),
                (true, false) => (format!("★({n})"), EntryNumber::SameAs(n)),
                (true, true) => (format!("★（{n}）"), EntryNumber::SameAs(n)),
            };
            prop_assert_eq!(parse_entry_number(&cell), Ok(expected));
        }
    }
}
