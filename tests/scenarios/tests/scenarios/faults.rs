//! Faults survived (issue 16): the host fails a key-value operation, or kills the instance just
//! before one, at every operation `k` of a request in turn, for each step of the transaction
//! path: application, approval, upload, dispensing, settlement, reversal, return. The client
//! then does what an integrating system does after an error or a lost answer, sending the same
//! request again (after the lease, when a dead request's claim stands in the way), and the
//! step's invariants are checked: the record reads back once, in its lists, with what the step
//! wrote; dispensed once with its packs; settled or reversed once, with the person's year equal
//! to the sum of their live settlements. Prints the fault points tried and survived per step.

use crate::filing::{H1, P1, application, office, physician};
use crate::prescription::{dispensing, line, pharmacist, prescribing_region, prescription};
use crate::settlement::policy;
use scenarios::*;
use serde_json::{Value, json};
use spin_test_host::Fault;
use std::time::Duration;

/// Past the store's lease on a claimed, unwritten slot (`store::versions::LEASE_SECONDS`).
const PAST_THE_LEASE: Duration = Duration::from_secs(61);

/// What the pooled fund pays for one dispensed prescription of the region's drug under the
/// example policy (2 × 1000.00 at the standard 1000.00, tier 3).
const POOLED_PER_SETTLEMENT: u64 = 1440;

/// Tokens that outlive the clock moves of a sweep.
fn long_token(principal: api::Principal) -> String {
    token_valid_for(principal, 30 * 86_400)
}

/// One request of a sweep: where it goes, as whom, with what.
struct Step {
    path: String,
    token: String,
    body: Value,
}

/// Sends the request until it succeeds, moving the clock past the lease after each failure;
/// `None` if it never does.
async fn recover(app: &TestApp, step: &Step) -> Option<Answer> {
    for _ in 0..4 {
        let answer = app.post_json(&step.path, Some(&step.token), &step.body).await;
        if answer.status < 300 {
            return Some(answer);
        }
        app.advance_clock(PAST_THE_LEASE);
    }
    None
}

/// For each kind of fault and each operation `k` of the step until a request has fewer: makes a
/// fresh object with `prepare(n)` (`n` counts on across the sweep), sends the step with the
/// fault, recovers, and asks `check(n, answer)` whether the invariants hold. One report line per
/// kind, printed as it is done: the fault points survived.
async fn sweep(app: &TestApp, name: &str, first: u64, prepare: impl AsyncFn(u64) -> Step, check: impl AsyncFn(u64, &Value) -> bool) -> (Vec<String>, u64) {
    let mut report = Vec::new();
    let mut n = first;
    for (kind, fault) in [("failed operation", Fault::FailOp as fn(u64) -> Fault), ("killed instance", Fault::KillAtOp)] {
        let (mut tried, mut survived, mut lost) = (0, 0, Vec::new());
        for k in 1.. {
            n += 1;
            let step = prepare(n).await;
            let strikes = app.fault_strikes();
            app.inject_fault(fault(k));
            let answer = app.post_json(&step.path, Some(&step.token), &step.body).await;
            if app.fault_strikes() == strikes {
                // the step has fewer than k operations: every point was tried
                assert!(answer.status < 300, "{name}: {}", String::from_utf8_lossy(&answer.body));
                assert!(check(n, &answer.json()).await, "{name} without a fault");
                break;
            }
            tried += 1;
            let ok = match recover(app, &step).await {
                Some(done) => check(n, &done.json()).await,
                None => false,
            };
            if ok {
                survived += 1;
            } else {
                lost.push(k);
            }
        }
        let missed = if lost.is_empty() { String::new() } else { format!(" (not at operations {lost:?})") };
        report.push(format!("{name}, {kind}: {survived} of {tried} fault points survived{missed}"));
        println!("{}", report[report.len() - 1]);
    }
    (report, n)
}

fn all_survived(report: &[String]) -> bool {
    report.iter().all(|line| !line.contains("not at"))
}

/// Pre-checks and uploads as D1 (`prescription::prescribe` with tokens that outlive the sweep).
async fn prescribe(app: &TestApp, rx: &Value) -> String {
    let checked = app.post_json("/api/prescriptions/pre-check", Some(&long_token(physician("D1"))), rx).await;
    assert_eq!(checked.status, 200, "{}", String::from_utf8_lossy(&checked.body));
    let upload = json!({"rx_trace_code": checked.json()["rx_trace_code"]});
    let uploaded = app.post_json("/api/prescriptions", Some(&long_token(physician("D1"))), &upload).await;
    assert_eq!(uploaded.status, 201, "{}", String::from_utf8_lossy(&uploaded.body));
    uploaded.json()["hi_rxno"].as_str().expect("hi_rxno").to_string()
}

/// Prescribes one line for N1 under `hosp_rxno` and has F1 approve it; returns its number.
async fn approved(app: &TestApp, drug: &str, hosp_rxno: &str) -> String {
    let hi_rxno = prescribe(app, &prescription(hosp_rxno, "D1", vec![line(drug)])).await;
    let reviewed = app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&long_token(pharmacist("F1", P1))), &json!({"approved": true})).await;
    assert_eq!(reviewed.status, 200, "{}", String::from_utf8_lossy(&reviewed.body));
    hi_rxno
}

/// Prescribes, reviews and dispenses one line for N1 (packs from `n`); returns its number.
async fn dispensed_now(app: &TestApp, drug: &str, n: u64) -> String {
    let f1 = long_token(pharmacist("F1", P1));
    let hi_rxno = approved(app, drug, &format!("R-G{n}")).await;
    let done = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&f1), &dispensing(&format!("D-G{n}"), drug, &[&pack(6, n), &pack(7, n)])).await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    hi_rxno
}

/// The `n`-th traceability code of series `series` (20 digits).
fn pack(series: u8, n: u64) -> String {
    format!("8{series}{n:018}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filing_survives_a_fault_at_every_operation_of_its_application_and_approval() {
    let (app, [_, dual, _]) = prescribing_region().await;
    app.start_next_business_day();
    let n1 = long_token(patient("N1"));
    // each application is revoked after its check, so N1 applies again for the same drug: a new
    // generation each time
    let revoke = async |id: &str| {
        let revoked = app.post_json(&format!("/api/filings/{id}/actions"), Some(&long_token(office(H1))), &json!({"action": "revoke", "reason": "演练"})).await;
        assert_eq!(revoked.status, 200, "{}", String::from_utf8_lossy(&revoked.body));
    };
    let listed_once = async |id: &str| {
        let mine = app.get("/api/filings?page_size=100", Some(&n1)).await.json();
        mine["items"].as_array().is_some_and(|items| items.iter().filter(|i| i["id"] == id).count() == 1)
    };
    let apply = Step { path: "/api/filings".into(), token: n1.clone(), body: application("N1", &dual, H1, "D1") };
    let (mut report, n) = sweep(
        &app,
        "application",
        0,
        async |_| Step { path: apply.path.clone(), token: apply.token.clone(), body: apply.body.clone() },
        async |_, answer: &Value| {
            let id = answer["id"].as_str().unwrap_or("-").to_string();
            let read = app.get(&format!("/api/filings/{id}"), Some(&n1)).await.json();
            let ok = read["state"] == "awaiting_physician" && listed_once(&id).await;
            revoke(&id).await;
            ok
        },
    )
    .await;
    let (approval, _) = sweep(
        &app,
        "approval",
        n,
        async |_| {
            let applied = app.post_json("/api/filings", Some(&n1), &apply.body).await.json();
            let id = applied["id"].as_str().expect("filing id").to_string();
            let recommend = json!({"action": "recommend", "attestation": "晚期"});
            let recommended = app.post_json(&format!("/api/filings/{id}/actions"), Some(&long_token(physician("D1"))), &recommend).await;
            assert_eq!(recommended.status, 200, "{}", String::from_utf8_lossy(&recommended.body));
            Step { path: format!("/api/filings/{id}/actions"), token: long_token(office(H1)), body: json!({"action": "approve", "pharmacy": P1}) }
        },
        async |_, answer: &Value| {
            let id = answer["id"].as_str().unwrap_or("-").to_string();
            let check = app.get(&format!("/api/filings/check?psn_no=N1&code={dual}"), Some(&long_token(pharmacist("F1", P1)))).await.json();
            let bound = app.get("/api/filings/pharmacy?page_size=100", Some(&long_token(pharmacist("F1", P1)))).await.json();
            let at_pharmacy = bound["items"].as_array().is_some_and(|items| items.iter().any(|i| i["id"] == id.as_str()));
            let ok = check == json!({"valid": true, "filing_id": id}) && at_pharmacy && listed_once(&id).await;
            revoke(&id).await;
            ok
        },
    )
    .await;
    report.extend(approval);
    assert!(all_survived(&report), "{report:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prescription_survives_a_fault_at_every_operation_of_its_upload_dispensing_and_return() {
    let (app, [drug, ..]) = prescribing_region().await;
    app.start_next_business_day();
    let (f1, n1) = (long_token(pharmacist("F1", P1)), long_token(patient("N1")));
    let in_lists_once = async |hi_rxno: &str| {
        let mine = app.get("/api/prescriptions?page_size=100", Some(&n1)).await.json();
        mine["items"].as_array().is_some_and(|items| items.iter().filter(|i| i["hi_rxno"] == hi_rxno).count() == 1)
    };
    let medication = async |hi_rxno: &str| -> Vec<String> {
        let record = app.get("/api/prescriptions/medication-records/N1", Some(&f1)).await.json();
        let entries = record["drugs"][0]["dispensings"].as_array().cloned().unwrap_or_default();
        entries.iter().filter(|e| e["hi_rxno"] == hi_rxno).map(|e| e["drug_cnt"].as_str().unwrap_or("").to_string()).collect()
    };
    let (mut report, n) = sweep(
        &app,
        "upload",
        0,
        async |n| {
            let checked = app.post_json("/api/prescriptions/pre-check", Some(&long_token(physician("D1"))), &prescription(&format!("R-U{n}"), "D1", vec![line(&drug)])).await;
            Step { path: "/api/prescriptions".into(), token: long_token(physician("D1")), body: json!({"rx_trace_code": checked.json()["rx_trace_code"]}) }
        },
        async |_, answer: &Value| {
            let hi_rxno = answer["hi_rxno"].as_str().unwrap_or("-");
            let read = app.get(&format!("/api/prescriptions/{hi_rxno}"), Some(&n1)).await.json();
            read["stage"] == "uploaded" && in_lists_once(hi_rxno).await
        },
    )
    .await;
    let (dispensings, n) = sweep(
        &app,
        "dispensing",
        n,
        async |n| {
            let hi_rxno = approved(&app, &drug, &format!("R-F{n}")).await;
            Step { path: format!("/api/prescriptions/{hi_rxno}/dispense"), token: f1.clone(), body: dispensing(&format!("D-F{n}"), &drug, &[&pack(4, n), &pack(5, n)]) }
        },
        async |n, answer: &Value| {
            let hi_rxno = answer["hi_rxno"].as_str().unwrap_or("-");
            let read = app.get(&format!("/api/prescriptions/{hi_rxno}"), Some(&f1)).await.json();
            if read["stage"] != "dispensed" || read["dispensing"]["dispensing_no"] != format!("D-F{n}") || medication(hi_rxno).await != ["2"] {
                return false;
            }
            // its packs are its own: another dispensing is refused each of them, naming it
            let probe = approved(&app, &drug, &format!("R-P{n}")).await;
            for (i, own) in [pack(4, n), pack(5, n)].iter().enumerate() {
                let body = dispensing(&format!("D-P{n}-{i}"), &drug, &[own, &pack(9, 10 * n + i as u64)]);
                let refused = app.post_json(&format!("/api/prescriptions/{probe}/dispense"), Some(&f1), &body).await;
                if refused.status != 409 || !refused.json()["detail"].as_str().is_some_and(|d| d.contains(hi_rxno)) {
                    return false;
                }
            }
            in_lists_once(hi_rxno).await
        },
    )
    .await;
    report.extend(dispensings);
    let (returns, _) = sweep(
        &app,
        "return",
        n,
        async |n| {
            let hi_rxno = dispensed_now(&app, &drug, n).await;
            Step { path: format!("/api/prescriptions/{hi_rxno}/returns"), token: f1.clone(), body: json!({"return_no": format!("T-{n}"), "drug_trac_codg": [pack(7, n)], "reason": "演练"}) }
        },
        async |n, answer: &Value| {
            let hi_rxno = answer["hi_rxno"].as_str().unwrap_or("-");
            let read = app.get(&format!("/api/prescriptions/{hi_rxno}"), Some(&f1)).await.json();
            let returns = read["dispensing"]["returns"].as_array().map_or(0, Vec::len);
            // the pack handed back is free again: a new dispensing takes it
            let next = approved(&app, &drug, &format!("R-N{n}")).await;
            let again = app.post_json(&format!("/api/prescriptions/{next}/dispense"), Some(&f1), &dispensing(&format!("D-N{n}"), &drug, &[&pack(7, n), &pack(3, n)])).await;
            returns == 1 && medication(hi_rxno).await == ["2", "-1"] && again.status == 200
        },
    )
    .await;
    report.extend(returns);
    assert!(all_survived(&report), "{report:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_settlement_survives_a_fault_at_every_operation_of_its_settlement_and_reversal() {
    let (app, [drug, ..]) = prescribing_region().await;
    app.start_next_business_day();
    let f1 = long_token(pharmacist("F1", P1));
    let publish = async |body: &Value| {
        let request = app.client.put(app.url("/api/settlements/regions/420100/policy")).bearer_auth(long_token(agency())).json(body);
        app.send(request).await.status
    };
    assert_eq!(publish(&policy("400000")).await, 201);
    let settle = |setl_no: String, hi_rxno: &str| Step {
        path: "/api/settlements".into(),
        token: f1.clone(),
        body: json!({"setl_no": setl_no, "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "500.00"}),
    };
    // settled whole: read back settled, its figures adding up, the pooled fund paying what it
    // pays for this purchase (critical illness starts once the year passes its base, so the
    // rest varies along the sweep)
    let settled_whole = async |answer: &Value| {
        let read = app.get(&format!("/api/settlements/{}", answer["setl_id"].as_str().unwrap_or("-")), Some(&f1)).await.json();
        let amount = |field: &str| read[field].as_str().and_then(|a| a.parse::<rust_decimal::Decimal>().ok());
        let adds_up = amount("medfee_sumamt").zip(amount("fund_pay_sumamt")).zip(amount("psn_part_amt")).is_some_and(|((all, fund), own)| all == fund + own);
        read["stage"] == "settled" && read["hifp_pay"] == format!("{POOLED_PER_SETTLEMENT}.00") && adds_up
    };
    let first_day = app.get("/api/settlements/status", None).await.json()["business_date"].as_str().expect("business date").to_string();
    let (mut report, n) = sweep(&app, "settlement", 0, async |n| settle(format!("S-F{n}"), &dispensed_now(&app, &drug, n).await), async |_, answer: &Value| settled_whole(answer).await).await;
    let live = n;
    // a reversal, then the prescription settled again under a new number (released, S8)
    let (reversals, n) = sweep(
        &app,
        "reversal",
        n,
        async |n| {
            let hi_rxno = dispensed_now(&app, &drug, n).await;
            let settled = app.post_json("/api/settlements", Some(&f1), &settle(format!("S-V{n}"), &hi_rxno).body).await.json();
            Step { path: format!("/api/settlements/{}/reversal", settled["setl_id"].as_str().expect("setl_id")), token: f1.clone(), body: json!({"reason": "价格录入错误"}) }
        },
        async |n, answer: &Value| {
            let again = app.post_json("/api/settlements", Some(&f1), &settle(format!("S-W{n}"), answer["hi_rxno"].as_str().unwrap_or("-")).body).await;
            answer["stage"] == "reversed" && again.status == 201 && settled_whole(&again.json()).await
        },
    )
    .await;
    report.extend(reversals);
    // every live settlement is listed once (each prescription of the sweeps is settled and
    // standing once: the reversed ones were settled again), and the year's pooled total is the
    // sum of them: with the pooled cap set to that sum plus 100.00, one more purchase gets
    // exactly 100.00 from the fund
    let listed = app.get("/api/settlements?page_size=1", Some(&long_token(patient("N1")))).await.json();
    let standing = n;
    let reversed = n - live;
    report.push(format!("settlements listed: {} for {standing} standing and {reversed} reversed", listed["total"]));
    println!("{}", report[report.len() - 1]);
    let today = app.get("/api/settlements/status", None).await.json()["business_date"].as_str().expect("business date").to_string();
    let mut probe = policy(&format!("{}", standing * POOLED_PER_SETTLEMENT + 100));
    probe["effective_from"] = json!(today);
    assert_eq!(publish(&probe).await, 201);
    let pre = json!({"hi_rxno": dispensed_now(&app, &drug, n + 1).await, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "500.00"});
    let trial = app.post_json("/api/settlements/pre-settlement", Some(&f1), &pre).await.json();
    report.push(format!("pooled fund left under a cap of the standing sum + 100.00: {}", trial["hifp_pay"]));
    println!("{}", report[report.len() - 1]);
    // the agency's month report (the region's ledgers) counts every standing settlement once:
    // as many lines, and the pooled fund's payments for them, net of the reversals (the sweep
    // runs a simulated day or so: both months when it crossed into the next)
    let (mut lines, mut pooled) = (0, rust_decimal::Decimal::ZERO);
    for month in std::collections::BTreeSet::from([first_day[..7].to_string(), today[..7].to_string()]) {
        let drugs = app.get(&format!("/api/monitoring/reports/drugs?admdvs=420100&month={month}"), Some(&long_token(agency()))).await.json();
        let reported = &drugs["separate_payment"];
        lines += reported["drugs"][0]["lines"].as_u64().unwrap_or_default();
        pooled += reported["hifp_pay"].as_str().and_then(|a| a.parse::<rust_decimal::Decimal>().ok()).unwrap_or_default();
    }
    report.push(format!("the month report: {lines} lines, pooled fund {pooled} (standing: {standing}, {}.00)", standing * POOLED_PER_SETTLEMENT));
    println!("{}", report[report.len() - 1]);
    assert_eq!(listed["total"], standing + reversed, "{report:#?}");
    assert_eq!(trial["hifp_pay"], "100.00", "{report:#?}");
    assert_eq!(lines, standing, "{report:#?}");
    assert_eq!(pooled.to_string(), format!("{}.00", standing * POOLED_PER_SETTLEMENT), "{report:#?}");
    assert!(all_survived(&report), "{report:#?}");
}
