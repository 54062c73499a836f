//! The settlement benchmark of issue 6: pre-settlement and settlement of dispensed
//! prescriptions against the one-read baseline in the same run, with the key-value operations
//! of each request.
//!
//! It stores, through the endpoints, the prescription benchmark's world (the workbook, the
//! region's lists, the registry, a filing per person) and the example settlement policy
//! (`docs/examples/settlement-policy.json`), then prescribes, reviews and dispenses the pool of
//! prescriptions the phases use: pre-settlement goes round them, settlement takes each once.

use crate::floor::{self, Floor};
use crate::load::{self, Call, Calls, Turns};
use crate::prescription::{PROBES, REGION, Seeder, Seeding, World, field};
use crate::report::{self, Endpoint, FloorRatios, Of, Run, Target};
use crate::{BASELINE, KvCount, Options, Site};
use anyhow::{Context as _, ensure};
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Issue 6 sets no ratio; these budgets (reads plus writes of one warm request, counter reads
/// included) guard the figures measured, for one line of a separate-payment drug. A
/// pre-settlement reads the revocation, the prescription (head and version), the person, the
/// institution, the dispensing pharmacy (S6: its region and whether it is open for
/// cross-region settlement), the policy and catalogue versions and the person's year (head and
/// version): 10 (13 while the year was one counter per accumulator). A settlement also holds the
/// prescription (holder head, a slot claim, the head moved, its name), writes `settling` and
/// `settled` (each a slot claim, a head move and the version), counts its accrual by writing
/// the year's next version (the same three), lists itself among the party's day's opened
/// settlements first (so that an agency finds it if it is left unfinished: three), lists
/// itself, and counts itself in the region's month ledgers of its drug and its party: each
/// read when `settled` names where it will count (two reads), then written (a claim, the head
/// moved, the version): 52 with the pharmacy's read (46 with one counter per drug and field,
/// whose claim marker before each add lost the amount when an instance died between the two).
/// Since issue 19, 44 to 47 (as the person's year and the month's ledgers are already written
/// or not): a new settlement's number, the person's year and an unwritten ledger are read once,
/// and its first count goes by the year it was computed from, where each was read twice; and
/// its person's and party's lists get their entries in one write and their markers in another
/// (`store::log::append_once_each`), two writes fewer.
/// (Until rule C7 refused a negotiated drug priced above its standard, the benchmark priced its
/// line above it and each settlement also raised an alert: 9 more.)
/// A pre-settlement read 10 keys one by one; since issue 19's read-ahead (`store::ReadAhead`,
/// the `kv_read_ahead` variable, on with Spin's default SQLite store) 2 or 3 operations: the
/// prescription (head and versions) with the token's revocation, everything the settlement
/// engine needs in one `get_many`, and the person's year where it was written.
const PRE_SETTLEMENT_BUDGET: u64 = 3;
const SETTLEMENT_BUDGET: u64 = 47;
/// The landing of one drug reads its month's ledgers whole (head and version each) and a fixed
/// rest: 15 once every ledger it reads exists. A ledger not written yet is one read (its empty
/// head), so a young store reads fewer; what matters is that no volume reads more. Since issue
/// 19 a month's four ledgers are read ahead (`store::versions::read_ahead_newest`): 2 operations
/// a month however many are written, 8 in all.
const LANDING_BUDGET: u64 = 8;
/// The month report reads each drug's 4 ledger shards (head and version each: 8 keys) in
/// `MONTH_REPORT_PER_DRUG` operations, 2 since issue 19's read-ahead (8 before), and at most
/// this many more, at any volume.
const MONTH_REPORT_PER_DRUG: i64 = 2;
const MONTH_REPORT_FIXED_BUDGET: i64 = 3;
/// What each prescription's one line costs at the pharmacy: at or below any standard (C7: a
/// negotiated drug's price may not exceed it; the drugs' standards differ, the cost of the
/// computation does not).
const UNIT_PRICE: &str = "0.01";
/// The settlement component's status: its pipeline without a key read (issue 19).
const STATUS: &str = "/api/settlements/status";

/// How much is stored before the measured phases.
#[derive(Clone, Debug, Serialize)]
pub struct Scale {
    /// Persons, each with one approved filing.
    pub persons: usize,
    /// Dispensed prescriptions, spread over the persons; settlement uses each once (its
    /// warm-up at most a fifth).
    pub pool: usize,
}

impl Scale {
    pub const ISSUE: Scale = Scale { persons: 5_000, pool: 20_000 };
}

#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub run: Run,
    pub scale: Scale,
    pub seeding: Vec<Seeding>,
    /// One warm request's key-value operations (not measured against a deployment).
    pub pre_settlement_ops: Option<KvCount>,
    pub settlement_ops: Option<KvCount>,
    pub baseline: Endpoint,
    pub pre_settlement: Endpoint,
    pub settlement: Endpoint,
    pub settlement_pool_used_up: bool,
    pub pre_settlement_to_baseline: f64,
    pub settlement_to_baseline: f64,
    /// Issue 17: the agency's month report per drug and one drug's landing, each read after
    /// the probes' few settlements and again after the whole settlement phase.
    pub supervision: Supervision,
    /// Issue 19: the settlement component's status (no key read), measured in the same turns.
    pub status: Endpoint,
    /// Issue 19: every endpoint against the floor measured in the same turns, and the app's
    /// baseline; the issue's targets as met or not met (not judged: they do not fail the run).
    pub issue19: FloorRatios,
    pub targets: Vec<Target>,
}

/// The supervision reads: their warm key-value operations at two volumes, and their throughput.
#[derive(Debug, Serialize)]
pub struct Supervision {
    /// Settlements stored when each count was taken.
    pub settlements_first: usize,
    pub settlements_all: usize,
    /// Not measured against a deployment.
    pub month_report_ops: Option<[KvCount; 2]>,
    /// Drugs in the month report at each count (the report reads 8 keys per drug, in 2 operations where it reads ahead).
    pub month_report_drugs: [usize; 2],
    pub landing_ops: Option<[KvCount; 2]>,
    pub month_report: Endpoint,
    pub landing: Endpoint,
    pub month_report_to_baseline: f64,
    pub landing_to_baseline: f64,
}

/// The supervision calls: the month report per drug, and the landing of `drug` (one the
/// probes settled, so that both counts read its month alone: a drug not settled in the month
/// also reads the months before, for the unused flag).
fn supervision_calls(world: &World, month: &str, drug: &str) -> [Call; 2] {
    [
        Call::get_as(format!("/api/monitoring/reports/drugs?admdvs={REGION}&month={month}"), &world.agency),
        Call::get_as(format!("/api/monitoring/landing?admdvs={REGION}&med_list_codg={drug}"), &world.agency),
    ]
}

/// Each supervision call's fewest operations over a few sends (a send can meet an instance
/// that has not filled its caches), with the report's number of drugs; the operations are none
/// from a deployment.
async fn count_supervision(client: &reqwest::Client, site: &Site, calls: &[Call; 2]) -> anyhow::Result<(Option<KvCount>, usize, Option<KvCount>)> {
    let base = site.base.as_str();
    let mut least: [Option<KvCount>; 2] = [None, None];
    let mut drugs = 0;
    for _ in 0..PROBES {
        for (n, call) in calls.iter().enumerate() {
            let (status, kv, body) = load::send(client, base, call).await?;
            ensure!(status == 200, "{} answered {status}: {}", call.path, String::from_utf8_lossy(&body));
            if let Some(kv) = kv {
                least[n] = Some(least[n].filter(|l| l.reads <= kv.reads).unwrap_or(kv));
            } else {
                ensure!(site.remote, "no key-value header");
            }
            if n == 0 {
                let report: Value = serde_json::from_slice(&body)?;
                drugs = ["separate_payment", "other"].iter().map(|g| report[g]["drugs"].as_array().map_or(0, Vec::len)).sum();
            }
        }
    }
    Ok((least[0], drugs, least[1]))
}

fn example_policy() -> anyhow::Result<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/settlement-policy.json");
    Ok(serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)?)
}

/// Settlement `n` of prescription `hi_rxno` by its pharmacy; pre-settlement when `setl_no`
/// is `None`.
fn settle_call(world: &World, n: usize, hi_rxno: &str, setl_no: Option<String>) -> anyhow::Result<Call> {
    let lines = json!([{"med_list_codg": world.drug_of(n), "unit_price": UNIT_PRICE}]);
    let token = world.pharmacist_token(n)?;
    Ok(match setl_no {
        Some(setl_no) => Call::post("/api/settlements".into(), &token, &json!({"setl_no": format!("{}{setl_no}", world.run.prefix), "hi_rxno": hi_rxno, "lines": lines, "acct_balance": "100.00"})),
        None => Call::post("/api/settlements/pre-settlement".into(), &token, &json!({"hi_rxno": hi_rxno, "lines": lines, "acct_balance": "100.00"})),
    })
}

/// Runs the whole benchmark at `scale` and judges the targets.
pub async fn run(options: &Options, scale: &Scale) -> anyhow::Result<Report> {
    ensure!(scale.persons >= 100 && scale.pool >= scale.persons + PROBES, "at least 100 persons and {PROBES} prescriptions more than persons");
    let site = Site::open(options).await?;
    let base = site.base.as_str();
    let concurrency = options.concurrency.get();
    let clients = load::clients(concurrency, options.connection_close)?;
    crate::import_workbook(&clients[0], &site).await?;
    let mut seeder = Seeder { clients: &clients, base, seeding: Vec::new() };
    let world = World::new(&clients[0], &site, scale.persons).await?;
    seeder.filings(&world).await?;
    // on a deployment, a correction of the region's policy for the same date (the last wins)
    let policy = vec![Call::put(format!("/api/settlements/regions/{REGION}/policy"), &world.agency, &example_policy()?)];
    seeder.run("settlement policy", policy, &[201]).await?;
    let stored = seeder.prescribe(&world, 0..scale.pool).await?;
    let reviews = stored.iter().enumerate().map(|(n, hi_rxno)| world.review(n, hi_rxno)).collect::<anyhow::Result<_>>()?;
    seeder.run("reviews", reviews, &[200]).await?;
    let dispensings = stored.iter().enumerate().map(|(n, hi_rxno)| world.dispense(n, hi_rxno)).collect::<anyhow::Result<_>>()?;
    seeder.run("dispensings", dispensings, &[200]).await?;

    // the probe: the last prescriptions, one request at a time, the fewest operations seen;
    // each after a settlement of the same person's earlier prescription, as most settlements
    // come in a year that already counts one (the first of a year reads one key fewer)
    let probes = stored.len() - PROBES..stored.len();
    let warmers: Vec<usize> = probes.clone().map(|n| n - scale.persons).collect();
    for &n in &warmers {
        let (status, _, body) = load::send(&clients[0], base, &settle_call(&world, n, &stored[n], Some(format!("W-{n}")))?).await?;
        ensure!(status == 201, "warming settlement answered {status}: {}", String::from_utf8_lossy(&body));
    }
    let (pre_settlement_ops, settlement_ops) = probe(&world, &clients[0], &site, &stored).await?;
    let status = load::send(&clients[0], base, &Call::get("/api/monitoring/status".into())).await?.2;
    let month: String = field(&status, "business_date")?.chars().take(7).collect();
    let supervision_calls = supervision_calls(&world, &month, world.drug_of(stored.len() - 1));
    let first = count_supervision(&clients[0], &site, &supervision_calls).await?;
    let measured: Vec<(usize, &String)> = stored.iter().enumerate().filter(|(n, _)| !probes.contains(n) && !warmers.contains(n)).collect();

    // Every endpoint in turns (see load::interleave), the floor's two beside them (issue 19).
    // Pre-settlement goes round the last fifth of the pool and settlement uses up the rest, each
    // prescription once: they take turns, so they never meet on one prescription.
    let (settled, tried) = measured.split_at(measured.len() - (measured.len() / 5).max(1));
    let baseline: Arc<[Call]> = vec![Call::get(BASELINE.into())].into();
    let trials: Arc<[Call]> = tried.iter().map(|&(n, hi)| settle_call(&world, n, hi, None)).collect::<anyhow::Result<Vec<_>>>()?.into();
    let settlements: Arc<[Call]> =
        settled.iter().map(|&(n, hi)| settle_call(&world, n, hi, Some(format!("B-{n}")))).collect::<anyhow::Result<Vec<_>>>()?.into();
    let status: Arc<[Call]> = vec![Call::get(STATUS.into())].into();
    let floor = Floor::beside(options).await?;
    let endpoints = floor::with_floor(&floor, [Calls::Cycle(baseline), Calls::Cycle(trials), Calls::Once(settlements), Calls::Cycle(status)]);
    let phases = load::interleave(&clients, &site, &endpoints, options.warmup, options.duration).await?;
    let (floor, phases) = floor::split(&floor, phases, concurrency);
    let [baseline, trial, phase, status] = <[load::Phase; 4]>::try_from(phases).ok().expect("four phases");
    let baseline = Endpoint::from_phase(&baseline, concurrency, |_| false);
    let pre_settlement = Endpoint::from_phase(&trial, concurrency, |kv| pre_settlement_ops.is_some_and(|w| kv.gets > w.gets));
    let settlement = Endpoint::from_phase(&phase, concurrency, |kv| settlement_ops.is_some_and(|w| kv.gets > w.gets));
    let status = Endpoint::from_phase(&status, concurrency, |_| false);
    let settled_in_phase = phase.samples.iter().filter(|s| s.outcome.is_ok()).count();
    let issue19 = FloorRatios::new(
        floor,
        &status,
        &baseline,
        &[
            ("pre-settlement", &pre_settlement, Some((0.6, Of::OneRead))),
            ("settlement", &settlement, Some((0.4, Of::OneRead))),
        ],
    );
    let all = count_supervision(&clients[0], &site, &supervision_calls).await?;
    let mut supervised = Vec::new();
    for (call, warm) in supervision_calls.iter().zip([all.0, all.2]) {
        let calls: Arc<[Call]> = vec![call.clone()].into();
        load::drive(&clients, &site, &calls, options.warmup, Turns::Cycle).await?;
        let phase = load::drive(&clients, &site, &calls, options.duration, Turns::Cycle).await?;
        supervised.push(Endpoint::from_phase(&phase, concurrency, |kv| warm.is_some_and(|w| kv.gets > w.gets)));
    }
    let [month_report, landing] = <[Endpoint; 2]>::try_from(supervised).expect("two phases");
    let supervision = Supervision {
        settlements_first: 2 * PROBES,
        settlements_all: 2 * PROBES + settled_in_phase,
        month_report_ops: first.0.zip(all.0).map(|(a, b)| [a, b]),
        month_report_drugs: [first.1, all.1],
        landing_ops: first.2.zip(all.2).map(|(a, b)| [a, b]),
        month_report_to_baseline: month_report.requests_per_second / baseline.requests_per_second,
        landing_to_baseline: landing.requests_per_second / baseline.requests_per_second,
        month_report,
        landing,
    };
    let mut report = Report {
        run: Run::new(options, &site),
        scale: scale.clone(),
        seeding: seeder.seeding,
        pre_settlement_ops,
        settlement_ops,
        pre_settlement_to_baseline: pre_settlement.requests_per_second / baseline.requests_per_second,
        settlement_to_baseline: settlement.requests_per_second / baseline.requests_per_second,
        settlement_pool_used_up: phase.ran_out,
        supervision,
        baseline,
        pre_settlement,
        settlement,
        status,
        issue19,
        targets: Vec::new(),
    };
    report.judge();
    Ok(report)
}

/// Pre-settles and settles the last [`PROBES`] prescriptions one request at a time; the fewest
/// operations any of each did (a probe can meet an instance that has not filled its caches),
/// none from a deployment (the probes are still sent: the settlements are expected).
async fn probe(world: &World, client: &reqwest::Client, site: &Site, stored: &[String]) -> anyhow::Result<(Option<KvCount>, Option<KvCount>)> {
    let base = site.base.as_str();
    let counted = |kv: Option<KvCount>, what: &str| -> anyhow::Result<Option<KvCount>> {
        ensure!(kv.is_some() || site.remote, "{what}: no key-value header");
        Ok(kv)
    };
    let (mut trial, mut settled) = (None::<KvCount>, None::<KvCount>);
    let fewer = |least: Option<KvCount>, this: KvCount| Some(least.filter(|l| l.reads <= this.reads).unwrap_or(this));
    for (n, hi_rxno) in stored.iter().enumerate().skip(stored.len() - PROBES) {
        let (status, kv, body) = load::send(client, base, &settle_call(world, n, hi_rxno, None)?).await?;
        ensure!(status == 200, "pre-settlement probe answered {status}: {}", String::from_utf8_lossy(&body));
        if let Some(kv) = counted(kv, "pre-settlement probe")? {
            trial = fewer(trial, kv);
        }
        let (status, kv, body) = load::send(client, base, &settle_call(world, n, hi_rxno, Some(format!("P-{n}")))?).await?;
        ensure!(status == 201, "settlement probe answered {status}: {}", String::from_utf8_lossy(&body));
        field(&body, "setl_id")?;
        if let Some(kv) = counted(kv, "settlement probe")? {
            settled = fewer(settled, kv);
        }
    }
    Ok((trial, settled))
}

impl Report {
    pub fn judge(&mut self) {
        self.targets = vec![
            report::budget_target("pre-settlement", self.pre_settlement_ops, PRE_SETTLEMENT_BUDGET),
            report::budget_target("settlement", self.settlement_ops, SETTLEMENT_BUDGET),
            self.pre_settlement.loads_target("pre-settlement"),
            // no such target for settlement: under concurrent settlements a reader often meets a
            // version claimed and not yet written (the person's year, a ledger, a holder) and
            // reads the one before it, and a lost race is computed again: extra reads that are
            // contention, not new instances loading caches (the table's kv reads show them)
            crate::baseline_target(&self.baseline),
            crate::no_errors_target(&[
                &self.baseline,
                &self.pre_settlement,
                &self.settlement,
                &self.status,
                &self.supervision.month_report,
                &self.supervision.landing,
            ]),
        ];
        let s = &self.supervision;
        let name = format!("landing: ≤ {LANDING_BUDGET} kv ops at {} and at {} settlements", s.settlements_first, s.settlements_all);
        self.targets.push(match s.landing_ops {
            Some([a, b]) => Target::new(
                name,
                format!("{}r{}w / {}r{}w", a.reads, a.writes, b.reads, b.writes),
                [a, b].iter().all(|ops| ops.reads + ops.writes <= LANDING_BUDGET),
            ),
            None => Target::unmeasured(name),
        });
        let fixed = |ops: KvCount, drugs: usize| (ops.reads + ops.writes) as i64 - MONTH_REPORT_PER_DRUG * drugs as i64;
        let [da, db] = s.month_report_drugs;
        let name = format!("month report: kv ops less {MONTH_REPORT_PER_DRUG} per drug ≤ {MONTH_REPORT_FIXED_BUDGET} at {} and at {} settlements", s.settlements_first, s.settlements_all);
        self.targets.push(match s.month_report_ops {
            Some([a, b]) => Target::new(
                name,
                format!("{} ({da} drugs) / {} ({db} drugs)", fixed(a, da), fixed(b, db)),
                fixed(a, da) <= MONTH_REPORT_FIXED_BUDGET && fixed(b, db) <= MONTH_REPORT_FIXED_BUDGET,
            ),
            None => Target::unmeasured(name),
        });
    }

    pub fn passed(&self) -> bool {
        report::all_passed(&self.targets)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.run.header(f, "settlement")?;
        writeln!(f, "stored through the endpoints: {} persons with a filing, {} dispensed prescriptions", self.scale.persons, self.scale.pool)?;
        report::seeding_table(f, &self.seeding)?;
        match self.pre_settlement_ops.zip(self.settlement_ops) {
            Some((p, s)) => writeln!(f, "\none warm request's kv operations: pre-settlement {}r {}w, settlement {}r {}w\n", p.reads, p.writes, s.reads, s.writes)?,
            None => writeln!(f, "\none warm request's kv operations: {}\n", report::NOT_MEASURED)?,
        }
        let mut endpoints = vec![("baseline", &self.baseline), ("pre-settle", &self.pre_settlement), ("settle", &self.settlement), ("status", &self.status)];
        if let Some(floor) = &self.issue19.floor {
            endpoints.splice(0..0, [("floor empty", &floor.empty), ("floor read", &floor.one_read)]);
        }
        report::endpoint_table(f, &endpoints)?;
        writeln!(
            f,
            "(settlement uses each dispensed prescription once{}.)\n",
            if self.settlement_pool_used_up { "; the pool ran out before the phase's time, which ended it" } else { "" }
        )?;
        writeln!(f, "pre-settlement/baseline throughput: {:.2}×", self.pre_settlement_to_baseline)?;
        writeln!(f, "settlement/baseline throughput:     {:.2}×\n", self.settlement_to_baseline)?;
        write!(f, "{}", self.issue19)?;
        let s = &self.supervision;
        writeln!(f, "supervision (issue 17), after {} and {} settlements:", s.settlements_first, s.settlements_all)?;
        for (name, ops) in [("month report", s.month_report_ops), ("landing", s.landing_ops)] {
            match ops {
                Some([a, b]) => writeln!(f, "  {name:<13} kv operations {}r {}w / {}r {}w", a.reads, a.writes, b.reads, b.writes)?,
                None => writeln!(f, "  {name:<13} kv operations {}", report::NOT_MEASURED)?,
            }
        }
        report::endpoint_table(f, &[("month report", &s.month_report), ("landing", &s.landing)])?;
        writeln!(f, "month report/baseline throughput:   {:.2}×", s.month_report_to_baseline)?;
        writeln!(f, "landing/baseline throughput:        {:.2}×\n", s.landing_to_baseline)?;
        report::target_table(f, &self.targets)
    }
}
