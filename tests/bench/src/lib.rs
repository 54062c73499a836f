//! Benchmarks of the app through the test host, over HTTP: [`catalogue`] (issue 3: lookups and
//! searches), [`prescription`] (issue 5: pre-check and dispensing among 100,000 stored
//! prescriptions) and [`settlement`] (issue 6: pre-settlement and settlement). Each loads the app from the workspace's `spin.toml` into the host, serves it
//! on a loopback port and measures its endpoints one after the other, with the same connections
//! and duration, beside a baseline endpoint that does one key-value read. Endpoints are judged
//! as ratios of the baseline's throughput measured in the same run, so the figures compare
//! across machines; the host's `x-host-kv-ops` header gives each request's key-value operations.

pub mod catalogue;
mod cpu;
mod kv;
mod load;
pub mod prescription;
mod report;
pub mod settlement;
pub mod sockets;

pub use kv::KvCount;
pub use report::{Endpoint, Target};

use anyhow::{Context as _, bail};
use api::Principal;
use serde::Serialize;
use serde_json::Value;
use spin_test_host::{App, HostOptions, KV_OPS_HEADER, KvBackend};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The one-read baseline every endpoint is compared with.
const BASELINE: &str = "/api/catalogue/status/baseline";
/// Signs the benchmarks' tokens. Production settings refuse the manifest's development secret
/// and any secret under 32 bytes; this one lives only as long as the run's store.
const TOKEN_SECRET: &str = "catalogue-bench-secret-for-a-throwaway-store";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The key-value store the host gives the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    /// Spin's default local store: a SQLite file (here in a temporary directory).
    Sqlite,
    /// A map in memory: the app's own cost without SQLite's.
    Memory,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Sqlite => "sqlite",
            Store::Memory => "memory",
        }
    }
}

/// How every benchmark drives its endpoints.
#[derive(Clone, Debug)]
pub struct Options {
    pub store: Store,
    /// Connections, each with one request in flight (`wrk -c`).
    pub concurrency: NonZeroUsize,
    /// Per endpoint, discarded: starts instances and fills their caches, so the measured
    /// phase sees steady state.
    pub warmup: Duration,
    /// Per endpoint, measured.
    pub duration: Duration,
}

/// The app served on a loopback port until dropped, with the store's directory.
struct Served {
    base: String,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Loads the app as in production (`demo_data` false: its seeded slice of the catalogue would
/// conflict with the import; hence a token secret of our own) on a fresh store, and serves it.
async fn serve(store: Store) -> anyhow::Result<Served> {
    serve_with(store, false).await
}

/// [`serve`], with the host's sockets as Spin's (`HostOptions::spin_sockets`) or not.
async fn serve_with(store: Store, spin_sockets: bool) -> anyhow::Result<Served> {
    let dir = tempfile::tempdir()?;
    let kv = match store {
        Store::Sqlite => KvBackend::Sqlite(dir.path().join("sqlite_key_value.db")),
        Store::Memory => KvBackend::Memory,
    };
    let variables =
        HashMap::from([("demo_data".to_owned(), "false".to_owned()), ("token_secret".to_owned(), TOKEN_SECRET.to_owned())]);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
    let app = App::load(&manifest, HostOptions { kv, variables, kv_op_header: true, spin_sockets, ..HostOptions::default() })
        .await
        .context("loading the app; build the components first (scripts/bench.sh does)")?;
    app.set_clock(business_start().into());
    let loopback: SocketAddr = "127.0.0.1:0".parse()?;
    let (addr, server) = app.listen(loopback).await?;
    Ok(Served { base: format!("http://{addr}"), server, _dir: dir })
}

/// The moment every benchmark's app starts at, whatever today's date: a morning inside the
/// imported 2024 edition (in force from 2025-01-01) with months of every agreement ahead (the
/// earliest ends 2025-12-31), so the drugs the benchmarks prescribe and settle are payable.
/// The host's clock is set to it and runs on.
fn business_start() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2025-06-02T09:00:00+08:00").expect("a valid instant").to_utc()
}

/// The business day the benchmarks run on (see [`business_start`]).
fn business_day() -> chrono::NaiveDate {
    rules::time::business_date(business_start())
}

/// A token for `principal`, valid for the run.
fn token(principal: Principal) -> anyhow::Result<Arc<str>> {
    Ok(api::auth::issue(TOKEN_SECRET.as_bytes(), principal, business_start().timestamp(), 24 * 3600)?.0.into())
}

/// The national catalogue's 2024 workbook, kept beside the workspace.
fn workbook_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nrdl-2024.xlsx")
}

/// The import of the 2024 workbook: its answer and cost.
#[derive(Debug, Serialize)]
pub struct Import {
    pub status: u16,
    pub entries: u64,
    pub ms: f64,
    pub kv_reads: u64,
    pub kv_writes: u64,
}

/// Imports the 2024 workbook as an admin, as the edition in force from 2025-01-01, and times
/// it from the first byte sent to the answer read.
async fn import_workbook(client: &reqwest::Client, base: &str) -> anyhow::Result<Import> {
    let path = workbook_path();
    let workbook = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let admin = token(Principal::Admin { operator: "bench".into() })?;
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/catalogue/editions?effective_from=2025-01-01&name=2024"))
        .bearer_auth(admin)
        .header("content-type", XLSX)
        .body(workbook)
        .send()
        .await?;
    let status = response.status().as_u16();
    let kv_ops = response.headers().get(KV_OPS_HEADER).map(|v| v.to_str().map(str::to_owned));
    let body = response.bytes().await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    // 200: this very file was already imported (the store is fresh, so only on a re-run).
    if status != 201 && status != 200 {
        bail!("import answered {status}: {}", String::from_utf8_lossy(&body));
    }
    let kv: KvCount = kv_ops.context("the import's answer has no key-value header")??.parse()?;
    let edition: Value = serde_json::from_slice(&body)?;
    let entries = edition["counts"]["entries"].as_u64().context("the imported edition has no entry count")?;
    Ok(Import { status, entries, ms, kv_reads: kv.reads, kv_writes: kv.writes })
}

/// Exactly the one read the baseline stands for.
fn baseline_target(baseline: &Endpoint) -> Target {
    Target::new(
        "baseline: exactly 1 kv read per request",
        format!("{}–{}", baseline.kv_reads_min, baseline.kv_reads_max),
        (baseline.kv_reads_min, baseline.kv_reads_max) == (1, 1),
    )
}

/// A fast error is not a fast answer.
fn no_errors_target(endpoints: &[&Endpoint]) -> Target {
    let errors: u64 = endpoints.iter().map(|e| e.errors).sum();
    Target::new("no errors (every answer 200)", errors.to_string(), errors == 0)
}
