//! The outpatient negotiated-drug mechanism through the host (issue 15, rule S4, seed `004_…`):
//! registration (诊断登记) at a tier-3 institution by senior physicians, the settlement gate
//! (三定: the registered institution, its linked pharmacies, the named physicians), the
//! six-monthly reassessment, a change of institution, the annual maximum reached exactly, also
//! by concurrent settlements, and the agency's manual reimbursement (零星报销) counted once.

use crate::filing::{H1, P1, act, office};
use crate::prescription::{line, pharmacist, prescribe, prescribing_region, prescription};
use crate::settlement::{policy, publish};
use api::Principal;
use scenarios::*;
use serde_json::{Value, json};

/// A second tier-3 institution of the region, for a change of institution.
pub(crate) const H4: &str = "H42010000004";

/// A physician registered at `fixmedins_code`.
fn doctor_at(dr_code: &str, fixmedins_code: &str) -> Principal {
    Principal::Physician { dr_code: dr_code.into(), fixmedins_code: fixmedins_code.into() }
}

async fn put(app: &TestApp, path: &str, body: Value) {
    let request = app.client.put(app.url(path)).bearer_auth(token_for(agency())).json(&body);
    let answer = app.send(request).await;
    assert!(answer.status < 300, "{path}: {}", String::from_utf8_lossy(&answer.body));
}

/// The prescribing region, plus: `drug` (its dual-channel drug) on the city's outpatient list
/// with annual maximum `annual_max`; a second tier-3 institution H4 with a chief physician D5;
/// an attending (not senior) physician D4 at H1; the example policy. Returns the app and `drug`.
pub(crate) async fn mechanism_region_on(app: TestApp, annual_max: &str) -> (TestApp, String) {
    let (app, [_, drug, _]) = crate::prescription::prescribing_region_on(app).await;
    mechanism_on(&app, &drug, annual_max).await;
    (app, drug)
}

async fn mechanism_region(annual_max: &str) -> (TestApp, String) {
    let (app, [_, drug, _]) = prescribing_region().await;
    mechanism_on(&app, &drug, annual_max).await;
    (app, drug)
}

async fn mechanism_on(app: &TestApp, drug: &str, annual_max: &str) {
    let list = json!({"effective_from": "2025-01-01", "entries": [{"code": drug, "annual_max": annual_max}]});
    let answer = app.post_json("/api/catalogue/regions/420100/lists/outpatient", Some(&token_for(agency())), &list).await;
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    put(app, &format!("/api/registry/institutions/{H4}"), json!({"name": "第二三级医院", "admdvs": "420100", "level": 3, "cross_region_settlement": true})).await;
    let doctor = |at: &str, title: &str| json!({"name": "医生", "fixmedins_code": at, "title": title, "specialty": "风湿免疫科", "responsible": false, "active": true});
    put(app, "/api/registry/physicians/D4", doctor(H1, "attending")).await;
    put(app, "/api/registry/physicians/D5", doctor(H4, "associate_chief")).await;
    assert_eq!(publish(app, &policy("400000")).await.status, 201);
}

/// A registration's application: N1, `drug`, at `at`, diagnosed by `dr_code`.
fn registration(drug: &str, at: &str, dr_code: &str) -> Value {
    json!({"scheme": "outpatient_mechanism", "psn_no": "N1", "code": drug, "fixmedins_code": at, "dr_code": dr_code,
           "diagnoses": ["M05.9"], "records": ["门诊病历 2025-RA-0001"], "treatment_plan": "每日两次，每三个月评估"})
}

/// N1 registered for `drug` at `at` by `dr_code` (S4): applied online by the institution's
/// office, recommended by the physician, approved without a pharmacy. Returns the registration.
pub(crate) async fn registered(app: &TestApp, drug: &str, at: &str, dr_code: &str) -> Value {
    let applied = app.post_json("/api/filings", Some(&token_for(office(at))), &registration(drug, at, dr_code)).await;
    assert_eq!(applied.status, 201, "{}", String::from_utf8_lossy(&applied.body));
    let id = applied.json()["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("RG"), "{id}");
    let recommended = act(app, doctor_at(dr_code, at), &id, json!({"action": "recommend", "attestation": "类风湿关节炎，传统DMARDs治疗无效"})).await;
    assert_eq!(recommended.status, 200, "{}", String::from_utf8_lossy(&recommended.body));
    let approved = act(app, office(at), &id, json!({"action": "approve"})).await;
    assert_eq!(approved.status, 200, "{}", String::from_utf8_lossy(&approved.body));
    approved.json()
}

/// A visit of N1 at the office's institution: 2 × `drug` at 1000.00 (its standard), class B,
/// prescribed by `dr_code`. Class B pays 10% first: 200.00; 1800.00 is in scope.
pub(crate) fn visit(drug: &str, setl_no: &str, dr_code: &str) -> Value {
    json!({"setl_no": setl_no, "psn_no": "N1", "dr_code": dr_code, "acct_balance": "0.00",
           "lines": [{"med_list_codg": drug, "drug_cnt": "2", "drug_spec": "100mg/瓶", "unit_price": "1000.00"}]})
}

fn violations(problem: &Value) -> Vec<(String, String)> {
    let list = problem["violations"].as_array().expect("violations");
    list.iter().map(|v| (v["rule"].as_str().unwrap_or("").to_string(), v["reason"].as_str().unwrap_or("").to_string())).collect()
}

/// Refused under S4, the reason containing `why`.
fn refused_for(answer: &Answer, why: &str) {
    let problem = answer.problem(422, "SETTLEMENT_REFUSED");
    let found = violations(&problem);
    assert!(found.iter().any(|(rule, reason)| rule == "S4" && reason.contains(why)), "expected S4 \"{why}\": {problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_needs_a_tier_3_institution_senior_physicians_and_a_listed_drug() {
    let (app, [separate, drug, _]) = prescribing_region().await;
    mechanism_on(&app, &drug, "13000.00").await;
    let refused = |body: Value, at: &'static str| {
        let app = &app;
        async move {
            let answer = app.post_json("/api/filings", Some(&token_for(office(at))), &body).await;
            let problem = answer.problem(422, "NOT_ELIGIBLE");
            problem["violations"].as_array().expect("violations").iter().map(|v| (v["field"].as_str().unwrap_or("").to_string(), v["rule"].as_str().unwrap_or("").to_string())).collect::<Vec<_>>()
        }
    };
    let pair = |field: &str| (field.to_string(), "S4".to_string());
    // an attending physician is not of senior title, also as a named one
    assert_eq!(refused(registration(&drug, H1, "D4"), H1).await, [pair("/dr_code")]);
    let mut named = registration(&drug, H1, "D1");
    named["named_physicians"] = json!(["D4"]);
    assert_eq!(refused(named, H1).await, [pair("/named_physicians/0")]);
    // a tier-1 institution does not register, whatever its physician's title
    assert_eq!(refused(registration(&drug, "H42010000003", "D3"), "H42010000003").await, [pair("/fixmedins_code")]);
    // the separate-payment drug is not on the outpatient list
    assert_eq!(refused(registration(&separate, H1, "D1"), H1).await, [pair("/code")]);
    // a registration names physicians; a filing does not
    let mut filing = registration(&drug, H1, "D1");
    filing.as_object_mut().expect("object").remove("scheme");
    filing["named_physicians"] = json!(["D2"]);
    let invalid = app.post_json("/api/filings", Some(&token_for(office(H1))), &filing).await.problem(422, "INVALID_BODY");
    assert_eq!(invalid["violations"][0]["field"], "/named_physicians");
    // D1 (chief) with D2 named: registered, approved without a pharmacy, and D2 sees it
    let mut good = registration(&drug, H1, "D1");
    good["named_physicians"] = json!(["D2"]);
    let applied = app.post_json("/api/filings", Some(&token_for(office(H1))), &good).await;
    assert_eq!(applied.status, 201, "{}", String::from_utf8_lossy(&applied.body));
    let id = applied.json()["id"].as_str().expect("id").to_string();
    act(&app, doctor_at("D1", H1), &id, json!({"action": "recommend", "attestation": "符合"})).await;
    let approved = act(&app, office(H1), &id, json!({"action": "approve"})).await.json();
    assert_eq!((approved["state"].as_str(), approved["scheme"].as_str(), approved.get("pharmacy")), (Some("approved"), Some("outpatient_mechanism"), Some(&Value::Null)), "{approved}");
    assert_eq!(app.get(&format!("/api/filings/{id}"), Some(&token_for(doctor_at("D2", H1)))).await.status, 200);
    // the patient's filing for another drug and this registration are apart
    let own = app.get("/api/filings", Some(&token_for(patient("N1")))).await.json();
    assert_eq!(own["total"], 2, "{own}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mechanism_pays_a_registered_patient_at_the_registered_institution_by_its_physicians() {
    let (app, drug) = mechanism_region("13000.00").await;
    let h1 = token_for(office(H1));
    // no registration: refused by default (S4), nothing stored
    refused_for(&app.post_json("/api/settlements", Some(&h1), &visit(&drug, "V-1", "D1")).await, "no registration");
    // a region may settle it under ordinary terms instead: tier 3, (1800.00 − 800.00) × 0.70
    let mut lenient = policy("400000");
    lenient["employee"]["outpatient_negotiated"]["unregistered"] = json!("ordinary_terms");
    assert_eq!(publish(&app, &lenient).await.status, 201);
    let mut trial = visit(&drug, "unused", "D1");
    trial.as_object_mut().expect("object").remove("setl_no");
    let ordinary = app.post_json("/api/settlements/pre-settlement", Some(&h1), &trial).await.json();
    assert_eq!((ordinary["lines"][0]["treatment"]["kind"].as_str(), ordinary["hifp_pay"].as_str()), (Some("ordinary"), Some("700.00")), "{ordinary}");
    assert!(ordinary["steps"].as_array().expect("steps").iter().any(|s| s["rule"] == "S4" && s["output"] == "ordinary"), "{ordinary}");
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);

    let registration = registered(&app, &drug, H1, "D1").await;
    let id = registration["id"].as_str().expect("id");
    // registered: the mechanism pays at H1 by D1, (1800.00 − 300.00) × 0.70
    let paid = app.post_json("/api/settlements", Some(&h1), &visit(&drug, "V-2", "D1")).await;
    assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
    let paid = paid.json();
    assert_eq!((paid["lines"][0]["treatment"]["kind"].as_str(), paid["hifp_pay"].as_str()), (Some("outpatient_negotiated"), Some("1050.00")), "{paid}");
    let step = paid["steps"].as_array().expect("steps").iter().find(|s| s["rule"] == "S4" && s["output"] == "outpatient_negotiated").expect("the gate's step").clone();
    assert!(step["input"].as_str().unwrap().contains(id), "{step}");
    // by a physician the registration does not name, or naming none: refused
    refused_for(&app.post_json("/api/settlements", Some(&h1), &visit(&drug, "V-3", "D2")).await, "D2 is not named");
    let mut anonymous = visit(&drug, "V-4", "D1");
    anonymous.as_object_mut().expect("object").remove("dr_code");
    refused_for(&app.post_json("/api/settlements", Some(&h1), &anonymous).await, "not stated");
    // at another institution: refused
    refused_for(&app.post_json("/api/settlements", Some(&token_for(office(H4))), &visit(&drug, "V-5", "D5")).await, &format!("fixes institution {H1}, not {H4}"));
    // prescribed at H1 by D1 and bought at P1, a dual-channel pharmacy linked to H1: paid
    let stored = prescribe(&app, &prescription("R-O1", "D1", vec![line(&drug)])).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno");
    let f1 = token_for(pharmacist("F1", P1));
    let review = app.post_json(&format!("/api/prescriptions/{hi_rxno}/review?psn_no=N1"), Some(&f1), &json!({"approved": true})).await;
    assert_eq!(review.status, 200, "{}", String::from_utf8_lossy(&review.body));
    let pre = json!({"hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "0.00"});
    let at_pharmacy = app.post_json("/api/settlements/pre-settlement", Some(&f1), &pre).await;
    assert_eq!(at_pharmacy.status, 200, "{}", String::from_utf8_lossy(&at_pharmacy.body));
    // the year already counted the visit's deductible: 1800.00 × 0.70
    assert_eq!(at_pharmacy.json()["hifp_pay"], "1260.00", "{}", at_pharmacy.json());
}

/// S4 as E5: a registration not reassessed within six months stops payment until the
/// physician reassesses; on the app's own clock, moved on.
#[tokio::test(flavor = "multi_thread")]
async fn a_missed_reassessment_stops_payment_until_the_physician_reassesses() {
    let (app, drug) = mechanism_region("13000.00").await;
    let id = registered(&app, &drug, H1, "D1").await["id"].as_str().expect("id").to_string();
    let days = 7 * 31;
    app.advance_clock(std::time::Duration::from_secs(days * 24 * 3600));
    let now = chrono::Utc::now() + chrono::Days::new(days);
    let h1 = token_issued_at(office(H1), now);
    refused_for(&app.post_json("/api/settlements", Some(&h1), &visit(&drug, "V-R1", "D1")).await, "reassessment");
    let reassess = app.post_json(&format!("/api/filings/{id}/actions"), Some(&token_issued_at(doctor_at("D1", H1), now)), &json!({"action": "reassess"})).await;
    assert_eq!((reassess.status, reassess.json()["standing"].as_str()), (200, Some("valid")), "{}", String::from_utf8_lossy(&reassess.body));
    let paid = app.post_json("/api/settlements", Some(&h1), &visit(&drug, "V-R2", "D1")).await;
    assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
    assert_eq!(paid.json()["lines"][0]["treatment"]["kind"], "outpatient_negotiated");
}

/// S4: a registration ends by expiry a year after approval, or by cancellation (the institution
/// revokes it, with its reason); either stops the mechanism's payment, the patient may register
/// anew, and the history keeps every step. On the app's own clock, moved on.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_or_cancelled_registration_stops_payment_until_registered_anew() {
    let (app, drug) = mechanism_region("13000.00").await;
    let first = registered(&app, &drug, H1, "D1").await["id"].as_str().expect("id").to_string();
    let mut moved = 0;
    let mut move_on = |days: u64| {
        app.advance_clock(std::time::Duration::from_secs(days * 24 * 3600));
        moved += days;
        chrono::Utc::now() + chrono::Days::new(moved)
    };
    // reassessed in time after five months, it pays to the end of its year, not after
    let now = move_on(150);
    let reassess = app.post_json(&format!("/api/filings/{first}/actions"), Some(&token_issued_at(doctor_at("D1", H1), now)), &json!({"action": "reassess"})).await;
    assert_eq!(reassess.status, 200, "{}", String::from_utf8_lossy(&reassess.body));
    let paid = app.post_json("/api/settlements", Some(&token_issued_at(office(H1), now)), &visit(&drug, "V-E1", "D1")).await;
    assert_eq!((paid.status, paid.json()["lines"][0]["treatment"]["kind"].as_str()), (201, Some("outpatient_negotiated")), "{}", String::from_utf8_lossy(&paid.body));
    let now = move_on(230);
    let h1 = token_issued_at(office(H1), now);
    refused_for(&app.post_json("/api/settlements", Some(&h1), &visit(&drug, "V-E2", "D1")).await, "expired");

    // registered anew, then cancelled by the institution: refused again
    let applied = app.post_json("/api/filings", Some(&h1), &registration(&drug, H1, "D1")).await;
    assert_eq!(applied.status, 201, "{}", String::from_utf8_lossy(&applied.body));
    let second = applied.json()["id"].as_str().expect("id").to_string();
    let as_of = |principal: Principal| token_issued_at(principal, now);
    let act_now = |principal: Principal, body: Value| {
        let (app, second) = (&app, &second);
        async move { app.post_json(&format!("/api/filings/{second}/actions"), Some(&as_of(principal)), &body).await }
    };
    assert_eq!(act_now(doctor_at("D1", H1), json!({"action": "recommend", "attestation": "复评符合"})).await.status, 200);
    assert_eq!(act_now(office(H1), json!({"action": "approve"})).await.status, 200);
    assert_eq!(app.post_json("/api/settlements", Some(&h1), &visit(&drug, "V-E3", "D1")).await.status, 201);
    let revoked = act_now(office(H1), json!({"action": "revoke", "reason": "患者转出本市"})).await;
    assert_eq!((revoked.status, revoked.json()["state"].as_str()), (200, Some("revoked")), "{}", String::from_utf8_lossy(&revoked.body));
    let refused = app.post_json("/api/settlements", Some(&h1), &visit(&drug, "V-E4", "D1")).await;
    assert_eq!(refused.status, 422, "{}", String::from_utf8_lossy(&refused.body));
    assert!(violations(&refused.problem(422, "SETTLEMENT_REFUSED")).iter().any(|(rule, _)| rule == "S4"));

    // every step of both is kept; the expired one reads superseded by the new registration
    let n1 = token_issued_at(patient("N1"), now);
    for (id, expected) in [(&first, vec!["apply", "recommend", "approve", "reassess", "supersede"]), (&second, vec!["apply", "recommend", "approve", "revoke"])] {
        let history = app.get(&format!("/api/filings/{id}/history"), Some(&n1)).await.json();
        let actions: Vec<&str> = history["versions"].as_array().expect("versions").iter().map(|v| v["action"].as_str().unwrap_or("")).collect();
        assert_eq!(actions, expected, "{history}");
    }
}

/// S4: the patient moves to another tier-3 institution: the new registration is applied for
/// while the old one stands, and supersedes it once approved; the history says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_of_institution_supersedes_the_registration_once_approved() {
    let (app, drug) = mechanism_region("13000.00").await;
    let old = registered(&app, &drug, H1, "D1").await["id"].as_str().expect("id").to_string();
    // another application at H1 is refused; at H4 it is the change
    app.post_json("/api/filings", Some(&token_for(office(H1))), &registration(&drug, H1, "D2")).await.problem(409, "FILING_EXISTS");
    let applied = app.post_json("/api/filings", Some(&token_for(office(H4))), &registration(&drug, H4, "D5")).await;
    assert_eq!(applied.status, 201, "{}", String::from_utf8_lossy(&applied.body));
    let new = applied.json()["id"].as_str().expect("id").to_string();
    // until it is approved the old registration pays at H1
    let h1 = token_for(office(H1));
    assert_eq!(app.post_json("/api/settlements", Some(&h1), &visit(&drug, "V-C1", "D1")).await.status, 201);
    act(&app, doctor_at("D5", H4), &new, json!({"action": "recommend", "attestation": "符合"})).await;
    assert_eq!(act(&app, office(H4), &new, json!({"action": "approve"})).await.json()["state"], "approved");
    let superseded = app.get(&format!("/api/filings/{old}"), Some(&token_for(patient("N1")))).await.json();
    assert_eq!((superseded["state"].as_str(), superseded["by"].as_str()), (Some("superseded"), Some(new.as_str())), "{superseded}");
    let history = app.get(&format!("/api/filings/{old}/history"), Some(&token_for(patient("N1")))).await.json();
    let actions: Vec<&str> = history["versions"].as_array().expect("versions").iter().map(|v| v["action"].as_str().unwrap_or("")).collect();
    assert_eq!(actions, ["apply", "recommend", "approve", "supersede"], "{history}");
    // now H1 is refused and H4 pays
    refused_for(&app.post_json("/api/settlements", Some(&h1), &visit(&drug, "V-C2", "D1")).await, &format!("fixes institution {H4}"));
    let paid = app.post_json("/api/settlements", Some(&token_for(office(H4))), &visit(&drug, "V-C3", "D5")).await;
    assert_eq!((paid.status, paid.json()["lines"][0]["treatment"]["kind"].as_str()), (201, Some("outpatient_negotiated")), "{}", String::from_utf8_lossy(&paid.body));
}

/// S4: a year's purchases reach the drug's annual maximum (on eligible cost, the seed's basis)
/// exactly: three visits of 1800.00 in scope against 5400.00; the fourth is the patient's.
#[tokio::test(flavor = "multi_thread")]
async fn a_years_purchases_reach_the_annual_maximum_exactly() {
    let (app, drug) = mechanism_region("5400.00").await;
    registered(&app, &drug, H1, "D1").await;
    let h1 = token_for(office(H1));
    let mut paid = Vec::new();
    for n in 1..=4 {
        let answer = app.post_json("/api/settlements", Some(&h1), &visit(&drug, &format!("V-M{n}"), "D1")).await;
        assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
        let body = answer.json();
        paid.push((body["hifp_pay"].as_str().unwrap().to_string(), body["psn_part_amt"].as_str().unwrap().to_string()));
    }
    // (1800.00 − 300.00) × 0.70, then 1800.00 × 0.70 twice: 5400.00 counted; then nothing
    let paid: Vec<(&str, &str)> = paid.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(paid, [("1050.00", "950.00"), ("1260.00", "740.00"), ("1260.00", "740.00"), ("0.00", "2000.00")]);
}

/// S4, 零星报销: an agency reimburses a purchase paid in full; the claim is idempotent on its
/// number, the receipt is reimbursed once whatever the number, the year counts it once, and
/// only an agency reverses it.
#[tokio::test(flavor = "multi_thread")]
async fn a_manual_reimbursement_is_counted_once() {
    let (app, drug) = mechanism_region("3600.00").await;
    registered(&app, &drug, H1, "D1").await;
    let agency = token_for(agency());
    let today = crate::filing::today();
    let claim = |setl_no: &str, receipt_no: &str| {
        let mut body = visit(&drug, setl_no, "D1");
        body["reimbursement"] = json!({"fixmedins_code": H1, "purchased_on": today, "receipt_no": receipt_no});
        body
    };
    let first = app.post_json("/api/settlements", Some(&agency), &claim("M-1", "INV-0001")).await;
    assert_eq!(first.status, 201, "{}", String::from_utf8_lossy(&first.body));
    let first = first.json();
    assert_eq!((first["hifp_pay"].as_str(), first["fixmedins_code"].as_str()), (Some("1050.00"), Some(H1)), "{first}");
    let setl_id = first["setl_id"].as_str().expect("setl_id").to_string();
    // the same claim again: answered; the receipt under another number: refused
    let again = app.post_json("/api/settlements", Some(&agency), &claim("M-1", "INV-0001")).await;
    assert_eq!((again.status, again.json()["setl_id"].as_str()), (200, Some(setl_id.as_str())));
    assert_eq!(app.post_json("/api/settlements", Some(&agency), &claim("M-2", "INV-0001")).await.problem(409, "ALREADY_SETTLED")["rule"], "S8");
    // the year counted it once, its deductible too: a visit gets the rest of the 3600.00
    // maximum, 1800.00 × 0.70
    let h1 = token_for(office(H1));
    assert_eq!(app.post_json("/api/settlements", Some(&h1), &visit(&drug, "V-1", "D1")).await.json()["hifp_pay"], "1260.00");
    // a claim's account balance, a purchase in the future, an office's reimbursement: refused
    let mut balance = claim("M-3", "INV-0003");
    balance["acct_balance"] = json!("100.00");
    assert_eq!(app.post_json("/api/settlements", Some(&agency), &balance).await.problem(422, "INVALID_BODY")["violations"][0]["field"], "/acct_balance");
    let mut future = claim("M-3", "INV-0003");
    future["reimbursement"]["purchased_on"] = json!((today + chrono::Days::new(1)).to_string());
    assert_eq!(app.post_json("/api/settlements", Some(&agency), &future).await.problem(422, "INVALID_BODY")["violations"][0]["field"], "/reimbursement/purchased_on");
    app.post_json("/api/settlements", Some(&h1), &claim("M-3", "INV-0003")).await.problem(422, "INVALID_BODY");
    // the institution does not reverse the agency's reimbursement; the agency does, once, and
    // the receipt may then be claimed again
    let reversal = format!("/api/settlements/{setl_id}/reversal");
    app.post_json(&reversal, Some(&h1), &json!({"reason": "退费"})).await.problem(403, "ROLE_FORBIDDEN");
    assert_eq!(app.post_json(&reversal, Some(&agency), &json!({"reason": "票据有误"})).await.json()["stage"], "reversed");
    let reclaimed = app.post_json("/api/settlements", Some(&agency), &claim("M-4", "INV-0001")).await;
    // the reversal gave back its 1800.00 and the deductible: (1800.00 − 300.00) × 0.70
    assert_eq!((reclaimed.status, reclaimed.json()["hifp_pay"].as_str()), (201, Some("1050.00")), "{}", String::from_utf8_lossy(&reclaimed.body));
}

/// A settlement of a mechanism drug touches as many keys with one registration stored as with
/// many (the gate reads the person's registration for the drug, never a list of them).
#[tokio::test(flavor = "multi_thread")]
async fn a_settlement_reads_as_many_keys_with_one_or_many_registrations_stored() {
    use http::Method;
    let app = InProcessApp::start().await;
    let drug = crate::filing::in_process_region(&app, "dual_channel", &[]).await;
    let send = |method: Method, path: String, token: String, body: Value| {
        let app = &app;
        async move {
            let answer = app.send(method, &path, Some(&token), Some(("application/json", body.to_string().into_bytes()))).await;
            assert!(answer.status.is_success(), "{path}: {}", String::from_utf8_lossy(&answer.body));
            answer
        }
    };
    let agency = token_for(agency());
    let list = json!({"effective_from": "2025-01-01", "entries": [{"code": drug, "annual_max": "1000000.00"}]});
    send(Method::POST, "/api/catalogue/regions/420100/lists/outpatient".into(), agency.clone(), list).await;
    send(Method::PUT, "/api/settlements/regions/420100/policy".into(), agency.clone(), policy("400000")).await;
    // registers person `psn_no` for the drug at H1 by D1
    let register = |psn_no: String| {
        let (send, drug) = (&send, drug.clone());
        async move {
            let mut body = registration(&drug, H1, "D1");
            body["psn_no"] = json!(psn_no);
            let applied = send(Method::POST, "/api/filings".into(), token_for(office(H1)), body).await;
            let id = serde_json::from_slice::<Value>(&applied.body).unwrap()["id"].as_str().expect("id").to_string();
            send(Method::POST, format!("/api/filings/{id}/actions"), token_for(doctor_at("D1", H1)), json!({"action": "recommend", "attestation": "符合"})).await;
            send(Method::POST, format!("/api/filings/{id}/actions"), token_for(office(H1)), json!({"action": "approve"})).await;
        }
    };
    register("N1".into()).await;
    let settle = |n: usize| send(Method::POST, "/api/settlements".into(), token_for(office(H1)), visit(&drug, &format!("V-K{n}"), "D1"));
    settle(0).await; // the year's first settlement, and every cache warm
    let few = settle(1).await.kv_ops;
    for n in 0..30 {
        let person = json!({"name": "患者", "certno": "420106197512120027", "insutype": "310", "insured_admdvs": "420100", "benefit_status": "normal"});
        send(Method::PUT, format!("/api/registry/persons/NK{n}"), agency.clone(), person).await;
        register(format!("NK{n}")).await;
    }
    let many = settle(2).await.kv_ops;
    eprintln!("settlement kv ops: {few} (1 registration) / {many} (31 registrations)");
    assert_eq!(format!("{few}"), format!("{many}"));
    assert_eq!(many.get_keys, 0, "no key listing");
}
