//! The `monitoring` component: supervision for agencies (rules M1–M4, S5): the periodic
//! reports (M2), a region's month of use and payment per drug and per settling party,
//! separate payment apart (S5), as JSON, CSV or xlsx, read from the region's ledgers
//! (`store::ledger`), which settlements and reversals keep as they happen; and the smart-
//! monitoring alerts (M3) the other components raise as events happen (their checks are in
//! `rules::monitoring`), with each region's thresholds; and landing (M1, M4): the stocking
//! declarations, each drug's landing figures, the patient's "where can I get this drug", and
//! the institutions' formulary adjustments after an edition.
//!
//! Routes live under `/api/monitoring/`; every endpoint and the roles allowed to call it are
//! declared in [`ROUTES`]. Object-level checks (an agency reads its region and the regions under
//! it, a pharmacy or institution only its own figures) are in `reports.rs`.

mod alerts;
mod landing;
mod reports;
mod sheets;

use api::{ApiResult, Ctx, Reply, Role, Route};
use http::Method;

const COMPONENT: &str = "monitoring";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Status,
    DrugReport,
    PartyReport,
    InstitutionReport,
    PublishThresholds,
    GetThresholds,
    Alerts,
    Alert,
    AlertAction,
    DeclareStocking,
    WhereToGet,
    Landing,
    RecordFormulary,
    Formulary,
}

/// Who supervises: agencies (their region and the regions under it) and admins.
const SUPERVISORS: &[Role] = &[Role::Agency, Role::Admin];

/// Who reads reports: agencies and admins all of a region's, pharmacies and institutions their own.
const READERS: &[Role] = &[Role::Agency, Role::Admin, Role::Pharmacist, Role::HospitalOffice];

/// Every endpoint of this component, with the roles that may call it.
pub static ROUTES: &[Route<Endpoint>] = &[
    Route::new(Method::GET, "/api/monitoring/status", &[Role::Public], Endpoint::Status),
    Route::new(Method::GET, "/api/monitoring/reports/drugs", READERS, Endpoint::DrugReport),
    Route::new(Method::GET, "/api/monitoring/reports/parties", READERS, Endpoint::PartyReport),
    Route::new(Method::GET, "/api/monitoring/reports/institutions", &[Role::Agency, Role::Admin, Role::HospitalOffice], Endpoint::InstitutionReport),
    Route::new(Method::PUT, "/api/monitoring/regions/{admdvs}/thresholds", SUPERVISORS, Endpoint::PublishThresholds),
    Route::new(Method::GET, "/api/monitoring/regions/{admdvs}/thresholds", SUPERVISORS, Endpoint::GetThresholds),
    Route::new(Method::GET, "/api/monitoring/alerts", SUPERVISORS, Endpoint::Alerts),
    Route::new(Method::GET, "/api/monitoring/alerts/{alert_id}", SUPERVISORS, Endpoint::Alert),
    Route::new(Method::POST, "/api/monitoring/alerts/{alert_id}/actions", SUPERVISORS, Endpoint::AlertAction),
    Route::new(Method::PUT, "/api/monitoring/stocking/{fixmedins_code}/{med_list_codg}", &[Role::Pharmacist, Role::HospitalOffice, Role::Agency, Role::Admin], Endpoint::DeclareStocking),
    Route::new(Method::GET, "/api/monitoring/where", &[Role::Public], Endpoint::WhereToGet),
    Route::new(Method::GET, "/api/monitoring/landing", SUPERVISORS, Endpoint::Landing),
    Route::new(Method::PUT, "/api/monitoring/formulary/{fixmedins_code}", &[Role::HospitalOffice, Role::Agency, Role::Admin], Endpoint::RecordFormulary),
    Route::new(Method::GET, "/api/monitoring/formulary", SUPERVISORS, Endpoint::Formulary),
];

/// Runs one endpoint for a caller the pipeline has already authenticated and authorized.
pub async fn dispatch(endpoint: Endpoint, ctx: Ctx) -> ApiResult<Reply> {
    match endpoint {
        Endpoint::Status => api::health::status(&ctx, COMPONENT),
        Endpoint::DrugReport => reports::drugs(&ctx).await,
        Endpoint::PartyReport => reports::parties(&ctx).await,
        Endpoint::InstitutionReport => reports::institutions(&ctx).await,
        Endpoint::PublishThresholds => alerts::publish_thresholds(&ctx).await,
        Endpoint::GetThresholds => alerts::get_thresholds(&ctx).await,
        Endpoint::Alerts => alerts::list(&ctx).await,
        Endpoint::Alert => alerts::get(&ctx).await,
        Endpoint::AlertAction => alerts::act(&ctx).await,
        Endpoint::DeclareStocking => landing::declare(&ctx).await,
        Endpoint::WhereToGet => landing::where_to_get(&ctx).await,
        Endpoint::Landing => landing::landing(&ctx).await,
        Endpoint::RecordFormulary => landing::record_formulary(&ctx).await,
        Endpoint::Formulary => landing::formulary(&ctx).await,
    }
}

api::spin_component!(crate::Endpoint, crate::ROUTES, crate::dispatch);
