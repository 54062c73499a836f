//! The catalogue's domain types: what one edition row means once its cells are parsed.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

use super::cells::{ClassCode, EntryNumber};

/// The three kinds of catalogue entry (rule C3). 中药饮片 are listed separately from the
/// 西药 and 中成药 tables, so no sheet of the 2024 xlsx yields them, but regional and later
/// imports do, and a filing or prescription must be able to name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrugKind {
    /// 西药
    Western,
    /// 中成药
    ChinesePatent,
    /// 中药饮片
    HerbalPieces,
}

/// 甲类 / 乙类: class B drugs make the patient pay a share first (先行自付).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InsuranceClass {
    /// 甲
    A,
    /// 乙
    B,
}

/// Which part of the edition an entry belongs to; negotiated and competitive-bid entries carry
/// payment standards and a validity period (rule C3), regular entries carry neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// the regular 西药 / 中成药 tables
    Regular,
    /// 协议期内谈判药品
    Negotiated,
    /// 竞价药品
    CompetitiveBid,
}

impl Category {
    /// Negotiated and bid drugs are paid against a national standard for a period (rule C3).
    pub fn has_payment_standard(self) -> bool {
        !matches!(self, Category::Regular)
    }
}

/// The five tables of the official layout. The sheet fixes the category, and for all but the
/// bid table also the kind; within a sheet entry numbers run from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Sheet {
    /// 西药部分
    Western,
    /// 中成药部分
    ChinesePatent,
    /// 协议西药
    NegotiatedWestern,
    /// 协议中成药
    NegotiatedChinesePatent,
    /// 竞价药品部分
    CompetitiveBid,
}

impl Sheet {
    /// Every sheet, in the order of the official workbook.
    pub const ALL: [Sheet; 5] = [
        Sheet::Western,
        Sheet::ChinesePatent,
        Sheet::NegotiatedWestern,
        Sheet::NegotiatedChinesePatent,
        Sheet::CompetitiveBid,
    ];

    /// The sheet's official (Chinese) name, as in the workbook and the CSV `sheet` column.
    pub fn official_name(self) -> &'static str {
        match self {
            Sheet::Western => "西药部分",
            Sheet::ChinesePatent => "中成药部分",
            Sheet::NegotiatedWestern => "协议西药",
            Sheet::NegotiatedChinesePatent => "协议中成药",
            Sheet::CompetitiveBid => "竞价药品部分",
        }
    }

    /// The sheet with this official name, if it is one of the five.
    pub fn from_official_name(name: &str) -> Option<Sheet> {
        Sheet::ALL
            .into_iter()
            .find(|sheet| sheet.official_name() == name)
    }

    pub fn category(self) -> Category {
        match self {
            Sheet::Western | Sheet::ChinesePatent => Category::Regular,
            Sheet::NegotiatedWestern | Sheet::NegotiatedChinesePatent => Category::Negotiated,
            Sheet::CompetitiveBid => Category::CompetitiveBid,
        }
    }

    /// The kind every row of the sheet must have; `None` for the bid table, which mixes kinds
    /// (its class codes say which).
    pub fn kind(self) -> Option<DrugKind> {
        match self {
            Sheet::Western | Sheet::NegotiatedWestern => Some(DrugKind::Western),
            Sheet::ChinesePatent | Sheet::NegotiatedChinesePatent => Some(DrugKind::ChinesePatent),
            Sheet::CompetitiveBid => None,
        }
    }
}

impl fmt::Display for Sheet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.official_name())
    }
}

/// The agreement period (协议有效期) of a negotiated drug, or the validity of a bid drug's
/// payment standard; both ends inclusive, as the official text says "至".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ValidityPeriod {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl ValidityPeriod {
    /// Whether the period covers `date` (rule C1: coverage is always asked as of a date).
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start <= date && date <= self.end
    }
}

/// A confidential payment standard's amount (rule C6). It is never in the published edition
/// (which prints `*`), but reaches the system through a confidential channel so settlement can
/// use it. It has no `Display`, its `Debug` is redacted, and the public view has no field that
/// could hold it; read it only in settlement, through [`ConfidentialAmount::for_settlement`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfidentialAmount(Decimal);

impl ConfidentialAmount {
    pub fn new(amount: Decimal) -> Self {
        ConfidentialAmount(amount)
    }

    /// The amount, for settlement only (rule C6).
    pub fn for_settlement(self) -> Decimal {
        self.0
    }
}

impl fmt::Debug for ConfidentialAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Logs and panic messages are public enough to count as a leak (rule C6).
        f.write_str("ConfidentialAmount(*)")
    }
}

/// What the edition says a specification is paid at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StandardAmount {
    /// A published standard in yuan, e.g. `63.00元(10mg/支)`.
    Published { amount: Decimal },
    /// `*` (rule C6). The edition does not carry the amount; `amount` is filled when the
    /// confidential channel supplies it, and is `None` straight after an import.
    Confidential { amount: Option<ConfidentialAmount> },
    /// The cell refers to a note of the official document instead of giving an amount
    /// (`见备注2(…)`): the standard has to be supplied as data from that note.
    SeeNote { note: String },
}

/// One payment standard: an amount for a specification (rule C3, C5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentStandard {
    /// The specification in the official text, e.g. `10mg/支`; `None` for a bare `*`, where
    /// the edition hides the specification together with the amount.
    pub specification: Option<String>,
    /// The pack unit the amount is quoted per, when the cell names it outside the
    /// specification (`479.00元/盒(…)`); otherwise the unit is the specification's own.
    pub per: Option<String>,
    /// Terms of the agreement printed in a second bracket after the specification, e.g.
    /// `协议有效期内,谈判企业负责向购买…的患者免费提供同疗程的索磷布韦片` (the company supplies a
    /// companion drug free). Published text, kept verbatim.
    pub terms: Option<String>,
    pub amount: StandardAmount,
}

/// One row of an edition, parsed and validated.
///
/// This is the internal record: it may hold a confidential amount, so it is serialised only
/// into the store. Anything that answers a public or patient-facing caller renders
/// [`CatalogueEntry::public_view`] instead (rule C6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    pub sheet: Sheet,
    /// Where the row was read: the worksheet row (1-based) for xlsx, the record's line for CSV,
    /// the element's index (1-based) for JSON. For error messages and tracing only.
    pub source_row: u32,
    pub class_code: ClassCode,
    pub class_name: String,
    pub insurance_class: InsuranceClass,
    pub number: EntryNumber,
    /// 医保药品代码, when the source carries it (the 2024 public transcription does not).
    pub med_list_codg: Option<String>,
    pub name: String,
    pub dosage_form: Option<String>,
    /// Empty for regular entries; at least one for negotiated and bid entries (rule C3).
    pub payment_standards: Vec<PaymentStandard>,
    /// The official restriction text (备注, usually 限…), kept verbatim (rule C9).
    pub restriction: Option<String>,
    /// `None` for regular entries; required for negotiated and bid entries (rule C3).
    pub validity: Option<ValidityPeriod>,
    pub category: Category,
    pub kind: DrugKind,
}

impl CatalogueEntry {
    /// The stable code the entry is looked up by (`GET /api/catalogue/drugs/{code}`) and named
    /// by in regional lists, filings and prescriptions: its 医保药品代码 (`med_list_codg`) when
    /// the edition carries one; otherwise `nrdl-` and 12 hex digits of the sha256 of kind,
    /// generic name and dosage form. Those three name a drug across editions (its number and
    /// class may change from one edition to the next, rule C1), so the same drug keeps its code
    /// when a new edition replaces the old one.
    pub fn code(&self) -> String {
        use sha2::{Digest, Sha256};
        if let Some(code) = &self.med_list_codg {
            return code.clone();
        }
        let kind = match self.kind {
            DrugKind::Western => "western",
            DrugKind::ChinesePatent => "chinese_patent",
            DrugKind::HerbalPieces => "herbal_pieces",
        };
        let mut hasher = Sha256::new();
        for part in [kind, &self.name, self.dosage_form.as_deref().unwrap_or("")] {
            hasher.update(part.as_bytes());
            // a separator no cell contains, so ("ab","c") and ("a","bc") differ
            hasher.update([0x1f]);
        }
        let hex: String = hasher.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("nrdl-{hex}")
    }

    /// The entry as public and patient-facing callers may see it (rule C6), borrowing its texts.
    pub fn public_view(&self) -> PublicCatalogueEntry<'_> {
        PublicCatalogueEntry {
            sheet: self.sheet,
            class_code: &self.class_code,
            class_name: &self.class_name,
            insurance_class: self.insurance_class,
            number: self.number,
            med_list_codg: self.med_list_codg.as_deref(),
            name: &self.name,
            dosage_form: self.dosage_form.as_deref(),
            payment_standards: self.payment_standards.iter().map(PublicPaymentStandard::from).collect(),
            restriction: self.restriction.as_deref(),
            validity: self.validity,
            category: self.category,
            kind: self.kind,
        }
    }
}

/// A payment standard as the public may see it: a confidential one shows only that it is
/// confidential, exactly as the published edition prints `*` (rule C6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicPaymentStandard {
    pub specification: Option<String>,
    pub per: Option<String>,
    pub terms: Option<String>,
    pub amount: PublicAmount,
}

/// [`StandardAmount`] without the confidential variant's payload. There is deliberately no
/// conversion back, and no variant that could carry a confidential number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PublicAmount {
    Published { amount: Decimal },
    Confidential,
    SeeNote { note: String },
}

impl From<&PaymentStandard> for PublicPaymentStandard {
    fn from(standard: &PaymentStandard) -> Self {
        let amount = match &standard.amount {
            StandardAmount::Published { amount } => PublicAmount::Published { amount: *amount },
            StandardAmount::Confidential { .. } => PublicAmount::Confidential,
            StandardAmount::SeeNote { note } => PublicAmount::SeeNote { note: note.clone() },
        };
        PublicPaymentStandard {
            specification: standard.specification.clone(),
            per: standard.per.clone(),
            terms: standard.terms.clone(),
            amount,
        }
    }
}

/// [`CatalogueEntry`] for public callers: the same fields less the source position, with
/// public payment standards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicCatalogueEntry<'a> {
    pub sheet: Sheet,
    pub class_code: &'a ClassCode,
    pub class_name: &'a str,
    pub insurance_class: InsuranceClass,
    pub number: EntryNumber,
    pub med_list_codg: Option<&'a str>,
    pub name: &'a str,
    pub dosage_form: Option<&'a str>,
    pub payment_standards: Vec<PublicPaymentStandard>,
    pub restriction: Option<&'a str>,
    pub validity: Option<ValidityPeriod>,
    pub category: Category,
    pub kind: DrugKind,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    use crate::fixtures::date;

    fn entry_with(amount: StandardAmount) -> CatalogueEntry {
        crate::fixtures::negotiated("安奈拉唑钠肠溶片", amount)
    }

    #[test]
    fn public_view_never_carries_a_confidential_amount() {
        // rule C6: even when settlement knows the amount, the public JSON must not show it
        let secret = ConfidentialAmount::new(dec!(1234.56));
        let entry = entry_with(StandardAmount::Confidential {
            amount: Some(secret),
        });
        let public = serde_json::to_string(&entry.public_view()).expect("serialises");
        assert!(!public.contains("1234.56"), "{public}");
        assert!(
            public.contains(r#""amount":{"type":"confidential"}"#),
            "{public}"
        );
    }

    #[test]
    fn public_view_keeps_a_published_amount() {
        let entry = entry_with(StandardAmount::Published {
            amount: dec!(63.00),
        });
        let public = serde_json::to_value(entry.public_view()).expect("serialises");
        assert_eq!(
            public["payment_standards"][0]["amount"],
            serde_json::json!({"type": "published", "amount": "63.00"})
        );
    }

    #[test]
    fn confidential_amount_is_redacted_in_debug_output() {
        // rule C6: a stray `{:?}` in a log must not print the amount
        let entry = entry_with(StandardAmount::Confidential {
            amount: Some(ConfidentialAmount::new(dec!(987.65))),
        });
        assert!(!format!("{entry:?}").contains("987.65"));
    }

    #[test]
    fn settlement_reads_the_confidential_amount() {
        assert_eq!(
            ConfidentialAmount::new(dec!(42.10)).for_settlement(),
            dec!(42.10)
        );
    }

    #[test]
    fn internal_record_round_trips_through_json_for_the_store() {
        let entry = entry_with(StandardAmount::Confidential {
            amount: Some(ConfidentialAmount::new(dec!(12.34))),
        });
        let json = serde_json::to_string(&entry).expect("serialises");
        let back: CatalogueEntry = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, entry);
    }

    #[test]
    fn validity_period_includes_both_ends() {
        let period = ValidityPeriod {
            start: date(2024, 1, 1),
            end: date(2025, 12, 31),
        };
        assert!(period.contains(date(2024, 1, 1)));
        assert!(period.contains(date(2025, 12, 31)));
        assert!(!period.contains(date(2023, 12, 31)));
        assert!(!period.contains(date(2026, 1, 1)));
    }

    #[test]
    fn sheets_fix_category_and_kind() {
        assert_eq!(Sheet::Western.category(), Category::Regular);
        assert_eq!(
            Sheet::NegotiatedChinesePatent.category(),
            Category::Negotiated
        );
        assert_eq!(Sheet::CompetitiveBid.category(), Category::CompetitiveBid);
        assert_eq!(Sheet::ChinesePatent.kind(), Some(DrugKind::ChinesePatent));
        assert_eq!(Sheet::CompetitiveBid.kind(), None);
        assert!(!Category::Regular.has_payment_standard());
        assert!(Category::Negotiated.has_payment_standard());
    }

    #[test]
    fn sheet_names_round_trip() {
        for sheet in Sheet::ALL {
            assert_eq!(
                Sheet::from_official_name(sheet.official_name()),
                Some(sheet)
            );
        }
        assert_eq!(Sheet::from_official_name("中药饮片部分"), None);
    }
}
