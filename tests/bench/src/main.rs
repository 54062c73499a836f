//! `catalogue-bench`: runs the catalogue benchmark (see the library) and prints its figures
//! and targets. Exits 2 if a target fails, so a script can gate on it, and 1 (with the error)
//! if the benchmark could not run at all.

use anyhow::Context as _;
use catalogue_bench::{Options, Store};
use clap::Parser;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Distinct from 1, which `main` returning an error exits with.
const TARGET_FAILED: u8 = 2;

#[derive(Debug, Parser)]
#[command(about = "Benchmark catalogue lookups and searches against a one-read baseline, through the test host")]
struct Args {
    /// Seconds measured per endpoint.
    #[arg(long, default_value = "10", value_parser = seconds)]
    duration: Duration,
    /// Seconds of unmeasured warm-up per endpoint.
    #[arg(long, default_value = "2", value_parser = seconds)]
    warmup: Duration,
    /// Connections, each with one request in flight.
    #[arg(long, default_value = "16")]
    concurrency: NonZeroUsize,
    /// Key-value store behind the app.
    #[arg(long, value_enum, default_value_t = Store::Sqlite)]
    kv: Store,
    /// Also write the figures to this file as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Positive seconds, fractions allowed (`0.3`).
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let options = Options { store: args.kv, concurrency: args.concurrency, warmup: args.warmup, duration: args.duration };
    let report = catalogue_bench::run(&options).await?;
    print!("{report}");
    if let Some(path) = &args.json {
        let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(file, &report)?;
    }
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(TARGET_FAILED) })
}
