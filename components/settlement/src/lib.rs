//! The `settlement` component: pre-settlement, settlement and reversal (rules S1–S8) of
//! dispensed prescriptions by their pharmacies and of outpatient visits by institutions, an
//! agency's manual reimbursement of a visit paid in full (S4), the
//! queries for patients, parties and agencies (the month reports are `monitoring`'s), and each region's settlement policy.
//!
//! Routes live under `/api/settlements/`; every endpoint and the roles allowed to call it are
//! declared in [`ROUTES`]. Object-level checks (a pharmacy settles only what it dispensed, a
//! patient sees only their own settlements) are in `settle.rs`.

mod policy;
mod reports;
mod settle;
mod watch;

use api::{ApiResult, Ctx, Reply, Role, Route};
use http::Method;

const COMPONENT: &str = "settlement";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Status,
    StoreCheck,
    PreSettle,
    Settle,
    Get,
    Reverse,
    Unfinished,
    Void,
    PublishPolicy,
    GetPolicy,
    OfPerson,
    PartyDay,
}

/// Who settles: a pharmacy (its pharmacists) a dispensed prescription, an institution (its
/// insurance office) an outpatient visit.
const PARTIES: &[Role] = &[Role::Pharmacist, Role::HospitalOffice];
/// Who records a settlement: the parties, and an agency a manual reimbursement (零星报销, S4).
const SETTLERS: &[Role] = &[Role::Pharmacist, Role::HospitalOffice, Role::Agency];
/// A settlement request prices at most a few lines: a few kilobytes.
const SETTLEMENT_BODY_LIMIT: usize = 32 * 1024;

/// Every endpoint of this component, with the roles that may call it.
pub static ROUTES: &[Route<Endpoint>] = &[
    Route::new(Method::GET, "/api/settlements/status", &[Role::Public], Endpoint::Status),
    Route::new(Method::GET, "/api/settlements/status/store", &[Role::Agency, Role::Admin], Endpoint::StoreCheck),
    Route::new(Method::POST, "/api/settlements/pre-settlement", PARTIES, Endpoint::PreSettle).body_limit(SETTLEMENT_BODY_LIMIT),
    Route::new(Method::POST, "/api/settlements", SETTLERS, Endpoint::Settle).body_limit(SETTLEMENT_BODY_LIMIT),
    Route::new(Method::GET, "/api/settlements", &[Role::Patient, Role::Agency, Role::Admin], Endpoint::OfPerson),
    Route::new(Method::GET, "/api/settlements/day", PARTIES, Endpoint::PartyDay),
    Route::new(Method::PUT, "/api/settlements/regions/{admdvs}/policy", &[Role::Agency, Role::Admin], Endpoint::PublishPolicy),
    Route::new(Method::GET, "/api/settlements/regions/{admdvs}/policy", &[Role::Public], Endpoint::GetPolicy),
    Route::new(Method::GET, "/api/settlements/{setl_id}", &[Role::Pharmacist, Role::HospitalOffice, Role::Patient, Role::Agency, Role::Admin], Endpoint::Get),
    Route::new(Method::POST, "/api/settlements/{setl_id}/reversal", SETTLERS, Endpoint::Reverse),
    Route::new(Method::GET, "/api/settlements/unfinished", &[Role::Agency, Role::Admin], Endpoint::Unfinished),
    Route::new(Method::POST, "/api/settlements/{setl_id}/void", &[Role::Agency, Role::Admin], Endpoint::Void),
];

/// Runs one endpoint for a caller the pipeline has already authenticated and authorized.
pub async fn dispatch(endpoint: Endpoint, ctx: Ctx) -> ApiResult<Reply> {
    match endpoint {
        Endpoint::Status => api::health::status(&ctx, COMPONENT),
        Endpoint::StoreCheck => api::health::store_check(&ctx, COMPONENT).await,
        Endpoint::PreSettle => settle::pre_settle(&ctx).await,
        Endpoint::Settle => settle::settle_purchase(&ctx).await,
        Endpoint::Get => settle::get(&ctx).await,
        Endpoint::Reverse => settle::reverse(&ctx).await,
        Endpoint::Unfinished => reports::unfinished(&ctx).await,
        Endpoint::Void => settle::void(&ctx).await,
        Endpoint::PublishPolicy => policy::publish(&ctx).await,
        Endpoint::GetPolicy => policy::get(&ctx).await,
        Endpoint::OfPerson => reports::of_person(&ctx).await,
        Endpoint::PartyDay => reports::party_day_list(&ctx).await,
    }
}

api::spin_component!(crate::Endpoint, crate::ROUTES, crate::dispatch);
