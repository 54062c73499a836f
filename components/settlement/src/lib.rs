//! The `settlement` component: pre-settlement, settlement and reversal (rules S1–S8).
//! The capability itself comes with its own issue; until then the component serves the health
//! endpoints every component has.
//!
//! Routes live under `/api/settlements/`; every endpoint and the roles allowed to call it are
//! declared in [`ROUTES`].

use api::{ApiResult, Ctx, Reply, Role, Route};
use http::Method;

const COMPONENT: &str = "settlement";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Status,
    StoreCheck,
}

/// Every endpoint of this component, with the roles that may call it.
pub static ROUTES: &[Route<Endpoint>] = &[
    Route::new(Method::GET, "/api/settlements/status", &[Role::Public], Endpoint::Status),
    Route::new(Method::GET, "/api/settlements/status/store", &[Role::Agency, Role::Admin], Endpoint::StoreCheck),
];

/// Runs one endpoint for a caller the pipeline has already authenticated and authorized.
pub async fn dispatch(endpoint: Endpoint, ctx: Ctx) -> ApiResult<Reply> {
    match endpoint {
        Endpoint::Status => api::health::status(&ctx, COMPONENT),
        Endpoint::StoreCheck => api::health::store_check(&ctx, COMPONENT).await,
    }
}

api::spin_component!(crate::Endpoint, crate::ROUTES, crate::dispatch);
