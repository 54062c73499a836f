//! Figures from the measured phases, the targets judged on them, and the printed table.

use crate::kv::KvCount;
use crate::load::Phase;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// Issue 3's targets.
const IMPORT_LIMIT: Duration = Duration::from_secs(10);
const LOOKUP_RATIO: f64 = 0.8;
const SEARCH_RATIO: f64 = 0.5;
const READ_BUDGET: u64 = 2;

/// The host retires an instance after this many requests, as Spin does (tests/host/README.md),
/// and a new instance must load the catalogue into its cache before it can answer.
const REQUESTS_PER_INSTANCE: u64 = 128;

/// Above this share of the machine's CPU taken by other processes, the figures are flagged.
const BUSY_MACHINE: f64 = 0.05;

/// At most this many error messages are kept per endpoint; the count covers them all.
const ERROR_SAMPLES: usize = 5;

/// What the benchmark measured, printed as a table or written as JSON.
#[derive(Debug, Serialize)]
pub struct Report {
    pub store: &'static str,
    pub concurrency: usize,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub import: Import,
    pub codes: usize,
    pub queries: usize,
    pub baseline: Endpoint,
    pub lookup: Endpoint,
    pub search: Endpoint,
    pub lookup_to_baseline: f64,
    pub search_to_baseline: f64,
    pub targets: Vec<Target>,
}

#[derive(Debug, Serialize)]
pub struct Import {
    pub status: u16,
    pub entries: u64,
    pub ms: f64,
    pub kv_reads: u64,
    pub kv_writes: u64,
}

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
    /// Over every successful request.
    pub kv_reads_min: u64,
    pub kv_reads_mean: f64,
    pub kv_reads_max: u64,
    pub kv_writes_mean: f64,
    pub kv_writes_max: u64,
    /// Requests that read more than one stored value, i.e. found an instance that had not
    /// read the catalogue log yet (a lookup reads one entry; a search none when warm).
    pub catalogue_loads: u64,
    /// Their mean latency: what a new instance costs the request that finds it.
    pub catalogue_load_mean_ms: f64,
    /// The most loads that instance turnover can explain: every instance there could have been
    /// at the start (one per connection) and every one the host could have started since.
    pub catalogue_loads_allowed: u64,
    /// Over the requests that did not load the catalogue: what a warm instance costs.
    pub warm_kv_reads_max: u64,
}

impl Endpoint {
    pub fn from_phase(phase: &Phase, concurrency: usize) -> Endpoint {
        let counts: Vec<_> = phase.samples.iter().filter_map(|s| s.outcome.as_ref().ok()).collect();
        let errors: Vec<&String> = phase.samples.iter().filter_map(|s| s.outcome.as_ref().err()).collect();
        let loads: Vec<Duration> =
            phase.samples.iter().filter(|s| s.outcome.as_ref().is_ok_and(KvCount::is_load)).map(|s| s.latency).collect();
        let mut latencies: Vec<Duration> = phase.samples.iter().map(|s| s.latency).collect();
        latencies.sort_unstable();
        let requests = phase.samples.len() as u64;
        let mean = |total: u64| if counts.is_empty() { 0.0 } else { total as f64 / counts.len() as f64 };
        Endpoint {
            requests,
            requests_per_second: requests as f64 / phase.elapsed.as_secs_f64(),
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
            errors: errors.len() as u64,
            error_samples: errors.into_iter().take(ERROR_SAMPLES).cloned().collect(),
            others_cpu_percent: phase.others_cpu.map(|share| share * 100.0),
            kv_reads_min: counts.iter().map(|c| c.reads).min().unwrap_or(0),
            kv_reads_mean: mean(counts.iter().map(|c| c.reads).sum()),
            kv_reads_max: counts.iter().map(|c| c.reads).max().unwrap_or(0),
            kv_writes_mean: mean(counts.iter().map(|c| c.writes).sum()),
            kv_writes_max: counts.iter().map(|c| c.writes).max().unwrap_or(0),
            catalogue_loads: loads.len() as u64,
            catalogue_load_mean_ms: if loads.is_empty() {
                0.0
            } else {
                loads.iter().map(|d| d.as_secs_f64() * 1000.0).sum::<f64>() / loads.len() as f64
            },
            catalogue_loads_allowed: 2 * concurrency as u64 + requests.div_ceil(REQUESTS_PER_INSTANCE),
            warm_kv_reads_max: counts.iter().filter(|c| !c.is_load()).map(|c| c.reads).max().unwrap_or(0),
        }
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
}

impl Target {
    fn new(name: impl Into<String>, figure: String, passed: bool) -> Target {
        Target { name: name.into(), figure, passed }
    }
}

impl Report {
    /// Judges the targets. Besides them: no errors at all (a fast error is not a fast
    /// answer), the baseline is exactly the one read it stands for, and catalogue loads are
    /// rare enough to be instance turnover, which keeps the warm-instance read figure honest.
    pub fn judge(&mut self) {
        let mut targets = vec![
            Target::new(
                format!("import of the full 2024 file < {} s", IMPORT_LIMIT.as_secs()),
                format!("{:.0} ms", self.import.ms),
                self.import.ms < IMPORT_LIMIT.as_secs_f64() * 1000.0,
            ),
            Target::new(
                format!("lookup ≥ {LOOKUP_RATIO}× baseline throughput"),
                format!("{:.2}×", self.lookup_to_baseline),
                self.lookup_to_baseline >= LOOKUP_RATIO,
            ),
            Target::new(
                format!("search ≥ {SEARCH_RATIO}× baseline throughput"),
                format!("{:.2}×", self.search_to_baseline),
                self.search_to_baseline >= SEARCH_RATIO,
            ),
        ];
        for (name, endpoint) in [("lookup", &self.lookup), ("search", &self.search)] {
            targets.push(Target::new(
                format!("{name}: ≤ {READ_BUDGET} kv reads per request on a warm instance"),
                format!("max {}", endpoint.warm_kv_reads_max),
                endpoint.warm_kv_reads_max <= READ_BUDGET,
            ));
            targets.push(Target::new(
                format!("{name}: catalogue loaded only by new instances"),
                format!("{} ≤ {}", endpoint.catalogue_loads, endpoint.catalogue_loads_allowed),
                endpoint.catalogue_loads <= endpoint.catalogue_loads_allowed,
            ));
        }
        targets.push(Target::new(
            "baseline: exactly 1 kv read per request",
            format!("{}–{}", self.baseline.kv_reads_min, self.baseline.kv_reads_max),
            (self.baseline.kv_reads_min, self.baseline.kv_reads_max) == (1, 1),
        ));
        let errors = self.baseline.errors + self.lookup.errors + self.search.errors;
        targets.push(Target::new("no errors (every answer 200)", errors.to_string(), errors == 0));
        self.targets = targets;
    }

    pub fn passed(&self) -> bool {
        self.targets.iter().all(|t| t.passed)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "catalogue benchmark: {} store, {} connections, {:.1} s per endpoint after {:.1} s warm-up",
            self.store, self.concurrency, self.duration_seconds, self.warmup_seconds
        )?;
        let import = &self.import;
        writeln!(
            f,
            "import of nrdl-2024.xlsx: {} entries in {:.0} ms (status {}; {} kv reads, {} kv writes)",
            import.entries, import.ms, import.status, import.kv_reads, import.kv_writes
        )?;
        writeln!(f, "{} drug codes to look up, {} search queries\n", self.codes, self.queries)?;
        writeln!(
            f,
            "endpoint  requests     req/s   p50 ms   p99 ms  errors   \
             kv reads min/mean/max   kv writes mean/max   catalogue loads   others' CPU"
        )?;
        for (name, e) in [("baseline", &self.baseline), ("lookup", &self.lookup), ("search", &self.search)] {
            writeln!(
                f,
                "{name:<9}{:>9}{:>10.0}{:>9.2}{:>9.2}{:>8}   {:<24}{:<21}{:<18}{}",
                e.requests,
                e.requests_per_second,
                e.p50_ms,
                e.p99_ms,
                e.errors,
                format!("{} / {:.3} / {}", e.kv_reads_min, e.kv_reads_mean, e.kv_reads_max),
                format!("{:.3} / {}", e.kv_writes_mean, e.kv_writes_max),
                e.catalogue_loads,
                e.others_cpu_percent.map_or_else(|| "unknown".to_owned(), |p| format!("{p:.0}%"))
            )?;
            for sample in &e.error_samples {
                writeln!(f, "  error: {sample}")?;
            }
        }
        writeln!(
            f,
            "(kv reads count increment, the app's counter read. A catalogue load is a request on a new instance, which\n \
             reads the log (and, for search, the edition's chunks) into its cache; loads are in every figure above. Mean\n \
             latency of a load: lookup {:.1} ms, search {:.1} ms.)\n",
            self.lookup.catalogue_load_mean_ms, self.search.catalogue_load_mean_ms
        )?;
        let busiest =
            [&self.baseline, &self.lookup, &self.search].iter().filter_map(|e| e.others_cpu_percent).fold(0.0, f64::max);
        if busiest > BUSY_MACHINE * 100.0 {
            writeln!(
                f,
                "WARNING: other processes took up to {busiest:.0}% of the machine's CPU during a phase; the ratios below \
                 are not reliable. Run again on a quiet machine.\n"
            )?;
        }
        writeln!(f, "lookup/baseline throughput: {:.2}×", self.lookup_to_baseline)?;
        writeln!(f, "search/baseline throughput: {:.2}×\n", self.search_to_baseline)?;
        writeln!(f, "{:<54}{:<14}result", "target", "figure")?;
        for t in &self.targets {
            writeln!(f, "{:<54}{:<14}{}", t.name, t.figure, if t.passed { "PASS" } else { "FAIL" })?;
        }
        Ok(())
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
