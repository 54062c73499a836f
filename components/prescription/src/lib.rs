//! The `prescription` component: the medical-insurance e-prescription center (医保电子处方中心,
//! rules P1–P8, E5, E6, I2, I4, C1, C2, C9): pre-check, upload, the pharmacist's review and
//! dispensing with traceability codes, revocation, the trace of every step, the patient's
//! voucher, the pharmacy's medication records, and each region's prescription policy.
//!
//! Routes live under `/api/prescriptions/`; every endpoint and the roles allowed to call it are
//! declared in [`ROUTES`]. Object-level checks (a patient sees only their own prescriptions, a
//! pharmacy only those it may fill, an institution only its own) are in [`reads::may_see`].

mod dispense;
mod plan;
mod policy;
mod reads;
mod returns;
mod upload;
mod watch;

use api::{ApiResult, Ctx, Reply, Role, Route};
use http::Method;

const COMPONENT: &str = "prescription";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Status,
    StoreCheck,
    PreCheck,
    Upload,
    List,
    Get,
    Voucher,
    Trace,
    Review,
    Dispense,
    Return,
    Release,
    Unfinished,
    Revoke,
    MedicationRecord,
    PublishPolicy,
    GetPolicy,
}

/// Every role that may read a prescription it is party to (the handlers check which one).
const READERS: &[Role] = &[Role::Patient, Role::Physician, Role::HospitalOffice, Role::Pharmacist, Role::Agency, Role::Admin];
/// P7: the trace is for the prescribing institution, the pharmacy and the agency.
const TRACE_READERS: &[Role] = &[Role::Physician, Role::HospitalOffice, Role::Pharmacist, Role::Agency, Role::Admin];
/// A prescription has at most five lines: a few kilobytes. Larger bodies are refused unread.
const PRESCRIPTION_BODY_LIMIT: usize = 32 * 1024;

/// Every endpoint of this component, with the roles that may call it.
pub static ROUTES: &[Route<Endpoint>] = &[
    Route::new(Method::GET, "/api/prescriptions/status", &[Role::Public], Endpoint::Status),
    Route::new(Method::GET, "/api/prescriptions/status/store", &[Role::Agency, Role::Admin], Endpoint::StoreCheck),
    Route::new(Method::POST, "/api/prescriptions/pre-check", &[Role::Physician], Endpoint::PreCheck).body_limit(PRESCRIPTION_BODY_LIMIT),
    Route::new(Method::POST, "/api/prescriptions", &[Role::Physician], Endpoint::Upload),
    Route::new(Method::GET, "/api/prescriptions", READERS, Endpoint::List),
    Route::new(Method::GET, "/api/prescriptions/medication-records/{psn_no}", &[Role::Pharmacist], Endpoint::MedicationRecord),
    Route::new(Method::PUT, "/api/prescriptions/regions/{admdvs}/policy", &[Role::Agency, Role::Admin], Endpoint::PublishPolicy),
    Route::new(Method::GET, "/api/prescriptions/regions/{admdvs}/policy", &[Role::Public], Endpoint::GetPolicy),
    Route::new(Method::GET, "/api/prescriptions/{hi_rxno}", READERS, Endpoint::Get),
    Route::new(Method::GET, "/api/prescriptions/{hi_rxno}/voucher", READERS, Endpoint::Voucher),
    Route::new(Method::GET, "/api/prescriptions/{hi_rxno}/trace", TRACE_READERS, Endpoint::Trace),
    Route::new(Method::POST, "/api/prescriptions/{hi_rxno}/review", &[Role::Pharmacist], Endpoint::Review),
    Route::new(Method::POST, "/api/prescriptions/{hi_rxno}/dispense", &[Role::Pharmacist], Endpoint::Dispense).body_limit(PRESCRIPTION_BODY_LIMIT * 8),
    Route::new(Method::POST, "/api/prescriptions/{hi_rxno}/returns", &[Role::Pharmacist], Endpoint::Return).body_limit(PRESCRIPTION_BODY_LIMIT * 8),
    Route::new(Method::POST, "/api/prescriptions/{hi_rxno}/revoke", &[Role::Physician], Endpoint::Revoke),
    Route::new(Method::GET, "/api/prescriptions/unfinished", &[Role::Agency, Role::Admin], Endpoint::Unfinished),
    Route::new(Method::POST, "/api/prescriptions/{hi_rxno}/release", &[Role::Agency, Role::Admin], Endpoint::Release),
];

/// Runs one endpoint for a caller the pipeline has already authenticated and authorized.
pub async fn dispatch(endpoint: Endpoint, ctx: Ctx) -> ApiResult<Reply> {
    match endpoint {
        Endpoint::Status => api::health::status(&ctx, COMPONENT),
        Endpoint::StoreCheck => api::health::store_check(&ctx, COMPONENT).await,
        Endpoint::PreCheck => upload::pre_check(&ctx).await,
        Endpoint::Upload => upload::upload(&ctx).await,
        Endpoint::List => reads::list(&ctx).await,
        Endpoint::Get => reads::get(&ctx).await,
        Endpoint::Voucher => reads::voucher(&ctx).await,
        Endpoint::Trace => reads::trace(&ctx).await,
        Endpoint::Review => dispense::review(&ctx).await,
        Endpoint::Dispense => dispense::dispense(&ctx).await,
        Endpoint::Return => returns::return_packs(&ctx).await,
        Endpoint::Unfinished => dispense::unfinished(&ctx).await,
        Endpoint::Release => dispense::release(&ctx).await,
        Endpoint::Revoke => upload::revoke(&ctx).await,
        Endpoint::MedicationRecord => dispense::medication_record(&ctx).await,
        Endpoint::PublishPolicy => policy::publish(&ctx).await,
        Endpoint::GetPolicy => policy::get(&ctx).await,
    }
}

api::spin_component!(crate::Endpoint, crate::ROUTES, crate::dispatch);
