//! `catalogue-bench`: runs the catalogue benchmark (see the library) and prints its figures
//! and targets. Exits 3 if a target fails, so a script can gate on it; 1 with the error as the
//! last line on stderr if the benchmark could not run; 2 for bad arguments (clap's code).

use anyhow::Context as _;
use catalogue_bench::{Options, Store};
use clap::Parser;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Distinct from a run that failed (1) and from clap's usage errors (2).
const TARGET_FAILED: u8 = 3;

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

/// Runs, prints and saves the report; whether every target passed.
async fn run(args: &Args) -> anyhow::Result<bool> {
    let options = Options { store: args.kv, concurrency: args.concurrency, warmup: args.warmup, duration: args.duration };
    let report = catalogue_bench::run(&options).await?;
    print!("{report}");
    if let Some(path) = &args.json {
        let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(file, &report)?;
    }
    Ok(report.passed())
}
