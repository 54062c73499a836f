//! Settlement (rules S1–S8): the region's policy as data ([`policy`]) and the one-stop
//! calculation ([`engine`]), both pure. The settlement component loads the policy in force,
//! the catalogue facts and the person's year, calls [`engine::settle`], and reserves the
//! accrual in the store's accumulators (`store::accumulators`).

pub mod engine;
pub mod policy;

pub use engine::{Breakdown, LineCoverage, LineDetail, PersonFacts, SettlementInput, SettlementLine, StandardBasis, Step, Totals, Treatment, caps, settle};
pub use policy::{Assistance, ByLevel, CriticalIllness, SchemeTerms, Segment, SettlementPolicy, Terms};
