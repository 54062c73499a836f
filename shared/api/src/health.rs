//! The two health endpoints every component serves: a public liveness status, and a store
//! round trip for operators (it writes, so it is not public).

use crate::{ApiResult, Ctx, Reply};
use serde::Serialize;
use store::{KeyValue, keys};

#[derive(Serialize)]
struct Status<'a> {
    component: &'a str,
    version: &'a str,
    admdvs: &'a str,
    business_date: String,
    demo_data: bool,
    /// The sandbox clock's shift, when one is set (demo deployments only).
    #[serde(skip_serializing_if = "str::is_empty")]
    sandbox_clock: &'a str,
}

/// `GET /api/<component>/status`: the component answers; touches no store.
pub fn status(ctx: &Ctx, component: &str) -> ApiResult<Reply> {
    Ok(Reply::ok(&Status {
        component,
        version: env!("CARGO_PKG_VERSION"),
        admdvs: &ctx.config.region_code,
        business_date: ctx.today().to_string(),
        demo_data: ctx.config.demo_data,
        sandbox_clock: &ctx.config.sandbox_clock,
    }))
}

#[derive(Serialize)]
struct StoreCheck {
    store: &'static str,
    checked: [&'static str; 4],
}

/// `GET /api/<component>/status/store`: proves the store accepts a write, returns it, deletes
/// it, and counts atomically. Any failure surfaces as 503 `STORE_UNAVAILABLE`.
pub async fn store_check(ctx: &Ctx, component: &str) -> ApiResult<Reply> {
    let kv = ctx.kv().await?;
    let key = keys::health_probe(component);
    let written = ctx.now.to_rfc3339();
    kv.set(&key, written.as_bytes()).await?;
    let read = kv.get(&key).await?;
    kv.delete(&key).await?;
    let counter = keys::health_counter(component);
    let before = kv.increment(&counter, 0).await?;
    let after = kv.increment(&counter, 1).await?;
    if read.as_deref() != Some(written.as_bytes()) || after <= before {
        return Err(crate::ApiError::new(
            crate::ErrorCode::StoreUnavailable,
            "the store did not return what was written",
        ));
    }
    Ok(Reply::ok(&StoreCheck { store: "ok", checked: ["set", "get", "delete", "increment"] }))
}

#[derive(Serialize)]
struct Baseline {
    version: i64,
}

/// `GET /api/catalogue/status/baseline`: one key-value read (the catalogue version counter, the
/// same read that validates the catalogue cache) and a tiny JSON reply. It is the yardstick the
/// catalogue benchmark measures lookups and searches against; it reveals only a counter.
pub async fn baseline(ctx: &Ctx) -> ApiResult<Reply> {
    let version = store::Log::new(ctx.kv().await?, keys::CATALOGUE_LOG).version().await?;
    Ok(Reply::ok(&Baseline { version }))
}
