//! Benchmarks of the app through the test host, over HTTP: [`catalogue`] (issue 3: lookups and
//! searches), [`prescription`] (issue 5: pre-check and dispensing among 100,000 stored
//! prescriptions) and [`settlement`] (issue 6: pre-settlement and settlement). Each loads the app from the workspace's `spin.toml` into the host, serves it
//! on a loopback port and measures its endpoints one after the other, with the same connections
//! and duration, beside a baseline endpoint that does one key-value read. Endpoints are judged
//! as ratios of the baseline's throughput measured in the same run, so the figures compare
//! across machines; the host's `x-host-kv-ops` header gives each request's key-value operations.
//!
//! With [`Options::url`] the same benchmarks run against an app already running (real Spin,
//! Redis, Kubernetes) instead: everything is stored through its public API under identifiers
//! unique to the run ([`RunId`]), with tokens signed by the app's own secret, and the app's own
//! baseline endpoint is measured in the same run. A deployment sends no key-value header, so
//! the operation counts and the targets judged on them are reported as not measured there.

pub mod catalogue;
mod cpu;
pub mod floor;
mod kv;
mod load;
pub mod prescription;
mod report;
pub mod settlement;
pub mod sockets;

pub use kv::KvCount;
pub use report::{Endpoint, FloorFigures, FloorRatios, KvFigures, Target};

use anyhow::{Context as _, bail, ensure};
use api::Principal;
use serde::Serialize;
use serde_json::Value;
use spin_test_host::{App, HostOptions, KV_OPS_HEADER, KvBackend, SqliteJournal};
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


/// How every benchmark drives its endpoints.
#[derive(Clone, Debug)]
pub struct Options {
    /// The store of the app served in-process (ignored with [`Options::url`]).
    pub store: Store,
    /// A running app to benchmark instead of one served in-process (`http://host:port`).
    pub url: Option<String>,
    /// Send `Connection: close` and open a connection per request: in front of a bare Spin,
    /// whose reused connections stall ~40 ms per answer (deploy/README.md).
    pub connection_close: bool,
    /// Connections, each with one request in flight (`wrk -c`).
    pub concurrency: NonZeroUsize,
    /// Per endpoint, discarded: starts instances and fills their caches, so the measured
    /// phase sees steady state.
    pub warmup: Duration,
    /// Per endpoint, measured.
    pub duration: Duration,
    /// The in-process SQLite store in WAL mode instead of as Spin keeps it (see
    /// `spin_test_host::SqliteJournal`).
    pub sqlite_wal: bool,
}

impl Options {
    /// The in-process store as the reports name it: `sqlite` (as Spin keeps it), `sqlite (WAL)`,
    /// `memory`.
    pub fn store_name(&self) -> &'static str {
        match (self.store, self.sqlite_wal) {
            (Store::Sqlite, false) => "sqlite",
            (Store::Sqlite, true) => "sqlite (WAL)",
            (Store::Memory, _) => "memory",
        }
    }

    /// In-process on `store`, keeping connections alive.
    pub fn local(store: Store, concurrency: NonZeroUsize, warmup: Duration, duration: Duration) -> Options {
        Options { store, url: None, connection_close: false, concurrency, warmup, duration, sqlite_wal: false }
    }
}

/// Makes the codes a run stores unique to it, so that runs against one store do not collide:
/// a prefix for the registry's codes, prescription and settlement numbers, and digits for the
/// 20-digit traceability codes. In-process (a fresh store each run) it is empty and zero, so
/// the codes are as they always were.
#[derive(Clone, Debug, Serialize)]
pub struct RunId {
    /// Letters and digits put inside every code (`R` and the digits), or empty.
    pub prefix: String,
    /// Below 10^9: the traceability codes' digits after the leading 8.
    pub digits: u64,
}

impl RunId {
    pub fn none() -> RunId {
        RunId { prefix: String::new(), digits: 0 }
    }

    /// From the clock's milliseconds, modulo 10^9 (they repeat every 11.6 days: two runs would
    /// collide only if started in the same millisecond of that cycle).
    pub fn from_clock() -> RunId {
        let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let digits = (millis % 1_000_000_000) as u64;
        RunId { prefix: format!("R{digits:09}"), digits }
    }
}

/// Where a benchmark runs: the app served in-process, or a running deployment.
pub(crate) struct Site {
    pub base: String,
    pub tokens: Tokens,
    /// The app's business date.
    pub today: chrono::NaiveDate,
    /// The day the catalogue is read as of.
    pub as_of: chrono::NaiveDate,
    pub run: RunId,
    /// A deployment: no key-value header, seeding under the run id.
    pub remote: bool,
    _served: Option<Served>,
}

impl Site {
    /// Serves the app in-process on a fresh store ([`serve`]), or checks the deployment at
    /// [`Options::url`] and learns its date and clock.
    pub async fn open(options: &Options) -> anyhow::Result<Site> {
        let Some(url) = &options.url else {
            let served = serve(options).await?;
            return Ok(Site {
                base: served.base.clone(),
                tokens: Tokens { secret: TOKEN_SECRET.into(), iat: business_start().timestamp() },
                today: business_day(),
                as_of: chrono::NaiveDate::from_ymd_opt(2025, 6, 1).expect("a date"),
                run: RunId::none(),
                remote: false,
                _served: Some(served),
            });
        };
        let base = url.trim_end_matches('/').to_owned();
        let client = load::clients(1, options.connection_close)?.remove(0);
        let url = format!("{base}/api/catalogue/status");
        let response = client.get(&url).send().await.with_context(|| format!("reaching {url}"))?;
        let status = response.status();
        let body = response.bytes().await?;
        ensure!(status.is_success(), "{url} answered {status}: {}", String::from_utf8_lossy(&body));
        let app: Value = serde_json::from_slice(&body).with_context(|| format!("{url} is not the app's status"))?;
        let today: chrono::NaiveDate = app["business_date"].as_str().context("the status has no business_date")?.parse()?;
        let region = app["admdvs"].as_str().unwrap_or_default();
        ensure!(region == prescription::REGION, "the app serves region {region}; the benchmarks store records of region {} (region_code)", prescription::REGION);
        // the app's clock: the real one, shifted by the sandbox clock where one is set
        let shift = app["sandbox_clock"].as_str().map(shift_seconds).transpose()?.unwrap_or(0);
        let secret = std::env::var("SPIN_VARIABLE_TOKEN_SECRET").unwrap_or_else(|_| api::config::DEV_TOKEN_SECRET.to_owned());
        let tokens = Tokens { secret: secret.into(), iat: chrono::Utc::now().timestamp() + shift - 600 };
        let site = Site { base, tokens, today, as_of: today, run: RunId::from_clock(), remote: true, _served: None };
        // the secret is the app's: its admin token is recognised
        let whoami = load::Call::get_as("/api/auth/whoami".into(), &site.tokens.token(Principal::Admin { operator: "bench".into() })?);
        let (status, _, body) = load::send(&client, &site.base, &whoami).await?;
        ensure!(
            status == 200,
            "the app refused a token signed with SPIN_VARIABLE_TOKEN_SECRET (or the development default): {status} {}",
            String::from_utf8_lossy(&body)
        );
        Ok(site)
    }

    /// How the run's first line names where it ran.
    pub fn name(&self, options: &Options) -> String {
        match &options.url {
            Some(_) => format!("{} (run {}, business date {})", self.base, self.run.prefix, self.today),
            None => options.store_name().to_owned(),
        }
    }
}

/// The sandbox clock's shift (`+30d`, `-12h`, `+90m`) in seconds.
fn shift_seconds(text: &str) -> anyhow::Result<i64> {
    let bad = || anyhow::anyhow!("the app's sandbox_clock {text:?} is not like +30d, -12h or +90m");
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let (number, unit) = rest.split_at(rest.len().checked_sub(1).ok_or_else(bad)?);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let unit = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        _ => return Err(bad()),
    };
    Ok(sign * n * unit)
}

/// Signs the run's tokens with the app's secret, as `issue-token` does.
#[derive(Clone)]
pub(crate) struct Tokens {
    secret: Arc<str>,
    /// Issued at: the app's clock when the run started (less ten minutes for clock skew).
    iat: i64,
}

impl Tokens {
    /// A token for `principal`, valid for a day.
    pub fn token(&self, principal: Principal) -> anyhow::Result<Arc<str>> {
        Ok(api::auth::issue(self.secret.as_bytes(), principal, self.iat, 24 * 3600)?.0.into())
    }
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
async fn serve(options: &Options) -> anyhow::Result<Served> {
    serve_with(options, false).await
}

/// [`serve`], with the host's sockets as Spin's (`HostOptions::spin_sockets`) or not.
async fn serve_with(options: &Options, spin_sockets: bool) -> anyhow::Result<Served> {
    let variables =
        HashMap::from([("demo_data".to_owned(), "false".to_owned()), ("token_secret".to_owned(), TOKEN_SECRET.to_owned())]);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
    serve_manifest(&manifest, options, variables, spin_sockets).await.context("loading the app; build the components first (scripts/bench.sh does)")
}

/// Serves the app of `manifest` on a fresh store of its own, with the key-value header, at the
/// benchmarks' business moment.
async fn serve_manifest(manifest: &Path, options: &Options, variables: HashMap<String, String>, spin_sockets: bool) -> anyhow::Result<Served> {
    let dir = tempfile::tempdir()?;
    let kv = match options.store {
        Store::Sqlite => KvBackend::Sqlite(dir.path().join("sqlite_key_value.db")),
        Store::Memory => KvBackend::Memory,
    };
    let sqlite_journal = if options.sqlite_wal { SqliteJournal::Wal } else { SqliteJournal::Spin };
    let app = App::load(manifest, HostOptions { kv, variables, kv_op_header: true, spin_sockets, sqlite_journal, ..HostOptions::default() }).await?;
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

/// The national catalogue's 2024 workbook, kept beside the workspace.
fn workbook_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nrdl-2024.xlsx")
}

/// The import of the 2024 workbook: its answer and cost.
#[derive(Debug, Serialize)]
pub struct Import {
    /// 201, or 200 when this very file was already imported for that date (a run against a
    /// deployment's store that an earlier run filled): then nothing was imported.
    pub status: u16,
    pub effective_from: chrono::NaiveDate,
    pub entries: u64,
    pub ms: f64,
    /// Not measured against a deployment (no key-value header).
    pub kv_reads: Option<u64>,
    pub kv_writes: Option<u64>,
}

impl Import {
    /// Whether the answer was an import (not the answer to a file already there).
    pub fn imported(&self) -> bool {
        self.status == 201
    }
}

/// The edition the workbook is imported as in force from: in-process 2025-01-01 (the store is
/// fresh). On a deployment, the date of an earlier run's import of the same file if there is
/// one (the same file at another date is refused, C1), else the day after the latest edition
/// (the demo's slice of 2024 is in force from 2025-01-01, so the whole workbook takes over the
/// day after) and at least 2025-01-01; it must be in force on the app's business date.
async fn edition_date(client: &reqwest::Client, site: &Site, workbook: &[u8]) -> anyhow::Result<chrono::NaiveDate> {
    let first = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date");
    if !site.remote {
        return Ok(first);
    }
    use sha2::Digest as _;
    let id: String = sha2::Sha256::digest(workbook).iter().map(|b| format!("{b:02x}")).collect();
    let (status, _, body) = load::send(client, &site.base, &load::Call::get("/api/catalogue/editions".into())).await?;
    ensure!(status == 200, "the editions answered {status}: {}", String::from_utf8_lossy(&body));
    let list: Value = serde_json::from_slice(&body)?;
    let editions = list["editions"].as_array().context("no editions in the answer")?;
    let date = |e: &Value| e["effective_from"].as_str().and_then(|d| d.parse::<chrono::NaiveDate>().ok());
    if let Some(existing) = editions.iter().find(|e| e["id"] == id.as_str()) {
        return date(existing).context("an edition without its date");
    }
    let after_latest = editions.iter().filter_map(date).max().and_then(|d| d.succ_opt());
    let from = after_latest.map_or(first, |d| d.max(first));
    ensure!(from <= site.today, "the workbook would be in force from {from}, after the app's business date {}", site.today);
    Ok(from)
}

/// Imports the 2024 workbook as an admin (see [`edition_date`]), and times it from the first
/// byte sent to the answer read.
async fn import_workbook(client: &reqwest::Client, site: &Site) -> anyhow::Result<Import> {
    let path = workbook_path();
    let workbook = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let effective_from = edition_date(client, site, &workbook).await?;
    let admin = site.tokens.token(Principal::Admin { operator: "bench".into() })?;
    let started = Instant::now();
    let response = client
        .post(format!("{}/api/catalogue/editions?effective_from={effective_from}&name=2024", site.base))
        .bearer_auth(admin)
        .header("content-type", XLSX)
        .body(workbook)
        .send()
        .await?;
    let status = response.status().as_u16();
    let kv_ops = response.headers().get(KV_OPS_HEADER).map(|v| v.to_str().map(str::to_owned));
    let body = response.bytes().await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    // 200: this very file was already imported (a deployment's store an earlier run filled)
    if status != 201 && status != 200 {
        bail!("import answered {status}: {}", String::from_utf8_lossy(&body));
    }
    let kv: Option<KvCount> = match kv_ops {
        Some(header) => Some(header?.parse()?),
        None if site.remote => None,
        None => bail!("the import's answer has no key-value header"),
    };
    let edition: Value = serde_json::from_slice(&body)?;
    let entries = edition["counts"]["entries"].as_u64().context("the imported edition has no entry count")?;
    Ok(Import { status, effective_from, entries, ms, kv_reads: kv.map(|k| k.reads), kv_writes: kv.map(|k| k.writes) })
}

/// Exactly the one read the baseline stands for.
fn baseline_target(baseline: &Endpoint) -> Target {
    let name = "baseline: exactly 1 kv read per request";
    match &baseline.kv {
        Some(kv) => Target::new(name, format!("{}–{}", kv.kv_reads_min, kv.kv_reads_max), (kv.kv_reads_min, kv.kv_reads_max) == (1, 1)),
        None => Target::unmeasured(name),
    }
}

/// A fast error is not a fast answer.
fn no_errors_target(endpoints: &[&Endpoint]) -> Target {
    let errors: u64 = endpoints.iter().map(|e| e.errors).sum();
    Target::new("no errors (every answer 200)", errors.to_string(), errors == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_shift_is_read_as_spin_variables_write_it() {
        assert_eq!(shift_seconds("-200d").expect("a shift"), -200 * 86_400);
        assert_eq!(shift_seconds("+12h").expect("a shift"), 12 * 3_600);
        assert_eq!(shift_seconds("+90m").expect("a shift"), 90 * 60);
        assert!(shift_seconds("200d").is_err() && shift_seconds("+").is_err() && shift_seconds("+3w").is_err());
    }

    #[test]
    fn a_run_id_is_a_code_and_fits_the_traceability_codes() {
        let run = RunId::from_clock();
        assert!(rules::role::is_code(&format!("H420100{}00001", run.prefix)), "{}", run.prefix);
        assert_eq!(format!("8{:09}{:010}", run.digits, 2 * 99_999usize).len(), 20);
        assert_eq!(format!("8{:09}{:010}", RunId::none().digits, 6usize), format!("8{:019}", 6), "in-process codes are as before");
    }
}
