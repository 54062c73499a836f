//! Catalogue entries and filing applications for tests, in one place so every crate's tests build them the same way.
//! Compiled for this crate's tests and, through the `fixtures` feature, for other crates'
//! dev-dependencies only.

use crate::catalogue::{
    CatalogueEntry, Category, ClassCode, DrugKind, EntryNumber, InsuranceClass, PaymentStandard, Sheet, StandardAmount,
    ValidityPeriod,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

/// A regular 西药 entry (no payment standard, no validity: rule C3).
pub fn regular(name: &str) -> CatalogueEntry {
    CatalogueEntry {
        sheet: Sheet::Western,
        source_row: 3,
        class_code: ClassCode::parse("XA01").expect("valid code"),
        class_name: "口腔科制剂".into(),
        insurance_class: InsuranceClass::A,
        number: EntryNumber::Listed(1),
        med_list_codg: None,
        name: name.into(),
        dosage_form: Some("口服常释剂型".into()),
        payment_standards: Vec::new(),
        restriction: None,
        validity: None,
        category: Category::Regular,
        kind: DrugKind::Western,
    }
}

/// A negotiated 西药 entry with one standard for `20mg/片`, agreed 2024-01-01 to 2025-12-31.
pub fn negotiated(name: &str, amount: StandardAmount) -> CatalogueEntry {
    CatalogueEntry {
        sheet: Sheet::NegotiatedWestern,
        source_row: 9,
        class_code: ClassCode::parse("XA02BC").expect("valid code"),
        class_name: "质子泵抑制剂".into(),
        insurance_class: InsuranceClass::B,
        number: EntryNumber::Listed(3),
        med_list_codg: None,
        name: name.into(),
        dosage_form: None,
        payment_standards: vec![PaymentStandard { specification: Some("20mg/片".into()), per: None, terms: None, amount }],
        restriction: Some("限十二指肠溃疡。".into()),
        validity: Some(ValidityPeriod { start: date(2024, 1, 1), end: date(2025, 12, 31) }),
        category: Category::Negotiated,
        kind: DrugKind::Western,
    }
}

/// An application for a filing by P4201000001 at H42010000001 with physician D420100001.
pub fn application() -> crate::filing::Application {
    crate::filing::Application {
        scheme: crate::filing::Scheme::SeparatePayment,
        psn_no: "P4201000001".into(),
        code: "nrdl-0123456789ab".into(),
        fixmedins_code: "H42010000001".into(),
        dr_code: "D420100001".into(),
        diagnoses: vec!["C34.901".into()],
        records: vec!["病理报告 2025-0001".into()],
        treatment_plan: "一线治疗，每日一次".into(),
        patient_age: Some(45),
        line_of_therapy: Some(1),
        days_per_prescription: None,
        plan_quantity: None,
        named_physicians: vec![],
    }
}

/// A published amount in yuan.
pub fn published(amount: Decimal) -> StandardAmount {
    StandardAmount::Published { amount }
}

/// An employee insured in 420100 with `status`, no assistance category.
pub fn insured(status: crate::registry::BenefitStatus) -> crate::registry::Person {
    crate::registry::Person {
        name: "张三".into(),
        certno_masked: "420102********1234".into(),
        certno_digest: "0".repeat(64),
        psn_cert_type: crate::identity::RESIDENT_ID_CARD.into(),
        insutype: crate::registry::Insutype::EmployeeBasic,
        insured_admdvs: "420100".into(),
        benefit_status: status,
        assistance_category: None,
    }
}
