//! The catalogue as every component reads it. The catalogue component writes editions and
//! regional lists; filing, prescription and settlement ask the same questions of them (is this
//! drug covered here today, on which lists, at which standard), so the read side lives here:
//!
//! - [`cache::CatalogueCache`]: the in-instance copy of the catalogue log and edition indexes,
//!   validated by one key read per request;
//! - [`index::EditionIndex`]: one edition by code (and, with the `search` feature, by name);
//! - [`coverage`]: the answer to "is this drug payable in this region on this date".

pub mod cache;
pub mod coverage;
pub mod index;

pub use cache::{CatalogueCache, Found, InForce};
pub use coverage::{Basis, Coverage, Lists};
pub use index::EditionIndex;
