//! The catalogue benchmark of issue 3. It loads the app from the workspace's `spin.toml` into
//! the test host, serves it on a loopback port, imports the full 2024 catalogue, then measures
//! with the same connections and duration, one after the other: a baseline endpoint that does
//! one key-value read, lookup by code, and name search. Lookups and searches are judged as
//! ratios of the baseline's throughput measured in the same run, so the figures compare across
//! machines; the host's `x-host-kv-ops` header gives each request's key-value operations.
//!
//! Requests carry no token, as the mini-program's anonymous lookups do.

mod cpu;
mod kv;
mod load;
mod report;

pub use report::{Endpoint, Import, Report, Target};

use anyhow::{Context as _, bail, ensure};
use api::Principal;
use serde_json::Value;
use spin_test_host::{App, HostOptions, KV_OPS_HEADER, KvBackend};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// A day inside the 2024 edition's validity (from 2025-01-01), so every code is in force.
const AS_OF: &str = "2025-06-01";
/// Search filters, each combined in turn with a name fragment: the ways the mini-program and
/// the provincial platforms narrow a search.
const FILTERS: [&str; 6] =
    ["", "&category=negotiated", "&kind=western", "&class=甲", "&class_code=XA", "&kind=chinese_patent&class=乙"];
/// Signs the admin token for the import. Production settings refuse the manifest's development
/// secret and any secret under 32 bytes; this one lives only as long as the run's store.
const TOKEN_SECRET: &str = "catalogue-bench-secret-for-a-throwaway-store";
/// Generic names sampled for search fragments: one in this many entries.
const NAME_STRIDE: usize = 20;

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

/// The workspace's manifest: the same `spin.toml` and `.wasm` files `spin up` loads.
fn manifest_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml")
}

/// The national catalogue's 2024 workbook, kept beside the workspace.
fn workbook_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nrdl-2024.xlsx")
}

/// Runs the whole benchmark and judges the targets; the caller decides what a failed target
/// means. `Err` is a run that could not measure at all (no app, failed import).
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    // Keeps the SQLite file until the run ends.
    let dir = tempfile::tempdir()?;
    let kv = match options.store {
        Store::Sqlite => KvBackend::Sqlite(dir.path().join("sqlite_key_value.db")),
        Store::Memory => KvBackend::Memory,
    };
    // As in production: no demo data (its seeded slice of the catalogue would conflict with the
    // import and cost each new instance a read), hence a secret of our own.
    let variables =
        HashMap::from([("demo_data".to_owned(), "false".to_owned()), ("token_secret".to_owned(), TOKEN_SECRET.to_owned())]);
    let app = App::load(&manifest_path(), HostOptions { kv, variables, kv_op_header: true, ..HostOptions::default() })
        .await
        .context("loading the app; build the components first (scripts/bench.sh does)")?;
    let loopback: SocketAddr = "127.0.0.1:0".parse()?;
    let (addr, server) = app.listen(loopback).await?;
    let base = format!("http://{addr}");
    let result = measure(&base, options).await;
    server.abort();
    result
}

async fn measure(base: &str, options: &Options) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let import = import(&client, base).await?;
    let (codes, names) = catalogue(&client, base).await?;
    let queries = queries(&names);
    ensure!(!queries.is_empty(), "no search queries could be made from the catalogue's names");

    let baseline: Vec<String> = vec!["/api/catalogue/status/baseline".into()];
    let lookups: Vec<String> = codes.iter().map(|code| format!("/api/catalogue/drugs/{code}?as_of={AS_OF}")).collect();
    let searches: Vec<String> = queries.iter().map(|query| format!("/api/catalogue/drugs?{query}&as_of={AS_OF}")).collect();
    let concurrency = options.concurrency.get();
    let clients = load::clients(concurrency)?;
    let mut phases = Vec::new();
    for paths in [baseline, lookups, searches] {
        let paths: Arc<[String]> = paths.into();
        load::drive(&clients, base, &paths, options.warmup).await?;
        let phase = load::drive(&clients, base, &paths, options.duration).await?;
        phases.push(Endpoint::from_phase(&phase, concurrency));
    }
    let [baseline, lookup, search] = <[Endpoint; 3]>::try_from(phases).expect("three phases");
    let mut report = Report {
        store: options.store.name(),
        concurrency,
        warmup_seconds: options.warmup.as_secs_f64(),
        duration_seconds: options.duration.as_secs_f64(),
        import,
        codes: codes.len(),
        queries: queries.len(),
        lookup_to_baseline: lookup.requests_per_second / baseline.requests_per_second,
        search_to_baseline: search.requests_per_second / baseline.requests_per_second,
        baseline,
        lookup,
        search,
        targets: Vec::new(),
    };
    report.judge();
    Ok(report)
}

/// Imports the 2024 workbook as an admin, as the edition in force from 2025-01-01, and times
/// it from the first byte sent to the answer read.
async fn import(client: &reqwest::Client, base: &str) -> anyhow::Result<Import> {
    let path = workbook_path();
    let workbook = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let now = chrono::Utc::now().timestamp();
    let admin = Principal::Admin { operator: "bench".into() };
    let (token, _) = api::auth::issue(TOKEN_SECRET.as_bytes(), admin, now, 3600)?;
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/catalogue/editions?effective_from=2025-01-01&name=2024"))
        .bearer_auth(token)
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
    let kv: kv::KvCount = kv_ops.context("the import's answer has no key-value header")??.parse()?;
    let edition: Value = serde_json::from_slice(&body)?;
    let entries = edition["counts"]["entries"].as_u64().context("the imported edition has no entry count")?;
    Ok(Import { status, entries, ms, kv_reads: kv.reads, kv_writes: kv.writes })
}

/// Every drug code in force on [`AS_OF`], and their generic names, page by page.
async fn catalogue(client: &reqwest::Client, base: &str) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let (mut codes, mut names) = (Vec::new(), Vec::new());
    for page in 1.. {
        let url = format!("{base}/api/catalogue/drugs?page_size=100&page={page}&as_of={AS_OF}");
        let response = client.get(&url).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        ensure!(status.is_success(), "{url} answered {status}: {}", String::from_utf8_lossy(&body));
        let page: Value = serde_json::from_slice(&body)?;
        let items = page["items"].as_array().context("a page without items")?;
        for item in items {
            codes.push(item["code"].as_str().context("an item without a code")?.to_owned());
            names.push(item["name"].as_str().context("an item without a name")?.to_owned());
        }
        let total = page["total"].as_u64().context("a page without a total")?;
        if items.is_empty() || codes.len() as u64 >= total {
            ensure!(codes.len() as u64 == total, "paging found {} codes, the catalogue says {total}", codes.len());
            break;
        }
    }
    Ok((codes, names))
}

/// Search queries a person would type: the first one, two and three Chinese characters of
/// sampled generic names, each with one of [`FILTERS`] in turn. Deterministic, so runs compare.
fn queries(names: &[String]) -> Vec<String> {
    let fragments: BTreeSet<String> = names
        .iter()
        .step_by(NAME_STRIDE)
        .flat_map(|name| {
            let han: Vec<char> = name.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).collect();
            (1..=3.min(han.len())).map(move |n| han[..n].iter().collect::<String>())
        })
        .collect();
    fragments.into_iter().zip(FILTERS.iter().cycle()).map(|(fragment, filter)| format!("q={fragment}{filter}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_leading_chinese_characters_with_filters_in_turn() {
        let names = ["阿司匹林肠溶片".to_owned(), "维生素B1片".to_owned()];
        let queries = queries(&names);
        assert_eq!(queries, ["q=阿", "q=阿司&category=negotiated", "q=阿司匹&kind=western"]);
    }
}
