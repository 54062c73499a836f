//! The national drug catalogue (NRDL) as the system holds it: one [`CatalogueEntry`] per row of
//! an edition, and the pure parsers that turn the official layout's cells into those entries
//! (rules C1–C6, C9).
//!
//! The flow an importer follows (the `import` crate does this for xlsx, CSV and JSON):
//! 1. read each data row of the official layout into a [`RawRow`] of cell texts;
//! 2. push it, with its position, into an [`EditionBuilder`], which validates every field and
//!    the numbering across rows and keeps *every* problem as a [`RowProblem`];
//! 3. [`EditionBuilder::finish`] returns all entries or all problems, never a mix: an edition
//!    is imported whole or not at all.
//!
//! Public callers see an entry only through [`CatalogueEntry::public_view`], whose types have
//! no place to hold a confidential payment standard (rule C6).

mod cells;
mod entry;
mod payment;
mod regional;
mod row;
mod text;

pub use cells::{
    CellError, ClassCode, EntryNumber, parse_class_code, parse_entry_number, parse_insurance_class,
    parse_med_list_codg, parse_validity,
};
pub use entry::{
    CatalogueEntry, Category, ConfidentialAmount, DrugKind, InsuranceClass, PaymentStandard,
    PublicAmount, PublicCatalogueEntry, PublicPaymentStandard, Sheet, StandardAmount,
    ValidityPeriod,
};
pub use payment::{PaymentCellError, parse_payment_standards};
pub use regional::{
    AdjustedStandard, AdjustmentReason, EffectiveStandard, ListEntries, ListKind, ListProblem, ListedDrug, NATIONAL_FIELDS,
    LocalRestriction, NationalContext, OutpatientDrug, PatientFacts, Preparation, RegionalListVersion, StandardSource, StructuredRestriction, effective_standards, in_transition,
    is_national_field, transition_end, unpaid_reason, validate_list,
};
pub use row::{EditionBuilder, Field, Problem, RawRow, RowProblem, validate_row};
pub use text::normalize_cell_text;
