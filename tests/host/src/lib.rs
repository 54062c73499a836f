//! A small wasmtime host that runs this project's Spin components (spin-sdk 7, WASI 0.3) the
//! way Spin 4.1+ does, for tests and benchmarks on machines where `spin` cannot be installed.
//!
//! See `README.md` for what it reproduces of Spin and where it differs.

mod app;
mod host;
mod kv;
mod manifest;
mod routing;
mod runtime;
mod variables;

pub use app::{App, HostOptions, HostResponse, KV_OPS_HEADER};
pub use host::Fault;
pub use kv::{KvBackend, KvOps, SqliteJournal};
pub use manifest::{BuildDecl, ComponentDecl, HttpTrigger, Manifest, VariableDecl};
pub use routing::{RouteDisplay, RouteMatch, Router};
