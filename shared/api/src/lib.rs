//! HTTP glue shared by every component.
//!
//! A request flows through [`service::serve`]: match the route ([`route`]), load the
//! per-instance [`config`], authenticate the bearer token ([`auth`]), authorize the caller's role
//! against the route's declared roles, read the body within its limit, run the component's
//! handler with a [`Ctx`], and render the [`Reply`] or the [`ApiError`] as problem JSON.
//! Nothing in here panics on outside input, and no error leaves as an empty 500.

pub mod auth;
pub mod config;
pub mod ctx;
pub mod error;
pub mod health;
pub mod query;
pub mod reply;
pub mod route;
pub mod service;
pub mod wait;

pub use ctx::{Ctx, Kv, from_json_value};
pub use error::{ApiError, ApiResult, ErrorCode, Violation};
pub use reply::Reply;
pub use route::{Route, Routes};
pub use rules::role::{Principal, Role};

/// Declares a component's Spin entry point: the `#[http_service]` handler that runs
/// [`service::serve`] with the component's route table and dispatch function. Pass crate-rooted
/// paths: `api::spin_component!(crate::Endpoint, crate::ROUTES, crate::dispatch);`.
///
/// The handler is compiled for wasm only: a native build of the component (for tests that read
/// its `ROUTES`) must not carry the component-model exports, which a native linker rejects.
#[macro_export]
macro_rules! spin_component {
    ($endpoint:ty, $routes:expr, $dispatch:path) => {
        #[cfg(target_arch = "wasm32")]
        mod spin_entry {
            static ROUTER: ::std::sync::LazyLock<$crate::Routes<$endpoint>> =
                ::std::sync::LazyLock::new(|| $crate::Routes::new($routes));

            #[::spin_sdk::http_service]
            async fn handle(request: ::spin_sdk::http::Request) -> impl ::spin_sdk::http::IntoResponse {
                $crate::service::serve(request, &ROUTER, $dispatch).await
            }
        }
    };
}
