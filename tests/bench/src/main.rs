//! `app-bench`: runs one benchmark (see the library) and prints its figures and targets.
//! Exits 3 if a target fails, so a script can gate on it; 1 with the error as the last line on
//! stderr if the benchmark could not run; 2 for bad arguments (clap's code).

use anyhow::Context as _;
use app_bench::prescription::Scale;
use app_bench::{Options, Store, catalogue, floor, prescription, settlement, sockets};
use clap::{Parser, Subcommand};
use serde::Serialize;
use std::fmt::Display;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Distinct from a run that failed (1) and from clap's usage errors (2).
const TARGET_FAILED: u8 = 3;

#[derive(Debug, Parser)]
#[command(about = "Benchmarks of the app through the test host, each against a one-read baseline")]
struct Args {
    #[command(subcommand)]
    bench: Bench,
    /// Seconds measured per endpoint.
    #[arg(long, global = true, default_value = "10", value_parser = seconds)]
    duration: Duration,
    /// Seconds of unmeasured warm-up per endpoint.
    #[arg(long, global = true, default_value = "2", value_parser = seconds)]
    warmup: Duration,
    /// Connections, each with one request in flight.
    #[arg(long, global = true, default_value = "16")]
    concurrency: NonZeroUsize,
    /// Key-value store behind the app served in-process (not with --url).
    #[arg(long, global = true, value_enum, default_value_t = Store::Sqlite)]
    kv: Store,
    /// Benchmark the app running at this URL (real Spin, Redis, Kubernetes) instead of serving
    /// it in-process: everything is stored through its API under a run id, with tokens signed
    /// by SPIN_VARIABLE_TOKEN_SECRET (else the development default). It WRITES into that
    /// app's store: never point it at production. Key-value counts are not measured there.
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    /// Send `Connection: close`, a new connection per request: needed against a bare Spin,
    /// whose reused connections stall ~40 ms per answer (deploy/README.md); off by default.
    #[arg(long, global = true)]
    connection_close: bool,
    /// The in-process SQLite store in WAL mode (synchronous NORMAL) instead of as Spin keeps it
    /// (a rollback journal flushed at every commit that changes a page).
    #[arg(long, global = true)]
    sqlite_wal: bool,
    /// Also write the figures to this file as JSON.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Issue 20: the keep-alive stall in front of Spin, and a connection per request against it.
    Sockets,
    /// Issue 19: the minimal components of tests/floor alone (empty, one read, one write, three
    /// writes, one increment), keep-alive and Connection: close, and the host's ratios beside
    /// Spin's. With --url: a floor served there (`spin up -f tests/floor/spin.toml`).
    Floor,
    /// Issue 3: import the 2024 workbook, then lookups by code and name searches.
    Catalogue,
    /// Issue 5: pre-check and dispensing with many prescriptions and filings stored.
    Prescription {
        /// Persons, each with one approved filing.
        #[arg(long, default_value_t = Scale::ISSUE.filings)]
        filings: usize,
        /// Prescriptions stored before the measured phases.
        #[arg(long, default_value_t = Scale::ISSUE.prescriptions)]
        prescriptions: usize,
        /// The first count of key-value operations is taken with this many stored.
        #[arg(long, default_value_t = Scale::ISSUE.first_count_at)]
        first_count_at: usize,
        /// Approved prescriptions the dispensing phase uses up, each once.
        #[arg(long, default_value_t = Scale::ISSUE.dispense_pool)]
        dispense_pool: usize,
    },
    /// Issue 6: pre-settlement and settlement of dispensed prescriptions.
    Settlement {
        /// Persons, each with one approved filing.
        #[arg(long, default_value_t = settlement::Scale::ISSUE.persons)]
        persons: usize,
        /// Dispensed prescriptions the settlement phase uses up, each once.
        #[arg(long, default_value_t = settlement::Scale::ISSUE.pool)]
        pool: usize,
    },
}

/// Positive seconds, fractions allowed (`0.3`).
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(TARGET_FAILED),
        Err(error) => {
            // Last on stderr, after the components' request log, and without a backtrace.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the chosen benchmark, prints and saves its report; whether every target passed.
async fn run(args: &Args) -> anyhow::Result<bool> {
    let options = Options {
        store: args.kv,
        url: args.url.clone(),
        connection_close: args.connection_close,
        concurrency: args.concurrency,
        warmup: args.warmup,
        duration: args.duration,
        sqlite_wal: args.sqlite_wal,
    };
    match &args.bench {
        Bench::Sockets => {
            anyhow::ensure!(args.url.is_none(), "the sockets benchmark compares the host's own sockets; it has no --url");
            let report = sockets::run(&options).await?;
            publish(args, &report)?;
            Ok(report.passed())
        }
        Bench::Floor => {
            let report = floor::run(&options).await?;
            publish(args, &report)?;
            Ok(report.passed())
        }
        Bench::Catalogue => {
            let report = catalogue::run(&options).await?;
            publish(args, &report)?;
            Ok(report.passed())
        }
        &Bench::Prescription { filings, prescriptions, first_count_at, dispense_pool } => {
            let scale = Scale { filings, prescriptions, first_count_at, dispense_pool };
            let report = prescription::run(&options, &scale).await?;
            publish(args, &report)?;
            Ok(report.passed())
        }
        &Bench::Settlement { persons, pool } => {
            let report = settlement::run(&options, &settlement::Scale { persons, pool }).await?;
            publish(args, &report)?;
            Ok(report.passed())
        }
    }
}

fn publish(args: &Args, report: &(impl Display + Serialize)) -> anyhow::Result<()> {
    print!("{report}");
    if let Some(path) = &args.json {
        let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(file, report)?;
    }
    Ok(())
}
