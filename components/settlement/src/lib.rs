//! The `settlement` component: Pre-settlement, settlement and reversal (rules S1–S8). The engine and endpoints come with their own issue; today the component serves its health endpoints.
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

/// The Spin entry point. Compiled for wasm only: a native build (for tests that read
/// [`ROUTES`]) must not carry the component-model exports.
#[cfg(target_arch = "wasm32")]
mod entry {
    use super::{Endpoint, ROUTES, dispatch};
    use api::Routes;
    use std::sync::LazyLock;

    static ROUTER: LazyLock<Routes<Endpoint>> = LazyLock::new(|| Routes::new(ROUTES));

    #[spin_sdk::http_service]
    async fn handle(request: spin_sdk::http::Request) -> impl spin_sdk::http::IntoResponse {
        api::service::serve(request, &ROUTER, dispatch).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_table_compiles() {
        let routes = api::Routes::new(super::ROUTES);
        assert_eq!(routes.table().len(), super::ROUTES.len());
    }
}
