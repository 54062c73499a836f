//! The `catalogue` component: the national catalogue with its payment standards, regional
//! lists, and the registry of institutions, pharmacies and people (rules C1–C9, I1–I4).
//! It also owns tokens (`/api/auth/...`): issuing and revoking them is a registry task.
//!
//! Every endpoint and the roles allowed to call it are declared in [`ROUTES`].

mod demo;
mod drugs;
mod editions;
mod regions;
mod registry;
mod tokens;

use api::{ApiResult, Ctx, Reply, Role, Route};
use http::Method;
const COMPONENT: &str = "catalogue";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Status,
    StoreCheck,
    Baseline,
    IssueToken,
    IssueDemoToken,
    RevokeToken,
    WhoAmI,
    ImportEdition,
    ListEditions,
    WithdrawEdition,
    SupplyConfidentialStandards,
    GetDrug,
    SearchDrugs,
    PublishRegionalList,
    GetRegionalList,
    Coverage,
    PutInstitution,
    GetInstitution,
    PutPharmacy,
    GetPharmacy,
    ListPharmacies,
    PutPhysician,
    GetPhysician,
    PutPharmacist,
    GetPharmacist,
    PutPerson,
    GetPerson,
}

/// Every role that holds a token: the registry's people are not shown to anonymous callers.
const AUTHENTICATED: &[Role] =
    &[Role::Patient, Role::Physician, Role::HospitalOffice, Role::Pharmacist, Role::Agency, Role::Admin];
/// Who registers institutions, pharmacies and people (each within its regions, rule-checked in the handler).
const REGISTRARS: &[Role] = &[Role::Agency, Role::Admin];

/// Every endpoint of this component, with the roles that may call it.
pub static ROUTES: &[Route<Endpoint>] = &[
    Route::new(Method::GET, "/api/catalogue/status", &[Role::Public], Endpoint::Status),
    Route::new(Method::GET, "/api/catalogue/status/store", &[Role::Agency, Role::Admin], Endpoint::StoreCheck),
    Route::new(Method::GET, "/api/catalogue/status/baseline", &[Role::Public], Endpoint::Baseline),
    Route::new(Method::POST, "/api/auth/tokens", &[Role::Admin], Endpoint::IssueToken),
    Route::new(Method::POST, "/api/auth/demo-tokens", &[Role::Public], Endpoint::IssueDemoToken),
    Route::new(Method::POST, "/api/auth/tokens/{jti}/revocation", &[Role::Admin], Endpoint::RevokeToken),
    Route::new(Method::GET, "/api/auth/whoami", &[Role::Public], Endpoint::WhoAmI),
    Route::new(Method::POST, "/api/catalogue/editions", &[Role::Admin], Endpoint::ImportEdition)
        .body_limit(editions::BODY_LIMIT),
    Route::new(Method::GET, "/api/catalogue/editions", &[Role::Public], Endpoint::ListEditions),
    Route::new(Method::POST, "/api/catalogue/editions/{id}/withdrawal", &[Role::Admin], Endpoint::WithdrawEdition),
    Route::new(Method::POST, "/api/catalogue/editions/{id}/confidential-standards", &[Role::Admin], Endpoint::SupplyConfidentialStandards),
    Route::new(Method::GET, "/api/catalogue/drugs/{code}", &[Role::Public], Endpoint::GetDrug),
    Route::new(Method::GET, "/api/catalogue/drugs", &[Role::Public], Endpoint::SearchDrugs),
    Route::new(Method::POST, "/api/catalogue/regions/{admdvs}/lists/{list}", &[Role::Agency, Role::Admin], Endpoint::PublishRegionalList)
        .body_limit(regions::BODY_LIMIT),
    Route::new(Method::GET, "/api/catalogue/regions/{admdvs}/lists/{list}", &[Role::Public], Endpoint::GetRegionalList),
    Route::new(Method::GET, "/api/catalogue/regions/{admdvs}/drugs/{code}", &[Role::Public], Endpoint::Coverage),
    Route::new(Method::PUT, "/api/registry/institutions/{fixmedins_code}", REGISTRARS, Endpoint::PutInstitution),
    Route::new(Method::GET, "/api/registry/institutions/{fixmedins_code}", &[Role::Public], Endpoint::GetInstitution),
    Route::new(Method::PUT, "/api/registry/pharmacies/{fixmedins_code}", REGISTRARS, Endpoint::PutPharmacy),
    Route::new(Method::GET, "/api/registry/pharmacies/{fixmedins_code}", &[Role::Public], Endpoint::GetPharmacy),
    Route::new(Method::GET, "/api/registry/pharmacies", &[Role::Public], Endpoint::ListPharmacies),
    Route::new(Method::PUT, "/api/registry/physicians/{dr_code}", REGISTRARS, Endpoint::PutPhysician),
    Route::new(Method::GET, "/api/registry/physicians/{dr_code}", AUTHENTICATED, Endpoint::GetPhysician),
    Route::new(Method::PUT, "/api/registry/pharmacists/{phar_code}", REGISTRARS, Endpoint::PutPharmacist),
    Route::new(Method::GET, "/api/registry/pharmacists/{phar_code}", AUTHENTICATED, Endpoint::GetPharmacist),
    Route::new(Method::PUT, "/api/registry/persons/{psn_no}", REGISTRARS, Endpoint::PutPerson),
    Route::new(Method::GET, "/api/registry/persons/{psn_no}", &[Role::Patient, Role::Agency, Role::Admin], Endpoint::GetPerson),
];

/// Runs one endpoint for a caller the pipeline has already authenticated and authorized.
pub async fn dispatch(endpoint: Endpoint, ctx: Ctx) -> ApiResult<Reply> {
    demo::ensure_seeded(&ctx).await?;
    match endpoint {
        Endpoint::Status => api::health::status(&ctx, COMPONENT),
        Endpoint::StoreCheck => api::health::store_check(&ctx, COMPONENT).await,
        Endpoint::Baseline => api::health::baseline(&ctx).await,
        Endpoint::IssueToken => tokens::issue(&ctx),
        Endpoint::IssueDemoToken => tokens::issue_demo(&ctx),
        Endpoint::RevokeToken => tokens::revoke(&ctx).await,
        Endpoint::WhoAmI => tokens::whoami(&ctx),
        Endpoint::ImportEdition => editions::import(&ctx).await,
        Endpoint::ListEditions => editions::list(&ctx).await,
        Endpoint::WithdrawEdition => editions::withdraw(&ctx).await,
        Endpoint::SupplyConfidentialStandards => editions::supply_confidential(&ctx).await,
        Endpoint::GetDrug => drugs::get(&ctx).await,
        Endpoint::SearchDrugs => drugs::search(&ctx).await,
        Endpoint::PublishRegionalList => regions::publish(&ctx).await,
        Endpoint::GetRegionalList => regions::get_list(&ctx).await,
        Endpoint::Coverage => regions::coverage(&ctx).await,
        Endpoint::PutInstitution => registry::put_institution(&ctx).await,
        Endpoint::GetInstitution => registry::get_institution(&ctx).await,
        Endpoint::PutPharmacy => registry::put_pharmacy(&ctx).await,
        Endpoint::GetPharmacy => registry::get_pharmacy(&ctx).await,
        Endpoint::ListPharmacies => registry::list_pharmacies(&ctx).await,
        Endpoint::PutPhysician => registry::put_physician(&ctx).await,
        Endpoint::GetPhysician => registry::get_physician(&ctx).await,
        Endpoint::PutPharmacist => registry::put_pharmacist(&ctx).await,
        Endpoint::GetPharmacist => registry::get_pharmacist(&ctx).await,
        Endpoint::PutPerson => registry::put_person(&ctx).await,
        Endpoint::GetPerson => registry::get_person(&ctx).await,
    }
}

api::spin_component!(crate::Endpoint, crate::ROUTES, crate::dispatch);
