//! Issue 19: the floor. `tests/floor` holds `../shared/baseline`'s two minimal spin-sdk 7
//! components (`/empty` answers "ok" and touches nothing; `/kv` opens the default store and
//! reads one key), plus one write, three writes and one increment. Every in-process benchmark
//! serves them beside the app, on a store of their own of the same kind, and measures the empty
//! and the one-read paths in the same turns as the app's endpoints ([`Floor::calls`]): an
//! endpoint's throughput divided by the one-read floor's says how close it is to what the host
//! (and so Spin) allows, whatever the machine.
//!
//! The `floor` benchmark ([`run`]) measures the floor alone, read, write and increment included,
//! and sets the host's ratios beside those measured on real Spin 4.1 (`../shared/docs/
//! spin-notes.md`, issue 19), to show whether the host's key-value store costs what Spin's does.

use crate::load::{self, Call, Calls, Phase};
use crate::report::{self, Endpoint, FloorFigures, Target};
use crate::{Options, RunId, Served, Site, Tokens};
use anyhow::Context as _;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The floor's paths (tests/floor/spin.toml).
pub const EMPTY: &str = "/empty";
pub const ONE_READ: &str = "/kv";
pub const WRITE: &str = "/write";
pub const WRITE3: &str = "/write3";
pub const WRITE3_NEW: &str = "/write3new";
pub const INCREMENT: &str = "/incr";

/// Measured on real Spin 4.1, 2 cores, wrk -t2 -c16, `Connection: close`, SQLite store
/// (issue 19's medians; the ranges are spin-notes.md's and ../shared/baseline's).
pub const SPIN_EMPTY: f64 = 11_400.0;
pub const SPIN_EMPTY_RANGE: (f64, f64) = (10_400.0, 12_000.0);
pub const SPIN_ONE_READ: f64 = 8_400.0;
pub const SPIN_ONE_READ_RANGE: (f64, f64) = (7_900.0, 8_700.0);
/// Three `set`s ran at ~0.9× one `get`.
pub const SPIN_THREE_WRITES_TO_ONE_READ: f64 = 0.9;
/// The host's ratios must be within this share of Spin's.
pub const TOLERANCE: f64 = 0.15;

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../floor/spin.toml")
}

/// The floor served in-process beside the app, until dropped.
pub(crate) struct Floor {
    pub base: Arc<str>,
    _served: Served,
}

impl Floor {
    /// The floor beside an in-process app; none with `--url` (the floor is not deployed there).
    pub(crate) async fn beside(options: &Options) -> anyhow::Result<Option<Floor>> {
        if options.url.is_some() {
            return Ok(None);
        }
        Floor::serve(options).await.map(Some)
    }

    /// Serves tests/floor on a fresh store of `store`'s kind, of its own.
    async fn serve(options: &Options) -> anyhow::Result<Floor> {
        let served = crate::serve_manifest(&manifest(), options, HashMap::new(), false)
            .await
            .context("loading tests/floor; build it first: cargo build --target wasm32-wasip2 --release -p floor (scripts/bench.sh does)")?;
        Ok(Floor { base: served.base.clone().into(), _served: served })
    }

    /// The empty and the one-read paths, to measure beside the app's endpoints.
    pub(crate) fn calls(&self) -> [Calls; 2] {
        [EMPTY, ONE_READ].map(|path| Calls::Cycle(vec![Call::get_at(&self.base, path.into())].into()))
    }
}

/// `endpoints` with the floor's two in front when there is a floor.
pub(crate) fn with_floor(floor: &Option<Floor>, endpoints: impl IntoIterator<Item = Calls>) -> Vec<Calls> {
    floor.iter().flat_map(Floor::calls).chain(endpoints).collect()
}

/// Splits the floor's two phases (in front, see [`with_floor`]) off the app's.
pub(crate) fn split(floor: &Option<Floor>, mut phases: Vec<Phase>, concurrency: usize) -> (Option<FloorFigures>, Vec<Phase>) {
    if floor.is_none() {
        return (None, phases);
    }
    let rest = phases.split_off(2);
    let [empty, one_read] = <[Phase; 2]>::try_from(phases).ok().expect("the floor's two phases");
    let figures = FloorFigures {
        empty: Endpoint::from_phase(&empty, concurrency, |_| false),
        one_read: Endpoint::from_phase(&one_read, concurrency, |_| false),
    };
    (Some(figures), rest)
}

/// One connection mode's figures of the floor benchmark.
#[derive(Debug, Serialize)]
pub struct Mode {
    pub connection_close: bool,
    pub empty: Endpoint,
    pub one_read: Endpoint,
    pub write: Endpoint,
    pub three_writes: Endpoint,
    pub three_new_writes: Endpoint,
    pub increment: Endpoint,
    pub one_read_to_empty: f64,
    pub write_to_one_read: f64,
    pub three_writes_to_one_read: f64,
    pub three_new_writes_to_one_read: f64,
    pub increment_to_one_read: f64,
}

impl Mode {
    fn endpoints(&self) -> [(&'static str, &Endpoint); 6] {
        [
            ("empty", &self.empty),
            ("one read", &self.one_read),
            ("one write", &self.write),
            ("3 writes", &self.three_writes),
            ("3 new writes", &self.three_new_writes),
            ("increment", &self.increment),
        ]
    }
}

/// What the floor benchmark measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The in-process store, or the URL of a floor deployed elsewhere (`spin up` of
    /// tests/floor/spin.toml).
    pub store: String,
    pub url: Option<String>,
    pub concurrency: usize,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub turns: u32,
    /// In-process: keep-alive, then `Connection: close` (Spin's figures were measured so, and the
    /// targets are judged on it); with `--url`, the mode asked for.
    pub modes: Vec<Mode>,
    pub targets: Vec<Target>,
}

/// Measures the floor's five paths in turns, in each connection mode.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let (served, base) = match &options.url {
        Some(url) => (None, url.trim_end_matches('/').to_owned()),
        None => {
            let floor = Floor::serve(options).await?;
            let base = floor.base.to_string();
            (Some(floor), base)
        }
    };
    let remote = served.is_none();
    let site = Site {
        base,
        tokens: Tokens { secret: "".into(), iat: 0 },
        today: crate::business_day(),
        as_of: crate::business_day(),
        run: RunId::none(),
        remote,
        _served: None,
    };
    let paths = [EMPTY, ONE_READ, WRITE, WRITE3, WRITE3_NEW, INCREMENT];
    let endpoints: Vec<Calls> = paths.iter().map(|path| Calls::Cycle(vec![Call::get((*path).into())].into())).collect();
    let modes: Vec<bool> = if remote { vec![options.connection_close] } else { vec![false, true] };
    let concurrency = options.concurrency.get();
    let mut measured = Vec::new();
    for connection_close in modes {
        let clients = load::clients(concurrency, connection_close)?;
        let phases = load::interleave(&clients, &site, &endpoints, options.warmup, options.duration).await?;
        let [empty, one_read, write, three_writes, three_new_writes, increment] =
            <[Phase; 6]>::try_from(phases).ok().expect("six phases").map(|phase| Endpoint::from_phase(&phase, concurrency, |_| false));
        let to = |a: &Endpoint, b: &Endpoint| a.requests_per_second / b.requests_per_second;
        measured.push(Mode {
            connection_close,
            one_read_to_empty: to(&one_read, &empty),
            write_to_one_read: to(&write, &one_read),
            three_writes_to_one_read: to(&three_writes, &one_read),
            three_new_writes_to_one_read: to(&three_new_writes, &one_read),
            increment_to_one_read: to(&increment, &one_read),
            empty,
            one_read,
            write,
            three_writes,
            three_new_writes,
            increment,
        });
    }
    drop(served);
    let mut report = Report {
        store: options.url.clone().unwrap_or_else(|| options.store_name().to_owned()),
        url: options.url.clone(),
        concurrency,
        warmup_seconds: options.warmup.as_secs_f64(),
        duration_seconds: options.duration.as_secs_f64(),
        turns: load::turns(options.duration),
        modes: measured,
        targets: Vec::new(),
    };
    report.judge();
    Ok(report)
}

/// A host ratio within [`TOLERANCE`] of Spin's.
fn spin_ratio_target(name: &str, host: f64, spin: f64) -> Target {
    let (low, high) = (spin * (1.0 - TOLERANCE), spin * (1.0 + TOLERANCE));
    Target::new(format!("{name}: Spin's {spin:.2} ±15% ({low:.2}–{high:.2})"), format!("{host:.2}"), (low..=high).contains(&host))
}

impl Report {
    /// The ratios of the `Connection: close` mode (Spin's) against Spin's, each path's
    /// key-value operations, no errors.
    pub fn judge(&mut self) {
        let mut targets = Vec::new();
        let judged = self.modes.iter().find(|m| m.connection_close).or(self.modes.first());
        if let Some(mode) = judged {
            let how = if mode.connection_close { "close" } else { "keep-alive" };
            targets.push(spin_ratio_target(&format!("one read / empty ({how})"), mode.one_read_to_empty, SPIN_ONE_READ / SPIN_EMPTY));
            targets.push(spin_ratio_target(&format!("3 writes / one read ({how})"), mode.three_writes_to_one_read, SPIN_THREE_WRITES_TO_ONE_READ));
        }
        if let Some(mode) = judged {
            // each path does exactly its own operations (reads count increment, see kv.rs)
            for (name, endpoint, reads, writes) in [
                ("empty", &mode.empty, 0, 0),
                ("one read", &mode.one_read, 1, 0),
                ("one write", &mode.write, 0, 1),
                ("3 writes", &mode.three_writes, 0, 3),
                ("3 new writes", &mode.three_new_writes, 0, 3),
                ("increment", &mode.increment, 1, 0),
            ] {
                let target = format!("{name}: {reads} kv reads, {writes} kv writes per request");
                targets.push(match &endpoint.kv {
                    Some(kv) => Target::new(
                        target,
                        format!("{}–{}r {}w", kv.kv_reads_min, kv.kv_reads_max, kv.kv_writes_max),
                        (kv.kv_reads_min, kv.kv_reads_max, kv.kv_writes_max) == (reads, reads, writes) && kv.kv_writes_mean == writes as f64,
                    ),
                    None => Target::unmeasured(target),
                });
            }
        }
        let all: Vec<&Endpoint> = self.modes.iter().flat_map(|m| m.endpoints().map(|(_, e)| e)).collect();
        targets.push(crate::no_errors_target(&all));
        self.targets = targets;
    }

    pub fn passed(&self) -> bool {
        report::all_passed(&self.targets)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = match &self.url {
            Some(url) => format!("the floor at {url} (tests/floor/spin.toml served there)"),
            None => format!("tests/floor through the test host, {} store", self.store),
        };
        writeln!(
            f,
            "floor benchmark (issue 19): {place}, {} connections, {:.1} s per path after {:.1} s warm-up, in {} turns",
            self.concurrency, self.duration_seconds, self.warmup_seconds, self.turns
        )?;
        writeln!(f, "(the load generator runs in the same process as the host, on the same cores; on Spin it was wrk)\n")?;
        for mode in &self.modes {
            let how = if mode.connection_close { "Connection: close (a connection per request, as Spin was measured)" } else { "keep-alive connections" };
            writeln!(f, "{how}:")?;
            report::endpoint_table(f, &mode.endpoints())?;
            writeln!(f)?;
        }
        writeln!(f, "{:<26}{:>14}{:>14}   {}", "ratio", "keep-alive", "close", "Spin 4.1 (Connection: close)")?;
        let mode = |close: bool| self.modes.iter().find(|m| m.connection_close == close);
        let cell = |close: bool, ratio: fn(&Mode) -> f64| mode(close).map_or_else(|| "—".to_owned(), |m| format!("{:.2}", ratio(m)));
        let (e, r) = (SPIN_EMPTY_RANGE, SPIN_ONE_READ_RANGE);
        let rows: [(&str, fn(&Mode) -> f64, String); 5] = [
            (
                "one read / empty",
                |m| m.one_read_to_empty,
                format!("{:.2} ({:.0} / {:.0} req/s; {:.2}–{:.2} over the ranges)", SPIN_ONE_READ / SPIN_EMPTY, SPIN_ONE_READ, SPIN_EMPTY, r.0 / e.1, r.1 / e.0),
            ),
            ("3 writes / one read", |m| m.three_writes_to_one_read, format!("~{SPIN_THREE_WRITES_TO_ONE_READ:.2} (values unknown: judged as the same value)")),
            ("3 new writes / one read", |m| m.three_new_writes_to_one_read, "not measured".to_owned()),
            ("one write / one read", |m| m.write_to_one_read, "not measured".to_owned()),
            ("increment / one read", |m| m.increment_to_one_read, "not measured".to_owned()),
        ];
        for (name, ratio, spin) in rows {
            writeln!(f, "{name:<26}{:>14}{:>14}   {spin}", cell(false, ratio), cell(true, ratio))?;
        }
        writeln!(
            f,
            "(3 writes store the value already stored, which SQLite overwrites without changing a page: no journal, no\n \
             flush; 3 new writes and increment change pages, and with Spin's journal (no pragma: a rollback journal,\n \
             synchronous FULL) each such commit waits for the disk's flushes. Which values Spin's 0.9 wrote is not\n \
             known; the target takes the first.)"
        )?;
        writeln!(
            f,
            "(Spin's absolute figures: empty {:.0}–{:.0} req/s, one read {:.0}–{:.0} req/s; absolute figures depend on the\n \
             machine and the load generator, the ratios are what compares.)\n",
            e.0, e.1, r.0, r.1
        )?;
        report::target_table(f, &self.targets)
    }
}
