//! The e-prescription benchmark of issue 5: pre-check and dispensing with 100,000 stored
//! prescriptions and 50,000 filings, against the one-read baseline in the same run.
//!
//! Everything is stored through the app's own endpoints, as production would have stored it:
//! the 2024 workbook, a region's separate-payment and dual-channel lists, the registry
//! (institutions, pharmacies, physicians, pharmacists, persons), filings (application,
//! recommendation, approval fixing a pharmacy) and prescriptions (pre-check, upload). A probe
//! counts the key-value operations of one warm pre-check and one warm dispensing when the first
//! 1,000 prescriptions are stored and again when all are: issue 5 requires them equal. The
//! last prescriptions are then approved by their pharmacies' pharmacists and make the pool the
//! dispensing phase uses up, each prescription once.

use crate::floor::{self, Floor};
use crate::load::{self, Call, Calls};
use crate::report::{self, Endpoint, FloorRatios, Of, Run, Target};
use crate::{BASELINE, Import, KvCount, Options, RunId, Site, Tokens};
use anyhow::{Context as _, bail, ensure};
use api::Principal;
use bytes::Bytes;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The region every record lives in.
pub(crate) const REGION: &str = "420100";
/// Designated institutions, each with one linked dual-channel pharmacy.
const INSTITUTIONS: usize = 10;
/// Responsible physicians per institution.
const PHYSICIANS: usize = 10;
/// A registry PUT creates (201) or replaces (200); so does a list version.
const CREATED_OR_OK: &[u16] = &[200, 201];
/// Negotiated drugs on the region's separate-payment list.
const DRUGS: usize = 10;
/// Probe cycles per count: the least any of them read is the warm figure (a probe can meet an
/// instance that has not filled its caches yet).
pub(crate) const PROBES: usize = 5;
/// Issue 5 sets no throughput ratio, only bounded key-value work; these budgets (reads plus
/// writes of one warm request, counter reads included) guard the figures measured when the
/// benchmark was written: a pre-check of one separate-payment line reads 10 keys (revocation,
/// person, institution, physician, region policy, catalogue version, the filing's generation,
/// version counter and version) and writes its result; a one-line, two-pack dispensing does 33
/// (24 before issue 16: each of its two versions is claimed on its own slot and then the head
/// moved, so that racing dispensings take no number; each pack's owner is a slot too, so that a
/// claim left by a dead instance is taken over after its lease: two more per pack; and the
/// dispensing is listed among the pharmacy's day's dispensings begun, for the agency: three);
/// 39 with the smart-monitoring checks after it (issue 17): the region's thresholds (one read,
/// warm) and where the person had the drug, per pharmacy (two reads, three writes).
/// 12 and 41 since regions are a hierarchy (issue 14): a region without a prescription policy
/// or thresholds of its own reads its province's version counter too (the benchmark's city,
/// 420100, publishes neither: one more read for the pre-check, two for the dispensing).
/// Since issue 19 a dispensing reads where the person had the drug once when they had it
/// nowhere yet (its empty head was read twice): 40 then, 41 when they had it somewhere.
/// On the host's SQLite store, whose one connection serialises every operation, throughput
/// falls roughly with the number of operations, so these counts are what the ratios follow.
/// Since issue 19's read-ahead (`store::ReadAhead`) a pre-check is 3: one `get_many` (person,
/// institution, physician, policy levels, catalogue, the lines' filings with their first
/// versions, the token's revocation), the pharmacy the filing binds, and the receipt's write.
const PRE_CHECK_BUDGET: u64 = 3;
/// The prescription component's status: its pipeline without a key read (issue 19).
const STATUS: &str = "/api/prescriptions/status";
const DISPENSE_BUDGET: u64 = 41;

/// How much is stored before the measured phases.
#[derive(Clone, Debug, Serialize)]
pub struct Scale {
    /// Persons, each with one approved filing.
    pub filings: usize,
    /// Stored prescriptions, spread over the persons in turn.
    pub prescriptions: usize,
    /// The first count of key-value operations is taken with this many stored.
    pub first_count_at: usize,
    /// Approved prescriptions for the dispensing phase (its warm-up takes at most a fifth),
    /// taken from the last stored. Dispensing is fast enough to use up 100,000 in 12 s on a
    /// laptop; the phase then ends early and says so.
    pub dispense_pool: usize,
}

impl Scale {
    /// Issue 5's figures.
    pub const ISSUE: Scale = Scale { filings: 50_000, prescriptions: 100_000, first_count_at: 1_000, dispense_pool: 100_000 };

    fn check(&self) -> anyhow::Result<()> {
        ensure!(self.filings >= INSTITUTIONS * PHYSICIANS, "at least {} filings (one per physician)", INSTITUTIONS * PHYSICIANS);
        ensure!(self.first_count_at > 0 && self.first_count_at < self.prescriptions, "the first count must come before all prescriptions are stored");
        ensure!(self.dispense_pool > 0 && self.dispense_pool <= self.prescriptions, "the dispensing pool is taken from the stored prescriptions");
        Ok(())
    }
}

/// What the benchmark measured, printed as a table or written as JSON.
#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub run: Run,
    pub scale: Scale,
    pub import: Import,
    /// How long storing each kind of record took, through the endpoints.
    pub seeding: Vec<Seeding>,
    /// One warm request's key-value operations with [`Scale::first_count_at`] and with
    /// [`Scale::prescriptions`] stored.
    pub counts: [Counts; 2],
    pub baseline: Endpoint,
    pub pre_check: Endpoint,
    pub dispense: Endpoint,
    /// The dispensing pool was used up before the phase's time was over.
    pub dispense_pool_used_up: bool,
    pub pre_check_to_baseline: f64,
    pub dispense_to_baseline: f64,
    /// Issue 19: the prescription component's status (no key read) and the pharmacist's filing
    /// check, measured in the same turns.
    pub status: Endpoint,
    pub filing_check: Endpoint,
    /// Issue 19: every endpoint against the floor measured in the same turns, and the app's
    /// baseline; the issue's targets as met or not met (not judged: they do not fail the run).
    pub issue19: FloorRatios,
    pub targets: Vec<Target>,
}

#[derive(Debug, Serialize)]
pub struct Seeding {
    pub what: &'static str,
    pub requests: usize,
    pub seconds: f64,
}

/// One warm request's key-value operations; none against a deployment (not measured).
#[derive(Debug, Serialize)]
pub struct Counts {
    pub stored_prescriptions: usize,
    pub pre_check: Option<KvCount>,
    pub dispense: Option<KvCount>,
}

/// Runs the whole benchmark at `scale` and judges the targets.
pub async fn run(options: &Options, scale: &Scale) -> anyhow::Result<Report> {
    scale.check()?;
    let site = Site::open(options).await?;
    let base = site.base.as_str();
    let concurrency = options.concurrency.get();
    let clients = load::clients(concurrency, options.connection_close)?;
    let import = crate::import_workbook(&clients[0], &site).await?;
    let mut seeder = Seeder { clients: &clients, base, seeding: Vec::new() };
    let world = World::new(&clients[0], &site, scale.filings).await?;
    seeder.filings(&world).await?;

    let first = seeder.prescribe(&world, 0..scale.first_count_at).await?;
    let mut probes = Prober { world: &world, client: &clients[0], base, remote: site.remote, next: scale.prescriptions };
    let counts_first = probes.count(scale.first_count_at).await?;
    let rest = seeder.prescribe(&world, scale.first_count_at..scale.prescriptions).await?;
    let counts_all = probes.count(scale.prescriptions).await?;
    let stored: Vec<String> = first.into_iter().chain(rest).collect();
    let pool_start = scale.prescriptions - scale.dispense_pool;
    let pool: Vec<(usize, &String)> = (pool_start..scale.prescriptions).zip(&stored[pool_start..]).collect();
    let reviews = pool.iter().map(|(n, hi_rxno)| world.review(*n, hi_rxno)).collect::<anyhow::Result<_>>()?;
    seeder.run("reviews (the dispensing pool)", reviews, &[200]).await?;

    let baseline: Arc<[Call]> = vec![Call::get(BASELINE.into())].into();
    let pre_checks: Arc<[Call]> = (0..scale.filings).map(|n| world.pre_check(probes.next + n)).collect::<anyhow::Result<Vec<_>>>()?.into();
    let dispensings: Arc<[Call]> = pool.iter().map(|(n, hi_rxno)| world.dispense(*n, hi_rxno)).collect::<anyhow::Result<Vec<_>>>()?.into();
    let status: Arc<[Call]> = vec![Call::get(STATUS.into())].into();
    let checks: Arc<[Call]> = (0..scale.filings).map(|n| world.filing_check(n)).collect::<anyhow::Result<Vec<_>>>()?.into();
    let warm = |kv: &KvCount, warm: &KvCount| kv.gets > warm.gets;
    // every endpoint in turns (see load::interleave), the floor's two beside them (issue 19);
    // dispensing uses each approved prescription once, going on where its last turn stopped
    let floor = Floor::beside(options).await?;
    let endpoints = floor::with_floor(
        &floor,
        [Calls::Cycle(baseline), Calls::Cycle(pre_checks), Calls::Once(dispensings), Calls::Cycle(status), Calls::Cycle(checks)],
    );
    let phases = load::interleave(&clients, &site, &endpoints, options.warmup, options.duration).await?;
    let (floor, phases) = floor::split(&floor, phases, concurrency);
    let [baseline, pre_check, phase, status, filing_check] = <[load::Phase; 5]>::try_from(phases).ok().expect("five phases");
    let baseline = Endpoint::from_phase(&baseline, concurrency, |_| false);
    let pre_check = Endpoint::from_phase(&pre_check, concurrency, |kv| counts_all.pre_check.is_some_and(|w| warm(kv, &w)));
    let dispense = Endpoint::from_phase(&phase, concurrency, |kv| counts_all.dispense.is_some_and(|w| warm(kv, &w)));
    let status = Endpoint::from_phase(&status, concurrency, |_| false);
    let filing_check = Endpoint::from_phase(&filing_check, concurrency, |_| false);
    let issue19 = FloorRatios::new(
        floor,
        &status,
        &baseline,
        &[
            ("filing check", &filing_check, Some((0.7, Of::OneRead))),
            ("pre-check", &pre_check, Some((0.6, Of::OneRead))),
            ("dispensing", &dispense, Some((0.4, Of::OneRead))),
        ],
    );
    let mut report = Report {
        run: Run::new(options, &site),
        scale: scale.clone(),
        import,
        seeding: seeder.seeding,
        counts: [counts_first, counts_all],
        pre_check_to_baseline: pre_check.requests_per_second / baseline.requests_per_second,
        dispense_to_baseline: dispense.requests_per_second / baseline.requests_per_second,
        dispense_pool_used_up: phase.ran_out,
        baseline,
        pre_check,
        dispense,
        status,
        filing_check,
        issue19,
        targets: Vec::new(),
    };
    report.judge();
    Ok(report)
}

/// A string field of a JSON answer.
pub(crate) fn field(body: &Bytes, name: &str) -> anyhow::Result<String> {
    let value: Value = serde_json::from_slice(body)?;
    value[name].as_str().map(str::to_owned).with_context(|| format!("the answer has no {name}: {value}"))
}

/// The filing steps after the application.
#[derive(Clone, Copy)]
enum Step {
    Recommend,
    Approve,
}

/// Who and what the benchmark stores: codes and tokens, derived from a record's number so
/// that every step of a record can be built on its own.
pub(crate) struct World {
    pub(crate) drugs: Vec<String>,
    /// Each drug's payment standard's specification, in `drugs` order: a prescription line
    /// states it, in its unit (S1 compares like with like, issue 14).
    specifications: Vec<String>,
    pub(crate) agency: Arc<str>,
    /// Persons, one filing each.
    persons: usize,
    pub(crate) tokens: Tokens,
    /// Inside every code the run stores (empty in-process).
    pub(crate) run: RunId,
    /// The region's lists are published from this day: in-process 2025-01-01 (a fresh store),
    /// on a deployment its business date (a new version of its lists from today; an earlier
    /// run's of the same day with the same drugs is answered as already there).
    list_from: NaiveDate,
}

impl World {
    /// Picks the drugs: negotiated ones whose agreement covers the business day and the next 30
    /// days, with one published payment standard.
    pub(crate) async fn new(client: &reqwest::Client, site: &Site, persons: usize) -> anyhow::Result<World> {
        let today = site.today;
        let url = format!("{}/api/catalogue/drugs?category=negotiated&kind=western&page_size=100&as_of={today}", site.base);
        let page: Value = client.get(&url).send().await?.json().await?;
        let until = today + chrono::Days::new(30);
        let picked: Vec<(String, String)> = page["items"]
            .as_array()
            .context("the catalogue search has no items")?
            .iter()
            .filter(|item| item["validity"]["end"].as_str().and_then(|end| end.parse::<NaiveDate>().ok()).is_some_and(|end| end >= until))
            // one published standard, so a settlement can be computed whatever the specification
            .filter(|item| item["payment_standards"].as_array().is_some_and(|s| s.len() == 1 && s[0]["amount"]["type"] == "published"))
            .filter_map(|item| Some((item["code"].as_str()?.to_owned(), item["payment_standards"][0]["specification"].as_str().unwrap_or("100mg/瓶").to_owned())))
            .take(DRUGS)
            .collect();
        let (drugs, specifications): (Vec<String>, Vec<String>) = picked.into_iter().unzip();
        ensure!(
            drugs.len() == DRUGS,
            "only {} negotiated drugs of the 2024 workbook in force from {today} until {until}; the benchmark needs {DRUGS} \
             (the 2024 agreements end by 2026-12-31: on a deployment past 2026-12-01, shift its clock back with \
             demo_data true and sandbox_clock, e.g. -200d)",
            drugs.len()
        );
        let list_from = if site.remote { today } else { NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date") };
        let tokens = site.tokens.clone();
        Ok(World { drugs, specifications, agency: tokens.token(Principal::Agency { admdvs: REGION.into() })?, persons, tokens, run: site.run.clone(), list_from })
    }

    fn institution(&self, j: usize) -> String {
        format!("H420100{}{j:05}", self.run.prefix)
    }

    fn pharmacy(&self, j: usize) -> String {
        format!("P420100{}{j:05}", self.run.prefix)
    }

    fn physician(&self, j: usize, k: usize) -> String {
        format!("D{}{j:02}{k:02}", self.run.prefix)
    }

    fn pharmacist(&self, j: usize) -> String {
        format!("F{}{j:02}", self.run.prefix)
    }

    fn person(&self, i: usize) -> String {
        format!("N{}{i:07}", self.run.prefix)
    }

    /// A number unique to the run for record `n` (a prescription's, a dispensing's).
    pub(crate) fn number(&self, letter: &str, n: usize) -> String {
        format!("{letter}{}{n:08}", self.run.prefix)
    }

    /// The drug of prescription `n`.
    pub(crate) fn drug_of(&self, n: usize) -> &str {
        self.care(n % self.persons).2
    }

    /// Person `i`'s institution, responsible physician and drug.
    fn care(&self, i: usize) -> (usize, String, &str) {
        let j = i % INSTITUTIONS;
        (j, self.physician(j, i / INSTITUTIONS % PHYSICIANS), &self.drugs[i % DRUGS])
    }

    /// A resident ID number with a valid check character: born on a day of the 1960s and
    /// 1970s, with a sequence number, so that every person's differs.
    fn certno(i: usize) -> anyhow::Result<String> {
        let born = NaiveDate::from_ymd_opt(1960, 1, 1).expect("a date") + chrono::Days::new((i / 1000) as u64);
        let stem = format!("420102{}{:03}", born.format("%Y%m%d"), i % 1000);
        "0123456789X"
            .chars()
            .map(|c| format!("{stem}{c}"))
            .find(|certno| rules::identity::check_certno(rules::identity::RESIDENT_ID_CARD, certno).is_ok())
            .context("no check character fits")
    }

    /// The region's lists, then every registry record the filings and prescriptions name, in
    /// waves: what a record refers to is stored in an earlier wave.
    fn registry(&self) -> Vec<Vec<Call>> {
        let entries: Vec<Value> = self.drugs.iter().map(|code| json!({"code": code})).collect();
        let list = |name: &str| {
            let body = json!({"effective_from": self.list_from, "entries": entries});
            vec![Call::post(format!("/api/catalogue/regions/{REGION}/lists/{name}"), &self.agency, &body)]
        };
        let put = |path: String, body: Value| Call::put(path, &self.agency, &body);
        let institutions = (0..INSTITUTIONS).map(|j| {
            let body = json!({"name": format!("医院{j}"), "admdvs": REGION, "level": 3, "capabilities": ["pathology"], "cross_region_settlement": true});
            put(format!("/api/registry/institutions/{}", self.institution(j)), body)
        });
        let pharmacies = (0..INSTITUTIONS).map(|j| {
            let body = json!({"name": format!("药房{j}"), "admdvs": REGION, "address": "武汉", "dual_channel": true, "electronic_traceability": true,
                              "can_supply": true, "compliant": true, "linked_institutions": [self.institution(j)]});
            put(format!("/api/registry/pharmacies/{}", self.pharmacy(j)), body)
        });
        let physicians = (0..INSTITUTIONS * PHYSICIANS).map(|n| {
            let (j, k) = (n / PHYSICIANS, n % PHYSICIANS);
            let body = json!({"name": "医生", "fixmedins_code": self.institution(j), "title": "chief", "specialty": "肿瘤科", "responsible": true, "active": true});
            put(format!("/api/registry/physicians/{}", self.physician(j, k)), body)
        });
        let pharmacists = (0..INSTITUTIONS).map(|j| {
            let body = json!({"name": "药师", "fixmedins_code": self.pharmacy(j), "active": true});
            put(format!("/api/registry/pharmacists/{}", self.pharmacist(j)), body)
        });
        vec![
            list("dual_channel"),
            list("separate_payment"),
            institutions.collect(),
            pharmacies.chain(physicians).collect(),
            pharmacists.collect(),
        ]
    }

    fn persons(&self) -> anyhow::Result<Vec<Call>> {
        (0..self.persons)
            .map(|i| {
                let person = json!({"name": "患者", "certno": World::certno(i)?, "insutype": "310", "insured_admdvs": REGION, "benefit_status": "normal"});
                Ok(Call::put(format!("/api/registry/persons/{}", self.person(i)), &self.agency, &person))
            })
            .collect()
    }

    /// Each person applies for their drug at their institution, naming their physician.
    fn applications(&self) -> anyhow::Result<Vec<Call>> {
        (0..self.persons)
            .map(|i| {
                let (j, physician, drug) = self.care(i);
                let application = json!({"psn_no": self.person(i), "code": drug, "fixmedins_code": self.institution(j), "dr_code": physician,
                                         "diagnoses": ["C34.901"], "records": ["病理报告"], "treatment_plan": "每三周一次"});
                Ok(Call::post("/api/filings".into(), &self.tokens.token(Principal::Patient { psn_no: self.person(i) })?, &application))
            })
            .collect()
    }

    /// The physician's recommendation or the office's approval (fixing the linked pharmacy) of
    /// person `i`'s filing `ids[i]`.
    fn filing_steps(&self, ids: &[String], step: Step) -> anyhow::Result<Vec<Call>> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                let (j, physician, _) = self.care(i);
                let (who, body) = match step {
                    Step::Recommend => (
                        Principal::Physician { dr_code: physician, fixmedins_code: self.institution(j) },
                        json!({"action": "recommend", "attestation": "符合限定支付范围"}),
                    ),
                    Step::Approve => (
                        Principal::HospitalOffice { fixmedins_code: self.institution(j) },
                        json!({"action": "approve", "pharmacy": self.pharmacy(j)}),
                    ),
                };
                Ok(Call::post(format!("/api/filings/{id}/actions"), &self.tokens.token(who)?, &body))
            })
            .collect()
    }

    /// The pre-check of prescription `n`: for person `n mod persons`, by their responsible
    /// physician, of their drug (a separate-payment drug: the pre-check reads the filing).
    fn pre_check(&self, n: usize) -> anyhow::Result<Call> {
        let i = n % self.persons;
        let (j, physician, drug) = self.care(i);
        let spec = &self.specifications[i % DRUGS];
        let unit = rules::settlement::unit_of_specification(spec).unwrap_or("瓶");
        let line = json!({"med_list_codg": drug, "drug_dosform": "注射剂", "drug_spec": spec, "drug_cnt": "2", "drug_dosunt": unit,
                          "medc_days": 21, "medc_way_dscr": "静脉滴注 每三周一次", "drug_pric": "980.00", "restriction_attested": true});
        let rx = json!({"hosp_rxno": self.number("R", n), "psn_no": self.person(i), "fixmedins_code": self.institution(j), "dr_code": physician,
                        "rx_exra_attr_code": "01", "diagnoses": ["C34.901"], "vali_days": 3, "lines": [line]});
        let prescriber = self.tokens.token(Principal::Physician { dr_code: physician, fixmedins_code: self.institution(j) })?;
        Ok(Call::post("/api/prescriptions/pre-check".into(), &prescriber, &rx))
    }

    /// The upload of prescription `n` under the trace code its pre-check gave.
    fn upload(&self, n: usize, rx_trace_code: &str) -> anyhow::Result<Call> {
        let (j, physician, _) = self.care(n % self.persons);
        let prescriber = self.tokens.token(Principal::Physician { dr_code: physician, fixmedins_code: self.institution(j) })?;
        Ok(Call::post("/api/prescriptions".into(), &prescriber, &json!({"rx_trace_code": rx_trace_code})))
    }

    /// The pharmacist of the pharmacy prescription `n` is bound to (its filing's).
    pub(crate) fn pharmacist_token(&self, n: usize) -> anyhow::Result<Arc<str>> {
        let j = n % self.persons % INSTITUTIONS;
        self.tokens.token(Principal::Pharmacist { phar_code: self.pharmacist(j), fixmedins_code: self.pharmacy(j) })
    }

    /// The pharmacist's check of prescription `n`'s person's filing for their drug, at the
    /// pharmacy the filing names (issue 19's "filing check").
    fn filing_check(&self, n: usize) -> anyhow::Result<Call> {
        let i = n % self.persons;
        let (_, _, drug) = self.care(i);
        Ok(Call::get_as(format!("/api/filings/check?psn_no={}&code={drug}", self.person(i)), &self.pharmacist_token(n)?))
    }

    pub(crate) fn review(&self, n: usize, hi_rxno: &str) -> anyhow::Result<Call> {
        Ok(Call::post(format!("/api/prescriptions/{hi_rxno}/review"), &self.pharmacist_token(n)?, &json!({"approved": true})))
    }

    /// Dispenses prescription `n`: its 2 packs, with traceability codes no other dispensing
    /// uses (nor another run's: 8, the run id's 9 digits, 10 of the pack's number).
    pub(crate) fn dispense(&self, n: usize, hi_rxno: &str) -> anyhow::Result<Call> {
        let (_, _, drug) = self.care(n % self.persons);
        let pack = |k: usize| format!("8{:09}{:010}", self.run.digits, k);
        let packs = [pack(2 * n), pack(2 * n + 1)];
        let body = json!({"dispensing_no": self.number("D", n), "lines": [{"med_list_codg": drug, "batch": "B2025001", "drug_cnt": "2", "drug_trac_codg": packs}]});
        Ok(Call::post(format!("/api/prescriptions/{hi_rxno}/dispense"), &self.pharmacist_token(n)?, &body))
    }
}

/// Stores records through the endpoints, `concurrency` requests at a time, and times it.
pub(crate) struct Seeder<'a> {
    pub(crate) clients: &'a [reqwest::Client],
    pub(crate) base: &'a str,
    pub(crate) seeding: Vec<Seeding>,
}

impl Seeder<'_> {
    /// The region's lists, the registry, and each person's approved filing.
    pub(crate) async fn filings(&mut self, world: &World) -> anyhow::Result<()> {
        for wave in world.registry() {
            self.run("region lists and registry", wave, CREATED_OR_OK).await?;
        }
        self.run("persons", world.persons()?, CREATED_OR_OK).await?;
        let ids = self.run("filing applications", world.applications()?, &[201]).await?;
        let ids: Vec<String> = ids.iter().map(|body| field(body, "id")).collect::<anyhow::Result<_>>()?;
        self.run("filing recommendations", world.filing_steps(&ids, Step::Recommend)?, &[200]).await?;
        self.run("filing approvals", world.filing_steps(&ids, Step::Approve)?, &[200]).await?;
        Ok(())
    }

    /// Sends every call once; each must answer `expect`. Returns the bodies in call order.
    pub(crate) async fn run(&mut self, what: &'static str, calls: Vec<Call>, expect: &'static [u16]) -> anyhow::Result<Vec<Bytes>> {
        let started = Instant::now();
        let count = calls.len();
        let calls: Arc<[Call]> = calls.into();
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = self
            .clients
            .iter()
            .map(|client| {
                let (client, base, calls, next) = (client.clone(), self.base.to_owned(), calls.clone(), next.clone());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(call) = calls.get(n) else { return Ok(answers) };
                        let (status, _, body) = load::send(&client, &base, call).await?;
                        if !expect.contains(&status) {
                            bail!("{} {} answered {status}, not {expect:?}: {}", call.method, call.path, String::from_utf8_lossy(&body));
                        }
                        answers.push((n, body));
                    }
                })
            })
            .collect();
        let mut answers = Vec::with_capacity(count);
        for worker in workers {
            answers.extend(worker.await?.with_context(|| format!("storing {what}"))?);
        }
        answers.sort_unstable_by_key(|(n, _)| *n);
        self.seeding.push(Seeding { what, requests: count, seconds: started.elapsed().as_secs_f64() });
        Ok(answers.into_iter().map(|(_, body)| body).collect())
    }

    /// Pre-checks and uploads prescriptions `numbers`; their `hi_rxno`s, in order.
    pub(crate) async fn prescribe(&mut self, world: &World, numbers: std::ops::Range<usize>) -> anyhow::Result<Vec<String>> {
        let pre_checks = numbers.clone().map(|n| world.pre_check(n)).collect::<anyhow::Result<_>>()?;
        let checked = self.run("prescription pre-checks", pre_checks, &[200]).await?;
        let uploads = numbers.zip(&checked).map(|(n, body)| world.upload(n, &field(body, "rx_trace_code")?)).collect::<anyhow::Result<_>>()?;
        let uploaded = self.run("prescription uploads", uploads, &[201]).await?;
        uploaded.iter().map(|body| field(body, "hi_rxno")).collect()
    }
}

/// Counts one warm pre-check's and one warm dispensing's key-value operations, on
/// prescriptions numbered after every stored one.
struct Prober<'a> {
    world: &'a World,
    client: &'a reqwest::Client,
    base: &'a str,
    /// A deployment: the answers carry no key-value header, and the counts are not measured.
    remote: bool,
    /// The next unused prescription number.
    next: usize,
}

impl Prober<'_> {
    /// [`PROBES`] whole cycles (pre-check, upload, review, dispensing), one request at a time;
    /// the fewest operations any pre-check and any dispensing did (none from a deployment).
    async fn count(&mut self, stored_prescriptions: usize) -> anyhow::Result<Counts> {
        let (mut pre_check, mut dispense) = (None::<KvCount>, None::<KvCount>);
        if self.remote {
            return Ok(Counts { stored_prescriptions, pre_check: None, dispense: None });
        }
        for _ in 0..PROBES {
            let n = self.next;
            self.next += 1;
            let (checked, body) = self.send(&self.world.pre_check(n)?, 200).await?;
            let (_, uploaded) = self.send(&self.world.upload(n, &field(&body, "rx_trace_code")?)?, 201).await?;
            let hi_rxno = field(&uploaded, "hi_rxno")?;
            self.send(&self.world.review(n, &hi_rxno)?, 200).await?;
            let (dispensed, _) = self.send(&self.world.dispense(n, &hi_rxno)?, 200).await?;
            let fewer = |least: Option<KvCount>, this: KvCount| Some(least.filter(|l| l.reads <= this.reads).unwrap_or(this));
            pre_check = fewer(pre_check, checked);
            dispense = fewer(dispense, dispensed);
        }
        Ok(Counts { stored_prescriptions, pre_check: Some(pre_check.context("no probe")?), dispense: Some(dispense.context("no probe")?) })
    }

    async fn send(&self, call: &Call, expect: u16) -> anyhow::Result<(KvCount, Bytes)> {
        let (status, kv, body) = load::send(self.client, self.base, call).await?;
        ensure!(status == expect, "probe {} {} answered {status}: {}", call.method, call.path, String::from_utf8_lossy(&body));
        Ok((kv.context("no key-value header")?, body))
    }
}

impl Report {
    /// Issue 5's requirement (equal key-value operations at both counts), the operation
    /// budgets, instance loads explained by turnover, no errors, and the baseline's one read.
    /// The throughput ratios are reported, not judged: the issue sets none.
    pub fn judge(&mut self) {
        let [first, all] = &self.counts;
        let mut targets = Vec::new();
        for (name, a, b) in [("pre-check", first.pre_check, all.pre_check), ("dispensing", first.dispense, all.dispense)] {
            let name = format!("{name}: kv ops at {} = at {} stored", first.stored_prescriptions, all.stored_prescriptions);
            targets.push(match a.zip(b) {
                Some((a, b)) => Target::new(name, format!("{}r{}w / {}r{}w", a.reads, a.writes, b.reads, b.writes), a == b),
                None => Target::unmeasured(name),
            });
        }
        targets.push(report::budget_target("pre-check", all.pre_check, PRE_CHECK_BUDGET));
        targets.push(report::budget_target("dispensing", all.dispense, DISPENSE_BUDGET));
        targets.push(self.pre_check.loads_target("pre-check"));
        targets.push(self.dispense.loads_target("dispensing"));
        targets.push(crate::baseline_target(&self.baseline));
        targets.push(crate::no_errors_target(&[&self.baseline, &self.pre_check, &self.dispense, &self.status, &self.filing_check]));
        self.targets = targets;
    }

    pub fn passed(&self) -> bool {
        report::all_passed(&self.targets)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.run.header(f, "prescription")?;
        let scale = &self.scale;
        writeln!(
            f,
            "stored through the endpoints: nrdl-2024.xlsx ({} entries, {:.0} ms, status {}), {} persons with an approved filing, {} prescriptions",
            self.import.entries, self.import.ms, self.import.status, scale.filings, scale.prescriptions
        )?;
        report::seeding_table(f, &self.seeding)?;
        writeln!(f, "\none warm request's kv operations (r = reads incl. counter reads, w = writes, g = gets):")?;
        for c in &self.counts {
            match c.pre_check.zip(c.dispense) {
                Some((p, d)) => writeln!(
                    f,
                    "  {:>7} stored: pre-check {}r {}w {}g, dispensing {}r {}w {}g",
                    c.stored_prescriptions, p.reads, p.writes, p.gets, d.reads, d.writes, d.gets
                )?,
                None => writeln!(f, "  {:>7} stored: {}", c.stored_prescriptions, report::NOT_MEASURED)?,
            }
        }
        writeln!(f)?;
        let mut endpoints =
            vec![("baseline", &self.baseline), ("pre-check", &self.pre_check), ("dispense", &self.dispense), ("status", &self.status), ("filing check", &self.filing_check)];
        if let Some(floor) = &self.issue19.floor {
            endpoints.splice(0..0, [("floor empty", &floor.empty), ("floor read", &floor.one_read)]);
        }
        report::endpoint_table(f, &endpoints)?;
        writeln!(
            f,
            "(an instance load is a request that read more stored values than the warm probe: a new instance filling its\n \
             caches. Dispensing uses each of {} approved prescriptions once{}.)\n",
            scale.dispense_pool,
            if self.dispense_pool_used_up { "; the pool ran out before the phase's time, which ended it" } else { "" }
        )?;
        writeln!(f, "pre-check/baseline throughput:  {:.2}×", self.pre_check_to_baseline)?;
        writeln!(f, "dispensing/baseline throughput: {:.2}×\n", self.dispense_to_baseline)?;
        write!(f, "{}", self.issue19)?;
        report::target_table(f, &self.targets)
    }
}
