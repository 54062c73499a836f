//! Faults survived (issue 16): the host fails a key-value operation, or kills the instance just
//! before one, at every operation `k` of a dispensing and of a settlement in turn; the client
//! then does what a pharmacy system does after an error or a lost answer, sending the same
//! request again (after the lease, when a dead request's claim stands in the way); then the
//! invariants are checked: dispensed once with its packs, a medication record entry once, every
//! settlement settled with its figures and listed once, and the person's pooled total equal to
//! the sum of their live settlements. Prints the fault points tried and survived per flow.

use crate::filing::P1;
use crate::filing::physician;
use crate::prescription::{dispensing, line, pharmacist, prescribing_region, prescription};
use crate::settlement::policy;
use scenarios::*;
use serde_json::{Value, json};
use spin_test_host::Fault;
use std::time::Duration;

/// Past the store's lease on a claimed, unwritten slot (`store::versions::LEASE_SECONDS`).
const PAST_THE_LEASE: Duration = Duration::from_secs(61);

/// Tokens that outlive the clock moves of a sweep.
fn long_token(principal: api::Principal) -> String {
    token_valid_for(principal, 30 * 86_400)
}

/// Pre-checks and uploads as D1 (`prescription::prescribe` with tokens that outlive the sweep).
async fn prescribe(app: &TestApp, rx: &Value) -> Value {
    let doctor = long_token(physician("D1"));
    let checked = app.post_json("/api/prescriptions/pre-check", Some(&doctor), rx).await;
    assert_eq!(checked.status, 200, "{}", String::from_utf8_lossy(&checked.body));
    let uploaded = app.post_json("/api/prescriptions", Some(&doctor), &json!({"rx_trace_code": checked.json()["rx_trace_code"]})).await;
    assert_eq!(uploaded.status, 201, "{}", String::from_utf8_lossy(&uploaded.body));
    uploaded.json()
}

/// Publishes the region's settlement policy as the agency.
async fn publish(app: &TestApp, body: &Value) -> Answer {
    let request = app.client.put(app.url("/api/settlements/regions/420100/policy")).bearer_auth(long_token(agency())).json(body);
    app.send(request).await
}

/// Sends the request until it succeeds, moving the clock past the lease after each failure;
/// `None` if it never does.
async fn recover(app: &TestApp, send: impl AsyncFn() -> Answer) -> Option<Answer> {
    for _ in 0..4 {
        let answer = send().await;
        if answer.status < 300 {
            return Some(answer);
        }
        app.advance_clock(PAST_THE_LEASE);
    }
    None
}

/// The faults of a sweep: each kind at operation 1, 2, … until one no longer strikes.
fn kinds() -> [(&'static str, fn(u64) -> Fault); 2] {
    [("failed operation", Fault::FailOp), ("killed instance", Fault::KillAtOp)]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dispensing_survives_a_fault_at_every_operation() {
    let (app, [drug, ..]) = prescribing_region().await;
    let f1 = long_token(pharmacist("F1", P1));
    let mut report = Vec::new();
    let mut n = 0u64;
    for (kind, fault) in kinds() {
        let (mut tried, mut survived, mut lost) = (0, 0, Vec::new());
        for k in 1.. {
            n += 1;
            let stored = prescribe(&app, &prescription(&format!("R-F{n}"), "D1", vec![line(&drug)])).await;
            let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
            let reviewed = app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&f1), &json!({"approved": true})).await;
            assert_eq!(reviewed.status, 200, "{}", String::from_utf8_lossy(&reviewed.body));
            let packs = [format!("84{n:018}"), format!("85{n:018}")];
            let body = dispensing(&format!("D-F{n}"), &drug, &[&packs[0], &packs[1]]);
            let path = format!("/api/prescriptions/{hi_rxno}/dispense");
            let strikes = app.fault_strikes();
            app.inject_fault(fault(k));
            let first = app.post_json(&path, Some(&f1), &body).await;
            if app.fault_strikes() == strikes {
                assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
                break; // the dispensing has fewer than k operations: every point was tried
            }
            tried += 1;
            let ok = match recover(&app, async || app.post_json(&path, Some(&f1), &body).await).await {
                Some(done) => dispensed_once(&app, &f1, &hi_rxno, &done.json(), &packs, &drug, n).await,
                None => false,
            };
            if ok { survived += 1 } else { lost.push(k) }
        }
        report.push(format!("dispensing, {kind}: {survived} of {tried} fault points survived{}", missed(&lost)));
    }
    println!("{}", report.join("\n"));
    assert!(report.iter().all(|line| !line.contains("not at")), "{report:#?}");
}

fn missed(lost: &[u64]) -> String {
    if lost.is_empty() { String::new() } else { format!(" (not at operations {lost:?})") }
}

/// The prescription is dispensed under the answer's number, the medication record names it
/// once, and its packs belong to it: another dispensing is refused each of them, naming it.
async fn dispensed_once(app: &TestApp, f1: &str, hi_rxno: &str, answer: &Value, packs: &[String; 2], drug: &str, n: u64) -> bool {
    let read = app.get(&format!("/api/prescriptions/{hi_rxno}"), Some(f1)).await.json();
    if read["stage"] != "dispensed" || read["dispensing"]["dispensing_no"] != answer["dispensing"]["dispensing_no"] {
        return false;
    }
    let record = app.get("/api/prescriptions/medication-records/N1", Some(f1)).await.json();
    let entries = record["drugs"][0]["dispensings"].as_array().map_or(0, |d| d.iter().filter(|e| e["hi_rxno"] == hi_rxno).count());
    if entries != 1 {
        return false;
    }
    let stored = prescribe(app, &prescription(&format!("R-P{n}"), "D1", vec![line(drug)])).await;
    let probe = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    let reviewed = app.post_json(&format!("/api/prescriptions/{probe}/review"), Some(f1), &json!({"approved": true})).await;
    assert_eq!(reviewed.status, 200, "{}", String::from_utf8_lossy(&reviewed.body));
    for (i, pack) in packs.iter().enumerate() {
        let other = format!("9{i}{n:018}");
        let refused = app.post_json(&format!("/api/prescriptions/{probe}/dispense"), Some(f1), &dispensing(&format!("D-P{n}-{i}"), drug, &[pack, &other])).await;
        if refused.status != 409 || refused.json()["code"] != "PACK_ALREADY_USED" || !refused.json()["detail"].as_str().is_some_and(|d| d.contains(hi_rxno)) {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn a_settlement_survives_a_fault_at_every_operation() {
    let (app, drug, f1) = settling_region().await;
    let (report, settled) = settlement_sweep(&app, &drug, &f1).await;
    let listed = app.get("/api/settlements?page_size=1", Some(&long_token(patient("N1")))).await.json();
    println!("{}\nsettlements listed: {} of {settled}", report.join("\n"), listed["total"]);
    assert_eq!(listed["total"], settled, "{report:#?}");
    assert!(report.iter().all(|line| !line.contains("not at")), "{report:#?}");
}

/// The year's pooled total equals the sum of the person's live settlements after the sweep:
/// with the pooled cap set to that sum plus 100.00, one more purchase gets exactly 100.00 from
/// the fund. (With one counter per accumulator and a claim marker before each add, an instance
/// killed between the two lost that add; the year is now one versioned record, `store::year`.)
#[tokio::test(flavor = "multi_thread")]
async fn the_year_counts_every_settlement_once_after_any_fault() {
    let (app, drug, f1) = settling_region().await;
    let (report, settled) = settlement_sweep(&app, &drug, &f1).await;
    let today = app.get("/api/settlements/status", None).await.json()["business_date"].as_str().expect("business date").to_string();
    let mut probe = policy(&format!("{}", settled * 1440 + 100));
    probe["effective_from"] = json!(today);
    assert_eq!(publish(&app, &probe).await.status, 201);
    let hi_rxno = dispensed_now(&app, &drug, &f1, 10_000).await;
    let pre = json!({"hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1100.00"}], "acct_balance": "500.00"});
    let trial = app.post_json("/api/settlements/pre-settlement", Some(&f1), &pre).await.json();
    assert_eq!(trial["hifp_pay"], "100.00", "{report:#?}");
}

/// The prescribing region with the example settlement policy; the drug and a pharmacist's token.
async fn settling_region() -> (TestApp, String, String) {
    let (app, [drug, ..]) = prescribing_region().await;
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    (app, drug, long_token(pharmacist("F1", P1)))
}

/// Settles a new dispensed prescription per fault point, each kind at every operation; returns
/// the report and how many settlements were made.
async fn settlement_sweep(app: &TestApp, drug: &str, f1: &str) -> (Vec<String>, u64) {
    let mut report = Vec::new();
    let mut n = 0u64;
    for (kind, fault) in kinds() {
        let (mut tried, mut survived, mut lost) = (0, 0, Vec::new());
        for k in 1.. {
            n += 1;
            let hi_rxno = dispensed_now(app, drug, f1, n).await;
            let body = json!({"setl_no": format!("S-F{n}"), "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1100.00"}], "acct_balance": "500.00"});
            let strikes = app.fault_strikes();
            app.inject_fault(fault(k));
            let first = app.post_json("/api/settlements", Some(f1), &body).await;
            if app.fault_strikes() == strikes {
                assert_eq!(first.status, 201, "{}", String::from_utf8_lossy(&first.body));
                break;
            }
            tried += 1;
            let ok = match recover(app, async || app.post_json("/api/settlements", Some(f1), &body).await).await {
                Some(done) => settled_whole(app, f1, &done.json()).await,
                None => false,
            };
            if ok { survived += 1 } else { lost.push(k) }
        }
        report.push(format!("settlement, {kind}: {survived} of {tried} fault points survived{}", missed(&lost)));
    }
    (report, n)
}

/// The settlement reads back settled, its figures add up, and the pooled fund paid what it pays
/// for this purchase (critical illness starts once the year passes its base, so the rest varies).
async fn settled_whole(app: &TestApp, f1: &str, answer: &Value) -> bool {
    let read = app.get(&format!("/api/settlements/{}", answer["setl_id"].as_str().unwrap_or("-")), Some(f1)).await.json();
    let amount = |field: &str| read[field].as_str().and_then(|a| a.parse::<rust_decimal::Decimal>().ok());
    let adds_up = amount("medfee_sumamt").zip(amount("fund_pay_sumamt")).zip(amount("psn_part_amt")).is_some_and(|((all, fund), own)| all == fund + own);
    read["stage"] == "settled" && read["hifp_pay"] == "1440.00" && adds_up
}

/// Prescribes, reviews and dispenses one line for N1 (packs from `n`); returns its number.
async fn dispensed_now(app: &TestApp, drug: &str, f1: &str, n: u64) -> String {
    let stored = prescribe(app, &prescription(&format!("R-G{n}"), "D1", vec![line(drug)])).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    let reviewed = app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(f1), &json!({"approved": true})).await;
    assert_eq!(reviewed.status, 200, "{}", String::from_utf8_lossy(&reviewed.body));
    let packs = [format!("86{n:018}"), format!("87{n:018}")];
    let done = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(f1), &dispensing(&format!("D-G{n}"), drug, &[&packs[0], &packs[1]])).await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    hi_rxno
}
