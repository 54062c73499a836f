//! Scenario tests through the test host and real HTTP. One test binary, so each component is
//! compiled once per run.

mod alerts;
mod auth;
mod catalogue;
mod contention;
mod faults;
mod filing;
mod foundation;
mod landing;
mod monitoring;
mod openapi;
mod outpatient;
mod prescription;
mod readme;
mod regional;
mod registry;
mod settlement;
