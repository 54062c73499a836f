//! Pure domain rules of the negotiated-drug system.
//!
//! Everything here is a plain function over plain types: no I/O, no clock, no spin-sdk.
//! Rules cite `domain-rules.md` by number (`// rule S8`) so code, tests and issues meet.

pub mod catalogue;
pub mod filing;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod identity;
pub mod money;
pub mod monitoring;
pub mod plan;
pub mod prescription;
pub mod registry;
pub mod role;
pub mod settlement;
pub mod time;
