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
pub mod reply;
pub mod route;
pub mod service;

pub use ctx::Ctx;
pub use error::{ApiError, ApiResult, ErrorCode, Violation};
pub use reply::Reply;
pub use route::{Route, Routes};
pub use rules::role::{Principal, Role};
