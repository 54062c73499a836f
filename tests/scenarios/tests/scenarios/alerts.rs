//! Smart monitoring (issue 17, rule M3): each check fires on the irregularity it is for and
//! not on the regular case next to it, raises one alert however often it is seen again, and an
//! agency works the alert (assign, note, close) with an audit trail.

use crate::filing::{H1, P1, physician};
use crate::prescription::{dispensing, line, pharmacist, prescribe, prescribing_region, prescription};
use crate::settlement::{dispensed, policy, publish};
use scenarios::*;
use serde_json::{Value, json};

/// A second dual-channel pharmacy linked to H1, with its pharmacist F4.
const P3: &str = "P42010000003";

async fn second_pharmacy_for_h1(app: &TestApp) {
    let agency = lasting(agency());
    let pharmacy = json!({"name": "第二药房", "admdvs": "420100", "address": "武汉市", "dual_channel": true, "electronic_traceability": true,
                          "can_supply": true, "compliant": true, "linked_institutions": [H1]});
    let request = app.client.put(app.url(&format!("/api/registry/pharmacies/{P3}"))).bearer_auth(&agency).json(&pharmacy);
    assert!(app.send(request).await.status < 300);
    let request = app.client.put(app.url("/api/registry/pharmacists/F4")).bearer_auth(&agency).json(&json!({"name": "药师", "fixmedins_code": P3, "active": true}));
    assert!(app.send(request).await.status < 300);
}

const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

/// Tokens that outlive the clock moves below.
fn lasting(principal: api::Principal) -> String {
    token_valid_for(principal, 30 * 86_400)
}

async fn thresholds(app: &TestApp, body: Value) -> Answer {
    let request = app.client.put(app.url("/api/monitoring/regions/420100/thresholds")).bearer_auth(lasting(agency())).json(&body);
    app.send(request).await
}

/// The region's alerts of `kind`.
pub(crate) async fn alerts(app: &TestApp, kind: &str) -> Vec<Value> {
    let listed = app.get(&format!("/api/monitoring/alerts?admdvs=420100&kind={kind}"), Some(&lasting(agency()))).await.json();
    listed["items"].as_array().cloned().unwrap_or_default()
}

/// Uploads a prescription of `drug` and has `pharmacist` at `pharmacy` review and dispense it.
async fn filled(app: &TestApp, n: u32, drug: &str, pharmacist_at: (&str, &str), packs: [&str; 2]) -> (String, Answer) {
    let stored = prescribe(app, &prescription(&format!("R-A{n}"), "D1", vec![line(drug)])).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    let token = lasting(pharmacist(pharmacist_at.0, pharmacist_at.1));
    let reviewed = app.post_json(&format!("/api/prescriptions/{hi_rxno}/review?psn_no=N1"), Some(&token), &json!({"approved": true})).await;
    assert_eq!(reviewed.status, 200, "{}", String::from_utf8_lossy(&reviewed.body));
    let done = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&token), &dispensing(&format!("D-A{n}"), drug, &packs)).await;
    (hi_rxno, done)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dispensing_checks_fire_on_hopping_a_reused_pack_and_lateness_only() {
    let (app, [separate, dual, _]) = prescribing_region().await;
    // the region's thresholds: one pharmacy per drug and person a month, dispensed the day issued
    thresholds(&app, json!({"effective_from": "2025-01-01", "hopping_window_days": 0, "hopping_max_pharmacies": 0, "late_dispensing_days": 400, "reversals_min": 0, "reversals_percent": 0}))
        .await
        .problem(422, "INVALID_BODY");
    let published = thresholds(&app, json!({"effective_from": "2025-01-01", "hopping_window_days": 30, "hopping_max_pharmacies": 1, "late_dispensing_days": 0, "reversals_min": 3, "reversals_percent": 20})).await;
    assert_eq!(published.status, 201, "{}", String::from_utf8_lossy(&published.body));
    let read = app.get("/api/monitoring/regions/420100/thresholds", Some(&lasting(agency()))).await.json();
    assert_eq!(read["hopping_max_pharmacies"], 1, "{read}");

    // a physician who is not N1's filing physician tries to prescribe the separate-payment
    // drug: refused (P4) and raised once however often they try; the filing physician raises
    // nothing
    let mut by_d2 = prescription("R-A0", "D2", vec![line(&separate)]);
    for _ in 0..2 {
        app.post_json("/api/prescriptions/pre-check", Some(&lasting(physician("D2"))), &by_d2).await.problem(422, "PRESCRIPTION_REFUSED");
    }
    let prescriber = alerts(&app, "prescriber_not_fixed").await;
    assert_eq!(prescriber.len(), 1, "{prescriber:?}");
    assert_eq!((prescriber[0]["rules"][1].as_str(), prescriber[0]["records"][1]["id"].as_str()), (Some("P4"), Some("D2")));
    by_d2["dr_code"] = json!("D1");
    let by_d1 = app.post_json("/api/prescriptions/pre-check", Some(&lasting(physician("D1"))), &by_d2).await;
    assert_eq!(by_d1.status, 200);
    assert_eq!(alerts(&app, "prescriber_not_fixed").await.len(), 1);

    // the dual-channel drug at P1, then again at P1: one pharmacy, no alert
    let (_, first) = filled(&app, 1, &dual, ("F1", P1), ["83000000000000000001", "83000000000000000002"]).await;
    assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
    let (_, again) = filled(&app, 2, &dual, ("F2", P1), ["83000000000000000003", "83000000000000000004"]).await;
    assert_eq!(again.status, 200);
    assert!(alerts(&app, "pharmacy_hopping").await.is_empty());
    assert!(alerts(&app, "late_dispensing").await.is_empty(), "dispensed the day issued");
    // then at another pharmacy within the month: the second pharmacy fires, once
    second_pharmacy_for_h1(&app).await;
    let (third_rx, third) = filled(&app, 3, &dual, ("F4", P3), ["83000000000000000005", "83000000000000000006"]).await;
    assert_eq!(third.status, 200, "{}", String::from_utf8_lossy(&third.body));
    let hopping = alerts(&app, "pharmacy_hopping").await;
    assert_eq!(hopping.len(), 1, "{hopping:?}");
    assert_eq!((hopping[0]["status"].as_str(), hopping[0]["rules"][0].as_str()), (Some("open"), Some("M3")));
    assert!(hopping[0]["records"].as_array().expect("records").iter().any(|r| r["id"] == third_rx.as_str()), "{}", hopping[0]);
    // the same dispensing sent again raises nothing more
    let retry = app.post_json(&format!("/api/prescriptions/{third_rx}/dispense"), Some(&lasting(pharmacist("F4", P3))), &dispensing("D-A3", &dual, &["83000000000000000005", "83000000000000000006"])).await;
    assert_eq!(retry.status, 200);
    assert_eq!(alerts(&app, "pharmacy_hopping").await.len(), 1);

    // a pack already dispensed: refused (P7) and raised (M3)
    assert!(alerts(&app, "pack_reused").await.is_empty());
    let (_, reused) = filled(&app, 4, &separate, ("F1", P1), ["83000000000000000001", "83000000000000000009"]).await;
    reused.problem(409, "PACK_ALREADY_USED");
    let packs = alerts(&app, "pack_reused").await;
    assert_eq!(packs.len(), 1, "{packs:?}");
    assert!(packs[0]["summary"].as_str().unwrap_or_default().contains("83000000000000000001"), "{}", packs[0]);

    // issued today, dispensed tomorrow: late (the region allows 0 days)
    let stored = prescribe(&app, &prescription("R-A5", "D1", vec![line(&separate)])).await;
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    app.advance_clock(DAY);
    let f1 = lasting(pharmacist("F1", P1));
    assert_eq!(app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&f1), &json!({"approved": true})).await.status, 200);
    let done = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&f1), &dispensing("D-A5", &separate, &["83000000000000000011", "83000000000000000012"])).await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    let late = alerts(&app, "late_dispensing").await;
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0]["records"][0]["id"], hi_rxno.as_str());

    // the alert's life: assigned, noted, closed; then notes only; each step in its trail
    let id = hopping[0]["alert_id"].as_str().expect("alert_id").to_string();
    let act = |body: Value| {
        let path = format!("/api/monitoring/alerts/{id}/actions");
        let app = &app;
        async move { app.post_json(&path, Some(&lasting(agency())), &body).await }
    };
    act(json!({"action": "assign", "assignee": " "})).await.problem(422, "INVALID_BODY");
    assert_eq!(act(json!({"action": "assign", "assignee": "稽核科 张三"})).await.json()["status"], "assigned");
    assert_eq!(act(json!({"action": "note", "note": "已调取两家药店的销售记录"})).await.status, 200);
    assert_eq!(act(json!({"action": "close", "note": "患者搬家，第二家药店为新的定点药店，无违规"})).await.json()["status"], "closed");
    act(json!({"action": "assign", "assignee": "李四"})).await.problem(409, "ALERT_STATE_CONFLICT");
    assert_eq!(act(json!({"action": "note", "note": "归档"})).await.status, 200);
    let read = app.get(&format!("/api/monitoring/alerts/{id}"), Some(&lasting(agency()))).await.json();
    let trail: Vec<&str> = read["history"].as_array().expect("history").iter().map(|s| s["action"].as_str().unwrap_or_default()).collect();
    assert_eq!(trail, ["raised", "assigned", "noted", "closed", "noted"], "{read}");
    assert_eq!((read["status"].as_str(), read["assignee"].as_str()), (Some("closed"), Some("稽核科 张三")));
    let open = app.get("/api/monitoring/alerts?admdvs=420100&status=open", Some(&lasting(agency()))).await.json();
    assert_eq!(open["total"], 3, "the prescriber, the pack and the late dispensing: {open}");

    // nobody else sees them
    let elsewhere = lasting(api::Principal::Agency { admdvs: "430100".into() });
    app.get(&format!("/api/monitoring/alerts/{id}"), Some(&elsewhere)).await.problem(404, "NOT_FOUND");
    app.get("/api/monitoring/alerts?admdvs=420100", Some(&elsewhere)).await.problem(403, "OUT_OF_REGION");
    app.get("/api/monitoring/alerts?admdvs=420100", Some(&lasting(pharmacist("F1", P1)))).await.problem(403, "ROLE_FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_settlement_checks_fire_on_a_price_above_the_standard_and_frequent_reversals() {
    let (app, [drug, ..]) = prescribing_region().await;
    assert_eq!(publish(&app, &policy("400000")).await.status, 201);
    let published = thresholds(&app, json!({"effective_from": "2025-01-01", "hopping_window_days": 30, "hopping_max_pharmacies": 2, "late_dispensing_days": 3, "reversals_min": 2, "reversals_percent": 50})).await;
    assert_eq!(published.status, 201);
    let f1 = token_for(pharmacist("F1", P1));
    let settle = async |n: u64, price: &str| {
        let hi_rxno = dispensed(&app, &drug, 100 + n).await;
        let body = json!({"setl_no": format!("S-A{n}"), "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": price}], "acct_balance": "0"});
        let answer = app.post_json("/api/settlements", Some(&f1), &body).await;
        assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
        answer.json()["setl_id"].as_str().expect("setl_id").to_string()
    };
    // at the standard (1000.00): nothing; above it, a negotiated drug's settlement is refused
    // (C7) and the attempt raised once a day for the party and drug, naming no amount (C6)
    let at_standard = settle(1, "1000.00").await;
    assert!(alerts(&app, "price_above_standard").await.is_empty());
    let hi_rxno = dispensed(&app, &drug, 102).await;
    for setl_no in ["S-A2", "S-A2b"] {
        let body = json!({"setl_no": setl_no, "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1100.00"}], "acct_balance": "0"});
        let refused = app.post_json("/api/settlements", Some(&f1), &body).await.problem(422, "SETTLEMENT_REFUSED");
        assert_eq!((refused["violations"][0]["rule"].as_str(), refused["violations"][0]["field"].as_str()), (Some("C7"), Some("/lines/0/unit_price")), "{refused}");
    }
    let priced = alerts(&app, "price_above_standard").await;
    assert_eq!(priced.len(), 1, "{priced:?}");
    assert_eq!((priced[0]["records"][0]["id"].as_str(), priced[0]["rules"][1].as_str()), (Some(P1), Some("C7")), "{}", priced[0]);
    let summary = priced[0]["summary"].as_str().unwrap_or_default();
    assert!(!summary.contains("1000.00") && !summary.contains("1100.00"), "no amount: {summary}");
    // priced at the standard, the same prescription settles
    let body = json!({"setl_no": "S-A2c", "hi_rxno": hi_rxno, "lines": [{"med_list_codg": drug, "unit_price": "1000.00"}], "acct_balance": "0"});
    assert_eq!(app.post_json("/api/settlements", Some(&f1), &body).await.status, 201);
    // one reversal of two settlements: 50%, but only one (the region asks for 2)
    let reverse = async |setl_id: &str| {
        let answer = app.post_json(&format!("/api/settlements/{setl_id}/reversal"), Some(&f1), &json!({"reason": "录入错误"})).await;
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    };
    reverse(&at_standard).await;
    assert!(alerts(&app, "frequent_reversals").await.is_empty());
    // a second of three: 2 reversals, 67% of the month's settlements: fires
    let third = settle(3, "1000.00").await;
    reverse(&third).await;
    let frequent = alerts(&app, "frequent_reversals").await;
    assert_eq!(frequent.len(), 1, "{frequent:?}");
    assert_eq!(frequent[0]["records"][0]["id"], P1);
    // the month report counts them
    let month = app.get("/api/monitoring/status", None).await.json()["business_date"].as_str().expect("date")[..7].to_string();
    let parties = app.get(&format!("/api/monitoring/reports/parties?admdvs=420100&month={month}"), Some(&token_for(agency()))).await.json();
    assert_eq!((parties["parties"][0]["settlements"].as_i64(), parties["parties"][0]["reversals"].as_i64()), (Some(1), Some(2)), "{parties}");
}

/// N1's filing (from [`prescribing_region`]): its id, after D1 bounded its plan to `max_cnt`
/// 瓶 in 30 days (M3).
pub(crate) async fn plan_bounded(app: &TestApp, max_cnt: &str) -> String {
    let listed = app.get("/api/filings", Some(&lasting(patient("N1")))).await.json();
    let id = listed["items"][0]["id"].as_str().expect("the approved filing").to_string();
    let bound = json!({"action": "update", "plan_quantity": {"max_cnt": max_cnt, "drug_dosunt": "瓶", "period_days": 30}});
    let updated = crate::filing::act(app, physician("D1"), &id, bound).await;
    assert_eq!(updated.status, 200, "{}", String::from_utf8_lossy(&updated.body));
    assert_eq!(updated.json()["application"]["plan_quantity"]["period_days"], 30);
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn the_filings_plan_bounds_the_quantity_dispensed_in_its_period() {
    let (app, [drug, ..]) = prescribing_region().await;
    let listed = app.get("/api/filings", Some(&lasting(patient("N1")))).await.json();
    let id = listed["items"][0]["id"].as_str().expect("the approved filing").to_string();
    // a plan that cannot be counted is refused (E5)
    let bad = json!({"action": "update", "plan_quantity": {"max_cnt": "0", "drug_dosunt": "瓶", "period_days": 0}});
    let refused = crate::filing::act(&app, physician("D1"), &id, bad).await;
    refused.problem(422, "INVALID_BODY");
    assert_eq!(plan_bounded(&app, "4").await, id);

    // the pre-check refuses a line that alone exceeds the plan, or is counted in another unit
    let mut five = line(&drug);
    five["drug_cnt"] = json!("5");
    let mut boxes = line(&drug);
    boxes["drug_dosunt"] = json!("盒");
    for bad_line in [five, boxes] {
        let answer = app.post_json("/api/prescriptions/pre-check", Some(&lasting(physician("D1"))), &prescription("R-Q0", "D1", vec![bad_line])).await;
        let problem = answer.problem(422, "PRESCRIPTION_REFUSED");
        let violation = &problem["violations"][0];
        assert_eq!((violation["rule"].as_str(), violation["field"].as_str()), (Some("M3"), Some("/lines/0/drug_cnt")), "{problem}");
    }

    // 2 瓶 and 2 瓶 fill the plan's 4 in 30 days; the third 2 is refused (M3) and raised once
    let (_, first) = filled(&app, 11, &drug, ("F1", P1), ["84000000000000000001", "84000000000000000002"]).await;
    assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
    let (second_rx, second) = filled(&app, 12, &drug, ("F1", P1), ["84000000000000000003", "84000000000000000004"]).await;
    assert_eq!(second.status, 200, "{}", String::from_utf8_lossy(&second.body));
    assert!(alerts(&app, "quantity_beyond_plan").await.is_empty());
    let (third_rx, third) = filled(&app, 13, &drug, ("F1", P1), ["84000000000000000005", "84000000000000000006"]).await;
    let problem = third.problem(422, "NOT_ELIGIBLE");
    let violation = &problem["violations"][0];
    assert_eq!((violation["rule"].as_str(), violation["field"].as_str()), (Some("M3"), Some("/lines/0/drug_cnt")), "{problem}");
    assert!(violation["reason"].as_str().unwrap_or_default().contains("allows 4 瓶 in 30 days; 4 were dispensed"), "{problem}");
    let f1 = lasting(pharmacist("F1", P1));
    let given_back = app.get(&format!("/api/prescriptions/{third_rx}"), Some(&f1)).await.json();
    assert_eq!(given_back["stage"], "approved", "given back, its packs free: {given_back}");
    let (third_path, third_body) = (format!("/api/prescriptions/{third_rx}/dispense"), dispensing("D-A13", &drug, &["84000000000000000005", "84000000000000000006"]));
    let dispense_third = || app.post_json(&third_path, Some(&f1), &third_body);
    dispense_third().await.problem(422, "NOT_ELIGIBLE");
    let raised = alerts(&app, "quantity_beyond_plan").await;
    assert_eq!(raised.len(), 1, "one alert per prescription: {raised:?}");
    let records: Vec<(&str, &str)> = raised[0]["records"].as_array().expect("records").iter().map(|r| (r["kind"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or(""))).collect();
    assert!(records.contains(&("filing", id.as_str())) && records.contains(&("prescription", third_rx.as_str())), "{records:?}");
    assert_eq!(raised[0]["rules"], json!(["M3", "E5"]));

    // packs of the second handed back count no more: one pack back leaves 3 drawn (still too
    // many), both back leave 2, and the third fits
    let hand_back = |n: u32, packs: &[&str]| {
        let body = json!({"return_no": format!("T-{n}"), "drug_trac_codg": packs, "reason": "患者停药"});
        let path = format!("/api/prescriptions/{second_rx}/returns");
        let (app, f1) = (&app, &f1);
        async move { app.post_json(&path, Some(f1), &body).await }
    };
    assert_eq!(hand_back(1, &["84000000000000000003"]).await.status, 200);
    dispense_third().await.problem(422, "NOT_ELIGIBLE");
    assert_eq!(hand_back(2, &["84000000000000000004"]).await.status, 200);
    let third = dispense_third().await;
    assert_eq!(third.status, 200, "{}", String::from_utf8_lossy(&third.body));
    assert_eq!(third.json()["stage"], "dispensed");

    // the plan is full again (2 + 2); 30 days after the first two the period no longer counts them
    let (_, fourth) = filled(&app, 14, &drug, ("F1", P1), ["84000000000000000007", "84000000000000000008"]).await;
    fourth.problem(422, "NOT_ELIGIBLE");
    app.advance_clock(30 * DAY);
    // tokens issued on the moved clock
    let moved = |principal| token_issued_at(principal, chrono::Utc::now() + chrono::Duration::days(30));
    let (d1, f1) = (moved(physician("D1")), moved(pharmacist("F1", P1)));
    let checked = app.post_json("/api/prescriptions/pre-check", Some(&d1), &prescription("R-A15", "D1", vec![line(&drug)])).await;
    assert_eq!(checked.status, 200, "{}", String::from_utf8_lossy(&checked.body));
    let checked = checked.json();
    let stored = app.post_json("/api/prescriptions", Some(&d1), &json!({"rx_trace_code": checked["rx_trace_code"]})).await.json();
    let hi_rxno = stored["hi_rxno"].as_str().expect("hi_rxno").to_string();
    assert_eq!(app.post_json(&format!("/api/prescriptions/{hi_rxno}/review"), Some(&f1), &json!({"approved": true})).await.status, 200);
    let later = app.post_json(&format!("/api/prescriptions/{hi_rxno}/dispense"), Some(&f1), &dispensing("D-A15", &drug, &["84000000000000000009", "84000000000000000010"])).await;
    assert_eq!(later.status, 200, "{}", String::from_utf8_lossy(&later.body));
    let raised = app.get("/api/monitoring/alerts?admdvs=420100&kind=quantity_beyond_plan", Some(&moved(agency()))).await.json();
    assert_eq!(raised["total"], 2, "the third's and the fourth's: {raised}");
}
