//! The `filing` component: patients' drug-eligibility filings (用药资格备案, rules E1–E7, I1–I4,
//! C9): application, the responsible physician's recommendation, the insurance office's
//! confirmation, the year of validity with reassessments, and the queries the institution, the
//! patient, the pharmacy, prescription and settlement ask of them.
//!
//! Routes live under `/api/filings/`; every endpoint and the roles allowed to call it are
//! declared in [`ROUTES`]. Object-level checks (a patient sees only their own filings, an office
//! only its institution's) are in the handlers.

mod filings;
mod queries;

use api::{ApiResult, Ctx, Reply, Role, Route};
use http::Method;

const COMPONENT: &str = "filing";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Status,
    StoreCheck,
    Apply,
    Check,
    Queue,
    OfPerson,
    OfPharmacy,
    Get,
    History,
    Act,
}

/// Every role that may read a filing it is party to (the handlers check which filing).
const READERS: &[Role] = &[Role::Patient, Role::Physician, Role::HospitalOffice, Role::Pharmacist, Role::Agency, Role::Admin];

/// Every endpoint of this component, with the roles that may call it.
pub static ROUTES: &[Route<Endpoint>] = &[
    Route::new(Method::GET, "/api/filings/status", &[Role::Public], Endpoint::Status),
    Route::new(Method::GET, "/api/filings/status/store", &[Role::Agency, Role::Admin], Endpoint::StoreCheck),
    Route::new(Method::POST, "/api/filings", &[Role::Patient, Role::HospitalOffice], Endpoint::Apply),
    Route::new(Method::GET, "/api/filings", &[Role::Patient, Role::Agency, Role::Admin], Endpoint::OfPerson),
    Route::new(Method::GET, "/api/filings/check", &[Role::Pharmacist, Role::Physician, Role::HospitalOffice, Role::Agency, Role::Admin], Endpoint::Check),
    Route::new(Method::GET, "/api/filings/queue", &[Role::Physician, Role::HospitalOffice], Endpoint::Queue),
    Route::new(Method::GET, "/api/filings/pharmacy", &[Role::Pharmacist], Endpoint::OfPharmacy),
    Route::new(Method::GET, "/api/filings/{id}", READERS, Endpoint::Get),
    Route::new(Method::GET, "/api/filings/{id}/history", READERS, Endpoint::History),
    Route::new(Method::POST, "/api/filings/{id}/actions", filings::ACTORS, Endpoint::Act),
];

/// Runs one endpoint for a caller the pipeline has already authenticated and authorized.
pub async fn dispatch(endpoint: Endpoint, ctx: Ctx) -> ApiResult<Reply> {
    match endpoint {
        Endpoint::Status => api::health::status(&ctx, COMPONENT),
        Endpoint::StoreCheck => api::health::store_check(&ctx, COMPONENT).await,
        Endpoint::Apply => filings::apply(&ctx).await,
        Endpoint::Check => queries::check(&ctx).await,
        Endpoint::Queue => queries::queue(&ctx).await,
        Endpoint::OfPerson => queries::of_person(&ctx).await,
        Endpoint::OfPharmacy => queries::of_pharmacy(&ctx).await,
        Endpoint::Get => filings::get(&ctx).await,
        Endpoint::History => filings::history(&ctx).await,
        Endpoint::Act => filings::act(&ctx).await,
    }
}

api::spin_component!(crate::Endpoint, crate::ROUTES, crate::dispatch);
