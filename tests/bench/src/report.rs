//! What every benchmark reports per endpoint: throughput, latency, errors and key-value
//! operations per request, the targets judged on them, and the shared parts of the printed table.

use crate::kv::KvCount;
use crate::load::Phase;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// The host retires an instance after this many requests, as Spin does (tests/host/README.md),
/// and a new instance must load its caches (the catalogue, logs) before it can answer.
const REQUESTS_PER_INSTANCE: u64 = 128;

/// Above this share of the machine's CPU taken by other processes, the figures are flagged.
pub const BUSY_MACHINE: f64 = 0.05;

/// At most this many error messages are kept per endpoint; the count covers them all.
const ERROR_SAMPLES: usize = 5;

/// One endpoint's phase: throughput, latency, errors and key-value operations per request.
#[derive(Debug, Serialize)]
pub struct Endpoint {
    pub requests: u64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    /// Percent of the machine's CPU other processes used during the phase, where known.
    pub others_cpu_percent: Option<f64>,
    /// The key-value figures, where every answer counted its operations (the test host's
    /// header): none against a deployment, whose figures are then not measured.
    #[serde(flatten)]
    pub kv: Option<KvFigures>,
    /// Whether the key-value figures were measured (false against a deployment).
    pub kv_measured: bool,
}

/// An endpoint's key-value operations per request, and the instance loads told by them.
#[derive(Debug, Serialize)]
pub struct KvFigures {
    /// Over every successful request.
    pub kv_reads_min: u64,
    pub kv_reads_mean: f64,
    pub kv_reads_max: u64,
    pub kv_writes_mean: f64,
    pub kv_writes_max: u64,
    /// Requests that found a new instance and loaded data into its caches (the catalogue log
    /// and chunks, an index log), told apart from warm answers by the caller's test.
    pub instance_loads: u64,
    /// Their mean latency: what a new instance costs the request that finds it.
    pub instance_load_mean_ms: f64,
    /// The most loads that instance turnover can explain: every instance there could have been
    /// at the start (one per connection) and every one the host could have started since.
    pub instance_loads_allowed: u64,
    /// Over the requests that did not load: what a warm instance costs.
    pub warm_kv_reads_max: u64,
}

/// Why a figure or target is missing against a deployment.
pub const NOT_MEASURED: &str = "not measured remotely: no kv header (the in-process run measures it)";

impl Endpoint {
    /// `is_load` tells a request that loaded a new instance's caches from a warm answer.
    pub fn from_phase(phase: &Phase, concurrency: usize, is_load: impl Fn(&KvCount) -> bool) -> Endpoint {
        let answered: Vec<&Option<KvCount>> = phase.samples.iter().filter_map(|s| s.outcome.as_ref().ok()).collect();
        let errors: Vec<&String> = phase.samples.iter().filter_map(|s| s.outcome.as_ref().err()).collect();
        let mut latencies: Vec<Duration> = phase.samples.iter().map(|s| s.latency).collect();
        latencies.sort_unstable();
        let requests = phase.samples.len() as u64;
        let kv = answered.iter().all(|c| c.is_some()).then(|| {
            let counts: Vec<&KvCount> = answered.iter().filter_map(|c| c.as_ref()).collect();
            let loads: Vec<Duration> =
                phase.samples.iter().filter(|s| s.outcome.as_ref().is_ok_and(|c| c.as_ref().is_some_and(&is_load))).map(|s| s.latency).collect();
            let mean = |total: u64| if counts.is_empty() { 0.0 } else { total as f64 / counts.len() as f64 };
            KvFigures {
                kv_reads_min: counts.iter().map(|c| c.reads).min().unwrap_or(0),
                kv_reads_mean: mean(counts.iter().map(|c| c.reads).sum()),
                kv_reads_max: counts.iter().map(|c| c.reads).max().unwrap_or(0),
                kv_writes_mean: mean(counts.iter().map(|c| c.writes).sum()),
                kv_writes_max: counts.iter().map(|c| c.writes).max().unwrap_or(0),
                instance_loads: loads.len() as u64,
                instance_load_mean_ms: if loads.is_empty() {
                    0.0
                } else {
                    loads.iter().map(|d| d.as_secs_f64() * 1000.0).sum::<f64>() / loads.len() as f64
                },
                instance_loads_allowed: 2 * concurrency as u64 + requests.div_ceil(REQUESTS_PER_INSTANCE),
                warm_kv_reads_max: counts.iter().filter(|c| !is_load(c)).map(|c| c.reads).max().unwrap_or(0),
            }
        });
        Endpoint {
            requests,
            requests_per_second: requests as f64 / phase.elapsed.as_secs_f64(),
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
            errors: errors.len() as u64,
            error_samples: errors.into_iter().take(ERROR_SAMPLES).cloned().collect(),
            others_cpu_percent: phase.others_cpu.map(|share| share * 100.0),
            kv_measured: kv.is_some(),
            kv,
        }
    }

    /// Loads no more frequent than instance turnover explains, which keeps the warm-instance
    /// figures honest.
    pub fn loads_target(&self, name: &str) -> Target {
        let name = format!("{name}: caches loaded only by new instances");
        match &self.kv {
            Some(kv) => Target::new(
                name,
                format!("{} ≤ {}", kv.instance_loads, kv.instance_loads_allowed),
                kv.instance_loads <= kv.instance_loads_allowed,
            ),
            None => Target::unmeasured(name),
        }
    }

    /// The mean latency of the requests that loaded a new instance's caches, for the notes.
    pub fn instance_load_ms(&self) -> String {
        self.kv.as_ref().map_or_else(|| "not measured".to_owned(), |kv| format!("{:.1} ms", kv.instance_load_mean_ms))
    }
}

/// Nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    let rank = ((p * sorted.len() as f64).ceil() as usize).saturating_sub(1).min(last);
    sorted[rank].as_secs_f64() * 1000.0
}

/// One of the targets, or a property without which the figures would mean nothing.
#[derive(Debug, Serialize)]
pub struct Target {
    pub name: String,
    pub figure: String,
    pub passed: bool,
    /// Not judged, for the reason in `figure` (a figure a deployment does not report): counts
    /// as passed, printed as SKIP.
    pub skipped: bool,
}

impl Target {
    pub fn new(name: impl Into<String>, figure: String, passed: bool) -> Target {
        Target { name: name.into(), figure, passed, skipped: false }
    }

    /// A target not judged, and why.
    pub fn skipped(name: impl Into<String>, reason: impl Into<String>) -> Target {
        Target { name: name.into(), figure: reason.into(), passed: true, skipped: true }
    }

    /// A target judged on key-value operations, which a deployment does not report.
    pub fn unmeasured(name: impl Into<String>) -> Target {
        Target::skipped(name, NOT_MEASURED)
    }
}

/// A warm request's key-value operations (reads, counter reads included, plus writes) within a
/// budget; skipped where they were not counted.
pub fn budget_target(name: &str, count: Option<KvCount>, budget: u64) -> Target {
    let name = format!("{name}: ≤ {budget} kv operations on a warm instance");
    match count {
        Some(count) => Target::new(name, (count.reads + count.writes).to_string(), count.reads + count.writes <= budget),
        None => Target::unmeasured(name),
    }
}

/// Whether every target passed.
pub fn all_passed(targets: &[Target]) -> bool {
    targets.iter().all(|t| t.passed)
}

/// How a benchmark ran: the first line of its report.
#[derive(Debug, Serialize)]
pub struct Run {
    /// The in-process store, or the deployment's URL with the run id and business date.
    pub store: String,
    /// The deployment benchmarked (`--url`), if not in-process.
    pub url: Option<String>,
    /// The run id inside every code the run stored (empty in-process).
    pub run_id: String,
    pub connection_close: bool,
    pub concurrency: usize,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
}

impl Run {
    pub(crate) fn new(options: &crate::Options, site: &crate::Site) -> Run {
        Run {
            store: site.name(options),
            url: options.url.clone(),
            run_id: site.run.prefix.clone(),
            connection_close: options.connection_close,
            concurrency: options.concurrency.get(),
            warmup_seconds: options.warmup.as_secs_f64(),
            duration_seconds: options.duration.as_secs_f64(),
        }
    }

    pub fn header(&self, f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
        let Run { store, concurrency, warmup_seconds, duration_seconds, url, connection_close, .. } = self;
        let place = if url.is_some() { format!("the app at {store}") } else { format!("{store} store") };
        let close = if *connection_close { ", Connection: close (a connection per request)" } else { "" };
        writeln!(f, "{name} benchmark: {place}, {concurrency} connections{close}, {duration_seconds:.1} s per endpoint after {warmup_seconds:.1} s warm-up")?;
        if url.is_some() {
            writeln!(
                f,
                "(seeded through the API under run id {}; key-value operations not measured: a deployment reports none, the\n \
                 in-process run measures them; others' CPU not measured: the app may be one of the other processes)",
                self.run_id
            )?;
        }
        Ok(())
    }
}

/// How long storing each kind of record took.
pub fn seeding_table(f: &mut fmt::Formatter<'_>, seeding: &[crate::prescription::Seeding]) -> fmt::Result {
    for s in seeding {
        writeln!(f, "  {:<34}{:>8} requests {:>8.1} s {:>8.0}/s", s.what, s.requests, s.seconds, s.requests as f64 / s.seconds)?;
    }
    Ok(())
}

/// The endpoint table: one row per named endpoint, with its error samples below it.
pub fn endpoint_table(f: &mut fmt::Formatter<'_>, endpoints: &[(&str, &Endpoint)]) -> fmt::Result {
    writeln!(
        f,
        "endpoint       requests     req/s   p50 ms   p99 ms  errors   \
         kv reads min/mean/max   kv writes mean/max   instance loads   others' CPU"
    )?;
    for (name, e) in endpoints {
        writeln!(
            f,
            "{name:<14}{:>9}{:>10.0}{:>9.2}{:>9.2}{:>8}   {:<24}{:<21}{:<17}{}",
            e.requests,
            e.requests_per_second,
            e.p50_ms,
            e.p99_ms,
            e.errors,
            e.kv.as_ref().map_or_else(|| "not measured".to_owned(), |kv| format!("{} / {:.3} / {}", kv.kv_reads_min, kv.kv_reads_mean, kv.kv_reads_max)),
            e.kv.as_ref().map_or_else(|| "not measured".to_owned(), |kv| format!("{:.3} / {}", kv.kv_writes_mean, kv.kv_writes_max)),
            e.kv.as_ref().map_or_else(|| "not measured".to_owned(), |kv| kv.instance_loads.to_string()),
            e.others_cpu_percent.map_or_else(|| "unknown".to_owned(), |p| format!("{p:.0}%"))
        )?;
        for sample in &e.error_samples {
            writeln!(f, "  error: {sample}")?;
        }
    }
    let busiest = endpoints.iter().filter_map(|(_, e)| e.others_cpu_percent).fold(0.0, f64::max);
    if busiest > BUSY_MACHINE * 100.0 {
        writeln!(
            f,
            "\nWARNING: other processes took up to {busiest:.0}% of the machine's CPU during a phase; the ratios below \
             are not reliable. Run again on a quiet machine."
        )?;
    }
    Ok(())
}

/// The targets, one per line with PASS or FAIL.
pub fn target_table(f: &mut fmt::Formatter<'_>, targets: &[Target]) -> fmt::Result {
    writeln!(f, "{:<62}{:<16}result", "target", "figure")?;
    for t in targets {
        if t.skipped {
            writeln!(f, "{:<62}{:<16}SKIP ({})", t.name, "", t.figure)?;
        } else {
            writeln!(f, "{:<62}{:<16}{}", t.name, t.figure, if t.passed { "PASS" } else { "FAIL" })?;
        }
    }
    Ok(())
}

/// Issue 19: the floor's empty and one-read components, measured in the same turns as a
/// benchmark's endpoints (see `floor.rs`).
#[derive(Debug, Serialize)]
pub struct FloorFigures {
    pub empty: Endpoint,
    pub one_read: Endpoint,
}

/// What an issue-19 ratio is taken against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Of {
    /// The minimal one-read component (the primary column).
    OneRead,
    /// The minimal empty component (the status endpoints' target).
    Empty,
}

/// One endpoint's throughput against the floor and against the app's baseline.
#[derive(Debug, Serialize)]
pub struct Ratio {
    pub endpoint: String,
    pub requests_per_second: f64,
    /// To the one-read floor; none where the floor was not measured (`--url`).
    pub to_floor: Option<f64>,
    /// To the empty floor.
    pub to_floor_empty: Option<f64>,
    pub to_baseline: f64,
    /// Issue 19's target: at least this much of the floor named.
    pub target: Option<(f64, Of)>,
    /// Whether the target is met; none without a target or without the floor.
    pub met: Option<bool>,
}

/// Issue 19's table: every endpoint against the floor (primary) and the app's baseline, with
/// the targets, reported as met or not met (they do not fail the run: the work
/// is to meet them).
#[derive(Debug, Serialize)]
pub struct FloorRatios {
    /// None against a deployment (`--url`): the floor is not deployed there.
    pub floor: Option<FloorFigures>,
    pub rows: Vec<Ratio>,
}

/// Issue 19's targets every benchmark shares: a component's status (its pipeline without a key
/// read) against the empty floor, and the app's one-read baseline against the one-read floor.
const STATUS_TO_EMPTY: f64 = 0.9;
const BASELINE_TO_FLOOR: f64 = 0.9;

impl FloorRatios {
    /// The rows of `status` and `baseline` with the targets every benchmark shares, then
    /// `endpoints`: each of the benchmark's own, and its target if the issue sets one.
    pub fn new(
        floor: Option<FloorFigures>,
        status: &Endpoint,
        baseline: &Endpoint,
        endpoints: &[(&str, &Endpoint, Option<(f64, Of)>)],
    ) -> FloorRatios {
        let shared = [("status", status, Some((STATUS_TO_EMPTY, Of::Empty))), ("baseline", baseline, Some((BASELINE_TO_FLOOR, Of::OneRead)))];
        let rows = shared
            .iter()
            .chain(endpoints)
            .map(|&(name, endpoint, target)| {
                let rps = endpoint.requests_per_second;
                let to_floor = floor.as_ref().map(|f| rps / f.one_read.requests_per_second);
                let to_floor_empty = floor.as_ref().map(|f| rps / f.empty.requests_per_second);
                let met = target.and_then(|(at_least, of)| match of {
                    Of::OneRead => to_floor,
                    Of::Empty => to_floor_empty,
                }
                .map(|ratio| ratio >= at_least));
                Ratio {
                    endpoint: name.to_owned(),
                    requests_per_second: rps,
                    to_floor,
                    to_floor_empty,
                    to_baseline: rps / baseline.requests_per_second,
                    target,
                    met,
                }
            })
            .collect();
        FloorRatios { floor, rows }
    }
}

impl fmt::Display for FloorRatios {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "issue 19: throughput against the floor (tests/floor = ../shared/baseline's minimal components, served beside")?;
        match &self.floor {
            Some(_) => writeln!(f, "the app on a store of their own and measured in the same turns)")?,
            None => writeln!(
                f,
                "the app): floor not measured: it is not deployed at --url (measure it there with `app-bench --url URL floor`
                  against a Spin serving tests/floor/spin.toml); the app's baseline column only"
            )?,
        }
        writeln!(f, "{:<16}{:>9}   {:<30}{:>16}", "endpoint", "req/s", "to the one-read floor", "to app baseline")?;
        if let Some(floor) = &self.floor {
            let one = floor.one_read.requests_per_second;
            writeln!(f, "{:<16}{:>9.0}   {:<30}{:>16}", "floor: empty", floor.empty.requests_per_second, format!("{:.2}", floor.empty.requests_per_second / one), "")?;
            writeln!(f, "{:<16}{:>9.0}   {:<30}{:>16}", "floor: one read", one, "1", "")?;
        }
        for row in &self.rows {
            let to_floor = match (row.to_floor, row.to_floor_empty, row.target) {
                (Some(one), Some(empty), Some((_, Of::Empty))) => format!("{one:.2} ({empty:.2} of the empty)"),
                (Some(one), _, _) => format!("{one:.2}"),
                _ => "not measured".to_owned(),
            };
            writeln!(f, "{:<16}{:>9.0}   {:<30}{:>16.2}", row.endpoint, row.requests_per_second, to_floor, row.to_baseline)?;
        }
        writeln!(f)?;
        for row in &self.rows {
            let Some((at_least, of)) = row.target else { continue };
            let floor = match of {
                Of::OneRead => "the one-read floor",
                Of::Empty => "the empty floor",
            };
            let (figure, met) = match (row.met, of) {
                (Some(met), Of::OneRead) => (format!("{:.2}", row.to_floor.unwrap_or_default()), if met { "met" } else { "not met" }),
                (Some(met), Of::Empty) => (format!("{:.2}", row.to_floor_empty.unwrap_or_default()), if met { "met" } else { "not met" }),
                (None, _) => (String::new(), "not measured (no floor)"),
            };
            writeln!(f, "target (issue 19): {:<44}{:<8}{met}", format!("{} ≥ {at_least}× {floor}", row.endpoint), figure)?;
        }
        writeln!(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.50), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted[..1], 0.99), 1.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
